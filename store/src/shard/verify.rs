//! Verifying a shard record by record before anything of it is trusted.
//!
//! A shard's name is the BLAKE3 of its file, so a good name proves only that the file is
//! the one its sender meant to send: anyone can make a validly named shard whose table
//! lists the hashes of honest records over other bytes. Every shard that arrives (from a
//! folder, an object store or a peer) therefore goes through [`verify_shard_file`]
//! before it is indexed: each record is decompressed and hashed against the id its table
//! gives, exactly as a read would check it.

use std::path::Path;

use rayon::prelude::*;

use super::format::{ShardEntry, check_layout};
use super::reader::{ShardFile, check_claims};
use super::writer::SealedShard;
use crate::Hash;
use crate::error::{Result, StoreError};

/// Checks a shard that arrived from remote `remote` into the file `tmp`
/// ([`verify_shard_file`]) and syncs it, ready to be renamed into the store and indexed.
/// A shard that fails is deleted and refused with [`StoreError::ShardRefused`] naming
/// it and the remote: the one gate every transfer (fetch, clone, read-through, a push a
/// peer takes) passes a shard through.
pub fn accept_transfer(
    remote: &str,
    id: Hash,
    tmp: &Path,
    whole_proven: bool,
) -> Result<SealedShard> {
    let sealed = match verify_shard_file(id, tmp, whole_proven) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            return Err(StoreError::ShardRefused {
                remote: remote.to_string(),
                shard: id,
                source: Box::new(e),
            });
        }
    };
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_data())
        .map_err(|e| StoreError::io(format!("sync {}", tmp.display()), e))?;
    Ok(sealed)
}

/// Checks that the file at `path` is shard `id` (its BLAKE3 is its name, unless
/// `whole_proven`: every byte was already checked against that hash as it arrived) and
/// that every record in it holds what its table says ([`verify_records`]). Returns it
/// ready to index. The error names the shard.
pub fn verify_shard_file(id: Hash, path: &Path, whole_proven: bool) -> Result<SealedShard> {
    let file = ShardFile::open(id, path)?;
    if !whole_proven {
        let actual = file.hash_file()?;
        if actual != id {
            return Err(StoreError::CorruptShard {
                shard: id,
                why: format!("its bytes have BLAKE3 {actual}, not the one its name says"),
            });
        }
    }
    let entries = verify_records(&file)?;
    let size = std::fs::metadata(path)
        .map_err(|e| StoreError::io(format!("stat shard {id}"), e))?
        .len();
    Ok(SealedShard { id, size, entries })
}

/// Checks every record of `file` and returns its table: the records tile the data area
/// with no hash twice ([`check_layout`]), no entry claims more than the format allows
/// (all checked before any record is decompressed), and each record decompresses to
/// bytes whose BLAKE3 is the hash its entry gives. Stops at the first failure, so a
/// forged shard costs at most the bytes it holds plus one record's decompression.
pub fn verify_records(file: &ShardFile) -> Result<Vec<ShardEntry>> {
    let (entries, table_offset) = file.layout()?;
    check_layout(&entries, table_offset).map_err(|why| StoreError::CorruptShard {
        shard: file.id,
        why,
    })?;
    for e in &entries {
        check_claims(file.id, e)?;
    }
    entries.par_iter().try_for_each(|e| file.verify(e))?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::prepare;
    use crate::shard::{EntryKind, MAGIC, encode_footer, writer_path};

    fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 13) as u8)
            .collect()
    }

    /// Seals `records` (hash, kind, raw_len, stored, compressed) into a shard in `dir`.
    fn seal(dir: &Path, records: &[(Hash, EntryKind, u32, Vec<u8>, bool)]) -> SealedShard {
        let mut w = crate::shard::ShardWriter::create(&dir.join("tmp")).unwrap();
        for (h, k, raw, stored, c) in records {
            w.append(*h, *k, *raw, stored, *c).unwrap();
        }
        w.seal(dir).unwrap().unwrap()
    }

    /// A validly named shard whose table lists an honest chunk's hash over other bytes:
    /// its name checks, its table is in bounds, and it is refused for the record, by an
    /// error naming the shard and the record.
    #[test]
    fn a_forged_record_under_a_valid_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let honest = pseudo_random(100_000, 1);
        let h = Hash::of(&honest);
        let good = prepare(h, EntryKind::Chunk, &honest, 3);
        let s = seal(
            dir.path(),
            &[(
                h,
                EntryKind::Chunk,
                good.raw_len,
                good.stored.clone(),
                good.compressed,
            )],
        );
        let path = writer_path(dir.path(), &s.id);
        assert_eq!(
            verify_shard_file(s.id, &path, false).unwrap().entries,
            s.entries
        );

        let garbage = pseudo_random(100_000, 2);
        let forged = seal(
            dir.path(),
            &[(h, EntryKind::Chunk, 100_000, garbage, false)],
        );
        let fpath = writer_path(dir.path(), &forged.id);
        let file = ShardFile::open(forged.id, &fpath).unwrap();
        assert_eq!(file.hash_file().unwrap(), forged.id, "the name checks");
        assert!(file.table().is_ok(), "the table is in bounds");
        let err = verify_shard_file(forged.id, &fpath, false).unwrap_err();
        assert!(
            matches!(&err, StoreError::CorruptChunk { chunk, shard, .. } if *chunk == h && *shard == forged.id),
            "{err}"
        );
        assert!(err.to_string().contains(&forged.id.to_hex()), "{err}");
        // And proven transfers (bao-verified) are checked record by record all the same.
        assert!(verify_shard_file(forged.id, &fpath, true).is_err());
        // A file that is not its name fails before its records are looked at.
        let other = Hash::of(b"not this one");
        let err = verify_shard_file(other, &path, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("BLAKE3"), "{err}");
    }

    /// Two entries with one hash, or records that overlap, would let a small shard make
    /// its verifier decompress the same bytes again and again: refused by the layout.
    #[test]
    fn repeated_or_overlapping_records_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let a = pseudo_random(1000, 3);
        let h = Hash::of(&a);
        let twice = seal(
            dir.path(),
            &[
                (h, EntryKind::Chunk, 1000, a.clone(), false),
                (h, EntryKind::Chunk, 1000, a.clone(), false),
            ],
        );
        let err = verify_shard_file(twice.id, &writer_path(dir.path(), &twice.id), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("repeats record"), "{err}");

        // By hand: two entries over the same stored bytes.
        let b = pseudo_random(1000, 4);
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&a);
        let table_offset = file.len() as u64;
        for hash in [h, Hash::of(&b)] {
            let e = ShardEntry {
                hash,
                offset: MAGIC.len() as u64,
                stored_len: 1000,
                raw_len: 1000,
                compressed: false,
                kind: EntryKind::Chunk,
            };
            file.extend_from_slice(&e.encode());
        }
        file.extend_from_slice(&encode_footer(table_offset, 2));
        let id = Hash::of(&file);
        let p = dir.path().join("overlap.shard");
        std::fs::write(&p, &file).unwrap();
        let err = verify_shard_file(id, &p, false).unwrap_err().to_string();
        assert!(err.contains("not where the record before it ends"), "{err}");
    }

    /// A bomb among honest records: refused by its claim before any record is
    /// decompressed.
    #[test]
    fn a_bomb_entry_is_refused_by_its_claim() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut enc, &vec![0u8; 4 << 20]).unwrap();
        let bomb = enc.finish().unwrap();
        let s = seal(
            dir.path(),
            &[(Hash::of(b"x"), EntryKind::Chunk, 1 << 30, bomb, true)],
        );
        let err = verify_shard_file(s.id, &writer_path(dir.path(), &s.id), false).unwrap_err();
        assert!(
            matches!(&err, StoreError::RecordTooLarge { shard, .. } if *shard == s.id),
            "{err}"
        );
    }
}
