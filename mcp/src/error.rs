//! What can go wrong answering an agent, and starting the server.

use std::net::SocketAddr;

use colony_dao_bridge::DaoError;
use colony_store::StoreError;
use colony_trainer_hook::TrainError;

/// Why a tool call or a resource read could not be answered. The message is what the
/// agent reads: it says what was wrong and what to ask instead.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// From the store: unknown revision, path outside the tree, no such file, a SQL
    /// statement that would write, data that does not verify, …
    #[error(transparent)]
    Store(#[from] StoreError),
    /// From the run records.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// From the DAO bridge: no DAO configured, chain unreachable, no head yet, …
    #[error(transparent)]
    Dao(#[from] DaoError),
    /// A read starting at or past the end of the file.
    #[error(
        "range past the end: offset {offset} is not before the end of {path} ({size} bytes); \
         ask for an offset below {size}"
    )]
    RangePastEnd {
        /// The file.
        path: String,
        /// The offset asked for.
        offset: u64,
        /// The file's size.
        size: u64,
    },
    /// A read larger than the cap.
    #[error(
        "read too large: {asked} bytes asked for, at most {cap} are returned per call; \
         read the file in ranges (offset, length ≤ {cap})"
    )]
    ReadTooLarge {
        /// Bytes asked for.
        asked: u64,
        /// The cap.
        cap: u64,
    },
    /// An argument out of range or malformed.
    #[error("invalid argument `{name}`: {why}")]
    Invalid {
        /// The argument.
        name: &'static str,
        /// What is wrong and what is allowed.
        why: String,
    },
    /// The revision's bytes do not verify against its recorded root.
    #[error(
        "{rev} (commit {commit}) does not verify locally, so it is not checked against the \
         chain: {problems}"
    )]
    NotVerified {
        /// The revision.
        rev: String,
        /// Its commit.
        commit: String,
        /// What did not check out.
        problems: String,
    },
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The folder is not a dataset.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A non-loopback address without `public`.
    #[error(
        "refusing to serve MCP on {addr}: it is not a loopback address, and the server has no \
         authentication; bind 127.0.0.1 or [::1], or pass --public to serve every network \
         that reaches {addr}"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Binding or serving failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The MCP session failed.
    #[error("MCP session failed: {0}")]
    Session(String),
}
