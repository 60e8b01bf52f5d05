use colony_store::Access;

use crate::{CliError, Ctx};

/// Run SQL over the tables of a revision, without checking it out.
///
/// Each table (.parquet, .csv, .jsonl, .ndjson) is named by its path in double quotes,
/// e.g. `SELECT count(*) FROM "data/penguins.csv"`, or by its file stem where that is
/// unique (`FROM penguins`). Tables are read from the store and verified. Output is an
/// aligned table, or CSV / JSON.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision whose tables to query.
    pub rev: String,
    /// The SQL query (polars SQL).
    pub sql: String,
    /// Print CSV (the global `--json` prints a JSON array of rows).
    #[arg(long)]
    pub csv: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let format = if args.csv {
        "csv"
    } else if ctx.json {
        "json"
    } else {
        "table"
    };
    let out = repo.query(&args.rev, &args.sql, format)?;
    println!("{}", out.trim_end());
    Ok(0)
}
