//! Endpoints: the node key, and binding iroh endpoints under colony's offline rules.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use iroh::endpoint::presets;
use iroh::{Endpoint, RelayMode, SecretKey};
use tokio::runtime::Runtime;

use super::protocol::ALPN;
use super::ticket::Ticket;
use crate::error::{Result, StoreError};

/// Where a dataset keeps its node's secret key (mode 0600).
pub fn key_path(colony_dir: &Path) -> std::path::PathBuf {
    colony_dir.join("node.key")
}

/// The node key of the dataset whose `.colony` folder is `colony_dir`, created on
/// first use, so that the node id is stable.
pub fn load_or_create_key(colony_dir: &Path) -> Result<SecretKey> {
    let path = key_path(colony_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    StoreError::Refused(format!(
                        "{} is not a node key (64 hex digits); remove it to make a new one",
                        path.display()
                    ))
                })?;
            Ok(SecretKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            let tmp = path.with_extension("key.tmp");
            {
                use std::io::Write as _;
                use std::os::unix::fs::OpenOptionsExt as _;
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .write(true)
                    .mode(0o600)
                    .open(&tmp)
                    .map_err(|e| StoreError::io(format!("create {}", tmp.display()), e))?;
                f.write_all(hex::encode(key.to_bytes()).as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|e| StoreError::io(format!("write {}", tmp.display()), e))?;
            }
            std::fs::rename(&tmp, &path)
                .map_err(|e| StoreError::io(format!("create {}", path.display()), e))?;
            Ok(key)
        }
        Err(e) => Err(StoreError::io(format!("read {}", path.display()), e)),
    }
}

/// How to bind an endpoint.
#[derive(Clone, Debug, Default)]
pub struct EndpointOptions {
    /// Use iroh's default relays and address lookup (else: direct addresses only, no
    /// relay, no lookup, nothing leaves the local network but what we dial).
    pub relay: bool,
    /// Bind to this address instead of every interface on a random port.
    pub bind: Option<SocketAddr>,
    /// Accept incoming connections for colony's ALPN.
    pub accept: bool,
}

/// A multi-threaded tokio runtime for the peer code (2 workers: the store work runs on
/// blocking threads).
pub fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| StoreError::io("start the network runtime", e))
}

/// Binds an endpoint. Offline (no `relay`): no relay, no address lookup, the port
/// mapper is not built in; `online()` is never awaited.
pub fn bind(rt: &Runtime, key: SecretKey, opts: &EndpointOptions) -> Result<Endpoint> {
    let mut b = if opts.relay {
        Endpoint::builder(presets::N0)
    } else {
        Endpoint::builder(presets::Minimal)
            .relay_mode(RelayMode::Disabled)
            .clear_address_lookup()
    };
    b = b.secret_key(key);
    if opts.accept {
        b = b.alpns(vec![ALPN.to_vec()]);
    }
    if let Some(addr) = opts.bind {
        b = b
            .clear_ip_transports()
            .bind_addr(addr)
            .map_err(|e| StoreError::Refused(format!("cannot bind {addr}: {e}")))?;
    }
    rt.block_on(b.bind())
        .map_err(|e| StoreError::io("bind the network endpoint", std::io::Error::other(e)))
}

/// The ticket of a bound endpoint: its id and direct addresses (and relay, when it
/// has one). Waits briefly for the addresses to be known; falls back to loopback for
/// sockets bound to every interface.
pub fn ticket_of(rt: &Runtime, ep: &Endpoint, relay: bool) -> Ticket {
    let deadline = std::time::Instant::now() + Duration::from_secs(if relay { 5 } else { 2 });
    let mut t = Ticket::from_addr(&ep.addr());
    while (t.addrs.is_empty() || (relay && t.relay.is_none()))
        && std::time::Instant::now() < deadline
    {
        rt.block_on(tokio::time::sleep(Duration::from_millis(50)));
        t = Ticket::from_addr(&ep.addr());
    }
    for s in ep.bound_sockets() {
        let s = if s.ip().is_unspecified() {
            let lo: std::net::IpAddr = if s.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            SocketAddr::new(lo, s.port())
        } else {
            s
        };
        if !t.addrs.contains(&s) {
            t.addrs.push(s);
        }
    }
    t
}
