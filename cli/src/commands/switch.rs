use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Switch to a branch, updating the work tree; `-c` creates it first.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The branch.
    pub branch: String,
    /// Create the branch (at START, default HEAD) and switch to it.
    #[arg(short = 'c', long)]
    pub create: bool,
    /// Where a new branch starts.
    #[arg(requires = "create")]
    pub start: Option<String>,
    /// Discard uncommitted changes that are in the way.
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let create = args.create.then_some(args.start.as_deref());
    let r = repo.switch(&args.branch, create, args.force)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        println!(
            "switched to {}: {} written, {} removed ({})",
            args.branch,
            r.written,
            r.removed,
            output::bytes(r.bytes)
        );
    }
    Ok(0)
}
