//! Crash-safe file updates: write to a temporary file, fsync, rename, fsync the directory.
//!
//! Every ref and index update goes through here, so a process killed at any instant leaves
//! either the old or the new version of a file, never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, StoreError};

/// A fresh temporary file name inside `dir` (same file system as the final location).
pub fn temp_path(dir: &Path, tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    dir.join(format!(".tmp-{tag}-{}-{n}-{nanos:x}", std::process::id()))
}

/// Fsyncs a directory so that a rename into it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(format!("fsync directory {}", dir.display()), e))
}

/// Renames `tmp` to `dest` (creating `dest`'s directory) and fsyncs that directory.
pub fn rename_into(tmp: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().expect("destination has a parent");
    fs::create_dir_all(parent)
        .map_err(|e| StoreError::io(format!("create {}", parent.display()), e))?;
    fs::rename(tmp, dest)
        .map_err(|e| StoreError::io(format!("rename into {}", dest.display()), e))?;
    sync_dir(parent)
}

/// Replaces `dest` with `bytes` atomically and durably.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let parent = dest.parent().expect("destination has a parent");
    fs::create_dir_all(parent)
        .map_err(|e| StoreError::io(format!("create {}", parent.display()), e))?;
    let tmp = temp_path(parent, "write");
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io(format!("write {}", dest.display()), e));
    }
    rename_into(&tmp, dest)
}

/// Flushes every dirty page of the file system holding `path` (one `syncfs` instead of an
/// fsync per loose git object).
pub fn sync_filesystem(path: &Path) -> Result<()> {
    let f = File::open(path).map_err(|e| StoreError::io(format!("open {}", path.display()), e))?;
    rustix::fs::syncfs(&f).map_err(|e| StoreError::io("syncfs", e.into()))
}
