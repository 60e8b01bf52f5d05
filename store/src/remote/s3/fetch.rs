//! Reading an S3 remote: branches, shard listing, resumable shard downloads, history.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use futures::StreamExt;
use gix::ObjectId;
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
    ///
    /// Bundles are streamed to one staging file under the history folder (removed
    /// afterwards, and by the next fetch if this one is killed), never held in memory:
    /// what stays in memory is an index of 32 bytes per object (its id and where it
    /// lies) and one object at a time. The objects are then written referred-to first,
    /// as every history write is, which needs them all at hand, since a bundle may refer
    /// to objects of any other.
    pub(super) fn fetch_history(&self, into: &History, tips: &[ObjectId]) -> Result<u64> {
        if tips.iter().all(|t| into.repo().has_object(*t)) {
            return Ok(0);
        }
        let mut staged = StagedBundles::create(into.dir())?;
        for (name, _) in self.list_under(layout::HISTORY)? {
            let Some(commit) = layout::bundle_commit(&name) else {
                continue;
            };
            if into.repo().has_object(commit) {
                continue;
            }
            let key = self.key(&format!("{}/{name}", layout::HISTORY));
            let doing = format!("download history {name}");
            let start = staged.len;
            self.rt.block_on(async {
                let got = self
                    .store
                    .get(&key)
                    .await
                    .map_err(|e| self.store_err(&doing, e))?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| self.store_err(&doing, e))?;
                    staged.append(&chunk)?;
                }
                Ok::<(), StoreError>(())
            })?;
            staged.index_bundle(&name, start)?;
        }
        staged.seal()?;
        write_from_pool(&self.name, &staged, into, tips)
    }
}

/// The bundles a fetch downloads, one after another in a staging file, with an index of
/// the objects they hold by recomputed id. The file is deleted on drop.
struct StagedBundles {
    path: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    reader: Option<std::fs::File>,
    len: u64,
    /// (object id, offset of its frame in the file), sorted by id once sealed.
    index: Vec<(ObjectId, u64)>,
}

/// The tag of staging files, so that a later fetch can remove those a killed one left.
const STAGING_TAG: &str = "fetch-bundles";

impl StagedBundles {
    fn create(dir: &Path) -> Result<StagedBundles> {
        // Leftovers of a fetch that was killed: only one fetch runs at a time (it holds
        // the store lock), so any staging file here is stale.
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&format!(".tmp-{STAGING_TAG}-")))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let path = crate::durable::temp_path(dir, STAGING_TAG);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(format!("create {}", path.display()), e))?;
        Ok(StagedBundles {
            path,
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            reader: None,
            len: 0,
            index: Vec::new(),
        })
    }

    fn io(&self, what: &str, e: std::io::Error) -> StoreError {
        StoreError::io(format!("{what} {}", self.path.display()), e)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.file.as_mut().expect("appending before seal");
        if let Err(e) = w.write_all(bytes) {
            return Err(self.io("write", e));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Indexes the bundle `name` that was appended from `start` on: its magic, then each
    /// object, read one at a time and its id recomputed from its bytes (so a bundle
    /// cannot put an object under a false name).
    fn index_bundle(&mut self, name: &str, start: u64) -> Result<()> {
        let bad = |why: &str| StoreError::MalformedHistory {
            object: name.to_string(),
            why: why.to_string(),
        };
        let end = self.len;
        let w = self.file.as_mut().expect("indexing before seal");
        let flushed = w.flush();
        if let Err(e) = flushed {
            return Err(self.io("write", e));
        }
        let file = self.file.as_ref().expect("open").get_ref();
        let mut magic = [0u8; 8];
        if end - start < magic.len() as u64
            || file.read_exact_at(&mut magic, start).is_err()
            || &magic != layout::BUNDLE_MAGIC
        {
            return Err(bad("not a colony history bundle"));
        }
        let mut pos = start + magic.len() as u64;
        let mut data = Vec::new();
        while pos < end {
            let (kind, len) = read_frame(file, pos, end).map_err(bad)?;
            data.resize(len as usize, 0);
            file.read_exact_at(&mut data, pos + layout::FRAME_HEADER as u64)
                .map_err(|e| self.io("read", e))?;
            let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, &data)
                .map_err(|e| bad(&e.to_string()))?;
            self.index.push((id, pos));
            pos += layout::FRAME_HEADER as u64 + len;
        }
        Ok(())
    }

    /// Ends the downloads: the file is flushed and the index sorted for lookups.
    fn seal(&mut self) -> Result<()> {
        if let Some(w) = self.file.take() {
            let file = w
                .into_inner()
                .map_err(|e| StoreError::io("write the staged history", e.into_error()))?;
            self.reader = Some(file);
        }
        self.index.sort_unstable_by_key(|(id, _)| *id);
        self.index.dedup_by_key(|(id, _)| *id);
        Ok(())
    }

    /// The object `id`, read back from the staging file, if a bundle held it.
    fn get(&self, id: &ObjectId) -> Result<Option<(gix::objs::Kind, Vec<u8>)>> {
        let Ok(i) = self.index.binary_search_by_key(id, |(k, _)| *k) else {
            return Ok(None);
        };
        let pos = self.index[i].1;
        let file = self.reader.as_ref().expect("sealed before reading");
        let (kind, len) =
            read_frame(file, pos, self.len).map_err(|why| StoreError::MalformedHistory {
                object: id.to_string(),
                why: why.to_string(),
            })?;
        let mut data = vec![0; len as usize];
        file.read_exact_at(&mut data, pos + layout::FRAME_HEADER as u64)
            .map_err(|e| self.io("read", e))?;
        Ok(Some((kind, data)))
    }
}

impl Drop for StagedBundles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The kind and length of the object whose frame starts at `pos`, checked to end by `end`.
fn read_frame(
    file: &std::fs::File,
    pos: u64,
    end: u64,
) -> std::result::Result<(gix::objs::Kind, u64), &'static str> {
    let mut head = [0u8; layout::FRAME_HEADER];
    if end - pos < head.len() as u64 || file.read_exact_at(&mut head, pos).is_err() {
        return Err("truncated");
    }
    let kind = layout::kind_from_code(head[0]).ok_or("unknown object kind")?;
    let len = u64::from_le_bytes(head[1..].try_into().expect("8 bytes"));
    // Never allocate more than the bundle holds, whatever the header claims.
    if len > end - pos - head.len() as u64 {
        return Err("truncated");
    }
    Ok((kind, len))
}

/// Writes the objects reachable from `tips` that `into` lacks, taking them from `pool`,
/// referred-to first (an object is written only once all it refers to is there, so a
/// fetch killed halfway never leaves an object whose history is incomplete).
fn write_from_pool(
    remote: &str,
    pool: &StagedBundles,
    into: &History,
    tips: &[ObjectId],
) -> Result<u64> {
    let mut n = 0;
    crate::history::walk_objects(
        tips,
        crate::history::Follow::HISTORY,
        |id| into.repo().has_object(id),
        |id| {
            pool.get(id)?.ok_or_else(|| StoreError::Remote {
                remote: remote.to_string(),
                why: format!("history object {id} is missing from the bucket"),
            })
        },
        |id, kind, data| {
            n += 1;
            into.write_object_as(id, kind, &data)
        },
    )?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::snapshot::{FileEntry, Mode, Snapshot, snapshot_root};

    /// Every object reachable from `tip`, as (id, kind, bytes).
    fn objects(h: &History, tip: ObjectId) -> Vec<(ObjectId, gix::objs::Kind, Vec<u8>)> {
        let mut out = Vec::new();
        crate::history::walk_objects(
            &[tip],
            crate::history::Follow::HISTORY,
            |_| false,
            |id| h.load_object(id),
            |id, kind, data| {
                out.push((id, kind, data));
                Ok(())
            },
        )
        .unwrap();
        out
    }

    fn file(i: u64) -> FileEntry {
        let bytes = format!("file {i}");
        FileEntry {
            mode: Mode::File,
            size: bytes.len() as u64,
            hash: crate::Hash::of(bytes.as_bytes()),
            manifest: None,
            target: None,
        }
    }

    #[test]
    fn bundles_are_staged_on_disk_and_written_referred_to_first_in_any_order() {
        let d = tempfile::tempdir().unwrap();
        let src = History::init(&d.path().join("src"), "main").unwrap();
        // Three commits, each adding files under shared and new folders.
        let mut snap = Snapshot::new();
        let mut commits = Vec::new();
        for c in 0..3u64 {
            for i in 0..50 {
                snap.insert(format!("dir{}/f{c}-{i}", i % 4), file(c * 100 + i));
            }
            let tree = src.write_tree(&snap).unwrap();
            let parents: Vec<ObjectId> = commits.last().copied().into_iter().collect();
            let id = src
                .write_commit(tree, &parents, "c", &snapshot_root(&snap), ("a", "b"))
                .unwrap();
            commits.push(id);
        }
        // One bundle per commit: what it reaches that its parent does not.
        let mut bundles = Vec::new();
        let mut before: HashSet<ObjectId> = HashSet::new();
        for c in &commits {
            let all = objects(&src, *c);
            let new: Vec<_> = all.iter().filter(|(id, ..)| !before.contains(id)).collect();
            bundles.push(layout::encode_bundle(
                new.iter().map(|(_, k, data)| (*k, data.as_slice())),
            ));
            before.extend(all.iter().map(|(id, ..)| *id));
        }
        let total = before.len() as u64;
        // Staged newest first: every bundle refers to objects of a later one.
        let dst_dir = d.path().join("dst");
        let dst = History::init(&dst_dir, "main").unwrap();
        std::fs::write(dst_dir.join(".tmp-fetch-bundles-stale"), b"left by a kill").unwrap();
        let mut staged = StagedBundles::create(&dst_dir).unwrap();
        assert!(!dst_dir.join(".tmp-fetch-bundles-stale").exists());
        for (i, b) in bundles.iter().enumerate().rev() {
            let start = staged.len;
            // In uneven pieces, as a download stream delivers them.
            for piece in b.chunks(7 + i) {
                staged.append(piece).unwrap();
            }
            staged.index_bundle(&format!("b{i}"), start).unwrap();
        }
        staged.seal().unwrap();
        let staging_file = staged.path.clone();
        assert!(staging_file.exists());
        let n = write_from_pool("r", &staged, &dst, &[commits[2]]).unwrap();
        assert_eq!(n, total);
        drop(staged);
        assert!(!staging_file.exists(), "the staging file is removed");
        let got = dst.read_snapshot(commits[2]).unwrap();
        assert_eq!(got.files, snap);
        for c in &commits {
            assert!(dst.repo().has_object(*c));
        }
    }

    #[test]
    fn a_bundle_claiming_a_huge_object_is_refused_without_allocating_it() {
        let d = tempfile::tempdir().unwrap();
        let mut staged = StagedBundles::create(d.path()).unwrap();
        let mut b = layout::BUNDLE_MAGIC.to_vec();
        b.push(3);
        b.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
        b.extend_from_slice(b"tiny");
        staged.append(&b).unwrap();
        let e = staged.index_bundle("huge", 0).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let mut staged = StagedBundles::create(d.path()).unwrap();
        staged.append(b"NOTABNDL").unwrap();
        assert!(staged.index_bundle("bad", 0).is_err());
        // Missing objects are named, not guessed.
        let mut staged = StagedBundles::create(d.path()).unwrap();
        staged.append(layout::BUNDLE_MAGIC).unwrap();
        staged.index_bundle("empty", 0).unwrap();
        staged.seal().unwrap();
        let h = History::init(&d.path().join("h"), "main").unwrap();
        let missing = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
        let e = write_from_pool("r", &staged, &h, &[missing]).unwrap_err();
        assert!(e.to_string().contains("missing from the bucket"), "{e}");
    }
}
