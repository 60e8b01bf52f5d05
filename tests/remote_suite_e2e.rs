//! One test body for every kind of remote: another dataset on this machine, an S3 bucket
//! (moto on loopback) and a peer over iroh (`colony serve` on loopback). It pushes a
//! branch with the run records trained on it, clones, pushes again, fetches and pulls,
//! and checks the rule every kind follows: a push sends the shards the pushed history
//! needs, and none of a branch that was not pushed. A new kind of remote gets the whole
//! suite by adding a [`Kind`] and one test line.

mod common;
mod moto;
mod pyhelp;
mod served;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use moto::Moto;
use served::Server;

/// An empty remote of one kind, ready to be pushed to by one dataset.
enum Kind {
    Folder(tempfile::TempDir),
    S3(Moto),
    Peer(Server, tempfile::TempDir),
}

const BUCKET: &str = "suite";
const PREFIX: &str = "datasets/points";

impl Kind {
    fn folder(_pusher: &Path) -> Kind {
        Kind::Folder(dataset())
    }

    fn s3(_pusher: &Path) -> Kind {
        let s3 = Moto::start();
        s3.create_bucket(BUCKET);
        Kind::S3(s3)
    }

    /// A node that lets `pusher` push, and moves its checked-out branch with its work
    /// tree when that is clean.
    fn peer(pusher: &Path) -> Kind {
        let p = dataset();
        let config = p.path().join(".colony/config.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("\n[serve]\nupdate_work_tree = true\n");
        std::fs::write(&config, text).unwrap();
        let me = json(pusher, &["id"])["node_id"]
            .as_str()
            .unwrap()
            .to_string();
        Kind::Peer(Server::start(p.path(), &[&me], &[]), p)
    }

    fn url(&self) -> String {
        match self {
            Kind::Folder(d) => d.path().display().to_string(),
            Kind::S3(_) => format!("s3://{BUCKET}/{PREFIX}"),
            Kind::Peer(s, _) => s.ticket.clone(),
        }
    }

    /// A colony command with whatever environment this kind needs.
    fn colony(&self, dir: &Path, args: &[&str]) -> Command {
        match self {
            Kind::S3(s3) => s3.colony(dir, args),
            _ => cmd(dir, args),
        }
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        ok_cmd(self.colony(dir, args))
    }

    fn json(&self, dir: &Path, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        json_cmd(self.colony(dir, &a))
    }

    /// The ids of the shards the remote holds.
    fn shards(&self) -> BTreeSet<String> {
        match self {
            Kind::Folder(d) | Kind::Peer(_, d) => shard_ids(d.path()),
            Kind::S3(s3) => s3
                .keys(BUCKET, &format!("{PREFIX}/shards/"))
                .iter()
                .filter_map(|k| k.rsplit('/').next().map(str::to_string))
                .collect(),
        }
    }
}

/// The ids of a dataset's shard files.
fn shard_ids(dir: &Path) -> BTreeSet<String> {
    shard_files(dir)
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect()
}

fn suite(make: fn(&Path) -> Kind) {
    let a = dataset_with_points();
    // A branch that is never pushed: the shard of its file must not leave.
    let before = shard_ids(a.path());
    ok(a.path(), &["switch", "-c", "private"]);
    write(a.path(), "private/secret.bin", &random_bytes(300_000, 77));
    commit_all(a.path(), "not for the remote");
    let secret: BTreeSet<String> = shard_ids(a.path()).difference(&before).cloned().collect();
    assert!(!secret.is_empty());
    ok(a.path(), &["switch", "main"]);
    let trained = train_points(a.path());

    let r = make(a.path());
    let url = r.url();
    r.ok(a.path(), &["remote", "add", "r", &url]);

    // Push: the branch's history, the run trained on it, the shards they need.
    let p = r.json(a.path(), &["push", "r", "main"]);
    assert!(p["shards"].as_u64().unwrap() >= 1, "{p}");
    assert_eq!(p["runs_new"], 1, "{p}");
    let held = r.shards();
    assert!(
        held.is_disjoint(&secret),
        "the unpushed branch's shard {secret:?} reached the remote: {held:?}"
    );
    assert_eq!(r.json(a.path(), &["push", "r", "main"])["up_to_date"], true);

    // Clone: byte-exact, with the run and its checkpoints.
    let top = tempfile::tempdir().unwrap();
    r.json(top.path(), &["clone", &url, "b"]);
    let b = top.path().join("b");
    assert_eq!(head_commit(&b), head_commit(a.path()));
    assert_eq!(tree(&b), tree(a.path()));
    assert_run_reproduces(&b, &trained);

    // A second commit: pushed, then fetched (it and nothing twice), then pulled.
    write(a.path(), "data/more.bin", &random_bytes(200_000, 5));
    commit_all(a.path(), "more");
    let p2 = r.json(a.path(), &["push", "r", "main"]);
    assert!(p2["shards"].as_u64().unwrap() >= 1, "{p2}");
    assert!(r.shards().is_disjoint(&secret));
    let f = r.json(&b, &["fetch", "origin"]);
    assert!(f["objects"].as_u64().unwrap() >= 1, "{f}");
    assert!(f["shards"].as_u64().unwrap() >= 1, "{f}");
    let again = r.json(&b, &["fetch", "origin"]);
    assert_eq!(
        (again["objects"].as_u64(), again["shards"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    r.ok(&b, &["pull", "origin", "main"]);
    assert_eq!(head_commit(&b), head_commit(a.path()));
    assert_eq!(tree(&b), tree(a.path()));
    ok(&b, &["verify"]);
}

#[test]
fn the_suite_on_a_folder_remote() {
    suite(Kind::folder);
}

#[test]
fn the_suite_on_an_s3_remote() {
    suite(Kind::s3);
}

#[test]
fn the_suite_on_a_peer_remote() {
    suite(Kind::peer);
}
