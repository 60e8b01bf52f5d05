//! Reading records back from shard files, always verified.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{FOOTER_LEN, MAGIC, ShardEntry, decode_footer, decode_table};
use crate::Hash;
use crate::error::{Result, StoreError};

/// An open shard file.
pub struct ShardFile {
    /// The shard's identity (its file name).
    pub id: Hash,
    /// Where it lives.
    pub path: PathBuf,
    file: File,
}

impl ShardFile {
    /// Opens the shard `id` at `path`.
    pub fn open(id: Hash, path: &Path) -> Result<ShardFile> {
        let file = File::open(path).map_err(|e| StoreError::io(format!("open shard {id}"), e))?;
        Ok(ShardFile {
            id,
            path: path.to_path_buf(),
            file,
        })
    }

    /// Reads and parses the chunk table, without checking record contents.
    pub fn table(&self) -> Result<Vec<ShardEntry>> {
        let corrupt = |why: String| StoreError::CorruptShard {
            shard: self.id,
            why,
        };
        let len = self
            .file
            .metadata()
            .map_err(|e| StoreError::io("stat shard", e))?
            .len();
        if len < (MAGIC.len() + FOOTER_LEN) as u64 {
            return Err(corrupt(format!("only {len} bytes long")));
        }
        let mut magic = [0u8; 8];
        self.read_at(&mut magic, 0)?;
        if &magic != MAGIC {
            return Err(corrupt("does not start with the shard magic".into()));
        }
        let mut footer = [0u8; FOOTER_LEN];
        self.read_at(&mut footer, len - FOOTER_LEN as u64)?;
        let (offset, count) = decode_footer(&footer, len).map_err(corrupt)?;
        let mut table = vec![0u8; count as usize * super::format::ENTRY_LEN];
        self.read_at(&mut table, offset)?;
        decode_table(&table, offset).map_err(corrupt)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| StoreError::io(format!("read shard {}", self.id), e))
    }

    /// Reads the record `entry` and returns its bytes, verified against `entry.hash`.
    pub fn read(&self, entry: &ShardEntry) -> Result<Vec<u8>> {
        let mut stored = vec![0u8; entry.stored_len as usize];
        self.read_at(&mut stored, entry.offset)?;
        read_record(self.id, entry, stored)
    }

    /// BLAKE3 of the whole file, streamed.
    pub fn hash_file(&self) -> Result<Hash> {
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(&self.file)
            .map_err(|e| StoreError::io(format!("read shard {}", self.id), e))?;
        Ok(hasher.finalize().into())
    }
}

/// Turns a stored record into its bytes and checks them against the entry's hash.
pub fn read_record(shard: Hash, entry: &ShardEntry, stored: Vec<u8>) -> Result<Vec<u8>> {
    let bytes = if entry.compressed {
        zstd::bulk::decompress(&stored, entry.raw_len as usize).map_err(|e| {
            StoreError::CorruptChunk {
                chunk: entry.hash,
                shard,
                why: format!("undecodable: {e}"),
            }
        })?
    } else {
        stored
    };
    if bytes.len() != entry.raw_len as usize || Hash::of(&bytes) != entry.hash {
        return Err(StoreError::CorruptChunk {
            chunk: entry.hash,
            shard,
            why: "its bytes do not hash to its id".into(),
        });
    }
    Ok(bytes)
}
