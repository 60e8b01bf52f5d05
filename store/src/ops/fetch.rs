//! `fetch`: bring a remote's branches, history and shards into this dataset.
//!
//! Only shards this store lacks move. Each arrives in `shards/tmp/partial-<id>`, is
//! hashed with BLAKE3 and compared with its name, has every record decompressed and
//! hashed against the id its table gives ([`verify_shard_file`]), and only then is
//! renamed into place and indexed. A fetch killed halfway leaves the partial file; the
//! next fetch hands it to the remote again, which resumes where the proven bytes end.
//! History objects are copied referred-to first and their ids recomputed. The
//! remote-tracking refs `refs/remotes/NAME/<branch>` and the run records the remote lists
//! (`refs/runs/<name>`, added where absent) move last, after everything they reach is
//! durable, and only once every commit they name is here ([`check_tips`]).

use std::collections::HashSet;

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::files::Shared;
use crate::ops::remote::Remote;
use crate::repo::Repo;
use crate::shard::{SealedShard, verify_shard_file};

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
    /// Of those, how many were reflinked (copy-on-write clones) rather than copied. A
    /// dataset on this machine is never hard-linked from: its owner could change the
    /// file after it was verified here.
    pub shards_shared: usize,
    /// Bytes of the shards received.
    pub bytes: u64,
    /// Bytes the remote actually sent for them: less than `bytes` when a partial shard
    /// was resumed, 0 for shards reflinked from a dataset on this machine.
    pub moved: u64,
    /// Run records (`refs/runs/`) this dataset did not have and now has.
    pub runs: usize,
}

/// What [`Repo::receive_shards`] moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardsReceived {
    /// Shards received (verified and indexed).
    pub shards: usize,
    /// Of those, how many were reflinked rather than copied.
    pub shared: usize,
    /// Bytes of the shards received.
    pub bytes: u64,
    /// Bytes the remote sent for them (counted as they arrived).
    pub moved: u64,
}

/// Where an interrupted fetch of shard `id` leaves its bytes, so that the next fetch
/// can resume: `shards/tmp/partial-<id>`. `gc` removes these with other temporaries.
pub fn partial_shard_path(shards_dir: &std::path::Path, id: &Hash) -> std::path::PathBuf {
    shards_dir.join("tmp").join(format!("partial-{id}"))
}

/// Checks that every commit a remote listed (as `(what, id)`) is here and is a commit,
/// before any ref moves: a remote that lists a tip it does not send would otherwise
/// leave a ref to a missing object, which every later walk of the history (fetch, gc,
/// `remote remove`) trips over.
pub fn check_tips(
    history: &crate::history::History,
    remote: &str,
    tips: impl IntoIterator<Item = (String, gix::ObjectId)>,
) -> Result<()> {
    for (name, id) in tips {
        let why = match history.repo().find_header(id) {
            Ok(h) if h.kind() == gix::objs::Kind::Commit => continue,
            Ok(h) => format!("is a {} rather than a commit", h.kind()),
            Err(_) if !history.repo().has_object(id) => "did not arrive".to_string(),
            Err(e) => format!("could not be read ({e})"),
        };
        return Err(StoreError::MissingTip {
            remote: remote.to_string(),
            name,
            commit: id.to_string(),
            why,
        });
    }
    Ok(())
}

impl Repo {
    /// The commits this dataset's branches, tags and remote-tracking refs point at: what
    /// a remote may assume it already has. A ref that names no commit here (dangling) is
    /// left out rather than failing the fetch; `fsck` reports it.
    pub fn local_tips(&self) -> Result<Vec<gix::ObjectId>> {
        let mut tips = Vec::new();
        for prefix in ["refs/heads/", "refs/tags/", "refs/remotes/", "refs/pins/"] {
            tips.extend(
                crate::ops::gc::refs_under(self.history(), prefix)?
                    .into_iter()
                    .filter_map(|r| r.commit.ok()),
            );
        }
        tips.sort();
        tips.dedup();
        Ok(tips)
    }

    /// Brings every shard `remote` holds and this store lacks, each verified (BLAKE3 ==
    /// its name, and every record's bytes == the hash its table gives) before it is
    /// renamed into place and indexed. A shard that fails verification is deleted and
    /// the error ([`StoreError::ShardRefused`]) names it and the remote.
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
            let sealed = crate::shard::accept_transfer(&name, id, tmp, proven)?;
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
                        match verify_shard_file(id, &in_place, false) {
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
        let listed = refs
            .iter()
            .map(|(b, id)| (format!("branch `{b}`"), *id))
            .chain(
                runs.iter()
                    .map(|(r, id)| (format!("run record `{r}`"), *id)),
            )
            .chain(extra_tips.iter().map(|id| (format!("commit {id}"), *id)));
        check_tips(self.history(), &name, listed)?;
        report.runs = crate::ops::runs::adopt_runs(self.history(), &runs)?;
        let prefix = format!("refs/remotes/{name}/");
        // Read without peeling, so that a remote-tracking ref left dangling by an older
        // colony is replaced (or deleted) here rather than failing the fetch.
        let old: Vec<(String, gix::ObjectId)> =
            crate::ops::gc::refs_under(self.history(), &prefix)?
                .into_iter()
                .filter_map(|r| Some((r.name.strip_prefix(&prefix)?.to_string(), r.raw?)))
                .collect();
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
