//! Which shards a snapshot needs: the files of a commit (optionally those matching a
//! glob) and the shards holding their chunks and manifests, read from the chunk index.
//! What a sparse clone fetches, what a peer offers for one commit, what a push sends.

use std::collections::BTreeMap;
use std::collections::HashSet;

use gix::ObjectId;

use super::FileEntry;
use super::glob::Glob;
use crate::Hash;
use crate::content::chunk_list;
use crate::error::{Result, StoreError};
use crate::repo::Repo;

/// The error of a request abandoned because its asker went away.
pub fn abandoned() -> StoreError {
    StoreError::Refused("abandoned: the asker went away".into())
}

/// The files of `commit`'s snapshot (only those matching `paths`, when given). Reads
/// history only, never the chunk index. `gone` is asked between files: when it says the
/// asker went away, the work stops with [`abandoned`].
pub fn snapshot_files(
    repo: &Repo,
    commit: ObjectId,
    paths: Option<&Glob>,
    gone: &dyn Fn() -> bool,
) -> Result<Vec<FileEntry>> {
    let snap = repo.history().read_snapshot(commit)?.files;
    let mut out = Vec::new();
    for (path, e) in snap {
        if gone() {
            return Err(abandoned());
        }
        if paths.is_none_or(|g| g.matches(&path)) {
            out.push(e);
        }
    }
    Ok(out)
}

/// The shards holding the chunks and manifests of `files`, with their sizes, read from
/// `repo`'s chunk index. `gone` is asked between files, as in [`snapshot_files`].
pub fn shards_of(
    repo: &Repo,
    files: &[FileEntry],
    gone: &dyn Fn() -> bool,
) -> Result<BTreeMap<Hash, u64>> {
    let store = repo.chunks()?;
    let mut records: HashSet<Hash> = HashSet::new();
    for e in files {
        if gone() {
            return Err(abandoned());
        }
        if let Some(m) = e.manifest {
            records.insert(m);
        }
        for (c, _) in chunk_list(store, e)? {
            records.insert(c);
        }
    }
    let dir = store.dir().to_path_buf();
    let mut out = BTreeMap::new();
    for r in records {
        let loc = store.locate(&r)?.ok_or(StoreError::Missing {
            kind: "chunk",
            hash: r,
        })?;
        out.entry(loc.shard).or_insert_with(|| {
            std::fs::metadata(crate::shard_path(&dir, &loc.shard)).map_or(0, |m| m.len())
        });
    }
    Ok(out)
}

/// The shards holding the chunks and manifests of `commit`'s files (only those matching
/// the glob `paths`, when given), with their sizes, read from `repo`'s chunk index.
pub fn snapshot_shards(
    repo: &Repo,
    commit: ObjectId,
    paths: Option<&str>,
) -> Result<BTreeMap<Hash, u64>> {
    let glob = paths.map(Glob::new);
    let files = snapshot_files(repo, commit, glob.as_ref(), &|| false)?;
    shards_of(repo, &files, &|| false)
}

/// The shards a push of `tips` sends, by the one rule every kind of remote follows:
/// those the pushed history needs that the remote does not hold.
///
/// What the history needs is worked out from what the remote's history lacks, as
/// git works out objects: the files of the tips' snapshots, and every file version
/// that the history reaching them adds over the remote's (`remote_tips`: its branch
/// and run commits that this dataset has; none when unknown, and then the whole
/// history counts). Of their shards, those in `held` (the remote's, where known) are
/// left out. Files whose data this dataset lacks itself (outside a sparse clone's
/// paths) cannot be sent and are left out too.
pub fn shards_to_push(
    repo: &Repo,
    tips: &[ObjectId],
    remote_tips: &[ObjectId],
    held: &HashSet<Hash>,
) -> Result<Vec<(Hash, u64)>> {
    let mut files = Vec::new();
    repo.history()
        .walk_missing(tips, remote_tips, |_, kind, data| {
            if kind == gix::objs::Kind::Blob
                && let Ok(e) = crate::pointer::decode(&data, crate::Mode::File)
            {
                files.push(e);
            }
            Ok(())
        })?;
    for t in tips {
        files.extend(snapshot_files(repo, *t, None, &|| false)?);
    }
    let store = repo.chunks()?;
    let mut seen: HashSet<Hash> = HashSet::new();
    let mut shards: HashSet<Hash> = HashSet::new();
    for e in &files {
        if !seen.insert(e.hash) {
            continue;
        }
        let chunks = match crate::content::chunk_list(store, e) {
            Ok(c) => c,
            Err(StoreError::Missing { .. }) => continue,
            Err(err) => return Err(err),
        };
        for r in e.manifest.iter().chain(chunks.iter().map(|(c, _)| c)) {
            if let Some(loc) = store.locate(r)? {
                shards.insert(loc.shard);
            }
        }
    }
    let dir = store.dir().to_path_buf();
    let mut out: Vec<(Hash, u64)> = shards
        .into_iter()
        .filter(|s| !held.contains(s))
        .map(|s| {
            let size = std::fs::metadata(crate::shard_path(&dir, &s)).map_or(0, |m| m.len());
            (s, size)
        })
        .collect();
    out.sort();
    Ok(out)
}
