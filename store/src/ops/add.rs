//! `add`: stage files (their bytes go into shards now; the commit only records them).

use std::collections::BTreeSet;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Result, StoreError};
use crate::history::{check_link_target, check_snapshot_links};
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
            // Never read through a symlinked folder: what lies there is not in the tree.
            if let Some(link) = worktree::symlink_above(&root, spec) {
                return Err(StoreError::Refused(format!(
                    "`{spec}` lies beyond the symlink `{link}`; only the link itself can be staged"
                )));
            }
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
            // Below a folder that became a symlink, a tracked file is gone from the tree
            // (stat would follow the link and find whatever it points at).
            let meta = match worktree::symlink_above(&root, p) {
                Some(_) => Err(()),
                None => std::fs::symlink_metadata(worktree::safe_join(&root, p)?).map_err(|_| ()),
            };
            match meta {
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
        // Links first, before any content is stored: each target is checked alone, then
        // all the links staged afterwards together, since a target that stays inside
        // alone can leave the tree through another link.
        let (links, files): (Vec<&WorkFile>, Vec<&WorkFile>) = todo
            .into_iter()
            .partition(|w| w.stat.colony_mode() == Mode::Link);
        let mut results: Vec<Result<(String, FileEntry, Stat)>> = Vec::new();
        for w in &links {
            results.push(Ok((
                w.path.clone(),
                read_link_entry(&root, &w.path)?,
                w.stat,
            )));
        }
        check_links_after(&ix, &files, &results)?;
        let total: u64 = files.iter().map(|w| w.stat.size).sum();
        let level = self.config().compression_level()?;
        let store = self.chunks()?;
        let sink = store.sink();
        let progress = self.progress();
        progress.begin("adding", Some(total));
        results.par_extend(files.par_iter().map(|w| {
            let full = worktree::safe_join(&root, &w.path)?;
            let got = ingest_file(&full, &sink, level, &|n| progress.advance(n))
                .map_err(|e| e.at(&w.path))?;
            let entry = FileEntry {
                mode: w.stat.colony_mode(),
                size: got.size,
                hash: got.hash,
                manifest: got.manifest,
                target: None,
            };
            Ok((w.path.clone(), entry, w.stat))
        }));
        let stats = sink.finish()?;
        progress.end();
        let mut staged = results.into_iter().collect::<Result<Vec<_>>>()?;
        staged.sort_by(|a, b| a.0.cmp(&b.0));
        // Ingest computed each manifest and its file hash from the same bytes: record the
        // pairs as proven so readers need not hash these files whole. Only an optimisation,
        // so a failure to record does not fail the add.
        let proven: Vec<_> = (staged.iter())
            .filter_map(|(_, e, _)| e.manifest.map(|m| (e.hash, m)))
            .collect();
        let _ = crate::snapshot::ProofLog::open(self.colony_dir()).record(&proven);
        for (path, entry, stat) in staged {
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

/// The staged entry of the symlink at `path`, refusing a target that leaves the tree
/// when read alone.
fn read_link_entry(root: &Path, path: &str) -> Result<FileEntry> {
    let full = worktree::safe_join(root, path)?;
    let t =
        std::fs::read_link(&full).map_err(|e| StoreError::io(format!("read link {path}"), e))?;
    let t = t
        .to_str()
        .ok_or_else(|| StoreError::Ref(format!("{path}: link target is not UTF-8")))?;
    if check_link_target(path, t).is_some() {
        return Err(StoreError::EscapingSymlink {
            path: path.into(),
            target: t.into(),
        });
    }
    Ok(FileEntry {
        mode: Mode::Link,
        size: t.len() as u64,
        hash: crate::Hash::of(t.as_bytes()),
        manifest: None,
        target: Some(t.into()),
    })
}

/// Refuses the add when the links staged after it (those already in the index and
/// `new_links`, with `files` about to replace whatever they were) would together leave
/// the tree ([`check_snapshot_links`]). Costs nothing when no link is staged or added.
fn check_links_after(
    ix: &Index,
    files: &[&WorkFile],
    new_links: &[Result<(String, FileEntry, Stat)>],
) -> Result<()> {
    let staged_link =
        |e: &crate::index::IndexEntry| e.staged.as_ref().is_some_and(|s| s.mode == Mode::Link);
    if new_links.is_empty() && !ix.entries.values().any(staged_link) {
        return Ok(());
    }
    let mut after = ix.staged_snapshot();
    for w in files {
        // Content does not matter here, only that the path is a file now.
        after.insert(
            w.path.clone(),
            FileEntry {
                mode: Mode::File,
                size: 0,
                hash: crate::Hash::of(b""),
                manifest: None,
                target: None,
            },
        );
    }
    for (path, e, _) in new_links.iter().flatten() {
        after.insert(path.clone(), e.clone());
    }
    check_snapshot_links(&after)
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
