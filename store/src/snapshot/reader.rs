//! [`SnapshotReader`]: one revision, read where it lies — listed, stat'ed and read at any
//! offset, every byte verified against BLAKE3 before it is returned.
//!
//! What a read proves: each chunk under the range is checked against its hash, and the
//! file's manifest has been checked once against the file's whole-content hash (the one
//! the snapshot root commits to; see [`super::proofs`]), so a range read is as
//! trustworthy as `verify` of that file. A read that fails verification returns an error
//! naming the file and the shard and no bytes at all.
//!
//! A reader holds no store lock while open: it takes the shared lock only to resolve the
//! revision and while looking chunk locations up (see [`super::source`]). Its revision is
//! kept from `gc` by a lease (see [`super::lease`]) until the last clone is dropped.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gix::ObjectId;

use super::cache::{CacheStats, ChunkBytes, ChunkCache, Flights};
use super::layout::{FileLayout, LayoutKey, Layouts, Loc};
use super::lease::Lease;
use super::path::normalize;
use super::proofs::ProofLog;
use super::readahead::{Prefetch, Readahead, Task, count_prefetch};
use super::readthrough::DatasetRemotes;
use super::revision::resolve_revision;
use super::source::{LOCATE_BATCH, LocalStore, ReadOutcome, RemoteChunks};
use super::{FileEntry, Mode, Snapshot, SnapshotRoot, snapshot_root};
use crate::Hash;
use crate::content::{CheckedCopy, write_link};
use crate::error::{Result, StoreError};
use crate::history::History;
use crate::lock::StoreLock;
use crate::repo::COLONY_DIR;

/// Settings of a [`SnapshotReader`].
#[derive(Clone)]
pub struct ReaderOptions {
    /// Bound on the decompressed chunks kept in memory, shared by all threads of one
    /// reader (default 64 MiB).
    pub cache_bytes: u64,
    /// The most bytes loaded ahead of a sequential reader (default 8 MiB, capped to a
    /// quarter of the cache; 0 turns readahead off).
    pub readahead_bytes: u64,
    /// Background threads loading ahead (default 2).
    pub readahead_threads: usize,
    /// Threads one read uses to load the chunks of a large range, and a file's first
    /// whole-file check (default 4).
    pub parallel_loads: usize,
    /// Where records missing locally come from (read-through). `None` (the default):
    /// in a sparse clone, the dataset's configured remotes
    /// ([`super::readthrough::DatasetRemotes`]); elsewhere, nowhere (a missing record is
    /// an error).
    pub remote: Option<Arc<dyn RemoteChunks>>,
    /// No read-through at all, even in a sparse clone or with `remote` set: a record
    /// that is not local is an error ([`StoreError::Missing`]). Default `false`.
    pub offline: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            cache_bytes: 64 << 20,
            readahead_bytes: 8 << 20,
            readahead_threads: 2,
            parallel_loads: 4,
            remote: None,
            offline: false,
        }
    }
}

impl std::fmt::Debug for ReaderOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderOptions")
            .field("cache_bytes", &self.cache_bytes)
            .field("readahead_bytes", &self.readahead_bytes)
            .field("readahead_threads", &self.readahead_threads)
            .field("parallel_loads", &self.parallel_loads)
            .field("remote", &self.remote.is_some())
            .field("offline", &self.offline)
            .finish()
    }
}

/// What a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A regular or executable file.
    File,
    /// A folder (implied by the paths under it; the root is `""`).
    Dir,
    /// A symbolic link; its content is its target.
    Symlink,
}

/// One path of a snapshot, as `list` and `stat` describe it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeInfo {
    /// Normalised path relative to the snapshot (`""` for the root).
    pub path: String,
    /// File, folder or symlink.
    pub kind: NodeKind,
    /// Bytes (a symlink: its target's length; a folder: 0).
    pub size: u64,
    /// BLAKE3 of the content, as the snapshot root commits to it (none for folders).
    pub hash: Option<Hash>,
    /// How a file is materialised (none for folders).
    pub mode: Option<Mode>,
    /// A symlink's target.
    pub target: Option<String>,
}

impl NodeInfo {
    fn of(path: &str, e: &FileEntry) -> NodeInfo {
        NodeInfo {
            path: path.to_string(),
            kind: if e.mode == Mode::Link {
                NodeKind::Symlink
            } else {
                NodeKind::File
            },
            size: e.size,
            hash: Some(e.hash),
            mode: Some(e.mode),
            target: e.target.clone(),
        }
    }

    fn dir(path: &str) -> NodeInfo {
        NodeInfo {
            path: path.to_string(),
            kind: NodeKind::Dir,
            size: 0,
            hash: None,
            mode: None,
            target: None,
        }
    }
}

/// Layout chunks kept per reader (about 130 bytes each: 2^18 ≈ 34 MiB, 16 GiB of files).
const LAYOUT_BUDGET: usize = 1 << 18;
/// Chunks loaded per step of a file's whole-file check.
const PROOF_STEP: usize = 64;
/// Chunks of one read loaded and copied at a time.
const WINDOW: usize = 64;

/// A revision of a dataset, opened for reading in place.
///
/// Cheap to clone (one `Arc`); `Send + Sync`: every clone and thread shares one chunk
/// cache, one set of file layouts and one lease. Paths are validated and normalised
/// ([`super::path::normalize`]); hostile ones get [`StoreError::InvalidPath`].
#[derive(Clone)]
pub struct SnapshotReader {
    inner: Arc<Inner>,
}

struct Inner {
    rev: String,
    commit: ObjectId,
    root: SnapshotRoot,
    recorded_root: Option<Hash>,
    files: Snapshot,
    store: LocalStore,
    remote: Option<Arc<dyn RemoteChunks>>,
    /// One read-through per file (by content) at a time, however many threads need it;
    /// a failure is shared by every thread that waited for it (none tries again at once).
    fetching: Flights<LayoutKey, std::result::Result<(), Arc<StoreError>>>,
    parallel: usize,
    cache: ChunkCache,
    loads: Flights<Hash, ChunkBytes>,
    layouts: Mutex<Layouts>,
    building: Flights<LayoutKey, Arc<FileLayout>>,
    proofs: ProofLog,
    proving: Flights<(Hash, Hash), ()>,
    readahead: Option<Readahead>,
    _lease: Lease,
}

impl SnapshotReader {
    /// Opens revision `rev` of the dataset rooted at `dataset_root` (the folder holding
    /// `.colony`) with default options. See [`SnapshotReader::open_with`].
    pub fn open(dataset_root: &Path, rev: &str) -> Result<SnapshotReader> {
        SnapshotReader::open_with(dataset_root, rev, ReaderOptions::default())
    }

    /// Opens revision `rev`: a branch, tag, pin, commit id (or rev-parse expression), or
    /// a 64-hex snapshot root recorded by a reachable commit (whose tree is checked to
    /// hash to it). Takes the store's shared lock only while resolving and leasing the
    /// revision (waiting, like any reader, while a writer holds the store), so it must not
    /// be called by a thread that holds the store for writing. A revision holding paths
    /// that colony refuses to materialise is refused whole ([`StoreError::HostilePath`]).
    pub fn open_with(
        dataset_root: &Path,
        rev: &str,
        opts: ReaderOptions,
    ) -> Result<SnapshotReader> {
        let colony = dataset_root.join(COLONY_DIR);
        if !colony.join("history").is_dir() {
            return Err(StoreError::NotADataset(dataset_root.to_path_buf()));
        }
        let (commit, files, recorded_root, lease) = {
            let _lock = StoreLock::acquire(&colony.join("lock"), false, &|_| {})?;
            let history = History::open(&colony.join("history"))?;
            let commit = resolve_revision(&history, rev)?;
            let read = history.read_snapshot(commit)?;
            if let Some(h) = read.hostile.into_iter().next() {
                return Err(StoreError::HostilePath {
                    path: h.path,
                    why: h.why,
                });
            }
            let recorded = history.commit_info(commit)?.root;
            // Under the shared lock: no `gc` between resolving and protecting.
            let lease = Lease::take(&colony, commit)?;
            (commit, read.files, recorded, lease)
        };
        let root = snapshot_root(&files);
        let remote = if opts.offline {
            None
        } else if opts.remote.is_some() {
            opts.remote.clone()
        } else if colony.join(crate::ops::sparse::SPARSE_FILE).exists() {
            Some(Arc::new(DatasetRemotes::new(dataset_root)) as Arc<dyn RemoteChunks>)
        } else {
            None
        };
        let cache = ChunkCache::new(opts.cache_bytes);
        let max_window = opts.readahead_bytes.min(opts.cache_bytes / 4);
        let inner = Arc::new_cyclic(|weak| Inner {
            rev: rev.to_string(),
            commit,
            root,
            recorded_root,
            files,
            store: LocalStore::new(&colony),
            remote,
            fetching: Flights::new(),
            parallel: opts.parallel_loads.max(1),
            cache,
            loads: Flights::new(),
            layouts: Mutex::new(Layouts::new(LAYOUT_BUDGET)),
            building: Flights::new(),
            proofs: ProofLog::open(&colony),
            proving: Flights::new(),
            readahead: (max_window > 0 && opts.readahead_threads > 0)
                .then(|| Readahead::start(opts.readahead_threads, max_window, weak.clone())),
            _lease: lease,
        });
        Ok(SnapshotReader { inner })
    }

    /// The revision as it was given to `open`.
    pub fn revision(&self) -> &str {
        &self.inner.rev
    }

    /// The commit being read.
    pub fn commit(&self) -> ObjectId {
        self.inner.commit
    }

    /// The snapshot root computed from the tree being read (what `verify` computes).
    pub fn root(&self) -> SnapshotRoot {
        self.inner.root
    }

    /// The snapshot root the commit records in its trailer (equal to [`Self::root`] for
    /// every commit colony wrote; `verify` reports a difference).
    pub fn recorded_root(&self) -> Option<Hash> {
        self.inner.recorded_root
    }

    /// Every file and symlink, ordered by path bytes (for front ends that page through
    /// listings, e.g. with `range`).
    pub fn files(&self) -> &Snapshot {
        &self.inner.files
    }

    /// The chunk cache's size and use so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// What `path` is: a file, symlink or folder (the root is `""`).
    /// Errors: [`StoreError::InvalidPath`], [`StoreError::NoSuchPath`].
    pub fn stat(&self, path: &str) -> Result<NodeInfo> {
        let p = normalize(path)?;
        let inner = &self.inner;
        if let Some(e) = inner.files.get(&p) {
            return Ok(NodeInfo::of(&p, e));
        }
        if p.is_empty() || inner.is_dir(&p) {
            return Ok(NodeInfo::dir(&p));
        }
        Err(inner.no_such(&p))
    }

    /// The paths in folder `prefix` (`""` for the root): with `recursive`, every file and
    /// symlink beneath it (folders implied by their paths); without, its direct children,
    /// folders included. Ordered by path bytes.
    /// Errors: [`StoreError::InvalidPath`], [`StoreError::NoSuchPath`],
    /// [`StoreError::NotAFolder`] (for a file).
    pub fn list(&self, prefix: &str, recursive: bool) -> Result<Vec<NodeInfo>> {
        let p = normalize(prefix)?;
        let inner = &self.inner;
        if inner.files.contains_key(&p) {
            return Err(StoreError::NotAFolder {
                path: p,
                rev: inner.rev.clone(),
            });
        }
        if !p.is_empty() && !inner.is_dir(&p) {
            return Err(inner.no_such(&p));
        }
        let base = if p.is_empty() { p } else { format!("{p}/") };
        let under = |from: &str| {
            inner
                .files
                .range::<str, _>((Bound::Included(from), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(&base))
        };
        if recursive {
            return Ok(under(&base).map(|(k, e)| NodeInfo::of(k, e)).collect());
        }
        let mut out = Vec::new();
        let mut from = base.clone();
        while let Some((k, e)) = under(&from).next() {
            let rest = &k[base.len()..];
            match rest.find('/') {
                Some(slash) => {
                    let dir = &k[..base.len() + slash];
                    out.push(NodeInfo::dir(dir));
                    // Skip past everything in that folder: '0' follows '/' in byte order.
                    from = format!("{dir}0");
                }
                None => {
                    out.push(NodeInfo::of(k, e));
                    from = format!("{k}\0");
                }
            }
        }
        Ok(out)
    }

    /// Reads up to `len` bytes of file `path` from `offset`: fewer at the end of the file,
    /// none at or past it. Verifies every chunk under the range (and, once per store, the
    /// whole file against its hash) before returning any byte.
    /// Errors: [`StoreError::InvalidPath`], [`StoreError::NoSuchPath`],
    /// [`StoreError::IsAFolder`]; [`StoreError::ContentMismatch`] when the file's chunks
    /// do not hash to the file hash the snapshot records; `AtPath { path, source }` with
    /// [`StoreError::CorruptChunk`] (naming the shard) or [`StoreError::Missing`].
    pub fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let (p, e) = self.inner.file(path)?;
        let avail = e.size.saturating_sub(offset).min(len as u64) as usize;
        let mut buf = vec![0u8; avail];
        let n = self.inner.read_into(&p, e, offset, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Like [`SnapshotReader::read_at`], into `buf`; returns the bytes read (less than
    /// `buf.len()` only at the end of the file). On error, `buf` may hold the bytes of
    /// chunks before the failing one (verified), never a byte that failed verification.
    pub fn read_into(&self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let (p, e) = self.inner.file(path)?;
        self.inner.read_into(&p, e, offset, buf)
    }
}

impl SnapshotReader {
    /// Writes the whole content of file (or symlink target) `path` to `out`, a window of
    /// chunks at a time (memory bounded by the window, whatever the file's size; the
    /// chunks are not kept in the cache). Every chunk is verified before a byte of it is
    /// written; the file's whole-content BLAKE3 is computed on the way and checked at the
    /// end, so on a mismatch (a manifest that disagrees with the file's hash) the bytes
    /// already written each matched their chunk but the call fails with
    /// [`StoreError::ContentMismatch`], as `verify` would. A match is recorded like the
    /// whole-file check of [`SnapshotReader::read_at`], which then need not read the
    /// file again. Returns the bytes written.
    pub fn write_to(&self, path: &str, out: &mut dyn std::io::Write) -> Result<u64> {
        let (p, e) = self.inner.file(path)?;
        self.inner.write_to(&p, e, out)
    }
}

impl Inner {
    fn write_to(&self, path: &str, e: &FileEntry, out: &mut dyn std::io::Write) -> Result<u64> {
        if let Some(n) = write_link(path, e, out)? {
            return Ok(n);
        }
        let layout = if e.size == 0 {
            Arc::new(FileLayout::new(Vec::new()))
        } else {
            self.layout(path, e)?
        };
        let mut copy = CheckedCopy::new(path, out);
        let all: Vec<usize> = (0..layout.chunks.len()).collect();
        for wanted in all.chunks(WINDOW) {
            let mut got: Vec<Option<ChunkBytes>> = wanted
                .iter()
                .map(|&i| self.cache.get(&layout.chunks[i].0))
                .collect();
            self.load_missing(path, &layout, wanted, &mut got, false)?;
            for b in got.iter().flatten() {
                copy.write(b)?;
            }
        }
        let n = copy.finish(e)?;
        if let Some(m) = e.manifest {
            // Recording only saves a later range read the whole-file check.
            let _ = self.proofs.record(&[(e.hash, m)]);
        }
        Ok(n)
    }
}

#[cfg(test)]
impl SnapshotReader {
    /// Closes the shard files the reader keeps open.
    pub(crate) fn close_shards(&self) {
        self.inner.store.close_shards();
    }
}

impl Inner {
    fn no_such(&self, p: &str) -> StoreError {
        StoreError::NoSuchPath {
            path: p.to_string(),
            rev: self.rev.clone(),
        }
    }

    fn is_dir(&self, p: &str) -> bool {
        let base = format!("{p}/");
        self.files
            .range::<str, _>((Bound::Included(base.as_str()), Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(&base))
    }

    /// The file at `path`, or why it cannot be read.
    fn file(&self, path: &str) -> Result<(String, &FileEntry)> {
        let p = normalize(path)?;
        match self.files.get(&p) {
            Some(e) => Ok((p, e)),
            None if p.is_empty() || self.is_dir(&p) => Err(StoreError::IsAFolder {
                path: p,
                rev: self.rev.clone(),
            }),
            None => Err(self.no_such(&p)),
        }
    }

    fn read_into(&self, path: &str, e: &FileEntry, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if e.mode == Mode::Link {
            // A link's content is its target, which the tree itself holds.
            let t = e.target.as_deref().unwrap_or_default().as_bytes();
            let from = (offset.min(t.len() as u64)) as usize;
            let n = (t.len() - from).min(buf.len());
            buf[..n].copy_from_slice(&t[from..from + n]);
            return Ok(n);
        }
        if e.size == 0 && e.hash != Hash::EMPTY {
            return Err(StoreError::ContentMismatch {
                path: path.to_string(),
                expected: e.hash,
                actual: Hash::EMPTY,
            });
        }
        if offset >= e.size || buf.is_empty() {
            return Ok(0);
        }
        let end = e.size.min(offset.saturating_add(buf.len() as u64));
        let layout = self.layout(path, e)?;
        self.ensure_proven(path, e, &layout)?;
        let (first, last) = (layout.chunk_at(offset), layout.chunk_at(end - 1));
        // A window of chunks at a time, so a large range does not hold all its chunks.
        let mut n = 0;
        let all: Vec<usize> = (first..=last).collect();
        for wanted in all.chunks(WINDOW) {
            let mut got: Vec<Option<ChunkBytes>> = wanted
                .iter()
                .map(|&i| self.cache.get(&layout.chunks[i].0))
                .collect();
            let hits = got.iter().filter(|g| g.is_some()).count();
            self.cache.hits.fetch_add(hits as u64, Ordering::Relaxed);
            self.cache
                .misses
                .fetch_add((got.len() - hits) as u64, Ordering::Relaxed);
            self.load_missing(path, &layout, wanted, &mut got, true)?;
            // Every chunk of the window is verified; only now are its bytes copied out.
            for (&i, bytes) in wanted.iter().zip(&got) {
                let bytes = bytes.as_ref().expect("loaded");
                let start = layout.start(i);
                let from = (offset.max(start) - start) as usize;
                let to = (end.min(layout.ends[i]) - start) as usize;
                buf[n..n + (to - from)].copy_from_slice(&bytes[from..to]);
                n += to - from;
            }
        }
        if let Some(ra) = &self.readahead {
            ra.note(path, &layout, offset, end, last, &self.cache);
        }
        Ok(n)
    }

    /// Fills the `None`s of `got` (chunks `wanted` of `layout`), on up to `parallel`
    /// threads when there are several.
    fn load_missing(
        &self,
        path: &str,
        layout: &FileLayout,
        wanted: &[usize],
        got: &mut [Option<ChunkBytes>],
        keep: bool,
    ) -> Result<()> {
        let todo: Vec<usize> = (0..wanted.len()).filter(|&k| got[k].is_none()).collect();
        if todo.len() <= 1 || self.parallel <= 1 {
            for k in todo {
                got[k] = Some(self.chunk(path, layout, wanted[k], keep)?);
            }
            return Ok(());
        }
        // Plain scoped threads rather than a shared pool: a thread waiting for a chunk
        // another one loads must never pick up unrelated work meanwhile.
        let next = AtomicUsize::new(0);
        let results: Vec<Mutex<Option<Result<ChunkBytes>>>> =
            todo.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..self.parallel.min(todo.len()) {
                s.spawn(|| {
                    loop {
                        let t = next.fetch_add(1, Ordering::Relaxed);
                        if t >= todo.len() {
                            break;
                        }
                        let r = self.chunk(path, layout, wanted[todo[t]], keep);
                        let failed = r.is_err();
                        *results[t].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                        if failed {
                            // Stop the others early; the first error is returned.
                            next.store(todo.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                });
            }
        });
        for (t, r) in todo.iter().zip(results) {
            match r.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(Ok(b)) => got[*t] = Some(b),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        // A failure stopped the loop before some chunks were tried.
        for (k, g) in got.iter_mut().enumerate() {
            if g.is_none() {
                *g = Some(self.chunk(path, layout, wanted[k], keep)?);
            }
        }
        Ok(())
    }

    /// Chunk `i` of `layout`, verified: from the cache, or loaded once however many
    /// threads ask; kept in the cache when `keep`.
    fn chunk(&self, path: &str, layout: &FileLayout, i: usize, keep: bool) -> Result<ChunkBytes> {
        let hash = layout.chunks[i].0;
        if let Some(b) = self.cache.get(&hash) {
            return Ok(b);
        }
        let b = self
            .loads
            .run(&hash, || self.load_chunk(path, layout, i))
            .map_err(|e| e.at(path))?;
        if keep {
            self.cache.insert(hash, b.clone());
        }
        Ok(b)
    }

    fn load_chunk(&self, path: &str, layout: &FileLayout, i: usize) -> Result<ChunkBytes> {
        let (hash, len) = layout.chunks[i];
        let bytes = self.read_record(
            &hash,
            "chunk",
            path,
            || self.location(layout, i),
            |shard| layout.forget_shard(shard),
            || layout.forget_absent(),
        )?;
        if bytes.len() != len as usize {
            return Err(StoreError::MalformedHistory {
                object: hash.to_string(),
                why: format!(
                    "chunk {} of the file holds {} bytes but its listing says {len}",
                    i,
                    bytes.len()
                ),
            });
        }
        Ok(Arc::new(bytes))
    }

    /// Reads record `hash` of file `path`: where `locate` says, again after a `gc` moved
    /// it (`moved` forgets the shard), or, when the local index lacks it, after
    /// read-through made the file local (`arrived` forgets what was found absent).
    fn read_record(
        &self,
        hash: &Hash,
        kind: &'static str,
        path: &str,
        locate: impl Fn() -> Result<Loc>,
        moved: impl Fn(&Hash),
        arrived: impl Fn(),
    ) -> Result<Vec<u8>> {
        let mut fetched = false;
        for _ in 0..4 {
            match locate()? {
                Loc::At(loc) => match self.store.read(hash, &loc)? {
                    ReadOutcome::Bytes(b) => return Ok(b),
                    ReadOutcome::ShardGone => moved(&loc.shard),
                },
                Loc::Absent | Loc::Unknown if !fetched => {
                    self.read_through(hash, kind, path)?;
                    fetched = true;
                    arrived();
                }
                Loc::Absent | Loc::Unknown => break,
            }
        }
        Err(StoreError::Missing { kind, hash: *hash })
    }

    /// Makes file `path` local through the reader's remote (once per file content however
    /// many threads ask); without one, the record is [`StoreError::Missing`].
    fn read_through(&self, hash: &Hash, kind: &'static str, path: &str) -> Result<()> {
        let (Some(remote), Some(e)) = (&self.remote, self.files.get(path)) else {
            return Err(StoreError::Missing { kind, hash: *hash });
        };
        let outcome = self.fetching.run(&(e.hash, e.manifest), || {
            // A thread that found it absent just before another one's read-through ended
            // finds it here now, and does not ask the remote again.
            if self.store.locate(&[*hash])?[0].is_some() {
                return Ok(Ok(()));
            }
            Ok(remote.fetch_file(self.commit, path, e).map_err(Arc::new))
        })?;
        outcome.map_err(shared_error)
    }

    /// Where chunk `i` of `layout` is, looking it and the file's other unknown ones up
    /// (up to [`LOCATE_BATCH`]) in one visit to the index.
    fn location(&self, layout: &FileLayout, i: usize) -> Result<Loc> {
        if let l @ (Loc::At(_) | Loc::Absent) = layout.locs()[i] {
            return Ok(l);
        }
        let _one = layout.locating.lock().unwrap_or_else(|p| p.into_inner());
        let (idx, hashes): (Vec<usize>, Vec<Hash>) = {
            let locs = layout.locs();
            if let l @ (Loc::At(_) | Loc::Absent) = locs[i] {
                return Ok(l);
            }
            // From `i` on, then the ones before it: a whole file in one visit if it fits.
            (i..layout.chunks.len())
                .chain(0..i)
                .filter(|&j| matches!(locs[j], Loc::Unknown))
                .take(LOCATE_BATCH)
                .map(|j| (j, layout.chunks[j].0))
                .unzip()
        };
        let found = self.store.locate(&hashes)?;
        let mut locs = layout.locs();
        for (j, f) in idx.into_iter().zip(found) {
            locs[j] = f.map_or(Loc::Absent, Loc::At);
        }
        Ok(locs[i])
    }

    /// The layout of file `e`, from the cache or built once.
    fn layout(&self, path: &str, e: &FileEntry) -> Result<Arc<FileLayout>> {
        let key = (e.hash, e.manifest);
        if let Some(l) = self
            .layouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(l);
        }
        let l = self
            .building
            .run(&key, || self.build_layout(path, e).map(Arc::new))
            .map_err(|err| err.at(path))?;
        self.layouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, l.clone());
        Ok(l)
    }

    fn build_layout(&self, path: &str, e: &FileEntry) -> Result<FileLayout> {
        let chunks = match e.manifest {
            None => {
                // One chunk, whose hash is the file hash.
                let len = u32::try_from(e.size).map_err(|_| StoreError::MalformedHistory {
                    object: e.hash.to_string(),
                    why: format!("a file of {} bytes without a manifest", e.size),
                })?;
                vec![(e.hash, len)]
            }
            Some(m) => {
                let bytes = self.read_record(
                    &m,
                    "manifest",
                    path,
                    || Ok(self.store.locate(&[m])?[0].map_or(Loc::Absent, Loc::At)),
                    |_| {},
                    || {},
                )?;
                let manifest = crate::manifest::FileManifest::decode(&bytes).map_err(|why| {
                    StoreError::MalformedHistory {
                        object: m.to_string(),
                        why,
                    }
                })?;
                if manifest.size() != e.size {
                    return Err(StoreError::MalformedHistory {
                        object: m.to_string(),
                        why: format!(
                            "the manifest lists {} bytes but the pointer says {}",
                            manifest.size(),
                            e.size
                        ),
                    });
                }
                manifest.chunks
            }
        };
        Ok(FileLayout::new(chunks))
    }

    /// Makes sure the chunks of `e`'s manifest hash, together, to `e.hash`: recorded as
    /// proven in the store, or checked now (once, however many threads ask) and recorded.
    fn ensure_proven(&self, path: &str, e: &FileEntry, layout: &FileLayout) -> Result<()> {
        let Some(m) = e.manifest else {
            // One chunk whose hash is the file hash: checking the chunk checks the file.
            return Ok(());
        };
        if self.proofs.contains(&e.hash, &m)? {
            return Ok(());
        }
        self.proving.run(&(e.hash, m), || {
            if self.proofs.contains(&e.hash, &m)? {
                return Ok(());
            }
            let mut hasher = blake3::Hasher::new();
            let n = layout.chunks.len();
            let mut i = 0;
            while i < n {
                let wanted: Vec<usize> = (i..(i + PROOF_STEP).min(n)).collect();
                let mut got: Vec<Option<ChunkBytes>> = wanted
                    .iter()
                    .map(|&k| self.cache.get(&layout.chunks[k].0))
                    .collect();
                // Not kept: a large file read whole would flush the cache.
                self.load_missing(path, layout, &wanted, &mut got, false)?;
                for b in got.iter().flatten() {
                    hasher.update(b);
                }
                i += wanted.len();
            }
            let actual: Hash = hasher.finalize().into();
            if actual != e.hash {
                return Err(StoreError::ContentMismatch {
                    path: path.to_string(),
                    expected: e.hash,
                    actual,
                });
            }
            // Recording only saves the next reader this work; failing to is harmless.
            let _ = self.proofs.record(&[(e.hash, m)]);
            Ok(())
        })
    }
}

/// The error of a read-through that several threads waited for, for one of them: the
/// error itself for the last holder, else its remote, path and message.
fn shared_error(e: Arc<StoreError>) -> StoreError {
    Arc::try_unwrap(e).unwrap_or_else(|e| match &*e {
        StoreError::ReadThrough {
            path,
            remote,
            source,
        } => StoreError::ReadThrough {
            path: path.clone(),
            remote: remote.clone(),
            source: Box::new(StoreError::Refused(source.to_string())),
        },
        other => StoreError::Refused(other.to_string()),
    })
}

impl Prefetch for Inner {
    fn prefetch(&self, task: &Task) {
        let hash = task.layout.chunks[task.index].0;
        if self.cache.contains(&hash) {
            return;
        }
        // Errors are left for the read that needs the chunk to report.
        if self
            .chunk(&task.path, &task.layout, task.index, true)
            .is_ok()
        {
            count_prefetch(&self.cache);
        }
    }
}

/// Compile-time check: readers are shared between threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<SnapshotReader>();
}
