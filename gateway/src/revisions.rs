//! Revisions named in requests, resolved to commits and opened as readers: a few readers
//! kept open (one per commit, least recently used closed first), so a request costs a map
//! lookup rather than opening the history and leasing the revision again.
//!
//! A name that can move (a branch, `HEAD~1`) is resolved again after [`NAME_TTL`], so a
//! commit on a branch shows within that time; a full commit id or snapshot root names
//! one snapshot forever and is resolved once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use colony_store::history::History;
use colony_store::lock::StoreLock;
use colony_store::snapshot::resolve_revision;
use colony_store::{ObjectId, ReaderOptions, SnapshotReader, StoreError};

/// How long a movable name's resolution is trusted.
pub const NAME_TTL: Duration = Duration::from_secs(1);
/// Names remembered at most (past it, the memory is cleared; it is only a cache).
const NAMES_KEPT: usize = 4096;
/// Longest revision name accepted (longer ones are refused before the history is read).
const MAX_REV_LEN: usize = 256;

/// One revision, open for reading.
pub struct Opened {
    /// The reader (shared by every request for this commit).
    pub reader: SnapshotReader,
    /// The commit's time: `Last-Modified` of everything in it.
    pub time: SystemTime,
}

/// The revisions of one dataset, resolved and opened on demand.
pub struct Revisions {
    root: PathBuf,
    opts: ReaderOptions,
    capacity: usize,
    /// The one commit served, when restricted (see [`Revisions::only`]).
    only: Option<String>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// name → (commit, commit time, when resolved; `None` = forever).
    names: HashMap<String, (ObjectId, SystemTime, Option<Instant>)>,
    /// Open readers, least recently used first.
    open: Vec<(ObjectId, Arc<Opened>)>,
}

impl Revisions {
    /// Revisions of the dataset at `root`, keeping up to `capacity` readers open.
    pub fn new(root: &Path, opts: ReaderOptions, capacity: usize) -> Revisions {
        Revisions {
            root: root.to_path_buf(),
            opts,
            capacity: capacity.max(1),
            only: None,
            state: Mutex::new(State::default()),
        }
    }

    /// Restricts these revisions to commit `commit` (a full id; `None` lifts it): any
    /// name resolving elsewhere is unknown, and [`names`](Revisions::names) lists the
    /// commit alone.
    pub fn only(mut self, commit: Option<String>) -> Revisions {
        self.only = commit.map(|c| c.to_ascii_lowercase());
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Revision `rev` (anything [`SnapshotReader::open`] accepts), opened. Blocking: it
    /// may read the history and wait for the store's shared lock.
    ///
    /// Errors: [`StoreError::UnknownRevision`] (also for names that are empty, too long
    /// or hold control characters), and whatever opening the reader reports.
    pub fn open(&self, rev: &str) -> Result<Arc<Opened>, StoreError> {
        let (commit, time) = self.resolve(rev)?;
        {
            let mut st = self.state();
            if let Some(i) = st.open.iter().position(|(c, _)| *c == commit) {
                let hit = st.open.remove(i);
                let opened = hit.1.clone();
                st.open.push(hit);
                return Ok(opened);
            }
        }
        // Opened outside the state lock: other revisions are served meanwhile.
        let reader = SnapshotReader::open_with(&self.root, &commit.to_string(), self.opts.clone())?;
        let opened = Arc::new(Opened { reader, time });
        let mut st = self.state();
        if let Some((_, other)) = st.open.iter().find(|(c, _)| *c == commit) {
            // Another request opened it at the same time; keep one.
            return Ok(other.clone());
        }
        st.open.push((commit, opened.clone()));
        while st.open.len() > self.capacity {
            // Requests still reading the evicted one keep it alive until they finish.
            st.open.remove(0);
        }
        Ok(opened)
    }

    /// The commit `rev` names now, and its time.
    fn resolve(&self, rev: &str) -> Result<(ObjectId, SystemTime), StoreError> {
        if rev.is_empty() || rev.len() > MAX_REV_LEN || rev.chars().any(char::is_control) {
            return Err(StoreError::UnknownRevision {
                rev: rev.escape_debug().to_string(),
                why: "not a revision name".into(),
            });
        }
        if let Some(&(commit, time, when)) = self.state().names.get(rev)
            && when.is_none_or(|t| t.elapsed() < NAME_TTL)
        {
            return Ok((commit, time));
        }
        let (commit, time) = {
            let colony = self.root.join(".colony");
            let _shared = StoreLock::acquire(&colony.join("lock"), false, &|_| {})?;
            let history = History::open(&colony.join("history"))?;
            let commit = resolve_revision(&history, rev)?;
            let secs = history.commit_info(commit)?.time;
            let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
            (commit, time)
        };
        if let Some(only) = &self.only
            && !only.eq_ignore_ascii_case(&commit.to_string())
        {
            return Err(StoreError::UnknownRevision {
                rev: rev.to_string(),
                why: format!("this gateway serves commit {only} only"),
            });
        }
        let fixed = (rev.len() == 40 || rev.len() == 64)
            && rev.bytes().all(|b| b.is_ascii_hexdigit())
            && (rev.len() == 64 || commit.to_string().eq_ignore_ascii_case(rev));
        let mut st = self.state();
        if st.names.len() >= NAMES_KEPT {
            st.names.clear();
        }
        let when = (!fixed).then(Instant::now);
        st.names.insert(rev.to_string(), (commit, time, when));
        Ok((commit, time))
    }

    /// The names a client can list: branches, tags and pins (short names, sorted,
    /// without duplicates).
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        if let Some(only) = &self.only {
            return Ok(vec![only.clone()]);
        }
        let colony = self.root.join(".colony");
        let _shared = StoreLock::acquire(&colony.join("lock"), false, &|_| {})?;
        let history = History::open(&colony.join("history"))?;
        let mut out = Vec::new();
        for prefix in ["refs/heads/", "refs/tags/", "refs/pins/"] {
            out.extend(history.list_refs(prefix)?.into_iter().map(|(n, _)| n));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}
