use std::path::PathBuf;

use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Stage files for the next commit.
///
/// Their bytes are chunked, deduplicated and stored now; the next commit records them.
/// Folders are walked honouring `.colonyignore` (gitignore syntax); tracked
/// files that are gone are staged for removal. `colony add .` stages everything.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or folders to stage.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let specs = repo.pathspecs(&ctx.cwd, &args.paths)?;
    let r = repo.add(&specs)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        println!(
            "staged {} added, {} modified, {} removed ({} read, {} new in shards)",
            r.added.len(),
            r.modified.len(),
            r.removed.len(),
            output::bytes(r.bytes_read),
            output::bytes(r.new_bytes)
        );
    }
    Ok(0)
}
