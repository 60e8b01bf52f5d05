//! `push` and `pull`: the porcelain over [`Remote`], for every kind of remote.
//!
//! `push NAME [BRANCH]` hands the remote what it lacks of the branch's commit and moves
//! the remote's branch, only as a fast-forward unless forced; afterwards the
//! remote-tracking ref `refs/remotes/NAME/BRANCH` records where it now points.
//! `pull NAME [BRANCH]` is `fetch NAME` followed by `merge NAME/BRANCH`. The run records
//! trained on the pushed history go along (see [`crate::ops::runs`]).
//!
//! A push to a dataset on this machine ([`push_to_dataset`]) is a fetch in reverse: the
//! target, under its exclusive lock, receives the pushing dataset's missing shards (each
//! verified by BLAKE3 before it is indexed) and history objects (ids recomputed), syncs
//! them, and only then moves its branch. When that branch is the one the target has
//! checked out, the target's work tree is updated too (git's `updateInstead`): the push
//! is refused if the target has uncommitted changes, a merge in progress, or untracked
//! files the new commit would overwrite, so a push never loses anyone's work.

use std::collections::HashSet;
use std::path::Path;

use gix::ObjectId;

use crate::error::{Result, StoreError};
use crate::history::Head;
use crate::ops::checkout::CheckoutReport;
use crate::ops::fetch::{FetchReport, ShardsReceived};
use crate::ops::merge::{MergeOptions, MergeReport, MergeResult};
pub use crate::remote::non_fast_forward;
use crate::remote::{DatasetSource, PushReport, Remote};
use crate::repo::{Access, Repo};
use crate::snapshot::shards::shards_to_push;

/// What `pull` did.
#[derive(Debug, serde::Serialize)]
pub struct PullReport {
    /// The fetch.
    pub fetch: FetchReport,
    /// The merge of `NAME/BRANCH` into HEAD.
    pub merge: MergeReport,
}

impl Repo {
    /// The current branch's name, or an error saying to name one.
    pub fn current_branch(&self) -> Result<String> {
        match self.head()? {
            Head::Branch { name, .. } => Ok(name),
            Head::Detached(_) => Err(StoreError::Refused(
                "HEAD is detached (on no branch): name the branch".into(),
            )),
        }
    }

    /// Pushes local branch `branch` (default: the current one) to `remote`, configured as
    /// `name`; returns the report and the commit pushed. [`Repo::push`] adds the run
    /// records.
    pub(crate) fn push_branch(
        &self,
        remote: &dyn Remote,
        name: &str,
        branch: Option<&str>,
        force: bool,
    ) -> Result<(PushReport, ObjectId)> {
        let branch = match branch {
            Some(b) => b.to_string(),
            None => self.current_branch()?,
        };
        let full = format!("refs/heads/{branch}");
        crate::history::validate_ref_name(&full)?;
        let commit = self
            .history()
            .ref_target(&full)?
            .ok_or_else(|| StoreError::Refused(format!("no local branch `{branch}` to push")))?;
        let report = match remote.local_dataset() {
            Some(path) => push_to_dataset(remote.name(), path?, self, &branch, commit, force)?,
            None => remote.push(self, &branch, commit, force)?,
        };
        self.history()
            .set_ref(&format!("refs/remotes/{name}/{branch}"), commit)?;
        Ok((report, commit))
    }

    /// Fetches remote `name`, then merges `NAME/BRANCH` (default: the current branch's
    /// name) into HEAD: a fast-forward when possible, else a three-way merge. On a branch
    /// with no commit yet, the branch simply starts at the remote's commit.
    pub fn pull(
        &self,
        name: &str,
        branch: Option<&str>,
        opts: &MergeOptions,
    ) -> Result<PullReport> {
        let branch = match branch {
            Some(b) => b.to_string(),
            None => self.current_branch()?,
        };
        let fetch = self.fetch(name)?;
        let tracking = format!("refs/remotes/{name}/{branch}");
        crate::history::validate_ref_name(&tracking)?;
        let theirs = self
            .history()
            .ref_target(&tracking)?
            .ok_or_else(|| StoreError::Remote {
                remote: name.to_string(),
                why: format!("has no branch `{branch}`"),
            })?;
        let merge = match self.head()? {
            Head::Branch {
                name: ours,
                commit: None,
            } => {
                let r = self.start_branch_at(&ours, theirs)?;
                MergeReport {
                    result: MergeResult::FastForward,
                    ours: String::new(),
                    theirs: theirs.to_string(),
                    base: None,
                    commit: Some(r.commit),
                    files: Vec::new(),
                    conflicts: Vec::new(),
                }
            }
            _ => self.merge(&format!("{name}/{branch}"), opts)?,
        };
        Ok(PullReport { fetch, merge })
    }

    /// Checks out `commit` into a work tree whose HEAD is the unborn (or clean) branch
    /// `branch`, then points the branch at it and HEAD at the branch. Refuses to
    /// overwrite staged changes or untracked files that differ from the commit's.
    pub(crate) fn start_branch_at(&self, branch: &str, commit: ObjectId) -> Result<CheckoutReport> {
        let target = self.snapshot_of(commit)?;
        let ix = self.index_for_head()?;
        let paths: Vec<String> = target.keys().cloned().collect();
        crate::worktree::precreate_folders(self.root(), &paths);
        let (mut new_ix, mut report) = self.apply(&ix, commit, &target, false)?;
        self.save_index(&mut new_ix)?;
        self.history()
            .set_ref(&format!("refs/heads/{branch}"), commit)?;
        self.history().set_head_branch(branch)?;
        report.branch = Some(branch.to_string());
        Ok(report)
    }
}

/// Pushes `commit` from `local` to branch `branch` of the dataset at `path` (remote
/// `name`), as described in the module docs.
pub fn push_to_dataset(
    name: &str,
    path: &Path,
    local: &Repo,
    branch: &str,
    commit: ObjectId,
    force: bool,
) -> Result<PushReport> {
    let refused = |why: String| StoreError::Remote {
        remote: name.to_string(),
        why,
    };
    let full = format!("refs/heads/{branch}");
    crate::history::validate_ref_name(&full)?;
    let target = open_push_target(name, path, local)?;
    let old = target.history().ref_target(&full)?;
    let mut report = PushReport {
        remote: name.to_string(),
        branch: branch.to_string(),
        old: old.map(|o| o.to_string()),
        new: commit.to_string(),
        ..Default::default()
    };
    if old == Some(commit) {
        report.up_to_date = true;
        return Ok(report);
    }

    // The target's checked-out branch moves only with its work tree, and only when
    // nothing there would be lost.
    let checked_out = matches!(target.head()?, Head::Branch { name: ref b, .. } if b == branch);
    if checked_out {
        if crate::ops::merge_state::load(target.colony_dir())?.is_some() {
            return Err(refused(format!(
                "has a merge in progress on `{branch}`, its checked-out branch; finish it there first"
            )));
        }
        let ix = target.index_for_head()?;
        let dirty = target.uncommitted_paths(&ix)?;
        if !dirty.is_empty() {
            return Err(refused(format!(
                "`{branch}` is checked out there and its work tree has uncommitted changes ({}); \
                 commit or discard them there, or push to another branch",
                dirty
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }

    let (got, objects) = receive_push(&target, local, &[commit])?;
    report.shards = got.shards;
    report.bytes = got.bytes;
    report.objects = objects;
    target.accept_branch(branch, old, commit, force, checked_out, |old| {
        non_fast_forward(name, branch, old, commit)
    })?;
    Ok(report)
}

/// Opens the dataset at `path` (remote `name`) under its exclusive lock to accept a push
/// from `local`, refusing `local` itself.
pub(crate) fn open_push_target(name: &str, path: &Path, local: &Repo) -> Result<Repo> {
    if path == local.root() {
        return Err(StoreError::Remote {
            remote: name.to_string(),
            why: "is this dataset itself".into(),
        });
    }
    let mut target = Repo::open(path, Access::Write, &|_| {})?;
    target.set_progress(local.progress());
    Ok(target)
}

/// Brings into `target`, a dataset on this machine accepting a push, what the commits
/// `tips` of `local` need: the shards by the one rule ([`shards_to_push`]), each
/// verified, then the history objects (ids recomputed), synced before any ref moves.
/// Returns the shards received and the objects written.
pub(crate) fn receive_push(
    target: &Repo,
    local: &Repo,
    tips: &[ObjectId],
) -> Result<(ShardsReceived, u64)> {
    let source = DatasetSource {
        name: "(pushing dataset)",
        repo: local,
    };
    let plan = shards_to_push(local, tips, &target.local_tips()?, &HashSet::new())?;
    let got = target.receive_selected(&source, Some(&plan))?;
    let objects = local.history().copy_objects_into(target.history(), tips)?;
    target.history().sync()?;
    Ok((got, objects))
}

impl Repo {
    /// Moves branch `branch` from `old` to `commit`, a pushed commit whose history and
    /// shards are already here: refused with `not_fast_forward(old)` unless `commit`
    /// contains `old` or `force`; with the work tree when `with_work_tree` (the branch is
    /// checked out here and the caller cleared it to move). The one way a push, from a
    /// dataset on this machine or a peer, moves a branch.
    pub fn accept_branch(
        &self,
        branch: &str,
        old: Option<ObjectId>,
        commit: ObjectId,
        force: bool,
        with_work_tree: bool,
        not_fast_forward: impl FnOnce(ObjectId) -> StoreError,
    ) -> Result<()> {
        if let Some(old) = old
            && !force
            && self.history().merge_base(old, commit)? != Some(old)
        {
            return Err(not_fast_forward(old));
        }
        if with_work_tree {
            self.start_branch_at(branch, commit)?;
        } else {
            self.history()
                .set_ref(&format!("refs/heads/{branch}"), commit)?;
        }
        Ok(())
    }
}
