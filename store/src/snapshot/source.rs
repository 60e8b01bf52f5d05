//! Where a reader's records come from: the local shards, found through the chunk index in
//! short visits (falling back to a record's other verified copies when one is damaged),
//! and, for what a sparse clone lacks, remotes that bring it into the local store first
//! (read-through, see [`super::readthrough`]).
//!
//! The chunk index (redb) may be open for writing by one process only and not beside
//! readers, so a reader that kept it open would block every `add`, `commit` and `gc`.
//! Instead, locations are looked up in batches (a whole file's chunks, up to
//! [`LOCATE_BATCH`] at a time), each in one visit that holds the store's shared lock and a
//! read-only index handle and then lets both go. Shard files are immutable and read
//! without any lock. A `gc` may repack shards between a look-up and a read; the record is
//! then found again (a leased revision's records are moved, never dropped).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::Hash;
use crate::chunks::{ChunkStore, Location};
use crate::error::{Result, StoreError};
use crate::lock::StoreLock;
use crate::shard::ShardFile;

/// Chunk locations looked up in one visit to the index, at most (a 1 GiB file's worth).
pub const LOCATE_BATCH: usize = 16384;

/// Shard files kept open per reader. An open file stays readable after `gc` deletes it,
/// so this also bounds the disk space a reader can keep from being freed.
const OPEN_SHARDS: usize = 64;

/// Brings the records of a file a sparse clone lacks into the local store
/// (read-through); the reader then reads them locally like any other.
///
/// The unit is one file, not one record: the implementation decides how much to move
/// (the shards the file needs, say) and must store only what it verified, since what it
/// stores is what the reader serves (verified again as it is read). Implementations are
/// shared by all threads of a reader; the reader asks for one file once at a time,
/// however many threads need it. [`super::readthrough::DatasetRemotes`] is the one a
/// sparse clone's reader uses by default.
pub trait RemoteChunks: Send + Sync {
    /// Makes every record of file `path` (its manifest and chunks, as `entry` of
    /// `commit` lists them) present in the local store's index, verified; or fails with
    /// an error naming the remote and the path ([`StoreError::ReadThrough`]).
    fn fetch_file(&self, commit: gix::ObjectId, path: &str, entry: &crate::FileEntry)
    -> Result<()>;
}

/// What reading a located record gave.
pub(crate) enum ReadOutcome {
    /// Verified bytes.
    Bytes(Vec<u8>),
    /// The shard file is gone (a `gc` repacked it): look the record up again.
    ShardGone,
}

/// The local store as a reader sees it: index visits and open shard files.
pub(crate) struct LocalStore {
    lock: PathBuf,
    shards: PathBuf,
    index: PathBuf,
    /// One index visit at a time per reader; others wait and reuse what it found.
    visit: Mutex<()>,
    open: Mutex<HashMap<Hash, Arc<ShardFile>>>,
}

impl LocalStore {
    pub(crate) fn new(colony_dir: &Path) -> LocalStore {
        LocalStore {
            lock: colony_dir.join("lock"),
            shards: colony_dir.join("shards"),
            index: colony_dir.join("chunks.redb"),
            visit: Mutex::new(()),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Looks `hashes` up in one visit to the index, under the store's shared lock.
    pub(crate) fn locate(&self, hashes: &[Hash]) -> Result<Vec<Option<Location>>> {
        let _one = self.visit.lock().unwrap_or_else(|p| p.into_inner());
        let _lock = StoreLock::acquire(&self.lock, false, &|_| {})?;
        let index = ChunkStore::open_read_only(&self.shards, &self.index)?;
        hashes.iter().map(|h| index.locate(h)).collect()
    }

    /// The other copies of record `hash` the index knows, in one visit.
    fn alternates(&self, hash: &Hash) -> Result<Vec<Location>> {
        let _one = self.visit.lock().unwrap_or_else(|p| p.into_inner());
        let _lock = StoreLock::acquire(&self.lock, false, &|_| {})?;
        let index = ChunkStore::open_read_only(&self.shards, &self.index)?;
        index.alternates(hash)
    }

    fn shard(&self, id: &Hash) -> Result<Option<Arc<ShardFile>>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = open.get(id) {
            return Ok(Some(f.clone()));
        }
        let f = match ShardFile::open(*id, &crate::shard_path(&self.shards, id)) {
            Ok(f) => Arc::new(f),
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if open.len() >= OPEN_SHARDS {
            open.clear();
        }
        open.insert(*id, f.clone());
        Ok(Some(f))
    }

    /// Closes the shard files kept open (tests: to read after a `gc` moved records).
    #[cfg(test)]
    pub(crate) fn close_shards(&self) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Reads the record at `loc`, verified against `want` (the hash asked for, which the
    /// index entry must carry: an index pointing at another record is corruption too).
    /// When that copy fails, the other copies the index knows are tried in turn (as
    /// [`ChunkStore::read`] does), each verified; the error is the first copy's.
    pub(crate) fn read(&self, want: &Hash, loc: &Location) -> Result<ReadOutcome> {
        let first = if loc.entry.hash != *want {
            StoreError::CorruptChunk {
                chunk: *want,
                shard: loc.shard,
                why: format!(
                    "the chunk index points at record {} instead",
                    loc.entry.hash
                ),
            }
        } else {
            let Some(shard) = self.shard(&loc.shard)? else {
                return Ok(ReadOutcome::ShardGone);
            };
            match shard.read(&loc.entry) {
                Ok(b) => return Ok(ReadOutcome::Bytes(b)),
                Err(e) => e,
            }
        };
        for alt in self.alternates(want)? {
            if alt.entry.hash != *want || alt == *loc {
                continue;
            }
            if let Some(shard) = self.shard(&alt.shard)?
                && let Ok(b) = shard.read(&alt.entry)
            {
                return Ok(ReadOutcome::Bytes(b));
            }
        }
        Err(first)
    }
}
