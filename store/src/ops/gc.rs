//! `gc`: drop shard records nothing reaches. Branches, tags, pins, remote-tracking
//! branches, run records, HEAD, a merge in progress and the index are roots
//! ([`Repo::roots`]); everything they reach is kept. New shards are durable and indexed
//! before old ones are forgotten and deleted, so a crash at any point loses nothing live.
//!
//! Before a shard goes, every live record it holds a copy of is checked where the index
//! keeps it: when that copy is damaged (a disk error, or a store poisoned by a forged
//! shard before received shards were verified record by record) and this one is good,
//! this one becomes the indexed copy and the shard stays. A ref that names no commit
//! here (dangling) is reported and skipped; while one exists gc deletes nothing, since
//! what it was meant to keep cannot be known.

use std::collections::HashSet;

use gix::ObjectId;
use gix::bstr::ByteSlice;

use crate::Hash;
use crate::chunks::{ChunkStore, Location};
use crate::content::chunk_list;
use crate::error::{Result, StoreError};
use crate::history::History;
use crate::repo::Repo;
use crate::shard::{ShardEntry, ShardWriter, read_record, verify_shard_file};
use crate::snapshot::{FileEntry, Mode};

/// What `gc` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    /// Records still reachable.
    pub live_records: usize,
    /// Shards deleted because nothing in them was live.
    pub shards_removed: usize,
    /// Shards rewritten to drop dead records.
    pub shards_repacked: usize,
    /// Shards left by an interrupted write that were indexed again.
    pub shards_reindexed: usize,
    /// Records dropped from the index.
    pub records_dropped: usize,
    /// Records whose indexed copy was damaged and that now point at a good copy.
    pub records_repaired: usize,
    /// Bytes of shard files freed.
    pub bytes_freed: u64,
    /// Temporary files removed.
    pub temporaries_removed: u64,
    /// Refs (and HEAD) that name no commit here, each with why. While any exists,
    /// nothing is deleted.
    pub dangling_refs: Vec<String>,
    /// Things left as they were, and why.
    pub warnings: Vec<String>,
}

/// The ref folders whose commits gc keeps alive and fsck checks: branches, tags, pins,
/// remote-tracking branches (kept until merged or the remote is removed) and run records
/// (whose trees hold training checkpoints).
pub const ROOT_REF_PREFIXES: [&str; 5] = [
    "refs/heads/",
    "refs/tags/",
    "refs/pins/",
    "refs/remotes/",
    "refs/runs/",
];

/// One ref as stored, read without trusting what it names.
#[derive(Clone, Debug)]
pub struct RefEntry {
    /// Its full name (`refs/remotes/origin/main`); for a ref that could not be read at
    /// all, the folder it is in.
    pub name: String,
    /// The object id it holds, when it holds one directly (tags not peeled).
    pub raw: Option<ObjectId>,
    /// The commit it names (an annotated tag peeled), or why it names none here.
    pub commit: std::result::Result<ObjectId, String>,
}

/// Every ref under `prefix`, each read on its own: one that names a missing object (a
/// dangling ref) or cannot be read is returned with why, instead of failing the whole
/// listing as [`History::list_refs`] does.
pub fn refs_under(history: &History, prefix: &str) -> Result<Vec<RefEntry>> {
    let platform = history.repo().references().map_err(StoreError::git)?;
    let mut out = Vec::new();
    for r in platform.prefixed(prefix).map_err(StoreError::git)? {
        let mut r = match r {
            Ok(r) => r,
            Err(e) => {
                out.push(RefEntry {
                    name: prefix.to_string(),
                    raw: None,
                    commit: Err(format!("holds a ref that cannot be read ({e})")),
                });
                continue;
            }
        };
        let name = r.name().as_bstr().to_str_lossy().to_string();
        let raw = r.target().try_id().map(ToOwned::to_owned);
        let commit = match r.peel_to_id() {
            Ok(id) => commit_here(history, id.detach()),
            Err(e) => Err(match raw {
                Some(id) if !history.repo().has_object(id) => {
                    format!("points to {id}, which is not in the history")
                }
                _ => format!("cannot be followed ({e})"),
            }),
        };
        out.push(RefEntry { name, raw, commit });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `Ok(id)` when `id` is a commit in `history`, else why not.
fn commit_here(history: &History, id: ObjectId) -> std::result::Result<ObjectId, String> {
    match history.repo().find_header(id) {
        Ok(h) if h.kind() == gix::objs::Kind::Commit => Ok(id),
        Ok(h) => Err(format!(
            "points to {id}, a {} rather than a commit",
            h.kind()
        )),
        Err(_) if !history.repo().has_object(id) => {
            Err(format!("points to {id}, which is not in the history"))
        }
        Err(e) => Err(format!("points to {id}, which cannot be read ({e})")),
    }
}

/// What keeps data alive: the commits gc keeps and fsck checks.
#[derive(Debug, Default)]
pub struct Roots {
    /// (what names it, commit) for every root that names a commit here.
    pub tips: Vec<(String, ObjectId)>,
    /// (name, why) for every ref (or HEAD) that names no commit here.
    pub dangling: Vec<(String, String)>,
}

impl Repo {
    /// The roots of the history: every ref under [`ROOT_REF_PREFIXES`], HEAD and the
    /// other side of a merge in progress. Dangling refs are listed apart, not errors.
    pub fn roots(&self) -> Result<Roots> {
        let mut roots = Roots::default();
        for prefix in ROOT_REF_PREFIXES {
            for r in refs_under(self.history(), prefix)? {
                match r.commit {
                    Ok(id) => roots.tips.push((r.name, id)),
                    Err(why) => roots.dangling.push((r.name, why)),
                }
            }
        }
        match self.head() {
            Ok(h) => {
                if let Some(c) = h.commit() {
                    match commit_here(self.history(), c) {
                        Ok(id) => roots.tips.push(("HEAD".into(), id)),
                        Err(why) => roots.dangling.push(("HEAD".into(), why)),
                    }
                }
            }
            Err(e) => roots.dangling.push(("HEAD".into(), e.to_string())),
        }
        if let Some(m) = self.merge_state()?
            && let Ok(c) = self.resolve(&m.theirs)
        {
            roots
                .tips
                .push((format!("the merge in progress ({})", m.theirs), c));
        }
        Ok(roots)
    }

    /// Every record (chunk or manifest) reachable from refs, HEAD and the index.
    pub fn live_records(&self) -> Result<HashSet<Hash>> {
        self.live_from(&self.roots()?)
    }

    /// Every record reachable from `roots` and the index.
    fn live_from(&self, roots: &Roots) -> Result<HashSet<Hash>> {
        let store = self.chunks()?;
        let mut tips: Vec<ObjectId> = roots.tips.iter().map(|(_, id)| *id).collect();
        // Revisions open in readers (`SnapshotReader`) stay until the readers close.
        tips.extend(crate::snapshot::leased_commits(
            self.colony_dir(),
            self.history(),
        )?);
        let mut live = HashSet::new();
        let mut seen_files: HashSet<(Hash, Option<Hash>)> = HashSet::new();
        let mut add = |e: &FileEntry, live: &mut HashSet<Hash>| -> Result<()> {
            if e.mode == Mode::Link || e.size == 0 || !seen_files.insert((e.hash, e.manifest)) {
                return Ok(());
            }
            if let Some(m) = e.manifest {
                live.insert(m);
            }
            for (c, _) in chunk_list(store, e)? {
                live.insert(c);
            }
            Ok(())
        };
        let mut seen_trees = HashSet::new();
        for id in self.history().walk(&tips)? {
            let tree = self.history().commit_tree(id)?;
            if !seen_trees.insert(tree) {
                continue;
            }
            for e in self.history().read_tree(tree)?.files.values() {
                add(e, &mut live)?;
            }
        }
        for e in self.load_index()?.entries.values() {
            for f in e.staged.iter().chain(e.base.iter()) {
                add(f, &mut live)?;
            }
        }
        Ok(live)
    }

    /// Collects garbage: re-indexes shards left by crashes (after verifying every
    /// record), repairs records whose indexed copy is damaged where a good copy exists,
    /// deletes shards with nothing live, and repacks shards that are mostly dead.
    pub fn gc(&self) -> Result<GcReport> {
        let store = self.chunks()?;
        let mut report = GcReport {
            temporaries_removed: store.clean_temporaries()?,
            ..Default::default()
        };
        let indexed: HashSet<Hash> = store
            .indexed_shards()?
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        for id in store.shard_files()? {
            if indexed.contains(&id) {
                continue;
            }
            match verify_shard_file(id, &crate::shard_path(store.dir(), &id), false) {
                Ok(sealed) => {
                    store.index_shard(&sealed)?;
                    report.shards_reindexed += 1;
                }
                Err(e) => report.warnings.push(format!(
                    "shard {id} is not indexed and failed verification ({e}); it was left as it is"
                )),
            }
        }
        // Reads (of manifests, below) fall back to other copies only where the index
        // knows them: an index written before it kept them learns them first.
        if !store.alternates_complete()? {
            store.complete_alternates()?;
        }
        let roots = self.roots()?;
        for (name, why) in &roots.dangling {
            report.dangling_refs.push(format!("{name}: {why}"));
        }
        let live = self.live_from(&roots)?;
        report.live_records = live.len();
        if !roots.dangling.is_empty() {
            report.warnings.push(format!(
                "nothing was deleted: {} ref(s) name no commit here, so what they were meant to keep cannot be known; delete them (or remove their remote) and collect again",
                roots.dangling.len()
            ));
            return Ok(report);
        }
        // A repair hands records to a shard seen earlier in the pass; once more lets the
        // shard that lost them go.
        for _ in 0..2 {
            if sweep(store, &live, &mut report)? == 0 {
                break;
            }
        }
        Ok(report)
    }
}

/// One pass over the indexed shards: delete those with nothing live, repack those
/// mostly dead. Returns how many records it repaired.
fn sweep(store: &ChunkStore, live: &HashSet<Hash>, report: &mut GcReport) -> Result<usize> {
    let mut repaired = 0;
    for (id, size) in store.indexed_shards()? {
        let Ok(shard) = store.shard(&id) else {
            report.warnings.push(format!(
                "shard {id} is indexed but cannot be opened; it was left as it is"
            ));
            continue;
        };
        let table = match shard.table() {
            Ok(t) => t,
            Err(e) => {
                report
                    .warnings
                    .push(format!("{e}; the shard was left as it is"));
                continue;
            }
        };
        // Records whose index entry points here, and live records indexed elsewhere
        // that this shard also holds a copy of.
        let mut owned = Vec::new();
        let mut copies = Vec::new();
        for e in &table {
            match store.locate(&e.hash)? {
                Some(l) if l.shard == id => owned.push(*e),
                Some(_) if live.contains(&e.hash) => copies.push(*e),
                _ => {}
            }
        }
        let (mut keep, dead): (Vec<_>, Vec<_>) =
            owned.into_iter().partition(|e| live.contains(&e.hash));
        let dead_bytes: u64 = dead.iter().map(|e| e.stored_len as u64).sum();
        if keep.is_empty() || dead_bytes * 2 > size {
            // This shard's copies are about to go: keep the better copy of each.
            for e in copies {
                let Some(indexed) = store.locate(&e.hash)? else {
                    continue;
                };
                if store.read_at(&indexed).is_err() && shard.verify(&e).is_ok() {
                    store.promote(
                        &e.hash,
                        &Location {
                            shard: id,
                            entry: e,
                        },
                    )?;
                    keep.push(e);
                    repaired += 1;
                    report.records_repaired += 1;
                }
            }
        }
        let dead_hashes: Vec<Hash> = dead.iter().map(|e| e.hash).collect();
        if keep.is_empty() {
            store.forget(&dead_hashes, &[(id, &table)])?;
            store.remove_shard_file(&id)?;
            report.shards_removed += 1;
            report.records_dropped += dead_hashes.len();
            report.bytes_freed += size;
        } else if dead_bytes * 2 > size {
            repack(store, &shard, &table, &keep, &dead_hashes, size, report)?;
        }
    }
    Ok(repaired)
}

/// Rewrites shard `shard` with only `keep`, then forgets it. A kept record whose copy
/// here is damaged is taken from a good alternate instead; with none, the shard is left
/// as it is (and `fsck` names the record).
fn repack(
    store: &ChunkStore,
    shard: &crate::shard::ShardFile,
    table: &[ShardEntry],
    keep: &[ShardEntry],
    dead_hashes: &[Hash],
    size: u64,
    report: &mut GcReport,
) -> Result<()> {
    let id = shard.id;
    let mut w = ShardWriter::create(&store.dir().join("tmp"))?;
    let mut moved: Vec<(Hash, Location)> = Vec::new();
    for e in keep {
        let stored = shard.read_stored(e)?;
        if read_record(id, e, stored.clone()).is_ok() {
            w.append(e.hash, e.kind, e.raw_len, &stored, e.compressed)?;
            continue;
        }
        let good = store
            .alternates(&e.hash)?
            .into_iter()
            .find(|alt| alt.shard != id && store.read_at(alt).is_ok());
        match good {
            Some(alt) => moved.push((e.hash, alt)),
            None => {
                report.warnings.push(format!(
                    "shard {id} was not repacked: its copy of record {} is damaged and no good copy is known",
                    e.hash
                ));
                return Ok(()); // the writer's temporary file goes with the next gc
            }
        }
    }
    for (hash, alt) in &moved {
        store.promote(hash, alt)?;
        report.records_repaired += 1;
    }
    if let Some(sealed) = w.seal(store.dir())? {
        let new_size = sealed.size;
        store.reindex_shard(&sealed)?;
        store.forget(dead_hashes, &[(id, table)])?;
        store.remove_shard_file(&id)?;
        report.shards_repacked += 1;
        report.records_dropped += dead_hashes.len();
        report.bytes_freed += size.saturating_sub(new_size);
    } else {
        // Every kept record moved to a good copy elsewhere: nothing is left here.
        store.forget(dead_hashes, &[(id, table)])?;
        store.remove_shard_file(&id)?;
        report.shards_removed += 1;
        report.records_dropped += dead_hashes.len();
        report.bytes_freed += size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::ChunkStore;
    use crate::ops::remote::{LocalRemote, Remote};
    use crate::repo::InitOptions;
    use crate::shard::SealedShard;

    fn bytes(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 11) as u8)
            .collect()
    }

    /// A committed dataset holding `data.bin` (several chunks and a manifest).
    fn dataset(dir: &std::path::Path, content: &[u8]) -> Repo {
        let repo = Repo::init(dir, &InitOptions::default()).unwrap();
        std::fs::write(dir.join("data.bin"), content).unwrap();
        repo.add(&[String::new()]).unwrap();
        repo.commit("v1", false).unwrap();
        repo
    }

    fn cat(repo: &Repo, rev: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        repo.cat(rev, "data.bin", &mut out)?;
        Ok(out)
    }

    /// What a hostile mirror serves: a validly named shard listing every record of
    /// shard `id` (their hashes are public in pointers and manifests) over garbage.
    fn forge(store: &ChunkStore, id: &Hash) -> SealedShard {
        store.forge_copy_for_test(id)
    }

    /// Issue 21's poisoned store, made directly: the forged shard owns every record, the
    /// honest one owns nothing, and the index is as old colony left it (no alternates).
    /// `cat` fails and `fsck` says so and where a good copy is; `gc` repairs the index,
    /// keeps the honest shard and deletes the forged one; everything reads again.
    #[test]
    fn gc_repairs_a_poisoned_store_and_keeps_the_honest_shard() {
        let dir = tempfile::tempdir().unwrap();
        let content = bytes(900_000, 7);
        let repo = dataset(dir.path(), &content);
        let store = repo.chunks().unwrap();
        let honest = store.shard_files().unwrap();
        assert_eq!(honest.len(), 1);
        let forged = forge(store, &honest[0]);
        store.reindex_shard(&forged).unwrap();
        store.mark_alternates_incomplete_for_test();
        let err = cat(&repo, "HEAD").unwrap_err().to_string();
        assert!(err.contains(&forged.id.to_hex()), "{err}");

        let f = repo.fsck().unwrap();
        assert!(!f.ok);
        let text = serde_json::to_string(&f).unwrap();
        assert!(text.contains(&format!("shard {}", forged.id)), "{text}");
        assert!(
            text.contains(&format!("a good copy is in shard {}", honest[0])),
            "{text}"
        );

        let r = repo.gc().unwrap();
        assert!(r.records_repaired > 0, "{r:?}");
        assert_eq!(store.shard_files().unwrap(), honest, "{r:?}");
        assert_eq!(cat(&repo, "HEAD").unwrap(), content);
        let f = repo.fsck().unwrap();
        assert!(f.ok, "{:?}", f.errors);
    }

    /// A store poisoned before the honest shard arrived: fetching it (verified, so it is
    /// indexed) repairs reads at once through the alternates, and `gc` then drops the
    /// forged shard rather than the honest one.
    #[test]
    fn fetching_the_honest_shard_repairs_a_poisoned_store() {
        let top = tempfile::tempdir().unwrap();
        let content = bytes(700_000, 3);
        let origin_dir = top.path().join("origin");
        std::fs::create_dir(&origin_dir).unwrap();
        let origin = dataset(&origin_dir, &content);
        let honest = origin.chunks().unwrap().shard_files().unwrap();
        let forged_file = {
            let f = forge(origin.chunks().unwrap(), &honest[0]);
            let p = crate::shard_path(origin.chunks().unwrap().dir(), &f.id);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::remove_file(&p).unwrap();
            (f, bytes)
        };
        drop(origin);

        let b_dir = top.path().join("b");
        std::fs::create_dir(&b_dir).unwrap();
        let b = Repo::init(&b_dir, &InitOptions::default()).unwrap();
        let store = b.chunks().unwrap();
        // Old colony indexed the forged shard without looking at its records.
        let (forged, bytes) = forged_file;
        let p = crate::shard_path(store.dir(), &forged.id);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        store.index_shard(&forged).unwrap();

        let remote = LocalRemote::open("origin", &origin_dir).unwrap();
        let report = b.fetch_from(&remote as &dyn Remote).unwrap();
        assert_eq!(report.shards, 1, "{report:?}");
        assert_eq!(cat(&b, "origin/main").unwrap(), content);

        let r = b.gc().unwrap();
        assert!(r.records_repaired > 0, "{r:?}");
        assert_eq!(store.shard_files().unwrap(), honest);
        assert_eq!(cat(&b, "origin/main").unwrap(), content);
        assert!(b.fsck().unwrap().ok);
    }

    /// A ref to a missing commit (what a peer listing a tip it never sent used to
    /// leave): fsck names it, gc survives it and deletes nothing, a fetch from another
    /// remote works, and removing its remote removes it.
    #[test]
    fn a_dangling_remote_ref_is_reported_survived_and_removed() {
        let top = tempfile::tempdir().unwrap();
        let origin_dir = top.path().join("origin");
        std::fs::create_dir(&origin_dir).unwrap();
        drop(dataset(&origin_dir, &bytes(400_000, 5)));
        let a_dir = top.path().join("a");
        std::fs::create_dir(&a_dir).unwrap();
        let mut a = dataset(&a_dir, &bytes(600_000, 6));
        // Garbage for gc to collect: a file stored by `add`, then unstaged.
        std::fs::write(a_dir.join("junk.bin"), bytes(300_000, 8)).unwrap();
        a.add(&[String::new()]).unwrap();
        std::fs::remove_file(a_dir.join("junk.bin")).unwrap();
        a.add(&[String::new()]).unwrap();

        let missing = gix::ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        a.history()
            .set_ref("refs/remotes/evil/main", missing)
            .unwrap();
        a.config_mut().set(
            "remote.evil.url",
            toml::Value::String(origin_dir.display().to_string()),
        );
        a.config().save().unwrap();

        let f = a.fsck().unwrap();
        assert!(!f.ok);
        assert!(
            f.errors
                .iter()
                .any(|e| e.object == "ref refs/remotes/evil/main"
                    && e.problem.contains(&missing.to_string())),
            "{:?}",
            f.errors
        );

        let shards_before = a.chunks().unwrap().shard_files().unwrap();
        let records_before = a.chunks().unwrap().record_count().unwrap();
        let r = a.gc().unwrap();
        assert_eq!(r.dangling_refs.len(), 1, "{r:?}");
        assert!(
            r.dangling_refs[0].contains("refs/remotes/evil/main"),
            "{r:?}"
        );
        assert_eq!(r.shards_removed + r.shards_repacked + r.records_dropped, 0);
        assert_eq!(a.chunks().unwrap().shard_files().unwrap(), shards_before);
        assert_eq!(a.chunks().unwrap().record_count().unwrap(), records_before);

        let origin = LocalRemote::open("origin", &origin_dir).unwrap();
        a.fetch_from(&origin as &dyn Remote).unwrap();

        a.remove_remote("evil").unwrap();
        assert!(
            a.history()
                .ref_target("refs/remotes/evil/main")
                .unwrap()
                .is_none()
        );
        assert!(a.fsck().unwrap().ok);
        // Now gc collects again.
        let r = a.gc().unwrap();
        assert!(r.dangling_refs.is_empty());
        assert!(r.records_dropped > 0, "{r:?}");
    }

    /// A remote that lists a branch whose commit it never sends: the fetch is refused
    /// before any ref moves.
    #[test]
    fn fetch_refuses_to_move_a_ref_to_a_tip_that_did_not_arrive() {
        struct Liar;
        impl Remote for Liar {
            fn name(&self) -> &str {
                "liar"
            }
            fn list_refs(&self) -> Result<Vec<(String, ObjectId)>> {
                Ok(vec![(
                    "main".into(),
                    ObjectId::from_hex(b"89abcdef0123456789abcdef0123456789abcdef").unwrap(),
                )])
            }
            fn fetch_objects(&self, _: &History, _: &[ObjectId], _: &[ObjectId]) -> Result<u64> {
                Ok(0)
            }
            fn list_shards(&self) -> Result<Vec<(Hash, u64)>> {
                Ok(Vec::new())
            }
            fn fetch_shard(
                &self,
                _: &Hash,
                _: &std::path::Path,
                _: &dyn Fn(u64),
            ) -> Result<crate::files::Shared> {
                unreachable!("lists no shard")
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let a = dataset(dir.path(), &bytes(1000, 1));
        let err = a.fetch_from(&Liar).unwrap_err();
        assert!(
            matches!(&err, StoreError::MissingTip { name, .. } if name == "branch `main`"),
            "{err}"
        );
        assert!(a.history().list_refs("refs/remotes/").unwrap().is_empty());
        assert!(a.fsck().unwrap().ok);
    }
}
