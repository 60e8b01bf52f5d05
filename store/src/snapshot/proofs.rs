//! Proven manifests: which (file hash, manifest) pairs are known to agree.
//!
//! The snapshot root commits to each file's whole-content BLAKE3, not to its manifest, so
//! a range read that checks only the chunks under the range proves that those bytes are
//! what the manifest lists, not that they are the file the root names. A history from
//! elsewhere could pair an honest pointer hash with a manifest of other chunks. The reader
//! closes that gap by hashing a file whole, through its manifest, once per store before
//! serving any range of it, and records the pair here so that it is never done again.
//! `add` records the pairs it makes (it computes both from the same bytes).
//!
//! The log is `.colony/proven-manifests`: an append-only sequence of 32-byte records,
//! each `BLAKE3-derive_key("colony proven manifest v1", file_hash || manifest_hash)`.
//! A record only says "this pair was checked"; it is a fact about content-addressed
//! objects, so it never goes stale and needs no fsync (losing one costs a re-check).
//! Appenders take an OS lock on the file and first pad a torn last record (a crash
//! mid-append) to a whole one; a torn record hashes to nothing anyone can name, so it
//! proves nothing. Readers read whole records only and never need the lock.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Hash;
use crate::error::{Result, StoreError};

/// The log's file name inside `.colony/`.
pub const PROOFS_FILE: &str = "proven-manifests";

const RECORD: u64 = 32;
const CONTEXT: &str = "colony proven manifest v1";

/// The record for a pair.
fn tag(file: &Hash, manifest: &Hash) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(CONTEXT);
    h.update(&file.0);
    h.update(&manifest.0);
    *h.finalize().as_bytes()
}

#[derive(Default)]
struct Loaded {
    /// Bytes of the file read so far (always whole records).
    upto: u64,
    tags: HashSet<[u8; 32]>,
}

/// A dataset's log of proven (file hash, manifest) pairs. Shared by threads; any number
/// of processes may read and append at once.
pub struct ProofLog {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl ProofLog {
    /// The log of the dataset whose metadata folder is `colony_dir` (read on first use).
    pub fn open(colony_dir: &Path) -> ProofLog {
        ProofLog {
            path: colony_dir.join(PROOFS_FILE),
            loaded: Mutex::new(Loaded::default()),
        }
    }

    /// Whether the chunks `manifest` lists are known to hash, together, to `file`.
    /// Reads what other processes appended since the last look before answering no.
    pub fn contains(&self, file: &Hash, manifest: &Hash) -> Result<bool> {
        let t = tag(file, manifest);
        let mut l = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if l.tags.contains(&t) {
            return Ok(true);
        }
        self.load_tail(&mut l)?;
        Ok(l.tags.contains(&t))
    }

    fn load_tail(&self, l: &mut Loaded) -> Result<()> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io(format!("open {}", self.path.display()), e)),
        };
        let len = f
            .metadata()
            .map_err(|e| StoreError::io(format!("stat {}", self.path.display()), e))?
            .len();
        let whole = len - len % RECORD;
        if whole <= l.upto {
            return Ok(());
        }
        let mut buf = vec![0u8; (whole - l.upto) as usize];
        f.seek(SeekFrom::Start(l.upto))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| StoreError::io(format!("read {}", self.path.display()), e))?;
        for r in buf.chunks_exact(RECORD as usize) {
            l.tags.insert(r.try_into().expect("32 bytes"));
        }
        l.upto = whole;
        Ok(())
    }

    /// Records pairs as proven. Only call this for pairs whose bytes were hashed whole
    /// through the manifest (or from which both were computed).
    pub fn record(&self, pairs: &[(Hash, Hash)]) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        let io = |what: &str, e| StoreError::io(format!("{what} {}", self.path.display()), e);
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| io("open", e))?;
        f.lock().map_err(|e| io("lock", e))?;
        let len = f.metadata().map_err(|e| io("stat", e))?.len();
        let pad = ((RECORD - len % RECORD) % RECORD) as usize;
        let mut out = vec![0u8; pad];
        for (file, manifest) in pairs {
            out.extend_from_slice(&tag(file, manifest));
        }
        f.write_all(&out).map_err(|e| io("append to", e))?;
        drop(f);
        let mut l = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        for (file, manifest) in pairs {
            l.tags.insert(tag(file, manifest));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_persist_across_handles_and_a_torn_record_proves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (f1, m1) = (Hash::of(b"f1"), Hash::of(b"m1"));
        let (f2, m2) = (Hash::of(b"f2"), Hash::of(b"m2"));
        let a = ProofLog::open(dir.path());
        assert!(!a.contains(&f1, &m1).unwrap());
        a.record(&[(f1, m1)]).unwrap();
        assert!(a.contains(&f1, &m1).unwrap());
        // Another handle (another process) sees it; a pair is not its reverse.
        let b = ProofLog::open(dir.path());
        assert!(b.contains(&f1, &m1).unwrap());
        assert!(!b.contains(&m1, &f1).unwrap());
        // A crash mid-append leaves half a record.
        let p = dir.path().join(PROOFS_FILE);
        let t2 = tag(&f2, &m2);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(&t2[..13]);
        std::fs::write(&p, &bytes).unwrap();
        let c = ProofLog::open(dir.path());
        assert!(c.contains(&f1, &m1).unwrap());
        assert!(!c.contains(&f2, &m2).unwrap());
        // The next append realigns; records before and after the torn one still count.
        let (f3, m3) = (Hash::of(b"f3"), Hash::of(b"m3"));
        c.record(&[(f3, m3)]).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len() % RECORD, 0);
        let d = ProofLog::open(dir.path());
        assert!(d.contains(&f1, &m1).unwrap() && d.contains(&f3, &m3).unwrap());
        assert!(!d.contains(&f2, &m2).unwrap());
        // `b` loaded before the torn record; it still finds the later one.
        assert!(b.contains(&f3, &m3).unwrap());
    }
}
