//! `merge`: three-way merge of a revision into HEAD against their merge base.
//!
//! Per path: a side that alone changed it wins; both changing it the same way is fine;
//! otherwise it conflicts — except tables (`.parquet`, `.csv`, `.jsonl`, `.ndjson`)
//! changed on both sides, which the table engine merges row by row by their key
//! (`--key`, or the one recorded with `table key`). `--strategy ours|theirs` settles
//! every conflict (file or row) for one side; changes that do not conflict are merged
//! either way.
//!
//! Everything is computed before anything is written, so a merge that fails (no key, a
//! malformed table, a file in the way) changes nothing. A clean merge writes a commit
//! with two parents and checks it out. A merge with conflicts stages what merged,
//! leaves ours' version of each conflicting path in the work tree, and saves the state
//! ([`crate::ops::merge_state`]) for `conflicts`, `resolve`, `merge --continue` and
//! `merge --abort` (which restores the exact pre-merge work tree, index and HEAD).

use std::collections::{BTreeMap, BTreeSet};

use gix::ObjectId;

use crate::error::{Result, StoreError};
use crate::history::Head;
use crate::index::{Index, index_path};
use crate::ingest::ingest_bytes;
use crate::ops::checkout::ResetMode;
use crate::ops::merge_state::{self, ConflictKind, MergeState, PathConflict};
use crate::ops::table_keys::is_table;
use crate::repo::Repo;
use crate::snapshot::{FileEntry, Mode, Snapshot, snapshot_root};
use crate::tables::{self, Side, TableMerge};
use crate::worktree;

/// Options of a merge.
#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    /// Key columns for tables (overrides recorded keys).
    pub key: Vec<String>,
    /// Settle every conflict for one side.
    pub strategy: Option<Side>,
    /// Commit message (default: `Merge REV into BRANCH`).
    pub message: Option<String>,
}

/// How a merge ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeResult {
    /// Nothing to merge: the revision is already in HEAD.
    UpToDate,
    /// HEAD was an ancestor of the revision and moved to it.
    FastForward,
    /// A merge commit was made.
    Merged,
    /// Conflicts stopped the merge; resolve them and run `merge --continue`.
    Conflicts,
}

/// What happened to one path that changed on either side.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileOutcome {
    /// The path.
    pub path: String,
    /// `ours`, `theirs`, `same`, `rows` (merged row by row), `strategy` (settled by
    /// `--strategy`) or `conflict`.
    pub outcome: &'static str,
    /// For tables merged by row: rows in the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// One conflicting path, in a report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ConflictSummary {
    /// The path.
    pub path: String,
    /// Why it conflicts.
    pub kind: ConflictKind,
    /// Conflicting rows (tables).
    pub rows: usize,
    /// Conflicting columns (tables).
    pub columns: usize,
}

/// What `merge` did.
#[derive(Debug, serde::Serialize)]
pub struct MergeReport {
    /// How it ended.
    pub result: MergeResult,
    /// HEAD's commit before the merge.
    pub ours: String,
    /// The commit merged in.
    pub theirs: String,
    /// Their merge base.
    pub base: Option<String>,
    /// The commit HEAD is at afterwards (merge commit or fast-forward target).
    pub commit: Option<String>,
    /// Paths changed on either side, and how each was merged.
    pub files: Vec<FileOutcome>,
    /// Conflicting paths (empty unless `result` is `conflicts`).
    pub conflicts: Vec<ConflictSummary>,
}

fn same(a: Option<&FileEntry>, b: Option<&FileEntry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.same_content(y),
        _ => false,
    }
}

impl Repo {
    /// The bytes of a stored file (verified).
    pub(crate) fn file_bytes(&self, path: &str, e: &FileEntry) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(e.size as usize);
        crate::content::write_content(self.chunks()?, path, e, &mut out)?;
        Ok(out)
    }

    /// Stores `bytes` as a file and returns its entry.
    pub(crate) fn store_bytes(&self, bytes: &[u8], mode: Mode) -> Result<FileEntry> {
        let store = self.chunks()?;
        let sink = store.sink();
        let got = ingest_bytes(bytes, &sink, self.config().compression_level()?)?;
        sink.finish()?;
        Ok(FileEntry {
            mode: if mode == Mode::Link { Mode::File } else { mode },
            size: got.size,
            hash: got.hash,
            manifest: got.manifest,
            target: None,
        })
    }

    /// The key for the table at `path`: `given`, else the recorded one (may be empty).
    pub(crate) fn key_for(&self, path: &str, given: &[String]) -> Result<Vec<String>> {
        if !given.is_empty() {
            return Ok(given.to_vec());
        }
        Ok(self.table_key(path)?.unwrap_or_default())
    }

    /// Refuses to start when a merge is on or tracked files have uncommitted changes.
    fn check_ready_to_merge(&self, ix: &Index) -> Result<()> {
        if merge_state::load(self.colony_dir())?.is_some() {
            return Err(StoreError::Refused(
                "a merge is in progress: resolve it and run `colony merge --continue`, or `colony merge --abort`".into(),
            ));
        }
        let dirty = self.uncommitted_paths(ix)?;
        if !dirty.is_empty() {
            return Err(StoreError::Refused(format!(
                "uncommitted changes in {}; commit them (`colony commit -a`) or discard them (`colony reset --hard HEAD`) before merging",
                dirty
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }

    /// Merges `rev` into HEAD.
    pub fn merge(&self, rev: &str, opts: &MergeOptions) -> Result<MergeReport> {
        let ix = self.index_for_head()?;
        self.check_ready_to_merge(&ix)?;
        let head = self.head()?;
        let ours = head.commit().ok_or_else(|| {
            StoreError::Refused("HEAD has no commit yet; commit something before merging".into())
        })?;
        let theirs = self.resolve(rev)?;
        let base = self.history().merge_base(ours, theirs)?;
        let mut report = MergeReport {
            result: MergeResult::UpToDate,
            ours: ours.to_string(),
            theirs: theirs.to_string(),
            base: base.map(|b| b.to_string()),
            commit: Some(ours.to_string()),
            files: Vec::new(),
            conflicts: Vec::new(),
        };
        if theirs == ours || base == Some(theirs) {
            return Ok(report);
        }
        if base == Some(ours) {
            let target = self.snapshot_of(theirs)?;
            let o = self.snapshot_of(ours)?;
            self.check_untracked_in_the_way(&ix, &o, &target)?;
            let new_paths: Vec<String> = target
                .keys()
                .filter(|p| !o.contains_key(*p))
                .cloned()
                .collect();
            crate::worktree::precreate_folders(self.root(), &new_paths);
            self.reset(&theirs.to_string(), ResetMode::Hard)?;
            report.result = MergeResult::FastForward;
            report.commit = Some(theirs.to_string());
            return Ok(report);
        }

        let b = match base {
            Some(c) => self.snapshot_of(c)?,
            None => Snapshot::new(),
        };
        let o = self.snapshot_of(ours)?;
        let t = self.snapshot_of(theirs)?;
        let (merged, conflicts) = self.merge_snapshots(&b, &o, &t, opts, &mut report.files)?;
        // Links of both sides, each fine alone, may leave the tree together.
        crate::history::check_snapshot_links(&merged)?;
        self.check_untracked_in_the_way(&ix, &o, &merged)?;

        let branch = match &head {
            Head::Branch { name, .. } => name.clone(),
            Head::Detached(_) => "HEAD".into(),
        };
        let message = opts
            .message
            .clone()
            .unwrap_or_else(|| format!("Merge {rev} into {branch}"));

        let new_paths: Vec<String> = merged
            .keys()
            .filter(|p| !o.contains_key(*p))
            .cloned()
            .collect();
        crate::worktree::precreate_folders(self.root(), &new_paths);
        if conflicts.is_empty() {
            let id = self.write_merge_commit(&merged, ours, theirs, &message)?;
            self.reset(&id.to_string(), ResetMode::Hard)?;
            report.result = MergeResult::Merged;
            report.commit = Some(id.to_string());
            return Ok(report);
        }

        // Conflicts: save the way back first, then stage what merged.
        let pre_index = std::fs::read(index_path(self.colony_dir()))
            .map_err(|e| StoreError::io("read the index", e))?;
        let head_text = std::fs::read_to_string(self.history().dir().join("HEAD"))
            .map_err(|e| StoreError::io("read HEAD", e))?;
        let touched: Vec<String> = o
            .keys()
            .chain(merged.keys())
            .filter(|p| !same(o.get(*p), merged.get(*p)))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let state = MergeState {
            version: 1,
            ours: ours.to_string(),
            theirs: theirs.to_string(),
            theirs_rev: rev.to_string(),
            base: base.map(|b| b.to_string()),
            message,
            head: head_text,
            touched: touched.clone(),
            conflicts: conflicts.clone(),
        };
        merge_state::save_index_copy(self.colony_dir(), &pre_index)?;
        merge_state::save(self.colony_dir(), &state)?;
        let mut ix = ix;
        for p in &touched {
            self.stage_entry(&mut ix, p, merged.get(p))?;
        }
        self.save_index(&mut ix)?;
        report.result = MergeResult::Conflicts;
        report.commit = None;
        report.conflicts = conflicts
            .iter()
            .map(|(p, c)| ConflictSummary {
                path: p.clone(),
                kind: c.kind,
                rows: c.rows.len(),
                columns: c.schema.len(),
            })
            .collect();
        Ok(report)
    }

    /// Writes `e` (or removes the path) in the work tree and stages it.
    pub(crate) fn stage_entry(
        &self,
        ix: &mut Index,
        path: &str,
        e: Option<&FileEntry>,
    ) -> Result<()> {
        worktree::safe_join(self.root(), path)?;
        let slot = ix.entries.entry(path.to_string()).or_default();
        match e {
            Some(e) => {
                let st = worktree::materialize(self.root(), self.chunks()?, path, e)?;
                slot.staged = Some(e.clone());
                slot.stat = Some(st);
            }
            None => {
                worktree::remove(self.root(), path)?;
                slot.staged = None;
                slot.stat = None;
            }
        }
        if slot.staged.is_none() && slot.base.is_none() {
            ix.entries.remove(path);
        }
        Ok(())
    }

    /// Refuses when an untracked file sits where the merge would write something else.
    fn check_untracked_in_the_way(
        &self,
        ix: &Index,
        ours: &Snapshot,
        target: &Snapshot,
    ) -> Result<()> {
        let wt = self.work_tree_state(ix)?;
        let mut blocked = Vec::new();
        for w in &wt.untracked {
            if ours.contains_key(&w.path) {
                continue;
            }
            if let Some(t) = target.get(&w.path) {
                let same = worktree::hash_file(self.root(), &w.path, w.stat.colony_mode())
                    .is_ok_and(|(h, _)| h == t.hash);
                if !same {
                    blocked.push(w.path.clone());
                }
            }
        }
        if blocked.is_empty() {
            Ok(())
        } else {
            Err(StoreError::WouldOverwrite { paths: blocked })
        }
    }

    /// Writes a two-parent commit of `snapshot` (objects durable, no ref moved).
    fn write_merge_commit(
        &self,
        snapshot: &Snapshot,
        ours: ObjectId,
        theirs: ObjectId,
        message: &str,
    ) -> Result<ObjectId> {
        let tree = self.history().write_tree(snapshot)?;
        let (name, email) = self.config().author();
        let id = self.history().write_commit(
            tree,
            &[ours, theirs],
            message,
            &snapshot_root(snapshot),
            (&name, &email),
        )?;
        self.history().sync()?;
        Ok(id)
    }

    /// The per-path three-way merge: the merged snapshot (conflicting paths keep ours'
    /// version) and the conflicts.
    fn merge_snapshots(
        &self,
        b: &Snapshot,
        o: &Snapshot,
        t: &Snapshot,
        opts: &MergeOptions,
        files: &mut Vec<FileOutcome>,
    ) -> Result<(Snapshot, BTreeMap<String, PathConflict>)> {
        let mut merged = o.clone();
        let mut conflicts = BTreeMap::new();
        let paths: BTreeSet<&String> = b.keys().chain(o.keys()).chain(t.keys()).collect();
        for p in paths {
            let (be, oe, te) = (b.get(p), o.get(p), t.get(p));
            let outcome = |outcome: &'static str, rows: Option<u64>| FileOutcome {
                path: p.clone(),
                outcome,
                rows,
            };
            if same(oe, te) {
                if !same(be, oe) {
                    files.push(outcome("same", None));
                }
                continue;
            }
            if same(be, oe) {
                match te {
                    Some(e) => merged.insert(p.clone(), e.clone()),
                    None => merged.remove(p),
                };
                files.push(outcome("theirs", None));
                continue;
            }
            if same(be, te) {
                files.push(outcome("ours", None));
                continue;
            }
            // Both changed it, differently.
            let kind = match (be, oe, te) {
                (None, Some(_), Some(_)) => ConflictKind::BothAdded,
                (Some(_), Some(_), Some(_)) => ConflictKind::Content,
                _ => ConflictKind::ModifyDelete,
            };
            let mut conflict = PathConflict {
                kind,
                base: be.cloned(),
                ours: oe.cloned(),
                theirs: te.cloned(),
                key: Vec::new(),
                rows: Vec::new(),
                schema: Vec::new(),
                row_choices: BTreeMap::new(),
                resolved: false,
            };
            if let (Some(be), Some(oe), Some(te), true) =
                (be, oe, te, tables::ENABLED && is_table(p))
            {
                let key = self.key_for(p, &opts.key)?;
                let r = tables::merge_table(
                    p,
                    self.file_bytes(p, be)?,
                    self.file_bytes(p, oe)?,
                    self.file_bytes(p, te)?,
                    &key,
                    opts.strategy,
                    None,
                )
                .map_err(|e| e.at(p))?;
                match r {
                    TableMerge::Merged { bytes, rows } => {
                        let e = self.store_bytes(&bytes, oe.mode)?;
                        merged.insert(p.clone(), e);
                        files.push(outcome("rows", Some(rows)));
                        continue;
                    }
                    TableMerge::Conflicts { rows, schema, .. } => {
                        conflict.kind = if schema.is_empty() {
                            ConflictKind::Rows
                        } else {
                            ConflictKind::Schema
                        };
                        conflict.key = key;
                        conflict.rows = rows;
                        conflict.schema = schema;
                    }
                }
            } else if let Some(side) = opts.strategy {
                let e = if side == Side::Ours { oe } else { te };
                match e {
                    Some(e) => merged.insert(p.clone(), e.clone()),
                    None => merged.remove(p),
                };
                files.push(outcome("strategy", None));
                continue;
            }
            files.push(outcome("conflict", None));
            conflicts.insert(p.clone(), conflict);
        }
        Ok((merged, conflicts))
    }

    /// The merge in progress, if any.
    pub fn merge_state(&self) -> Result<Option<MergeState>> {
        merge_state::load(self.colony_dir())
    }

    fn require_merge(&self) -> Result<MergeState> {
        self.merge_state()?
            .ok_or_else(|| StoreError::Refused("no merge in progress".into()))
    }

    /// Commits the merge once every conflict is resolved.
    pub fn merge_continue(&self) -> Result<MergeReport> {
        let state = self.require_merge()?;
        let open = state.unresolved();
        if !open.is_empty() {
            return Err(StoreError::Refused(format!(
                "unresolved conflicts in {}; see `colony conflicts PATH` and settle each with `colony resolve PATH --ours|--theirs|--with FILE`",
                open.join(", ")
            )));
        }
        let ours = self.resolve(&state.ours)?;
        let theirs = self.resolve(&state.theirs)?;
        if self.head()?.commit() != Some(ours) {
            return Err(StoreError::Refused(
                "HEAD moved since the merge began; run `colony merge --abort`".into(),
            ));
        }
        let mut ix = self.index_for_head()?;
        let snapshot = ix.staged_snapshot();
        let id = self.write_merge_commit(&snapshot, ours, theirs, &state.message)?;
        self.history().advance_head(id)?;
        ix.rebase_on_commit(id);
        self.save_index(&mut ix)?;
        merge_state::clear(self.colony_dir())?;
        Ok(MergeReport {
            result: MergeResult::Merged,
            ours: state.ours,
            theirs: state.theirs,
            base: state.base,
            commit: Some(id.to_string()),
            files: Vec::new(),
            conflicts: Vec::new(),
        })
    }

    /// Abandons the merge, restoring the work tree, index and HEAD as they were before.
    pub fn merge_abort(&self) -> Result<MergeState> {
        let state = self.require_merge()?;
        let ours = self.resolve(&state.ours)?;
        let o = self.snapshot_of(ours)?;
        let ix = self.load_index()?;
        let mut paths: BTreeSet<String> = state.touched.iter().cloned().collect();
        paths.extend(state.conflicts.keys().cloned());
        paths.extend(
            ix.entries
                .iter()
                .filter(|(p, e)| !same(e.staged.as_ref(), o.get(*p)))
                .map(|(p, _)| p.clone()),
        );
        for p in &paths {
            worktree::safe_join(self.root(), p)?;
        }
        for p in &paths {
            match o.get(p) {
                Some(e) => {
                    let current = worktree::hash_file(self.root(), p, e.mode).ok();
                    if current.is_none_or(|(h, _)| h != e.hash) {
                        worktree::materialize(self.root(), self.chunks()?, p, e)?;
                    }
                }
                None => worktree::remove(self.root(), p)?,
            }
        }
        if let Some(bytes) = merge_state::index_copy(self.colony_dir())? {
            crate::durable::write_atomic(&index_path(self.colony_dir()), &bytes)?;
        }
        crate::durable::write_atomic(&self.history().dir().join("HEAD"), state.head.as_bytes())?;
        merge_state::clear(self.colony_dir())?;
        Ok(state)
    }
}
