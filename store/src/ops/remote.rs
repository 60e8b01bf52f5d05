//! Remotes: other copies of a dataset that `fetch` brings history and shards from and
//! `push` sends them to.
//!
//! A remote is anything that implements [`Remote`]: list its branches, copy the history
//! objects reachable from some commits, list its shards, hand over one shard's bytes and
//! accept a push. The caller verifies everything it receives (git object ids are
//! recomputed when the objects are written; every shard is hashed with BLAKE3, and every
//! record in it checked against the hash its table gives, before it is indexed; no ref
//! moves to a commit that did not arrive), so a remote is never trusted. Where a remote
//! lives is a [`RemoteUrl`]: another dataset on this machine ([`LocalRemote`]), a peer
//! over iroh (a ticket) or an S3-compatible object store (`s3://BUCKET/PREFIX`).
//!
//! Remotes are recorded in `config.toml` as `[remote.NAME] url = "…"` (older configs
//! wrote `path = "/abs/path"`, still read).

use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::history::History;
use crate::ops::fork::{Shared, copy_file};
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
    /// them, so that holds even after a crash). `haves` are commits `into` already
    /// holds (its branch and remote-tracking tips): a remote that talks over a wire
    /// may skip what they reach.
    fn fetch_objects(&self, into: &History, tips: &[ObjectId], haves: &[ObjectId]) -> Result<u64>;
    /// Every shard the remote holds, with its size in bytes.
    fn list_shards(&self) -> Result<Vec<(Hash, u64)>>;
    /// Places the bytes of shard `id` at `dest`, a path on the local store's file system
    /// that the caller verifies before it is used. `dest` may already hold a prefix left
    /// by an interrupted fetch of the same shard: a remote that can resume keeps the
    /// bytes it can prove and fetches the rest; one that cannot starts over. `progress`
    /// is told how many more bytes arrived. Says whether the bytes were linked, cloned
    /// or copied.
    fn fetch_shard(&self, id: &Hash, dest: &Path, progress: &dyn Fn(u64)) -> Result<Shared>;
    /// The shards (with sizes) that the files of `commit` matching the glob `paths`
    /// need (see [`crate::ops::sparse::glob_matches`]), when the remote can tell without
    /// sending any shard: it keeps a chunk index (a dataset on this machine, a peer).
    /// `None` when it cannot (an object store); a sparse clone then fetches every shard.
    fn snapshot_shards(&self, commit: ObjectId, paths: &str) -> Result<Option<Vec<(Hash, u64)>>> {
        let _ = (commit, paths);
        Ok(None)
    }
    /// The branch a clone checks out when none is asked for (the remote's HEAD), if the
    /// remote knows one. `clone` falls back to `main`, else the first branch.
    fn default_branch(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// The run records it holds (`refs/runs/<name>`), as (name, commit); a fetch brings
    /// their history with the branches' and adds the names this dataset lacks. Kinds
    /// that do not hold run records list none.
    fn list_runs(&self) -> Result<Vec<(String, ObjectId)>> {
        Ok(Vec::new())
    }
    /// Sends run records (`refs/runs/<name>` → commit) and what the remote lacks of
    /// their history and shards, then adds the names it lacks (never moving one it has).
    /// Returns how many were new, or `None` when this kind of remote does not hold run
    /// records (nothing was sent).
    fn push_runs(&self, local: &Repo, runs: &[(String, ObjectId)]) -> Result<Option<usize>> {
        let _ = (local, runs);
        Ok(None)
    }
    /// Sends what the remote lacks of `commit`'s history and shards, then moves its
    /// branch `branch` to `commit`: only as a fast-forward unless `force`.
    fn push(
        &self,
        local: &Repo,
        branch: &str,
        commit: ObjectId,
        force: bool,
    ) -> Result<PushReport> {
        let _ = (local, branch, commit, force);
        Err(StoreError::Remote {
            remote: self.name().to_string(),
            why: "this kind of remote does not accept pushes".into(),
        })
    }
}

/// What a push moved.
#[derive(Debug, Default, serde::Serialize)]
pub struct PushReport {
    /// The remote.
    pub remote: String,
    /// The remote's branch.
    pub branch: String,
    /// Where it pointed before (none: new branch).
    pub old: Option<String>,
    /// Where it points now.
    pub new: String,
    /// History objects sent.
    pub objects: u64,
    /// Shards sent.
    pub shards: usize,
    /// Bytes of the shards sent.
    pub bytes: u64,
    /// Whether the branch already pointed at the commit (nothing to do).
    pub up_to_date: bool,
}

/// Where a remote lives, as written after `colony remote add NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteUrl {
    /// Another dataset on this machine (an absolute path).
    Path(PathBuf),
    /// An S3-compatible object store: `s3://BUCKET/PREFIX`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix inside it (no leading or trailing `/`; may be empty).
        prefix: String,
    },
    /// A peer over iroh: a ticket as `colony serve` prints it.
    Peer(String),
}

impl RemoteUrl {
    /// Reads what a user typed: `s3://…`, a peer ticket (`colony…` as `serve`
    /// prints it) or a path (relative to `cwd`).
    pub fn parse(text: &str, cwd: &Path) -> Result<RemoteUrl> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreError::Refused(format!(
                    "`{text}` names no bucket: write s3://BUCKET/PREFIX"
                )));
            }
            return Ok(RemoteUrl::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if is_peer_ticket(text) {
            return Ok(RemoteUrl::Peer(text.to_string()));
        }
        Ok(RemoteUrl::Path(cwd.join(text)))
    }
}

/// Whether `text` looks like a peer ticket rather than a path: tickets start with
/// `colony` and hold no path separator.
pub fn is_peer_ticket(text: &str) -> bool {
    text.starts_with("colony") && !text.contains('/') && !Path::new(text).exists()
}

impl std::fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteUrl::Path(p) => write!(f, "{}", p.display()),
            RemoteUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            RemoteUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            RemoteUrl::Peer(t) => f.write_str(t),
        }
    }
}

/// A remote as configured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RemoteInfo {
    /// Its name.
    pub name: String,
    /// Where it is: a path, `s3://BUCKET/PREFIX` or a peer ticket.
    pub url: String,
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
                let url = v.get("url").or_else(|| v.get("path"))?.as_str()?;
                Some(RemoteInfo {
                    name: name.clone(),
                    url: url.to_string(),
                })
            })
            .collect()
    }

    /// Adds a remote `name` at `url`. A path must be a dataset; other kinds are
    /// checked when first used.
    pub fn add_remote(&mut self, name: &str, url: &RemoteUrl) -> Result<RemoteInfo> {
        validate_remote_name(name)?;
        if self.remotes().iter().any(|r| r.name == name) {
            return Err(StoreError::Refused(format!(
                "remote `{name}` already exists (remove it first with `colony remote remove {name}`)"
            )));
        }
        let url = match url {
            RemoteUrl::Path(path) => {
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
                RemoteUrl::Path(abs)
            }
            other => other.clone(),
        };
        let info = RemoteInfo {
            name: name.to_string(),
            url: url.to_string(),
        };
        self.config_mut().remove(&format!("remote.{name}"));
        self.config_mut().set(
            &format!("remote.{name}.url"),
            toml::Value::String(info.url.clone()),
        );
        self.config().save()?;
        Ok(info)
    }

    /// Removes remote `name` and its remote-tracking refs, dangling or unreadable ones
    /// included (they are never followed, only deleted).
    pub fn remove_remote(&mut self, name: &str) -> Result<()> {
        validate_remote_name(name)?;
        if !self.config_mut().remove(&format!("remote.{name}")) {
            return Err(StoreError::Refused(format!("no remote `{name}`")));
        }
        self.config().save()?;
        let prefix = format!("refs/remotes/{name}/");
        for r in crate::ops::gc::refs_under(self.history(), &prefix)? {
            if r.name.len() > prefix.len() {
                self.history().delete_ref(&r.name)?;
            }
        }
        // What no ref listing could name (a ref file that does not parse): colony writes
        // remote-tracking refs only as loose files in this folder.
        let folder = self.history().dir().join(&prefix);
        if folder.exists() {
            std::fs::remove_dir_all(&folder)
                .map_err(|e| StoreError::io(format!("remove {}", folder.display()), e))?;
            crate::durable::sync_dir(folder.parent().expect("refs/remotes"))?;
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
        open_url(name, &RemoteUrl::parse(&info.url, self.root())?)
    }
}

/// Opens the remote at `url` under the name `name`.
pub fn open_url(name: &str, url: &RemoteUrl) -> Result<Box<dyn Remote>> {
    match url {
        RemoteUrl::Path(path) => Ok(Box::new(LocalRemote::open(name, path)?)),
        #[cfg(feature = "s3")]
        RemoteUrl::S3 { bucket, prefix } => Ok(Box::new(crate::remote_s3::S3Remote::open(
            name, bucket, prefix,
        )?)),
        #[cfg(not(feature = "s3"))]
        RemoteUrl::S3 { .. } => Err(StoreError::Remote {
            remote: name.to_string(),
            why: "S3-compatible remotes are not built into this colony".into(),
        }),
        #[cfg(feature = "p2p")]
        RemoteUrl::Peer(tickets) => Ok(Box::new(crate::peer::PeerRemote::open(
            name,
            tickets,
            crate::peer::PeerOptions::default(),
        )?)),
        #[cfg(not(feature = "p2p"))]
        RemoteUrl::Peer(_) => Err(StoreError::Remote {
            remote: name.to_string(),
            why: "peer remotes are not built into this colony".into(),
        }),
    }
}

/// Another dataset on this machine. It is opened under its shared lock when first read,
/// and under its exclusive lock for a push (see [`crate::ops::push`]).
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

/// Copies the objects reachable from `tips` that `into` lacks, from `from`
/// (see [`History::copy_objects_into`]).
pub fn copy_objects(from: &History, into: &History, tips: &[ObjectId]) -> Result<u64> {
    from.copy_objects_into(into, tips)
}

impl Remote for DatasetSource<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn list_refs(&self) -> Result<Vec<(String, ObjectId)>> {
        self.repo.history().list_refs("refs/heads/")
    }

    fn list_runs(&self) -> Result<Vec<(String, ObjectId)>> {
        crate::ops::runs::list_runs(self.repo.history())
    }

    fn fetch_objects(&self, into: &History, tips: &[ObjectId], _haves: &[ObjectId]) -> Result<u64> {
        copy_objects(self.repo.history(), into, tips)
    }

    fn list_shards(&self) -> Result<Vec<(Hash, u64)>> {
        let dir = self.repo.colony_dir().join("shards");
        let ids = crate::ops::fork::list_shard_files(&dir)?;
        Ok(ids
            .into_iter()
            .map(|id| {
                let size = std::fs::metadata(crate::shard_path(&dir, &id)).map_or(0, |m| m.len());
                (id, size)
            })
            .collect())
    }

    fn snapshot_shards(&self, commit: ObjectId, paths: &str) -> Result<Option<Vec<(Hash, u64)>>> {
        let shards = crate::ops::sparse::snapshot_shards(self.repo, commit, Some(paths))?;
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

    fn push_runs(&self, local: &Repo, runs: &[(String, ObjectId)]) -> Result<Option<usize>> {
        if self.repo.get().is_some() {
            return Err(StoreError::Remote {
                remote: self.name.clone(),
                why: "opened for reading; open it again to push".into(),
            });
        }
        crate::ops::runs::push_runs_to_dataset(&self.name, &self.path, local, runs).map(Some)
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

    fn push(
        &self,
        local: &Repo,
        branch: &str,
        commit: ObjectId,
        force: bool,
    ) -> Result<PushReport> {
        if self.repo.get().is_some() {
            return Err(StoreError::Remote {
                remote: self.name.clone(),
                why: "opened for reading; open it again to push".into(),
            });
        }
        crate::ops::push::push_to_dataset(&self.name, &self.path, local, branch, commit, force)
    }
}
