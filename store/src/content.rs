//! Reading file content back out of the store, verified chunk by chunk and as a whole.

use std::io::Write;

use crate::Hash;
use crate::chunks::ChunkStore;
use crate::error::{Result, StoreError};
use crate::manifest::FileManifest;
use crate::snapshot::{FileEntry, Mode};

/// The chunk hashes of a file, in order.
pub fn chunk_list(store: &ChunkStore, e: &FileEntry) -> Result<Vec<(Hash, u32)>> {
    if e.mode == Mode::Link || e.size == 0 {
        return Ok(Vec::new());
    }
    match &e.manifest {
        None => Ok(vec![(e.hash, e.size as u32)]),
        Some(m) => {
            let bytes = store.read(m, "manifest")?;
            let manifest =
                FileManifest::decode(&bytes).map_err(|why| StoreError::CorruptChunk {
                    chunk: *m,
                    shard: store
                        .locate(m)
                        .ok()
                        .flatten()
                        .map_or(Hash([0; 32]), |l| l.shard),
                    why,
                })?;
            if manifest.size() != e.size {
                return Err(StoreError::Missing {
                    kind: "manifest matching the file size",
                    hash: *m,
                });
            }
            Ok(manifest.chunks)
        }
    }
}

/// Streams a file's bytes to `out`. Every chunk is checked against its hash, and the whole
/// against the file hash; on a mismatch the error names the chunk and shard (or the file).
/// Returns the number of bytes written.
pub fn write_content(
    store: &ChunkStore,
    path: &str,
    e: &FileEntry,
    out: &mut dyn Write,
) -> Result<u64> {
    if let Some(n) = write_link(path, e, out)? {
        return Ok(n);
    }
    let mut copy = CheckedCopy::new(path, out);
    for (chunk, _) in chunk_list(store, e).map_err(|err| err.at(path))? {
        let bytes = store.read(&chunk, "chunk").map_err(|err| err.at(path))?;
        copy.write(&bytes)?;
    }
    copy.finish(e)
}

/// Writes a symlink's target to `out` and returns its length, or `None` (writing nothing)
/// when `e` is not a link.
pub(crate) fn write_link(path: &str, e: &FileEntry, out: &mut dyn Write) -> Result<Option<u64>> {
    if e.mode != Mode::Link {
        return Ok(None);
    }
    let t = e.target.as_deref().unwrap_or_default().as_bytes();
    out.write_all(t)
        .map_err(|err| StoreError::io(format!("write {path}"), err))?;
    Ok(Some(t.len() as u64))
}

/// A file's bytes on their way to a writer, hashed and counted as they pass, so that the
/// whole can be checked against the file's entry once the last chunk is written.
pub(crate) struct CheckedCopy<'a> {
    path: &'a str,
    out: &'a mut dyn Write,
    hasher: blake3::Hasher,
    written: u64,
}

impl<'a> CheckedCopy<'a> {
    /// A copy of file `path` into `out`.
    pub(crate) fn new(path: &'a str, out: &'a mut dyn Write) -> CheckedCopy<'a> {
        CheckedCopy {
            path,
            out,
            hasher: blake3::Hasher::new(),
            written: 0,
        }
    }

    /// Passes the next bytes on.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.out
            .write_all(bytes)
            .map_err(|err| StoreError::io(format!("write {}", self.path), err))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Checks what passed against `e` (hash and size); returns the bytes written.
    pub(crate) fn finish(self, e: &FileEntry) -> Result<u64> {
        let actual: Hash = self.hasher.finalize().into();
        if actual != e.hash || self.written != e.size {
            return Err(StoreError::ContentMismatch {
                path: self.path.to_string(),
                expected: e.hash,
                actual,
            });
        }
        Ok(self.written)
    }
}

/// Recomputes a file's BLAKE3 from the stored bytes without writing them anywhere.
pub fn rehash(store: &ChunkStore, path: &str, e: &FileEntry) -> Result<Hash> {
    let mut sink = std::io::sink();
    write_content(store, path, e, &mut sink)?;
    Ok(e.hash)
}
