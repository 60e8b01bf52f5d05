//! Snapshots: the whole tree of paths → (content hash, size, mode), and its root hash.
//!
//! The [`SnapshotRoot`] is what gets anchored on chain. It depends only on paths, modes,
//! sizes and the BLAKE3 of each file's bytes, so anyone can recompute it from the data
//! (`b3sum` gives the per-file hashes) without knowing how colony chunked or stored it:
//!
//! ```text
//! root = BLAKE3( "colony snapshot v1\n" ||
//!        for each entry, sorted by the UTF-8 bytes of its path:
//!            u32le(len(path)) || path || u8(kind) || u64le(size) || blake3(content) )
//! kind: 0 regular file, 1 executable file, 2 symlink (content = the link target)
//! ```
//!
//! [`SnapshotReader`] reads a revision in place: list, stat and verified range reads,
//! with a bounded chunk cache and readahead, without holding the store lock.

use std::collections::BTreeMap;

use crate::Hash;

mod cache;
pub mod glob;
mod layout;
pub mod lease;
pub mod path;
pub mod proofs;
mod readahead;
pub mod reader;
pub mod readthrough;
pub mod revision;
pub mod shards;
pub mod source;

pub use cache::CacheStats;
pub use lease::leased_commits;
pub use proofs::ProofLog;
pub use reader::{NodeInfo, NodeKind, ReaderOptions, SnapshotReader};
pub use readthrough::DatasetRemotes;
pub use revision::resolve_revision;
pub use source::RemoteChunks;

/// How a path is materialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A regular file.
    File,
    /// A file with the executable bit.
    Exec,
    /// A symbolic link; its content is the target path.
    Link,
}

impl Mode {
    /// The byte used in the root hash.
    pub fn code(self) -> u8 {
        match self {
            Mode::File => 0,
            Mode::Exec => 1,
            Mode::Link => 2,
        }
    }
}

/// What one path holds in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileEntry {
    /// How it is materialised.
    pub mode: Mode,
    /// Size in bytes (for links: length of the target).
    pub size: u64,
    /// BLAKE3 of the content (for links: of the target).
    pub hash: Hash,
    /// The manifest listing its chunks, for files of more than one chunk. A file of one
    /// chunk is that chunk, whose hash is the file hash; an empty file has no chunk.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub manifest: Option<Hash>,
    /// The link target, for symlinks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
}

impl FileEntry {
    /// Whether two entries have the same content and mode (manifests aside).
    pub fn same_content(&self, other: &FileEntry) -> bool {
        self.mode == other.mode && self.size == other.size && self.hash == other.hash
    }
}

/// A whole snapshot, ordered by path.
pub type Snapshot = BTreeMap<String, FileEntry>;

/// The identity of a snapshot: one BLAKE3 hash over its canonical listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotRoot(pub Hash);

impl std::fmt::Display for SnapshotRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Incrementally computes a [`SnapshotRoot`]; entries must arrive sorted by path bytes.
pub struct RootHasher(blake3::Hasher);

impl Default for RootHasher {
    fn default() -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"colony snapshot v1\n");
        RootHasher(h)
    }
}

impl RootHasher {
    /// Adds one entry.
    pub fn add(&mut self, path: &str, mode: Mode, size: u64, hash: &Hash) {
        self.0.update(&(path.len() as u32).to_le_bytes());
        self.0.update(path.as_bytes());
        self.0.update(&[mode.code()]);
        self.0.update(&size.to_le_bytes());
        self.0.update(&hash.0);
    }

    /// The root.
    pub fn finish(self) -> SnapshotRoot {
        SnapshotRoot(self.0.finalize().into())
    }
}

/// The root of a whole snapshot.
pub fn snapshot_root(snapshot: &Snapshot) -> SnapshotRoot {
    // BTreeMap<String> orders by the UTF-8 bytes, which is the canonical order.
    let mut h = RootHasher::default();
    for (path, e) in snapshot {
        h.add(path, e.mode, e.size, &e.hash);
    }
    h.finish()
}

#[cfg(test)]
mod reader_tests;
#[cfg(test)]
mod readthrough_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(content: &[u8]) -> FileEntry {
        FileEntry {
            mode: Mode::File,
            size: content.len() as u64,
            hash: Hash::of(content),
            manifest: None,
            target: None,
        }
    }

    #[test]
    fn root_depends_on_paths_content_and_mode_only() {
        let mut a = Snapshot::new();
        a.insert("x/y.txt".into(), entry(b"hello"));
        a.insert("z".into(), entry(b""));
        let mut b = a.clone();
        b.get_mut("x/y.txt").unwrap().manifest = Some(Hash::of(b"m"));
        assert_eq!(snapshot_root(&a), snapshot_root(&b));
        b.get_mut("z").unwrap().mode = Mode::Exec;
        assert_ne!(snapshot_root(&a), snapshot_root(&b));
        let mut c = a.clone();
        let e = c.remove("z").unwrap();
        c.insert("z2".into(), e);
        assert_ne!(snapshot_root(&a), snapshot_root(&c));
    }

    #[test]
    fn root_of_known_listing_is_stable() {
        // Pinned so that an accidental change of the canonical form fails loudly.
        let mut s = Snapshot::new();
        s.insert("a".into(), entry(b"a"));
        let mut h = blake3::Hasher::new();
        h.update(b"colony snapshot v1\n");
        h.update(&1u32.to_le_bytes());
        h.update(b"a");
        h.update(&[0]);
        h.update(&1u64.to_le_bytes());
        h.update(blake3::hash(b"a").as_bytes());
        assert_eq!(snapshot_root(&s).0, Hash::from(h.finalize()));
    }
}
