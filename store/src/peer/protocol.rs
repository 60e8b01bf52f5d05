//! The wire protocol between colony peers (ALPN `colony/1`).
//!
//! Every request is one QUIC bidirectional stream. The asking side writes one
//! [`Request`] frame and reads the answer; the answering side writes a [`Response`]
//! frame, followed for some requests by a body:
//!
//! - [`Request::Objects`]: a sequence of object frames, each `kind: u8`, `id: [u8; 20]`,
//!   `len: u32 LE`, then `len` bytes, in the order the receiver must write them
//!   (referred-to first); a frame of kind 0 ends it.
//! - [`Request::Shard`]: after [`Response::Shard`] (which carries the shard's size), the
//!   bao encoding (BLAKE3 verified streaming, 16 KiB chunk groups) of the requested
//!   chunk range of the shard file.
//!
//! A frame is a `u32` little-endian length and that many bytes of JSON. Frames are
//! small (at most [`MAX_FRAME`]); the bulk bytes are never framed as JSON. Every frame
//! read from the network goes through [`read_frame`] or [`read_frame_async`], which
//! refuse a length over the cap before allocating anything; object frames go through
//! [`read_object`], capped at [`MAX_OBJECT`].
//!
//! The streams are driven from plain threads through [`SyncRecv`] and [`SyncSend`],
//! which block on the tokio runtime: the store is synchronous, and so are the bao
//! encoder and decoder used here.

use std::io::{Read, Write};
use std::time::Duration;

use iroh::endpoint::{RecvStream, SendStream};
use tokio::runtime::Handle;

use crate::Hash;

/// The ALPN every colony peer speaks.
pub const ALPN: &[u8] = b"colony/1";

/// Largest JSON frame accepted (16 MiB: ref lists and shard lists of big stores).
pub const MAX_FRAME: usize = 16 << 20;

/// Largest history object accepted in an object frame (1 GiB: a git tree of a folder
/// with some fifteen million files). Bytes are kept only as they arrive, so a peer
/// that announces a large object without sending it costs nothing.
pub const MAX_OBJECT: usize = 1 << 30;

/// Longest glob accepted in a [`Request::SnapshotShards`] (a request carries at most
/// one). Matching costs time linear in a path's length times the glob's length over 64
/// (see [`crate::ops::sparse::Glob`]); the cap keeps that factor small.
pub const MAX_GLOB_LEN: usize = 1024;

/// The chunk group size of the bao trees: 2^4 BLAKE3 chunks = 16 KiB.
pub const BLOCK_SIZE: bao_tree::BlockSize = bao_tree::BlockSize::from_chunk_log(4);

/// Bytes in one chunk group.
pub const GROUP_BYTES: u64 = 16 * 1024;

/// How run records are named in the answer to [`Request::Refs`]: `runs/NAME`.
pub const RUNS: &str = "runs/";

/// What one peer asks another.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Request {
    /// The branches (`refs/heads/`), pins as `pins/NAME` and run records as
    /// `runs/NAME`.
    Refs,
    /// Every shard held, with its size.
    Shards,
    /// The shards (with sizes) that a commit's snapshot needs, optionally only for
    /// the paths matching a glob.
    SnapshotShards {
        /// The commit (hex).
        commit: String,
        /// Only files matching this glob (`*` within a component, `**` across).
        paths: Option<String>,
    },
    /// History objects reachable from `tips` and not from `haves`.
    Objects {
        /// Commits wanted (hex).
        tips: Vec<String>,
        /// Commits the asker already holds (hex).
        haves: Vec<String>,
    },
    /// A shard's bytes from byte `from` (a multiple of [`GROUP_BYTES`]) to its end.
    Shard {
        /// The shard.
        id: Hash,
        /// Where to start.
        from: u64,
    },
    /// Take `commit` (fetching what is missing from the asker over this connection),
    /// then move `branch` to it and/or pin it as `pin`. Only for allowed peers.
    Receive {
        /// The commit (hex).
        commit: String,
        /// The branch to move, if any.
        branch: Option<String>,
        /// Move the branch even when it is not a fast-forward.
        force: bool,
        /// The pin to create (`refs/pins/NAME`), if any.
        pin: Option<String>,
        /// The run record to add (`refs/runs/NAME`, where absent), if any.
        #[serde(default)]
        run: Option<String>,
    },
    /// Drop the pins on a revision (pin name or commit). Only for allowed peers.
    Unpin {
        /// A pin name or commit (hex).
        rev: String,
    },
}

/// The answer's header.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Response {
    /// The request failed on the answering side.
    Error(String),
    /// Branches as (name, commit hex).
    Refs(Vec<(String, String)>),
    /// Shards as (id, size).
    Shards(Vec<(Hash, u64)>),
    /// Objects follow as object frames.
    Objects,
    /// The shard's size; the bao encoding follows.
    Shard {
        /// Size of the whole shard file in bytes.
        size: u64,
    },
    /// A `Receive` completed.
    Received {
        /// Where the branch pointed before (hex), if it existed.
        old: Option<String>,
        /// History objects taken.
        objects: u64,
        /// Shards taken.
        shards: usize,
        /// Bytes of those shards.
        bytes: u64,
        /// Whether there was nothing to do.
        up_to_date: bool,
        /// Run records added (0 or 1).
        #[serde(default)]
        runs_new: usize,
    },
    /// Pins removed.
    Unpinned(Vec<String>),
}

/// A blocking reader over a QUIC receive stream.
pub struct SyncRecv<'a> {
    /// The runtime the stream lives on.
    pub rt: &'a Handle,
    /// The stream.
    pub stream: &'a mut RecvStream,
}

impl Read for SyncRecv<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.rt.block_on(self.stream.read(buf)) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Ok(0),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// A blocking writer over a QUIC send stream.
pub struct SyncSend<'a> {
    /// The runtime the stream lives on.
    pub rt: &'a Handle,
    /// The stream.
    pub stream: &'a mut SendStream,
}

impl Write for SyncSend<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.rt
            .block_on(self.stream.write_all(buf))
            .map_err(std::io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A blocking writer over a QUIC send stream that gives up when the other side takes
/// no byte for `stall`: a serving node's answers, so that a peer that asks and then
/// never reads holds a thread for at most that long.
pub struct TimedSend<'a> {
    /// The runtime the stream lives on.
    pub rt: &'a Handle,
    /// The stream.
    pub stream: &'a mut SendStream,
    /// How long one write may wait for the peer to make room.
    pub stall: Duration,
}

impl Write for TimedSend<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self
            .rt
            .block_on(tokio::time::timeout(self.stall, self.stream.write(buf)))
        {
            Ok(r) => r.map_err(std::io::Error::other),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the peer took no bytes for {:?}", self.stall),
            )),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One JSON frame as bytes: length, then body.
pub fn encode_frame<T: serde::Serialize>(msg: &T) -> std::io::Result<Vec<u8>> {
    let body = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME)
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "a frame of {} bytes is larger than the {MAX_FRAME}-byte limit of the protocol",
                body.len()
            ))
        })?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Writes one JSON frame.
pub fn write_frame<T: serde::Serialize>(w: &mut impl Write, msg: &T) -> std::io::Result<()> {
    w.write_all(&encode_frame(msg)?)
}

/// The length of a frame from its prefix, refused (as [`std::io::ErrorKind::InvalidData`])
/// when over [`MAX_FRAME`].
fn frame_len(prefix: [u8; 4]) -> std::io::Result<usize> {
    let len = u32::from_le_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the peer sent a frame of {len} bytes, over the {MAX_FRAME}-byte limit of the protocol; it was not read"
            ),
        ));
    }
    Ok(len)
}

/// Reads one JSON frame (at most [`MAX_FRAME`] bytes). Memory grows with the bytes
/// that actually arrive, not with the length announced.
pub fn read_frame<T: serde::de::DeserializeOwned>(r: &mut impl Read) -> std::io::Result<T> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix)?;
    let len = frame_len(prefix)?;
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body)?;
    if body.len() != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

/// Reads one JSON frame (at most [`MAX_FRAME`] bytes) from an async stream, as
/// [`read_frame`] does.
pub async fn read_frame_async<T: serde::de::DeserializeOwned>(
    r: &mut RecvStream,
) -> std::io::Result<T> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix)
        .await
        .map_err(std::io::Error::other)?;
    let len = frame_len(prefix)?;
    let mut body = Vec::new();
    let mut buf = [0u8; 16 << 10];
    while body.len() < len {
        let want = (len - body.len()).min(buf.len());
        match r
            .read(&mut buf[..want])
            .await
            .map_err(std::io::Error::other)?
        {
            Some(n) => body.extend_from_slice(&buf[..n]),
            None => return Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

/// Reads one object frame of a [`Request::Objects`] answer into `data`: `None` at the
/// end marker, else the object's kind and claimed id (the caller checks the id against
/// the bytes). Refuses an unknown kind and an object over [`MAX_OBJECT`].
pub fn read_object(
    r: &mut impl Read,
    data: &mut Vec<u8>,
) -> std::io::Result<Option<(gix::objs::Kind, gix::ObjectId)>> {
    let mut kind = [0u8];
    r.read_exact(&mut kind)?;
    if kind[0] == 0 {
        return Ok(None);
    }
    let kind = kind_of(kind[0]).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unknown object kind {}", kind[0]),
        )
    })?;
    let mut id = [0u8; 20];
    r.read_exact(&mut id)?;
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_OBJECT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the peer announced a history object of {len} bytes, over the {MAX_OBJECT}-byte limit; it was not read"
            ),
        ));
    }
    data.clear();
    r.take(len as u64).read_to_end(data)?;
    if data.len() != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some((kind, gix::ObjectId::from_bytes_or_panic(&id))))
}

/// Object kinds on the wire (0 ends the sequence): [`crate::history::object_kind_code`].
pub use crate::history::object_kind_code as kind_code;
/// The object kind for a wire code: [`crate::history::object_kind_of`].
pub use crate::history::object_kind_of as kind_of;

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer announcing a 4 GiB frame is refused on the length alone: nothing is
    /// allocated for it and nothing more is read.
    #[test]
    fn a_frame_over_the_cap_is_refused_before_it_is_read() {
        let mut wire = (u32::MAX).to_le_bytes().to_vec();
        wire.extend_from_slice(b"{}");
        let mut r = &wire[..];
        let e = read_frame::<Response>(&mut r).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let why = e.to_string();
        assert!(why.contains("4294967295") && why.contains("limit"), "{why}");
        assert_eq!(r, b"{}", "the body was not read");
        let mut ok = encode_frame(&Response::Refs(vec![])).unwrap();
        ok.extend_from_slice(b"rest");
        let mut r = &ok[..];
        assert!(matches!(read_frame::<Response>(&mut r), Ok(Response::Refs(v)) if v.is_empty()));
        assert_eq!(r, b"rest");
    }

    #[test]
    fn an_object_over_the_cap_is_refused_before_it_is_read() {
        let mut wire = vec![3u8];
        wire.extend_from_slice(&[7; 20]);
        wire.extend_from_slice(&(MAX_OBJECT as u32 + 1).to_le_bytes());
        let mut data = Vec::new();
        let e = read_object(&mut &wire[..], &mut data).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert!(data.capacity() < 1 << 20);
        // A short object is read whole; a truncated one is an error.
        let mut wire = vec![3u8];
        wire.extend_from_slice(&[7; 20]);
        wire.extend_from_slice(&5u32.to_le_bytes());
        wire.extend_from_slice(b"hello");
        wire.push(0);
        let mut r = &wire[..];
        let (kind, _) = read_object(&mut r, &mut data).unwrap().unwrap();
        assert_eq!((kind, &data[..]), (gix::objs::Kind::Blob, &b"hello"[..]));
        assert!(read_object(&mut r, &mut data).unwrap().is_none());
        let cut = &wire[..wire.len() - 3];
        assert!(read_object(&mut &cut[..], &mut data).is_err());
        // An unknown kind is refused.
        assert!(read_object(&mut &[9u8][..], &mut data).is_err());
    }
}
