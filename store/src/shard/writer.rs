//! Appending records to a shard and sealing it durably under its content hash.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::format::{EntryKind, MAGIC, ShardEntry, encode_footer};
use crate::Hash;
use crate::durable;
use crate::error::{Result, StoreError};

/// A shard being written. Records go to a temporary file; [`ShardWriter::seal`] makes it
/// durable and gives it its final name, so a crash leaves only a temporary file behind.
pub struct ShardWriter {
    tmp_path: PathBuf,
    out: BufWriter<File>,
    hasher: blake3::Hasher,
    len: u64,
    entries: Vec<ShardEntry>,
    payload: u64,
}

/// A shard that is durable on disk under its final name.
#[derive(Debug)]
pub struct SealedShard {
    /// BLAKE3 of the shard file.
    pub id: Hash,
    /// Total file size.
    pub size: u64,
    /// Its records.
    pub entries: Vec<ShardEntry>,
}

impl ShardWriter {
    /// Starts a shard in `tmp_dir`.
    pub fn create(tmp_dir: &Path) -> Result<ShardWriter> {
        let tmp_path = durable::temp_path(tmp_dir, "shard");
        let file = File::create(&tmp_path)
            .map_err(|e| StoreError::io(format!("create {}", tmp_path.display()), e))?;
        let mut w = ShardWriter {
            tmp_path,
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: blake3::Hasher::new(),
            len: 0,
            entries: Vec::new(),
            payload: 0,
        };
        w.write(MAGIC)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| StoreError::io("write shard", e))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Appends one record. `stored` is what goes on disk (compressed or not).
    pub fn append(
        &mut self,
        hash: Hash,
        kind: EntryKind,
        raw_len: u32,
        stored: &[u8],
        compressed: bool,
    ) -> Result<()> {
        let entry = ShardEntry {
            hash,
            offset: self.len,
            stored_len: stored.len() as u32,
            raw_len,
            compressed,
            kind,
        };
        self.write(stored)?;
        self.entries.push(entry);
        self.payload += stored.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Record bytes written so far (what `new_bytes` reports).
    pub fn payload(&self) -> u64 {
        self.payload
    }

    /// Writes the table and footer, fsyncs, and renames the file to `dir/<aa>/<hash>.shard`.
    /// Returns `None` (and removes the temporary file) if nothing was appended.
    pub fn seal(mut self, dir: &Path) -> Result<Option<SealedShard>> {
        if self.entries.is_empty() {
            drop(self.out);
            let _ = std::fs::remove_file(&self.tmp_path);
            return Ok(None);
        }
        let table_offset = self.len;
        let mut table = Vec::with_capacity(self.entries.len() * super::format::ENTRY_LEN);
        for e in &self.entries {
            table.extend_from_slice(&e.encode());
        }
        self.write(&table)?;
        let footer = encode_footer(table_offset, self.entries.len() as u32);
        self.write(&footer)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| StoreError::io("flush shard", e.into_error()))?;
        file.sync_all()
            .map_err(|e| StoreError::io("fsync shard", e))?;
        drop(file);
        let id: Hash = self.hasher.finalize().into();
        let final_path = shard_path(dir, &id);
        durable::rename_into(&self.tmp_path, &final_path)?;
        Ok(Some(SealedShard {
            id,
            size: self.len,
            entries: self.entries,
        }))
    }
}

/// Where shard `id` lives under the shard directory `dir`.
pub fn shard_path(dir: &Path, id: &Hash) -> PathBuf {
    let hex = id.to_hex();
    dir.join(&hex[..2]).join(format!("{hex}.shard"))
}
