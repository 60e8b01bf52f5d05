use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Push a branch to a remote: send what it lacks, then move its branch.
///
/// Only the shards and history objects the remote lacks move; the remote verifies every
/// shard (BLAKE3) and object (its id) it receives before the branch moves. The remote's
/// branch moves only as a fast-forward: if it has commits this branch lacks the push is
/// refused (bring them in with `colony pull NAME BRANCH`) unless `--force` is given.
/// Afterwards `NAME/BRANCH` records where the remote's branch points. The run records
/// (`colony train`) trained on the pushed history go along, with their checkpoints,
/// where the remote can hold them (datasets on this machine); run names already there
/// are left as they are.
///
/// A dataset on this machine that has BRANCH checked out gets its work tree updated too,
/// but only when it has no uncommitted changes, no merge in progress and no untracked
/// file the push would overwrite; otherwise the push is refused and nothing moves. An
/// S3 remote moves its branch with a conditional write, so of two concurrent pushers
/// only one wins. A push killed halfway, run again, does not send again what already
/// arrived.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The remote (see `colony remote`).
    pub name: String,
    /// The branch to push (default: the current branch); the remote's branch of the same
    /// name moves.
    pub branch: Option<String>,
    /// Move the remote's branch even when that is not a fast-forward (its commits that
    /// this branch lacks are no longer on it).
    #[arg(long, short)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let out = repo.push(&args.name, args.branch.as_deref(), args.force)?;
    let r = &out.push;
    if ctx.json {
        output::json(&out);
    } else if !ctx.quiet {
        if r.up_to_date {
            println!(
                "{}/{} is up to date ({})",
                r.remote,
                r.branch,
                output::short(&r.new)
            );
        } else {
            let old = r.old.as_deref().map_or("(new branch)", output::short);
            println!(
                "  {}/{}: {} → {}",
                r.remote,
                r.branch,
                old,
                output::short(&r.new)
            );
            println!(
                "pushed {} objects and {} shards ({}) to {}",
                r.objects,
                r.shards,
                output::bytes(r.bytes),
                r.remote
            );
        }
        let runs = &out.runs;
        if let Some(why) = &runs.runs_not_carried {
            eprintln!(
                "note: {} run record(s) on this history were not pushed: {why}",
                runs.runs
            );
        } else if runs.runs_new > 0 {
            println!("pushed {} new run record(s)", runs.runs_new);
        }
    }
    Ok(0)
}
