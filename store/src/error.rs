//! The store's error type. Every variant says which object or file is affected and, where
//! there is one, what the user can do about it.

use std::path::PathBuf;

use crate::Hash;

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O operation failed.
    #[error("could not {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// No `.colony` directory was found.
    #[error("not a colony dataset (no .colony directory in {0} or any parent)")]
    NotADataset(PathBuf),
    /// `init` on a folder that already has one.
    #[error("{0} is already a colony dataset")]
    AlreadyInitialised(PathBuf),
    /// A shard file is damaged.
    #[error("shard {shard} is corrupt: {why}")]
    CorruptShard {
        /// The shard.
        shard: Hash,
        /// What is wrong.
        why: String,
    },
    /// A record read back from a shard did not match its hash.
    #[error("chunk {chunk} in shard {shard} is corrupt: {why}")]
    CorruptChunk {
        /// The record's expected hash.
        chunk: Hash,
        /// The shard holding it.
        shard: Hash,
        /// What is wrong.
        why: String,
    },
    /// A shard's table claims a record longer than the format allows. Refused before any
    /// buffer of the claimed length is allocated.
    #[error(
        "shard {shard} is corrupt: its table claims {claimed} bytes for {kind} {record}, more than any {kind} may hold ({limit})"
    )]
    RecordTooLarge {
        /// The shard.
        shard: Hash,
        /// The record's hash, as the table gives it.
        record: Hash,
        /// What the table says the record is.
        kind: crate::shard::EntryKind,
        /// The uncompressed length the table claims.
        claimed: u64,
        /// The most a record of that kind may hold.
        limit: u64,
    },
    /// A shard that arrived from a remote or a peer failed verification (its name, its
    /// table, or a record whose bytes do not hash to the id its table gives). It was
    /// deleted, never indexed: nothing of it is used.
    #[error("remote `{remote}`: shard {shard} failed verification ({source}); it was not stored")]
    ShardRefused {
        /// The remote (and peer) it came from.
        remote: String,
        /// The shard.
        shard: Hash,
        /// What failed.
        #[source]
        source: Box<StoreError>,
    },
    /// A remote listed a ref whose commit did not arrive (or is not a commit). Checked
    /// before any ref moves, so no ref was moved.
    #[error("remote `{remote}`: {name} points to {commit}, which {why}; no ref was moved")]
    MissingTip {
        /// The remote.
        remote: String,
        /// The ref as the remote listed it.
        name: String,
        /// The commit it names.
        commit: String,
        /// What is wrong with it.
        why: String,
    },
    /// A chunk or manifest the history needs is not in the store.
    #[error("{kind} {hash} is missing from the store (fetch it from a peer, or run `colony fsck`)")]
    Missing {
        /// "chunk" or "manifest".
        kind: &'static str,
        /// Its hash.
        hash: Hash,
    },
    /// A file's bytes do not hash to what its pointer says.
    #[error("{path}: content hashes to {actual} but the history says {expected}")]
    ContentMismatch {
        /// The file.
        path: String,
        /// Hash in the pointer.
        expected: Hash,
        /// Hash of the bytes.
        actual: Hash,
    },
    /// A failure while working on one file; wraps the cause with the path.
    #[error("{path}: {source}")]
    AtPath {
        /// The file (relative to the dataset root).
        path: String,
        /// The cause.
        #[source]
        source: Box<StoreError>,
    },
    /// Something in the history is not as colony writes it.
    #[error("malformed history object {object}: {why}")]
    MalformedHistory {
        /// The git object id or ref name.
        object: String,
        /// What is wrong.
        why: String,
    },
    /// A path in a revision would land outside the work tree or inside `.colony`.
    #[error("refusing to materialise `{path}`: {why}; nothing was written for it")]
    HostilePath {
        /// The path as it appears in the history.
        path: String,
        /// Why it is refused.
        why: String,
    },
    /// A revision could not be resolved.
    #[error("unknown revision `{rev}`: {why}")]
    UnknownRevision {
        /// What the user typed.
        rev: String,
        /// Why it did not resolve.
        why: String,
    },
    /// A path is not in a revision.
    #[error("`{path}` does not exist in {rev}")]
    NoSuchPath {
        /// The path.
        path: String,
        /// The revision.
        rev: String,
    },
    /// A path given on the command line is outside the dataset.
    #[error("`{0}` is outside the dataset")]
    OutsideDataset(PathBuf),
    /// A command would overwrite uncommitted work.
    #[error(
        "uncommitted changes would be overwritten: {}{}\nCommit them, or pass --force to discard them",
        paths.iter().take(10).cloned().collect::<Vec<_>>().join(", "),
        if paths.len() > 10 { format!(" and {} more", paths.len() - 10) } else { String::new() }
    )]
    WouldOverwrite {
        /// The paths at risk.
        paths: Vec<String>,
    },
    /// `commit` with nothing staged.
    #[error("nothing to commit (use `colony add` to stage changes, or --allow-empty)")]
    NothingToCommit,
    /// The store lock could not be taken in time.
    #[error(
        "another colony process is using this dataset ({holder}); gave up after waiting {waited_secs}s.\nWait for it to finish, or raise the timeout with COLONY_LOCK_TIMEOUT=SECONDS"
    )]
    LockTimeout {
        /// What the lock file says about its holder.
        holder: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// A branch, tag or pin name is invalid or taken.
    #[error("{0}")]
    Ref(String),
    /// The work-tree index is damaged.
    #[error("the index {path} is corrupt: {why}; rebuild it with `colony reset --mixed HEAD`")]
    CorruptIndex {
        /// Index file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A symlink in the work tree points somewhere colony will not follow.
    #[error(
        "`{path}` is a symlink to `{target}`, which leaves the dataset; colony only records symlinks that stay inside it"
    )]
    EscapingSymlink {
        /// The link.
        path: String,
        /// Its target.
        target: String,
    },
    /// A symlink that, with the other symlinks of the same snapshot, would leave the
    /// dataset (or loops, or nests too deep), although its target alone stays inside.
    #[error(
        "`{path}` is a symlink to `{target}`, which {why}; colony only records and writes symlinks that stay inside the dataset"
    )]
    HostileLink {
        /// The link.
        path: String,
        /// Its target.
        target: String,
        /// What resolving it through the other links found.
        why: String,
    },
    /// The store lock is not a plain file of this dataset (a symlink, a FIFO, …).
    #[error("refusing the lock {path}: {why}; remove it and colony will create a plain one")]
    UnsafeLock {
        /// The lock file.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },
    /// A run record whose name is not the id its `record.json` hashes to: forged or
    /// damaged, and never adopted or used.
    #[error("run `{run}` is not what its name says: {why}; refusing it")]
    ForgedRun {
        /// The run's name (`refs/runs/<name>`).
        run: String,
        /// What does not match.
        why: String,
    },
    /// The configuration file is invalid.
    #[error("invalid configuration {path}: {why}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A git operation failed.
    #[error("history: {0}")]
    Git(String),
    /// The chunk index database failed.
    #[error("chunk index: {0}")]
    Index(String),
    /// An operation that cannot go on in the present state (a merge in progress,
    /// uncommitted work, a destination that exists); the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// A table could not be diffed, merged or queried; the message names it and says how
    /// to fix it (a missing key, a malformed file).
    #[error("{0}")]
    Table(String),
    /// A remote could not be read, or sent something that fails verification.
    #[error("remote `{remote}`: {why}")]
    Remote {
        /// The remote's name.
        remote: String,
        /// What went wrong.
        why: String,
    },
    // Reading in place (`snapshot::SnapshotReader`).
    /// A path given to a snapshot reader is not a clean path relative to the snapshot.
    #[error("invalid path `{path}`: {why}")]
    InvalidPath {
        /// The path as given (escaped).
        path: String,
        /// Why it is refused.
        why: String,
    },
    /// A read asked for the content of a folder.
    #[error("`{path}` is a folder in {rev}, not a file")]
    IsAFolder {
        /// The folder.
        path: String,
        /// The revision read.
        rev: String,
    },
    /// A listing asked for the children of a file.
    #[error("`{path}` is a file in {rev}, not a folder")]
    NotAFolder {
        /// The file.
        path: String,
        /// The revision read.
        rev: String,
    },
    /// Read-through (a sparse clone reading a file whose records are not here) could not
    /// bring the file's records from a remote: it is down, does not have them, or sent
    /// data that failed verification (which was then neither stored nor served).
    #[error(
        "`{path}` is not in this sparse clone and reading it through remote `{remote}` failed: {source}"
    )]
    ReadThrough {
        /// The file being read.
        path: String,
        /// The remote tried (the first one, when several failed).
        remote: String,
        /// Why it failed.
        #[source]
        source: Box<StoreError>,
    },
    /// A revision to be pinned could not be read back whole: pinning promises to keep
    /// its bytes, so nothing was pinned.
    #[error("refusing to pin {commit}: it failed verification: {}", problems.join("; "))]
    PinUnverified {
        /// The commit asked for.
        commit: String,
        /// Each file that could not be read back or did not match, or the root mismatch.
        problems: Vec<String>,
    },
}

impl StoreError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            what: what.into(),
            source,
        }
    }

    /// Wraps `self` with the path of the file being worked on.
    pub fn at(self, path: &str) -> StoreError {
        match self {
            e @ (StoreError::AtPath { .. } | StoreError::ReadThrough { .. }) => e,
            e => StoreError::AtPath {
                path: path.to_string(),
                source: Box::new(e),
            },
        }
    }

    /// Wraps a git error.
    pub fn git(e: impl std::fmt::Display) -> StoreError {
        StoreError::Git(e.to_string())
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Index(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
