//! Reading records back from shard files, always verified.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{
    ENTRY_LEN, FOOTER_LEN, MAGIC, MAX_CHUNK_RECORD, ShardEntry, decode_footer, decode_table,
    max_raw_len,
};
use crate::Hash;
use crate::error::{Result, StoreError};

/// A compressed record that claims more than this many bytes is decompressed and hashed
/// as a stream first, and only a record whose bytes prove to be what its table says
/// gets a buffer of its claimed length. Chunks never claim more; large manifests do.
const PROVE_FIRST_ABOVE: u32 = MAX_CHUNK_RECORD;

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
        Ok(self.layout()?.0)
    }

    /// The chunk table and the offset where it starts (where the records end), checked
    /// against the file's length but not against the records.
    pub fn layout(&self) -> Result<(Vec<ShardEntry>, u64)> {
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
        let mut table = vec![0u8; count as usize * ENTRY_LEN];
        self.read_at(&mut table, offset)?;
        Ok((decode_table(&table, offset).map_err(corrupt)?, offset))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| StoreError::io(format!("read shard {}", self.id), e))
    }

    /// The stored (possibly compressed) bytes of record `entry`, unverified, after
    /// checking that what its entry claims is possible at all ([`check_claims`]).
    pub fn read_stored(&self, entry: &ShardEntry) -> Result<Vec<u8>> {
        check_claims(self.id, entry)?;
        let mut stored = vec![0u8; entry.stored_len as usize];
        self.read_at(&mut stored, entry.offset)?;
        Ok(stored)
    }

    /// Reads the record `entry` and returns its bytes, verified against `entry.hash`.
    pub fn read(&self, entry: &ShardEntry) -> Result<Vec<u8>> {
        let stored = self.read_stored(entry)?;
        read_record(self.id, entry, stored)
    }

    /// Checks that record `entry` decompresses to bytes that hash to `entry.hash`, as
    /// [`ShardFile::read`] would, without keeping them.
    pub fn verify(&self, entry: &ShardEntry) -> Result<()> {
        let stored = self.read_stored(entry)?;
        verify_record(self.id, entry, &stored)
    }

    /// BLAKE3 of the whole file, streamed. Reads by offset, never through the file's
    /// cursor: an open shard is shared (and cached), so a second call must not start
    /// where the first one ended.
    pub fn hash_file(&self) -> Result<Hash> {
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        loop {
            let n = self
                .file
                .read_at(&mut buf, at)
                .map_err(|e| StoreError::io(format!("read shard {}", self.id), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        Ok(hasher.finalize().into())
    }
}

/// Checks what a table entry claims against what the format allows, before anything is
/// allocated for it: no record longer than the largest of its kind
/// ([`super::format::max_raw_len`]), a raw record stored at its own length, a compressed
/// one in no more bytes than zstd ever writes for that length.
pub fn check_claims(shard: Hash, entry: &ShardEntry) -> Result<()> {
    let limit = max_raw_len(entry.kind);
    if entry.raw_len > limit {
        return Err(StoreError::RecordTooLarge {
            shard,
            record: entry.hash,
            kind: entry.kind,
            claimed: entry.raw_len as u64,
            limit: limit as u64,
        });
    }
    let corrupt = |why: String| StoreError::CorruptChunk {
        chunk: entry.hash,
        shard,
        why,
    };
    if !entry.compressed && entry.stored_len != entry.raw_len {
        return Err(corrupt(format!(
            "stored uncompressed in {} bytes, but its table says it holds {}",
            entry.stored_len, entry.raw_len
        )));
    }
    if entry.compressed
        && entry.stored_len as usize > zstd::zstd_safe::compress_bound(entry.raw_len as usize)
    {
        return Err(corrupt(format!(
            "{} compressed bytes for {} raw ones, more than zstd ever writes",
            entry.stored_len, entry.raw_len
        )));
    }
    Ok(())
}

/// Turns a stored record into its bytes and checks them against the entry's hash. A
/// claimed length the format does not allow is refused before anything is allocated; a
/// compressed record longer than any chunk is proven by streaming it through BLAKE3
/// before it is decompressed into memory, so a record that only claims to be large (a
/// decompression bomb) never gets a buffer of that size.
pub fn read_record(shard: Hash, entry: &ShardEntry, stored: Vec<u8>) -> Result<Vec<u8>> {
    check_claims(shard, entry)?;
    let bytes = if entry.compressed {
        if entry.raw_len > PROVE_FIRST_ABOVE {
            prove_streamed(shard, entry, &stored)?;
        }
        zstd::bulk::decompress(&stored, entry.raw_len as usize)
            .map_err(|e| undecodable(shard, entry, e))?
    } else {
        stored
    };
    if bytes.len() != entry.raw_len as usize || Hash::of(&bytes) != entry.hash {
        return Err(mismatch(shard, entry));
    }
    Ok(bytes)
}

/// Checks a stored record as [`read_record`] does, without keeping its bytes: what a
/// received shard and `fsck` run on every record.
pub fn verify_record(shard: Hash, entry: &ShardEntry, stored: &[u8]) -> Result<()> {
    check_claims(shard, entry)?;
    if !entry.compressed {
        return if Hash::of(stored) == entry.hash {
            Ok(())
        } else {
            Err(mismatch(shard, entry))
        };
    }
    if entry.raw_len > PROVE_FIRST_ABOVE {
        return prove_streamed(shard, entry, stored);
    }
    let bytes = zstd::bulk::decompress(stored, entry.raw_len as usize)
        .map_err(|e| undecodable(shard, entry, e))?;
    if bytes.len() != entry.raw_len as usize || Hash::of(&bytes) != entry.hash {
        return Err(mismatch(shard, entry));
    }
    Ok(())
}

/// Decompresses a record into BLAKE3 in small pieces, stopping one byte past its claimed
/// length: the memory used does not depend on what the record claims or holds.
fn prove_streamed(shard: Hash, entry: &ShardEntry, stored: &[u8]) -> Result<()> {
    let decoder = zstd::stream::read::Decoder::with_buffer(stored)
        .map_err(|e| undecodable(shard, entry, e))?;
    let mut hasher = blake3::Hasher::new();
    let n = std::io::copy(&mut decoder.take(entry.raw_len as u64 + 1), &mut hasher)
        .map_err(|e| undecodable(shard, entry, e))?;
    if n != entry.raw_len as u64 || Hash::from(hasher.finalize()) != entry.hash {
        return Err(mismatch(shard, entry));
    }
    Ok(())
}

fn undecodable(shard: Hash, entry: &ShardEntry, e: std::io::Error) -> StoreError {
    StoreError::CorruptChunk {
        chunk: entry.hash,
        shard,
        why: format!("undecodable: {e}"),
    }
}

fn mismatch(shard: Hash, entry: &ShardEntry) -> StoreError {
    StoreError::CorruptChunk {
        chunk: entry.hash,
        shard,
        why: "its bytes do not hash to its id".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::{EntryKind, MAX_MANIFEST_RECORD};

    const GIB: u32 = 1 << 30;

    /// A zstd frame of `len` zero bytes, made a MiB at a time (a few KB of output).
    fn zeros_frame(len: u64) -> Vec<u8> {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        let mib = vec![0u8; 1 << 20];
        for _ in 0..len >> 20 {
            std::io::Write::write_all(&mut enc, &mib).unwrap();
        }
        enc.finish().unwrap()
    }

    fn entry(kind: EntryKind, raw_len: u32, stored: &[u8]) -> ShardEntry {
        ShardEntry {
            hash: Hash::of(b"what an honest pointer names"),
            offset: MAGIC.len() as u64,
            stored_len: stored.len() as u32,
            raw_len,
            compressed: true,
            kind,
        }
    }

    /// Peak resident memory of this process so far, in bytes.
    fn peak_rss() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    /// The decompression bomb of issue 21: a record of a few KB whose table claims
    /// 1 GiB. As a chunk it is refused by its claim alone, naming the shard, before any
    /// buffer is made (it used to get a 1 GiB one).
    #[test]
    fn a_chunk_claiming_a_gibibyte_is_refused_before_allocating() {
        let shard = Hash::of(b"a forged shard");
        let bomb = zeros_frame(8 << 20);
        let e = entry(EntryKind::Chunk, GIB, &bomb);
        let err = read_record(shard, &e, bomb.clone()).unwrap_err();
        match &err {
            StoreError::RecordTooLarge {
                shard: s,
                claimed,
                limit,
                ..
            } => {
                assert_eq!(*s, shard);
                assert_eq!(*claimed, GIB as u64);
                assert_eq!(*limit, MAX_CHUNK_RECORD as u64);
            }
            other => panic!("expected RecordTooLarge, got {other}"),
        }
        assert!(err.to_string().contains(&shard.to_hex()), "{err}");
        assert!(matches!(
            verify_record(shard, &e, &bomb),
            Err(StoreError::RecordTooLarge { .. })
        ));
    }

    /// A manifest may legitimately be large, so the same bomb labelled a manifest is
    /// within the format's bound: it is decompressed as a stream into BLAKE3 and refused
    /// for its hash, and no buffer of its claimed size is ever made (the old reader made
    /// one and filled it: +1 GiB resident).
    #[test]
    fn a_manifest_bomb_is_refused_without_a_buffer_of_its_claimed_size() {
        let shard = Hash::of(b"another forged shard");
        let bomb = zeros_frame(GIB as u64);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let e = entry(EntryKind::Manifest, GIB, &bomb);
        let before = peak_rss();
        let err = read_record(shard, &e, bomb.clone()).unwrap_err();
        assert!(
            matches!(&err, StoreError::CorruptChunk { shard: s, .. } if *s == shard),
            "{err}"
        );
        assert!(verify_record(shard, &e, &bomb).is_err());
        let grew = peak_rss().saturating_sub(before);
        assert!(grew < 256 << 20, "peak memory grew by {grew} bytes");
    }

    /// Claims that cannot hold are refused before anything is read.
    #[test]
    fn impossible_lengths_are_refused() {
        let shard = Hash::of(b"s");
        let mut e = entry(EntryKind::Chunk, 100, &[0u8; 10]);
        e.compressed = false;
        assert!(
            check_claims(shard, &e).is_err(),
            "raw record of the wrong length"
        );
        let mut e = entry(EntryKind::Chunk, 100, &[0u8; 10]);
        e.stored_len = 100_000;
        assert!(check_claims(shard, &e).is_err(), "more than zstd writes");
        let e = entry(EntryKind::Manifest, MAX_MANIFEST_RECORD, &[0u8; 10]);
        assert!(check_claims(shard, &e).is_ok());
    }
}
