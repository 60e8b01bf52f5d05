//! History: a bare git repository inside `.colony/`, written and read with gix.
//!
//! Each commit's tree mirrors the dataset's folders; data files appear as small pointer
//! blobs ([`crate::pointer`]) and symlinks as git symlinks. The commit message ends with a
//! `Colony-Root: <hex>` trailer holding the [`SnapshotRoot`]. Only colony writes this
//! repository, but real `git` can read it (`git log`, `git fsck`) and push it anywhere.
//!
//! Refs are written as loose files with write–fsync–rename, after the objects they point
//! to have been flushed ([`History::sync`]), so a crash never leaves a ref to a missing
//! object.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::{Entry, EntryKind};

use crate::Hash;
use crate::durable;
use crate::error::{Result, StoreError};
use crate::pointer;
use crate::snapshot::{FileEntry, Mode, Snapshot, SnapshotRoot};

mod links;
mod objects;
pub use links::{MAX_LINK_HOPS, check_snapshot_links, link_problems};
pub use objects::{Follow, Reference, references, walk_objects};

/// Ref prefix of run records (see [`crate::ops::runs`]).
pub const RUNS_PREFIX: &str = "refs/runs/";

/// The trailer that carries the snapshot root in every commit message.
pub const ROOT_TRAILER: &str = "Colony-Root: ";

/// The bare git repository holding a dataset's history.
pub struct History {
    repo: gix::Repository,
    dir: PathBuf,
}

/// Where HEAD points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// On a branch (which may not exist yet, before the first commit).
    Branch {
        /// Short branch name.
        name: String,
        /// Its commit, if it exists.
        commit: Option<ObjectId>,
    },
    /// Detached at a commit.
    Detached(ObjectId),
}

impl Head {
    /// The commit HEAD resolves to, if any.
    pub fn commit(&self) -> Option<ObjectId> {
        match self {
            Head::Branch { commit, .. } => *commit,
            Head::Detached(c) => Some(*c),
        }
    }
}

/// One commit, as `log` and `show` present it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CommitInfo {
    /// Git commit id (hex).
    pub commit: String,
    /// Parent ids.
    pub parents: Vec<String>,
    /// Author name.
    pub author: String,
    /// Author e-mail.
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The message, without the root trailer.
    pub message: String,
    /// The snapshot root recorded in the commit.
    pub root: Option<Hash>,
}

/// A path in a revision that colony refuses to materialise, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HostileEntry {
    /// The path as stored.
    pub path: String,
    /// Why it is refused.
    pub why: String,
}

/// A snapshot read back from a commit's tree.
pub struct ReadSnapshot {
    /// Every materialisable entry.
    pub files: Snapshot,
    /// Entries that would escape the work tree or touch `.colony`, alone or through the
    /// snapshot's other symlinks ([`link_problems`]).
    pub hostile: Vec<HostileEntry>,
}

/// Why a tree entry name cannot be a path component, if it cannot.
pub fn check_component(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty path component (absolute path?)")
    } else if name == b"." || name == b".." {
        Some("`.`/`..` component would leave the work tree")
    } else if name.contains(&b'/') || name.contains(&b'\\') || name.contains(&0) {
        Some("path component contains a separator or NUL")
    } else if name.eq_ignore_ascii_case(b".colony") || name.eq_ignore_ascii_case(b".git") {
        Some("writes into colony's or git's own metadata")
    } else if std::str::from_utf8(name).is_err() {
        Some("path is not UTF-8")
    } else {
        None
    }
}

/// Why a symlink at `path` with `target` would leave the work tree, if it would, reading
/// the target as text. This alone misses chains of links (one link's target passing
/// through another link); [`link_problems`] checks a whole snapshot's links together.
pub fn check_link_target(path: &str, target: &str) -> Option<&'static str> {
    if target.is_empty() || target.starts_with('/') || target.contains('\0') {
        return Some("symlink target is absolute or empty");
    }
    // Resolve lexically from the link's folder; every prefix must stay inside.
    let mut depth: i64 = path.matches('/').count() as i64;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Some("symlink points outside the work tree");
                }
            }
            p if p.eq_ignore_ascii_case(".colony") || p.eq_ignore_ascii_case(".git") => {
                return Some("symlink points into colony's or git's metadata");
            }
            _ => depth += 1,
        }
    }
    None
}

impl History {
    /// Creates a new bare repository at `dir` with HEAD on `branch`.
    pub fn init(dir: &Path, branch: &str) -> Result<History> {
        gix::init_bare(dir).map_err(StoreError::git)?;
        let h = History::open(dir)?;
        h.set_head_branch(branch)?;
        Ok(h)
    }

    /// Opens the repository at `dir`, ignoring any global or system git configuration.
    pub fn open(dir: &Path) -> Result<History> {
        let repo = gix::open_opts(dir, gix::open::Options::isolated()).map_err(StoreError::git)?;
        Ok(History {
            repo,
            dir: dir.to_path_buf(),
        })
    }

    /// The git directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The underlying gix repository.
    pub fn repo(&self) -> &gix::Repository {
        &self.repo
    }

    fn blob_id(bytes: &[u8]) -> Result<ObjectId> {
        gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
            .map_err(StoreError::git)
    }

    fn write_blob_if_missing(&self, bytes: &[u8]) -> Result<ObjectId> {
        let id = Self::blob_id(bytes)?;
        if !self.repo.has_object(id) {
            self.repo.write_blob(bytes).map_err(StoreError::git)?;
        }
        Ok(id)
    }

    /// Writes the tree for `snapshot` (pointer blobs, nested trees) and returns its id.
    ///
    /// Refuses a snapshot whose symlinks, taken together, leave the work tree or have
    /// entries below them ([`check_snapshot_links`]): colony never records a tree it
    /// would refuse to check out.
    pub fn write_tree(&self, snapshot: &Snapshot) -> Result<ObjectId> {
        check_snapshot_links(snapshot)?;
        #[derive(Default)]
        struct Dir<'a> {
            files: Vec<(&'a str, &'a FileEntry)>,
            dirs: BTreeMap<&'a str, Dir<'a>>,
        }
        let mut root = Dir::default();
        for (path, e) in snapshot {
            let mut parts: Vec<&str> = path.split('/').collect();
            let name = parts.pop().expect("non-empty path");
            let mut d = &mut root;
            for p in parts {
                d = d.dirs.entry(p).or_default();
            }
            d.files.push((name, e));
        }
        fn write(h: &History, d: &Dir<'_>) -> Result<ObjectId> {
            let mut entries = Vec::with_capacity(d.files.len() + d.dirs.len());
            for (name, e) in &d.files {
                let (kind, blob) = match e.mode {
                    Mode::Link => (
                        EntryKind::Link,
                        e.target.clone().unwrap_or_default().into_bytes(),
                    ),
                    Mode::Exec => (EntryKind::BlobExecutable, pointer::encode(e)),
                    Mode::File => (EntryKind::Blob, pointer::encode(e)),
                };
                let oid = h.write_blob_if_missing(&blob)?;
                entries.push(Entry {
                    mode: kind.into(),
                    filename: (*name).into(),
                    oid,
                });
            }
            for (name, sub) in &d.dirs {
                let oid = write(h, sub)?;
                entries.push(Entry {
                    mode: EntryKind::Tree.into(),
                    filename: (*name).into(),
                    oid,
                });
            }
            entries.sort();
            let tree = gix::objs::Tree { entries };
            let mut buf = Vec::new();
            gix::objs::WriteTo::write_to(&tree, &mut buf)
                .map_err(|e| StoreError::io("encode tree", e))?;
            let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Tree, &buf)
                .map_err(StoreError::git)?;
            if !h.repo.has_object(id) {
                h.repo.write_object(&tree).map_err(StoreError::git)?;
            }
            Ok(id)
        }
        write(self, &root)
    }

    /// Writes a commit object (not moving any ref) and returns its id.
    pub fn write_commit(
        &self,
        tree: ObjectId,
        parents: &[ObjectId],
        message: &str,
        root: &SnapshotRoot,
        author: (&str, &str),
    ) -> Result<ObjectId> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let sig = gix::actor::Signature {
            name: author.0.into(),
            email: author.1.into(),
            time: gix::date::Time {
                seconds: now,
                offset: 0,
            },
        };
        let mut msg = message.trim_end().to_string();
        msg.push_str(&format!("\n\n{ROOT_TRAILER}{}\n", root.0));
        let commit = gix::objs::Commit {
            tree,
            parents: parents.iter().copied().collect(),
            author: sig.clone(),
            committer: sig,
            encoding: None,
            message: BString::from(msg),
            extra_headers: Vec::new(),
        };
        Ok(self
            .repo
            .write_object(&commit)
            .map_err(StoreError::git)?
            .detach())
    }

    /// Makes every object written so far durable (one `syncfs`).
    pub fn sync(&self) -> Result<()> {
        durable::sync_filesystem(&self.dir)
    }

    /// The commit object `id`, or an error naming it when it is something else.
    fn find_commit(&self, id: ObjectId) -> Result<gix::Commit<'_>> {
        let obj = self.repo.find_object(id).map_err(StoreError::git)?;
        obj.try_into_commit()
            .map_err(|e| StoreError::MalformedHistory {
                object: id.to_string(),
                why: e.to_string(),
            })
    }

    /// Reads a commit's metadata.
    pub fn commit_info(&self, id: ObjectId) -> Result<CommitInfo> {
        let commit = self.find_commit(id)?;
        let c = commit.decode().map_err(StoreError::git)?;
        let author = c.author().map_err(StoreError::git)?;
        let full = c.message.to_str_lossy().to_string();
        let (message, root) = split_trailer(&full);
        Ok(CommitInfo {
            commit: id.to_string(),
            parents: c.parents().map(|p| p.to_string()).collect(),
            author: author.name.to_str_lossy().to_string(),
            email: author.email.to_str_lossy().to_string(),
            time: author.time().map(|t| t.seconds).unwrap_or(0),
            message,
            root,
        })
    }

    /// The tree of a commit.
    pub fn commit_tree(&self, id: ObjectId) -> Result<ObjectId> {
        let commit = self.find_commit(id)?;
        commit
            .tree_id()
            .map(|t| t.detach())
            .map_err(StoreError::git)
    }

    /// Reads the snapshot recorded by a commit.
    pub fn read_snapshot(&self, commit: ObjectId) -> Result<ReadSnapshot> {
        let tree = self.commit_tree(commit)?;
        self.read_tree(tree)
    }

    /// Reads the snapshot of a tree. Entries that would leave the work tree (alone, or
    /// as symlinks through the tree's other symlinks) are moved to
    /// [`ReadSnapshot::hostile`].
    pub fn read_tree(&self, tree: ObjectId) -> Result<ReadSnapshot> {
        let mut out = ReadSnapshot {
            files: Snapshot::new(),
            hostile: Vec::new(),
        };
        self.walk_tree(tree, "", &mut out)?;
        for h in link_problems(&out.files) {
            out.files.remove(&h.path);
            out.hostile.push(h);
        }
        Ok(out)
    }

    fn walk_tree(&self, id: ObjectId, prefix: &str, out: &mut ReadSnapshot) -> Result<()> {
        let malformed = |why: String| StoreError::MalformedHistory {
            object: id.to_string(),
            why,
        };
        let obj = self.repo.find_object(id).map_err(StoreError::git)?;
        let tree = obj.try_into_tree().map_err(|e| malformed(e.to_string()))?;
        let decoded = tree.decode().map_err(|e| malformed(e.to_string()))?;
        for entry in &decoded.entries {
            let name = entry.filename.to_str_lossy();
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            if let Some(why) = check_component(entry.filename) {
                out.hostile.push(HostileEntry {
                    path: path.clone(),
                    why: why.into(),
                });
                continue;
            }
            let oid = entry.oid.to_owned();
            let mode = match entry.mode.kind() {
                EntryKind::Tree => {
                    self.walk_tree(oid, &path, out)?;
                    continue;
                }
                EntryKind::Blob => Mode::File,
                EntryKind::BlobExecutable => Mode::Exec,
                EntryKind::Link => Mode::Link,
                EntryKind::Commit => {
                    out.hostile.push(HostileEntry {
                        path,
                        why: "submodules are not data".into(),
                    });
                    continue;
                }
            };
            let blob = self.repo.find_object(oid).map_err(StoreError::git)?;
            let data = blob.data.clone();
            let e = if mode == Mode::Link {
                let target = String::from_utf8_lossy(&data).to_string();
                if let Some(why) = check_link_target(&path, &target) {
                    out.hostile.push(HostileEntry {
                        path,
                        why: format!("{why} (`{target}`)"),
                    });
                    continue;
                }
                FileEntry {
                    mode,
                    size: data.len() as u64,
                    hash: Hash::of(&data),
                    manifest: None,
                    target: Some(target),
                }
            } else {
                pointer::decode(&data, mode).map_err(|why| StoreError::MalformedHistory {
                    object: format!("{oid} ({path})"),
                    why,
                })?
            };
            out.files.insert(path, e);
        }
        Ok(())
    }

    /// Resolves a revision (branch, tag, commit id or prefix, `HEAD~2`, …) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId> {
        let unknown = |why: String| StoreError::UnknownRevision {
            rev: rev.to_string(),
            why,
        };
        let id = self
            .repo
            .rev_parse_single(rev)
            .map_err(|e| unknown(e.to_string()))?;
        let obj = id.object().map_err(|e| unknown(e.to_string()))?;
        let commit = obj.peel_to_commit().map_err(|e| unknown(e.to_string()))?;
        Ok(commit.id)
    }

    /// Where HEAD points.
    pub fn head(&self) -> Result<Head> {
        let text = std::fs::read_to_string(self.dir.join("HEAD"))
            .map_err(|e| StoreError::io("read HEAD", e))?;
        let text = text.trim();
        if let Some(r) = text.strip_prefix("ref: ") {
            let name = r.strip_prefix("refs/heads/").unwrap_or(r).to_string();
            let commit = self.ref_target(r)?;
            Ok(Head::Branch { name, commit })
        } else {
            let id =
                ObjectId::from_hex(text.as_bytes()).map_err(|e| StoreError::MalformedHistory {
                    object: "HEAD".into(),
                    why: e.to_string(),
                })?;
            Ok(Head::Detached(id))
        }
    }

    /// The commit a full ref name points to, if the ref exists.
    pub fn ref_target(&self, full_name: &str) -> Result<Option<ObjectId>> {
        match self
            .repo
            .try_find_reference(full_name)
            .map_err(StoreError::git)?
        {
            None => Ok(None),
            Some(mut r) => Ok(Some(r.peel_to_id().map_err(StoreError::git)?.detach())),
        }
    }

    /// Points HEAD at a branch.
    pub fn set_head_branch(&self, name: &str) -> Result<()> {
        durable::write_atomic(
            &self.dir.join("HEAD"),
            format!("ref: refs/heads/{name}\n").as_bytes(),
        )
    }

    /// Detaches HEAD at a commit.
    pub fn set_head_detached(&self, id: ObjectId) -> Result<()> {
        durable::write_atomic(&self.dir.join("HEAD"), format!("{id}\n").as_bytes())
    }

    /// Sets a ref (full name) to `id`, durably. Objects must already be synced.
    pub fn set_ref(&self, full_name: &str, id: ObjectId) -> Result<()> {
        validate_ref_name(full_name)?;
        durable::write_atomic(&self.dir.join(full_name), format!("{id}\n").as_bytes())
    }

    /// Deletes a loose ref; `false` if it did not exist.
    pub fn delete_ref(&self, full_name: &str) -> Result<bool> {
        validate_ref_name(full_name)?;
        match std::fs::remove_file(self.dir.join(full_name)) {
            Ok(()) => {
                durable::sync_dir(self.dir.join(full_name).parent().expect("ref has a folder"))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(format!("delete {full_name}"), e)),
        }
    }

    /// Moves what HEAD points at: the branch, or HEAD itself when detached.
    pub fn advance_head(&self, id: ObjectId) -> Result<()> {
        match self.head()? {
            Head::Branch { name, .. } => self.set_ref(&format!("refs/heads/{name}"), id),
            Head::Detached(_) => self.set_head_detached(id),
        }
    }

    /// All refs under `prefix` (e.g. `refs/heads/`), as (short name, commit).
    pub fn list_refs(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
        let platform = self.repo.references().map_err(StoreError::git)?;
        let mut out = Vec::new();
        for r in platform.prefixed(prefix).map_err(StoreError::git)? {
            let mut r = r.map_err(StoreError::git)?;
            let name = r.name().as_bstr().to_str_lossy().to_string();
            let short = name.strip_prefix(prefix).unwrap_or(&name).to_string();
            let id = r.peel_to_id().map_err(StoreError::git)?.detach();
            out.push((short, id));
        }
        out.sort();
        Ok(out)
    }

    /// Commits reachable from `tips`, newest first.
    pub fn walk(&self, tips: &[ObjectId]) -> Result<Vec<ObjectId>> {
        let walk = self
            .repo
            .rev_walk(tips.iter().copied())
            .sorting(gix::revision::walk::Sorting::ByCommitTime(
                Default::default(),
            ))
            .all()
            .map_err(StoreError::git)?;
        walk.map(|info| info.map(|i| i.id).map_err(StoreError::git))
            .collect()
    }

    /// The best common ancestor of two commits, if any.
    pub fn merge_base(&self, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>> {
        Ok(self
            .repo
            .merge_base(a, b)
            .map_err(StoreError::git)?
            .map(|id| id.detach()))
    }
}

/// Splits the root trailer off a commit message.
fn split_trailer(full: &str) -> (String, Option<Hash>) {
    let mut root = None;
    let mut kept = Vec::new();
    for line in full.lines() {
        if let Some(h) = line.strip_prefix(ROOT_TRAILER) {
            root = h.trim().parse().ok();
        } else {
            kept.push(line);
        }
    }
    (kept.join("\n").trim_end().to_string(), root)
}

/// Checks a full ref name is one colony may write (no traversal, git's basic rules).
pub fn validate_ref_name(full: &str) -> Result<()> {
    let bad = |why: &str| Err(StoreError::Ref(format!("invalid name `{full}`: {why}")));
    if !full.starts_with("refs/") {
        return bad("must live under refs/");
    }
    for part in full.split('/') {
        if part.is_empty()
            || part.starts_with('.')
            || part.ends_with(".lock")
            || part.starts_with('-')
        {
            return bad("empty component, leading `.` or `-`, or `.lock` suffix");
        }
    }
    if full.contains("..")
        || full.contains("@{")
        || full
            .chars()
            .any(|c| c.is_control() || " ~^:?*[\\".contains(c))
    {
        return bad("contains `..`, `@{`, a space, control or one of ~^:?*[\\");
    }
    Ok(())
}

/// The one-byte code of a git object kind, shared by every colony format that carries
/// history objects (peer frames, S3 bundles): 1 commit, 2 tree, 3 blob, 4 tag.
pub fn object_kind_code(kind: gix::objs::Kind) -> u8 {
    match kind {
        gix::objs::Kind::Commit => 1,
        gix::objs::Kind::Tree => 2,
        gix::objs::Kind::Blob => 3,
        gix::objs::Kind::Tag => 4,
    }
}

/// The object kind of a code written by [`object_kind_code`], if it is one.
pub fn object_kind_of(code: u8) -> Option<gix::objs::Kind> {
    Some(match code {
        1 => gix::objs::Kind::Commit,
        2 => gix::objs::Kind::Tree,
        3 => gix::objs::Kind::Blob,
        4 => gix::objs::Kind::Tag,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_links() {
        assert!(check_component(b"..").is_some());
        assert!(check_component(b"").is_some());
        assert!(check_component(b".colony").is_some());
        assert!(check_component(b"a/b").is_some());
        assert!(check_component(b"ok name \xc3\xa9").is_none());
        assert!(check_link_target("a/l", "../b").is_none());
        assert!(check_link_target("a/l", "../../b").is_some());
        assert!(check_link_target("l", "/etc/passwd").is_some());
        assert!(check_link_target("l", "x/../../y").is_some());
        assert!(check_link_target("l", ".colony/config.toml").is_some());
    }

    #[test]
    fn ref_names() {
        assert!(validate_ref_name("refs/heads/main").is_ok());
        assert!(validate_ref_name("refs/heads/../../x").is_err());
        assert!(validate_ref_name("refs/heads/a b").is_err());
        assert!(validate_ref_name("HEAD").is_err());
    }

    #[test]
    fn trailer_split() {
        let h = Hash::of(b"x");
        let (m, r) = split_trailer(&format!("msg\n\nbody\n\n{ROOT_TRAILER}{h}\n"));
        assert_eq!(m, "msg\n\nbody");
        assert_eq!(r, Some(h));
    }
}
