//! A peer over iroh as a [`Remote`]: one or more tickets, connected on first use, tried
//! in turn. The serving side (`colony serve`) is [`crate::peer`].

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gix::ObjectId;
use iroh::{Endpoint, SecretKey};
use tokio::runtime::Runtime;

use super::{PlanFn, PushReport, Remote, ShardPlan};
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::files::Shared;
use crate::history::History;
use crate::peer::answer::{Answerer, Outboards};
use crate::peer::link::Link;
use crate::peer::node::{EndpointOptions, bind, load_or_create_key, runtime};
use crate::peer::protocol::{
    ALPN, RUNS, Request, Response, SyncRecv, SyncSend, read_frame, read_frame_async, write_frame,
};
use crate::peer::ticket::Ticket;
use crate::repo::Repo;
use crate::snapshot::shards::shards_to_push;

/// Where a commit sent to (and taken by) a peer goes: any of a branch, a pin and a run record.
#[derive(Debug, Default, Clone, Copy)]
pub struct Target<'a> {
    /// The branch to move (`refs/heads/NAME`).
    pub branch: Option<&'a str>,
    /// Move the branch even when it is not a fast-forward.
    pub force: bool,
    /// The pin to set (`refs/pins/NAME`).
    pub pin: Option<&'a str>,
    /// The run record to add where absent (`refs/runs/NAME`).
    pub run: Option<&'a str>,
}

/// How long to wait for a peer to answer a connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a peer that did not answer is skipped by every remote of this process.
const UNREACHABLE_FOR: Duration = Duration::from_secs(120);

/// Peers (by node id) that did not answer a dial lately, and why. One command opens
/// several remotes over the same tickets (a clone lists refs, fetches history, then
/// shards), and each would otherwise wait [`CONNECT_TIMEOUT`] for the same dead peer.
static UNREACHABLE: LazyLock<Mutex<HashMap<String, (Instant, String)>>> =
    LazyLock::new(Mutex::default);

/// Narrows what a peer remote offers to fetch.
#[derive(Clone, Debug, Default)]
pub struct PeerOptions {
    /// Offer only the shards that this revision's snapshot needs (on the peer), and of
    /// those only the ones holding files that match the glob (`--paths`).
    pub only: Option<(String, Option<String>)>,
}

/// A peer remote.
pub struct PeerRemote {
    name: String,
    tickets: Vec<Ticket>,
    opts: PeerOptions,
    key: SecretKey,
    rt: Runtime,
    ep: Mutex<Option<Endpoint>>,
    links: Mutex<HashMap<usize, Arc<Link>>>,
    /// Tickets that could not be dialled (not tried again by this remote).
    dead: Mutex<HashMap<usize, String>>,
    sizes: Mutex<HashMap<Hash, u64>>,
}

impl PeerRemote {
    /// Opens remote `name` at `url` (one or more tickets joined by `,`) with a throwaway
    /// node key; nothing is dialled until first use.
    pub fn open(name: &str, url: &str, opts: PeerOptions) -> Result<PeerRemote> {
        Self::open_as(name, url, opts, SecretKey::generate())
    }

    /// Opens it as the node of the dataset at `colony_dir` (needed to push and pin:
    /// the peer checks who asks).
    pub fn open_for(name: &str, url: &str, colony_dir: &Path) -> Result<PeerRemote> {
        Self::open_as(
            name,
            url,
            PeerOptions::default(),
            load_or_create_key(colony_dir)?,
        )
    }

    fn open_as(name: &str, url: &str, opts: PeerOptions, key: SecretKey) -> Result<PeerRemote> {
        let tickets = Ticket::parse_list(url)?;
        if tickets.is_empty() {
            return Err(StoreError::Remote {
                remote: name.into(),
                why: "its URL holds no ticket".into(),
            });
        }
        Ok(PeerRemote {
            name: name.to_string(),
            tickets,
            opts,
            key,
            rt: runtime()?,
            ep: Mutex::default(),
            links: Mutex::default(),
            dead: Mutex::default(),
            sizes: Mutex::default(),
        })
    }

    /// The tickets, in the order they are tried.
    pub fn tickets(&self) -> &[Ticket] {
        &self.tickets
    }

    fn endpoint(&self) -> Result<Endpoint> {
        let mut ep = self.ep.lock().expect("endpoint");
        if let Some(e) = &*ep {
            return Ok(e.clone());
        }
        let relay = self.tickets.iter().any(|t| t.relay.is_some());
        let e = bind(
            &self.rt,
            self.key.clone(),
            &EndpointOptions {
                relay,
                ..Default::default()
            },
        )?;
        *ep = Some(e.clone());
        Ok(e)
    }

    /// The connection to ticket `i`, dialling it on first use.
    fn link(&self, i: usize) -> Result<Arc<Link>> {
        if let Some(l) = self.links.lock().expect("links").get(&i) {
            return Ok(l.clone());
        }
        let t = &self.tickets[i];
        let lately = UNREACHABLE
            .lock()
            .expect("unreachable peers")
            .get(&t.id.to_string())
            .filter(|(when, _)| when.elapsed() < UNREACHABLE_FOR)
            .map(|(_, why)| why.clone());
        if let Some(why) = self.dead.lock().expect("dead").get(&i).cloned().or(lately) {
            return Err(StoreError::Remote {
                remote: self.name.clone(),
                why,
            });
        }
        let ep = self.endpoint()?;
        let dialled = self.rt.block_on(async {
            tokio::time::timeout(CONNECT_TIMEOUT, ep.connect(t.to_addr(), ALPN)).await
        });
        let why = match dialled {
            Ok(Ok(conn)) => {
                let link = Arc::new(Link::new(self.rt.handle().clone(), conn, &self.name));
                self.links.lock().expect("links").insert(i, link.clone());
                return Ok(link);
            }
            Ok(Err(e)) => format!("could not connect to peer {}: {e}", t.id),
            Err(_) => format!("peer {} did not answer within {CONNECT_TIMEOUT:?}", t.id),
        };
        // Remembered whether the peer refused or never answered: every later request of
        // this command (and of other remotes over the same peer) would wait for it again.
        self.dead.lock().expect("dead").insert(i, why.clone());
        UNREACHABLE
            .lock()
            .expect("unreachable peers")
            .insert(t.id.to_string(), (Instant::now(), why.clone()));
        Err(StoreError::Remote {
            remote: self.name.clone(),
            why,
        })
    }

    /// Runs `f` against each peer in turn until one succeeds; the error lists every
    /// peer's failure.
    fn first<T>(&self, mut f: impl FnMut(&Link) -> Result<T>) -> Result<T> {
        let mut errors = Vec::new();
        for i in 0..self.tickets.len() {
            match self.link(i).and_then(|l| f(&l)) {
                Ok(v) => return Ok(v),
                Err(e) => errors.push(e),
            }
        }
        if errors.len() == 1 {
            return Err(errors.pop().expect("one"));
        }
        Err(StoreError::Remote {
            remote: self.name.clone(),
            why: format!(
                "no peer could answer: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        })
    }

    /// This remote as seen by `local`'s node: pushing and pinning need its node key,
    /// since the peer checks who asks.
    fn as_me(&self, local: &Repo) -> Result<PeerRemote> {
        let tickets = self
            .tickets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        PeerRemote::open_for(&self.name, &tickets, local.colony_dir())
    }

    /// Asks the peer to take `commit` from this dataset (moving `branch` and/or
    /// pinning it as `pin`), answering its requests for history and shards over the
    /// same connection until it is done. The shards offered are those `plan` picks
    /// (asked with no remote commits and no held shards: the peer keeps what it has).
    pub fn send_commit(
        &self,
        local: &Repo,
        commit: ObjectId,
        to: Target<'_>,
        plan: ShardPlan<'_>,
    ) -> Result<Response> {
        let req = Request::Receive {
            commit: commit.to_string(),
            branch: to.branch.map(str::to_string),
            force: to.force,
            pin: to.pin.map(str::to_string),
            run: to.run.map(str::to_string),
        };
        self.first(|link| self.converse(local, link, &req, plan))
    }

    /// Asks the peer to drop its pins on `rev`.
    pub fn unpin(&self, rev: &str) -> Result<Vec<String>> {
        let req = Request::Unpin { rev: rev.into() };
        self.first(|link| {
            link.ask(&req, |r, _| match r {
                Response::Unpinned(v) => Ok(v),
                r => Err(link.err(format!("unexpected answer {r:?}"))),
            })
        })
    }

    fn converse(
        &self,
        local: &Repo,
        link: &Link,
        req: &Request,
        plan: ShardPlan<'_>,
    ) -> Result<Response> {
        let rt = &self.rt;
        let (mut send, mut recv) = rt
            .block_on(link.conn.open_bi())
            .map_err(|e| link.err(format!("could not open a stream: {e}")))?;
        write_frame(
            &mut SyncSend {
                rt: rt.handle(),
                stream: &mut send,
            },
            req,
        )
        .map_err(|e| link.err(format!("could not send the request: {e}")))?;
        let _ = send.finish();
        let mut answer = rt.spawn(async move { read_frame_async::<Response>(&mut recv).await });
        let outboards = Outboards::default();
        let answerer = Answerer {
            repo: local,
            outboards: &outboards,
            lie: false,
        };
        let mut offer = Offer::new(req, plan);
        loop {
            let next = rt.block_on(async {
                tokio::select! {
                    done = &mut answer => Err(done),
                    s = link.conn.accept_bi() => Ok(s),
                }
            });
            match next {
                Err(done) => {
                    let r = done
                        .map_err(|e| link.err(e))?
                        .map_err(|e| link.err(format!("no answer: {e}")))?;
                    return match r {
                        Response::Error(why) => Err(link.err(why)),
                        r => Ok(r),
                    };
                }
                Ok(Err(e)) => return Err(link.err(format!("connection lost: {e}"))),
                Ok(Ok((mut s, mut r))) => {
                    let asked: std::io::Result<Request> = read_frame(&mut SyncRecv {
                        rt: rt.handle(),
                        stream: &mut r,
                    });
                    let mut w = SyncSend {
                        rt: rt.handle(),
                        stream: &mut s,
                    };
                    let res = match asked {
                        Ok(q) => offer.allows(&q).and_then(|()| match q {
                            // What the push sends, worked out by the plan.
                            Request::SnapshotShards { .. } => {
                                let shards = offer.planned()?.to_vec();
                                write_frame(&mut w, &Response::Shards(shards))
                                    .map_err(|e| StoreError::io("send an answer", e))
                                    .map(|()| 0)
                            }
                            q => answerer.answer(&q, &mut w),
                        }),
                        Err(e) => Err(StoreError::io("read a request", e)),
                    };
                    if let Err(e) = res {
                        let _ = write_frame(&mut w, &Response::Error(e.to_string()));
                    }
                    let _ = s.finish();
                }
            }
        }
    }
}

/// What a push or pin conversation offers the peer it asks: the commit sent, its
/// history, and the shards the plan picks for it (for a push, those its history needs;
/// for a pin, those its snapshot needs). The peer's requests for anything else (other
/// refs, the list of every shard, other commits' history or shards) are refused; asked
/// for the commit's shards, it is answered with the plan.
///
/// A shard is sent whole, so the peer also receives the other records packed into the
/// same shards (chunks of files committed alongside, by their hashes, without the
/// history that names them).
struct Offer<'a> {
    /// The commit offered, `None` for a request that offers nothing (`Unpin`).
    commit: Option<ObjectId>,
    plan: ShardPlan<'a>,
    /// The shards offered, worked out on first need.
    shards: Option<Vec<(Hash, u64)>>,
}

impl<'a> Offer<'a> {
    fn new(req: &Request, plan: ShardPlan<'a>) -> Offer<'a> {
        let commit = match req {
            Request::Receive { commit, .. } => ObjectId::from_hex(commit.as_bytes()).ok(),
            _ => None,
        };
        Offer {
            commit,
            plan,
            shards: None,
        }
    }

    /// The shards offered.
    fn planned(&mut self) -> Result<&[(Hash, u64)]> {
        if self.shards.is_none() {
            self.shards = Some((self.plan)(&[], &HashSet::new())?);
        }
        Ok(self.shards.as_deref().expect("just planned"))
    }

    /// Whether the peer may have the answer to `q`; refused with what is offered.
    fn allows(&mut self, q: &Request) -> Result<()> {
        let offered = self
            .commit
            .map_or_else(|| "nothing".to_string(), |c| format!("commit {c}"));
        let refuse = |what: &str| {
            Err(StoreError::Refused(format!(
                "{what} is not offered: this conversation offers {offered}, its history and the shards it needs only"
            )))
        };
        let Some(commit) = self.commit else {
            return refuse("this request");
        };
        let is_commit = |hex: &str| ObjectId::from_hex(hex.as_bytes()).is_ok_and(|c| c == commit);
        match q {
            Request::SnapshotShards { commit: c, .. } if is_commit(c) => Ok(()),
            Request::SnapshotShards { commit: c, .. } => refuse(&format!("commit {c}")),
            Request::Objects { tips, .. } => match tips.iter().find(|t| !is_commit(t)) {
                None => Ok(()),
                Some(t) => refuse(&format!("the history of {t}")),
            },
            Request::Shard { id, .. } => {
                if self.planned()?.iter().any(|(s, _)| s == id) {
                    Ok(())
                } else {
                    refuse(&format!("shard {id}"))
                }
            }
            Request::Refs => refuse("the list of refs"),
            Request::Shards => refuse("the list of shards"),
            Request::Receive { .. } | Request::Unpin { .. } => refuse("a push or pin request"),
        }
    }
}

/// The plan of a push to a peer: the shards the history of `commit` needs
/// ([`shards_to_push`]), all of them, since the peer asks only for those it lacks.
fn history_needs(local: &Repo, commit: ObjectId) -> Box<PlanFn<'_>> {
    Box::new(move |remote_tips, held| shards_to_push(local, &[commit], remote_tips, held))
}

impl Drop for PeerRemote {
    fn drop(&mut self) {
        let links: Vec<Arc<Link>> = self
            .links
            .lock()
            .expect("links")
            .drain()
            .map(|(_, l)| l)
            .collect();
        for l in &links {
            l.conn.close(0u32.into(), b"done");
        }
        if let Some(ep) = self.ep.lock().expect("endpoint").take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(2), ep.close()).await });
        }
    }
}

impl Remote for PeerRemote {
    fn name(&self) -> &str {
        &self.name
    }

    fn list_refs(&self) -> Result<Vec<(String, ObjectId)>> {
        let mut refs = self.first(|l| l.refs())?;
        refs.retain(|(n, _)| !n.starts_with(RUNS));
        Ok(refs)
    }

    fn list_runs(&self) -> Result<Vec<(String, ObjectId)>> {
        let refs = self.first(|l| l.refs())?;
        Ok(refs
            .into_iter()
            .filter_map(|(n, id)| Some((n.strip_prefix(RUNS)?.to_string(), id)))
            .collect())
    }

    fn push_runs(&self, local: &Repo, runs: &[(String, ObjectId)]) -> Result<Option<usize>> {
        let there = self.list_runs()?;
        let me = self.as_me(local)?;
        let mut new = 0;
        for (name, commit) in runs {
            if there.iter().any(|(n, _)| n == name) {
                continue;
            }
            let to = Target {
                run: Some(name),
                ..Target::default()
            };
            if let Response::Received { runs_new, .. } =
                me.send_commit(local, *commit, to, &history_needs(local, *commit))?
            {
                new += runs_new;
            }
        }
        Ok(Some(new))
    }

    fn fetch_objects(&self, into: &History, tips: &[ObjectId], haves: &[ObjectId]) -> Result<u64> {
        self.first(|l| l.objects(into, tips, haves))
    }

    fn list_shards(&self) -> Result<Vec<(Hash, u64)>> {
        let req = match &self.opts.only {
            None => Request::Shards,
            Some((rev, paths)) => Request::SnapshotShards {
                commit: rev.clone(),
                paths: paths.clone(),
            },
        };
        let v = self.first(|l| l.shards(&req))?;
        self.sizes.lock().expect("sizes").extend(v.iter().copied());
        Ok(v)
    }

    fn snapshot_shards(&self, commit: ObjectId, paths: &str) -> Result<Option<Vec<(Hash, u64)>>> {
        let req = Request::SnapshotShards {
            commit: commit.to_string(),
            paths: Some(paths.to_string()),
        };
        let v = self.first(|l| l.shards(&req))?;
        self.sizes.lock().expect("sizes").extend(v.iter().copied());
        Ok(Some(v))
    }

    fn fetch_shard(&self, id: &Hash, dest: &Path, progress: &dyn Fn(u64)) -> Result<Shared> {
        let size = self.sizes.lock().expect("sizes").get(id).copied();
        let got = self.first(|l| {
            if let Some(s) = size {
                l.sizes.lock().expect("sizes").insert(*id, s);
            }
            l.shard(id, dest, progress)
        })?;
        Ok(if got.whole {
            Shared::Verified
        } else {
            Shared::Copied
        })
    }

    fn push(
        &self,
        local: &Repo,
        branch: &str,
        commit: ObjectId,
        force: bool,
    ) -> Result<PushReport> {
        let r = self.as_me(local)?.send_commit(
            local,
            commit,
            Target {
                branch: Some(branch),
                force,
                ..Target::default()
            },
            &history_needs(local, commit),
        )?;
        let Response::Received {
            old,
            objects,
            shards,
            bytes,
            up_to_date,
            ..
        } = r
        else {
            return Err(StoreError::Remote {
                remote: self.name.clone(),
                why: format!("unexpected answer {r:?}"),
            });
        };
        Ok(PushReport {
            remote: self.name.clone(),
            branch: branch.to_string(),
            old,
            new: commit.to_string(),
            objects,
            shards,
            bytes,
            up_to_date,
        })
    }
}
