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
//! small (at most [`MAX_FRAME`]); the bulk bytes are never framed as JSON.
//!
//! The streams are driven from plain threads through [`SyncRecv`] and [`SyncSend`],
//! which block on the tokio runtime: the store is synchronous, and so are the bao
//! encoder and decoder used here.

use std::io::{Read, Write};

use iroh::endpoint::{RecvStream, SendStream};
use tokio::runtime::Handle;

use crate::Hash;

/// The ALPN every colony peer speaks.
pub const ALPN: &[u8] = b"colony/1";

/// Largest JSON frame accepted (16 MiB: ref lists and shard lists of big stores).
pub const MAX_FRAME: usize = 16 << 20;

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

/// Writes one JSON frame.
pub fn write_frame<T: serde::Serialize>(w: &mut impl Write, msg: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    w.write_all(&(body.len() as u32).to_le_bytes())?;
    w.write_all(&body)
}

/// Reads one JSON frame.
pub fn read_frame<T: serde::de::DeserializeOwned>(r: &mut impl Read) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes is larger than {MAX_FRAME}"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

/// Object kinds on the wire (0 ends the sequence).
pub fn kind_code(kind: gix::objs::Kind) -> u8 {
    match kind {
        gix::objs::Kind::Commit => 1,
        gix::objs::Kind::Tree => 2,
        gix::objs::Kind::Blob => 3,
        gix::objs::Kind::Tag => 4,
    }
}

/// The object kind for a wire code.
pub fn kind_of(code: u8) -> Option<gix::objs::Kind> {
    Some(match code {
        1 => gix::objs::Kind::Commit,
        2 => gix::objs::Kind::Tree,
        3 => gix::objs::Kind::Blob,
        4 => gix::objs::Kind::Tag,
        _ => return None,
    })
}
