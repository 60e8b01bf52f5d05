//! Taking a commit from a peer over the connection it opened: what a serving node does
//! for a push or a pin request from an allowed peer, and what a remote uses to fetch
//! only the shards a snapshot needs.

use std::collections::HashSet;

use gix::ObjectId;

use super::link::Link;
use super::protocol::Request;
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::ops::fetch::partial_shard_path;
use crate::repo::Repo;
use crate::shard::{SealedShard, ShardFile};

/// What taking shards moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Took {
    /// Shards verified and indexed.
    pub shards: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes that crossed the wire (less than `bytes` when resuming).
    pub moved: u64,
}

/// Brings the shards in `wanted` that `repo` lacks from `link`, each verified in 16 KiB
/// groups as it streams and then as a whole before it is renamed into place and
/// indexed.
pub fn take_shards(repo: &Repo, link: &Link, wanted: &[(Hash, u64)]) -> Result<Took> {
    let store = repo.chunks()?;
    let mut have: HashSet<Hash> = store.shard_files()?.into_iter().collect();
    have.extend(store.indexed_shards()?.into_iter().map(|(h, _)| h));
    let tmp_dir = store.dir().join("tmp");
    std::fs::create_dir_all(&tmp_dir)
        .map_err(|e| StoreError::io(format!("create {}", tmp_dir.display()), e))?;
    let progress = repo.progress();
    let todo: Vec<&(Hash, u64)> = wanted.iter().filter(|(h, _)| !have.contains(h)).collect();
    progress.begin("receiving shards", Some(todo.iter().map(|(_, s)| s).sum()));
    let mut took = Took::default();
    for (id, _) in todo {
        let tmp = partial_shard_path(store.dir(), id);
        took.moved += link.shard(id, &tmp, &|n| progress.advance(n))?;
        let sealed = match seal(id, &tmp) {
            Ok(s) => s,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(link.err(format!(
                    "shard {id} failed verification ({e}); it was not stored"
                )));
            }
        };
        crate::durable::rename_into(&tmp, &crate::shard_path(store.dir(), id))?;
        store.index_shard(&sealed)?;
        took.shards += 1;
        took.bytes += sealed.size;
    }
    progress.end();
    Ok(took)
}

/// Verifies a received shard file as a whole and reads its table.
pub fn seal(id: &Hash, tmp: &std::path::Path) -> Result<SealedShard> {
    let file = ShardFile::open(*id, tmp)?;
    let actual = file.hash_file()?;
    if actual != *id {
        return Err(StoreError::CorruptShard {
            shard: *id,
            why: format!("its bytes hash to {actual}"),
        });
    }
    let entries = file.table()?;
    let size = std::fs::metadata(tmp)
        .map_err(|e| StoreError::io("stat received shard", e))?
        .len();
    Ok(SealedShard {
        id: *id,
        size,
        entries,
    })
}

/// What [`take_commit`] did.
#[derive(Debug, Default)]
pub struct Taken {
    /// Where the branch pointed before.
    pub old: Option<ObjectId>,
    /// History objects written.
    pub objects: u64,
    /// Shards taken.
    pub took: Took,
    /// Whether everything was already here.
    pub up_to_date: bool,
}

/// Takes `commit` from the peer behind `link` (its snapshot's shards, then its history),
/// then moves `branch` (fast-forward only unless `force`) and/or creates pin `pin`.
pub fn take_commit(
    repo: &Repo,
    link: &Link,
    commit: ObjectId,
    branch: Option<&str>,
    force: bool,
    pin: Option<&str>,
) -> Result<Taken> {
    let mut out = Taken::default();
    let full = branch.map(|b| format!("refs/heads/{b}"));
    if let Some(f) = &full {
        crate::history::validate_ref_name(f)?;
        out.old = repo.history().ref_target(f)?;
    }
    if let Some(p) = pin {
        crate::history::validate_ref_name(&format!("refs/pins/{p}"))?;
    }
    let have_commit = repo.history().repo().has_object(commit);
    if out.old == Some(commit) && pin.is_none() {
        out.up_to_date = true;
        return Ok(out);
    }
    // Shards first, then history, then refs: what a ref reaches is here before it moves.
    let wanted = link.shards(&Request::SnapshotShards {
        commit: commit.to_string(),
        paths: None,
    })?;
    out.took = take_shards(repo, link, &wanted)?;
    if !have_commit {
        let haves = repo.local_tips()?;
        out.objects = link.objects(repo.history(), &[commit], &haves)?;
        repo.history().sync()?;
    }
    if let (Some(f), Some(b)) = (&full, branch) {
        if let Some(old) = out.old
            && !force
            && repo.history().merge_base(old, commit)? != Some(old)
        {
            return Err(StoreError::Refused(format!(
                "branch `{b}` here is at {old}, which {commit} does not contain: not a fast-forward (pull and merge first, or push with --force)"
            )));
        }
        repo.history().set_ref(f, commit)?;
    }
    if let Some(p) = pin {
        repo.history().set_ref(&format!("refs/pins/{p}"), commit)?;
    }
    Ok(out)
}
