//! The serving side: `colony serve`. Accepts connections for ALPN `colony/1`, answers
//! each request on its own stream from a blocking thread, opening the dataset for
//! reading per request (so writers wait at most one request), and takes pushes and pin
//! requests from allowed peers by fetching from them over the same connection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use iroh::EndpointId;
use iroh::endpoint::{Connection, RecvStream, SendStream};
use tokio::runtime::Handle;

use super::answer::{Answerer, Outboards};
use super::link::Link;
use super::node::{EndpointOptions, bind, load_or_create_key, runtime, ticket_of};
use super::protocol::{Request, Response, SyncRecv, SyncSend, read_frame, write_frame};
use super::receive::{Target, take_commit};
use super::ticket::Ticket;
use crate::error::{Result, StoreError};
use crate::repo::{Access, Repo};

/// How to serve.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Endpoint settings (relay, bind address).
    pub endpoint: EndpointOptions,
    /// Node ids allowed to push and to send pin requests.
    pub allow: Vec<EndpointId>,
    /// Test hook: flip a byte of every shard sent.
    pub lie: bool,
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
    outboards: Outboards,
    /// The chunk index allows one open per process: requests that read it take turns.
    index: Mutex<()>,
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
        outboards: Outboards::default(),
        index: Mutex::new(()),
    });
    rt.block_on(async move {
        while let Some(incoming) = ep.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((send, recv)) = conn.accept_bi().await {
                    let shared = shared.clone();
                    let conn = conn.clone();
                    let rt = Handle::current();
                    tokio::task::spawn_blocking(move || {
                        handle_stream(&rt, &shared, conn, send, recv);
                    });
                }
            });
        }
    });
    Ok(())
}

fn handle_stream(
    rt: &Handle,
    shared: &Shared,
    conn: Connection,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let req: Request = match read_frame(&mut SyncRecv {
        rt,
        stream: &mut recv,
    }) {
        Ok(r) => r,
        Err(_) => return,
    };
    let mut w = SyncSend {
        rt,
        stream: &mut send,
    };
    let res = match &req {
        Request::Receive { .. } | Request::Unpin { .. } => {
            write_answer(rt, shared, &conn, &req, &mut w).map(|()| 0)
        }
        Request::SnapshotShards { .. } => {
            let _g = shared.index.lock().expect("index lock");
            read_answer(shared, &req, &mut w)
        }
        _ => read_answer(shared, &req, &mut w),
    };
    let peer = conn.remote_id();
    match (&req, &res) {
        (Request::Shard { id, from }, Ok(n)) => {
            eprintln!("sent shard {id} from byte {from}: {n} bytes to {peer}");
        }
        (_, Err(e)) => eprintln!("refused {} from {peer}: {e}", req_name(&req)),
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

fn read_answer(shared: &Shared, req: &Request, w: &mut SyncSend<'_>) -> Result<u64> {
    let repo = Repo::open(&shared.root, Access::Read, &|_| {})?;
    Answerer {
        repo: &repo,
        outboards: &shared.outboards,
        lie: shared.lie,
    }
    .answer(req, w)
}

fn write_answer(
    rt: &Handle,
    shared: &Shared,
    conn: &Connection,
    req: &Request,
    w: &mut SyncSend<'_>,
) -> Result<()> {
    let peer = conn.remote_id();
    if !shared.allow.contains(&peer) {
        return Err(StoreError::Refused(format!(
            "node {peer} may not push or pin here; the node's owner can allow it with `colony serve --allow {peer}`"
        )));
    }
    let io = |e: std::io::Error| StoreError::io("send an answer", e);
    let _g = shared.index.lock().expect("index lock");
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
