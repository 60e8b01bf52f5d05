use std::path::PathBuf;

use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Check out a revision into the work tree, or restore some paths from it.
///
/// `colony checkout BRANCH` switches to the branch; any other revision detaches HEAD.
/// `colony checkout REV -- PATH...` writes those files (or folders) from REV into the
/// work tree and the index, leaving HEAD where it is. Uncommitted changes that would be
/// overwritten make it refuse, unless `--force`. Paths that would land outside the work
/// tree or inside `.colony` are refused before anything is written.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision.
    pub rev: String,
    /// Restore only these paths.
    #[arg(last = true)]
    pub paths: Vec<PathBuf>,
    /// Discard uncommitted changes that are in the way.
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let r = if args.paths.is_empty() {
        repo.checkout(&args.rev, args.force)?
    } else {
        let specs = repo.pathspecs(&ctx.cwd, &args.paths)?;
        repo.checkout_paths(&args.rev, &specs, args.force)?
    };
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        let at = r
            .branch
            .as_deref()
            .map_or_else(|| output::short(&r.commit).to_string(), str::to_string);
        println!(
            "checked out {at}: {} written ({}), {} removed",
            r.written,
            output::bytes(r.bytes),
            r.removed
        );
    }
    Ok(0)
}
