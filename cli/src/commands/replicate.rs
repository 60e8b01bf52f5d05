use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Make sure enough peers hold a snapshot: ask peer remotes to pin it until N do.
///
/// Peers that already hold every shard of REV count; the others (peer remotes, in
/// name order) are asked to fetch it from this dataset and pin it, which needs this
/// node to be allowed there (`colony serve --allow NODE_ID`, see `colony id`). Fails if
/// fewer than N peers could be made to hold it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision to replicate.
    pub rev: String,
    /// How many peers should hold it.
    #[arg(long, default_value_t = 2)]
    pub copies: usize,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let r = repo.replicate(&args.rev, args.copies)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        for p in &r.pinned {
            println!(
                "pinned {} on {} ({} shards, {} sent)",
                output::short(&p.commit),
                p.remote,
                p.shards,
                output::bytes(p.bytes)
            );
        }
        println!("{} of {} copies held", r.holders, r.copies);
    }
    Ok(0)
}
