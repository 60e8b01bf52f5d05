//! Ingest: file bytes → chunks → (deduplicated, compressed) records in shards.
//!
//! Memory per file in flight is one chunker buffer plus the compressed records of one
//! batch, so it is bounded whatever the file size. Files are ingested in parallel and,
//! within a large file, each batch's chunks are hashed and compressed in parallel.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use crate::Hash;
use crate::chunker::{Chunker, MAX_CHUNK};
use crate::chunks::{RecordSink, prepare};
use crate::error::{Result, StoreError};
use crate::manifest::FileManifest;
use crate::shard::EntryKind;

/// Bytes read per batch of a large file.
const BATCH_BYTES: usize = 8 << 20;

/// What ingesting one file produced.
#[derive(Clone, Copy, Debug)]
pub struct Ingested {
    /// Bytes read.
    pub size: u64,
    /// BLAKE3 of the whole content.
    pub hash: Hash,
    /// Manifest, for files of more than one chunk.
    pub manifest: Option<Hash>,
}

/// Reads a file once and stores its chunks (and manifest) through `sink`.
/// `on_bytes` is called as bytes are consumed, for progress.
pub fn ingest_file(
    path: &Path,
    sink: &RecordSink<'_>,
    level: i32,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<Ingested> {
    let mut file =
        File::open(path).map_err(|e| StoreError::io(format!("open {}", path.display()), e))?;
    let len = file
        .metadata()
        .map_err(|e| StoreError::io("stat", e))?
        .len();
    if len <= MAX_CHUNK as u64 {
        let mut data = Vec::with_capacity(len as usize);
        file.read_to_end(&mut data)
            .map_err(|e| StoreError::io(format!("read {}", path.display()), e))?;
        if data.len() > MAX_CHUNK {
            // It grew while we looked; fall through to the streaming path on a fresh handle.
            return ingest_stream(&data[..], data.len() as u64, sink, level, on_bytes);
        }
        on_bytes(data.len() as u64);
        return ingest_small(&data, sink, level);
    }
    ingest_stream(file, len, sink, level, on_bytes)
}

/// Stores bytes already in memory.
pub fn ingest_bytes(data: &[u8], sink: &RecordSink<'_>, level: i32) -> Result<Ingested> {
    if data.len() <= MAX_CHUNK {
        ingest_small(data, sink, level)
    } else {
        ingest_stream(data, data.len() as u64, sink, level, &|_| {})
    }
}

fn ingest_small(data: &[u8], sink: &RecordSink<'_>, level: i32) -> Result<Ingested> {
    let hash = Hash::of(data);
    if !data.is_empty() && !sink.has(&hash)? {
        sink.put(vec![prepare(hash, EntryKind::Chunk, data, level)])?;
    }
    Ok(Ingested {
        size: data.len() as u64,
        hash,
        manifest: None,
    })
}

fn ingest_stream(
    source: impl Read,
    len_hint: u64,
    sink: &RecordSink<'_>,
    level: i32,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<Ingested> {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let buf = BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut chunker = Chunker::for_len(source, len_hint, BATCH_BYTES, buf);
    let result = chunk_and_store(&mut chunker, sink, level, on_bytes);
    BUFFER.with(|b| *b.borrow_mut() = chunker.into_buffer());
    result
}

fn chunk_and_store<R: Read>(
    chunker: &mut Chunker<R>,
    sink: &RecordSink<'_>,
    level: i32,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<Ingested> {
    let mut file_hash = blake3::Hasher::new();
    let mut manifest = FileManifest::default();
    let mut consumed = 0;
    while let Some(batch) = chunker
        .next_batch(consumed)
        .map_err(|e| StoreError::io("read", e))?
    {
        let data = batch.data;
        let ranges = batch.chunks;
        consumed = ranges.last().map_or(0, |r| r.end);
        // The whole-file hash and the chunk hashes run side by side.
        let (hashes, ()): (Vec<Hash>, ()) = rayon::join(
            || {
                ranges
                    .par_iter()
                    .map(|r| Hash::of(&data[r.clone()]))
                    .collect()
            },
            || {
                file_hash.update_rayon(&data[..consumed]);
            },
        );
        let needed = sink.needed(&hashes)?;
        let records: Vec<_> = ranges
            .par_iter()
            .zip(&hashes)
            .zip(&needed)
            .filter(|(_, need)| **need)
            .map(|((r, h), _)| prepare(*h, EntryKind::Chunk, &data[r.clone()], level))
            .collect();
        sink.put(records)?;
        for (r, h) in ranges.iter().zip(hashes) {
            manifest.chunks.push((h, r.len() as u32));
        }
        on_bytes(consumed as u64);
    }
    let hash: Hash = file_hash.finalize().into();
    let size = manifest.size();
    if manifest.chunks.len() <= 1 {
        return Ok(Ingested {
            size,
            hash,
            manifest: None,
        });
    }
    let encoded = manifest.encode();
    let mhash = Hash::of(&encoded);
    if !sink.has(&mhash)? {
        sink.put(vec![prepare(mhash, EntryKind::Manifest, &encoded, level)])?;
    }
    Ok(Ingested {
        size,
        hash,
        manifest: Some(mhash),
    })
}
