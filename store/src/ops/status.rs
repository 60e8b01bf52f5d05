//! `status`: staged changes, unstaged changes and untracked files. Only files whose stat
//! changed since they were staged are read.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::error::Result;
use crate::history::Head;
use crate::index::Index;
use crate::ops::add::stat_clean;
use crate::repo::Repo;
use crate::snapshot::{FileEntry, Snapshot};
use crate::worktree::{self, WorkFile};

/// The kind of a change to one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// New path.
    Added,
    /// Content or mode changed.
    Modified,
    /// Path gone.
    Removed,
}

/// One changed path.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Change {
    /// Dataset path.
    pub path: String,
    /// What happened to it.
    pub change: ChangeKind,
}

/// Everything `status` reports.
#[derive(Debug, serde::Serialize)]
pub struct StatusReport {
    /// Current branch, if HEAD is on one.
    pub branch: Option<String>,
    /// HEAD commit, if any.
    pub head: Option<String>,
    /// Changes the next commit will record.
    pub staged: Vec<Change>,
    /// Changes in the work tree not staged yet.
    pub unstaged: Vec<Change>,
    /// Files colony does not track (and that `.colonyignore` does not hide).
    pub untracked: Vec<String>,
    /// The commit being merged, while a merge stopped on conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merging: Option<String>,
    /// Paths whose merge conflicts are not resolved yet.
    pub conflicts: Vec<String>,
    /// The patterns of a sparse work tree (tracked files outside them are absent on
    /// purpose; see [`crate::ops::sparse`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse: Option<Vec<String>>,
}

impl StatusReport {
    /// Whether there is nothing to report.
    pub fn is_clean(&self) -> bool {
        self.staged.is_empty()
            && self.unstaged.is_empty()
            && self.untracked.is_empty()
            && self.conflicts.is_empty()
    }
}

/// How the work tree compares with the index's staged state.
pub struct WorkTreeState {
    /// Tracked paths whose work-tree content differs from the staged content.
    pub modified: Vec<String>,
    /// Tracked paths missing from the work tree.
    pub removed: Vec<String>,
    /// Paths in the work tree the index does not track.
    pub untracked: Vec<WorkFile>,
    /// Every file found in the work tree, by path.
    pub files: BTreeMap<String, WorkFile>,
}

impl Repo {
    /// Compares the work tree with the index (rehashing only files whose stat moved).
    pub fn work_tree_state(&self, ix: &Index) -> Result<WorkTreeState> {
        let files: BTreeMap<String, WorkFile> = worktree::scan(self.root(), None)?
            .into_iter()
            .map(|w| (w.path.clone(), w))
            .collect();
        let mut removed = Vec::new();
        let mut suspects = Vec::new();
        // A sparse work tree lacks the paths outside its patterns on purpose.
        let sparse = self.sparse()?;
        for (p, e) in &ix.entries {
            let Some(staged) = &e.staged else { continue };
            match files.get(p) {
                None if sparse.as_ref().is_some_and(|s| !s.contains(p)) => {}
                None => removed.push(p.clone()),
                Some(w) if stat_clean(ix, e.stat.as_ref(), &w.stat) => {}
                Some(w) => suspects.push((p, staged, w)),
            }
        }
        let root = self.root();
        let mut modified: Vec<String> = suspects
            .par_iter()
            .filter_map(|(p, staged, w)| {
                let mode = w.stat.colony_mode();
                if mode != staged.mode
                    || (w.stat.size != staged.size && mode != crate::snapshot::Mode::Link)
                {
                    return Some((*p).clone());
                }
                match worktree::hash_file(root, p, mode) {
                    Ok((h, _)) if h == staged.hash => None,
                    _ => Some((*p).clone()),
                }
            })
            .collect();
        modified.sort();
        let untracked = files
            .values()
            .filter(|w| ix.entries.get(&w.path).is_none_or(|e| e.staged.is_none()))
            .cloned()
            .collect();
        Ok(WorkTreeState {
            modified,
            removed,
            untracked,
            files,
        })
    }

    /// The status of the dataset.
    pub fn status(&self) -> Result<StatusReport> {
        let ix = self.index_for_head()?;
        let head = self.head()?;
        let staged = ix
            .entries
            .iter()
            .filter(|(_, e)| e.is_staged_change())
            .map(|(p, e)| Change {
                path: p.clone(),
                change: match (&e.base, &e.staged) {
                    (None, _) => ChangeKind::Added,
                    (_, None) => ChangeKind::Removed,
                    _ => ChangeKind::Modified,
                },
            })
            .collect();
        let wt = self.work_tree_state(&ix)?;
        let mut unstaged: Vec<Change> = wt
            .modified
            .into_iter()
            .map(|path| Change {
                path,
                change: ChangeKind::Modified,
            })
            .chain(wt.removed.into_iter().map(|path| Change {
                path,
                change: ChangeKind::Removed,
            }))
            .collect();
        unstaged.sort_by(|a, b| a.path.cmp(&b.path));
        let merge = crate::ops::merge_state::in_progress(self.colony_dir())?;
        Ok(StatusReport {
            branch: match &head {
                Head::Branch { name, .. } => Some(name.clone()),
                Head::Detached(_) => None,
            },
            head: head.commit().map(|c| c.to_string()),
            staged,
            unstaged,
            untracked: wt.untracked.into_iter().map(|w| w.path).collect(),
            merging: merge.as_ref().map(|(c, _)| c.clone()),
            conflicts: merge.map(|(_, p)| p).unwrap_or_default(),
            sparse: self.sparse()?.map(|s| s.patterns),
        })
    }

    /// The tracked files as they are in the work tree now (hashing changed ones).
    pub fn work_tree_snapshot(&self) -> Result<Snapshot> {
        let ix = self.index_for_head()?;
        let wt = self.work_tree_state(&ix)?;
        let mut snap = ix.staged_snapshot();
        for p in &wt.removed {
            snap.remove(p);
        }
        for p in &wt.modified {
            let w = &wt.files[p];
            let mode = w.stat.colony_mode();
            let (hash, size) = worktree::hash_file(self.root(), p, mode)?;
            let target = if mode == crate::snapshot::Mode::Link {
                std::fs::read_link(self.root().join(p))
                    .ok()
                    .map(|t| t.to_string_lossy().into_owned())
            } else {
                None
            };
            snap.insert(
                p.clone(),
                FileEntry {
                    mode,
                    size,
                    hash,
                    manifest: None,
                    target,
                },
            );
        }
        Ok(snap)
    }
}

impl Repo {
    /// Tracked paths with uncommitted changes: staged, modified or removed in the work
    /// tree (untracked files excluded), sorted. What `merge` and a push into a checked-out
    /// branch refuse to overwrite.
    pub(crate) fn uncommitted_paths(&self, ix: &Index) -> Result<Vec<String>> {
        let wt = self.work_tree_state(ix)?;
        let mut dirty: Vec<String> = ix
            .entries
            .iter()
            .filter(|(_, e)| e.is_staged_change())
            .map(|(p, _)| p.clone())
            .collect();
        dirty.extend(wt.modified);
        dirty.extend(wt.removed);
        dirty.sort();
        dirty.dedup();
        Ok(dirty)
    }
}
