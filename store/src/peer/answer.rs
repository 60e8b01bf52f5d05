//! Answering requests from a store: what a serving node (and a pushing client, for the
//! node that fetches from it) sends. Synchronous; the caller bridges to QUIC streams.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bao_tree::io::outboard::PostOrderMemOutboard;
use bao_tree::{BaoTree, ChunkNum, ChunkRanges};
use gix::ObjectId;

use super::protocol::{
    BLOCK_SIZE, GROUP_BYTES, MAX_GLOB_LEN, RUNS, Request, Response, kind_code, write_frame,
};
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::repo::Repo;
pub use crate::snapshot::glob::{Glob, glob_matches};
pub use crate::snapshot::shards::{shards_of, snapshot_files, snapshot_shards};

/// The default byte bound of an [`Outboards`] cache: 256 MiB, the outboards of about
/// 64 GiB of shards.
pub const OUTBOARD_CACHE_BYTES: u64 = 256 << 20;

/// What one cached outboard is charged beyond its bytes (the map entry, the tree), so
/// that many small shards, whose outboards are empty, are bounded too.
const ENTRY_COST: u64 = 256;

/// Bao outboards (the BLAKE3 tree of a shard in 16 KiB groups, about 1/256 of the
/// shard's size) computed on demand and kept in memory, up to a byte bound: when an
/// insertion goes over it, the least recently used outboards are dropped (and computed
/// again from the shard if asked for again). An outboard larger than the whole bound is
/// used for its request and not kept.
pub struct Outboards {
    cap: u64,
    lru: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    /// Outboard and the tick of its last use.
    map: HashMap<Hash, (Arc<PostOrderMemOutboard>, u64)>,
    /// Last-use tick → shard, oldest first.
    order: BTreeMap<u64, Hash>,
    /// Bytes charged for what `map` holds.
    bytes: u64,
    tick: u64,
}

fn cost(o: &PostOrderMemOutboard) -> u64 {
    o.data.len() as u64 + ENTRY_COST
}

impl Default for Outboards {
    fn default() -> Self {
        Outboards::new(OUTBOARD_CACHE_BYTES)
    }
}

impl Outboards {
    /// An empty cache that keeps at most `cap` bytes of outboards.
    pub fn new(cap: u64) -> Outboards {
        Outboards {
            cap,
            lru: Mutex::default(),
        }
    }

    /// Bytes the cache holds now (never more than its bound).
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Outboards the cache holds now.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether the cache holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The outboard of shard `id` stored at `path`, computing it when not cached.
    /// Refuses a shard whose bytes do not hash to its name (a damaged store serves
    /// nothing).
    pub fn get(&self, id: &Hash, path: &Path) -> Result<Arc<PostOrderMemOutboard>> {
        {
            let mut lru = self.lock();
            lru.tick += 1;
            let now = lru.tick;
            if let Some((o, used)) = lru.map.get_mut(id) {
                let (o, before) = (o.clone(), std::mem::replace(used, now));
                lru.order.remove(&before);
                lru.order.insert(now, *id);
                return Ok(o);
            }
        }
        let o = Arc::new(compute_outboard(id, path)?);
        let c = cost(&o);
        if c > self.cap {
            return Ok(o);
        }
        let mut lru = self.lock();
        if lru.map.contains_key(id) {
            // Computed meanwhile by another request.
            return Ok(o);
        }
        while lru.bytes + c > self.cap {
            let Some((_, old)) = lru.order.pop_first() else {
                break;
            };
            if let Some((gone, _)) = lru.map.remove(&old) {
                lru.bytes -= cost(&gone);
            }
        }
        lru.tick += 1;
        let now = lru.tick;
        lru.map.insert(*id, (o.clone(), now));
        lru.order.insert(now, *id);
        lru.bytes += c;
        Ok(o)
    }
}

/// Hashes the shard at `path` into its outboard, checking that it is shard `id`.
fn compute_outboard(id: &Hash, path: &Path) -> Result<PostOrderMemOutboard> {
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
    Ok(PostOrderMemOutboard { root, tree, data })
}

/// The glob of a [`Request::SnapshotShards`], compiled; refused when longer than
/// [`MAX_GLOB_LEN`] bytes.
pub fn peer_glob(paths: Option<&str>) -> Result<Option<Glob>> {
    match paths {
        Some(p) if p.len() > MAX_GLOB_LEN => Err(StoreError::Refused(format!(
            "a --paths glob of {} bytes is longer than the {MAX_GLOB_LEN} bytes a peer accepts",
            p.len()
        ))),
        p => Ok(p.map(Glob::new)),
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
                    h.list_refs(crate::history::RUNS_PREFIX)?
                        .into_iter()
                        .map(|(n, id)| (format!("{RUNS}{n}"), id.to_string())),
                );
                write_frame(w, &Response::Refs(refs)).map_err(io)?;
            }
            Request::Shards => {
                write_frame(w, &Response::Shards(list_shards(self.repo)?)).map_err(io)?;
            }
            Request::SnapshotShards { commit, paths } => {
                let glob = peer_glob(paths.as_deref())?;
                let id = self.repo.resolve(commit)?;
                let files = snapshot_files(self.repo, id, glob.as_ref(), &|| false)?;
                let shards = shards_of(self.repo, &files, &|| false)?;
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
    crate::files::list_shards_sized(&repo.colony_dir().join("shards"))
}

/// The history objects reachable from `tips` that the holder of `haves` lacks, each
/// after everything it refers to ([`crate::history::History::missing_objects`]).
pub fn objects_to_send(
    repo: &Repo,
    tips: &[ObjectId],
    haves: &[ObjectId],
) -> Result<Vec<ObjectId>> {
    repo.history().missing_objects(tips, haves)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Writes a shard-like file of `len` bytes under `dir`, named by its BLAKE3.
    fn shard_file(dir: &Path, len: usize, seed: u8) -> (Hash, std::path::PathBuf) {
        let bytes: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(seed).wrapping_add((i >> 9) as u8))
            .collect();
        let id = Hash(*blake3::hash(&bytes).as_bytes());
        let path = dir.join(id.to_string());
        std::fs::write(&path, bytes).unwrap();
        (id, path)
    }

    /// A peer asking for a tiny range of every shard used to make `serve` keep every
    /// shard's outboard for its whole life; now the cache stays under its bound,
    /// dropping the least recently used, and an evicted outboard is computed again.
    #[test]
    fn the_outboard_cache_stays_under_its_byte_bound() {
        let dir = tempfile::tempdir().unwrap();
        // A 1 MiB shard has 64 groups: 63 parent pairs of 64 bytes.
        let per = 63 * 64 + ENTRY_COST;
        let cache = Outboards::new(3 * per + per / 2);
        let shards: Vec<_> = (0..40)
            .map(|i| shard_file(dir.path(), 1 << 20, i as u8 * 2 + 1))
            .collect();
        let mut first = Vec::new();
        for (id, path) in &shards {
            let o = cache.get(id, path).unwrap();
            assert_eq!(cost(&o), per);
            first.push(o.data.clone());
            assert!(cache.bytes() <= 3 * per + per / 2, "{}", cache.bytes());
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.bytes(), 3 * per);
        // The most recent three are kept; using one keeps it over newer ones.
        let hits_before = cache.lock().tick;
        let kept = cache.get(&shards[37].0, &shards[37].1).unwrap();
        assert_eq!(kept.data, first[37]);
        assert_eq!(cache.lock().tick, hits_before + 1, "served from the cache");
        let again = cache.get(&shards[0].0, &shards[0].1).unwrap();
        assert_eq!(again.data, first[0], "recomputed the same");
        let keys: HashSet<Hash> = cache.lock().map.keys().copied().collect();
        assert_eq!(
            keys,
            [shards[0].0, shards[37].0, shards[39].0]
                .into_iter()
                .collect()
        );
        // An outboard larger than the whole bound is served, not kept.
        let (big, big_path) = shard_file(dir.path(), 8 << 20, 3);
        let o = cache.get(&big, &big_path).unwrap();
        assert!(cost(&o) > 3 * per + per / 2);
        assert!(!cache.lock().map.contains_key(&big));
        assert!(cache.bytes() <= 3 * per + per / 2);
        // A file that is not the shard it is asked for is refused.
        let e = cache.get(&shards[1].0, &shards[2].1).unwrap_err();
        assert!(matches!(e, StoreError::CorruptShard { .. }), "{e}");
    }
}
