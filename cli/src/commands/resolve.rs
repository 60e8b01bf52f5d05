use std::path::PathBuf;

use colony_store::Access;
use colony_store::ops::resolve::Resolve;
use colony_store::tables::{RowChoice, Side};

use crate::{CliError, Ctx, output};

/// Settle a conflict of a merge in progress.
///
/// `--ours` / `--theirs` take one side; for a table that keeps every row that merged
/// cleanly and settles only the conflicting rows (and columns) that way. `--with FILE`
/// takes FILE's content. For tables, `--row COL=VAL[,COL=VAL...]` (repeatable) with
/// `--ours`, `--theirs`, `--base` (the row as it was at the merge base) or `--delete`
/// (no row) settles single rows; the merged table is written and staged once its last
/// row is settled. Then `colony merge --continue`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["ours", "theirs", "with", "base", "delete"])))]
pub struct Args {
    /// The conflicting path.
    pub path: String,
    /// Take ours (HEAD's side).
    #[arg(long)]
    pub ours: bool,
    /// Take theirs (the merged revision's side).
    #[arg(long)]
    pub theirs: bool,
    /// Take the merge base's row (with --row).
    #[arg(long, requires = "row")]
    pub base: bool,
    /// Drop the row (with --row).
    #[arg(long, requires = "row")]
    pub delete: bool,
    /// Take this file's content.
    #[arg(long, value_name = "FILE", conflicts_with = "row")]
    pub with: Option<PathBuf>,
    /// Only the row whose key is COL=VAL[,COL=VAL...] (tables; repeatable).
    #[arg(long, value_name = "KEY=VAL")]
    pub row: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let side = if args.theirs {
        Side::Theirs
    } else {
        Side::Ours
    };
    let with = args.with.map(|f| ctx.cwd.join(f));
    let choice = if args.base {
        RowChoice::Base
    } else if args.delete {
        RowChoice::Delete
    } else {
        side.into()
    };
    let how = match &with {
        Some(f) => Resolve::With(f),
        None if !args.row.is_empty() => Resolve::Rows(&args.row, choice),
        None => Resolve::Side(side),
    };
    let r = repo.resolve_conflict(&args.path, how)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        if r.resolved {
            println!("resolved {}", r.path);
        } else {
            println!("{}: {} conflicting row(s) left", r.path, r.rows_left);
        }
        if r.unresolved.is_empty() {
            println!("all conflicts resolved; run `colony merge --continue`");
        } else {
            println!("still unresolved: {}", r.unresolved.join(", "));
        }
    }
    Ok(0)
}
