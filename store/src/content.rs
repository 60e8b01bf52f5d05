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
    if e.mode == Mode::Link {
        let t = e.target.as_deref().unwrap_or_default();
        out.write_all(t.as_bytes())
            .map_err(|err| StoreError::io("write", err))?;
        return Ok(t.len() as u64);
    }
    let mut hasher = blake3::Hasher::new();
    let mut n = 0u64;
    for (chunk, _) in chunk_list(store, e).map_err(|err| err.at(path))? {
        let bytes = store.read(&chunk, "chunk").map_err(|err| err.at(path))?;
        hasher.update(&bytes);
        out.write_all(&bytes)
            .map_err(|err| StoreError::io(format!("write {path}"), err))?;
        n += bytes.len() as u64;
    }
    let actual: Hash = hasher.finalize().into();
    if actual != e.hash || n != e.size {
        return Err(StoreError::ContentMismatch {
            path: path.to_string(),
            expected: e.hash,
            actual,
        });
    }
    Ok(n)
}

/// Recomputes a file's BLAKE3 from the stored bytes without writing them anywhere.
pub fn rehash(store: &ChunkStore, path: &str, e: &FileEntry) -> Result<Hash> {
    let mut sink = std::io::sink();
    write_content(store, path, e, &mut sink)?;
    Ok(e.hash)
}
