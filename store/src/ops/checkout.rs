//! `checkout`, `switch` and `reset`: move the work tree, index and HEAD to a revision,
//! never overwriting uncommitted work without `force` and never writing outside the tree.

use std::collections::BTreeSet;

use gix::ObjectId;
use rayon::prelude::*;

use crate::error::{Result, StoreError};
use crate::index::{Index, Stat};
use crate::ops::add::under;
use crate::repo::Repo;
use crate::snapshot::{FileEntry, Snapshot};
use crate::worktree;

/// What a checkout did.
#[derive(Debug, Default, serde::Serialize)]
pub struct CheckoutReport {
    /// The commit now checked out.
    pub commit: String,
    /// The branch HEAD is on afterwards, if any.
    pub branch: Option<String>,
    /// Files written.
    pub written: usize,
    /// Files removed.
    pub removed: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Files of the target left out of a sparse work tree (see [`crate::ops::sparse`]).
    pub outside_sparse: usize,
}

/// How far `reset` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetMode {
    /// Move HEAD only.
    Soft,
    /// Move HEAD and reset the index.
    Mixed,
    /// Move HEAD, reset the index and the work tree.
    Hard,
}

impl Repo {
    /// Paths among `candidates` that hold uncommitted work: staged changes, work-tree
    /// edits, or untracked files that differ from what would be written.
    fn at_risk(
        &self,
        ix: &Index,
        target: &Snapshot,
        candidates: &BTreeSet<String>,
    ) -> Result<Vec<String>> {
        let wt = self.work_tree_state(ix)?;
        let dirty: BTreeSet<&String> = wt.modified.iter().chain(&wt.removed).collect();
        let mut risky = Vec::new();
        for p in candidates {
            let e = ix.entries.get(p);
            if e.is_some_and(|e| e.is_staged_change()) || dirty.contains(p) {
                risky.push(p.clone());
            } else if e.is_none_or(|e| e.staged.is_none())
                && let Some(w) = wt.files.get(p)
            {
                // Untracked file in the way: fine only if it already holds the target bytes.
                let same = target.get(p).is_some_and(|t| {
                    worktree::hash_file(self.root(), p, w.stat.colony_mode())
                        .is_ok_and(|(h, _)| h == t.hash)
                });
                if !same {
                    risky.push(p.clone());
                }
            }
        }
        Ok(risky)
    }

    /// Writes `target` over the work tree described by `ix`; returns the new index.
    pub(crate) fn apply(
        &self,
        ix: &Index,
        commit: ObjectId,
        target: &Snapshot,
        force: bool,
    ) -> Result<(Index, CheckoutReport)> {
        let current = ix.staged_snapshot();
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for (p, e) in target {
            if current.get(p).is_none_or(|c| !c.same_content(e)) {
                changed.insert(p.clone());
            }
        }
        if force {
            // Discard local edits too: dirty tracked files are rewritten from the target.
            let wt = self.work_tree_state(ix)?;
            changed.extend(
                wt.modified
                    .into_iter()
                    .chain(wt.removed)
                    .filter(|p| target.contains_key(p)),
            );
        }
        let to_remove: Vec<String> = current
            .keys()
            .filter(|p| !target.contains_key(*p))
            .cloned()
            .collect();
        let mut candidates = changed.clone();
        candidates.extend(to_remove.iter().cloned());
        if !force {
            // Staged changes anywhere would be lost with the old index.
            let mut risky: Vec<String> = ix
                .entries
                .iter()
                .filter(|(_, e)| e.is_staged_change())
                .map(|(p, _)| p.clone())
                .collect();
            risky.extend(self.at_risk(ix, target, &candidates)?);
            risky.sort();
            risky.dedup();
            if !risky.is_empty() {
                return Err(StoreError::WouldOverwrite { paths: risky });
            }
        }
        // A sparse work tree gets only its paths; the others are left out (and removed
        // where an earlier checkout wrote them: the checks above saw them clean).
        let mut hidden: Vec<String> = Vec::new();
        let mut outside_sparse = 0;
        if let Some(sparse) = self.sparse()? {
            outside_sparse = target.keys().filter(|p| !sparse.contains(p)).count();
            hidden = changed
                .iter()
                .filter(|p| !sparse.contains(p))
                .cloned()
                .collect();
            for p in &hidden {
                changed.remove(p);
                worktree::safe_join(self.root(), p)?;
            }
        }
        // Every path is checked before anything is written.
        for p in &changed {
            worktree::safe_join(self.root(), p)?;
        }
        let store = self.chunks()?;
        let total: u64 = changed.iter().map(|p| target[p].size).sum();
        let progress = self.progress();
        let root = self.root();
        progress.begin("checking out", Some(total));
        for p in to_remove.iter().chain(&hidden) {
            worktree::remove(self.root(), p)?;
        }
        let written: Vec<Result<(String, Stat)>> = changed
            .par_iter()
            .map(|p| {
                let e: &FileEntry = &target[p];
                let st = worktree::materialize(root, store, p, e)?;
                progress.advance(e.size);
                Ok((p.clone(), st))
            })
            .collect();
        progress.end();
        let mut new_ix = Index::from_snapshot(Some(commit), target);
        for (p, e) in new_ix.entries.iter_mut() {
            if !changed.contains(p) {
                e.stat = ix.entries.get(p).and_then(|old| old.stat);
            }
        }
        for p in &hidden {
            if let Some(e) = new_ix.entries.get_mut(p) {
                e.stat = None;
            }
        }
        let mut report = CheckoutReport {
            commit: commit.to_string(),
            removed: to_remove.len(),
            outside_sparse,
            ..Default::default()
        };
        for w in written {
            let (p, st) = w.map_err(|e| self.explain_missing(e))?;
            report.bytes += target[&p].size;
            report.written += 1;
            if let Some(e) = new_ix.entries.get_mut(&p) {
                e.stat = Some(st);
            }
        }
        Ok((new_ix, report))
    }

    /// Checks out `rev`: a local branch name switches to it, anything else detaches HEAD.
    ///
    /// Refused while a merge is in progress (finish it with `merge --continue` or drop it
    /// with `merge --abort` first), as git does: moving HEAD under a half-made merge
    /// would leave its state pointing at the wrong commit.
    pub fn checkout(&self, rev: &str, force: bool) -> Result<CheckoutReport> {
        if let Some(m) = self.merge_state()? {
            return Err(StoreError::Refused(format!(
                "a merge of {} is in progress: finish it with `colony merge --continue` or \
                 drop it with `colony merge --abort` before switching",
                m.theirs_rev
            )));
        }
        let commit = self.resolve(rev)?;
        let target = self.snapshot_of(commit)?;
        let full = format!("refs/heads/{rev}");
        let is_branch = crate::history::validate_ref_name(&full).is_ok()
            && self.history().ref_target(&full).ok().flatten().is_some();
        let ix = self.index_for_head()?;
        let (mut new_ix, mut report) = self.apply(&ix, commit, &target, force)?;
        self.save_index(&mut new_ix)?;
        if is_branch {
            self.history().set_head_branch(rev)?;
            report.branch = Some(rev.to_string());
        } else {
            self.history().set_head_detached(commit)?;
        }
        Ok(report)
    }

    /// Restores `paths` (files or folders) from `rev` into the work tree and the index,
    /// leaving HEAD where it is.
    pub fn checkout_paths(
        &self,
        rev: &str,
        paths: &[String],
        force: bool,
    ) -> Result<CheckoutReport> {
        let commit = self.resolve(rev)?;
        let snap = self.snapshot_of(commit)?;
        let mut ix = self.index_for_head()?;
        let mut chosen = BTreeSet::new();
        for spec in paths {
            let before = chosen.len();
            chosen.extend(snap.keys().filter(|p| under(p, spec)).cloned());
            if chosen.len() == before {
                return Err(StoreError::NoSuchPath {
                    path: spec.clone(),
                    rev: rev.into(),
                });
            }
        }
        if !force {
            let wt = self.work_tree_state(&ix)?;
            let mut risky: Vec<String> = wt
                .modified
                .iter()
                .filter(|p| chosen.contains(*p))
                .cloned()
                .collect();
            risky.extend(
                wt.untracked
                    .iter()
                    .filter(|w| chosen.contains(&w.path))
                    .filter(|w| {
                        worktree::hash_file(self.root(), &w.path, w.stat.colony_mode())
                            .map_or(true, |(h, _)| h != snap[&w.path].hash)
                    })
                    .map(|w| w.path.clone()),
            );
            if !risky.is_empty() {
                return Err(StoreError::WouldOverwrite { paths: risky });
            }
        }
        // The restored paths join links of another revision: together they must stay
        // inside too (each revision's links passed alone; a mix can still leave).
        let staged_link = |e: &FileEntry| e.mode == crate::snapshot::Mode::Link;
        if chosen.iter().any(|p| staged_link(&snap[p]))
            || ix
                .entries
                .values()
                .any(|e| e.staged.as_ref().is_some_and(staged_link))
        {
            let mut after = ix.staged_snapshot();
            for p in &chosen {
                after.insert(p.clone(), snap[p].clone());
            }
            crate::history::check_snapshot_links(&after)?;
        }
        let store = self.chunks()?;
        let mut report = CheckoutReport {
            commit: commit.to_string(),
            ..Default::default()
        };
        // Paths asked for by name join a sparse work tree (once they are written).
        let mut grown = None;
        if let Some(mut sparse) = self.sparse()? {
            let mut grew = false;
            for spec in paths {
                if chosen.iter().any(|p| under(p, spec) && !sparse.contains(p)) {
                    sparse.patterns.push(spec.clone());
                    grew = true;
                }
            }
            if grew {
                grown = Some(sparse.patterns);
            }
        }
        for p in &chosen {
            let e = &snap[p];
            let st = worktree::materialize(self.root(), store, p, e)
                .map_err(|e| self.explain_missing(e))?;
            let slot = ix.entries.entry(p.clone()).or_default();
            slot.staged = Some(e.clone());
            slot.stat = Some(st);
            report.written += 1;
            report.bytes += e.size;
        }
        if let Some(patterns) = &grown {
            self.set_sparse(Some(patterns))?;
        }
        self.save_index(&mut ix)?;
        Ok(report)
    }

    /// Switches to `branch`, creating it at `start` (default HEAD) when `create` is set.
    pub fn switch(
        &self,
        branch: &str,
        create: Option<Option<&str>>,
        force: bool,
    ) -> Result<CheckoutReport> {
        let full = format!("refs/heads/{branch}");
        if let Some(start) = create {
            if self.history().ref_target(&full)?.is_some() {
                return Err(StoreError::Ref(format!("branch `{branch}` already exists")));
            }
            let at = match start {
                Some(s) => self.resolve(s)?,
                None => self
                    .head()?
                    .commit()
                    .ok_or_else(|| StoreError::Ref("HEAD has no commit yet".into()))?,
            };
            self.history().set_ref(&full, at)?;
        } else if self.history().ref_target(&full)?.is_none() {
            return Err(StoreError::Ref(format!(
                "no branch `{branch}` (create it with `colony switch -c {branch}`)"
            )));
        }
        self.checkout(branch, force)
    }

    /// Moves HEAD (or its branch) to `rev`; `Mixed` also resets the index, `Hard` the work
    /// tree too. `Mixed` and `Hard` end a merge in progress (its state is dropped, as
    /// `git reset` does); `Soft` is refused during a merge, since it would keep the
    /// half-merged index under a different HEAD.
    pub fn reset(&self, rev: &str, mode: ResetMode) -> Result<CheckoutReport> {
        let merging = self.merge_state()?.is_some();
        if merging && matches!(mode, ResetMode::Soft) {
            return Err(StoreError::Refused(
                "cannot do a soft reset in the middle of a merge: use `colony merge --abort` \
                 or `colony reset --hard`"
                    .into(),
            ));
        }
        let commit = self.resolve(rev)?;
        let target = self.snapshot_of(commit)?;
        let ix = self.index_for_head()?;
        let mut report = CheckoutReport {
            commit: commit.to_string(),
            ..Default::default()
        };
        match mode {
            ResetMode::Soft => {}
            ResetMode::Mixed => {
                let mut new_ix = Index::from_snapshot(Some(commit), &target);
                for (p, e) in new_ix.entries.iter_mut() {
                    if let Some(old) = ix.entries.get(p)
                        && old
                            .staged
                            .as_ref()
                            .is_some_and(|s| s.same_content(e.staged.as_ref().unwrap()))
                    {
                        e.stat = old.stat;
                    }
                }
                self.save_index(&mut new_ix)?;
            }
            ResetMode::Hard => {
                let (mut new_ix, r) = self.apply(&ix, commit, &target, true)?;
                report = r;
                self.save_index(&mut new_ix)?;
            }
        }
        self.history().advance_head(commit)?;
        if merging {
            crate::ops::merge_state::clear(self.colony_dir())?;
        }
        if let crate::history::Head::Branch { name, .. } = self.head()? {
            report.branch = Some(name);
        }
        Ok(report)
    }
}
