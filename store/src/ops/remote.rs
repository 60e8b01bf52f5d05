//! Remotes: other copies of a dataset that `fetch` brings history and shards from.
//!
//! A remote is anything that implements [`Remote`]: list its branches, copy the history
//! objects reachable from some commits, list its shards and hand over one shard's bytes.
//! The caller verifies everything it receives (git object ids are recomputed when the
//! objects are written; every shard is hashed with BLAKE3 before it is indexed), so a
//! remote is never trusted. Today there is [`LocalRemote`], another dataset on the same
//! machine (a fork in another folder); peers over iroh and S3-compatible object stores
//! implement the same trait.
//!
//! Remotes are recorded in `config.toml` as `[remote.NAME] path = "/abs/path"`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::objs::Write as _;

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::history::History;
use crate::ops::fork::{Shared, share_file};
use crate::repo::{Access, Repo};

/// A source of history and shards.
pub trait Remote {
    /// The remote's name (as configured).
    fn name(&self) -> &str;
    /// Its branches, as (short name, commit).
    fn list_refs(&self) -> Result<Vec<(String, ObjectId)>>;
    /// Writes into `into` every history object reachable from `tips` that it lacks;
    /// returns how many were written. Objects already present are assumed to come with
    /// everything they reach (colony writes objects before the objects that refer to
    /// them, so that holds even after a crash).
    fn fetch_objects(&self, into: &History, tips: &[ObjectId]) -> Result<u64>;
    /// Every shard the remote holds.
    fn list_shards(&self) -> Result<Vec<Hash>>;
    /// Places the bytes of shard `id` at `dest` (a temporary path on the local store's
    /// file system; not yet verified). Says whether they were linked, cloned or copied.
    fn fetch_shard(&self, id: &Hash, dest: &Path) -> Result<Shared>;
}

/// A remote as configured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RemoteInfo {
    /// Its name.
    pub name: String,
    /// Where it is.
    pub path: String,
}

/// Checks a remote name: it becomes a config key and a ref folder.
pub fn validate_remote_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Refused(format!(
            "invalid remote name `{name}`: use letters, digits, `-` and `_`"
        )))
    }
}

impl Repo {
    /// The configured remotes, by name.
    pub fn remotes(&self) -> Vec<RemoteInfo> {
        let Some(t) = self.config().get("remote").and_then(toml::Value::as_table) else {
            return Vec::new();
        };
        t.iter()
            .filter_map(|(name, v)| {
                Some(RemoteInfo {
                    name: name.clone(),
                    path: v.get("path")?.as_str()?.to_string(),
                })
            })
            .collect()
    }

    /// Adds a remote `name` for the dataset at `path` (which must be a dataset).
    pub fn add_remote(&mut self, name: &str, path: &Path) -> Result<RemoteInfo> {
        validate_remote_name(name)?;
        if self.remotes().iter().any(|r| r.name == name) {
            return Err(StoreError::Refused(format!(
                "remote `{name}` already exists (remove it first with `colony remote remove {name}`)"
            )));
        }
        let abs = path
            .canonicalize()
            .map_err(|e| StoreError::io(format!("resolve {}", path.display()), e))?;
        if !abs.join(crate::repo::COLONY_DIR).join("history").is_dir() {
            return Err(StoreError::NotADataset(abs));
        }
        if abs == self.root() {
            return Err(StoreError::Refused(
                "a dataset cannot be its own remote".into(),
            ));
        }
        let info = RemoteInfo {
            name: name.to_string(),
            path: abs.display().to_string(),
        };
        self.config_mut().set(
            &format!("remote.{name}.path"),
            toml::Value::String(info.path.clone()),
        );
        self.config().save()?;
        Ok(info)
    }

    /// Removes remote `name` and its remote-tracking refs.
    pub fn remove_remote(&mut self, name: &str) -> Result<()> {
        validate_remote_name(name)?;
        if !self.config_mut().remove(&format!("remote.{name}")) {
            return Err(StoreError::Refused(format!("no remote `{name}`")));
        }
        self.config().save()?;
        let prefix = format!("refs/remotes/{name}/");
        for (branch, _) in self.history().list_refs(&prefix)? {
            self.history().delete_ref(&format!("{prefix}{branch}"))?;
        }
        Ok(())
    }

    /// Opens the remote `name` for reading.
    pub fn open_remote(&self, name: &str) -> Result<Box<dyn Remote>> {
        validate_remote_name(name)?;
        let info = self
            .remotes()
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                StoreError::Refused(format!(
                    "no remote `{name}` (add one with `colony remote add {name} PATH`)"
                ))
            })?;
        Ok(Box::new(LocalRemote::open(name, Path::new(&info.path))?))
    }
}

/// Another dataset on this machine, read under its shared lock.
pub struct LocalRemote {
    name: String,
    path: PathBuf,
    repo: Repo,
}

impl LocalRemote {
    /// Opens the dataset at `path` as remote `name`.
    pub fn open(name: &str, path: &Path) -> Result<LocalRemote> {
        let remote_err = |why: String| StoreError::Remote {
            remote: name.to_string(),
            why,
        };
        if !path.join(crate::repo::COLONY_DIR).join("history").is_dir() {
            return Err(remote_err(format!(
                "{} is not a colony dataset (moved or deleted?)",
                path.display()
            )));
        }
        let repo = Repo::open(path, Access::Read, &|_| {})?;
        Ok(LocalRemote {
            name: name.to_string(),
            path: path.to_path_buf(),
            repo,
        })
    }

    /// Where the remote dataset is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Copies the objects reachable from `tips` that `into` lacks, from `from`. Objects are
/// written referred-to first (blobs and subtrees before trees, trees and parents before
/// commits), and each id is recomputed from the bytes written.
pub fn copy_objects(from: &History, into: &History, tips: &[ObjectId]) -> Result<u64> {
    let hash_kind = gix::hash::Kind::Sha1;
    let mut order: Vec<ObjectId> = Vec::new();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<ObjectId> = tips.to_vec();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) || into.repo().has_object(id) {
            continue;
        }
        let obj = from.repo().find_object(id).map_err(StoreError::git)?;
        match obj.kind {
            gix::objs::Kind::Commit => {
                let c = gix::objs::CommitRef::from_bytes(&obj.data, hash_kind)
                    .map_err(StoreError::git)?;
                stack.push(c.tree());
                stack.extend(c.parents());
            }
            gix::objs::Kind::Tree => {
                let t = gix::objs::TreeRef::from_bytes(&obj.data, hash_kind)
                    .map_err(StoreError::git)?;
                for e in &t.entries {
                    if !e.mode.is_commit() {
                        stack.push(e.oid.to_owned());
                    }
                }
            }
            gix::objs::Kind::Tag => {
                let t =
                    gix::objs::TagRef::from_bytes(&obj.data, hash_kind).map_err(StoreError::git)?;
                stack.push(t.target());
            }
            gix::objs::Kind::Blob => {}
        }
        order.push(id);
    }
    let mut n = 0;
    for id in order.iter().rev() {
        let obj = from.repo().find_object(*id).map_err(StoreError::git)?;
        let got = into
            .repo()
            .objects
            .write_buf(obj.kind, &obj.data)
            .map_err(StoreError::git)?;
        if got != *id {
            return Err(StoreError::MalformedHistory {
                object: id.to_string(),
                why: format!("its bytes hash to {got}"),
            });
        }
        n += 1;
    }
    Ok(n)
}

impl Remote for LocalRemote {
    fn name(&self) -> &str {
        &self.name
    }

    fn list_refs(&self) -> Result<Vec<(String, ObjectId)>> {
        self.repo.history().list_refs("refs/heads/")
    }

    fn fetch_objects(&self, into: &History, tips: &[ObjectId]) -> Result<u64> {
        copy_objects(self.repo.history(), into, tips)
    }

    fn list_shards(&self) -> Result<Vec<Hash>> {
        crate::ops::fork::list_shard_files(&self.repo.colony_dir().join("shards"))
    }

    fn fetch_shard(&self, id: &Hash, dest: &Path) -> Result<Shared> {
        let src = crate::shard_path(&self.repo.colony_dir().join("shards"), id);
        share_file(&src, dest)
    }
}
