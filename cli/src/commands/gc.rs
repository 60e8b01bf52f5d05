use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Delete shard data nothing reaches.
///
/// Branches, tags, pins, HEAD and the index are roots. Shards that are mostly dead are
/// repacked; re-index shards left by an interrupted write.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    let r = repo.gc()?;
    if ctx.json {
        output::json(&r);
        return Ok(0);
    }
    for d in &r.dangling_refs {
        eprintln!("warning: dangling ref {d}");
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if !ctx.quiet {
        println!(
            "{} live records; {} shards removed, {} repacked, {} re-indexed; {} freed",
            r.live_records,
            r.shards_removed,
            r.shards_repacked,
            r.shards_reindexed,
            output::bytes(r.bytes_freed)
        );
    }
    Ok(0)
}
