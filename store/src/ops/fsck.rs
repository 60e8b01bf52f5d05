//! `fsck`: check every shard, record, manifest, pointer and ref, and name what a damaged
//! object affects.

use std::collections::{BTreeSet, HashMap, HashSet};

use gix::ObjectId;

use crate::Hash;
use crate::chunks::ChunkStore;
use crate::content::chunk_list;
use crate::error::Result;
use crate::repo::Repo;
use crate::snapshot::{FileEntry, Mode, snapshot_root};

/// One problem found.
#[derive(Debug, serde::Serialize)]
pub struct FsckError {
    /// The damaged object (`shard <hash>`, `chunk <hash>`, `commit <id>`, `ref <name>` …).
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
    /// Files (as `path`) whose bytes depend on it.
    pub files: Vec<String>,
    /// Commits containing those files.
    pub commits: Vec<String>,
}

/// The outcome of `fsck`.
#[derive(Debug, Default, serde::Serialize)]
pub struct FsckReport {
    /// True when no error was found.
    pub ok: bool,
    /// Every error.
    pub errors: Vec<FsckError>,
    /// Things that are not damage but deserve a look (e.g. shards left by a crash).
    pub warnings: Vec<String>,
    /// Shards checked.
    pub shards: usize,
    /// Records checked.
    pub records: u64,
    /// Commits checked.
    pub commits: usize,
}

/// Records found bad, with the shard and why.
type BadRecords = HashMap<Hash, (Hash, String)>;

/// A file's verdict: the first damaged object it depends on, if any, and why.
type Verdict = Option<(String, String)>;

fn check_shards(store: &ChunkStore, report: &mut FsckReport) -> Result<BadRecords> {
    let mut bad: BadRecords = HashMap::new();
    let files: BTreeSet<Hash> = store.shard_files()?.into_iter().collect();
    let indexed: BTreeSet<Hash> = store
        .indexed_shards()?
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    for id in &files {
        report.shards += 1;
        let shard = match store.shard(id) {
            Ok(s) => s,
            Err(e) => {
                report.errors.push(FsckError {
                    object: format!("shard {id}"),
                    problem: e.to_string(),
                    files: vec![],
                    commits: vec![],
                });
                continue;
            }
        };
        let whole = shard.hash_file()?;
        let mut shard_problem =
            (whole != *id).then(|| format!("content hashes to {whole}, not to its name"));
        match shard.table() {
            Err(e) => {
                shard_problem = Some(e.to_string());
                store.for_each_record(|h, loc| {
                    if loc.shard == *id {
                        bad.insert(h, (*id, "its shard's table is unreadable".into()));
                    }
                })?;
            }
            Ok(table) => {
                for e in &table {
                    report.records += 1;
                    if let Err(err) = shard.read(e) {
                        bad.insert(e.hash, (*id, err.to_string()));
                    }
                }
            }
        }
        if let Some(p) = shard_problem {
            report.errors.push(FsckError {
                object: format!("shard {id}"),
                problem: p,
                files: vec![],
                commits: vec![],
            });
        }
        if !indexed.contains(id) {
            report.warnings.push(format!("shard {id} is not in the chunk index (left by an interrupted write; `colony gc` re-indexes or removes it)"));
        }
    }
    for id in indexed.difference(&files) {
        report.errors.push(FsckError {
            object: format!("shard {id}"),
            problem: "indexed but the file is missing".into(),
            files: vec![],
            commits: vec![],
        });
        store.for_each_record(|h, loc| {
            if loc.shard == *id {
                bad.insert(h, (*id, "its shard file is missing".into()));
            }
        })?;
    }
    Ok(bad)
}

impl Repo {
    /// Checks the whole store. Never changes anything.
    pub fn fsck(&self) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let store = self.chunks()?;
        let bad = check_shards(store, &mut report)?;
        // Refs → commits.
        let mut tips: Vec<(String, ObjectId)> = Vec::new();
        // Run records (`refs/runs/`) are commits whose trees hold checkpoints: live data.
        for prefix in ["refs/heads/", "refs/tags/", "refs/pins/", "refs/runs/"] {
            match self.history().list_refs(prefix) {
                Ok(v) => tips.extend(v.into_iter().map(|(n, id)| (format!("{prefix}{n}"), id))),
                Err(e) => report.errors.push(FsckError {
                    object: format!("refs {prefix}"),
                    problem: e.to_string(),
                    files: vec![],
                    commits: vec![],
                }),
            }
        }
        match self.head() {
            Ok(h) => tips.extend(h.commit().map(|c| ("HEAD".to_string(), c))),
            Err(e) => report.errors.push(FsckError {
                object: "ref HEAD".into(),
                problem: e.to_string(),
                files: vec![],
                commits: vec![],
            }),
        }
        let mut good_tips = Vec::new();
        for (name, id) in &tips {
            match self.history().commit_info(*id) {
                Ok(_) => good_tips.push(*id),
                Err(e) => report.errors.push(FsckError {
                    object: format!("ref {name}"),
                    problem: format!("points to {id}: {e}"),
                    files: vec![],
                    commits: vec![],
                }),
            }
        }
        let commits = self.history().walk(&good_tips)?;
        report.commits = commits.len();
        // Per damaged object: affected (path, commit).
        let mut affected: HashMap<String, (BTreeSet<String>, BTreeSet<String>)> = HashMap::new();
        let mut checked: HashMap<(Hash, Option<Hash>), Verdict> = HashMap::new();
        for id in &commits {
            let info = self.history().commit_info(*id)?;
            let snap = match self.history().read_snapshot(*id) {
                Ok(s) => s,
                Err(e) => {
                    report.errors.push(FsckError {
                        object: format!("commit {id}"),
                        problem: e.to_string(),
                        files: vec![],
                        commits: vec![id.to_string()],
                    });
                    continue;
                }
            };
            for h in &snap.hostile {
                report.errors.push(FsckError {
                    object: format!("commit {id}"),
                    problem: format!("hostile path `{}`: {}", h.path, h.why),
                    files: vec![h.path.clone()],
                    commits: vec![id.to_string()],
                });
            }
            let root = snapshot_root(&snap.files).0;
            match info.root {
                None => report.errors.push(FsckError {
                    object: format!("commit {id}"),
                    problem: "has no Colony-Root trailer".into(),
                    files: vec![],
                    commits: vec![id.to_string()],
                }),
                Some(r) if r != root => report.errors.push(FsckError {
                    object: format!("commit {id}"),
                    problem: format!("records root {r} but its tree gives {root}"),
                    files: vec![],
                    commits: vec![id.to_string()],
                }),
                _ => {}
            }
            for (path, e) in &snap.files {
                let key = (e.hash, e.manifest);
                let verdict = match checked.get(&key) {
                    Some(v) => v.clone(),
                    None => {
                        let v = self.check_file(store, path, e, &bad);
                        checked.insert(key, v.clone());
                        v
                    }
                };
                if let Some((object, _)) = verdict {
                    let slot = affected.entry(object).or_default();
                    slot.0.insert(path.clone());
                    slot.1.insert(id.to_string());
                }
            }
        }
        // Staged content the next commit needs.
        match self.load_index() {
            Err(e) => report.errors.push(FsckError {
                object: "index".into(),
                problem: e.to_string(),
                files: vec![],
                commits: vec![],
            }),
            Ok(ix) => {
                for (path, e) in &ix.entries {
                    if let Some(s) = &e.staged
                        && let Some((object, _)) = self.check_file(store, path, s, &bad)
                    {
                        affected
                            .entry(object)
                            .or_default()
                            .0
                            .insert(format!("{path} (staged)"));
                    }
                }
            }
        }
        // One error per damaged object, naming what it affects.
        let mut problems: HashMap<String, String> = HashMap::new();
        for (h, (shard, why)) in &bad {
            problems.insert(format!("chunk {h}"), format!("in shard {shard}: {why}"));
        }
        let mut keys: Vec<&String> = affected.keys().collect();
        keys.sort();
        // A sparse clone lacks, on purpose, what it did not fetch: the chunks of files
        // outside its patterns, and of older versions of the files inside them. Only a
        // missing chunk that the checked-out snapshot (HEAD or the index) needs for a
        // file inside the patterns is an error there.
        let sparse = self.sparse()?;
        let head = self
            .head()
            .ok()
            .and_then(|h| h.commit())
            .map(|c| c.to_string());
        let mut not_fetched = 0usize;
        for object in keys {
            let (files, commits) = &affected[object];
            let needed_here = |s: &crate::ops::sparse::Sparse| {
                files.iter().any(|f| match f.strip_suffix(" (staged)") {
                    Some(staged) => s.contains(staged),
                    None => s.contains(f) && head.as_ref().is_some_and(|h| commits.contains(h)),
                })
            };
            if let Some(s) = &sparse
                && !problems.contains_key(object)
                && !needed_here(s)
            {
                not_fetched += 1;
                continue;
            }
            let problem = problems.get(object).cloned().unwrap_or_else(|| {
                if object.starts_with("manifest") {
                    "missing or unreadable".into()
                } else {
                    "missing from the store".into()
                }
            });
            report.errors.push(FsckError {
                object: object.clone(),
                problem,
                files: files.iter().cloned().collect(),
                commits: commits.iter().cloned().collect(),
            });
        }
        if let Some(s) = &sparse
            && not_fetched > 0
        {
            report.warnings.push(format!(
                "{not_fetched} chunks or manifests are not here: this sparse clone holds only the shards that `{}` needed at the cloned commit (`colony fetch REMOTE` brings the rest)",
                s.patterns.join("`, `")
            ));
        }
        // Name the files on the shard-level errors too.
        for err in report
            .errors
            .iter_mut()
            .filter(|e| e.object.starts_with("shard "))
        {
            let shard: Option<Hash> = err.object[6..].parse().ok();
            let mut files = BTreeSet::new();
            let mut commits = BTreeSet::new();
            for (h, (s, _)) in &bad {
                if Some(*s) == shard
                    && let Some((f, c)) = affected.get(&format!("chunk {h}"))
                {
                    files.extend(f.iter().cloned());
                    commits.extend(c.iter().cloned());
                }
            }
            err.files = files.into_iter().collect();
            err.commits = commits.into_iter().collect();
        }
        report.ok = report.errors.is_empty();
        Ok(report)
    }

    /// The first damaged object a file depends on, if any, as (object name, reason).
    fn check_file(
        &self,
        store: &ChunkStore,
        path: &str,
        e: &FileEntry,
        bad: &BadRecords,
    ) -> Verdict {
        if e.mode == Mode::Link || e.size == 0 {
            return None;
        }
        if let Some(m) = &e.manifest
            && bad.contains_key(m)
        {
            return Some((format!("chunk {m}"), "manifest damaged".into()));
        }
        let chunks = match chunk_list(store, e) {
            Ok(c) => c,
            Err(err) => {
                let m = e.manifest.unwrap_or(e.hash);
                return Some((format!("manifest {m}"), format!("{path}: {err}")));
            }
        };
        let mut seen: HashSet<Hash> = HashSet::new();
        for (c, _) in chunks {
            if !seen.insert(c) {
                continue;
            }
            if bad.contains_key(&c) {
                return Some((format!("chunk {c}"), String::new()));
            }
            if !store.contains(&c).unwrap_or(false) {
                return Some((format!("chunk {c}"), "missing".into()));
            }
        }
        None
    }
}
