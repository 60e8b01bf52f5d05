//! The state of a merge that stopped on conflicts, kept in `.colony/merge/` until
//! `merge --continue` or `merge --abort`:
//!
//! ```text
//! .colony/merge/
//!   state.json   ours, theirs, base, HEAD as it was, the message, the paths the merge
//!                wrote, and every conflict (its three versions, its rows, how it was
//!                resolved)
//!   index.pre    the work-tree index exactly as it was before the merge
//! ```
//!
//! `state.json` is written last (atomically), so its presence means a merge is in
//! progress and `index.pre` is complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::durable;
use crate::error::{Result, StoreError};
use crate::snapshot::FileEntry;
use crate::tables::RowChoice;

/// Folder of the merge state, inside `.colony/`.
pub const MERGE_DIR: &str = "merge";

/// Why a path conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Both sides changed the file differently (and it is not a table merged by row).
    Content,
    /// Both sides added the path with different content.
    BothAdded,
    /// One side modified the file, the other deleted it.
    ModifyDelete,
    /// Rows of a table changed incompatibly.
    Rows,
    /// Columns of a table changed incompatibly.
    Schema,
}

/// One conflicting path.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PathConflict {
    /// Why it conflicts.
    pub kind: ConflictKind,
    /// The merge base's version, if it had the path.
    pub base: Option<FileEntry>,
    /// Ours (HEAD's) version, if any.
    pub ours: Option<FileEntry>,
    /// Theirs, if any.
    pub theirs: Option<FileEntry>,
    /// For tables: the key rows are matched by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// For tables: the conflicting rows (`key`, `kind`, `columns`, `base`, `ours`,
    /// `theirs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<serde_json::Value>,
    /// For tables: the conflicting columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema: Vec<serde_json::Value>,
    /// Per-row resolutions so far, by the key's canonical text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub row_choices: BTreeMap<String, RowChoice>,
    /// Whether the path is resolved (its resolution is staged).
    #[serde(default)]
    pub resolved: bool,
}

/// A merge in progress.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MergeState {
    /// Format version.
    pub version: u32,
    /// HEAD's commit when the merge began.
    pub ours: String,
    /// The commit being merged in.
    pub theirs: String,
    /// What the user typed for it.
    pub theirs_rev: String,
    /// The merge base.
    pub base: Option<String>,
    /// Message of the merge commit.
    pub message: String,
    /// The text of `HEAD` before the merge.
    pub head: String,
    /// Paths the merge wrote into the work tree and index.
    pub touched: Vec<String>,
    /// Conflicts by path.
    pub conflicts: BTreeMap<String, PathConflict>,
}

impl MergeState {
    /// Paths not resolved yet.
    pub fn unresolved(&self) -> Vec<String> {
        self.conflicts
            .iter()
            .filter(|(_, c)| !c.resolved)
            .map(|(p, _)| p.clone())
            .collect()
    }
}

fn dir(colony: &Path) -> PathBuf {
    colony.join(MERGE_DIR)
}

/// The merge in progress, if any.
pub fn load(colony: &Path) -> Result<Option<MergeState>> {
    let p = dir(colony).join("state.json");
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Refused(format!(
                "the merge state {} is damaged ({e}); remove the folder .colony/{MERGE_DIR} and run `colony reset --hard HEAD`",
                p.display()
            ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(format!("read {}", p.display()), e)),
    }
}

/// Saves the state (atomically).
pub fn save(colony: &Path, state: &MergeState) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state)
        .map_err(|e| StoreError::Refused(format!("encode merge state: {e}")))?;
    durable::write_atomic(&dir(colony).join("state.json"), &bytes)
}

/// Saves the pre-merge index bytes (before the state itself).
pub fn save_index_copy(colony: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_atomic(&dir(colony).join("index.pre"), bytes)
}

/// The pre-merge index bytes.
pub fn index_copy(colony: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(dir(colony).join("index.pre")) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("read the pre-merge index", e)),
    }
}

/// Ends the merge: removes the state (the state file first, so a crash in between
/// leaves no merge in progress).
pub fn clear(colony: &Path) -> Result<()> {
    let d = dir(colony);
    match std::fs::remove_file(d.join("state.json")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("remove the merge state", e)),
    }
    durable::sync_dir(&d)?;
    let _ = std::fs::remove_dir_all(&d);
    Ok(())
}

/// For `status`: the commit being merged and the unresolved paths, if a merge is on.
pub fn in_progress(colony: &Path) -> Result<Option<(String, Vec<String>)>> {
    Ok(load(colony)?.map(|s| (s.theirs.clone(), s.unresolved())))
}
