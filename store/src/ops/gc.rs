//! `gc`: drop shard records nothing reaches. Branches, tags, pins, HEAD and the index
//! are roots; everything they reach is kept. New shards are durable and indexed before
//! old ones are forgotten and deleted, so a crash at any point loses nothing live.

use std::collections::HashSet;

use gix::ObjectId;

use crate::Hash;
use crate::content::chunk_list;
use crate::error::Result;
use crate::repo::Repo;
use crate::shard::{ShardWriter, read_record};
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
    /// Bytes of shard files freed.
    pub bytes_freed: u64,
    /// Temporary files removed.
    pub temporaries_removed: u64,
}

impl Repo {
    /// Every record (chunk or manifest) reachable from refs, HEAD and the index.
    pub fn live_records(&self) -> Result<HashSet<Hash>> {
        let store = self.chunks()?;
        let mut tips: Vec<ObjectId> = Vec::new();
        // Remote-tracking branches too: what `fetch` brought is kept until merged or
        // the remote is removed; and run records (`refs/runs/`), whose trees hold
        // training checkpoints.
        for prefix in [
            "refs/heads/",
            "refs/tags/",
            "refs/pins/",
            "refs/remotes/",
            "refs/runs/",
        ] {
            tips.extend(
                self.history()
                    .list_refs(prefix)?
                    .into_iter()
                    .map(|(_, id)| id),
            );
        }
        tips.extend(self.head()?.commit());
        // Revisions open in readers (`SnapshotReader`) stay until the readers close.
        tips.extend(crate::snapshot::leased_commits(
            self.colony_dir(),
            self.history(),
        )?);
        if let Some(m) = self.merge_state()? {
            tips.extend(self.resolve(&m.theirs).ok());
        }
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

    /// Collects garbage: re-indexes shards left by crashes, deletes shards with nothing
    /// live, and repacks shards that are mostly dead.
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
            let shard = store.shard(&id)?;
            if shard.hash_file()? == id
                && let Ok(entries) = shard.table()
            {
                let size = std::fs::metadata(&shard.path).map(|m| m.len()).unwrap_or(0);
                store.index_shard(&crate::shard::SealedShard { id, size, entries })?;
                report.shards_reindexed += 1;
            }
        }
        let live = self.live_records()?;
        report.live_records = live.len();
        for (id, size) in store.indexed_shards()? {
            let shard = store.shard(&id)?;
            let table = shard.table()?;
            // Records whose index entry points here (a record may live in two shards).
            let mut owned = Vec::new();
            for e in &table {
                if store.locate(&e.hash)?.is_some_and(|l| l.shard == id) {
                    owned.push(*e);
                }
            }
            let (keep, dead): (Vec<_>, Vec<_>) =
                owned.into_iter().partition(|e| live.contains(&e.hash));
            let dead_hashes: Vec<Hash> = dead.iter().map(|e| e.hash).collect();
            if keep.is_empty() {
                store.forget(&dead_hashes, &[id])?;
                store.remove_shard_file(&id)?;
                report.shards_removed += 1;
                report.records_dropped += dead_hashes.len();
                report.bytes_freed += size;
            } else if dead.iter().map(|e| e.stored_len as u64).sum::<u64>() * 2 > size {
                let mut w = ShardWriter::create(&store.dir().join("tmp"))?;
                for e in &keep {
                    let mut stored = vec![0u8; e.stored_len as usize];
                    std::os::unix::fs::FileExt::read_exact_at(
                        &std::fs::File::open(&shard.path)
                            .map_err(|err| crate::StoreError::io("open shard", err))?,
                        &mut stored,
                        e.offset,
                    )
                    .map_err(|err| crate::StoreError::io("read shard", err))?;
                    read_record(id, e, stored.clone())?;
                    w.append(e.hash, e.kind, e.raw_len, &stored, e.compressed)?;
                }
                if let Some(sealed) = w.seal(store.dir())? {
                    let new_size = sealed.size;
                    store.reindex_shard(&sealed)?;
                    store.forget(&dead_hashes, &[id])?;
                    store.remove_shard_file(&id)?;
                    report.shards_repacked += 1;
                    report.records_dropped += dead_hashes.len();
                    report.bytes_freed += size.saturating_sub(new_size);
                }
            }
        }
        Ok(report)
    }
}
