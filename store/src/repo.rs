//! A dataset on disk: the work tree, `.colony/` and everything in it.
//!
//! ```text
//! .colony/
//!   config.toml      settings (user, store, remotes, dao …)
//!   history/         bare git repository (gix): commits, branches, tags, pins
//!   shards/aa/<blake3>.shard, shards/tmp/
//!   chunks.redb      chunk index: record hash → shard, offset, length
//!   index            work-tree index
//!   lock             store lock
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use gix::ObjectId;

use crate::chunks::ChunkStore;
use crate::config::Config;
use crate::error::{Result, StoreError};
use crate::history::{Head, History};
use crate::index::{Index, index_path};
use crate::lock::StoreLock;
use crate::progress::{NoProgress, Progress};
use crate::snapshot::Snapshot;

/// Name of the metadata folder at the root of every dataset.
pub const COLONY_DIR: &str = ".colony";

/// Whether a command only reads the store or also changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Shared lock: many readers at once.
    Read,
    /// Exclusive lock: one writer, no readers.
    Write,
}

/// An open dataset, holding the store lock for as long as it lives.
pub struct Repo {
    root: PathBuf,
    colony: PathBuf,
    history: History,
    config: Config,
    chunks: OnceLock<ChunkStore>,
    progress: Arc<dyn Progress>,
    access: Access,
    _lock: StoreLock,
}

/// Options for [`Repo::init`].
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Name of the first branch.
    pub branch: String,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            branch: "main".into(),
        }
    }
}

impl Repo {
    /// Creates a dataset in `dir` (which may already hold files).
    pub fn init(dir: &Path, opts: &InitOptions) -> Result<Repo> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::io(format!("create {}", dir.display()), e))?;
        let root = dir
            .canonicalize()
            .map_err(|e| StoreError::io(format!("resolve {}", dir.display()), e))?;
        let colony = root.join(COLONY_DIR);
        if colony.join("history").exists() {
            return Err(StoreError::AlreadyInitialised(root));
        }
        std::fs::create_dir_all(colony.join("shards"))
            .map_err(|e| StoreError::io("create .colony", e))?;
        let lock = StoreLock::acquire(&colony.join("lock"), true, &|_| {})?;
        History::init(&colony.join("history"), &opts.branch)?;
        let mut config = Config::load(&colony.join("config.toml"))?;
        config.set(
            "store.compression_level",
            toml::Value::Integer(crate::config::DEFAULT_COMPRESSION_LEVEL as i64),
        );
        config.set("store.format", toml::Value::Integer(1));
        ensure_dataset_id(&mut config)?;
        config.save()?;
        Index::default().save(&index_path(&colony))?;
        crate::durable::sync_filesystem(&colony)?;
        drop(lock);
        Repo::open(&root, Access::Write, &|_| {})
    }

    /// Finds the dataset containing `start` and opens it, waiting for the store lock.
    pub fn discover(start: &Path, access: Access, on_wait: &dyn Fn(&str)) -> Result<Repo> {
        let start = start
            .canonicalize()
            .map_err(|e| StoreError::io(format!("resolve {}", start.display()), e))?;
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            if d.join(COLONY_DIR).join("history").is_dir() {
                return Repo::open(d, access, on_wait);
            }
            dir = d.parent();
        }
        Err(StoreError::NotADataset(start))
    }

    /// Opens the dataset rooted at `root`.
    pub fn open(root: &Path, access: Access, on_wait: &dyn Fn(&str)) -> Result<Repo> {
        let colony = root.join(COLONY_DIR);
        let lock = StoreLock::acquire(&colony.join("lock"), access == Access::Write, on_wait)?;
        let history = History::open(&colony.join("history"))?;
        let config = Config::load(&colony.join("config.toml"))?;
        Ok(Repo {
            root: root.to_path_buf(),
            colony,
            history,
            config,
            chunks: OnceLock::new(),
            progress: Arc::new(NoProgress),
            access,
            _lock: lock,
        })
    }

    /// Reports long work to `p`.
    pub fn set_progress(&mut self, p: Arc<dyn Progress>) {
        self.progress = p;
    }

    /// The progress sink (shareable with worker threads).
    pub fn progress(&self) -> Arc<dyn Progress> {
        self.progress.clone()
    }

    /// The work-tree root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `.colony` folder.
    pub fn colony_dir(&self) -> &Path {
        &self.colony
    }

    /// The history repository.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration, for changing (call [`Config::save`]).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// How this handle holds the store.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The chunk store, opened on first use: shared with other readers when this handle
    /// only reads, so that `serve` answers many peers while a local `cat` or `diff` runs.
    pub fn chunks(&self) -> Result<&ChunkStore> {
        if let Some(c) = self.chunks.get() {
            return Ok(c);
        }
        let (shards, index) = (self.colony.join("shards"), self.colony.join("chunks.redb"));
        let c = match self.access {
            Access::Write => ChunkStore::open(&shards, &index)?,
            Access::Read => ChunkStore::open_read_only(&shards, &index)?,
        };
        Ok(self.chunks.get_or_init(|| c))
    }

    /// Loads the work-tree index.
    pub fn load_index(&self) -> Result<Index> {
        Index::load(&index_path(&self.colony))
    }

    /// Saves the work-tree index.
    pub fn save_index(&self, ix: &mut Index) -> Result<()> {
        ix.save(&index_path(&self.colony))
    }

    /// Where HEAD points.
    pub fn head(&self) -> Result<Head> {
        self.history.head()
    }

    /// Resolves a revision to a commit.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId> {
        self.history.resolve(rev)
    }

    /// The snapshot of a commit, refusing hostile paths.
    pub fn snapshot_of(&self, commit: ObjectId) -> Result<Snapshot> {
        let s = self.history.read_snapshot(commit)?;
        if let Some(h) = s.hostile.into_iter().next() {
            return Err(StoreError::HostilePath {
                path: h.path,
                why: h.why,
            });
        }
        Ok(s.files)
    }

    /// The index, made consistent with HEAD if another operation moved HEAD under it.
    pub fn index_for_head(&self) -> Result<Index> {
        let mut ix = self.load_index()?;
        let head = self.head()?.commit();
        if ix.base_commit != head {
            let base = match head {
                Some(c) => self.snapshot_of(c)?,
                None => Snapshot::new(),
            };
            for e in ix.entries.values_mut() {
                e.base = None;
            }
            for (p, e) in base {
                ix.entries.entry(p).or_default().base = Some(e);
            }
            ix.entries
                .retain(|_, e| e.staged.is_some() || e.base.is_some());
            ix.base_commit = head;
        }
        Ok(ix)
    }
}

/// A fresh dataset id: 128 random bits from the OS, as 32 hex digits.
pub fn new_dataset_id() -> Result<String> {
    let mut buf = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .map_err(|e| StoreError::io("read /dev/urandom", e))?;
    Ok(hex::encode(buf))
}

/// The dataset id in `config`, assigning (but not saving) one if it has none.
pub fn ensure_dataset_id(config: &mut Config) -> Result<String> {
    if let Some(id) = config.get_str("dataset.id") {
        return Ok(id.to_string());
    }
    let id = new_dataset_id()?;
    config.set("dataset.id", toml::Value::String(id.clone()));
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two read handles (two `serve` connections, `serve` beside a local `cat`) use the
    /// chunk index at the same time; a write handle comes after them.
    #[test]
    fn read_handles_share_the_chunk_index() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
        repo.chunks().unwrap();
        drop(repo);
        let a = Repo::open(dir.path(), Access::Read, &|_| {}).unwrap();
        let b = Repo::open(dir.path(), Access::Read, &|_| {}).unwrap();
        assert_eq!(a.chunks().unwrap().record_count().unwrap(), 0);
        assert_eq!(b.chunks().unwrap().record_count().unwrap(), 0);
        assert!(!a.chunks().unwrap().is_writable());
        drop((a, b));
        let w = Repo::open(dir.path(), Access::Write, &|_| {}).unwrap();
        assert!(w.chunks().unwrap().is_writable());
    }
}
