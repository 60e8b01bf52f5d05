//! Read-through: a sparse clone's reader brings the records of a file it lacks from the
//! dataset's remotes, verified and stored, and then serves them from the local store.
//!
//! # Design: the shards one file needs, through the fetch path
//!
//! [`DatasetRemotes`] makes one file local at a time, with the machinery a sparse clone
//! already uses: it asks a remote which shards the file needs
//! ([`Remote::snapshot_shards`] with the file's own path as the glob) and receives those
//! shards with [`Repo::receive_selected`], the path every `fetch` takes: each shard is
//! hashed against its BLAKE3 name and every record in it checked against the id its table
//! gives before it is renamed into place and indexed. A lying remote's data is therefore
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
//! Concurrency: the fetch holds the store's exclusive lock, as `fetch` does, and checks
//! first whether the records are already here, so two processes reading the same missing
//! file fetch it once; within one reader, one file is fetched by one thread while the
//! others wait for it (see the reader's `fetching`).

use std::path::{Path, PathBuf};

use gix::ObjectId;

use super::FileEntry;
use super::source::RemoteChunks;
use crate::Hash;
use crate::content::chunk_list;
use crate::error::{Result, StoreError};
use crate::ops::remote::{Remote, RemoteInfo, RemoteUrl, open_url};
use crate::repo::{Access, Repo};

/// The remote a clone records, asked first.
const FIRST: &str = "origin";

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
        let repo = Repo::open(&self.root, Access::Write, &|_| {})?;
        // Another process (or an earlier try) may have brought them meanwhile.
        if records_here(&repo, entry)? {
            return Ok(());
        }
        let mut remotes = repo.remotes();
        remotes.sort_by_key(|r| (r.name != FIRST, r.name.clone()));
        if remotes.is_empty() {
            return Err(StoreError::Refused(format!(
                "`{path}` is not in this sparse clone, which has no remote to read it through; add one with `colony remote add NAME URL`"
            )));
        }
        let mut first = None;
        for info in &remotes {
            match fetch_from(&repo, info, commit, path, entry) {
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

/// Brings the records of `entry` (file `path` of `commit`) from the remote `info` into
/// `repo`, verified and indexed; an error when they are still not all here after.
fn fetch_from(
    repo: &Repo,
    info: &RemoteInfo,
    commit: ObjectId,
    path: &str,
    entry: &FileEntry,
) -> Result<()> {
    let remote = open_url(&info.name, &RemoteUrl::parse(&info.url, repo.root())?)?;
    let shards = match shards_for(repo, remote.as_ref(), commit, path, entry)? {
        Some(s) => s,
        // An object store cannot tell: every shard it holds (those here are skipped).
        None => remote.list_shards()?,
    };
    repo.receive_selected(remote.as_ref(), Some(&shards))?;
    if !records_here(repo, entry)? {
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
