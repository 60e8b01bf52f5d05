//! The remote seam: what colony needs of another copy of a dataset, and the three kinds
//! of copy it talks to.
//!
//! A remote is anything that implements [`Remote`]: list its branches and run records,
//! copy the history objects reachable from some commits, list its shards, hand over one
//! shard's bytes (resuming a partial one), and accept a push. The backends are
//! [`folder`] (another dataset on this machine), [`s3`] (an S3-compatible bucket) and
//! [`peer`] (a node over iroh). They move bytes and nothing more: which remote a name
//! means, what a fetch or clone asks for and what it then trusts are the operations'
//! work (the `ops` module), and this module imports nothing from there.
//!
//! The caller verifies everything it receives (git object ids are recomputed when the
//! objects are written, [`crate::history::walk_objects`] orders them; every shard is
//! hashed with BLAKE3, and every record in it checked against the hash its table gives,
//! before it is indexed; no ref moves to a commit that did not arrive), so a remote is
//! never trusted.

use std::collections::HashSet;
use std::path::Path;

use gix::ObjectId;

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::files::Shared;
use crate::history::History;
use crate::repo::Repo;

pub mod folder;
#[cfg(feature = "p2p")]
pub mod peer;
#[cfg(feature = "s3")]
pub mod s3;

pub use folder::{DatasetSource, LocalRemote};

/// Works out which shards a push or pin sends, given what the backend learnt of the
/// remote: the commits its history holds (its branch and run tips that this dataset
/// has) and the shards it holds (empty when the remote filters them itself). For a push
/// it is [`crate::snapshot::shards::shards_to_push`] over the pushed commits, so every
/// kind of remote sends by one rule: the shards the pushed history needs that the
/// remote does not hold.
pub type ShardPlan<'a> = &'a PlanFn<'a>;

/// The function behind a [`ShardPlan`].
pub type PlanFn<'a> = dyn Fn(&[ObjectId], &HashSet<Hash>) -> Result<Vec<(Hash, u64)>> + 'a;

/// A source of history and shards.
pub trait Remote {
    /// The remote's name (as configured).
    fn name(&self) -> &str;
    /// Its branches, as (short name, commit).
    fn list_refs(&self) -> Result<Vec<(String, ObjectId)>>;
    /// Writes into `into` every history object reachable from `tips` that it lacks;
    /// returns how many were written. Objects already present are assumed to come with
    /// everything they reach (colony writes objects before the objects that refer to
    /// them, so that holds even after a crash). `haves` are commits `into` already
    /// holds (its branch and remote-tracking tips): a remote that talks over a wire
    /// may skip what they reach.
    fn fetch_objects(&self, into: &History, tips: &[ObjectId], haves: &[ObjectId]) -> Result<u64>;
    /// Every shard the remote holds, with its size in bytes.
    fn list_shards(&self) -> Result<Vec<(Hash, u64)>>;
    /// Places the bytes of shard `id` at `dest`, a path on the local store's file system
    /// that the caller verifies before it is used. `dest` may already hold a prefix left
    /// by an interrupted fetch of the same shard: a remote that can resume keeps the
    /// bytes it can prove and fetches the rest; one that cannot starts over. `progress`
    /// is told how many more bytes arrived. Says whether the bytes were linked, cloned
    /// or copied.
    fn fetch_shard(&self, id: &Hash, dest: &Path, progress: &dyn Fn(u64)) -> Result<Shared>;
    /// The shards (with sizes) that the files of `commit` matching the glob `paths`
    /// need (see [`crate::snapshot::glob::glob_matches`]), when the remote can tell without
    /// sending any shard: it keeps a chunk index (a dataset on this machine, a peer).
    /// `None` when it cannot (an object store); a sparse clone then fetches every shard.
    fn snapshot_shards(&self, commit: ObjectId, paths: &str) -> Result<Option<Vec<(Hash, u64)>>> {
        let _ = (commit, paths);
        Ok(None)
    }
    /// The branch a clone checks out when none is asked for (the remote's HEAD), if the
    /// remote knows one. `clone` falls back to `main`, else the first branch.
    fn default_branch(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// The run records it holds (`refs/runs/<name>`), as (name, commit); a fetch brings
    /// their history with the branches' and adds the names this dataset lacks. Kinds
    /// that do not hold run records list none.
    fn list_runs(&self) -> Result<Vec<(String, ObjectId)>> {
        Ok(Vec::new())
    }
    /// The dataset on this machine that this remote is, when it is one. A push into it
    /// is not sent but accepted by that dataset itself, under its exclusive lock
    /// (`ops::push::push_to_dataset`), which [`Remote::push`] and
    /// [`Remote::push_runs`] then are not asked for. An error when this handle already
    /// holds the dataset open for reading (its shared lock would block the push).
    fn local_dataset(&self) -> Option<Result<&Path>> {
        None
    }
    /// Sends run records (`refs/runs/<name>` → commit) and what the remote lacks of
    /// their history and of the shards they need ([`crate::snapshot::shards::shards_to_push`]),
    /// then adds the names it lacks (never
    /// moving one it has). Returns how many were new, or `None` when this kind of remote
    /// does not hold run records (nothing was sent).
    fn push_runs(&self, local: &Repo, runs: &[(String, ObjectId)]) -> Result<Option<usize>> {
        let _ = (local, runs);
        Ok(None)
    }
    /// Sends what the remote lacks of `commit`'s history and of the shards it needs
    /// ([`crate::snapshot::shards::shards_to_push`]: one rule for every kind), then
    /// moves its branch `branch` to `commit`: only as a fast-forward unless `force`.
    fn push(
        &self,
        local: &Repo,
        branch: &str,
        commit: ObjectId,
        force: bool,
    ) -> Result<PushReport> {
        let _ = (local, branch, commit, force);
        Err(StoreError::Remote {
            remote: self.name().to_string(),
            why: "this kind of remote does not accept pushes".into(),
        })
    }
}

/// What a push moved.
#[derive(Debug, Default, serde::Serialize)]
pub struct PushReport {
    /// The remote.
    pub remote: String,
    /// The remote's branch.
    pub branch: String,
    /// Where it pointed before (none: new branch).
    pub old: Option<String>,
    /// Where it points now.
    pub new: String,
    /// History objects sent.
    pub objects: u64,
    /// Shards sent.
    pub shards: usize,
    /// Bytes of the shards sent.
    pub bytes: u64,
    /// Whether the branch already pointed at the commit (nothing to do).
    pub up_to_date: bool,
}

/// Why a non-fast-forward push is refused, with what to do about it.
pub fn non_fast_forward(remote: &str, branch: &str, old: ObjectId, new: ObjectId) -> StoreError {
    StoreError::Remote {
        remote: remote.to_string(),
        why: format!(
            "refusing to move branch `{branch}` from {old} to {new}: not a fast-forward \
             (the remote has commits this push lacks). Bring them in first with \
             `colony pull {remote} {branch}`, or overwrite with `colony push {remote} {branch} --force`"
        ),
    }
}
