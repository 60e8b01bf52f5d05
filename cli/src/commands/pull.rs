use colony_store::Access;
use colony_store::ops::merge::{MergeOptions, MergeResult};

use crate::{CliError, Ctx, output};

/// Fetch a remote, then merge its branch into the current one.
///
/// `colony pull NAME [BRANCH]` is `colony fetch NAME` followed by `colony merge
/// NAME/BRANCH` (BRANCH defaults to the current branch's name): a fast-forward when the
/// current branch has nothing of its own, else a three-way merge with the same rules,
/// conflict handling and `--continue`/`--abort` as `colony merge`. On a branch with no
/// commit yet (a fresh dataset), the branch simply starts at the remote's commit. The
/// work tree must be clean.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The remote (see `colony remote`).
    pub name: String,
    /// The remote's branch (default: the current branch's name).
    pub branch: Option<String>,
    /// Key columns for tables (comma-separated), overriding recorded keys.
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Settle every merge conflict for one side.
    #[arg(long, value_parser = ["ours", "theirs"])]
    pub strategy: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let opts = MergeOptions {
        key: args.key,
        strategy: args.strategy.map(|s| {
            if s == "ours" {
                colony_store::tables::Side::Ours
            } else {
                colony_store::tables::Side::Theirs
            }
        }),
        message: None,
    };
    let r = repo.pull(&args.name, args.branch.as_deref(), &opts)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        println!(
            "fetched {} objects and {} shards ({}) from {}",
            r.fetch.objects,
            r.fetch.shards,
            output::bytes(r.fetch.bytes),
            r.fetch.remote
        );
        super::merge::print(&r.merge);
    }
    Ok(if r.merge.result == MergeResult::Conflicts {
        1
    } else {
        0
    })
}
