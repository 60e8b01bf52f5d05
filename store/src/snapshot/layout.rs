//! Where a file's bytes are: its chunks in order, their end offsets (a prefix sum over the
//! manifest, searched by binary search), and where each chunk lives once looked up.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::Hash;
use crate::chunks::Location;

/// Where one chunk of a layout lives, as far as this reader knows.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc {
    /// Not looked up yet.
    Unknown,
    /// In this shard.
    At(Location),
    /// Looked up: the local index does not have it.
    Absent,
}

/// One file version's chunks (keyed by file hash and manifest, so paths with the same
/// content share it).
pub(crate) struct FileLayout {
    /// (chunk hash, length) in file order.
    pub(crate) chunks: Vec<(Hash, u32)>,
    /// `ends[i]` = offset just past chunk `i`.
    pub(crate) ends: Vec<u64>,
    pub(crate) locs: Mutex<Vec<Loc>>,
    /// Held while this layout's locations are being looked up.
    pub(crate) locating: Mutex<()>,
}

impl FileLayout {
    pub(crate) fn new(chunks: Vec<(Hash, u32)>) -> FileLayout {
        let mut end = 0u64;
        let ends = chunks
            .iter()
            .map(|(_, l)| {
                end += *l as u64;
                end
            })
            .collect();
        let locs = Mutex::new(vec![Loc::Unknown; chunks.len()]);
        FileLayout {
            chunks,
            ends,
            locs,
            locating: Mutex::new(()),
        }
    }

    /// Total length.
    pub(crate) fn size(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The chunk holding byte `offset` (which must be below [`FileLayout::size`]).
    pub(crate) fn chunk_at(&self, offset: u64) -> usize {
        self.ends.partition_point(|&e| e <= offset)
    }

    /// Where chunk `i` starts.
    pub(crate) fn start(&self, i: usize) -> u64 {
        if i == 0 { 0 } else { self.ends[i - 1] }
    }

    pub(crate) fn locs(&self) -> std::sync::MutexGuard<'_, Vec<Loc>> {
        self.locs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets which chunks were found absent (read-through brought them).
    pub(crate) fn forget_absent(&self) {
        for l in self.locs().iter_mut() {
            if matches!(l, Loc::Absent) {
                *l = Loc::Unknown;
            }
        }
    }

    /// Forgets every location in `shard` (it was deleted by a `gc` repack).
    pub(crate) fn forget_shard(&self, shard: &Hash) {
        for l in self.locs().iter_mut() {
            if matches!(l, Loc::At(at) if at.shard == *shard) {
                *l = Loc::Unknown;
            }
        }
    }
}

/// The key of a layout: file hash and manifest.
pub(crate) type LayoutKey = (Hash, Option<Hash>);

/// Layouts recently used, bounded by the chunks they list (each costs ~130 bytes).
pub(crate) struct Layouts {
    map: HashMap<LayoutKey, Arc<FileLayout>>,
    order: VecDeque<LayoutKey>,
    chunks: usize,
    budget: usize,
}

impl Layouts {
    pub(crate) fn new(budget_chunks: usize) -> Layouts {
        Layouts {
            map: HashMap::new(),
            order: VecDeque::new(),
            chunks: 0,
            budget: budget_chunks,
        }
    }

    pub(crate) fn get(&self, key: &LayoutKey) -> Option<Arc<FileLayout>> {
        self.map.get(key).cloned()
    }

    /// Keeps `layout`, dropping the oldest ones beyond the budget (a layout larger than
    /// the whole budget is still kept, alone).
    pub(crate) fn insert(&mut self, key: LayoutKey, layout: Arc<FileLayout>) {
        if self.map.contains_key(&key) {
            return;
        }
        let n = layout.chunks.len().max(1);
        while self.chunks + n > self.budget {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(l) = self.map.remove(&old) {
                self.chunks -= l.chunks.len().max(1);
            }
        }
        self.chunks += n;
        self.order.push_back(key);
        self.map.insert(key, layout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_by_binary_search() {
        let l = FileLayout::new(vec![
            (Hash::of(b"a"), 10),
            (Hash::of(b"b"), 5),
            (Hash::of(b"c"), 7),
        ]);
        assert_eq!(l.size(), 22);
        assert_eq!(l.chunk_at(0), 0);
        assert_eq!(l.chunk_at(9), 0);
        assert_eq!(l.chunk_at(10), 1);
        assert_eq!(l.chunk_at(14), 1);
        assert_eq!(l.chunk_at(15), 2);
        assert_eq!(l.chunk_at(21), 2);
        assert_eq!((l.start(0), l.start(1), l.start(2)), (0, 10, 15));
    }
}
