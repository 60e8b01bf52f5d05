//! Immutable files shared or copied between stores on this machine, and the listing of
//! a shard folder.
//!
//! Shard files and git object files are immutable once written (colony only ever
//! creates, renames and deletes them), so a fork may hard-link them; a file taken from
//! someone else's dataset is reflinked or copied instead, never linked, so that its
//! owner cannot change it after it was verified.

use std::path::{Path, PathBuf};

use crate::Hash;
use crate::durable;
use crate::error::{Result, StoreError};

/// How one file was brought into a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shared {
    /// Hard link: same inode.
    Linked,
    /// Reflink: copy-on-write clone.
    Cloned,
    /// Plain copy.
    Copied,
    /// Copied over the wire with every byte, from the first, checked against the
    /// file's BLAKE3 tree as it arrived (a peer's bao stream): hashing the whole file
    /// again would prove nothing more.
    Verified,
}

/// Makes `dest` hold the same bytes as `src` without a second copy where the file system
/// allows: hard link, else reflink, else copy (through a temporary file, fsynced).
/// A hard link shares the inode, so whoever can write `src` can later change `dest`:
/// only for files of one owner (a fork of one's own dataset).
pub fn share_file(src: &Path, dest: &Path) -> Result<Shared> {
    let parent = dest.parent().expect("destination has a parent");
    std::fs::create_dir_all(parent)
        .map_err(|e| StoreError::io(format!("create {}", parent.display()), e))?;
    if std::fs::hard_link(src, dest).is_ok() {
        return Ok(Shared::Linked);
    }
    copy_file(src, dest)
}

/// Makes `dest` an independent copy of `src`: a reflink (copy-on-write clone, no second
/// copy of the bytes) where the file system allows, else a plain copy; through a
/// temporary file, fsynced. Never a hard link, so a later write to `src` by its owner
/// cannot change `dest` after `dest` was verified.
pub fn copy_file(src: &Path, dest: &Path) -> Result<Shared> {
    let parent = dest.parent().expect("destination has a parent");
    std::fs::create_dir_all(parent)
        .map_err(|e| StoreError::io(format!("create {}", parent.display()), e))?;
    let tmp = durable::temp_path(parent, "share");
    let result = (|| -> std::io::Result<Shared> {
        let from = std::fs::File::open(src)?;
        let to = std::fs::File::create(&tmp)?;
        let how = if rustix::fs::ioctl_ficlone(&to, &from).is_ok() {
            Shared::Cloned
        } else {
            let mut from = from;
            let mut to_w = &to;
            std::io::copy(&mut from, &mut to_w)?;
            Shared::Copied
        };
        to.sync_all()?;
        Ok(how)
    })();
    match result {
        Ok(how) => {
            durable::rename_into(&tmp, dest)?;
            Ok(how)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(StoreError::io(format!("copy {}", src.display()), e))
        }
    }
}

/// Every regular file under `dir` (recursively), relative to it, skipping `skip` names.
pub fn files_under(dir: &Path, skip: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let rd = match std::fs::read_dir(dir.join(&rel)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(format!("list {}", dir.display()), e)),
        };
        for entry in rd.flatten() {
            let name = entry.file_name();
            if skip.iter().any(|s| name == *s) || name.to_string_lossy().starts_with(".tmp-") {
                continue;
            }
            let ft = entry.file_type().map_err(|e| StoreError::io("stat", e))?;
            if ft.is_dir() {
                stack.push(rel.join(&name));
            } else if ft.is_file() {
                out.push(rel.join(&name));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The shards in a shard folder, by file name (without opening the chunk index, which
/// another process may hold).
pub fn list_shard_files(dir: &Path) -> Result<Vec<Hash>> {
    Ok(files_under(dir, &["tmp"])?
        .iter()
        .filter_map(|p| {
            p.file_name()?
                .to_str()?
                .strip_suffix(".shard")?
                .parse()
                .ok()
        })
        .collect())
}

/// The shards in a shard folder with their sizes in bytes (see [`list_shard_files`]).
pub fn list_shards_sized(dir: &Path) -> Result<Vec<(Hash, u64)>> {
    Ok(list_shard_files(dir)?
        .into_iter()
        .map(|id| {
            let size = std::fs::metadata(crate::shard_path(dir, &id)).map_or(0, |m| m.len());
            (id, size)
        })
        .collect())
}
