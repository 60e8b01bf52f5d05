//! The store lock: two colony processes on one dataset wait for each other.
//!
//! Writers take it exclusively, readers shared. The lock is an OS file lock, so it is
//! released when a process dies, even by `kill -9`; there is never a stale lock to clean.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
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
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io(format!("open lock {}", path.display()), e))?;
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
        if exclusive {
            // Say who holds it, for anyone who has to wait.
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
    let _ = file.read_to_string(&mut s);
    if s.trim().is_empty() {
        "a reader".into()
    } else {
        s.trim().to_string()
    }
}
