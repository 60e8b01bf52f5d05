//! Pins on peers: ask a peer to keep a snapshot, see which peers hold one, and ask
//! peers until enough of them do.

use super::answer::snapshot_shards;
use super::protocol::Response;
use crate::error::{Result, StoreError};
use crate::ops::remote::{Remote, RemoteUrl};
use crate::remote::peer::{PeerOptions, PeerRemote};
use crate::repo::Repo;

/// A pin placed on a peer.
#[derive(Debug, serde::Serialize)]
pub struct PeerPin {
    /// The peer remote.
    pub remote: String,
    /// The pinned commit.
    pub commit: String,
    /// The pin's name on the peer.
    pub name: String,
    /// Shards the peer had to fetch.
    pub shards: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// How much of a snapshot one peer holds.
#[derive(Debug, serde::Serialize)]
pub struct Holding {
    /// The peer remote.
    pub remote: String,
    /// Shards of the snapshot it holds.
    pub shards: usize,
    /// Shards the snapshot needs.
    pub shards_total: usize,
    /// Bytes of those it holds.
    pub bytes: u64,
    /// Bytes the snapshot needs.
    pub bytes_total: u64,
    /// Whether it holds all of it.
    pub complete: bool,
    /// Why it could not be asked, if it could not.
    pub error: Option<String>,
}

/// What `replicate` did.
#[derive(Debug, serde::Serialize)]
pub struct ReplicateReport {
    /// The commit.
    pub commit: String,
    /// Copies asked for.
    pub copies: usize,
    /// Peers that held it before.
    pub held_before: Vec<String>,
    /// Peers asked to pin it now.
    pub pinned: Vec<PeerPin>,
    /// Peers that hold it now.
    pub holders: usize,
    /// Peers that could not be used, with why.
    pub failed: Vec<(String, String)>,
}

impl Repo {
    fn peer_remote(&self, name: &str) -> Result<PeerRemote> {
        let info = self
            .remotes()
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| StoreError::Refused(format!("no remote `{name}`")))?;
        match RemoteUrl::parse(&info.url, self.root())? {
            RemoteUrl::Peer(t) => PeerRemote::open_for(name, &t, self.colony_dir()),
            _ => Err(StoreError::Refused(format!(
                "remote `{name}` is not a peer (pins go to peers: add one with `colony remote add {name} TICKET`)"
            ))),
        }
    }

    /// The names of the remotes that are peers.
    pub fn peer_remotes(&self) -> Vec<String> {
        self.remotes()
            .into_iter()
            .filter(|r| crate::ops::remote::is_peer_ticket(&r.url))
            .map(|r| r.name)
            .collect()
    }

    /// Asks peer remote `remote` to fetch `rev`'s snapshot from this dataset and pin it
    /// (as `name`, default the commit id), so that its `gc` keeps it.
    pub fn pin_on(&self, remote: &str, rev: &str, name: Option<&str>) -> Result<PeerPin> {
        let id = self.resolve(rev)?;
        let name = name.map_or_else(|| id.to_string(), str::to_string);
        let peer = self.peer_remote(remote)?;
        let to = super::receive::Target {
            pin: Some(&name),
            ..Default::default()
        };
        // A pin keeps a snapshot: the shards offered are those it needs.
        let plan = |_: &[gix::ObjectId], _: &std::collections::HashSet<crate::Hash>| {
            Ok(snapshot_shards(self, id, None)?.into_iter().collect())
        };
        match peer.send_commit(self, id, to, &plan)? {
            Response::Received { shards, bytes, .. } => Ok(PeerPin {
                remote: remote.to_string(),
                commit: id.to_string(),
                name,
                shards,
                bytes,
            }),
            r => Err(StoreError::Remote {
                remote: remote.into(),
                why: format!("unexpected answer {r:?}"),
            }),
        }
    }

    /// Asks peer remote `remote` to drop its pins on `rev` (a pin name or a revision).
    pub fn unpin_on(&self, remote: &str, rev: &str) -> Result<Vec<String>> {
        let rev = self
            .resolve(rev)
            .map_or_else(|_| rev.to_string(), |id| id.to_string());
        self.peer_remote(remote)?.unpin(&rev)
    }

    /// Per peer remote, how much of `rev`'s snapshot it holds.
    pub fn where_is(&self, rev: &str) -> Result<Vec<Holding>> {
        let id = self.resolve(rev)?;
        let needed = snapshot_shards(self, id, None)?;
        let total: u64 = needed.values().sum();
        let mut out = Vec::new();
        for name in self.peer_remotes() {
            let listed = self
                .remotes()
                .into_iter()
                .find(|r| r.name == name)
                .map(|r| r.url)
                .unwrap_or_default();
            let held = PeerRemote::open(&name, &listed, PeerOptions::default())
                .and_then(|p| p.list_shards());
            let mut h = Holding {
                remote: name,
                shards: 0,
                shards_total: needed.len(),
                bytes: 0,
                bytes_total: total,
                complete: false,
                error: None,
            };
            match held {
                Ok(list) => {
                    for (s, _) in list {
                        if let Some(size) = needed.get(&s) {
                            h.shards += 1;
                            h.bytes += size;
                        }
                    }
                    h.complete = h.shards == h.shards_total;
                }
                Err(e) => h.error = Some(e.to_string()),
            }
            out.push(h);
        }
        Ok(out)
    }

    /// Makes sure at least `copies` peer remotes hold `rev`: asks those that do not,
    /// in order, to pin it until enough do.
    pub fn replicate(&self, rev: &str, copies: usize) -> Result<ReplicateReport> {
        let id = self.resolve(rev)?;
        let holdings = self.where_is(&id.to_string())?;
        let mut r = ReplicateReport {
            commit: id.to_string(),
            copies,
            held_before: holdings
                .iter()
                .filter(|h| h.complete)
                .map(|h| h.remote.clone())
                .collect(),
            pinned: Vec::new(),
            holders: 0,
            failed: Vec::new(),
        };
        r.holders = r.held_before.len();
        for h in holdings.iter().filter(|h| !h.complete) {
            if r.holders >= copies {
                break;
            }
            if let Some(e) = &h.error {
                r.failed.push((h.remote.clone(), e.clone()));
                continue;
            }
            match self.pin_on(&h.remote, &id.to_string(), None) {
                Ok(p) => {
                    r.pinned.push(p);
                    r.holders += 1;
                }
                Err(e) => r.failed.push((h.remote.clone(), e.to_string())),
            }
        }
        if r.holders < copies {
            return Err(StoreError::Refused(format!(
                "only {} of the {copies} copies asked for could be placed ({} peer remotes{}): add more peers with `colony remote add NAME TICKET`",
                r.holders,
                holdings.len(),
                if r.failed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; failed: {}",
                        r.failed
                            .iter()
                            .map(|(n, e)| format!("{n}: {e}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            )));
        }
        Ok(r)
    }
}
