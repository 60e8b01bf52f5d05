use colony_store::Access;
use colony_store::ops::checkout::ResetMode;

use crate::{CliError, Ctx, output};

/// Move the current branch (or detached HEAD) to a revision.
///
/// `--soft` moves only HEAD; the default (`--mixed`) also resets the index, keeping the
/// work tree; `--hard` resets the work tree too, discarding uncommitted changes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision (default: HEAD).
    #[arg(default_value = "HEAD")]
    pub rev: String,
    /// Move HEAD only.
    #[arg(long, conflicts_with_all = ["mixed", "hard"])]
    pub soft: bool,
    /// Reset the index too (default).
    #[arg(long, conflicts_with = "hard")]
    pub mixed: bool,
    /// Reset the index and the work tree.
    #[arg(long)]
    pub hard: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let mode = if args.soft {
        ResetMode::Soft
    } else if args.hard {
        ResetMode::Hard
    } else {
        ResetMode::Mixed
    };
    let r = repo.reset(&args.rev, mode)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        println!("HEAD is now at {}", output::short(&r.commit));
    }
    Ok(0)
}
