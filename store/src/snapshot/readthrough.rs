//! Read-through: a sparse clone's reader brings the records of a file it lacks from the
//! dataset's remotes, verified and stored, and then serves them from the local store.
//!
//! # Design: the shards one file needs, through the fetch path
//!
//! [`DatasetRemotes`] makes one file local at a time, with the machinery a sparse clone
//! already uses: it asks a remote which shards the file needs
//! ([`Remote::snapshot_shards`] with the file's own path as the glob), has the remote
//! place each one ([`Remote::fetch_shard`]) and checks it as every `fetch` does
//! ([`verify_shard_file`]: the shard hashed against its BLAKE3 name, every record in it
//! checked against the id its table gives) before it is renamed into place and indexed.
//! Unlike `fetch`, the transfer and the check hold no store lock (they work on this
//! process's own files in `.colony/readthrough/`, which nothing else touches): only the
//! renames and the index update take the exclusive lock, so other readers, `commit` and
//! `gc` are held up for milliseconds, not for a transfer. A lying remote's data is therefore
//! never stored, and never served (the reader reads only indexed local records, and
//! verifies those again). What arrived is ordinary local data: the next read is local,
//! `fsck` stays clean, and `gc` treats it like any fetched shard.
//!
//! Whole shards rather than byte ranges of them, for now, because the local store is made
//! of whole shards named by their BLAKE3: a range of a shard could be verified record by
//! record (a peer serves shards with bao outboards) but could not be stored without
//! repacking it into a new shard, and re-serving it would then name different shards than
//! the dataset's other copies. A file's shards are also what its neighbours in the same
//! folder most likely need next. Finer transfers would need a record-level request in the
//! peer protocol and a repacking receiver; the [`RemoteChunks`] trait leaves room for
//! that (it asks for one file, not for shards).
//!
//! Backends: nothing here is specific to one. A dataset folder and a peer answer
//! `snapshot_shards` from their chunk index. An object store (S3) keeps no index and
//! cannot tell which shards a path needs (finding out would mean reading every shard's
//! table by range), so from it read-through brings every shard it holds that this store
//! lacks, as a sparse clone from it does. When the issue-14 backend trait replaces
//! [`Remote`], only [`fetch_from`] changes.
//!
//! The path is passed as a glob unescaped: the glob syntax has no escape, and a path used
//! as a glob matches itself (`*` and `?` match themselves too), so at worst a few
//! siblings of the same shape come along.
//!
//! Which remotes: those configured in the dataset when the read happens, `origin` (the one
//! a clone records) first, then the others by name; the first that delivers wins. The
//! commit asked about is the revision being read; a remote that does not know it (a
//! commit made in the clone) is asked about its own branches (as this dataset last
//! fetched them) that hold the same content at the same path.
//!
//! Concurrency: a read-through holds an OS file lock for the file's content hash (one of
//! 256 lock files in `.colony/readthrough/`, by the hash's first byte) and checks first
//! whether the records are already here, so two processes reading the same missing file
//! fetch it once; within one reader, one file is fetched by one thread while the others
//! wait for it (see the reader's `fetching`). A transfer file left by a process that
//! died is removed by a later read-through once it is a day old.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gix::ObjectId;

use super::FileEntry;
use super::source::RemoteChunks;
use crate::Hash;
use crate::content::chunk_list;
use crate::error::{Result, StoreError};
use crate::files::Shared;
use crate::ops::remote::{RemoteInfo, RemoteUrl, open_url};
use crate::remote::Remote;
use crate::repo::{Access, COLONY_DIR, Repo};
use crate::shard::{SealedShard, accept_transfer};

/// The remote a clone records, asked first.
const FIRST: &str = "origin";

/// Folder under `.colony/` of the per-hash locks and the transfers in progress.
pub const WORK_DIR: &str = "readthrough";

/// Transfer files older than this are a dead process's and are removed.
const STALE: Duration = Duration::from_secs(24 * 3600);

/// Names this process's transfer files apart.
static NEXT_TRANSFER: AtomicU64 = AtomicU64::new(0);

/// The remotes configured in a dataset, as a reader's source of records it lacks.
///
/// Remotes are read from the dataset's configuration at each fetch, so one added while a
/// reader is open is used too.
pub struct DatasetRemotes {
    root: PathBuf,
}

impl DatasetRemotes {
    /// Read-through for the dataset rooted at `dataset_root`.
    pub fn new(dataset_root: &Path) -> DatasetRemotes {
        DatasetRemotes {
            root: dataset_root.to_path_buf(),
        }
    }
}

impl RemoteChunks for DatasetRemotes {
    fn fetch_file(&self, commit: ObjectId, path: &str, entry: &FileEntry) -> Result<()> {
        let work = self.root.join(COLONY_DIR).join(WORK_DIR);
        std::fs::create_dir_all(&work)
            .map_err(|e| StoreError::io(format!("create {}", work.display()), e))?;
        let lock_path = work.join(format!("lock-{:02x}", entry.hash.0[0]));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(format!("open {}", lock_path.display()), e))?;
        lock.lock()
            .map_err(|e| StoreError::io(format!("lock {}", lock_path.display()), e))?;
        remove_stale(&work);
        let mut remotes = {
            let repo = Repo::open(&self.root, Access::Read, &|_| {})?;
            // Another process (or an earlier try) may have brought them meanwhile.
            if records_here(&repo, entry)? {
                return Ok(());
            }
            repo.remotes()
        };
        remotes.sort_by_key(|r| (r.name != FIRST, r.name.clone()));
        if remotes.is_empty() {
            return Err(StoreError::Refused(format!(
                "`{path}` is not in this sparse clone, which has no remote to read it through; add one with `colony remote add NAME URL`"
            )));
        }
        let mut first = None;
        for info in &remotes {
            match fetch_from(&self.root, &work, info, commit, path, entry) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(StoreError::ReadThrough {
                        path: path.to_string(),
                        remote: info.name.clone(),
                        source: Box::new(e),
                    });
                }
            }
        }
        Err(first.expect("at least one remote was tried"))
    }
}

/// Removes transfer files a dead process left (best effort).
fn remove_stale(work: &Path) {
    let Ok(rd) = std::fs::read_dir(work) else {
        return;
    };
    for e in rd.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE));
        if old && e.file_name().to_string_lossy().starts_with("transfer-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// This process's transfer files, removed when dropped (those renamed into the store
/// are gone from here already).
struct Transfers(Vec<PathBuf>);

impl Drop for Transfers {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The shards of the store's index.
fn indexed(repo: &Repo) -> Result<HashSet<Hash>> {
    Ok(repo
        .chunks()?
        .indexed_shards()?
        .into_iter()
        .map(|(h, _)| h)
        .collect())
}

/// Brings the records of `entry` (file `path` of `commit`) from the remote `info` into
/// the dataset at `root`, verified and indexed; an error when they are still not all
/// here after.
fn fetch_from(
    root: &Path,
    work: &Path,
    info: &RemoteInfo,
    commit: ObjectId,
    path: &str,
    entry: &FileEntry,
) -> Result<()> {
    let remote = open_url(&info.name, &RemoteUrl::parse(&info.url, root)?)?;
    let wanted: Vec<Hash> = {
        let repo = Repo::open(root, Access::Read, &|_| {})?;
        let shards = match shards_for(&repo, remote.as_ref(), commit, path, entry)? {
            Some(s) => s,
            // An object store cannot tell: every shard it holds.
            None => remote.list_shards()?,
        };
        let have = indexed(&repo)?;
        shards
            .into_iter()
            .map(|(h, _)| h)
            .filter(|h| !have.contains(h))
            .collect()
    };
    // Transfer and verify without any store lock, into files of this process's own.
    let mut files = Transfers(Vec::new());
    let mut arrived: Vec<(SealedShard, PathBuf)> = Vec::new();
    for id in wanted {
        let n = NEXT_TRANSFER.fetch_add(1, Ordering::Relaxed);
        let tmp = work.join(format!("transfer-{}-{n}-{id}", std::process::id()));
        files.0.push(tmp.clone());
        let how = remote.fetch_shard(&id, &tmp, &|_| {})?;
        let sealed = accept_transfer(&info.name, id, &tmp, how == Shared::Verified)?;
        arrived.push((sealed, tmp));
    }
    // Store: the exclusive lock only for the renames and the index.
    let repo = Repo::open(root, Access::Write, &|_| {})?;
    let store = repo.chunks()?;
    let have = indexed(&repo)?;
    for (sealed, tmp) in arrived {
        if have.contains(&sealed.id) {
            continue; // brought meanwhile (another file's read-through); dropped below
        }
        crate::durable::rename_into(&tmp, &crate::shard_path(store.dir(), &sealed.id))?;
        store.index_shard(&sealed)?;
    }
    drop(files);
    if !records_here(&repo, entry)? {
        return Err(StoreError::Remote {
            remote: info.name.clone(),
            why: format!("the shards it named for `{path}` do not hold all of its records"),
        });
    }
    Ok(())
}

/// The shards the remote says `path` needs: asked about `commit`, then (when that fails,
/// e.g. a commit made here that the remote never saw) about the remote's branches as last
/// fetched whose snapshot holds the same content at `path`. The first error when every
/// question failed.
fn shards_for(
    repo: &Repo,
    remote: &dyn Remote,
    commit: ObjectId,
    path: &str,
    entry: &FileEntry,
) -> Result<Option<Vec<(Hash, u64)>>> {
    let first = match remote.snapshot_shards(commit, path) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let prefix = format!("refs/remotes/{}/", remote.name());
    let mut tried = vec![commit];
    for r in crate::ops::gc::refs_under(repo.history(), &prefix)? {
        let Ok(tip) = r.commit else { continue };
        if tried.contains(&tip) {
            continue;
        }
        tried.push(tip);
        let same = repo
            .history()
            .read_snapshot(tip)
            .ok()
            .and_then(|s| s.files.get(path).cloned())
            .is_some_and(|e| e.hash == entry.hash && e.manifest == entry.manifest);
        if same && let Ok(s) = remote.snapshot_shards(tip, path) {
            return Ok(s);
        }
    }
    Err(first)
}

/// Whether every record of `entry` (its manifest and chunks) is in `repo`'s index.
fn records_here(repo: &Repo, entry: &FileEntry) -> Result<bool> {
    let store = repo.chunks()?;
    if let Some(m) = entry.manifest
        && !store.contains(&m)?
    {
        return Ok(false);
    }
    let hashes: Vec<Hash> = chunk_list(store, entry)?
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    Ok(!store.missing(&hashes)?.into_iter().any(|m| m))
}
