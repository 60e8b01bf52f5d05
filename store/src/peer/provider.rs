//! The serving side: `colony serve`. Accepts connections for ALPN `colony/1`, answers
//! each request on its own stream from a blocking thread, opening the dataset for
//! reading per request (so writers wait at most one request), and takes pushes and pin
//! requests from allowed peers by fetching from them over the same connection.
//!
//! # What one peer can make a node do
//!
//! Anyone holding the ticket may ask; nothing but pushes and pins needs `--allow`. So
//! the work is bounded per request and per peer ([`Limits`], defaults in brackets):
//!
//! - a peer (node id) has at most `per_peer` [8] requests open at once, and all peers
//!   together `global` [64]; a stream over either limit is answered at once with a
//!   "busy" error and closed, before its request is read, and takes no thread;
//! - a stream must deliver its whole request within `request_timeout` [10 s] (read
//!   without a thread), else it is answered with an error and closed;
//! - an answer that the asker stops reading for `stall_timeout` [60 s] is abandoned;
//! - a request whose stream the asker closes (or whose connection goes away) is
//!   abandoned between files while it lists a snapshot's shards, including while it
//!   waits for its turn at the chunk index;
//! - a `--paths` glob is at most [`MAX_GLOB_LEN`](super::protocol::MAX_GLOB_LEN) bytes
//!   and is matched in linear time ([`crate::ops::sparse::Glob`]), before the chunk
//!   index is taken; a frame is at most [`MAX_FRAME`](super::protocol::MAX_FRAME);
//! - shard outboards are kept up to `outboard_cache` [256 MiB], least recently used
//!   dropped first.
//!
//! Node ids cost nothing to make, so a peer that uses many can still fill the global
//! limit: then other peers are told the node is busy (availability), but the node's
//! threads, memory and CPU stay bounded, and idle streams free their slots within
//! `request_timeout`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use iroh::EndpointId;
use iroh::endpoint::{Connection, RecvStream, SendStream};
use tokio::runtime::Handle;

use super::answer::{Answerer, OUTBOARD_CACHE_BYTES, Outboards, peer_glob};
use super::link::Link;
use super::node::{EndpointOptions, bind, load_or_create_key, runtime, ticket_of};
use super::protocol::{Request, Response, TimedSend, encode_frame, read_frame_async, write_frame};
use super::receive::{Target, take_commit};
use super::ticket::Ticket;
use crate::error::{Result, StoreError};
use crate::ops::sparse::{abandoned, shards_of, snapshot_files};
use crate::repo::{Access, Repo};

/// Bounds on the work peers can make a serving node do (see the [module
/// documentation](self)).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests one peer (node id) may have open at once.
    pub per_peer: usize,
    /// Requests all peers together may have open at once.
    pub global: usize,
    /// How long a new stream may take to deliver its request.
    pub request_timeout: Duration,
    /// How long an answer waits for the asker to take more bytes.
    pub stall_timeout: Duration,
    /// Bytes of shard outboards kept in memory.
    pub outboard_cache: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_peer: 8,
            global: 64,
            request_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            outboard_cache: OUTBOARD_CACHE_BYTES,
        }
    }
}

/// How to serve.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Endpoint settings (relay, bind address).
    pub endpoint: EndpointOptions,
    /// Node ids allowed to push and to send pin requests.
    pub allow: Vec<EndpointId>,
    /// Test hook: flip a byte of every shard sent. `colony serve` sets it from
    /// `COLONY_TEST_LIE=flip` in debug builds only.
    pub lie: bool,
    /// Bounds on what peers can make the node do.
    pub limits: Limits,
}

/// What a started node tells its caller.
#[derive(Debug, serde::Serialize)]
pub struct Serving {
    /// The node id.
    pub node_id: String,
    /// The ticket to give to peers.
    pub ticket: String,
    /// The addresses in the ticket.
    pub addrs: Vec<String>,
    /// Whether relays are used.
    pub relay: bool,
}

struct Shared {
    root: PathBuf,
    allow: Vec<EndpointId>,
    lie: bool,
    limits: Limits,
    outboards: Outboards,
    /// The chunk index allows one open per process: requests that read it take turns.
    index: Mutex<()>,
    /// Open requests: per peer, and in all.
    open: Mutex<(HashMap<EndpointId, usize>, usize)>,
}

impl Shared {
    fn open_requests(&self) -> MutexGuard<'_, (HashMap<EndpointId, usize>, usize)> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for one more request from `peer`, or why there is none.
    fn admit(self: &Arc<Self>, peer: EndpointId) -> std::result::Result<Slot, String> {
        let mut open = self.open_requests();
        let (per_peer, all) = &mut *open;
        let mine = per_peer.entry(peer).or_default();
        if *mine >= self.limits.per_peer {
            return Err(format!(
                "busy: node {peer} already has {} requests open here (at most {} at once)",
                *mine, self.limits.per_peer
            ));
        }
        if *all >= self.limits.global {
            return Err(format!(
                "busy: this node is answering {} requests (at most {} at once); try again later",
                *all, self.limits.global
            ));
        }
        *mine += 1;
        *all += 1;
        Ok(Slot {
            shared: self.clone(),
            peer,
        })
    }

    /// Waits for the chunk index, giving up when the asker is gone.
    fn index_turn(&self, gone: &dyn Fn() -> bool) -> Result<MutexGuard<'_, ()>> {
        loop {
            match self.index.try_lock() {
                Ok(g) => return Ok(g),
                Err(std::sync::TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
            if gone() {
                return Err(abandoned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn index_lock(&self) -> MutexGuard<'_, ()> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open request; frees its place when dropped.
struct Slot {
    shared: Arc<Shared>,
    peer: EndpointId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.shared.open_requests();
        let (per_peer, all) = &mut *open;
        *all -= 1;
        if let Some(n) = per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                per_peer.remove(&self.peer);
            }
        }
    }
}

/// Reads an allowed node id as `colony id` prints it.
pub fn parse_node_id(text: &str) -> Result<EndpointId> {
    text.trim()
        .parse()
        .map_err(|e| StoreError::Refused(format!("`{text}` is not a node id: {e}")))
}

/// This dataset's node id (creating its key on first use).
pub fn node_id(colony_dir: &Path) -> Result<EndpointId> {
    Ok(load_or_create_key(colony_dir)?.public())
}

/// Serves the dataset at `root` until the process ends. `ready` is called once with the
/// ticket when the node is reachable.
pub fn serve(root: &Path, opts: &ServeOptions, ready: &dyn Fn(&Serving)) -> Result<()> {
    let colony = root.join(crate::repo::COLONY_DIR);
    // Check it is a dataset (and let go of it: requests open it as needed).
    drop(Repo::open(root, Access::Read, &|_| {})?);
    let key = load_or_create_key(&colony)?;
    let rt = runtime()?;
    let ep = bind(
        &rt,
        key,
        &EndpointOptions {
            accept: true,
            ..opts.endpoint.clone()
        },
    )?;
    let ticket: Ticket = ticket_of(&rt, &ep, opts.endpoint.relay);
    ready(&Serving {
        node_id: ep.id().to_string(),
        ticket: ticket.to_string(),
        addrs: ticket.addrs.iter().map(ToString::to_string).collect(),
        relay: opts.endpoint.relay,
    });
    let shared = Arc::new(Shared {
        root: root.to_path_buf(),
        allow: opts.allow.clone(),
        lie: opts.lie,
        limits: opts.limits.clone(),
        outboards: Outboards::new(opts.limits.outboard_cache),
        index: Mutex::new(()),
        open: Mutex::default(),
    });
    rt.block_on(async move {
        while let Some(incoming) = ep.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let peer = conn.remote_id();
                while let Ok((send, recv)) = conn.accept_bi().await {
                    // Admitted here, in the order the peer opened its streams.
                    match shared.admit(peer) {
                        Ok(slot) => {
                            tokio::spawn(stream(shared.clone(), conn.clone(), slot, send, recv));
                        }
                        Err(why) => {
                            eprintln!("refused a request from {peer}: {why}");
                            tokio::spawn(refuse(send, recv, why));
                        }
                    }
                }
            });
        }
    });
    Ok(())
}

/// One admitted request: read without a thread and within the request timeout, then
/// answered on a blocking thread that is told when the asker goes away.
async fn stream(
    shared: Arc<Shared>,
    conn: Connection,
    slot: Slot,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let peer = conn.remote_id();
    let limit = shared.limits.request_timeout;
    let req = match tokio::time::timeout(limit, read_frame_async::<Request>(&mut recv)).await {
        Ok(Ok(r)) => r,
        failed => {
            let why = match failed {
                Ok(Err(e)) => format!("unreadable request: {e}"),
                _ => format!("no request arrived within {limit:?}"),
            };
            eprintln!("refused a request from {peer}: {why}");
            // Its place is free before the asker can read why.
            drop(slot);
            refuse(send, recv, why).await;
            return;
        }
    };
    // Resolves when the asker stops reading the answer or the connection goes.
    let stopped = send.stopped();
    let gone = Arc::new(AtomicBool::new(false));
    let watch = {
        let gone = gone.clone();
        tokio::spawn(async move {
            let _ = stopped.await;
            gone.store(true, Ordering::Relaxed);
        })
    };
    let rt = Handle::current();
    let answered = tokio::task::spawn_blocking(move || {
        let gone = move || gone.load(Ordering::Relaxed);
        handle_request(&rt, &shared, &conn, &mut send, &req, &gone);
    })
    .await;
    watch.abort();
    if let Err(e) = answered {
        eprintln!("a request from {peer} failed: {e}");
    }
    drop((slot, recv));
}

/// Answers a stream with an error without reading (more of) its request.
async fn refuse(mut send: SendStream, recv: RecvStream, why: String) {
    // Bounded waits: a refused stream costs a small task for a few seconds at most.
    let wait = Duration::from_secs(5);
    if let Ok(frame) = encode_frame(&Response::Error(why)) {
        let _ = tokio::time::timeout(wait, send.write_all(&frame)).await;
    }
    let _ = send.finish();
    // Let the asker read the error before the stream goes.
    let _ = tokio::time::timeout(wait, send.stopped()).await;
    drop(recv);
}

fn handle_request(
    rt: &Handle,
    shared: &Shared,
    conn: &Connection,
    send: &mut SendStream,
    req: &Request,
    gone: &dyn Fn() -> bool,
) {
    let mut w = TimedSend {
        rt,
        stream: send,
        stall: shared.limits.stall_timeout,
    };
    let res = match req {
        Request::Receive { .. } | Request::Unpin { .. } => {
            write_answer(rt, shared, conn, req, &mut w).map(|()| 0)
        }
        Request::SnapshotShards { commit, paths } => {
            snapshot_answer(shared, commit, paths.as_deref(), gone, &mut w).map(|()| 0)
        }
        _ => read_answer(shared, req, &mut w),
    };
    let peer = conn.remote_id();
    match (req, &res) {
        (Request::Shard { id, from }, Ok(n)) => {
            eprintln!("sent shard {id} from byte {from}: {n} bytes to {peer}");
        }
        (_, Err(e)) => eprintln!("refused {} from {peer}: {e}", req_name(req)),
        (r, Ok(_)) => eprintln!("answered {} from {peer}", req_name(r)),
    }
    if let Err(e) = res {
        // Only reaches the asker if the header was not sent yet; otherwise the broken
        // body tells it.
        let _ = write_frame(&mut w, &Response::Error(e.to_string()));
    }
    let _ = send.finish();
}

fn req_name(r: &Request) -> &'static str {
    match r {
        Request::Refs => "refs",
        Request::Shards => "shards",
        Request::SnapshotShards { .. } => "snapshot-shards",
        Request::Objects { .. } => "objects",
        Request::Shard { .. } => "shard",
        Request::Receive { .. } => "receive",
        Request::Unpin { .. } => "unpin",
    }
}

fn read_answer(shared: &Shared, req: &Request, w: &mut impl std::io::Write) -> Result<u64> {
    let repo = Repo::open(&shared.root, Access::Read, &|_| {})?;
    Answerer {
        repo: &repo,
        outboards: &shared.outboards,
        lie: shared.lie,
    }
    .answer(req, w)
}

/// The shards of a snapshot (or of the files matching a glob): the glob is checked and
/// matched against the snapshot's paths first, from history alone; only then is the
/// chunk index taken, for the matching files.
fn snapshot_answer(
    shared: &Shared,
    commit: &str,
    paths: Option<&str>,
    gone: &dyn Fn() -> bool,
    w: &mut impl std::io::Write,
) -> Result<()> {
    let glob = peer_glob(paths)?;
    let files = {
        let repo = Repo::open(&shared.root, Access::Read, &|_| {})?;
        let id = repo.resolve(commit)?;
        snapshot_files(&repo, id, glob.as_ref(), gone)?
    };
    let shards = {
        let _turn = shared.index_turn(gone)?;
        // Opened (and its chunk index closed) inside the turn.
        let repo = Repo::open(&shared.root, Access::Read, &|_| {})?;
        shards_of(&repo, &files, gone)?
    };
    write_frame(w, &Response::Shards(shards.into_iter().collect()))
        .map_err(|e| StoreError::io("send an answer", e))
}

fn write_answer(
    rt: &Handle,
    shared: &Shared,
    conn: &Connection,
    req: &Request,
    w: &mut impl std::io::Write,
) -> Result<()> {
    let peer = conn.remote_id();
    if !shared.allow.contains(&peer) {
        return Err(StoreError::Refused(format!(
            "node {peer} may not push or pin here; the node's owner can allow it with `colony serve --allow {peer}`"
        )));
    }
    let io = |e: std::io::Error| StoreError::io("send an answer", e);
    let _g = shared.index_lock();
    let repo = Repo::open(&shared.root, Access::Write, &|_| {})?;
    match req {
        Request::Receive {
            commit,
            branch,
            force,
            pin,
            run,
        } => {
            let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| {
                StoreError::MalformedHistory {
                    object: commit.clone(),
                    why: "not an object id".into(),
                }
            })?;
            let link = Link::new(rt.clone(), conn.clone(), &format!("peer {peer}"));
            let t = take_commit(
                &repo,
                &link,
                id,
                Target {
                    branch: branch.as_deref(),
                    force: *force,
                    pin: pin.as_deref(),
                    run: run.as_deref(),
                },
            )?;
            write_frame(
                w,
                &Response::Received {
                    old: t.old.map(|o| o.to_string()),
                    objects: t.objects,
                    shards: t.took.shards,
                    bytes: t.took.bytes,
                    up_to_date: t.up_to_date,
                    runs_new: t.runs_new,
                },
            )
            .map_err(io)
        }
        Request::Unpin { rev } => {
            let removed = repo.unpin(rev)?;
            write_frame(w, &Response::Unpinned(removed)).map_err(io)
        }
        _ => Err(StoreError::Refused("not a write request".into())),
    }
}
