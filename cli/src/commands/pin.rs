use colony_store::Access;
use colony_store::ops::refs::RefKind;

use crate::{CliError, Ctx, output};

/// Pin a revision: keep its data local and safe from `gc`.
///
/// Checks that every byte of it is here first. Without a revision, list the pins. Pins are refs (`refs/pins/NAME`).
///
/// With `--on PEER` (a peer remote), asks that peer to fetch the snapshot from this
/// dataset and pin it there, so that its `gc` keeps it; this node must be allowed on
/// the peer (`colony serve --allow NODE_ID`, see `colony id`).
#[derive(Debug, clap::Args)]
pub struct PinArgs {
    /// The revision to pin (omit to list pins).
    pub rev: Option<String>,
    /// Name for the pin (default: the commit id).
    #[arg(long)]
    pub name: Option<String>,
    /// Pin it on this peer remote instead of here.
    #[cfg(feature = "p2p")]
    #[arg(long, value_name = "PEER")]
    pub on: Option<String>,
}

/// Release the pins on a revision (or the pin with that name).
///
/// With `--on PEER`, releases them on that peer remote instead.
#[derive(Debug, clap::Args)]
pub struct UnpinArgs {
    /// A pin name or a revision.
    pub rev: String,
    /// Release the pins on this peer remote instead of here.
    #[cfg(feature = "p2p")]
    #[arg(long, value_name = "PEER")]
    pub on: Option<String>,
}

pub fn run_pin(ctx: &Ctx, args: PinArgs) -> Result<i32, CliError> {
    let Some(rev) = args.rev else {
        let repo = ctx.open(Access::Read)?;
        let pins = repo.list_refs(RefKind::Pin)?;
        if ctx.json {
            output::json(&pins);
        } else {
            for p in pins {
                println!("{:<44} {}", p.name, output::short(&p.commit));
            }
        }
        return Ok(0);
    };
    #[cfg(feature = "p2p")]
    if let Some(peer) = &args.on {
        let repo = ctx.open(Access::Read)?;
        let r = repo.pin_on(peer, &rev, args.name.as_deref())?;
        if ctx.json {
            output::json(&r);
        } else if !ctx.quiet {
            println!(
                "pinned {} as {} on {} ({} shards, {} sent)",
                output::short(&r.commit),
                r.name,
                r.remote,
                r.shards,
                output::bytes(r.bytes)
            );
        }
        return Ok(0);
    }
    let repo = ctx.open(Access::Write)?;
    let r = repo.pin(&rev, args.name.as_deref())?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        println!("pinned {} as {}", output::short(&r.commit), r.name);
    }
    Ok(0)
}

pub fn run_unpin(ctx: &Ctx, args: UnpinArgs) -> Result<i32, CliError> {
    #[cfg(feature = "p2p")]
    let removed = match &args.on {
        Some(peer) => ctx.open(Access::Read)?.unpin_on(peer, &args.rev)?,
        None => ctx.open(Access::Write)?.unpin(&args.rev)?,
    };
    #[cfg(not(feature = "p2p"))]
    let removed = ctx.open(Access::Write)?.unpin(&args.rev)?;
    if ctx.json {
        output::json(&serde_json::json!({ "unpinned": removed }));
    } else if !ctx.quiet {
        println!("unpinned {}", removed.join(", "));
    }
    Ok(0)
}
