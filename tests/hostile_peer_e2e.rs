//! Hostile peers against the built `colony serve` (issue 21): a crafted client, built
//! from colony's own peer library, sends what no honest `colony` would, and honest
//! commands run beside it. Streams held idle, frames over the cap and a push
//! conversation that asks for too much are covered against crafted peers in
//! `store/src/peer/hostile_tests.rs`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use colony_store::ops::remote::Remote;
use colony_store::peer::{PeerOptions, PeerRemote};
use common::*;

/// A `colony serve --no-relay` child on loopback, killed on drop; its stderr (a line
/// per request) goes to a file.
struct Server {
    child: Child,
    ticket: String,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("serve.log");
        let mut c = cmd(
            dir,
            &["serve", "--no-relay", "--bind", "127.0.0.1:0", "--json"],
        );
        c.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = c.spawn().expect("start colony serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("serve printed {line:?} ({e})"));
        Server {
            child,
            ticket: v["ticket"].as_str().unwrap().to_string(),
            log,
            _logdir: logdir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` on a thread; fails if it takes longer than `secs` (the attacks below used
/// to hang the server for hours, and the test must fail rather than hang with it).
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|e| panic!("{what}: no result after {secs} s ({e})"))
}

fn output_within(secs: u64, what: &str, mut c: Command) -> Output {
    within(secs, what, move || c.output().expect("run colony"))
}

/// Files with long paths: the backtracking matcher's work grew with the path's length
/// for every `**`.
fn origin() -> tempfile::TempDir {
    let a = dataset();
    let deep = "deep/".repeat(12);
    for i in 0..4 {
        write(
            a.path(),
            &format!("{deep}data/part-number-{i}-of-a-long-series.bin"),
            &random_bytes(200_000, i),
        );
    }
    write(a.path(), "notes/readme.txt", b"penguins\n");
    commit_all(a.path(), "v1");
    a
}

/// The glob `**` × 20 then `Q` (41 bytes) kept `serve` busy for hours and held its
/// chunk index, so that another peer's `clone --paths` hung. Now the crafted client's
/// request is answered at once (nothing matches), a glob over the length cap is refused
/// with a clear error, and an honest sparse clone from another peer completes.
#[test]
fn a_hostile_glob_neither_stalls_serve_nor_an_honest_sparse_clone() {
    let a = origin();
    let commit = head_commit(a.path());
    let server = Server::start(a.path());

    let ticket = server.ticket.clone();
    let hostile = format!("{}Q", "**".repeat(20));
    assert_eq!(hostile.len(), 41);
    let listed = within(120, "the hostile glob", {
        let (ticket, commit, hostile) = (ticket.clone(), commit.clone(), hostile.clone());
        move || {
            let evil = PeerRemote::open(
                "evil",
                &ticket,
                PeerOptions {
                    only: Some((commit, Some(hostile))),
                },
            )
            .unwrap();
            evil.list_shards().map_err(|e| e.to_string())
        }
    });
    assert_eq!(listed, Ok(vec![]), "no file matches");

    let too_long = within(120, "the over-long glob", {
        let (ticket, commit) = (ticket.clone(), commit.clone());
        move || {
            PeerRemote::open(
                "evil",
                &ticket,
                PeerOptions {
                    only: Some((commit, Some(format!("{}Q", "*?".repeat(1000))))),
                },
            )
            .unwrap()
            .list_shards()
            .map_err(|e| e.to_string())
        }
    });
    let why = too_long.unwrap_err();
    assert!(why.contains("2001 bytes") && why.contains("1024"), "{why}");

    // An honest sparse clone, from another node, right after.
    let top = tempfile::tempdir().unwrap();
    let dest = top.path().join("sparse");
    let out = output_within(
        120,
        "the honest clone --paths",
        cmd(
            top.path(),
            &[
                "clone",
                &ticket,
                dest.to_str().unwrap(),
                "--paths",
                "notes/**",
                "--json",
            ],
        ),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["paths"], "notes/**", "{r}");
    assert_eq!(r["all_shards"], false, "{r}");
    assert_eq!(
        std::fs::read(dest.join("notes/readme.txt")).unwrap(),
        b"penguins\n"
    );
    assert!(!dest.join("deep").exists());

    // The same glob semantics as before for honest users: a `**` glob across the deep
    // folders picks the data files.
    let r = json(
        top.path(),
        &[
            "clone",
            &ticket,
            top.path().join("parts2").to_str().unwrap(),
            "--paths",
            "**/part-number-1-*",
        ],
    );
    assert_eq!(r["outside_paths"], 4, "{r}");
    let deep = "deep/".repeat(12);
    assert!(
        top.path()
            .join(format!(
                "parts2/{deep}data/part-number-1-of-a-long-series.bin"
            ))
            .is_file()
    );

    let log = server.log();
    assert!(log.contains("answered snapshot-shards"), "{log}");
    assert!(log.contains("refused snapshot-shards"), "{log}");
}
