use std::path::PathBuf;

use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Manage remotes: other datasets to fetch from.
///
/// Without a subcommand, lists them. A remote is another dataset on this machine (for
/// instance a fork in another folder); `colony fetch NAME` brings its branches to
/// `refs/remotes/NAME/BRANCH`, to merge with `colony merge NAME/BRANCH`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// What to do with remotes.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Add a remote NAME for the dataset at PATH.
    Add {
        /// Its name (letters, digits, `-`, `_`).
        name: String,
        /// The dataset's folder.
        path: PathBuf,
    },
    /// List the remotes.
    List,
    /// Remove a remote and its remote-tracking refs.
    Remove {
        /// Its name.
        name: String,
    },
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    match args.action.unwrap_or(Action::List) {
        Action::List => {
            let repo = ctx.open(Access::Read)?;
            let remotes = repo.remotes();
            if ctx.json {
                output::json(&remotes);
            } else {
                for r in remotes {
                    println!("{:<16} {}", r.name, r.path);
                }
            }
        }
        Action::Add { name, path } => {
            let mut repo = ctx.open(Access::Write)?;
            let r = repo.add_remote(&name, &ctx.cwd.join(path))?;
            if ctx.json {
                output::json(&r);
            } else if !ctx.quiet {
                println!("added remote {} → {}", r.name, r.path);
            }
        }
        Action::Remove { name } => {
            let mut repo = ctx.open(Access::Write)?;
            repo.remove_remote(&name)?;
            if ctx.json {
                output::json(&serde_json::json!({ "removed": name }));
            } else if !ctx.quiet {
                println!("removed remote {name}");
            }
        }
    }
    Ok(0)
}
