//! `fetch`: bring a remote's branches, history and shards into this dataset.
//!
//! Only shards this store lacks move. Each arrives in `shards/tmp/partial-<id>`, is
//! hashed with BLAKE3 and compared with its name, and only then renamed into place and
//! indexed. A fetch killed halfway leaves the partial file; the next fetch hands it to
//! the remote again, which resumes where the proven bytes end.
//! History objects are copied referred-to first and their ids recomputed. The
//! remote-tracking refs `refs/remotes/NAME/<branch>` and the run records the remote lists
//! (`refs/runs/<name>`, added where absent) move last, after everything they reach is
//! durable.

use std::collections::HashSet;

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::ops::fork::Shared;
use crate::ops::remote::Remote;
use crate::repo::Repo;
use crate::shard::{SealedShard, ShardFile};

/// One remote-tracking ref that changed.
#[derive(Debug, serde::Serialize)]
pub struct RefUpdate {
    /// The remote's branch.
    pub branch: String,
    /// Where `refs/remotes/NAME/<branch>` pointed before (none: new).
    pub old: Option<String>,
    /// Where it points now (none: the branch is gone from the remote).
    pub new: Option<String>,
}

/// What a fetch moved.
#[derive(Debug, Default, serde::Serialize)]
pub struct FetchReport {
    /// The remote.
    pub remote: String,
    /// Remote-tracking refs that changed.
    pub updated: Vec<RefUpdate>,
    /// Branches the remote has.
    pub branches: usize,
    /// History objects written.
    pub objects: u64,
    /// Shards received (verified and indexed).
    pub shards: usize,
    /// Of those, how many were hard-linked or cloned rather than copied.
    pub shards_shared: usize,
    /// Bytes of the shards received.
    pub bytes: u64,
    /// Bytes the remote actually sent for them: less than `bytes` when a partial shard
    /// was resumed, 0 for shards hard-linked or cloned from a dataset on this machine.
    pub moved: u64,
    /// Run records (`refs/runs/`) this dataset did not have and now has.
    pub runs: usize,
}

/// What [`Repo::receive_shards`] moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardsReceived {
    /// Shards received (verified and indexed).
    pub shards: usize,
    /// Of those, how many were hard-linked or cloned rather than copied.
    pub shared: usize,
    /// Bytes of the shards received.
    pub bytes: u64,
    /// Bytes the remote sent for them (counted as they arrived).
    pub moved: u64,
}

/// Checks that the file at `path` is shard `id` (its BLAKE3 is its name) and reads its
/// table. `proven`: every byte was already checked against that hash as it arrived
/// ([`Shared::Verified`]), so the file is not hashed again.
fn verify_shard(id: &Hash, path: &std::path::Path, proven: bool) -> Result<SealedShard> {
    let id = *id;
    let file = ShardFile::open(id, path)?;
    let actual = if proven { id } else { file.hash_file()? };
    if actual != id {
        return Err(StoreError::Refused(format!(
            "shard {id} arrived with BLAKE3 {actual}; it was not stored"
        )));
    }
    let entries = file.table()?;
    let size = std::fs::metadata(path)
        .map_err(|e| StoreError::io("stat fetched shard", e))?
        .len();
    Ok(SealedShard { id, size, entries })
}

/// Where an interrupted fetch of shard `id` leaves its bytes, so that the next fetch
/// can resume: `shards/tmp/partial-<id>`. `gc` removes these with other temporaries.
pub fn partial_shard_path(shards_dir: &std::path::Path, id: &Hash) -> std::path::PathBuf {
    shards_dir.join("tmp").join(format!("partial-{id}"))
}

impl Repo {
    /// The commits this dataset's branches, tags and remote-tracking refs point at: what
    /// a remote may assume it already has.
    pub fn local_tips(&self) -> Result<Vec<gix::ObjectId>> {
        let mut tips = Vec::new();
        for prefix in ["refs/heads/", "refs/tags/", "refs/remotes/", "refs/pins/"] {
            tips.extend(
                self.history()
                    .list_refs(prefix)?
                    .into_iter()
                    .map(|(_, id)| id),
            );
        }
        tips.sort();
        tips.dedup();
        Ok(tips)
    }

    /// Brings every shard `remote` holds and this store lacks, each verified (BLAKE3 ==
    /// its name) before it is renamed into place and indexed. A shard that fails
    /// verification is deleted and the error names it and the remote.
    pub fn receive_shards(&self, remote: &dyn Remote) -> Result<ShardsReceived> {
        self.receive_selected(remote, None)
    }

    /// Like [`Repo::receive_shards`], but only the shards in `only` (with their sizes)
    /// when given.
    pub fn receive_selected(
        &self,
        remote: &dyn Remote,
        only: Option<&[(Hash, u64)]>,
    ) -> Result<ShardsReceived> {
        let name = remote.name().to_string();
        let bad = |why: String| StoreError::Remote {
            remote: name.clone(),
            why,
        };
        let mut report = ShardsReceived::default();
        let store = self.chunks()?;
        // A shard file already in place but not indexed (a fetch killed between the
        // rename and the index) is verified where it is and indexed, not fetched again.
        let have: HashSet<Hash> = store
            .indexed_shards()?
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        let listed = match only {
            Some(v) => v.to_vec(),
            None => remote.list_shards()?,
        };
        let wanted: Vec<(Hash, u64)> = listed
            .into_iter()
            .filter(|(h, _)| !have.contains(h))
            .collect();
        let progress = self.progress();
        progress.begin(
            "fetching shards",
            Some(wanted.iter().map(|(_, size)| size).sum()),
        );
        let tmp_dir = store.dir().join("tmp");
        std::fs::create_dir_all(&tmp_dir)
            .map_err(|e| StoreError::io(format!("create {}", tmp_dir.display()), e))?;
        // Verify, sync, rename into place, index: on a second thread, so that the disk
        // flush and the index write of one shard overlap the transfer of the next. At
        // most one received shard waits for it.
        let finish = |id: Hash, tmp: &std::path::Path, proven: bool| -> Result<SealedShard> {
            let check = verify_shard(&id, tmp, proven).map_err(|e| match e {
                StoreError::Refused(why) => bad(why),
                e => e,
            });
            let sealed = match check {
                Ok(s) => s,
                Err(e) => {
                    let _ = std::fs::remove_file(tmp);
                    return Err(match e {
                        e @ StoreError::Remote { .. } => e,
                        e => bad(format!(
                            "shard {id} failed verification ({e}); it was not stored"
                        )),
                    });
                }
            };
            std::fs::File::open(tmp)
                .and_then(|f| f.sync_data())
                .map_err(|e| StoreError::io(format!("sync {}", tmp.display()), e))?;
            crate::durable::rename_into(tmp, &crate::shard_path(store.dir(), &id))?;
            store.index_shard(&sealed)?;
            Ok(sealed)
        };
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<(Hash, std::path::PathBuf, Shared, u64)>(1);
            let finisher = scope.spawn(move || -> Result<ShardsReceived> {
                let mut r = ShardsReceived::default();
                for (id, tmp, how, arrived) in rx {
                    let sealed = finish(id, &tmp, how == Shared::Verified)?;
                    r.shards += 1;
                    r.bytes += sealed.size;
                    if matches!(how, Shared::Copied | Shared::Verified) {
                        r.moved += arrived;
                    } else {
                        r.shared += 1;
                    }
                }
                Ok(r)
            });
            let fetched = (|| -> Result<()> {
                for (id, size) in wanted {
                    let in_place = crate::shard_path(store.dir(), &id);
                    if in_place.exists() {
                        match verify_shard(&id, &in_place, false) {
                            Ok(sealed) => {
                                store.index_shard(&sealed)?;
                                progress.advance(size);
                                continue;
                            }
                            Err(_) => {
                                let _ = std::fs::remove_file(&in_place);
                            }
                        }
                    }
                    let tmp = partial_shard_path(store.dir(), &id);
                    let arrived = std::cell::Cell::new(0u64);
                    let how = remote.fetch_shard(&id, &tmp, &|n| {
                        arrived.set(arrived.get() + n);
                        progress.advance(n);
                    })?;
                    if tx.send((id, tmp, how, arrived.get())).is_err() {
                        break; // the finisher stopped on an error: it is reported below
                    }
                }
                Ok(())
            })();
            drop(tx);
            let finished = finisher.join().expect("the shard finisher panicked");
            fetched?;
            report = finished?;
            Ok(())
        })?;
        progress.end();
        Ok(report)
    }

    /// Fetches from the configured remote `name`.
    pub fn fetch(&self, name: &str) -> Result<FetchReport> {
        let remote = self.open_remote(name)?;
        self.fetch_from(remote.as_ref())
    }

    /// Fetches every branch and run record of `remote`.
    pub fn fetch_from(&self, remote: &dyn Remote) -> Result<FetchReport> {
        self.fetch_selected(remote, None, &[])
    }

    /// Fetches every branch of `remote` and the history of `extra_tips` (commits the
    /// remote has that no branch names), but of the shards only those in `only` when
    /// given (a sparse clone).
    pub fn fetch_selected(
        &self,
        remote: &dyn Remote,
        only: Option<&[(Hash, u64)]>,
        extra_tips: &[gix::ObjectId],
    ) -> Result<FetchReport> {
        let name = remote.name().to_string();
        let refs = remote.list_refs()?;
        let runs = remote.list_runs()?;
        let mut report = FetchReport {
            remote: name.clone(),
            branches: refs.len(),
            ..Default::default()
        };

        // Shards first, so that the data a fetched commit names is here before its ref.
        let got = self.receive_selected(remote, only)?;
        report.shards = got.shards;
        report.shards_shared = got.shared;
        report.bytes = got.bytes;
        report.moved = got.moved;

        // History, then the refs.
        let mut tips: Vec<_> = refs.iter().chain(&runs).map(|(_, id)| *id).collect();
        tips.extend_from_slice(extra_tips);
        let haves = self.local_tips()?;
        report.objects = remote.fetch_objects(self.history(), &tips, &haves)?;
        self.history().sync()?;
        report.runs = crate::ops::runs::adopt_runs(self.history(), &runs)?;
        let prefix = format!("refs/remotes/{name}/");
        let old: Vec<(String, gix::ObjectId)> = self.history().list_refs(&prefix)?;
        for (branch, id) in &refs {
            let before = old.iter().find(|(b, _)| b == branch).map(|(_, i)| *i);
            if before != Some(*id) {
                self.history().set_ref(&format!("{prefix}{branch}"), *id)?;
                report.updated.push(RefUpdate {
                    branch: branch.clone(),
                    old: before.map(|i| i.to_string()),
                    new: Some(id.to_string()),
                });
            }
        }
        for (branch, id) in old {
            if !refs.iter().any(|(b, _)| *b == branch) {
                self.history().delete_ref(&format!("{prefix}{branch}"))?;
                report.updated.push(RefUpdate {
                    branch,
                    old: Some(id.to_string()),
                    new: None,
                });
            }
        }
        Ok(report)
    }
}
