use std::io::Write as _;
use std::net::SocketAddr;

use colony_store::Access;
use colony_store::peer::{ServeOptions, parse_node_id};

use crate::{CliError, Ctx};

/// Serve this dataset to peers over iroh until stopped.
///
/// Prints a ticket (`colony1…`): the node id and the addresses to dial. Peers clone,
/// fetch and pull with it (`colony clone TICKET DIR`, `colony remote add NAME TICKET`).
/// Read-only by default; a node given with `--allow` may also push and ask this node to
/// pin snapshots (`colony pin REV --on PEER`). Every shard sent is verified by the
/// receiver in 16 KiB groups against its BLAKE3 name. The dataset is not locked while
/// serving: each request reads it under a shared lock, so other commands keep working.
///
/// With `--no-relay` nothing but the direct addresses is used: no relay, no address
/// lookup (for offline networks and tests). Otherwise iroh's default relays help peers
/// behind NAT reach this node. The node key lives in `.colony/node.key` (see
/// `colony id`). With `--json`, one line of JSON with the node id and ticket is printed
/// once the node is ready.
///
/// Anyone with the ticket can read every branch, pin, run record and shard this dataset
/// holds. What one peer can make the node do is bounded: 8 requests open at once per
/// peer and 64 in all (more are answered "busy"), 10 s to deliver a request, 60 s for
/// an asker that stops reading, `--paths` globs of at most 1024 bytes matched in linear
/// time, and 256 MiB of cached shard outboards.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Use no relay and no address lookup: peers dial the ticket's addresses directly.
    #[arg(long)]
    pub no_relay: bool,
    /// Listen on this address (e.g. 127.0.0.1:7777) instead of every interface on a
    /// random port.
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<SocketAddr>,
    /// A node id (from `colony id`) that may push and send pin requests; repeatable.
    #[arg(long, value_name = "NODE_ID")]
    pub allow: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let root = ctx.open(Access::Read)?.root().to_path_buf();
    let allow = args
        .allow
        .iter()
        .map(|a| parse_node_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = ServeOptions {
        endpoint: colony_store::peer::node::EndpointOptions {
            relay: !args.no_relay,
            bind: args.bind,
            accept: true,
        },
        allow,
        lie: test_lie(),
        limits: Default::default(),
    };
    let (json, quiet) = (ctx.json, ctx.quiet);
    colony_store::peer::serve(&root, &opts, &|s| {
        let mut out = std::io::stdout().lock();
        if json {
            let _ = writeln!(out, "{}", serde_json::to_string(s).unwrap_or_default());
        } else if !quiet {
            let _ = writeln!(out, "serving {} as node {}", root.display(), s.node_id);
            let _ = writeln!(out, "ticket: {}", s.ticket);
            let _ = writeln!(out, "peers can run: colony clone {} DIR", s.ticket);
        }
        let _ = out.flush();
    })?;
    Ok(0)
}

/// Test hook for the end-to-end tests, which drive the dev-profile binary:
/// `COLONY_TEST_LIE=flip` makes the node flip a byte of every shard it sends, so that
/// tests can show peers catch lies. Compiled into debug builds only: a release build of
/// `serve` never reads the variable.
#[cfg(debug_assertions)]
fn test_lie() -> bool {
    std::env::var("COLONY_TEST_LIE").is_ok_and(|v| v == "flip")
}

/// Release builds have no test hook.
#[cfg(not(debug_assertions))]
fn test_lie() -> bool {
    false
}
