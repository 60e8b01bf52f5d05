//! `fork` and `lineage`: a new dataset that shares history and chunks with its parent.
//!
//! Nothing is stored twice on one disk. Shard files and git object files are immutable
//! once written (colony only ever creates, renames and deletes them), so the fork
//! hard-links them — falling back to a reflink, then to a copy, when the destination is
//! on another file system. The chunk index (`chunks.redb`) is copied: it is small next to
//! the data and each dataset must update its own. History objects are linked rather than
//! shared through git alternates so that the fork stays whole when its parent is moved,
//! `gc`ed or deleted.
//!
//! Each dataset has an id (128 random bits, hex) in `config.toml` under `[dataset]`; a
//! fork records its parents, nearest first, under `[[lineage]]` (id, name, path, the
//! fork-point commit and its snapshot root), so `lineage` reads the whole chain without
//! the ancestors being present.

use std::path::{Path, PathBuf};

use crate::Hash;
use crate::config::Config;
use crate::durable;
use crate::error::{Result, StoreError};
pub use crate::files::{Shared, copy_file, files_under, list_shard_files, share_file};
use crate::history::Head;
use crate::index::{Index, index_path};
use crate::ops::checkout::ResetMode;
use crate::repo::{Access, COLONY_DIR, Repo};
pub use crate::repo::{ensure_dataset_id, new_dataset_id};
pub use crate::worktree::precreate_folders;

/// One step of a dataset's ancestry: the dataset it was forked from, and where.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ancestor {
    /// The parent's dataset id.
    pub id: String,
    /// The parent's name, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the parent was when the fork was made.
    pub path: String,
    /// The parent's HEAD commit at the fork.
    pub fork_commit: Option<String>,
    /// The snapshot root of that commit.
    pub fork_root: Option<Hash>,
}

/// What `lineage` reports.
#[derive(Debug, serde::Serialize)]
pub struct LineageReport {
    /// This dataset's id.
    pub id: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Where it is.
    pub path: String,
    /// Its ancestors, nearest (the parent) first; empty for an origin.
    pub parents: Vec<Ancestor>,
}

/// What `fork` did.
#[derive(Debug, serde::Serialize)]
pub struct ForkReport {
    /// The new dataset's id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Where it is.
    pub path: String,
    /// The parent, as recorded in the fork's lineage.
    pub parent: Ancestor,
    /// Shard files shared by hard link.
    pub shards_linked: usize,
    /// Shard files shared by reflink (copy-on-write clone).
    pub shards_cloned: usize,
    /// Shard files copied (another file system without reflinks).
    pub shards_copied: usize,
    /// Bytes of shard files shared (linked or cloned) rather than copied.
    pub bytes_shared: u64,
    /// Bytes of shard files copied.
    pub bytes_copied: u64,
    /// Git object files (loose objects and packs) brought over.
    pub history_files: usize,
    /// Files checked out into the new work tree.
    pub checked_out: usize,
}

/// The recorded ancestry in `config`, nearest first.
pub fn read_lineage(config: &Config) -> Result<Vec<Ancestor>> {
    match config.get("lineage") {
        None => Ok(Vec::new()),
        Some(v) => v.clone().try_into().map_err(|e: toml::de::Error| {
            StoreError::Refused(format!(
                "the [[lineage]] entries of .colony/config.toml are malformed: {e}"
            ))
        }),
    }
}

fn to_toml<T: serde::Serialize>(v: &T) -> Result<toml::Value> {
    toml::Value::try_from(v).map_err(|e| StoreError::Refused(format!("encode config: {e}")))
}

/// `path` with `.` and `..` resolved lexically (for comparing, not for opening).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

impl Repo {
    /// This dataset's id and name, assigning and saving an id if it has none yet
    /// (datasets made before ids existed). Needs write access when it assigns one.
    pub fn dataset_identity(&mut self) -> Result<(String, Option<String>)> {
        let had = self.config().get_str("dataset.id").is_some();
        let id = ensure_dataset_id(self.config_mut())?;
        if !had {
            self.config().save()?;
        }
        Ok((
            id,
            self.config().get_str("dataset.name").map(str::to_string),
        ))
    }

    /// The chain of forks from this dataset back to its origin.
    pub fn lineage(&self) -> Result<LineageReport> {
        Ok(LineageReport {
            id: self
                .config()
                .get_str("dataset.id")
                .unwrap_or("(none: made before dataset ids; `colony fork` assigns one)")
                .to_string(),
            name: self.config().get_str("dataset.name").map(str::to_string),
            path: self.root().display().to_string(),
            parents: read_lineage(self.config())?,
        })
    }

    /// Forks this dataset into `dest` (which must not exist, or be an empty folder): the
    /// new dataset shares every shard and history object with this one, starts on the
    /// same branch, records its lineage, gets a remote `parent` pointing here, and has its
    /// work tree checked out unless `checkout` is false.
    pub fn fork(&mut self, dest: &Path, name: Option<&str>, checkout: bool) -> Result<ForkReport> {
        if dest.exists()
            && std::fs::read_dir(dest)
                .map_err(|e| StoreError::io(format!("list {}", dest.display()), e))?
                .next()
                .is_some()
        {
            return Err(StoreError::Refused(format!(
                "{} already exists and is not empty; fork into a new folder",
                dest.display()
            )));
        }
        let lexical = normalise(dest);
        if lexical.starts_with(self.root()) || self.root().starts_with(&lexical) {
            return Err(StoreError::Refused(format!(
                "{} overlaps the dataset being forked; fork into a folder outside it",
                dest.display()
            )));
        }
        let (parent_id, parent_name) = self.dataset_identity()?;
        let head = self.head()?;
        let fork_commit = head.commit();
        let fork_root = match fork_commit {
            Some(c) => self.history().commit_info(c)?.root,
            None => None,
        };
        std::fs::create_dir_all(dest)
            .map_err(|e| StoreError::io(format!("create {}", dest.display()), e))?;
        let dest = dest
            .canonicalize()
            .map_err(|e| StoreError::io(format!("resolve {}", dest.display()), e))?;
        let src = self.colony_dir().to_path_buf();
        let dst = dest.join(COLONY_DIR);
        std::fs::create_dir_all(dst.join("shards"))
            .map_err(|e| StoreError::io("create .colony", e))?;
        let mut report = ForkReport {
            id: String::new(),
            name: name.map(str::to_string),
            path: dest.display().to_string(),
            parent: Ancestor {
                id: parent_id,
                name: parent_name,
                path: self.root().display().to_string(),
                fork_commit: fork_commit.map(|c| c.to_string()),
                fork_root,
            },
            shards_linked: 0,
            shards_cloned: 0,
            shards_copied: 0,
            bytes_shared: 0,
            bytes_copied: 0,
            history_files: 0,
            checked_out: 0,
        };

        // History: a fresh bare repository, then every object file and branch/tag.
        crate::history::History::init(&dst.join("history"), "main")?;
        let objects = src.join("history").join("objects");
        for rel in files_under(&objects, &[])? {
            share_file(&objects.join(&rel), &dst.join("history/objects").join(&rel))?;
            report.history_files += 1;
        }
        let new_history = crate::history::History::open(&dst.join("history"))?;
        for prefix in ["refs/heads/", "refs/tags/"] {
            for (name, id) in self.history().list_refs(prefix)? {
                new_history.set_ref(&format!("{prefix}{name}"), id)?;
            }
        }
        match &head {
            Head::Branch { name, .. } => new_history.set_head_branch(name)?,
            Head::Detached(c) => new_history.set_head_detached(*c)?,
        }

        // Chunks: the index copied under the parent's lock (before this process opens
        // it, so the copy is a cleanly closed database), the shard files shared.
        if src.join("chunks.redb").exists() {
            std::fs::copy(src.join("chunks.redb"), dst.join("chunks.redb"))
                .map_err(|e| StoreError::io("copy the chunk index", e))?;
        }
        for id in list_shard_files(&src.join("shards"))? {
            let from = crate::shard_path(&src.join("shards"), &id);
            let to = crate::shard_path(&dst.join("shards"), &id);
            let len = std::fs::metadata(&from).map(|m| m.len()).unwrap_or(0);
            match share_file(&from, &to)? {
                Shared::Linked => report.shards_linked += 1,
                Shared::Cloned => report.shards_cloned += 1,
                Shared::Copied | Shared::Verified => {
                    report.shards_copied += 1;
                    report.bytes_copied += len;
                    continue;
                }
            }
            report.bytes_shared += len;
        }
        for extra in [crate::ops::table_keys::KEYS_FILE] {
            if src.join(extra).exists() {
                std::fs::copy(src.join(extra), dst.join(extra))
                    .map_err(|e| StoreError::io(format!("copy {extra}"), e))?;
            }
        }

        // Configuration: the parent's settings, a new identity, the lineage, a remote.
        if src.join("config.toml").exists() {
            std::fs::copy(src.join("config.toml"), dst.join("config.toml"))
                .map_err(|e| StoreError::io("copy config.toml", e))?;
        }
        let mut config = Config::load(&dst.join("config.toml"))?;
        config.remove("remote");
        config.remove("lineage");
        config.remove("dataset");
        let id = new_dataset_id()?;
        config.set("dataset.id", toml::Value::String(id.clone()));
        if let Some(n) = name {
            config.set("dataset.name", toml::Value::String(n.to_string()));
        }
        let mut chain = vec![report.parent.clone()];
        chain.extend(read_lineage(self.config())?);
        config.set("lineage", to_toml(&chain)?);
        config.set(
            "remote.parent.path",
            toml::Value::String(self.root().display().to_string()),
        );
        config.save()?;
        Index::default().save(&index_path(&dst))?;
        durable::sync_filesystem(&dst)?;
        report.id = id;

        if let (true, Some(c)) = (checkout, fork_commit) {
            let paths: Vec<String> = self.snapshot_of(c)?.into_keys().collect();
            precreate_folders(&dest, &paths);
            let fork = Repo::open(&dest, Access::Write, &|_| {})?;
            let r = fork.reset("HEAD", ResetMode::Hard)?;
            report.checked_out = r.written;
        }
        Ok(report)
    }
}
