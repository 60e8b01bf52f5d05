//! The work tree: finding files (honouring `.colonyignore`) and writing revisions into it
//! without ever writing outside it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::chunks::ChunkStore;
use crate::content::write_content;
use crate::durable;
use crate::error::{Result, StoreError};
use crate::history::{check_component, check_link_target};
use crate::index::Stat;
use crate::snapshot::{FileEntry, Mode};

/// Name of the ignore file (gitignore syntax), read in every folder.
pub const IGNORE_FILE: &str = ".colonyignore";

/// A file found in the work tree.
#[derive(Clone, Debug)]
pub struct WorkFile {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// Its stat (not following symlinks).
    pub stat: Stat,
}

/// Converts an absolute path under `root` into a dataset path.
pub fn relative(root: &Path, abs: &Path) -> Result<String> {
    let rel = abs
        .strip_prefix(root)
        .map_err(|_| StoreError::OutsideDataset(abs.to_path_buf()))?;
    let s = rel.to_str().ok_or_else(|| StoreError::AtPath {
        path: rel.to_string_lossy().into(),
        source: Box::new(StoreError::Ref("file names must be UTF-8".into())),
    })?;
    Ok(s.replace(std::path::MAIN_SEPARATOR, "/"))
}

/// Every file under `root/start` (or `root` itself) that is not ignored, sorted by path.
/// Skips `.colony` and `.git` folders.
pub fn scan(root: &Path, start: Option<&Path>) -> Result<Vec<WorkFile>> {
    let base = start.map_or_else(|| root.to_path_buf(), Path::to_path_buf);
    let mut builder = ignore::WalkBuilder::new(&base);
    builder
        .standard_filters(false)
        .hidden(false)
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(8),
        )
        .filter_entry(|e| {
            let n = e.file_name();
            !(e.depth() > 0
                && e.file_type().is_some_and(|t| t.is_dir())
                && (n == ".colony" || n == ".git"))
        });
    // Ignore files above `start` still apply.
    if start.is_some() {
        let mut p = base.parent();
        while let Some(dir) = p {
            let f = dir.join(IGNORE_FILE);
            if f.exists() {
                builder.add_ignore(f);
            }
            if dir == root {
                break;
            }
            p = dir.parent();
        }
    }
    let found = Mutex::new(Vec::new());
    let failed = Mutex::new(None);
    builder.build_parallel().run(|| {
        Box::new(|entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    *failed.lock().unwrap() = Some(StoreError::Io {
                        what: "walk the work tree".into(),
                        source: std::io::Error::other(e.to_string()),
                    });
                    return ignore::WalkState::Quit;
                }
            };
            let Some(ft) = entry.file_type() else {
                return ignore::WalkState::Continue;
            };
            if ft.is_dir() {
                return ignore::WalkState::Continue;
            }
            let result = relative(root, entry.path()).and_then(|path| {
                let meta = fs::symlink_metadata(entry.path())
                    .map_err(|e| StoreError::io(format!("stat {path}"), e))?;
                Ok(WorkFile {
                    path,
                    stat: Stat::of(&meta),
                })
            });
            match result {
                Ok(w) if ft.is_file() || ft.is_symlink() => found.lock().unwrap().push(w),
                Ok(_) => {}
                Err(e) => {
                    *failed.lock().unwrap() = Some(e);
                    return ignore::WalkState::Quit;
                }
            }
            ignore::WalkState::Continue
        })
    });
    if let Some(e) = failed.into_inner().unwrap() {
        return Err(e);
    }
    let mut files = found.into_inner().unwrap();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Checks every component of a dataset path and returns its location under `root`.
pub fn safe_join(root: &Path, path: &str) -> Result<PathBuf> {
    let mut out = root.to_path_buf();
    for part in path.split('/') {
        if let Some(why) = check_component(part.as_bytes()) {
            return Err(StoreError::HostilePath {
                path: path.into(),
                why: why.into(),
            });
        }
        out.push(part);
    }
    Ok(out)
}

/// The nearest folder above dataset path `path` that is a symlink in the work tree, if
/// any. A path below one is not in the work tree, whatever the link points at: `add`
/// never reads through it, as checkout never writes through it.
pub fn symlink_above(root: &Path, path: &str) -> Option<String> {
    let mut dir = root.to_path_buf();
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => return Some(parts[..=i].join("/")),
            Ok(m) if m.is_dir() => {}
            _ => return None,
        }
    }
    None
}

/// Makes sure every folder above `path` exists as a real folder (never a symlink), creating
/// what is missing.
fn prepare_parents(root: &Path, path: &str) -> Result<PathBuf> {
    let full = safe_join(root, path)?;
    let mut dir = root.to_path_buf();
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(StoreError::HostilePath {
                    path: path.into(),
                    why: format!(
                        "its folder `{}` is a symlink in the work tree",
                        relative(root, &dir)?
                    ),
                });
            }
            Ok(_) => {
                return Err(StoreError::WouldOverwrite {
                    paths: vec![relative(root, &dir)?],
                });
            }
            // Parallel checkouts may create the same new folder at once; theirs is as good.
            Err(_) => match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        && fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) => {}
                Err(e) => return Err(StoreError::io(format!("create {}", dir.display()), e)),
            },
        }
    }
    Ok(full)
}

/// Writes one entry into the work tree (via a temporary file and a rename, so a reader
/// never sees half a file) and returns the new file's stat.
pub fn materialize(root: &Path, store: &ChunkStore, path: &str, e: &FileEntry) -> Result<Stat> {
    let full = prepare_parents(root, path)?;
    let parent = full.parent().expect("has a parent");
    let tmp = durable::temp_path(parent, "checkout");
    let result = (|| -> Result<()> {
        if e.mode == Mode::Link {
            let target = e.target.as_deref().unwrap_or_default();
            if let Some(why) = check_link_target(path, target) {
                return Err(StoreError::HostilePath {
                    path: path.into(),
                    why: why.into(),
                });
            }
            std::os::unix::fs::symlink(target, &tmp)
                .map_err(|err| StoreError::io("create symlink", err))?;
        } else {
            let file = fs::File::create(&tmp)
                .map_err(|err| StoreError::io(format!("create {path}"), err))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            write_content(store, path, e, &mut out)?;
            let file = out
                .into_inner()
                .map_err(|err| StoreError::io(format!("write {path}"), err.into_error()))?;
            use std::os::unix::fs::PermissionsExt;
            let mode = if e.mode == Mode::Exec { 0o755 } else { 0o644 };
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|err| StoreError::io(format!("chmod {path}"), err))?;
        }
        if fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
            remove_empty_dirs(&full)?;
        }
        fs::rename(&tmp, &full).map_err(|err| StoreError::io(format!("write {path}"), err))
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    let meta =
        fs::symlink_metadata(&full).map_err(|err| StoreError::io(format!("stat {path}"), err))?;
    Ok(Stat::of(&meta))
}

/// Removes a folder that holds only (possibly nested) empty folders; errors if it holds files.
fn remove_empty_dirs(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).map_err(|err| StoreError::io("read folder", err))? {
        let e = e.map_err(|err| StoreError::io("read folder", err))?;
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_dirs(&e.path())?;
        }
    }
    fs::remove_dir(dir).map_err(|_| StoreError::WouldOverwrite {
        paths: vec![dir.display().to_string()],
    })
}

/// Removes a tracked file and any folders above it that became empty.
pub fn remove(root: &Path, path: &str) -> Result<()> {
    let full = safe_join(root, path)?;
    match fs::remove_file(&full) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(format!("remove {path}"), e)),
    }
    let mut dir = full.parent();
    while let Some(d) = dir {
        if d == root || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// Hashes a work-tree file (or link target) the way the store would, without storing it.
pub fn hash_file(root: &Path, path: &str, mode: Mode) -> Result<(crate::Hash, u64)> {
    let full = safe_join(root, path)?;
    if mode == Mode::Link {
        let t = fs::read_link(&full).map_err(|e| StoreError::io(format!("read link {path}"), e))?;
        let t = t.to_string_lossy();
        return Ok((crate::Hash::of(t.as_bytes()), t.len() as u64));
    }
    let mut f = fs::File::open(&full).map_err(|e| StoreError::io(format!("open {path}"), e))?;
    let mut h = blake3::Hasher::new();
    let n = std::io::copy(&mut f, &mut HashWriter(&mut h))
        .map_err(|e| StoreError::io(format!("read {path}"), e))?;
    Ok((h.finalize().into(), n))
}

struct HashWriter<'a>(&'a mut blake3::Hasher);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Creates the folders that `paths` (dataset paths) need under `root`, one component
/// at a time, before a parallel checkout writes into them (so that two files of one new
/// folder do not race to create it). Stops at anything that is not a real folder
/// (a symlink, a file), leaving the checkout to refuse it with a proper error.
pub fn precreate_folders(root: &Path, paths: &[String]) {
    let mut done = std::collections::HashSet::new();
    for p in paths {
        let Ok(full) = crate::worktree::safe_join(root, p) else {
            continue;
        };
        let Some(parent) = full.parent() else {
            continue;
        };
        if !done.insert(parent.to_path_buf()) {
            continue;
        }
        let Ok(rel) = parent.strip_prefix(root) else {
            continue;
        };
        let mut dir = root.to_path_buf();
        for part in rel.components() {
            dir.push(part);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => break,
                Err(_) => {
                    if std::fs::create_dir(&dir).is_err() && !dir.is_dir() {
                        break;
                    }
                }
            }
        }
    }
}
