use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Fetch a remote's branches, history and missing shards.
///
/// Only shards this dataset lacks move (hard-linked when on the same file system), and
/// each is verified against its BLAKE3 name before it is indexed. The remote's branches
/// land in `refs/remotes/NAME/BRANCH`, and the run records it holds (`colony run list`)
/// are added where this dataset lacks them; nothing else changes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The remote (see `colony remote`).
    pub name: String,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let r = repo.fetch(&args.name)?;
    if ctx.json {
        output::json(&r);
        return Ok(0);
    }
    if !ctx.quiet {
        for u in &r.updated {
            let new = u.new.as_deref().map_or("(deleted)", output::short);
            let old = u.old.as_deref().map_or("(new)", output::short);
            println!("  {}/{}: {} → {}", r.remote, u.branch, old, new);
        }
        println!(
            "fetched {} objects and {} shards ({}, {} sent) from {}",
            r.objects,
            r.shards,
            output::bytes(r.bytes),
            output::bytes(r.moved),
            r.remote
        );
        if r.runs > 0 {
            println!("fetched {} new run record(s)", r.runs);
        }
    }
    Ok(0)
}
