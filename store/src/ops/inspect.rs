//! `log`, `show`, `diff` and `cat`: reading history without changing anything.

use std::collections::HashMap;
use std::io::Write;

use crate::Hash;
use crate::content::write_content;
use crate::error::{Result, StoreError};
use crate::history::CommitInfo;
use crate::repo::Repo;
use crate::snapshot::{FileEntry, Mode, Snapshot, snapshot_root};

/// One file of a snapshot, as `show` lists it.
#[derive(Debug, serde::Serialize)]
pub struct ShownFile {
    /// Dataset path.
    pub path: String,
    /// BLAKE3 of the content.
    pub hash: Hash,
    /// Size in bytes.
    pub size: u64,
    /// file, exec or link.
    pub mode: Mode,
}

/// `show REV`.
#[derive(Debug, serde::Serialize)]
pub struct ShowReport {
    /// The commit.
    #[serde(flatten)]
    pub info: CommitInfo,
    /// Its files.
    pub files: Vec<ShownFile>,
    /// Total size.
    pub bytes: u64,
}

/// A path present on both sides of a diff with different content.
#[derive(Debug, serde::Serialize)]
pub struct Modified {
    /// Dataset path.
    pub path: String,
    /// Size before.
    pub old_size: u64,
    /// Size after.
    pub new_size: u64,
    /// Whether only the mode changed.
    pub mode_only: bool,
}

/// A path that moved with its content unchanged.
#[derive(Debug, serde::Serialize)]
pub struct Renamed {
    /// Old path.
    pub from: String,
    /// New path.
    pub to: String,
    /// Size.
    pub size: u64,
}

/// A path on one side only.
#[derive(Debug, serde::Serialize)]
pub struct Sided {
    /// Dataset path.
    pub path: String,
    /// Size.
    pub size: u64,
}

/// `diff A B`.
#[derive(Debug, Default, serde::Serialize)]
pub struct DiffReport {
    /// What is compared from.
    pub from: String,
    /// What is compared to.
    pub to: String,
    /// New paths.
    pub added: Vec<Sided>,
    /// Gone paths.
    pub removed: Vec<Sided>,
    /// Changed paths.
    pub modified: Vec<Modified>,
    /// Moved paths (same content, new path).
    pub renamed: Vec<Renamed>,
    /// Net change in total size.
    pub bytes_delta: i64,
}

/// Compares two snapshots; a removed and an added path with equal content are a rename.
pub fn diff_snapshots(a: &Snapshot, b: &Snapshot) -> DiffReport {
    let mut r = DiffReport::default();
    let mut added: Vec<(&String, &FileEntry)> = Vec::new();
    let mut removed: Vec<(&String, &FileEntry)> = Vec::new();
    for (p, ea) in a {
        match b.get(p) {
            None => removed.push((p, ea)),
            Some(eb) if !ea.same_content(eb) => r.modified.push(Modified {
                path: p.clone(),
                old_size: ea.size,
                new_size: eb.size,
                mode_only: ea.hash == eb.hash && ea.size == eb.size,
            }),
            Some(_) => {}
        }
    }
    for (p, eb) in b {
        if !a.contains_key(p) {
            added.push((p, eb));
        }
    }
    let mut by_hash: HashMap<(Hash, Mode), Vec<&String>> = HashMap::new();
    for (p, e) in &added {
        by_hash.entry((e.hash, e.mode)).or_default().push(p);
    }
    let mut renamed_to = std::collections::HashSet::new();
    for (p, e) in &removed {
        if let Some(v) = by_hash.get_mut(&(e.hash, e.mode))
            && let Some(to) = v.pop()
        {
            renamed_to.insert(to.clone());
            r.renamed.push(Renamed {
                from: (*p).clone(),
                to: to.clone(),
                size: e.size,
            });
            continue;
        }
        r.removed.push(Sided {
            path: (*p).clone(),
            size: e.size,
        });
    }
    for (p, e) in added {
        if !renamed_to.contains(p) {
            r.added.push(Sided {
                path: p.clone(),
                size: e.size,
            });
        }
    }
    let total = |s: &Snapshot| s.values().map(|e| e.size as i64).sum::<i64>();
    r.bytes_delta = total(b) - total(a);
    r
}

impl Repo {
    /// Commits reachable from `rev` (default HEAD), newest first, at most `limit`.
    pub fn log(&self, rev: Option<&str>, limit: Option<usize>) -> Result<Vec<CommitInfo>> {
        let tip = match rev {
            Some(r) => self.resolve(r)?,
            None => match self.head()?.commit() {
                Some(c) => c,
                None => return Ok(Vec::new()),
            },
        };
        let ids = self.history().walk(&[tip])?;
        ids.into_iter()
            .take(limit.unwrap_or(usize::MAX))
            .map(|id| self.history().commit_info(id))
            .collect()
    }

    /// A commit and its files.
    pub fn show(&self, rev: &str) -> Result<ShowReport> {
        let id = self.resolve(rev)?;
        let info = self.history().commit_info(id)?;
        let snap = self.history().read_snapshot(id)?;
        let files: Vec<ShownFile> = snap
            .files
            .iter()
            .map(|(p, e)| ShownFile {
                path: p.clone(),
                hash: e.hash,
                size: e.size,
                mode: e.mode,
            })
            .collect();
        Ok(ShowReport {
            bytes: files.iter().map(|f| f.size).sum(),
            info,
            files,
        })
    }

    /// Compares two revisions; `None` for `to` means the work tree (tracked files).
    pub fn diff(&self, from: &str, to: Option<&str>) -> Result<DiffReport> {
        let a = self.snapshot_of(self.resolve(from)?)?;
        let (b, to_name) = match to {
            Some(t) => (self.snapshot_of(self.resolve(t)?)?, t.to_string()),
            None => (self.work_tree_snapshot()?, "work tree".to_string()),
        };
        let mut r = diff_snapshots(&a, &b);
        r.from = from.to_string();
        r.to = to_name;
        Ok(r)
    }

    /// Streams `path` as of `rev` to `out`, verified.
    pub fn cat(&self, rev: &str, path: &str, out: &mut dyn Write) -> Result<u64> {
        let id = self.resolve(rev)?;
        let snap = self.history().read_snapshot(id)?;
        let path = path.trim_start_matches("./").trim_end_matches('/');
        let e = snap.files.get(path).ok_or_else(|| StoreError::NoSuchPath {
            path: path.into(),
            rev: rev.into(),
        })?;
        write_content(self.chunks()?, path, e, out)
    }

    /// The snapshot root of a revision as recomputed from its pointers (not the bytes).
    pub fn root_of(&self, rev: &str) -> Result<Hash> {
        Ok(snapshot_root(&self.snapshot_of(self.resolve(rev)?)?).0)
    }
}
