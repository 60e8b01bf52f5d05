//! `add`: stage files (their bytes go into shards now; the commit only records them).

use std::collections::BTreeSet;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Result, StoreError};
use crate::history::check_link_target;
use crate::index::{Index, Stat};
use crate::ingest::ingest_file;
use crate::repo::Repo;
use crate::snapshot::{FileEntry, Mode};
use crate::worktree::{self, WorkFile};

/// Stats whose mtime is this close to the index's write time are rehashed, because the
/// file may have changed again within the file system's timestamp granularity.
pub const RACY_NS: i64 = 1_000_000_000;

/// What `add` staged.
#[derive(Debug, Default, serde::Serialize)]
pub struct AddReport {
    /// Paths newly tracked.
    pub added: Vec<String>,
    /// Tracked paths whose staged content changed.
    pub modified: Vec<String>,
    /// Tracked paths staged for removal (gone from the work tree).
    pub removed: Vec<String>,
    /// Paths looked at whose content was already staged.
    pub unchanged: usize,
    /// Bytes read from the work tree.
    pub bytes_read: u64,
    /// Bytes written to new shard records.
    pub new_bytes: u64,
}

/// Whether the stat recorded in the index still vouches for the file's content.
pub fn stat_clean(ix: &Index, recorded: Option<&Stat>, now: &Stat) -> bool {
    recorded == Some(now) && now.mtime_ns < ix.written_at_ns - RACY_NS
}

impl Repo {
    /// Dataset paths (`/`-separated, relative to the root) for command-line paths relative
    /// to `cwd`. The root itself is the empty string.
    pub fn pathspecs(&self, cwd: &Path, paths: &[std::path::PathBuf]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for p in paths {
            let abs = if p.is_absolute() {
                p.clone()
            } else {
                cwd.join(p)
            };
            let abs = normalize(&abs);
            let rel = worktree::relative(self.root(), &abs)?;
            if rel.split('/').next() == Some(crate::repo::COLONY_DIR) {
                return Err(StoreError::OutsideDataset(abs));
            }
            out.push(rel);
        }
        Ok(out)
    }

    /// Stages the given dataset paths (files or folders; `""` is everything): new and
    /// changed files are stored, missing tracked files are staged for removal.
    pub fn add(&self, specs: &[String]) -> Result<AddReport> {
        let mut ix = self.index_for_head()?;
        let root = self.root().to_path_buf();
        let mut found: Vec<WorkFile> = Vec::new();
        let mut seen = BTreeSet::new();
        for spec in specs {
            let full = if spec.is_empty() {
                root.clone()
            } else {
                worktree::safe_join(&root, spec)?
            };
            let meta = std::fs::symlink_metadata(&full);
            let tracked_under = ix
                .entries
                .iter()
                .filter(|(p, e)| e.staged.is_some() && under(p, spec))
                .map(|(p, _)| p.clone())
                .collect::<Vec<_>>();
            match meta {
                Ok(m) if m.is_dir() => found.extend(worktree::scan(&root, Some(&full))?),
                Ok(m) => found.push(WorkFile {
                    path: spec.clone(),
                    stat: Stat::of(&m),
                }),
                Err(_) if !tracked_under.is_empty() => {}
                Err(_) => {
                    return Err(StoreError::NoSuchPath {
                        path: spec.clone(),
                        rev: "the work tree or the index".into(),
                    });
                }
            }
            seen.extend(tracked_under);
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        found.dedup_by(|a, b| a.path == b.path);
        let found_paths: BTreeSet<&str> = found.iter().map(|w| w.path.as_str()).collect();
        let mut report = AddReport::default();
        // Tracked files the scan did not report: gone (stage removal) or ignored (re-stat).
        let mut extra = Vec::new();
        let sparse = self.sparse()?;
        for p in &seen {
            if found_paths.contains(p.as_str()) {
                continue;
            }
            match std::fs::symlink_metadata(worktree::safe_join(&root, p)?) {
                Ok(m) if !m.is_dir() => extra.push(WorkFile {
                    path: p.clone(),
                    stat: Stat::of(&m),
                }),
                // Outside a sparse work tree: absent on purpose, not removed.
                _ if sparse.as_ref().is_some_and(|s| !s.contains(p)) => {}
                _ => {
                    if let Some(e) = ix.entries.get_mut(p) {
                        e.staged = None;
                        e.stat = None;
                        report.removed.push(p.clone());
                    }
                }
            }
        }
        found.extend(extra);
        let todo: Vec<&WorkFile> = found
            .iter()
            .filter(|w| {
                let e = ix.entries.get(&w.path);
                let clean = e.is_some_and(|e| {
                    e.staged
                        .as_ref()
                        .is_some_and(|s| s.mode == w.stat.colony_mode())
                        && stat_clean(&ix, e.stat.as_ref(), &w.stat)
                });
                if clean {
                    report.unchanged += 1;
                }
                !clean
            })
            .collect();
        let total: u64 = todo.iter().map(|w| w.stat.size).sum();
        let level = self.config().compression_level()?;
        let store = self.chunks()?;
        let sink = store.sink();
        let progress = self.progress();
        progress.begin("adding", Some(total));
        let results: Vec<Result<(String, FileEntry, Stat)>> = todo
            .par_iter()
            .map(|w| {
                let entry = if w.stat.colony_mode() == Mode::Link {
                    let full = worktree::safe_join(&root, &w.path)?;
                    let t = std::fs::read_link(&full)
                        .map_err(|e| StoreError::io(format!("read link {}", w.path), e))?;
                    let t = t.to_str().ok_or_else(|| {
                        StoreError::Ref(format!("{}: link target is not UTF-8", w.path))
                    })?;
                    if check_link_target(&w.path, t).is_some() {
                        return Err(StoreError::EscapingSymlink {
                            path: w.path.clone(),
                            target: t.into(),
                        });
                    }
                    progress.advance(w.stat.size);
                    FileEntry {
                        mode: Mode::Link,
                        size: t.len() as u64,
                        hash: crate::Hash::of(t.as_bytes()),
                        manifest: None,
                        target: Some(t.into()),
                    }
                } else {
                    let full = worktree::safe_join(&root, &w.path)?;
                    let got = ingest_file(&full, &sink, level, &|n| progress.advance(n))
                        .map_err(|e| e.at(&w.path))?;
                    FileEntry {
                        mode: w.stat.colony_mode(),
                        size: got.size,
                        hash: got.hash,
                        manifest: got.manifest,
                        target: None,
                    }
                };
                Ok((w.path.clone(), entry, w.stat))
            })
            .collect();
        let stats = sink.finish()?;
        progress.end();
        // Ingest computed each manifest and its file hash from the same bytes: record the
        // pairs as proven so readers need not hash these files whole. Only an optimisation,
        // so a failure to record does not fail the add.
        let proven: Vec<_> = (results.iter().flatten())
            .filter_map(|(_, e, _)| e.manifest.map(|m| (e.hash, m)))
            .collect();
        let _ = crate::snapshot::ProofLog::open(self.colony_dir()).record(&proven);
        for r in results {
            let (path, entry, stat) = r?;
            report.bytes_read += entry.size;
            let slot = ix.entries.entry(path.clone()).or_default();
            match &slot.staged {
                None => report.added.push(path),
                Some(old) if !old.same_content(&entry) => report.modified.push(path),
                Some(_) => report.unchanged += 1,
            }
            slot.staged = Some(entry);
            slot.stat = Some(stat);
        }
        report.new_bytes = stats.new_bytes;
        ix.pending_new_bytes += stats.new_bytes;
        self.save_index(&mut ix)?;
        Ok(report)
    }
}

/// Whether dataset path `p` is `spec` or inside it (`""` contains everything).
pub fn under(p: &str, spec: &str) -> bool {
    spec.is_empty()
        || p == spec
        || (p.starts_with(spec) && p.as_bytes().get(spec.len()) == Some(&b'/'))
}

/// Removes `.` and `..` components lexically.
fn normalize(p: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}
