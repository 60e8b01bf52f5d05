//! Readahead: a read that starts where the previous read of the same path ended is
//! sequential; the chunks after it are then loaded into the cache by a few background
//! threads, in a window that doubles with every sequential read up to a limit.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use crossbeam_channel::{Sender, TrySendError};

use super::cache::ChunkCache;
use super::layout::FileLayout;

/// The first window after a sequential read is detected.
const FIRST_WINDOW: u64 = 512 << 10;
/// Paths whose access pattern is tracked at once.
const TRACKED: usize = 4096;
/// Chunks queued for the workers at most.
const QUEUE: usize = 512;

/// What a worker loads: chunk `index` of `layout`.
pub(crate) struct Task {
    pub(crate) layout: Arc<FileLayout>,
    pub(crate) path: Arc<str>,
    pub(crate) index: usize,
}

/// What a worker calls to load a chunk into the cache (implemented by the reader).
pub(crate) trait Prefetch: Send + Sync + 'static {
    fn prefetch(&self, task: &Task);
}

struct Stream {
    /// Where the next sequential read would start.
    next: u64,
    window: u64,
    /// Chunks below this index are loaded or queued.
    ahead: usize,
}

pub(crate) struct Readahead {
    tx: Sender<Task>,
    max_window: u64,
    streams: Mutex<HashMap<Arc<str>, Stream>>,
}

impl Readahead {
    /// Starts `threads` workers that load for `target` while it lives.
    pub(crate) fn start<P: Prefetch>(
        threads: usize,
        max_window: u64,
        target: Weak<P>,
    ) -> Readahead {
        let (tx, rx) = crossbeam_channel::bounded::<Task>(QUEUE);
        for _ in 0..threads {
            let (rx, target) = (rx.clone(), target.clone());
            // Detached: a worker ends when the reader (and with it `tx`) is dropped.
            let _ = std::thread::Builder::new()
                .name("colony-readahead".into())
                .spawn(move || {
                    for task in rx.iter() {
                        let Some(t) = target.upgrade() else { break };
                        t.prefetch(&task);
                    }
                });
        }
        Readahead {
            tx,
            max_window,
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// Notes a read of `[offset, end)` of `path`, which used chunks up to `last`, and
    /// queues the chunks ahead of it when it continues the previous one.
    pub(crate) fn note(
        &self,
        path: &str,
        layout: &Arc<FileLayout>,
        offset: u64,
        end: u64,
        last: usize,
        cache: &ChunkCache,
    ) {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if streams.len() >= TRACKED && !streams.contains_key(path) {
            streams.clear();
        }
        let key: Arc<str> = match streams.get_key_value(path) {
            Some((k, _)) => k.clone(),
            None => Arc::from(path),
        };
        let st = streams.entry(key.clone()).or_insert(Stream {
            next: u64::MAX,
            window: 0,
            ahead: 0,
        });
        let sequential = offset == st.next;
        st.next = end;
        if !sequential {
            st.window = 0;
            st.ahead = last + 1;
            return;
        }
        st.window = if st.window == 0 {
            FIRST_WINDOW.min(self.max_window)
        } else {
            (st.window * 2).min(self.max_window)
        };
        let size = layout.size();
        if end >= size {
            return;
        }
        let target = layout.chunk_at((end + st.window).min(size) - 1);
        let mut i = st.ahead.max(last + 1);
        while i <= target {
            if !cache.contains(&layout.chunks[i].0) {
                let task = Task {
                    layout: layout.clone(),
                    path: key.clone(),
                    index: i,
                };
                match self.tx.try_send(task) {
                    Ok(()) => {}
                    // The workers are behind; try again on the next read.
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => break,
                }
            }
            i += 1;
        }
        st.ahead = i;
    }
}

/// Counts a chunk loaded ahead.
pub(crate) fn count_prefetch(cache: &ChunkCache) {
    cache.prefetched.fetch_add(1, Ordering::Relaxed);
}
