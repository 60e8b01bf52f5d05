//! colony's store: chunked, deduplicated, verified dataset versioning with a git-readable
//! history.
//!
//! Plumbing: [`chunker`] cuts content-defined chunks; [`shard`] packs them; [`chunks`]
//! indexes and reads them back verified; [`history`] writes commits with gix; [`index`]
//! tracks the work tree. Porcelain: [`Repo`] and the operations in [`ops`], one per command.
//! Reading in place: [`SnapshotReader`] lists, stats and reads any revision at any offset,
//! verified, without checking it out.

pub mod chunker;
pub mod chunks;
pub mod config;
pub mod content;
pub mod durable;
pub mod error;
pub mod files;
mod hash;
pub mod history;
pub mod index;
pub mod ingest;
pub mod lock;
pub mod manifest;
pub mod ops;
#[cfg(feature = "p2p")]
pub mod peer;
pub mod pointer;
pub mod progress;
pub mod remote;
pub mod repo;
pub mod shard;
pub mod snapshot;
pub mod tables;
pub mod worktree;

pub use error::{Result, StoreError};
/// Git object ids (commits, trees) as the history uses them.
pub use gix::ObjectId;
pub use hash::{Hash, ParseHashError};
pub use history::{CommitInfo, Head};
pub use progress::{NoProgress, Progress};
pub use repo::{Access, InitOptions, Repo};
pub use shard::writer_path as shard_path;
pub use snapshot::{FileEntry, Mode, Snapshot, SnapshotRoot};
pub use snapshot::{NodeInfo, NodeKind, ReaderOptions, RemoteChunks, SnapshotReader};
