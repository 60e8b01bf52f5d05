//! Reading an S3 remote: branches, shard listing, resumable shard downloads, history.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use futures::StreamExt;
use gix::ObjectId;
use gix::objs::Write as _;
use object_store::{GetOptions, GetRange, ObjectStoreExt};

use super::S3Remote;
use super::layout;
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::history::History;

/// One branch as read from the bucket.
pub(super) struct RemoteRef {
    pub branch: String,
    pub commit: ObjectId,
    /// The ETag of the ref object, for a conditional update.
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

impl S3Remote {
    /// Every object under `rel/` (recursively), as (key relative to `rel/`, size).
    pub(super) fn list_under(&self, rel: &str) -> Result<Vec<(String, u64)>> {
        let prefix = self.key(rel);
        let root = format!("{prefix}/");
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut stream = self.store.list(Some(&prefix));
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| self.store_err(&format!("list {rel}/"), e))?;
                let key = meta.location.to_string();
                if let Some(r) = key.strip_prefix(&root) {
                    out.push((r.to_string(), meta.size));
                }
            }
            out.sort();
            Ok(out)
        })
    }

    /// Reads one branch, or `None` when it does not exist.
    pub(super) fn read_ref(&self, branch: &str) -> Result<Option<RemoteRef>> {
        let key = self.key(&format!("{}/{branch}", layout::HEADS));
        self.rt.block_on(async {
            match self.store.get(&key).await {
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.store_err(&format!("read branch `{branch}`"), e)),
                Ok(got) => {
                    let e_tag = got.meta.e_tag.clone();
                    let version = got.meta.version.clone();
                    let bytes = got
                        .bytes()
                        .await
                        .map_err(|e| self.store_err(&format!("read branch `{branch}`"), e))?;
                    Ok(Some(RemoteRef {
                        branch: branch.to_string(),
                        commit: layout::parse_ref(branch, &bytes)?,
                        e_tag,
                        version,
                    }))
                }
            }
        })
    }

    /// Every branch.
    pub(super) fn read_refs(&self) -> Result<Vec<RemoteRef>> {
        let mut out = Vec::new();
        for (branch, _) in self.list_under(layout::HEADS)? {
            if let Some(r) = self.read_ref(&branch)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Every shard, with its size.
    pub(super) fn shards(&self) -> Result<Vec<(Hash, u64)>> {
        Ok(self
            .list_under(layout::SHARDS)?
            .into_iter()
            .filter_map(|(name, size)| Some((name.parse().ok()?, size)))
            .collect())
    }

    /// Downloads shard `id` into `dest`, continuing after the bytes already there.
    pub(super) fn download_shard(
        &self,
        id: &Hash,
        dest: &Path,
        progress: &dyn Fn(u64),
    ) -> Result<()> {
        let key = self.key(&layout::shard_key(id));
        let have = std::fs::metadata(dest).map_or(0, |m| m.len());
        let io =
            |what: &str, e: std::io::Error| StoreError::io(format!("{what} {}", dest.display()), e);
        self.rt.block_on(async {
            // Resume after the bytes already here, unless they are as many as the shard
            // has (then they cannot be a prefix of it: start over).
            let mut start = have;
            if start > 0 {
                let meta = self
                    .store
                    .head(&key)
                    .await
                    .map_err(|e| self.store_err(&format!("download shard {id}"), e))?;
                if meta.size <= start {
                    start = 0;
                }
            }
            let opts = GetOptions {
                range: (start > 0).then_some(GetRange::Offset(start)),
                ..Default::default()
            };
            let got = self
                .store
                .get_opts(&key, opts)
                .await
                .map_err(|e| self.store_err(&format!("download shard {id}"), e))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(dest)
                .map_err(|e| io("open", e))?;
            file.set_len(start).map_err(|e| io("truncate", e))?;
            let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
            {
                use std::io::Seek;
                file.seek(std::io::SeekFrom::Start(start))
                    .map_err(|e| io("seek", e))?;
            }
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| self.store_err(&format!("download shard {id}"), e))?;
                file.write_all(&chunk).map_err(|e| io("write", e))?;
                progress(chunk.len() as u64);
            }
            let file = file.into_inner().map_err(|e| io("write", e.into_error()))?;
            file.sync_all().map_err(|e| io("sync", e))?;
            Ok(())
        })
    }

    /// Writes into `into` the history reachable from `tips` that it lacks, from the
    /// bundles of the commits it does not have.
    pub(super) fn fetch_history(&self, into: &History, tips: &[ObjectId]) -> Result<u64> {
        if tips.iter().all(|t| into.repo().has_object(*t)) {
            return Ok(0);
        }
        let mut pool: HashMap<ObjectId, (gix::objs::Kind, Vec<u8>)> = HashMap::new();
        for (name, _) in self.list_under(layout::HISTORY)? {
            let Some(commit) = layout::bundle_commit(&name) else {
                continue;
            };
            if into.repo().has_object(commit) {
                continue;
            }
            let key = self.key(&format!("{}/{name}", layout::HISTORY));
            let bytes = self.rt.block_on(async {
                let got = self
                    .store
                    .get(&key)
                    .await
                    .map_err(|e| self.store_err(&format!("download history {name}"), e))?;
                got.bytes()
                    .await
                    .map_err(|e| self.store_err(&format!("download history {name}"), e))
            })?;
            pool.extend(layout::decode_bundle(&name, &bytes)?);
        }
        write_from_pool(&self.name, &pool, into, tips)
    }
}

/// Writes the objects reachable from `tips` that `into` lacks, taking them from `pool`,
/// referred-to first.
fn write_from_pool(
    remote: &str,
    pool: &HashMap<ObjectId, (gix::objs::Kind, Vec<u8>)>,
    into: &History,
    tips: &[ObjectId],
) -> Result<u64> {
    let hash_kind = gix::hash::Kind::Sha1;
    // Iterative post-order: children written before the objects that refer to them.
    let mut written: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<(ObjectId, bool)> = tips.iter().map(|t| (*t, false)).collect();
    let mut n = 0;
    while let Some((id, expanded)) = stack.pop() {
        if written.contains(&id) || into.repo().has_object(id) {
            continue;
        }
        let (kind, data) = pool.get(&id).ok_or_else(|| StoreError::Remote {
            remote: remote.to_string(),
            why: format!("history object {id} is missing from the bucket"),
        })?;
        if expanded {
            let got = into
                .repo()
                .objects
                .write_buf(*kind, data)
                .map_err(StoreError::git)?;
            debug_assert_eq!(got, id);
            written.insert(id);
            n += 1;
            continue;
        }
        stack.push((id, true));
        match kind {
            gix::objs::Kind::Commit => {
                let c =
                    gix::objs::CommitRef::from_bytes(data, hash_kind).map_err(StoreError::git)?;
                stack.push((c.tree(), false));
                stack.extend(c.parents().map(|p| (p, false)));
            }
            gix::objs::Kind::Tree => {
                let t = gix::objs::TreeRef::from_bytes(data, hash_kind).map_err(StoreError::git)?;
                for e in &t.entries {
                    if !e.mode.is_commit() {
                        stack.push((e.oid.to_owned(), false));
                    }
                }
            }
            gix::objs::Kind::Tag => {
                let t = gix::objs::TagRef::from_bytes(data, hash_kind).map_err(StoreError::git)?;
                stack.push((t.target(), false));
            }
            gix::objs::Kind::Blob => {}
        }
    }
    Ok(n)
}
