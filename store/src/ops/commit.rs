//! `commit`: record the staged snapshot in history.

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::history::Head;
use crate::repo::Repo;
use crate::snapshot::snapshot_root;

/// What a commit recorded.
#[derive(Debug, serde::Serialize)]
pub struct CommitReport {
    /// Git commit id.
    pub commit: String,
    /// Snapshot root (64 hex).
    pub root: Hash,
    /// Branch that moved, if HEAD is on one.
    pub branch: Option<String>,
    /// Parent commit ids.
    pub parents: Vec<String>,
    /// Files in the snapshot.
    pub files: usize,
    /// Total size of the snapshot in bytes.
    pub bytes: u64,
    /// Bytes newly written to shards for this commit (by the `add`s since the last one).
    pub new_bytes: u64,
}

impl Repo {
    /// Records the staged snapshot as a new commit on HEAD. Objects are made durable
    /// before the branch moves; the index is updated last.
    pub fn commit(&self, message: &str, allow_empty: bool) -> Result<CommitReport> {
        if self.merge_state()?.is_some() {
            return Err(StoreError::Refused(
                "a merge is in progress: finish it with `colony merge --continue` (it records both parents) or `colony merge --abort`".into(),
            ));
        }
        let mut ix = self.index_for_head()?;
        if !ix.has_staged_changes() && !allow_empty {
            return Err(StoreError::NothingToCommit);
        }
        let snapshot = ix.staged_snapshot();
        let root = snapshot_root(&snapshot);
        let head = self.head()?;
        let parents: Vec<_> = head.commit().into_iter().collect();
        let tree = self.history().write_tree(&snapshot)?;
        let (name, email) = self.config().author();
        let id = self
            .history()
            .write_commit(tree, &parents, message, &root, (&name, &email))?;
        self.history().sync()?;
        self.history().advance_head(id)?;
        let new_bytes = ix.pending_new_bytes;
        ix.rebase_on_commit(id);
        self.save_index(&mut ix)?;
        Ok(CommitReport {
            commit: id.to_string(),
            root: root.0,
            branch: match head {
                Head::Branch { name, .. } => Some(name),
                Head::Detached(_) => None,
            },
            parents: parents.iter().map(|p| p.to_string()).collect(),
            files: snapshot.len(),
            bytes: snapshot.values().map(|e| e.size).sum(),
            new_bytes,
        })
    }
}
