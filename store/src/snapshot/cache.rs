//! The reader's memory: a byte-bounded CLOCK cache of verified, decompressed chunks, and
//! single-flight loading so that threads asking for the same chunk at once read it once.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash as StdHash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::Hash;
use crate::error::Result;

/// Bytes of a chunk, shared between the cache and the reads using them.
pub(crate) type ChunkBytes = Arc<Vec<u8>>;

/// What a reader's chunk cache holds and how it has been used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// The bound, in bytes of decompressed chunks.
    pub capacity: u64,
    /// Bytes held now.
    pub bytes: u64,
    /// The most bytes ever held at once (never above `capacity`).
    pub peak_bytes: u64,
    /// Chunks held now.
    pub chunks: u64,
    /// Chunk look-ups by reads that found the chunk cached.
    pub hits: u64,
    /// Chunk look-ups by reads that had to load it.
    pub misses: u64,
    /// Chunks loaded ahead of sequential reads.
    pub prefetched: u64,
}

struct Slot {
    data: ChunkBytes,
    /// CLOCK's reference bit: set on use, cleared as the hand passes.
    referenced: bool,
}

#[derive(Default)]
struct State {
    map: HashMap<Hash, Slot>,
    /// The clock: every key of `map` once, the hand at the front.
    ring: VecDeque<Hash>,
    bytes: u64,
    peak: u64,
}

/// A cache of chunks keyed by their hash, bounded by the bytes it holds. Chunks are only
/// ever inserted after verification, and a hash names its bytes, so an entry is valid for
/// every file and revision that uses it.
pub(crate) struct ChunkCache {
    capacity: u64,
    state: Mutex<State>,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) prefetched: AtomicU64,
}

impl ChunkCache {
    pub(crate) fn new(capacity: u64) -> ChunkCache {
        ChunkCache {
            capacity,
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            prefetched: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, hash: &Hash) -> Option<ChunkBytes> {
        let mut s = self.lock();
        let slot = s.map.get_mut(hash)?;
        slot.referenced = true;
        Some(slot.data.clone())
    }

    pub(crate) fn contains(&self, hash: &Hash) -> bool {
        self.lock().map.contains_key(hash)
    }

    /// Inserts a verified chunk, evicting by CLOCK until it fits. A chunk larger than the
    /// whole cache is not kept.
    pub(crate) fn insert(&self, hash: Hash, data: ChunkBytes) {
        let len = data.len() as u64;
        if len > self.capacity {
            return;
        }
        let mut s = self.lock();
        if s.map.contains_key(&hash) {
            return;
        }
        while s.bytes + len > self.capacity {
            let Some(victim) = s.ring.pop_front() else {
                break;
            };
            let slot = s.map.get_mut(&victim).expect("ring and map agree");
            if slot.referenced {
                slot.referenced = false;
                s.ring.push_back(victim);
            } else {
                let gone = s.map.remove(&victim).expect("ring and map agree");
                s.bytes -= gone.data.len() as u64;
            }
        }
        s.bytes += len;
        s.peak = s.peak.max(s.bytes);
        s.ring.push_back(hash);
        s.map.insert(
            hash,
            Slot {
                data,
                referenced: false,
            },
        );
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let s = self.lock();
        CacheStats {
            capacity: self.capacity,
            bytes: s.bytes,
            peak_bytes: s.peak,
            chunks: s.map.len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            prefetched: self.prefetched.load(Ordering::Relaxed),
        }
    }
}

/// Single-flight: concurrent calls for one key run the work once; the others wait for it
/// and share the value. A failure is not shared: each waiter then does the work itself,
/// so every caller gets its own typed error.
pub(crate) struct Flights<K, V> {
    map: Mutex<HashMap<K, Arc<OnceLock<Option<V>>>>>,
}

impl<K: Eq + StdHash + Clone, V: Clone> Flights<K, V> {
    pub(crate) fn new() -> Self {
        Flights {
            map: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn run(&self, key: &K, work: impl Fn() -> Result<V>) -> Result<V> {
        let slot = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let mut mine = None;
        let got = slot
            .get_or_init(|| match work() {
                Ok(v) => Some(v),
                Err(e) => {
                    mine = Some(e);
                    None
                }
            })
            .clone();
        {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if map.get(key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                map.remove(key);
            }
        }
        match (got, mine) {
            (Some(v), _) => Ok(v),
            (None, Some(e)) => Err(e),
            (None, None) => work(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: u8, len: usize) -> (Hash, ChunkBytes) {
        let v = vec![n; len];
        (Hash::of(&v), Arc::new(v))
    }

    #[test]
    fn stays_within_its_bound_and_keeps_what_is_used() {
        let c = ChunkCache::new(1000);
        let (a, da) = chunk(1, 400);
        c.insert(a, da);
        for n in 2..50 {
            let (h, d) = chunk(n, 300);
            c.insert(h, d);
            // `a` is used between every insertion: CLOCK keeps it.
            assert!(c.get(&a).is_some(), "evicted a chunk in use at {n}");
            assert!(c.stats().bytes <= 1000);
        }
        let s = c.stats();
        assert!(s.peak_bytes <= 1000 && s.bytes <= 1000, "{s:?}");
        // Too big to keep at all.
        let (big, dbig) = chunk(99, 2000);
        c.insert(big, dbig);
        assert!(c.get(&big).is_none());
    }

    #[test]
    fn one_flight_per_key_and_failures_are_not_shared() {
        let f: Arc<Flights<u32, u32>> = Arc::new(Flights::new());
        let runs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (f, runs) = (f.clone(), runs.clone());
                std::thread::spawn(move || {
                    f.run(&7, || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        Ok(42)
                    })
                    .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 42);
        }
        // How many threads shared one run depends on scheduling; every one got the value.
        assert!(runs.load(Ordering::SeqCst) >= 1);
        let err = f
            .run(&8, || Err(crate::StoreError::Refused("no".into())))
            .unwrap_err();
        assert!(matches!(err, crate::StoreError::Refused(_)));
        assert_eq!(f.run(&8, || Ok(1)).unwrap(), 1);
    }
}
