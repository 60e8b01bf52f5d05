//! `clone`: a new dataset in an empty folder, filled from a remote of any kind.
//!
//! [`Repo::clone_from`] creates the dataset, records the remote as `origin`, fetches
//! from it (through [`open_url`], so paths, S3 URLs and peer tickets all work) and checks
//! out a branch: the one asked for, else the remote's default branch, else `main`, else
//! the first one (or any revision, with [`CloneOptions::rev`]).
//!
//! With [`CloneOptions::paths`] the clone is sparse: it asks the remote which shards the
//! matching files of that commit need and fetches only those (a dataset on this machine
//! and a peer can tell; an object store cannot, and then every shard is fetched and
//! [`CloneReport::all_shards`] says so), and its work tree holds only the matching
//! files (see [`crate::ops::sparse`] for what the other commands do with the rest).
//!
//! While a clone runs, `.colony/cloning` holds the URL. A clone killed halfway (kill -9,
//! power loss) leaves it behind with whatever shards and partial shards had arrived;
//! running the same clone into the same folder again resumes: shards already verified
//! are not fetched again and a partial shard continues where its bytes end (where the
//! remote can resume). A clone that fails with an error removes what it created.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Result, StoreError};
use crate::ops::fetch::FetchReport;
use crate::ops::remote::{RemoteUrl, open_url};
use crate::progress::{NoProgress, Progress};
use crate::repo::{Access, COLONY_DIR, InitOptions, Repo};

/// The marker of a clone in progress, under `.colony/`.
pub const CLONING_MARKER: &str = "cloning";

/// Options of [`Repo::clone_from`].
#[derive(Clone)]
pub struct CloneOptions {
    /// The branch to check out (default: the remote's default branch).
    pub branch: Option<String>,
    /// A revision to check out instead (detached unless it names a branch of the
    /// remote): a branch, `pins/NAME` of a peer, or a full commit id the remote holds.
    pub rev: Option<String>,
    /// Only the files matching this glob: the clone fetches only the shards they need
    /// (where the remote can tell which) and its work tree is sparse
    /// ([`crate::ops::sparse`]).
    pub paths: Option<String>,
    /// The name the remote gets (default `origin`).
    pub remote_name: String,
    /// Do not check out a work tree.
    pub no_checkout: bool,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
}

impl Default for CloneOptions {
    fn default() -> Self {
        CloneOptions {
            branch: None,
            rev: None,
            paths: None,
            remote_name: "origin".into(),
            no_checkout: false,
            progress: Arc::new(NoProgress),
        }
    }
}

/// What `clone` did.
#[derive(Debug, serde::Serialize)]
pub struct CloneReport {
    /// The new dataset's folder.
    pub path: String,
    /// Where it was cloned from.
    pub url: String,
    /// The remote's name in the clone.
    pub remote: String,
    /// The branch checked out (none: the remote has no branches).
    pub branch: Option<String>,
    /// Its commit.
    pub commit: Option<String>,
    /// Whether this run resumed an interrupted clone.
    pub resumed: bool,
    /// What the fetch moved.
    pub fetch: FetchReport,
    /// Files checked out.
    pub checked_out: usize,
    /// The glob of a sparse clone (`--paths`).
    pub paths: Option<String>,
    /// For a sparse clone: files of the snapshot left out of the work tree.
    pub outside_paths: usize,
    /// For a sparse clone: whether every shard had to be fetched, because the remote
    /// cannot tell which shards the paths need (an object store).
    pub all_shards: bool,
}

/// Whether `dir` holds nothing.
fn is_empty_dir(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| StoreError::io(format!("list {}", dir.display()), e))?
        .next()
        .is_none())
}

impl Repo {
    /// Clones the remote at `url` into `dir`, which must not exist or be empty (or hold
    /// an interrupted clone of the same URL, which is resumed).
    pub fn clone_from(url: &RemoteUrl, dir: &Path, opts: &CloneOptions) -> Result<CloneReport> {
        crate::ops::remote::validate_remote_name(&opts.remote_name)?;
        let marker = dir.join(COLONY_DIR).join(CLONING_MARKER);
        let existed = dir.exists();
        let resumed = match std::fs::read_to_string(&marker) {
            Ok(text) if text.trim() == url.to_string() => true,
            Ok(text) => {
                return Err(StoreError::Refused(format!(
                    "{} holds an interrupted clone of {}, not of {url}; remove it or clone into another folder",
                    dir.display(),
                    text.trim()
                )));
            }
            Err(_) => false,
        };
        if !resumed && existed && !is_empty_dir(dir)? {
            return Err(StoreError::Refused(format!(
                "{} already exists and is not empty; clone into a new folder",
                dir.display()
            )));
        }
        let result = Self::clone_into(url, dir, opts, resumed);
        if result.is_err() && !resumed {
            // Remove what this run created; the folder itself only if it made it.
            if existed {
                if let Ok(rd) = std::fs::read_dir(dir) {
                    for e in rd.flatten() {
                        let p = e.path();
                        if p.is_dir() && !p.is_symlink() {
                            let _ = std::fs::remove_dir_all(&p);
                        } else {
                            let _ = std::fs::remove_file(&p);
                        }
                    }
                }
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        result
    }

    fn clone_into(
        url: &RemoteUrl,
        dir: &Path,
        opts: &CloneOptions,
        resumed: bool,
    ) -> Result<CloneReport> {
        let remote = open_url(&opts.remote_name, url)?;
        let mut repo = if resumed {
            Repo::open(dir, Access::Write, &|_| {})?
        } else {
            let repo = Repo::init(dir, &InitOptions::default())?;
            crate::durable::write_atomic(
                &repo.colony_dir().join(CLONING_MARKER),
                url.to_string().as_bytes(),
            )?;
            repo
        };
        repo.set_progress(opts.progress.clone());
        if !repo.remotes().iter().any(|r| r.name == opts.remote_name) {
            repo.add_remote(&opts.remote_name, url)?;
        }
        // What to check out is decided from the remote's refs before anything moves,
        // so that a sparse clone can ask for the shards of that commit only.
        let refs = remote.list_refs()?;
        let (branch, commit) = choose_target(remote.as_ref(), &refs, opts)?;
        let mut only = None;
        let mut all_shards = false;
        if let (Some(glob), Some(c)) = (&opts.paths, commit) {
            only = remote.snapshot_shards(c, glob)?;
            all_shards = only.is_none();
        }
        let extra: Vec<gix::ObjectId> = commit
            .filter(|c| !refs.iter().any(|(_, id)| id == c))
            .into_iter()
            .collect();
        let fetch = repo.fetch_selected(remote.as_ref(), only.as_deref(), &extra)?;
        let mut report = CloneReport {
            path: repo.root().display().to_string(),
            url: url.to_string(),
            remote: opts.remote_name.clone(),
            branch: branch.clone(),
            commit: commit.map(|c| c.to_string()),
            resumed,
            fetch,
            checked_out: 0,
            paths: opts.paths.clone(),
            outside_paths: 0,
            all_shards,
        };
        if let Some(glob) = &opts.paths {
            if let Some(c) = commit {
                let snap = repo.snapshot_of(c)?;
                if !snap
                    .keys()
                    .any(|p| crate::ops::sparse::glob_matches(glob, p))
                {
                    return Err(StoreError::Refused(format!(
                        "no file of {c} matches `{glob}`; nothing to clone"
                    )));
                }
            }
            repo.set_sparse(Some(std::slice::from_ref(glob)))?;
        }
        match (&branch, commit) {
            (Some(b), Some(commit)) => {
                if opts.no_checkout {
                    repo.history().set_ref(&format!("refs/heads/{b}"), commit)?;
                    repo.history().set_head_branch(b)?;
                } else {
                    let r = repo.start_branch_at(b, commit)?;
                    report.checked_out = r.written;
                    report.outside_paths = r.outside_sparse;
                }
            }
            (None, Some(commit)) => {
                if opts.no_checkout {
                    repo.history().set_head_detached(commit)?;
                } else {
                    let r = repo.checkout(&commit.to_string(), false)?;
                    report.checked_out = r.written;
                    report.outside_paths = r.outside_sparse;
                }
            }
            _ => {}
        }
        std::fs::remove_file(repo.colony_dir().join(CLONING_MARKER))
            .map_err(|e| StoreError::io("remove the clone marker", e))?;
        crate::durable::sync_dir(repo.colony_dir())?;
        Ok(report)
    }
}

/// The branch (if any) and commit a clone checks out, from the remote's refs: `rev`
/// (a branch, `pins/NAME`, or a full commit id), else `branch`, else the remote's
/// default branch, else `main`, else its first branch. `(None, None)`: the remote has
/// no branches.
fn choose_target(
    remote: &dyn crate::ops::remote::Remote,
    refs: &[(String, gix::ObjectId)],
    opts: &CloneOptions,
) -> Result<(Option<String>, Option<gix::ObjectId>)> {
    let find = |name: &str| refs.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
    if let Some(rev) = &opts.rev {
        if let Some(c) = find(rev) {
            let branch = (!rev.starts_with("pins/")).then(|| rev.clone());
            return Ok((branch, Some(c)));
        }
        if let Some(c) = find(&format!("pins/{rev}")) {
            return Ok((None, Some(c)));
        }
        if rev.len() == 40
            && let Ok(c) = gix::ObjectId::from_hex(rev.as_bytes())
        {
            return Ok((None, Some(c)));
        }
        return Err(StoreError::Remote {
            remote: opts.remote_name.clone(),
            why: format!(
                "has no branch or pin `{rev}`; give a branch, a pin or a full commit id (40 hex digits)"
            ),
        });
    }
    if let Some(b) = &opts.branch {
        return match find(b) {
            Some(c) => Ok((Some(b.clone()), Some(c))),
            None => Err(StoreError::Remote {
                remote: opts.remote_name.clone(),
                why: format!("has no branch `{b}`"),
            }),
        };
    }
    let branches: Vec<&(String, gix::ObjectId)> = refs
        .iter()
        .filter(|(n, _)| !n.starts_with("pins/"))
        .collect();
    let chosen = remote
        .default_branch()?
        .filter(|d| branches.iter().any(|(n, _)| n == d))
        .or_else(|| {
            branches
                .iter()
                .find(|(n, _)| n == "main")
                .or(branches.first())
                .map(|(n, _)| n.clone())
        });
    Ok(match chosen {
        Some(b) => {
            let c = find(&b);
            (Some(b), c)
        }
        None => (None, None),
    })
}

/// The folder a clone of `url` goes to when none is given: the last path component or
/// S3 prefix component.
pub fn default_clone_dir(url: &RemoteUrl) -> Option<PathBuf> {
    let name = match url {
        RemoteUrl::Path(p) => p.file_name()?.to_str()?.to_string(),
        RemoteUrl::S3 { bucket, prefix } => prefix
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or(bucket)
            .to_string(),
        RemoteUrl::Peer(_) => return None,
    };
    Some(PathBuf::from(name))
}
