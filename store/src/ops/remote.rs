//! Configured remotes: their names and URLs in `config.toml`, and opening one as a
//! [`Remote`] backend ([`crate::remote`]).
//!
//! Where a remote lives is a [`RemoteUrl`]: another dataset on this machine
//! ([`LocalRemote`]), a peer over iroh (a ticket) or an S3-compatible object store
//! (`s3://BUCKET/PREFIX`).
//!
//! Remotes are recorded in `config.toml` as `[remote.NAME] url = "…"` (older configs
//! wrote `path = "/abs/path"`, still read).

use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
pub use crate::remote::{DatasetSource, LocalRemote, PushReport, Remote};
use crate::repo::Repo;

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
        RemoteUrl::S3 { bucket, prefix } => Ok(Box::new(crate::remote::s3::S3Remote::open(
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
