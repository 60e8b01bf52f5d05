use std::net::SocketAddr;

use crate::{CliError, Ctx};

/// Serve the dataset to AI agents over the Model Context Protocol (MCP), read-only.
///
/// By default speaks MCP on stdin/stdout, ready to be named in an agent's configuration
/// (`"command": "colony", "args": ["mcp", "-C", "/path/to/dataset"]`); nothing else is
/// printed to stdout. Tools: log, ls, stat, read (byte ranges, at most 1 MiB a call),
/// query (one SQL SELECT over the tables of a revision, rows capped), diff (files, or rows
/// of a table by key), lineage, anchored_head and verify (against the DAO's anchored
/// head, recomputed from the bytes), runs. The files of any revision are resources
/// (colony://REV/PATH). Nothing writes to the store, moves a ref or signs a transaction;
/// keys are never read.
///
/// With --http ADDR, serves the streamable HTTP transport at http://ADDR/mcp instead, on
/// loopback only unless --public is given (the server has no authentication).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve the streamable HTTP transport on ADDR (e.g. 127.0.0.1:8765; port 0 picks one)
    /// instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Allow --http on a non-loopback address (anyone who reaches it can read the dataset).
    #[arg(long, requires = "http")]
    pub public: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    match args.http {
        None => colony_mcp::serve_stdio(&ctx.cwd)?,
        Some(addr) => colony_mcp::serve_http(&ctx.cwd, addr, args.public, |bound| {
            // stderr: stdout stays free, as it is on stdio.
            eprintln!("serving MCP at http://{bound}/mcp");
        })?,
    }
    Ok(0)
}
