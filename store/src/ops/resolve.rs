//! `conflicts` and `resolve`: inspect and settle the conflicts of a merge in progress.
//!
//! A path is settled whole (`--ours`, `--theirs`, `--with FILE`) or, for a table whose
//! rows conflict, row by row (`--row COL=VAL[,COL=VAL...]` with `--ours`/`--theirs`).
//! Settling a table whole with `--ours`/`--theirs` keeps every row that merged cleanly
//! and settles only the conflicting ones (and conflicting columns) for that side; rows
//! settled one by one before keep their choice. Once a table's last row is settled the
//! merged table is written, stored and staged.

use std::path::Path;

use crate::error::{Result, StoreError};
use crate::ops::merge_state::{self, ConflictKind, PathConflict};
use crate::repo::Repo;
use crate::snapshot::{FileEntry, Mode};
use crate::tables::{self, RowChoice, Side, TableMerge, key_text};

/// How to settle a conflicting path.
#[derive(Clone, Debug)]
pub enum Resolve<'a> {
    /// Take one side for the whole path (for tables: for every conflicting row).
    Side(Side),
    /// Settle these rows (each `COL=VAL[,COL=VAL...]`) one way.
    Rows(&'a [String], RowChoice),
    /// Take the content of this file.
    With(&'a Path),
}

/// What `resolve` did.
#[derive(Debug, serde::Serialize)]
pub struct ResolveReport {
    /// The path.
    pub path: String,
    /// Whether the path is now settled (and staged).
    pub resolved: bool,
    /// Conflicting rows still without a choice (tables).
    pub rows_left: usize,
    /// Paths of the merge still unresolved.
    pub unresolved: Vec<String>,
}

/// One conflicting path as `conflicts` shows it.
#[derive(Debug, serde::Serialize)]
pub struct ConflictView {
    /// The path.
    pub path: String,
    /// The commit being merged.
    pub theirs: String,
    /// The conflict.
    #[serde(flatten)]
    pub conflict: PathConflict,
}

/// Renders a JSON cell the way a user types it in `--row COL=VAL`.
fn cell_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "null".into(),
        v => v.to_string(),
    }
}

/// The conflicting rows (`rows` of `c`) that the spec `COL=VAL[,COL=VAL...]` matches.
fn matching_rows<'a>(c: &'a PathConflict, spec: &str) -> Result<Vec<&'a serde_json::Value>> {
    let mut wanted = Vec::new();
    for part in spec.split(',') {
        let (col, val) = part.split_once('=').ok_or_else(|| {
            StoreError::Refused(format!(
                "`--row {spec}`: expected COL=VAL[,COL=VAL...] naming key columns ({})",
                c.key.join(", ")
            ))
        })?;
        if !c.key.iter().any(|k| k == col.trim()) {
            return Err(StoreError::Refused(format!(
                "`--row {spec}`: `{col}` is not a key column (the key is {})",
                c.key.join(", ")
            )));
        }
        wanted.push((col.trim().to_string(), val.to_string()));
    }
    Ok(c.rows
        .iter()
        .filter(|r| {
            wanted.iter().all(|(col, val)| {
                r.get("key")
                    .and_then(|k| k.get(col))
                    .is_some_and(|v| cell_text(v) == *val)
            })
        })
        .collect())
}

impl Repo {
    /// The conflict at `path` of the merge in progress.
    pub fn conflict(&self, path: &str) -> Result<ConflictView> {
        let state = self
            .merge_state()?
            .ok_or_else(|| StoreError::Refused("no merge in progress".into()))?;
        let conflict = state.conflicts.get(path).cloned().ok_or_else(|| {
            StoreError::Refused(format!(
                "`{path}` has no conflict (conflicting paths: {})",
                state
                    .conflicts
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        Ok(ConflictView {
            path: path.to_string(),
            theirs: state.theirs,
            conflict,
        })
    }

    /// Settles the conflict at `path`.
    pub fn resolve_conflict(&self, path: &str, how: Resolve<'_>) -> Result<ResolveReport> {
        let mut state = self
            .merge_state()?
            .ok_or_else(|| StoreError::Refused("no merge in progress".into()))?;
        let mut c = self.conflict(path)?.conflict;
        let table = matches!(c.kind, ConflictKind::Rows | ConflictKind::Schema);
        let settled: Option<Option<FileEntry>> = match how {
            Resolve::With(file) => {
                let bytes = std::fs::read(file)
                    .map_err(|e| StoreError::io(format!("read {}", file.display()), e))?;
                let mode = c
                    .ours
                    .as_ref()
                    .or(c.theirs.as_ref())
                    .map_or(Mode::File, |e| e.mode);
                Some(Some(self.store_bytes(&bytes, mode)?))
            }
            Resolve::Side(side) if !table => Some(match side {
                Side::Ours => c.ours.clone(),
                Side::Theirs => c.theirs.clone(),
            }),
            Resolve::Side(side) => {
                if c.kind == ConflictKind::Schema {
                    Some(Some(self.merge_table_again(path, &c, Some(side), None)?))
                } else {
                    for r in &c.rows {
                        c.row_choices.entry(key_text(r)).or_insert(side.into());
                    }
                    Some(Some(self.merge_table_again(
                        path,
                        &c,
                        None,
                        Some(&c.row_choices),
                    )?))
                }
            }
            Resolve::Rows(specs, side) => {
                if c.kind != ConflictKind::Rows {
                    return Err(StoreError::Refused(format!(
                        "`{path}` has no row conflicts to settle one by one ({}); use --ours, --theirs or --with FILE",
                        match c.kind {
                            ConflictKind::Schema => "its columns conflict",
                            _ => "it is not a table merged by row",
                        }
                    )));
                }
                for spec in specs {
                    let rows = matching_rows(&c, spec)?;
                    match rows.len() {
                        0 => {
                            return Err(StoreError::Refused(format!(
                                "no conflicting row of `{path}` has key {spec}; see `colony conflicts {path}`"
                            )));
                        }
                        1 => {
                            let k = key_text(rows[0]);
                            c.row_choices.insert(k, side);
                        }
                        n => {
                            return Err(StoreError::Refused(format!(
                                "{spec} matches {n} conflicting rows of `{path}`; give every key column ({})",
                                c.key.join(", ")
                            )));
                        }
                    }
                }
                let left = c
                    .rows
                    .iter()
                    .filter(|r| !c.row_choices.contains_key(&key_text(r)))
                    .count();
                if left == 0 {
                    Some(Some(self.merge_table_again(
                        path,
                        &c,
                        None,
                        Some(&c.row_choices),
                    )?))
                } else {
                    None
                }
            }
        };
        let rows_left = c
            .rows
            .iter()
            .filter(|r| !c.row_choices.contains_key(&key_text(r)))
            .count();
        if let Some(entry) = &settled {
            let mut ix = self.index_for_head()?;
            self.stage_entry(&mut ix, path, entry.as_ref())?;
            self.save_index(&mut ix)?;
            c.resolved = true;
        }
        let resolved = c.resolved;
        state.conflicts.insert(path.to_string(), c);
        merge_state::save(self.colony_dir(), &state)?;
        Ok(ResolveReport {
            path: path.to_string(),
            resolved,
            rows_left: if resolved { 0 } else { rows_left },
            unresolved: state.unresolved(),
        })
    }

    /// Merges a conflicting table again with a strategy or per-row choices, and stores
    /// the result.
    fn merge_table_again(
        &self,
        path: &str,
        c: &PathConflict,
        strategy: Option<Side>,
        choices: Option<&std::collections::BTreeMap<String, RowChoice>>,
    ) -> Result<FileEntry> {
        let (Some(b), Some(o), Some(t)) = (&c.base, &c.ours, &c.theirs) else {
            return Err(StoreError::Refused(format!(
                "`{path}` is missing on one side; settle it with --ours, --theirs or --with FILE"
            )));
        };
        let lookup = choices.map(|m| move |k: &str| m.get(k).copied());
        let r = tables::merge_table(
            path,
            self.file_bytes(path, b)?,
            self.file_bytes(path, o)?,
            self.file_bytes(path, t)?,
            &c.key,
            strategy,
            lookup.as_ref().map(|f| f as tables::RowChoices<'_>),
        )
        .map_err(|e| e.at(path))?;
        match r {
            TableMerge::Merged { bytes, .. } => self.store_bytes(&bytes, o.mode),
            TableMerge::Conflicts { rows, .. } => Err(StoreError::Refused(format!(
                "{} row(s) of `{path}` are still in conflict",
                rows.len()
            ))),
        }
    }
}
