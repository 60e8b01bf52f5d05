use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Show, per peer remote, how much of a snapshot it holds.
///
/// Counts the shards REV's files need (on this dataset) that each peer holds, and their
/// bytes. A peer that cannot be reached is listed with why.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision (default HEAD).
    #[arg(default_value = "HEAD")]
    pub rev: String,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let rows = repo.where_is(&args.rev)?;
    if ctx.json {
        output::json(&rows);
    } else {
        for h in rows {
            match &h.error {
                Some(e) => println!("{:<16} unreachable: {e}", h.remote),
                None => println!(
                    "{:<16} {}/{} shards, {} of {}{}",
                    h.remote,
                    h.shards,
                    h.shards_total,
                    output::bytes(h.bytes),
                    output::bytes(h.bytes_total),
                    if h.complete { " (complete)" } else { "" }
                ),
            }
        }
    }
    Ok(0)
}
