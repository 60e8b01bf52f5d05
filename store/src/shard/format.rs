//! The byte layout of a shard file.

use crate::Hash;

/// First 8 bytes of every shard.
pub const MAGIC: &[u8; 8] = b"CLNYSHD1";
/// Last 8 bytes of every shard.
pub const END_MAGIC: &[u8; 8] = b"CLNYEND1";
/// Footer: table offset (u64 LE), entry count (u32 LE), padding (u32), END_MAGIC.
pub const FOOTER_LEN: usize = 8 + 4 + 4 + 8;
/// Bytes per table entry.
pub const ENTRY_LEN: usize = 32 + 8 + 4 + 4 + 1;

/// The most bytes a chunk record may hold: the chunker never cuts a longer chunk
/// ([`crate::chunker::MAX_CHUNK`], 256 KiB), and a file of one chunk is at most that long.
pub const MAX_CHUNK_RECORD: u32 = crate::chunker::MAX_CHUNK as u32;

/// The most bytes a manifest record may hold. A manifest is 16 bytes plus 36 per chunk
/// ([`crate::manifest::FileManifest::encode`]) kept in one record, whose length a table
/// entry holds as a `u32`: so at most 119 304 647 chunks, just under 4 GiB, which is
/// the manifest of a file of at least 1.8 TiB (every chunk at the 16 KiB minimum) and
/// about 7.3 TiB at the 64 KiB average. The format allows no larger manifest. Because
/// that bound is large, a record claiming more than [`MAX_CHUNK_RECORD`] bytes is
/// decompressed and hashed as a stream, proving its bytes, before a buffer of its
/// claimed length is ever allocated (see [`super::read_record`]).
pub const MAX_MANIFEST_RECORD: u32 = 16 + 36 * ((u32::MAX - 16) / 36);

/// The most uncompressed bytes a record of `kind` may claim.
pub fn max_raw_len(kind: EntryKind) -> u32 {
    match kind {
        EntryKind::Chunk => MAX_CHUNK_RECORD,
        EntryKind::Manifest => MAX_MANIFEST_RECORD,
    }
}

/// What a record in a shard holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A piece of file content.
    Chunk,
    /// A file manifest: the ordered chunk list of one file.
    Manifest,
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntryKind::Chunk => "chunk",
            EntryKind::Manifest => "manifest",
        })
    }
}

/// One record of a shard: where it is and how to turn it back into its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardEntry {
    /// BLAKE3 of the record's uncompressed bytes.
    pub hash: Hash,
    /// Byte offset of the stored record in the shard file.
    pub offset: u64,
    /// Length of the stored (possibly compressed) record.
    pub stored_len: u32,
    /// Length of the uncompressed bytes.
    pub raw_len: u32,
    /// Whether the stored record is zstd-compressed.
    pub compressed: bool,
    /// Chunk or manifest.
    pub kind: EntryKind,
}

impl ShardEntry {
    /// The fixed-size encoding used in shard tables and in the chunk index.
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[..32].copy_from_slice(&self.hash.0);
        out[32..40].copy_from_slice(&self.offset.to_le_bytes());
        out[40..44].copy_from_slice(&self.stored_len.to_le_bytes());
        out[44..48].copy_from_slice(&self.raw_len.to_le_bytes());
        out[48] = u8::from(self.compressed)
            | if self.kind == EntryKind::Manifest {
                2
            } else {
                0
            };
        out
    }

    /// Decodes [`ShardEntry::encode`]'s output; `None` for unknown flag bits.
    pub fn decode(b: &[u8]) -> Option<ShardEntry> {
        if b.len() != ENTRY_LEN || b[48] & !3 != 0 {
            return None;
        }
        Some(ShardEntry {
            hash: Hash(b[..32].try_into().ok()?),
            offset: u64::from_le_bytes(b[32..40].try_into().ok()?),
            stored_len: u32::from_le_bytes(b[40..44].try_into().ok()?),
            raw_len: u32::from_le_bytes(b[44..48].try_into().ok()?),
            compressed: b[48] & 1 != 0,
            kind: if b[48] & 2 != 0 {
                EntryKind::Manifest
            } else {
                EntryKind::Chunk
            },
        })
    }
}

/// The footer that ends a shard whose table starts at `table_offset`.
pub fn encode_footer(table_offset: u64, count: u32) -> [u8; FOOTER_LEN] {
    let mut f = [0u8; FOOTER_LEN];
    f[..8].copy_from_slice(&table_offset.to_le_bytes());
    f[8..12].copy_from_slice(&count.to_le_bytes());
    f[16..].copy_from_slice(END_MAGIC);
    f
}

/// Parses a footer into (table offset, entry count), checking it against the file length.
pub fn decode_footer(f: &[u8], file_len: u64) -> Result<(u64, u32), String> {
    if f.len() != FOOTER_LEN || &f[16..] != END_MAGIC {
        return Err("footer magic missing (truncated or not a shard)".into());
    }
    let offset = u64::from_le_bytes(f[..8].try_into().unwrap());
    let count = u32::from_le_bytes(f[8..12].try_into().unwrap());
    let expect = offset + count as u64 * ENTRY_LEN as u64 + FOOTER_LEN as u64;
    if offset < MAGIC.len() as u64 || expect != file_len {
        return Err(format!(
            "footer says {count} entries at {offset}, file is {file_len} bytes"
        ));
    }
    Ok((offset, count))
}

/// Parses a table of `count` entries, checking every record lies inside the data area.
pub fn decode_table(table: &[u8], table_offset: u64) -> Result<Vec<ShardEntry>, String> {
    let mut out = Vec::with_capacity(table.len() / ENTRY_LEN);
    for (i, raw) in table.chunks(ENTRY_LEN).enumerate() {
        let e = ShardEntry::decode(raw).ok_or_else(|| format!("table entry {i} is malformed"))?;
        if e.offset < MAGIC.len() as u64 || e.offset + e.stored_len as u64 > table_offset {
            return Err(format!("table entry {i} points outside the data area"));
        }
        out.push(e);
    }
    Ok(out)
}

/// Checks that the records of a table tile its data area: in table order the first
/// starts right after the magic, each starts where the one before it ends, the last ends
/// where the table starts, and no record hash appears twice. [`super::ShardWriter`]
/// writes every shard so; a table that does not was forged or damaged. Holding to it
/// bounds the work of verifying a shard by its size: every stored byte belongs to one
/// record, and no record is decompressed twice.
pub fn check_layout(entries: &[ShardEntry], table_offset: u64) -> Result<(), String> {
    let mut at = MAGIC.len() as u64;
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if e.offset != at {
            return Err(format!(
                "table entry {i} starts at byte {}, not where the record before it ends ({at})",
                e.offset
            ));
        }
        if !seen.insert(e.hash) {
            return Err(format!("table entry {i} repeats record {}", e.hash));
        }
        at += e.stored_len as u64;
    }
    if at != table_offset {
        return Err(format!(
            "the records end at byte {at} but the table starts at {table_offset}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip() {
        let e = ShardEntry {
            hash: Hash::of(b"x"),
            offset: 8,
            stored_len: 10,
            raw_len: 20,
            compressed: true,
            kind: EntryKind::Manifest,
        };
        assert_eq!(ShardEntry::decode(&e.encode()), Some(e));
        let mut bad = e.encode();
        bad[48] = 0x80;
        assert_eq!(ShardEntry::decode(&bad), None);
    }
}
