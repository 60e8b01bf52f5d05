use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Settings of tables (Parquet, CSV, JSON Lines).
///
/// `colony table key PATH COL...` records the columns that identify a row of the table at
/// PATH, used by `merge` and `diff` when `--key` is not given. With no columns, prints
/// the recorded key; `colony table keys` lists them all.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Record (or show) the key columns of a table.
    Key {
        /// The table's path in the dataset.
        path: String,
        /// Key columns (none: show the recorded key).
        columns: Vec<String>,
        /// Forget the recorded key.
        #[arg(long, conflicts_with = "columns")]
        unset: bool,
    },
    /// List every recorded key.
    Keys,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    match args.action {
        Action::Keys => {
            let repo = ctx.open(Access::Read)?;
            let keys = repo.table_keys()?;
            if ctx.json {
                output::json(&keys);
            } else {
                for (p, k) in keys {
                    println!("{p}\t{}", k.join(","));
                }
            }
        }
        Action::Key {
            path,
            columns,
            unset,
        } => {
            let columns: Vec<String> = columns
                .iter()
                .flat_map(|c| c.split(','))
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            if columns.is_empty() && !unset {
                let repo = ctx.open(Access::Read)?;
                let key = repo.table_key(&path)?;
                if ctx.json {
                    output::json(&serde_json::json!({ "path": path, "key": key }));
                } else {
                    match key {
                        Some(k) => println!("{}", k.join(",")),
                        None => {
                            return Err(CliError::new(format!("no key recorded for `{path}`"))
                                .hint(format!(
                                    "record one with `colony table key {path} COL...`"
                                )));
                        }
                    }
                }
                return Ok(0);
            }
            let repo = ctx.open(Access::Write)?;
            repo.set_table_key(&path, &columns)?;
            if ctx.json {
                output::json(&serde_json::json!({ "path": path, "key": columns }));
            } else if !ctx.quiet {
                if unset {
                    println!("forgot the key of {path}");
                } else {
                    println!("key of {path}: {}", columns.join(","));
                }
            }
        }
    }
    Ok(0)
}
