//! One connection to one peer, used as the asking side: refs, shard lists, history
//! objects and verified shard transfers.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use bao_tree::io::BaoContentItem;
use bao_tree::io::sync::DecodeResponseIter;
use bao_tree::{BaoTree, ChunkNum, ChunkRanges};
use gix::ObjectId;
use gix::objs::Write as _;
use iroh::EndpointId;
use iroh::endpoint::Connection;
use tokio::runtime::Handle;

use super::protocol::{
    BLOCK_SIZE, GROUP_BYTES, Request, Response, SyncRecv, SyncSend, read_frame, read_object,
    write_frame,
};
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::history::History;

/// What one shard transfer did.
#[derive(Clone, Copy, Debug)]
pub struct Streamed {
    /// Bytes that arrived (all verified).
    pub moved: u64,
    /// Whether the whole file arrived in this transfer, so that every byte of it was
    /// checked against the shard's BLAKE3 tree here (nothing was kept from before).
    pub whole: bool,
}

/// An open connection to a peer.
pub struct Link {
    /// The runtime the connection lives on.
    pub rt: Handle,
    /// The connection.
    pub conn: Connection,
    /// The remote's name, for errors.
    pub name: String,
    /// Shard sizes learnt from the peer's lists.
    pub sizes: Mutex<HashMap<Hash, u64>>,
}

impl Link {
    /// Wraps a connection.
    pub fn new(rt: Handle, conn: Connection, name: &str) -> Link {
        Link {
            rt,
            conn,
            name: name.to_string(),
            sizes: Mutex::default(),
        }
    }

    /// The peer's node id.
    pub fn peer(&self) -> EndpointId {
        self.conn.remote_id()
    }

    /// An error naming the remote and the peer.
    pub fn err(&self, why: impl std::fmt::Display) -> StoreError {
        StoreError::Remote {
            remote: self.name.clone(),
            why: format!("peer {}: {why}", self.peer()),
        }
    }

    /// Sends `req` on a new stream and hands the answer's header and body to `f`.
    pub fn ask<T>(
        &self,
        req: &Request,
        f: impl FnOnce(Response, &mut SyncRecv<'_>) -> Result<T>,
    ) -> Result<T> {
        let (mut send, mut recv) = self
            .rt
            .block_on(self.conn.open_bi())
            .map_err(|e| self.err(format!("could not open a stream: {e}")))?;
        write_frame(
            &mut SyncSend {
                rt: &self.rt,
                stream: &mut send,
            },
            req,
        )
        .map_err(|e| self.err(format!("could not send a request: {e}")))?;
        let _ = send.finish();
        let mut r = SyncRecv {
            rt: &self.rt,
            stream: &mut recv,
        };
        let head: Response = read_frame(&mut r).map_err(|e| self.err(format!("no answer: {e}")))?;
        if let Response::Error(why) = head {
            return Err(self.err(why));
        }
        f(head, &mut r)
    }

    fn unexpected(&self, r: &Response) -> StoreError {
        self.err(format!("unexpected answer {r:?}"))
    }

    /// The peer's branches.
    pub fn refs(&self) -> Result<Vec<(String, ObjectId)>> {
        self.ask(&Request::Refs, |r, _| match r {
            Response::Refs(v) => v
                .into_iter()
                .map(|(n, id)| {
                    let id = ObjectId::from_hex(id.as_bytes())
                        .map_err(|_| self.err(format!("bad commit id {id}")))?;
                    Ok((n, id))
                })
                .collect(),
            r => Err(self.unexpected(&r)),
        })
    }

    /// Shards for `req` (`Shards` or `SnapshotShards`).
    pub fn shards(&self, req: &Request) -> Result<Vec<(Hash, u64)>> {
        let v = self.ask(req, |r, _| match r {
            Response::Shards(v) => Ok(v),
            r => Err(self.unexpected(&r)),
        })?;
        self.sizes.lock().expect("sizes").extend(v.iter().copied());
        Ok(v)
    }

    /// Writes the objects reachable from `tips` and not `haves` into `into`, each id
    /// recomputed from its bytes and each only once every object it refers to is here
    /// (so that what is written is always whole history); returns how many were new.
    /// Whether the tips themselves arrived is the caller's to check
    /// ([`crate::ops::fetch::check_tips`]) before it moves any ref.
    pub fn objects(&self, into: &History, tips: &[ObjectId], haves: &[ObjectId]) -> Result<u64> {
        let req = Request::Objects {
            tips: tips.iter().map(ToString::to_string).collect(),
            haves: haves.iter().map(ToString::to_string).collect(),
        };
        self.ask(&req, |head, r| {
            if !matches!(head, Response::Objects) {
                return Err(self.unexpected(&head));
            }
            let mut r = std::io::BufReader::with_capacity(1 << 16, r);
            let io = |e: std::io::Error| self.err(format!("history transfer broke: {e}"));
            let mut n = 0;
            let mut data = Vec::new();
            loop {
                let Some((kind, id)) = read_object(&mut r, &mut data).map_err(io)? else {
                    return Ok(n);
                };
                if into.repo().has_object(id) {
                    continue;
                }
                // Referred-to first, as colony writes history: an object whose
                // references are not here yet would leave a commit without its tree
                // or parents, which later walks of the history trip over.
                if let Some(missing) = first_missing_reference(into, kind, &data)? {
                    return Err(self.err(format!(
                        "sent history object {id} before {missing}, which it refers to (or never sent that); nothing after it was used"
                    )));
                }
                let got = into
                    .repo()
                    .objects
                    .write_buf(kind, &data)
                    .map_err(StoreError::git)?;
                if got != id {
                    return Err(self.err(format!(
                        "history object {id} arrived with bytes that hash to {got}; it was not used"
                    )));
                }
                n += 1;
            }
        })
    }

    /// Fetches shard `id` into `dest`, keeping the whole 16 KiB groups already there
    /// and verifying every group that arrives against the shard's BLAKE3 tree before it
    /// is written. On a bad group the file is cut back to the verified bytes. The file
    /// is not synced: the caller syncs it before renaming it into place.
    pub fn shard(&self, id: &Hash, dest: &Path, progress: &dyn Fn(u64)) -> Result<Streamed> {
        let io =
            |what: &str, e: std::io::Error| StoreError::io(format!("{what} {}", dest.display()), e);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dest)
            .map_err(|e| io("open", e))?;
        let have = file.metadata().map_err(|e| io("stat", e))?.len();
        let known = self.sizes.lock().expect("sizes").get(id).copied();
        // Keep whole groups, and never the whole file (the last group is always asked
        // for, so that a stale full-length file is re-checked).
        let mut keep = have - have % GROUP_BYTES;
        match known {
            Some(size) if keep >= size => {
                keep = (size.saturating_sub(1)) / GROUP_BYTES * GROUP_BYTES
            }
            None => keep = 0,
            _ => {}
        }
        file.set_len(keep).map_err(|e| io("truncate", e))?;
        let req = Request::Shard {
            id: *id,
            from: keep,
        };
        let moved = self.ask(&req, |head, r| {
            let Response::Shard { size } = head else {
                return Err(self.unexpected(&head));
            };
            if keep > size {
                file.set_len(0).map_err(|e| io("truncate", e))?;
                return Err(self.err(format!(
                    "shard {id}: the partial copy here is longer than the shard; run again"
                )));
            }
            let tree = BaoTree::new(size, BLOCK_SIZE);
            let ranges = ChunkRanges::from(ChunkNum(keep / 1024)..);
            let root = blake3::Hash::from_bytes(id.0);
            let reader = std::io::BufReader::with_capacity(1 << 16, r);
            let mut verified_end = keep;
            let mut moved = 0u64;
            for item in DecodeResponseIter::new(root, tree, reader, &ranges) {
                match item {
                    Ok(BaoContentItem::Leaf(leaf)) => {
                        file.write_all_at(&leaf.data, leaf.offset)
                            .map_err(|e| io("write", e))?;
                        verified_end = leaf.offset + leaf.data.len() as u64;
                        moved += leaf.data.len() as u64;
                        progress(leaf.data.len() as u64);
                    }
                    Ok(BaoContentItem::Parent(_)) => {}
                    Err(e) => {
                        let _ = file.set_len(verified_end);
                        let why = match e {
                            bao_tree::io::DecodeError::LeafHashMismatch(c) => format!(
                                "sent bytes of shard {id} that fail BLAKE3 verification in the 16 KiB group at offset {}; they were not stored",
                                c.to_bytes()
                            ),
                            bao_tree::io::DecodeError::ParentHashMismatch(n) => format!(
                                "sent hashes for shard {id} that fail BLAKE3 verification (tree node {n:?}); nothing after byte {verified_end} was stored"
                            ),
                            e => format!("transfer of shard {id} broke after byte {verified_end}: {e}"),
                        };
                        return Err(self.err(why));
                    }
                }
            }
            Ok(moved)
        })?;
        Ok(Streamed {
            moved,
            whole: keep == 0,
        })
    }
}

/// The first object that `data` (an object of `kind`) refers to and `into` lacks.
fn first_missing_reference(
    into: &History,
    kind: gix::objs::Kind,
    data: &[u8],
) -> Result<Option<ObjectId>> {
    let refs =
        crate::history::references(kind, data, true).map_err(|e| StoreError::MalformedHistory {
            object: format!("a {kind} sent by a peer"),
            why: e.to_string(),
        })?;
    Ok(refs
        .into_iter()
        .map(|r| r.id)
        .find(|id| !into.repo().has_object(id)))
}
