//! colony's Model Context Protocol server: agents read any revision of a dataset.
//!
//! Tools (`log`, `ls`, `stat`, `read`, `query`, `diff`, `lineage`, `anchored_head`,
//! `verify`, `runs`) answer with the JSON the matching `colony … --json` command prints,
//! because they call the same library functions; the files of a revision are resources
//! (`colony://REV/PATH`). Served over stdio ([`serve_stdio`]) or the protocol's
//! streamable HTTP transport ([`serve_http`], loopback unless asked otherwise).
//!
//! Read-only always: nothing here writes to the store, moves a ref, loads a key or signs
//! a transaction; SQL is checked to be one SELECT before it runs.

pub mod dataset;
pub mod error;
pub mod http;
pub mod resources;
pub mod server;

use std::path::Path;

use rmcp::ServiceExt;

pub use dataset::Dataset;
pub use error::{ServeError, ToolError};
pub use http::serve_http;
pub use server::ColonyServer;

/// Serves the dataset around `start` on stdin/stdout until the client closes stdin.
/// Nothing else may write to stdout meanwhile: it carries the protocol.
pub fn serve_stdio(start: &Path) -> Result<(), ServeError> {
    let data = Dataset::open(start)?;
    runtime()?.block_on(async move {
        let service = ColonyServer::new(data)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| ServeError::Session(e.to_string()))?;
        service
            .waiting()
            .await
            .map_err(|e| ServeError::Session(e.to_string()))?;
        Ok(())
    })
}

/// A multi-threaded runtime: tools run their library calls on its blocking threads.
fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            what: "cannot start the async runtime".into(),
            source,
        })
}
