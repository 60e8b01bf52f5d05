//! Answering requests from a store: what a serving node (and a pushing client, for the
//! node that fetches from it) sends. Synchronous; the caller bridges to QUIC streams.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bao_tree::io::outboard::PostOrderMemOutboard;
use bao_tree::{BaoTree, ChunkNum, ChunkRanges};
use gix::ObjectId;

use super::protocol::{BLOCK_SIZE, GROUP_BYTES, RUNS, Request, Response, kind_code, write_frame};
use crate::Hash;
use crate::error::{Result, StoreError};
pub use crate::ops::sparse::{glob_matches, snapshot_shards};
use crate::repo::Repo;

/// Bao outboards (the BLAKE3 tree of a shard in 16 KiB groups) computed on demand and
/// kept in memory: about 1/256 of the shard's size.
#[derive(Default)]
pub struct Outboards(Mutex<HashMap<Hash, Arc<PostOrderMemOutboard>>>);

impl Outboards {
    /// The outboard of shard `id` stored at `path`, computing it on first use. Refuses
    /// a shard whose bytes do not hash to its name (a damaged store serves nothing).
    pub fn get(&self, id: &Hash, path: &Path) -> Result<Arc<PostOrderMemOutboard>> {
        if let Some(o) = self.0.lock().expect("outboards").get(id) {
            return Ok(o.clone());
        }
        let file =
            std::fs::File::open(path).map_err(|e| StoreError::io(format!("open shard {id}"), e))?;
        let size = file
            .metadata()
            .map_err(|e| StoreError::io(format!("stat shard {id}"), e))?
            .len();
        let tree = BaoTree::new(size, BLOCK_SIZE);
        let mut data = Vec::with_capacity(tree.outboard_size() as usize);
        let root = bao_tree::io::sync::outboard_post_order(
            std::io::BufReader::with_capacity(1 << 20, file),
            tree,
            &mut data,
        )
        .map_err(|e| StoreError::io(format!("hash shard {id}"), e))?;
        if Hash::from(root) != *id {
            return Err(StoreError::CorruptShard {
                shard: *id,
                why: format!("its bytes hash to {}", Hash::from(root)),
            });
        }
        let o = Arc::new(PostOrderMemOutboard { root, tree, data });
        self.0.lock().expect("outboards").insert(*id, o.clone());
        Ok(o)
    }
}

/// How a node answers.
pub struct Answerer<'a> {
    /// The store.
    pub repo: &'a Repo,
    /// Outboard cache.
    pub outboards: &'a Outboards,
    /// Test hook: flip a byte of every shard sent (`COLONY_TEST_LIE=flip`).
    pub lie: bool,
}

impl Answerer<'_> {
    /// Answers a read request (everything but `Receive`/`Unpin`) onto `w`; returns the
    /// bytes of shard data sent.
    pub fn answer(&self, req: &Request, w: &mut impl Write) -> Result<u64> {
        let io = |e: std::io::Error| StoreError::io("send an answer", e);
        match req {
            Request::Refs => {
                // Branches, and pins as `pins/NAME`: a node that only keeps snapshots
                // for others has no branches, but what it pinned can be fetched.
                let h = self.repo.history();
                let mut refs: Vec<(String, String)> = h
                    .list_refs("refs/heads/")?
                    .into_iter()
                    .map(|(n, id)| (n, id.to_string()))
                    .collect();
                refs.extend(
                    h.list_refs("refs/pins/")?
                        .into_iter()
                        .map(|(n, id)| (format!("pins/{n}"), id.to_string())),
                );
                refs.extend(
                    crate::ops::runs::list_runs(h)?
                        .into_iter()
                        .map(|(n, id)| (format!("{RUNS}{n}"), id.to_string())),
                );
                write_frame(w, &Response::Refs(refs)).map_err(io)?;
            }
            Request::Shards => {
                write_frame(w, &Response::Shards(list_shards(self.repo)?)).map_err(io)?;
            }
            Request::SnapshotShards { commit, paths } => {
                let id = self.repo.resolve(commit)?;
                let shards = snapshot_shards(self.repo, id, paths.as_deref())?;
                write_frame(w, &Response::Shards(shards.into_iter().collect())).map_err(io)?;
            }
            Request::Objects { tips, haves } => {
                let tips = parse_ids(tips)?;
                let haves = parse_ids(haves)?;
                let order = objects_to_send(self.repo, &tips, &haves)?;
                write_frame(w, &Response::Objects).map_err(io)?;
                let gx = self.repo.history().repo();
                let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
                for id in order {
                    let obj = gx.find_object(id).map_err(StoreError::git)?;
                    w.write_all(&[kind_code(obj.kind)]).map_err(io)?;
                    w.write_all(id.as_slice()).map_err(io)?;
                    w.write_all(&(obj.data.len() as u32).to_le_bytes())
                        .map_err(io)?;
                    w.write_all(&obj.data).map_err(io)?;
                }
                w.write_all(&[0]).map_err(io)?;
                w.flush().map_err(io)?;
            }
            Request::Shard { id, from } => return self.send_shard(id, *from, w),
            Request::Receive { .. } | Request::Unpin { .. } => {
                return Err(StoreError::Refused("not a read request".into()));
            }
        }
        Ok(0)
    }

    fn send_shard(&self, id: &Hash, from: u64, w: &mut impl Write) -> Result<u64> {
        let io = |e: std::io::Error| StoreError::io(format!("send shard {id}"), e);
        let path = crate::shard_path(&self.repo.colony_dir().join("shards"), id);
        if !path.is_file() {
            return Err(StoreError::Refused(format!("no shard {id} here")));
        }
        let ob = self.outboards.get(id, &path)?;
        let size = ob.tree.size();
        write_frame(w, &Response::Shard { size }).map_err(io)?;
        let start = ChunkNum((from - from % GROUP_BYTES) / 1024);
        let ranges = ChunkRanges::from(start..);
        let file = std::fs::File::open(&path).map_err(io)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, w);
        let data = ShardData {
            file,
            flip_at: self.lie.then_some(size / 2),
        };
        // Not `encode_ranges_validated`: the outboard was computed from these very
        // bytes (and checked against the name) when first asked for, shards never
        // change in place, and the receiver checks every group anyway; hashing each
        // group again here would cost a second BLAKE3 pass per send.
        bao_tree::io::sync::encode_ranges(data, &*ob, &ranges, &mut w)
            .map_err(|e| StoreError::io(format!("send shard {id}"), std::io::Error::other(e)))?;
        w.flush().map_err(io)?;
        Ok(size - start.to_bytes().min(size))
    }
}

/// A shard file as bao-tree reads it; the test hook flips the byte at `flip_at`.
struct ShardData {
    file: std::fs::File,
    flip_at: Option<u64>,
}

impl bao_tree::io::sync::ReadAt for ShardData {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(&self.file, buf, pos)?;
        if let Some(f) = self.flip_at
            && f >= pos
            && f < pos + n as u64
        {
            buf[(f - pos) as usize] ^= 0xff;
        }
        Ok(n)
    }
}

impl bao_tree::io::sync::Size for ShardData {
    fn size(&self) -> std::io::Result<Option<u64>> {
        Ok(Some(self.file.metadata()?.len()))
    }
}

fn parse_ids(ids: &[String]) -> Result<Vec<ObjectId>> {
    ids.iter()
        .map(|s| {
            ObjectId::from_hex(s.as_bytes()).map_err(|_| StoreError::MalformedHistory {
                object: s.clone(),
                why: "not an object id".into(),
            })
        })
        .collect()
}

/// Every shard file in the store with its size.
pub fn list_shards(repo: &Repo) -> Result<Vec<(Hash, u64)>> {
    let dir = repo.colony_dir().join("shards");
    Ok(crate::ops::fork::list_shard_files(&dir)?
        .into_iter()
        .map(|id| {
            let size = std::fs::metadata(crate::shard_path(&dir, &id)).map_or(0, |m| m.len());
            (id, size)
        })
        .collect())
}

/// The history objects reachable from `tips` but not from `haves`, each after
/// everything it refers to. Commits reachable from `haves` and their root trees are
/// taken as held by the asker (with all they reach).
pub fn objects_to_send(
    repo: &Repo,
    tips: &[ObjectId],
    haves: &[ObjectId],
) -> Result<Vec<ObjectId>> {
    let h = repo.history();
    let gx = h.repo();
    let kind = gix::hash::Kind::Sha1;
    let mut known: HashSet<ObjectId> = HashSet::new();
    let present: Vec<ObjectId> = haves
        .iter()
        .copied()
        .filter(|id| gx.has_object(id))
        .collect();
    if !present.is_empty() {
        for c in h.walk(&present)? {
            known.insert(c);
            known.insert(h.commit_tree(c)?);
        }
    }
    let mut order = Vec::new();
    let mut done: HashSet<ObjectId> = HashSet::new();
    // (id, children pushed?)
    let mut stack: Vec<(ObjectId, bool)> = tips.iter().map(|t| (*t, false)).collect();
    while let Some((id, expanded)) = stack.pop() {
        if known.contains(&id) {
            continue;
        }
        if expanded {
            if done.insert(id) {
                order.push(id);
            }
            continue;
        }
        if done.contains(&id) {
            continue;
        }
        let obj = gx.find_object(id).map_err(StoreError::git)?;
        stack.push((id, true));
        match obj.kind {
            gix::objs::Kind::Commit => {
                let c =
                    gix::objs::CommitRef::from_bytes(&obj.data, kind).map_err(StoreError::git)?;
                stack.push((c.tree(), false));
                stack.extend(c.parents().map(|p| (p, false)));
            }
            gix::objs::Kind::Tree => {
                let t = gix::objs::TreeRef::from_bytes(&obj.data, kind).map_err(StoreError::git)?;
                for e in &t.entries {
                    if !e.mode.is_commit() {
                        stack.push((e.oid.to_owned(), false));
                    }
                }
            }
            gix::objs::Kind::Tag => {
                let t = gix::objs::TagRef::from_bytes(&obj.data, kind).map_err(StoreError::git)?;
                stack.push((t.target(), false));
            }
            gix::objs::Kind::Blob => {}
        }
    }
    Ok(order)
}
