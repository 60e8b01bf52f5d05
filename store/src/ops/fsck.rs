//! `fsck`: check every shard, record, manifest, pointer and ref, and name what a damaged
//! object affects. The refs checked are the roots gc keeps alive ([`Repo::roots`]):
//! what gc keeps, fsck checks. A ref that names no commit here is an error naming it.

use std::collections::{BTreeSet, HashMap, HashSet};

use rayon::prelude::*;

use crate::Hash;
use crate::chunks::{ChunkStore, Location};
use crate::content::chunk_list;
use crate::error::Result;
use crate::repo::Repo;
use crate::shard::check_layout;
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

/// Records that no good copy the index can reach holds, each with the shard of its
/// indexed copy and why that copy is bad.
type BadRecords = HashMap<Hash, (Hash, String)>;

/// Damaged copies found, per record: (shard, why).
type BadCopies = HashMap<Hash, Vec<(Hash, String)>>;

/// A file's verdict: the first damaged object it depends on, if any, and why.
type Verdict = Option<(String, String)>;

fn shard_error(id: &Hash, problem: String) -> FsckError {
    FsckError {
        object: format!("shard {id}"),
        problem,
        files: vec![],
        commits: vec![],
    }
}

/// Checks every shard file and every record in it (as a received shard is checked:
/// layout, claims, each record's bytes against its hash), and the index's shards that
/// have no file. Returns every damaged copy found.
fn check_shards(store: &ChunkStore, report: &mut FsckReport) -> Result<BadCopies> {
    let mut bad: BadCopies = HashMap::new();
    let files: BTreeSet<Hash> = store.shard_files()?.into_iter().collect();
    let indexed: BTreeSet<Hash> = store
        .indexed_shards()?
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    // Every copy the index points into shard `id`, marked bad for `why`.
    let mark_indexed = |id: &Hash, why: &str, bad: &mut BadCopies| -> Result<()> {
        let mut mark = |h: Hash, loc: Location| {
            if loc.shard == *id {
                bad.entry(h).or_default().push((*id, why.to_string()));
            }
        };
        store.for_each_record(&mut mark)?;
        store.for_each_alternate(&mut mark)
    };
    for id in &files {
        report.shards += 1;
        let shard = match store.shard(id) {
            Ok(s) => s,
            Err(e) => {
                report.errors.push(shard_error(id, e.to_string()));
                continue;
            }
        };
        let whole = shard.hash_file()?;
        let mut problems = Vec::new();
        if whole != *id {
            problems.push(format!("content hashes to {whole}, not to its name"));
        }
        match shard.layout() {
            Err(e) => {
                problems.push(e.to_string());
                mark_indexed(id, "its shard's table is unreadable", &mut bad)?;
            }
            Ok((table, table_offset)) => {
                if let Err(why) = check_layout(&table, table_offset) {
                    problems.push(why);
                }
                report.records += table.len() as u64;
                let failed: Vec<(Hash, String)> = table
                    .par_iter()
                    .filter_map(|e| shard.verify(e).err().map(|err| (e.hash, err.to_string())))
                    .collect();
                if let Some((_, first)) = failed.first() {
                    problems.push(format!(
                        "{} of its {} records do not hold the bytes their table names (first: {first})",
                        failed.len(),
                        table.len()
                    ));
                }
                for (h, why) in failed {
                    bad.entry(h).or_default().push((*id, why));
                }
            }
        }
        if !problems.is_empty() {
            report.errors.push(shard_error(id, problems.join("; ")));
        }
        if !indexed.contains(id) {
            report.warnings.push(format!("shard {id} is not in the chunk index (left by an interrupted write; `colony gc` re-indexes or removes it)"));
        }
    }
    for id in indexed.difference(&files) {
        report
            .errors
            .push(shard_error(id, "indexed but the file is missing".into()));
        mark_indexed(id, "its shard file is missing", &mut bad)?;
    }
    Ok(bad)
}

/// Of the records with a damaged copy, those no good copy the index knows of holds:
/// reads of them fail. A damaged indexed copy with a good alternate is a warning (reads
/// fall back; gc makes the good copy the indexed one).
fn lost_records(
    store: &ChunkStore,
    bad: &BadCopies,
    report: &mut FsckReport,
) -> Result<BadRecords> {
    let mut lost = BadRecords::new();
    if bad.is_empty() {
        return Ok(lost);
    }
    let files: BTreeSet<Hash> = store.shard_files()?.into_iter().collect();
    let is_bad = |h: &Hash, shard: &Hash| {
        bad.get(h)
            .is_some_and(|c| c.iter().any(|(s, _)| s == shard))
    };
    // Good copies in shard files the index does not (yet) point to for that record: an
    // index written before alternates were kept, or a shard not indexed yet.
    let mut elsewhere: HashMap<Hash, Hash> = HashMap::new();
    for id in &files {
        if let Ok(table) = store.shard(id).and_then(|s| s.table()) {
            for e in table {
                if bad.contains_key(&e.hash) && !is_bad(&e.hash, id) {
                    elsewhere.entry(e.hash).or_insert(*id);
                }
            }
        }
    }
    for (h, copies) in bad {
        let Some(indexed) = store.locate(h)? else {
            continue; // not indexed: a file that needs it is reported as missing it
        };
        let mut reachable = vec![indexed];
        reachable.extend(store.alternates(h)?);
        let good = reachable
            .iter()
            .find(|l| files.contains(&l.shard) && !is_bad(h, &l.shard));
        let indexed_bad = copies.iter().find(|(s, _)| *s == indexed.shard);
        match (good, indexed_bad) {
            (Some(g), Some((s, why))) => report.warnings.push(format!(
                "record {h}: its indexed copy in shard {s} is damaged ({why}); reads use the good copy in shard {}, and gc makes that the indexed one",
                g.shard
            )),
            (Some(_), None) => {}
            (None, _) => {
                let (s, why) = indexed_bad.unwrap_or(&copies[0]);
                let why = match elsewhere.get(h) {
                    Some(g) => format!(
                        "{why}; a good copy is in shard {g}, which gc makes the indexed one"
                    ),
                    None => why.clone(),
                };
                lost.insert(*h, (*s, why));
            }
        }
    }
    Ok(lost)
}

impl Repo {
    /// Checks the whole store. Never changes anything.
    pub fn fsck(&self) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let store = self.chunks()?;
        let copies = check_shards(store, &mut report)?;
        let bad = lost_records(store, &copies, &mut report)?;
        // Refs → commits: every root gc keeps alive (remote-tracking branches, run
        // records and a merge in progress included), so that what gc keeps is checked.
        let roots = self.roots()?;
        for (name, why) in &roots.dangling {
            report.errors.push(FsckError {
                object: format!("ref {name}"),
                problem: why.clone(),
                files: vec![],
                commits: vec![],
            });
        }
        let mut good_tips = Vec::new();
        for (name, id) in &roots.tips {
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
