use colony_store::Access;
use colony_store::ops::merge::{MergeOptions, MergeReport, MergeResult};
use colony_store::tables::Side;

use crate::{CliError, Ctx, output};

/// Merge a revision into HEAD, three-way against their merge base.
///
/// Per file: a side that alone changed a file wins; both changing it the same way is
/// fine; otherwise it is a conflict. Tables (.parquet, .csv, .jsonl, .ndjson) changed on
/// both sides are merged row by row, rows matched by `--key` or by the key recorded with
/// `colony table key PATH COL...`: rows changed on one side only are taken, columns added
/// on either side are united, and the same row changed differently on both sides is a
/// conflict. A clean merge makes a commit with two parents.
///
/// On conflicts the merge stops: what merged is staged, conflicting paths keep HEAD's
/// version, `colony status` lists them, `colony conflicts PATH` shows them and `colony
/// resolve PATH` settles them; then `colony merge --continue` commits, or `colony merge
/// --abort` restores the exact pre-merge work tree, index and HEAD. A merge that fails
/// (no key, a malformed table) changes nothing. The work tree must be clean to start.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision to merge (a branch, `REMOTE/BRANCH`, tag or commit).
    #[arg(required_unless_present_any = ["continue_", "abort"])]
    pub rev: Option<String>,
    /// Key columns for tables (comma-separated), overriding recorded keys.
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Settle every conflict (whole files, rows, columns) for one side; changes that do
    /// not conflict are merged either way.
    #[arg(long, value_parser = ["ours", "theirs"])]
    pub strategy: Option<String>,
    /// Commit message (default: `Merge REV into BRANCH`).
    #[arg(long, short)]
    pub message: Option<String>,
    /// Commit the merge once every conflict is resolved.
    #[arg(long = "continue", conflicts_with_all = ["rev", "abort", "strategy", "key"])]
    pub continue_: bool,
    /// Abandon the merge and restore the pre-merge state.
    #[arg(long, conflicts_with_all = ["rev", "strategy", "key"])]
    pub abort: bool,
}

pub fn print(r: &MergeReport) {
    for f in &r.files {
        match f.rows {
            Some(n) => println!("  {:<9} {} ({n} rows)", f.outcome, f.path),
            None => println!("  {:<9} {}", f.outcome, f.path),
        }
    }
    match r.result {
        MergeResult::UpToDate => println!("Already up to date."),
        MergeResult::FastForward => println!(
            "Fast-forward to {}",
            output::short(r.commit.as_deref().unwrap_or_default())
        ),
        MergeResult::Merged => println!(
            "Merged {} as {}",
            output::short(&r.theirs),
            output::short(r.commit.as_deref().unwrap_or_default())
        ),
        MergeResult::Conflicts => {
            println!("Conflicts:");
            for c in &r.conflicts {
                let detail = match (c.rows, c.columns) {
                    (0, 0) => String::new(),
                    (r, 0) => format!(" ({r} rows)"),
                    (r, c) => format!(" ({r} rows, {c} columns)"),
                };
                println!("  {:?}: {}{detail}", c.kind, c.path);
            }
            println!(
                "Resolve them (`colony conflicts PATH`, `colony resolve PATH --ours|--theirs|--with FILE`), then `colony merge --continue`; or `colony merge --abort`."
            );
        }
    }
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    if args.abort {
        let s = repo.merge_abort()?;
        if ctx.json {
            output::json(&serde_json::json!({ "aborted": true, "head": s.ours }));
        } else if !ctx.quiet {
            println!("Merge aborted; back at {}", output::short(&s.ours));
        }
        return Ok(0);
    }
    let r = if args.continue_ {
        repo.merge_continue()?
    } else {
        let rev = args.rev.expect("clap requires REV");
        let opts = MergeOptions {
            key: args.key,
            strategy: args.strategy.map(|s| {
                if s == "ours" {
                    Side::Ours
                } else {
                    Side::Theirs
                }
            }),
            message: args.message,
        };
        repo.merge(&rev, &opts)?
    };
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        print(&r);
    }
    Ok(if r.result == MergeResult::Conflicts {
        1
    } else {
        0
    })
}
