//! Hostile peers (issue 21): crafted clients and crafted nodes, built from the same
//! endpoint code, against a node serving in a thread and a pushing dataset.
//!
//! Each test runs its body under a watchdog: on the code before the fixes the attacks
//! hang (a stream waits forever, a 4 GiB frame is awaited), and the watchdog turns that
//! into a failure instead of a stuck test run.

use std::sync::mpsc;
use std::time::Duration;

use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::{Endpoint, SecretKey};
use tokio::runtime::Runtime;

use super::link::Link;
use super::node::{EndpointOptions, bind, runtime, ticket_of};
use super::protocol::{ALPN, Request, Response, encode_frame, read_frame_async};
use super::*;
use crate::ops::remote::Remote;
use crate::repo::{InitOptions, Repo};

/// Runs `body` on a thread and fails if it has not finished within `secs`.
fn watchdog(secs: u64, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: report its panic.
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("still running after {secs} s"),
    }
}

fn dataset_with(dir: &std::path::Path, files: &[(&str, usize, u8)]) -> (Repo, gix::ObjectId) {
    let repo = match Repo::init(dir, &InitOptions::default()) {
        Ok(r) => r,
        Err(_) => Repo::open(dir, crate::repo::Access::Write, &|_| {}).unwrap(),
    };
    for (name, len, seed) in files {
        let bytes: Vec<u8> = (0..*len)
            .map(|i| (i as u8).wrapping_mul(*seed).wrapping_add(i as u8 >> 3))
            .collect();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    repo.add(&[String::new()]).unwrap();
    let c = repo.commit("test", false).unwrap();
    (repo, gix::ObjectId::from_hex(c.commit.as_bytes()).unwrap())
}

fn serve_with(root: std::path::PathBuf, limits: Limits) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let opts = ServeOptions {
            endpoint: EndpointOptions {
                relay: false,
                bind: Some("127.0.0.1:0".parse().unwrap()),
                accept: true,
            },
            limits,
            ..Default::default()
        };
        let _ = serve(&root, &opts, &|s| tx.send(s.ticket.clone()).unwrap());
    });
    rx.recv().unwrap()
}

/// A raw client: its own key, one connection to the node behind `ticket`.
struct Raw {
    rt: Runtime,
    _ep: Endpoint,
    conn: Connection,
}

impl Raw {
    fn connect(ticket: &str) -> Raw {
        let rt = runtime().unwrap();
        let ep = bind(&rt, SecretKey::generate(), &EndpointOptions::default()).unwrap();
        let t = Ticket::parse(ticket).unwrap();
        let conn = rt.block_on(ep.connect(t.to_addr(), ALPN)).unwrap();
        Raw { rt, _ep: ep, conn }
    }

    /// A stream that has sent half of a frame's length and then nothing: the node
    /// sees it, and waits for the rest.
    fn idle_stream(&self) -> (SendStream, RecvStream) {
        self.rt.block_on(async {
            let (mut s, r) = self.conn.open_bi().await.unwrap();
            s.write_all(&[1, 0]).await.unwrap();
            (s, r)
        })
    }

    /// Sends `req` on a new stream and reads the answer's header.
    fn ask(&self, req: &Request) -> Response {
        self.rt.block_on(async {
            let (mut s, mut r) = self.conn.open_bi().await.unwrap();
            s.write_all(&encode_frame(req).unwrap()).await.unwrap();
            let _ = s.finish();
            read_frame_async::<Response>(&mut r).await.unwrap()
        })
    }

    /// The answer that arrives on a stream opened earlier.
    fn answer_on(&self, r: &mut RecvStream) -> Response {
        self.rt.block_on(read_frame_async::<Response>(r)).unwrap()
    }
}

fn error_of(r: Response) -> String {
    match r {
        Response::Error(why) => why,
        r => panic!("expected a refusal, got {r:?}"),
    }
}

fn honest_refs(ticket: &str) -> crate::error::Result<Vec<(String, gix::ObjectId)>> {
    PeerRemote::open("honest", ticket, PeerOptions::default())?.list_refs()
}

/// Streams that never deliver a request used to hold a blocking thread each, forever
/// and without limit. Now one peer has at most `per_peer` open: the next is refused as
/// busy at once while another peer is still served, and the idle ones are answered
/// with an error after the request timeout, which frees their places.
#[test]
fn idle_streams_beyond_the_per_peer_limit_are_refused_and_time_out() {
    watchdog(120, || {
        let dir = tempfile::tempdir().unwrap();
        let (repo, c1) = dataset_with(dir.path(), &[("x.bin", 100_000, 7)]);
        drop(repo); // `serve` opens it per request
        let ticket = serve_with(
            dir.path().to_path_buf(),
            Limits {
                per_peer: 2,
                global: 3,
                request_timeout: Duration::from_secs(3),
                ..Limits::default()
            },
        );
        let attacker = Raw::connect(&ticket);
        let mut idle: Vec<_> = (0..2).map(|_| attacker.idle_stream()).collect();
        let why = error_of(attacker.ask(&Request::Refs));
        assert!(why.contains("busy") && why.contains("at most 2"), "{why}");
        // Another peer is served meanwhile.
        let refs = honest_refs(&ticket).unwrap();
        assert_eq!(refs, vec![("main".to_string(), c1)]);
        // The idle streams are answered with an error once the request timeout passes,
        // and their places are free again.
        for (_, r) in &mut idle {
            let why = error_of(attacker.answer_on(r));
            assert!(why.contains("no request arrived within"), "{why}");
        }
        assert!(matches!(attacker.ask(&Request::Refs), Response::Refs(_)));
    });
}

/// Many node ids together fill the global limit: then everyone is told the node is
/// busy, no thread is held for the idle streams, and the node serves again once they
/// time out.
#[test]
fn the_global_limit_holds_across_peers() {
    watchdog(120, || {
        let dir = tempfile::tempdir().unwrap();
        let (repo, c1) = dataset_with(dir.path(), &[("x.bin", 100_000, 7)]);
        drop(repo); // `serve` opens it per request
        let ticket = serve_with(
            dir.path().to_path_buf(),
            Limits {
                per_peer: 2,
                global: 3,
                request_timeout: Duration::from_secs(3),
                ..Limits::default()
            },
        );
        let a = Raw::connect(&ticket);
        let mut idle: Vec<_> = (0..2).map(|_| a.idle_stream()).collect();
        // A's limit reached: proves both of its streams hold places.
        assert!(error_of(a.ask(&Request::Refs)).contains("at most 2"));
        let c = Raw::connect(&ticket);
        idle.push(c.idle_stream());
        let why = error_of(c.ask(&Request::Refs));
        assert!(why.contains("busy") && why.contains("at most 3"), "{why}");
        let err = honest_refs(&ticket).unwrap_err().to_string();
        assert!(err.contains("busy"), "{err}");
        for (i, (_, r)) in idle.iter_mut().enumerate() {
            let who = if i < 2 { &a } else { &c };
            assert!(error_of(who.answer_on(r)).contains("no request arrived"));
        }
        assert_eq!(
            honest_refs(&ticket).unwrap(),
            vec![("main".to_string(), c1)]
        );
    });
}

/// A node that lets this test answer the first push or pin request itself: `node`
/// gets the connection, the runtime and the request's stream.
fn crafted_node(
    node: impl FnOnce(&Runtime, Connection, SendStream, RecvStream) + Send + 'static,
) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = runtime().unwrap();
        let ep = bind(
            &rt,
            SecretKey::generate(),
            &EndpointOptions {
                relay: false,
                bind: Some("127.0.0.1:0".parse().unwrap()),
                accept: true,
            },
        )
        .unwrap();
        tx.send(ticket_of(&rt, &ep, false).to_string()).unwrap();
        let conn = rt
            .block_on(async { ep.accept().await.unwrap().await })
            .unwrap();
        let (s, r) = rt.block_on(conn.accept_bi()).unwrap();
        let asker = conn.clone();
        node(&rt, conn, s, r);
        // Stay up until the pusher has read the answer and gone: closing the endpoint
        // at once abandons an answer still in flight (the pusher then saw "connection
        // lost", one run in three).
        let _ = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), asker.closed()).await
        });
        let _ =
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), ep.close()).await });
    });
    rx.recv().unwrap()
}

/// A peer you push to used to be able to read every ref, object and shard you hold.
/// Now the conversation offers the commit pushed, its history and its snapshot's
/// shards; the crafted node's other requests are refused.
#[test]
fn a_node_you_push_to_gets_the_pushed_commit_only() {
    watchdog(120, || {
        let dir = tempfile::tempdir().unwrap();
        let (repo, c1) = dataset_with(dir.path(), &[("pushed.bin", 200_000, 7)]);
        let pushed_shards: Vec<crate::Hash> = crate::ops::sparse::snapshot_shards(&repo, c1, None)
            .unwrap()
            .into_keys()
            .collect();
        drop(repo);
        // A later commit, with a file in a shard of its own, is not pushed.
        let (repo, secret) = dataset_with(dir.path(), &[("secret.bin", 150_000, 11)]);
        let secret_shard = *crate::ops::sparse::snapshot_shards(&repo, secret, None)
            .unwrap()
            .keys()
            .find(|s| !pushed_shards.contains(s))
            .expect("the secret file has a shard of its own");
        let sink = tempfile::tempdir().unwrap();
        let sink_path = sink.path().to_path_buf();
        let (report, got) = mpsc::channel();
        let ticket = crafted_node(move |rt, conn, mut s, mut r| {
            let asked: Request = rt.block_on(read_frame_async(&mut r)).unwrap();
            assert!(matches!(asked, Request::Receive { .. }), "{asked:?}");
            let link = Link::new(rt.handle().clone(), conn, "pusher");
            let into = Repo::init(&sink_path, &InitOptions::default()).unwrap();
            let tmp = sink_path.join("probe");
            let mut refused = Vec::new();
            let mut e = |what: &str, r: crate::error::Result<()>| {
                let why = r.expect_err(what).to_string();
                assert!(why.contains("not offered"), "{what}: {why}");
                refused.push(what.to_string());
            };
            e("refs", link.refs().map(drop));
            e("shards", link.shards(&Request::Shards).map(drop));
            e(
                "secret snapshot",
                link.shards(&Request::SnapshotShards {
                    commit: secret.to_string(),
                    paths: None,
                })
                .map(drop),
            );
            e(
                "secret history",
                link.objects(into.history(), &[secret], &[]).map(drop),
            );
            e(
                "secret shard",
                link.shard(&secret_shard, &tmp, &|_| {}).map(drop),
            );
            // What the push needs is answered.
            let listed = link
                .shards(&Request::SnapshotShards {
                    commit: c1.to_string(),
                    paths: None,
                })
                .unwrap();
            let _ = std::fs::remove_file(&tmp);
            link.shard(&listed[0].0, &tmp, &|_| {}).unwrap();
            let objects = link.objects(into.history(), &[c1], &[]).unwrap();
            assert!(objects >= 3);
            let answer = Response::Received {
                old: None,
                objects,
                shards: listed.len(),
                bytes: 0,
                up_to_date: false,
                runs_new: 0,
            };
            rt.block_on(s.write_all(&encode_frame(&answer).unwrap()))
                .unwrap();
            let _ = s.finish();
            report.send(refused).unwrap();
        });
        let node = PeerRemote::open("crafted", &ticket, PeerOptions::default()).unwrap();
        node.push(&repo, "main", c1, false).unwrap();
        assert_eq!(got.recv().unwrap().len(), 5);
    });
}

/// The push conversation read the peer's answer frame with no cap: a node announcing
/// a 4 GiB answer made the pusher allocate it and wait for it. Now the length alone is
/// refused, with an error that says so.
#[test]
fn an_answer_frame_over_the_cap_is_refused() {
    watchdog(120, || {
        let dir = tempfile::tempdir().unwrap();
        let (repo, c1) = dataset_with(dir.path(), &[("x.bin", 50_000, 7)]);
        let ticket = crafted_node(move |rt, _conn, mut s, _r| {
            rt.block_on(s.write_all(&u32::MAX.to_le_bytes())).unwrap();
            // Then nothing: the old reader waited here for 4 GiB.
            std::thread::sleep(Duration::from_secs(20));
        });
        let node = PeerRemote::open("crafted", &ticket, PeerOptions::default()).unwrap();
        let err = node.push(&repo, "main", c1, false).unwrap_err().to_string();
        assert!(err.contains("4294967295") && err.contains("limit"), "{err}");
    });
}
