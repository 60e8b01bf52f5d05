//! Content-defined chunking with a FastCDC-style gear hash.
//!
//! Cut points depend only on the bytes near them, so an edit moves at most the chunk
//! boundaries around it and every other chunk keeps its identity. Chunks are between
//! [`MIN_CHUNK`] and [`MAX_CHUNK`] bytes and about [`AVG_CHUNK`] on average; normalised
//! chunking (a stricter mask before the average size, a looser one after) narrows the spread.

use std::io::{self, Read};
use std::ops::Range;

/// Smallest chunk the chunker cuts, except the last chunk of a file.
pub const MIN_CHUNK: usize = 16 * 1024;
/// Target average chunk size.
pub const AVG_CHUNK: usize = 64 * 1024;
/// Largest chunk: a cut is forced here when no content-defined cut was found.
pub const MAX_CHUNK: usize = 256 * 1024;

/// Before the average size a cut needs 18 zero bits (rarer cuts) ...
const MASK_STRICT: u64 = !0u64 << (64 - 18);
/// ... after it, 14 (more likely cuts). The top bits of the gear hash depend on the last
/// ~64 bytes, which is the effective window.
const MASK_LOOSE: u64 = !0u64 << (64 - 14);

/// 256 pseudo-random 64-bit values, fixed forever: changing them changes every chunk id.
static GEAR: [u64; 256] = gear_table();

const fn gear_table() -> [u64; 256] {
    // splitmix64 from a fixed seed.
    let mut table = [0u64; 256];
    let mut state: u64 = 0x636f_6c6f_6e79_0001; // "colony" + version
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
}

/// The length of the first chunk of `data`, given that `data` holds at least
/// [`MAX_CHUNK`] bytes or runs to the end of the file.
pub fn cut_point(data: &[u8]) -> usize {
    let len = data.len();
    if len <= MIN_CHUNK {
        return len;
    }
    let end = len.min(MAX_CHUNK);
    let normal = AVG_CHUNK.min(end);
    // Iterating over subslices lets the compiler drop every bounds check in the hot loop.
    let mut h: u64 = 0;
    for (j, &b) in data[MIN_CHUNK..normal].iter().enumerate() {
        h = (h << 1).wrapping_add(GEAR[b as usize]);
        if h & MASK_STRICT == 0 {
            return MIN_CHUNK + j + 1;
        }
    }
    for (j, &b) in data[normal..end].iter().enumerate() {
        h = (h << 1).wrapping_add(GEAR[b as usize]);
        if h & MASK_LOOSE == 0 {
            return normal + j + 1;
        }
    }
    end
}

/// Splits a byte stream into chunks, a buffer-full at a time.
///
/// Memory use is one buffer of at most `buffer_size` bytes, whatever the stream length.
pub struct Chunker<R> {
    source: R,
    buf: Vec<u8>,
    /// Bytes of `buf` holding data not yet handed out.
    filled: usize,
    eof: bool,
}

/// One buffer-full of chunks: `data` and the ranges of it that are chunks, in order.
pub struct ChunkBatch<'a> {
    /// The bytes the chunks are cut from.
    pub data: &'a [u8],
    /// Consecutive, non-empty chunk ranges covering a prefix of `data`.
    pub chunks: Vec<Range<usize>>,
}

impl<R: Read> Chunker<R> {
    /// A chunker over `source` whose buffer holds `buffer_size` bytes (at least 2 × MAX_CHUNK).
    pub fn new(source: R, buffer_size: usize) -> Self {
        let size = buffer_size.max(2 * MAX_CHUNK);
        Chunker {
            source,
            buf: vec![0; size],
            filled: 0,
            eof: false,
        }
    }

    /// A chunker whose buffer fits a stream of `len` bytes (at most `max_buffer`), reusing
    /// `buf`'s allocation so that many files in a row do not pay for a fresh buffer each.
    pub fn for_len(source: R, len: u64, max_buffer: usize, mut buf: Vec<u8>) -> Self {
        let want = (len as usize)
            .saturating_add(1)
            .min(max_buffer)
            .max(2 * MAX_CHUNK);
        buf.resize(want, 0);
        Chunker {
            source,
            buf,
            filled: 0,
            eof: false,
        }
    }

    /// Gives the buffer back for reuse.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    fn fill(&mut self) -> io::Result<()> {
        while !self.eof && self.filled < self.buf.len() {
            match self.source.read(&mut self.buf[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next batch of chunks, or `None` at the end of the stream.
    ///
    /// The batch borrows the chunker's buffer; call again to advance.
    pub fn next_batch(&mut self, consumed_previous: usize) -> io::Result<Option<ChunkBatch<'_>>> {
        // Move the unconsumed tail of the last batch to the front, then refill.
        if consumed_previous > 0 {
            self.buf.copy_within(consumed_previous..self.filled, 0);
            self.filled -= consumed_previous;
        }
        self.fill()?;
        if self.filled == 0 {
            return Ok(None);
        }
        let mut chunks = Vec::new();
        let mut start = 0;
        loop {
            let rest = &self.buf[start..self.filled];
            if rest.is_empty() || (!self.eof && rest.len() < MAX_CHUNK) {
                break;
            }
            let n = cut_point(rest);
            chunks.push(start..start + n);
            start += n;
        }
        Ok(Some(ChunkBatch {
            data: &self.buf[..self.filled],
            chunks,
        }))
    }
}

/// Every chunk range of `data` taken as a whole stream.
pub fn chunk_all(data: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let n = cut_point(&data[start..]);
        out.push(start..start + n);
        start += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    fn stream_chunks(data: &[u8], buffer: usize) -> Vec<Vec<u8>> {
        let mut c = Chunker::new(data, buffer);
        let mut out = Vec::new();
        let mut consumed = 0;
        while let Some(batch) = c.next_batch(consumed).unwrap() {
            consumed = batch.chunks.last().map_or(0, |r| r.end);
            for r in &batch.chunks {
                out.push(batch.data[r.clone()].to_vec());
            }
        }
        out
    }

    #[test]
    fn streaming_matches_whole_buffer_and_sizes_are_bounded() {
        let data = pseudo_random(5_000_000, 7);
        let whole: Vec<Vec<u8>> = chunk_all(&data)
            .into_iter()
            .map(|r| data[r].to_vec())
            .collect();
        let streamed = stream_chunks(&data, 2 * MAX_CHUNK + 12345);
        assert_eq!(whole, streamed);
        assert_eq!(streamed.concat(), data);
        for c in &streamed[..streamed.len() - 1] {
            assert!(c.len() >= MIN_CHUNK && c.len() <= MAX_CHUNK);
        }
        let avg = data.len() / streamed.len();
        assert!(
            (AVG_CHUNK / 2..AVG_CHUNK * 2).contains(&avg),
            "average {avg}"
        );
    }

    #[test]
    fn an_edit_changes_only_nearby_chunks() {
        let data = pseudo_random(4_000_000, 9);
        let mut edited = data.clone();
        edited[2_000_000] ^= 0xff;
        edited.splice(1_000_000..1_000_000, b"inserted".iter().copied());
        let a: std::collections::HashSet<_> = chunk_all(&data)
            .into_iter()
            .map(|r| Hash::of(&data[r]))
            .collect();
        let b: Vec<_> = chunk_all(&edited)
            .into_iter()
            .map(|r| Hash::of(&edited[r]))
            .collect();
        let new = b.iter().filter(|h| !a.contains(h)).count();
        assert!(new <= 6, "{new} new chunks out of {}", b.len());
    }

    use crate::Hash;

    #[test]
    fn empty_and_tiny_streams() {
        assert!(stream_chunks(b"", 1 << 20).is_empty());
        assert_eq!(stream_chunks(b"abc", 1 << 20), vec![b"abc".to_vec()]);
    }
}
