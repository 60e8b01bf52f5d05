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
/// once the node is ready. Test hook: `COLONY_TEST_LIE=flip` in the environment makes
/// the node flip a byte in every shard it sends.
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
        lie: std::env::var("COLONY_TEST_LIE").is_ok_and(|v| v == "flip"),
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
