use std::io::Write as _;
use std::net::SocketAddr;

use colony_gateway::{Auth, Gateway, GatewayOptions, S3_ACCESS_KEY};
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
///
/// With `--http ADDR:PORT` the same process also serves a read-only HTTP gateway and an
/// S3-compatible read API on that address (port 0 picks a free one); `--no-p2p` serves
/// only the gateway. Plain HTTP: `GET /REV/PATH` (REV a branch, tag, pin, commit id or
/// snapshot root) with `Range`, `HEAD`, `ETag` = the file's BLAKE3 and `If-None-Match`;
/// a folder answers a JSON listing. S3 (path-style, signed requests): endpoint =
/// `http://ADDR:PORT`, bucket = `--bucket` or the dataset folder's name made S3-valid,
/// key = `REV/PATH`; list, get (with ranges) and head only. Every byte sent is verified
/// against BLAKE3 first; a file that fails verification is answered 500 / InternalError,
/// never with wrong bytes. The gateway binds to loopback addresses only, unless
/// `--token T` (plain HTTP then needs `Authorization: Bearer T`, S3 a SigV4 signature with
/// access key `colony` and secret key T) or `--public` (anyone who can connect reads
/// every revision) is given. Once listening it prints the URLs (with `--json`, a line
/// `{"http": {"url", "bucket", "s3_access_key", "auth"}}` before any other). Ctrl-C
/// stops it; nothing is written, so stopping at any point is safe.
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
    /// Also serve the read-only HTTP gateway and S3 API on this address (e.g.
    /// 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
    /// Require this token from gateway clients (Bearer for HTTP, S3 secret key for access
    /// key `colony`); needed to bind --http to a non-loopback address.
    #[arg(
        long,
        value_name = "TOKEN",
        requires = "http",
        conflicts_with = "public"
    )]
    pub token: Option<String>,
    /// Let the gateway listen on a non-loopback address without a token: anyone who can
    /// connect reads every revision.
    #[arg(long, requires = "http")]
    pub public: bool,
    /// The S3 bucket name (default: the dataset folder's name, lowercased, with
    /// characters S3 refuses replaced by `-`).
    #[arg(long, value_name = "NAME", requires = "http")]
    pub bucket: Option<String>,
    /// Serve only the --http gateway: no iroh endpoint.
    #[arg(long, requires = "http")]
    pub no_p2p: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let root = ctx.open(Access::Read)?.root().to_path_buf();
    // Kept until this function returns: dropping it stops the gateway.
    let _gateway = match args.http {
        Some(bind) => Some(start_gateway(ctx, &root, bind, &args)?),
        None => None,
    };
    if args.no_p2p {
        // Serves until the process is stopped (Ctrl-C).
        loop {
            std::thread::park();
        }
    }
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

/// Starts the gateway and prints where it listens.
fn start_gateway(
    ctx: &Ctx,
    root: &std::path::Path,
    bind: SocketAddr,
    args: &Args,
) -> Result<Gateway, CliError> {
    let auth = match (&args.token, args.public) {
        (Some(t), _) => Auth::Token(t.clone()),
        (None, true) => Auth::Public,
        (None, false) => Auth::None,
    };
    let auth_name = match auth {
        Auth::None => "none",
        Auth::Token(_) => "token",
        Auth::Public => "public",
    };
    let gateway = Gateway::start(
        root,
        GatewayOptions {
            bind,
            auth,
            bucket: args.bucket.clone(),
            ..Default::default()
        },
    )?;
    let url = gateway.url();
    let mut out = std::io::stdout().lock();
    if ctx.json {
        let line = serde_json::json!({ "http": {
            "url": url,
            "bucket": gateway.bucket(),
            "s3_access_key": S3_ACCESS_KEY,
            "auth": auth_name,
        }});
        let _ = writeln!(out, "{line}");
    } else if !ctx.quiet {
        let _ = writeln!(out, "HTTP gateway: {url}/REV/PATH");
        let _ = writeln!(
            out,
            "S3 endpoint: {url} bucket: {} key: REV/PATH",
            gateway.bucket()
        );
        if auth_name == "token" {
            let _ = writeln!(
                out,
                "clients need `Authorization: Bearer TOKEN` (HTTP) or access key `{S3_ACCESS_KEY}` with the token as secret key (S3)"
            );
        }
    }
    let _ = out.flush();
    Ok(gateway)
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
