//! Reader leases: how an open reader keeps its revision safe from `gc` without holding
//! the store lock.
//!
//! Each reader owns a file `.colony/readers/<unique>.lease` holding `commit <hex>\n`, on
//! which it holds an exclusive OS lock for as long as it is open. `gc` (which runs with
//! the store locked for writing) treats the commit of every lease whose lock is held as a
//! root, and deletes leases whose lock is free: their reader was dropped or its process
//! died (the OS releases the lock even on `kill -9`), so nothing is ever kept forever by
//! a crashed reader. A lease is created while its reader holds the store's shared lock,
//! so `gc` never runs between resolving a revision and protecting it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use gix::ObjectId;

use crate::error::{Result, StoreError};
use crate::history::History;

/// The folder of leases inside `.colony/`.
pub const READERS_DIR: &str = "readers";

/// An open reader's claim on a commit; released (and its file removed) on drop.
pub(crate) struct Lease {
    path: PathBuf,
    _file: File,
}

impl Lease {
    /// Creates and locks a lease on `commit`. The caller holds the store's shared lock.
    pub(crate) fn take(colony_dir: &Path, commit: ObjectId) -> Result<Lease> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = colony_dir.join(READERS_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("create {}", dir.display()), e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        loop {
            let name = format!(
                "{}-{nanos}-{}.lease",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = dir.join(name);
            let mut file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::io(format!("create {}", path.display()), e)),
            };
            let io = |e| StoreError::io(format!("write lease {}", path.display()), e);
            file.try_lock().map_err(|e| match e {
                TryLockError::Error(e) => io(e),
                TryLockError::WouldBlock => io(std::io::Error::other("already locked")),
            })?;
            file.write_all(format!("commit {commit}\n").as_bytes())
                .map_err(io)?;
            return Ok(Lease { path, _file: file });
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Remove first, then unlock (when the file closes): `gc` never sees a free lock on
        // a file that is still being used. If removal fails, the next `gc` cleans it.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The commits that open readers hold, for `gc` to keep. Deletes stale leases (whose
/// reader is gone). Call with the store locked for writing. A lease naming a commit the
/// history lacks protects nothing and is skipped.
pub fn leased_commits(colony_dir: &Path, history: &History) -> Result<Vec<ObjectId>> {
    let dir = colony_dir.join(READERS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("list {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for ent in entries {
        let ent = ent.map_err(|e| StoreError::io(format!("list {}", dir.display()), e))?;
        let path = ent.path();
        if path.extension().is_none_or(|x| x != "lease") {
            continue;
        }
        let mut file = match File::open(&path) {
            Ok(f) => f,
            // Its reader removed it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(format!("open {}", path.display()), e)),
        };
        match file.try_lock_shared() {
            Ok(()) => {
                // Nobody holds it: the reader is gone.
                let _ = std::fs::remove_file(&path);
            }
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                file.read_to_string(&mut text)
                    .map_err(|e| StoreError::io(format!("read {}", path.display()), e))?;
                let id = text
                    .trim()
                    .strip_prefix("commit ")
                    .and_then(|h| ObjectId::from_hex(h.as_bytes()).ok())
                    .ok_or_else(|| StoreError::MalformedHistory {
                        object: path.display().to_string(),
                        why: format!(
                            "an open reader's lease should say `commit <id>`, not `{}`",
                            text.trim()
                        ),
                    })?;
                if history.commit_tree(id).is_ok() {
                    out.push(id);
                }
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::io(format!("lock {}", path.display()), e));
            }
        }
    }
    Ok(out)
}
