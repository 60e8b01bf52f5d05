//! A read-only HTTP gateway and S3-compatible read API over the revisions of one colony
//! dataset: a thin front end on [`colony_store::SnapshotReader`], so every byte it sends
//! has been verified against BLAKE3 the same way `colony verify` checks it.
//!
//! One port serves both protocols (see [`route`] for how a request is told apart):
//!
//! - **Plain HTTP**: `GET`/`HEAD /<rev>/<path>` with `Range`, `ETag` (the file's BLAKE3)
//!   and `If-None-Match`; a folder (or `/<rev>/`) answers a JSON listing. See [`http_api`].
//! - **S3**: path-style, bucket = [`Gateway::bucket`], key = `<rev>/<path>`: `ListObjectsV2`,
//!   `GetObject` (with `Range`), `HeadObject`, `ListBuckets`, `HeadBucket`,
//!   `GetBucketLocation`; every other operation is refused with an S3 error. See
//!   [`s3_api`].
//!
//! `<rev>` is anything [`colony_store::SnapshotReader::open`] accepts: a branch, tag, pin,
//! commit id or a snapshot root. Readers are cached per commit ([`revisions`]).
//!
//! Who may connect ([`Auth`]): by default only loopback binds are allowed and nothing is
//! checked; with a token, plain HTTP needs `Authorization: Bearer <token>` and S3 needs a
//! SigV4 signature with access key [`S3_ACCESS_KEY`] and the token as secret key; binding
//! to any other address without a token needs an explicit [`Auth::Public`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use colony_store::ReaderOptions;

mod body;
pub mod http_api;
pub mod range;
pub mod revisions;
pub mod route;
pub mod s3_api;
mod server;

/// The S3 access key that goes with a token (the token is the secret key).
pub const S3_ACCESS_KEY: &str = "colony";

/// Who may read through the gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// Anyone who can connect; allowed only on a loopback address. S3 clients may sign
    /// with any keys (signatures are not checked) or not at all.
    #[default]
    None,
    /// Plain HTTP needs `Authorization: Bearer <token>`; S3 needs SigV4 with access key
    /// [`S3_ACCESS_KEY`] and this secret key. Anything else is answered 403.
    Token(String),
    /// Anyone who can connect, on any address: the explicit choice to publish.
    Public,
}

/// How to run a [`Gateway`].
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Where to listen (port 0 picks a free one; see [`Gateway::local_addr`]).
    pub bind: SocketAddr,
    /// Who may read.
    pub auth: Auth,
    /// The S3 bucket name; `None` derives it from the dataset folder's name (see
    /// [`bucket_name_for`]).
    pub bucket: Option<String>,
    /// Settings of each revision's reader (cache, readahead, read-through remote).
    pub reader: ReaderOptions,
    /// Readers kept open at once (one per commit; the least recently used is closed
    /// first). Each holds up to `reader.cache_bytes` of cached chunks.
    pub open_revisions: usize,
    /// Threads of the async runtime that parses requests (reads run on blocking threads).
    pub worker_threads: usize,
    /// Serve this commit only (a full commit id): every other revision is answered as
    /// unknown, and the listing of revisions names just this one. A run's own gateway
    /// uses it so that what the run can read is exactly what its record pins.
    pub only_commit: Option<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth: Auth::None,
            bucket: None,
            reader: ReaderOptions::default(),
            open_revisions: 4,
            worker_threads: 2,
            only_commit: None,
        }
    }
}

/// Why a gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A non-loopback bind without a token or an explicit public choice.
    #[error(
        "refusing to serve {addr} without a token: anyone who can reach it could read every revision"
    )]
    Exposed {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The folder is not a colony dataset.
    #[error("{0} is not a colony dataset (no .colony/history)")]
    NotADataset(PathBuf),
    /// The bucket name is not one S3 clients accept.
    #[error("invalid bucket name `{name}`: {why}")]
    InvalidBucket {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// An empty token would let anyone in.
    #[error("the token is empty")]
    EmptyToken,
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server's runtime or thread could not start.
    #[error("cannot start the gateway: {0}")]
    Start(#[source] std::io::Error),
}

/// A running gateway. Stops (and closes every reader) on [`Gateway::shutdown`] or drop.
pub struct Gateway {
    addr: SocketAddr,
    bucket: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Binds `opts.bind` and serves dataset `dataset_root` (the folder holding `.colony`)
    /// on a thread of its own; returns once the socket is listening.
    ///
    /// Errors: [`GatewayError::Exposed`] for a non-loopback bind with [`Auth::None`],
    /// [`GatewayError::EmptyToken`], [`GatewayError::NotADataset`],
    /// [`GatewayError::InvalidBucket`], [`GatewayError::Bind`], [`GatewayError::Start`].
    pub fn start(dataset_root: &Path, opts: GatewayOptions) -> Result<Gateway, GatewayError> {
        match &opts.auth {
            Auth::None if !opts.bind.ip().is_loopback() => {
                return Err(GatewayError::Exposed { addr: opts.bind });
            }
            Auth::Token(t) if t.is_empty() => return Err(GatewayError::EmptyToken),
            _ => {}
        }
        if !dataset_root.join(".colony").join("history").is_dir() {
            return Err(GatewayError::NotADataset(dataset_root.to_path_buf()));
        }
        let bucket = match &opts.bucket {
            Some(b) => {
                check_bucket_name(b)?;
                b.clone()
            }
            None => bucket_name_for(dataset_root),
        };
        let listener =
            std::net::TcpListener::bind(opts.bind).map_err(|source| GatewayError::Bind {
                addr: opts.bind,
                source,
            })?;
        listener
            .set_nonblocking(true)
            .map_err(GatewayError::Start)?;
        let addr = listener.local_addr().map_err(GatewayError::Start)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.worker_threads.max(1))
            .thread_name("colony-gateway")
            .enable_io()
            .enable_time()
            .build()
            .map_err(GatewayError::Start)?;
        let state = Arc::new(server::State::new(dataset_root, &bucket, &opts));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("colony-gateway".into())
            .spawn(move || server::run(runtime, listener, state, stopped))
            .map_err(GatewayError::Start)?;
        Ok(Gateway {
            addr,
            bucket,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of both APIs, e.g. `http://127.0.0.1:8080` (files are at
    /// `<url>/<rev>/<path>`; it is also the S3 endpoint).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The S3 bucket name this gateway answers to.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Stops accepting, ends open connections and waits for the server thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The bucket name derived from a dataset folder: its name lowercased, every character
/// other than `a-z`, `0-9`, `-` and `.` replaced by `-`, runs of `.` collapsed, leading and
/// trailing `-`/`.` trimmed, cut to 63 characters; `colony` when what is left is not a name
/// S3 clients accept (fewer than 3 characters, an IP address, ...).
pub fn bucket_name_for(dataset_root: &Path) -> String {
    let raw = dataset_root
        .canonicalize()
        .unwrap_or_else(|_| dataset_root.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("..") {
        name = name.replace("..", ".");
    }
    let edge = |c: char| c == '-' || c == '.';
    let name: String = name.trim_matches(edge).chars().take(63).collect();
    let name = name.trim_end_matches(edge);
    if check_bucket_name(name).is_ok() {
        name.to_string()
    } else {
        "colony".into()
    }
}

/// Checks a configured bucket name against S3's rules: 3 to 63 characters of `a-z`,
/// `0-9`, `-` and `.`, starting and ending with a letter or digit, no `..`, not an IP
/// address, not starting with `xn--`.
pub fn check_bucket_name(name: &str) -> Result<(), GatewayError> {
    if s3s::path::check_bucket_name(name) {
        return Ok(());
    }
    Err(GatewayError::InvalidBucket {
        name: name.to_string(),
        why: "S3 bucket names are 3 to 63 characters of a-z, 0-9, `-` and `.`, start and end \
              with a letter or digit, have no `..`, and are not IP addresses"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_bucket_names_are_valid() {
        for (dir, want) in [
            ("/x/My Data_Set", "my-data-set"),
            ("/x/.tmpAbC12", "tmpabc12"),
            ("/x/a", "colony"),
            ("/x/penguins", "penguins"),
            ("/x/a..b", "a.b"),
            ("/x/10.0.0.1", "colony"),
        ] {
            let got = bucket_name_for(Path::new(dir));
            assert_eq!(got, want, "{dir}");
            check_bucket_name(&got).unwrap();
        }
    }

    #[test]
    fn bad_bucket_names_are_refused() {
        for n in [
            "ab",
            "Upper",
            "-x-y",
            "a..b",
            "has space",
            "1.2.3.4",
            &"x".repeat(64),
        ] {
            assert!(check_bucket_name(n).is_err(), "{n}");
        }
    }

    #[test]
    fn exposed_bind_without_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = GatewayOptions {
            bind: "0.0.0.0:0".parse().unwrap(),
            ..Default::default()
        };
        let err = Gateway::start(dir.path(), opts).err().unwrap();
        assert!(matches!(err, GatewayError::Exposed { .. }), "{err}");
        let opts = GatewayOptions {
            auth: Auth::Token(String::new()),
            ..Default::default()
        };
        let err = Gateway::start(dir.path(), opts).err().unwrap();
        assert!(matches!(err, GatewayError::EmptyToken), "{err}");
    }
}
