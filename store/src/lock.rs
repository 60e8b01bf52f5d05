//! The store lock: two colony processes on one dataset wait for each other.
//!
//! Writers take it exclusively, readers shared. The lock is an OS file lock, so it is
//! released when a process dies, even by `kill -9`; there is never a stale lock to clean.
//!
//! The lock file may belong to someone else's dataset (a folder remote being pushed to),
//! so it is opened without following a symlink and must be a regular file; the holder's
//! note is written into it only while the lock is held and only when the file has no
//! other name (a hard link could make it someone else's file).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Result, StoreError};

/// Held while a command works on the store; released on drop.
pub struct StoreLock {
    _file: File,
}

/// How long to wait for the lock unless `COLONY_LOCK_TIMEOUT` (seconds) says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The lock timeout in force.
pub fn timeout() -> Duration {
    std::env::var("COLONY_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64)
}

impl StoreLock {
    /// Takes the lock at `path`, waiting up to [`timeout`]; `on_wait` is called once if we
    /// have to wait (to tell the user why nothing happens).
    pub fn acquire(path: &Path, exclusive: bool, on_wait: &dyn Fn(&str)) -> Result<StoreLock> {
        let unsafe_lock = |why: &str| StoreError::UnsafeLock {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        // O_NOFOLLOW: a symlink in place of the lock fails (ELOOP) instead of being
        // followed to a file outside the dataset; O_NONBLOCK: a FIFO cannot stall the
        // open (it is refused just below).
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(flags.bits() as i32)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                    unsafe_lock("it is a symlink")
                } else {
                    StoreError::io(format!("open lock {}", path.display()), e)
                }
            })?;
        let meta = file
            .metadata()
            .map_err(|e| StoreError::io(format!("stat lock {}", path.display()), e))?;
        if !meta.file_type().is_file() {
            return Err(unsafe_lock("it is not a regular file"));
        }
        // Ours alone to scribble in: no other name (hard link) points at this file.
        let note_allowed = meta.nlink() == 1;
        let start = Instant::now();
        let limit = timeout();
        let mut told = false;
        loop {
            let r = if exclusive {
                file.try_lock()
            } else {
                file.try_lock_shared()
            };
            match r {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = holder(&mut file);
                    if start.elapsed() >= limit {
                        return Err(StoreError::LockTimeout {
                            holder,
                            waited_secs: limit.as_secs(),
                        });
                    }
                    if !told && start.elapsed() >= Duration::from_millis(500) {
                        on_wait(&holder);
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(TryLockError::Error(e)) => return Err(StoreError::io("lock the store", e)),
            }
        }
        if exclusive && note_allowed {
            // Say who holds it, for anyone who has to wait. Only now that the lock is held:
            // before, the note is the current holder's and must stay readable.
            let cmd: Vec<String> = std::env::args().take(3).collect();
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(file, "pid {} ({})", std::process::id(), cmd.join(" "));
        }
        Ok(StoreLock { _file: file })
    }
}

fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.rewind();
    // A note is one short line; never read (or show) more of a file than that.
    let _ = file.take(256).read_to_string(&mut s);
    if s.trim().is_empty() {
        "a reader".into()
    } else {
        s.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_symlinked_outside_is_refused_and_its_target_untouched() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let lock = d.path().join("lock");
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        for exclusive in [true, false] {
            let e = StoreLock::acquire(&lock, exclusive, &|_| {})
                .err()
                .expect("a symlinked lock is refused");
            assert!(matches!(e, StoreError::UnsafeLock { .. }), "{e}");
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        // A dangling one is not created through either.
        let dangling = d.path().join("lock2");
        std::os::unix::fs::symlink(d.path().join("created"), &dangling).unwrap();
        assert!(StoreLock::acquire(&dangling, true, &|_| {}).is_err());
        assert!(!d.path().join("created").exists());
    }

    #[test]
    fn a_fifo_or_folder_lock_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("lock");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = StoreLock::acquire(&fifo, true, &|_| {}).err().unwrap();
        assert!(matches!(e, StoreError::UnsafeLock { .. }), "{e}");
        let dir = d.path().join("dir");
        std::fs::create_dir(&dir).unwrap();
        assert!(StoreLock::acquire(&dir, true, &|_| {}).is_err());
    }

    #[test]
    fn a_hard_linked_lock_still_locks_but_is_never_written() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let lock = d.path().join("lock");
        std::fs::hard_link(&victim, &lock).unwrap();
        let held = StoreLock::acquire(&lock, true, &|_| {}).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        drop(held);
        // A plain lock gets the holder's note.
        let own = d.path().join("own");
        let held = StoreLock::acquire(&own, true, &|_| {}).unwrap();
        assert!(std::fs::read_to_string(&own).unwrap().starts_with("pid "));
        drop(held);
    }
}
