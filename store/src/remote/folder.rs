//! A remote that is another dataset on this machine (`colony remote add NAME PATH`).
//!
//! Reads go through the other dataset's files under its shared lock; shards are
//! reflinked or copied, never hard-linked (the other dataset's owner must not be able
//! to change a file after this side verified it). A push into it is accepted by that
//! dataset itself ([`Remote::local_dataset`]).

use std::path::{Path, PathBuf};

use gix::ObjectId;

use super::Remote;
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::files::{Shared, copy_file, list_shards_sized};
use crate::history::History;
use crate::repo::{Access, Repo};

/// Another dataset on this machine. It is opened under its shared lock when first read,
/// and under its exclusive lock by the push that it accepts ([`Remote::local_dataset`]).
pub struct LocalRemote {
    name: String,
    path: PathBuf,
    repo: std::sync::OnceLock<Repo>,
}

impl LocalRemote {
    /// Opens the dataset at `path` as remote `name`.
    pub fn open(name: &str, path: &Path) -> Result<LocalRemote> {
        if !path.join(crate::repo::COLONY_DIR).join("history").is_dir() {
            return Err(StoreError::Remote {
                remote: name.to_string(),
                why: format!(
                    "{} is not a colony dataset (moved or deleted?)",
                    path.display()
                ),
            });
        }
        Ok(LocalRemote {
            name: name.to_string(),
            path: path.to_path_buf(),
            repo: std::sync::OnceLock::new(),
        })
    }

    /// Where the remote dataset is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remote dataset, opened for reading on first use.
    fn source(&self) -> Result<DatasetSource<'_>> {
        if self.repo.get().is_none() {
            let repo = Repo::open(&self.path, Access::Read, &|_| {})?;
            let _ = self.repo.set(repo);
        }
        Ok(DatasetSource {
            name: &self.name,
            repo: self.repo.get().expect("just opened"),
        })
    }
}

/// An open dataset seen as a remote: what a [`LocalRemote`] reads from, and what a push
/// to a dataset on this machine receives from (the pushing dataset).
pub struct DatasetSource<'a> {
    /// The name to report it under.
    pub name: &'a str,
    /// The dataset.
    pub repo: &'a Repo,
}

impl Remote for DatasetSource<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn list_refs(&self) -> Result<Vec<(String, ObjectId)>> {
        self.repo.history().list_refs("refs/heads/")
    }

    fn list_runs(&self) -> Result<Vec<(String, ObjectId)>> {
        self.repo.history().list_refs(crate::history::RUNS_PREFIX)
    }

    fn fetch_objects(&self, into: &History, tips: &[ObjectId], _haves: &[ObjectId]) -> Result<u64> {
        self.repo.history().copy_objects_into(into, tips)
    }

    fn list_shards(&self) -> Result<Vec<(Hash, u64)>> {
        list_shards_sized(&self.repo.colony_dir().join("shards"))
    }

    fn snapshot_shards(&self, commit: ObjectId, paths: &str) -> Result<Option<Vec<(Hash, u64)>>> {
        let shards = crate::snapshot::shards::snapshot_shards(self.repo, commit, Some(paths))?;
        Ok(Some(shards.into_iter().collect()))
    }

    fn fetch_shard(&self, id: &Hash, dest: &Path, progress: &dyn Fn(u64)) -> Result<Shared> {
        let src = crate::shard_path(&self.repo.colony_dir().join("shards"), id);
        let _ = std::fs::remove_file(dest);
        // Reflinked or copied, never hard-linked: the other dataset's owner must not be
        // able to change the file after the receiving side verified it.
        let how = copy_file(&src, dest)?;
        if let Ok(m) = std::fs::metadata(dest) {
            progress(m.len());
        }
        Ok(how)
    }
}

impl Remote for LocalRemote {
    fn name(&self) -> &str {
        &self.name
    }

    fn list_refs(&self) -> Result<Vec<(String, ObjectId)>> {
        self.source()?.list_refs()
    }

    fn list_runs(&self) -> Result<Vec<(String, ObjectId)>> {
        self.source()?.list_runs()
    }

    fn local_dataset(&self) -> Option<Result<&Path>> {
        if self.repo.get().is_some() {
            return Some(Err(StoreError::Remote {
                remote: self.name.clone(),
                why: "opened for reading; open it again to push".into(),
            }));
        }
        Some(Ok(&self.path))
    }

    fn fetch_objects(&self, into: &History, tips: &[ObjectId], haves: &[ObjectId]) -> Result<u64> {
        self.source()?.fetch_objects(into, tips, haves)
    }

    fn list_shards(&self) -> Result<Vec<(Hash, u64)>> {
        self.source()?.list_shards()
    }

    fn fetch_shard(&self, id: &Hash, dest: &Path, progress: &dyn Fn(u64)) -> Result<Shared> {
        self.source()?.fetch_shard(id, dest, progress)
    }

    fn snapshot_shards(&self, commit: ObjectId, paths: &str) -> Result<Option<Vec<(Hash, u64)>>> {
        self.source()?.snapshot_shards(commit, paths)
    }

    fn default_branch(&self) -> Result<Option<String>> {
        Ok(match self.source()?.repo.head()? {
            crate::history::Head::Branch { name, .. } => Some(name),
            crate::history::Head::Detached(_) => None,
        })
    }
}
