//! Peers over iroh: `colony serve --no-relay` child processes on loopback, and the
//! commands that fetch from, push to and pin on them.

mod common;
mod served;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use served::{Server, cmd_in};

fn head_commit(dir: &Path) -> String {
    json(dir, &["log", "-n", "1"])[0]["commit"]
        .as_str()
        .unwrap()
        .to_string()
}

fn node_id(dir: &Path) -> String {
    json(dir, &["id"])["node_id"].as_str().unwrap().to_string()
}

fn origin(sizes: &[usize]) -> tempfile::TempDir {
    let a = dataset();
    for (i, s) in sizes.iter().enumerate() {
        write(
            a.path(),
            &format!("data/part{i}.bin"),
            &random_bytes(*s, i as u64 + 1),
        );
    }
    write(a.path(), "notes/readme.txt", b"penguins\n");
    commit_all(a.path(), "v1");
    a
}

#[test]
fn fetch_over_iroh_is_byte_exact_and_moves_nothing_twice() {
    let a = origin(&[1_500_000, 700_000]);
    let id = node_id(a.path());
    assert_eq!(id, node_id(a.path()), "the node id is stable");
    let server = Server::start(a.path(), &[], &[]);
    assert_eq!(server.node_id, id);
    assert!(server.ticket.starts_with("colony1"));

    let b = dataset();
    ok(b.path(), &["remote", "add", "origin", &server.ticket]);
    let f = json(b.path(), &["fetch", "origin"]);
    assert!(f["objects"].as_u64().unwrap() >= 3, "{f}");
    assert!(f["shards"].as_u64().unwrap() >= 1, "{f}");
    let f2 = json(b.path(), &["fetch", "origin"]);
    assert_eq!(f2["objects"], 0, "{f2}");
    assert_eq!(f2["shards"], 0, "{f2}");
    ok(b.path(), &["verify", "origin/main"]);
    ok(b.path(), &["checkout", "origin/main"]);
    ok(b.path(), &["switch", "-c", "main"]);
    assert_eq!(tree(b.path()), tree(a.path()));
    ok(b.path(), &["fsck"]);

    // New commits: only what is missing moves.
    write(a.path(), "data/more.bin", &random_bytes(300_000, 77));
    commit_all(a.path(), "v2");
    let f3 = json(b.path(), &["fetch", "origin"]);
    assert_eq!(f3["shards"], 1, "{f3}");
    assert!(f3["objects"].as_u64().unwrap() <= 6, "{f3}");
    ok(b.path(), &["merge", "origin/main"]);
    assert_eq!(tree(b.path()), tree(a.path()));
}

#[test]
fn a_lying_peer_is_caught_and_an_honest_one_completes_the_fetch() {
    let a = origin(&[2_000_000]);
    let top = tempfile::tempdir().unwrap();
    let honest_dir = top.path().join("honest");
    ok(a.path(), &["fork", ".", honest_dir.to_str().unwrap()]);
    let liar = Server::start(a.path(), &[], &[("COLONY_TEST_LIE", "flip")]);
    let honest = Server::start(&honest_dir, &[], &[]);
    let shard = shard_files(a.path())[0]
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let b = dataset();
    ok(b.path(), &["remote", "add", "liar", &liar.ticket]);
    let err = fails(b.path(), &["fetch", "liar"]);
    assert!(err.contains(&liar.node_id), "names the peer: {err}");
    assert!(err.contains(&shard), "names the shard: {err}");
    assert!(err.contains("BLAKE3"), "{err}");
    // Nothing unverified landed: no shard, and the partial file holds whole verified
    // groups only (the flip is in the middle, so the first half stays for resume).
    assert!(shard_files(b.path()).is_empty());
    let partial = b.path().join(format!(".colony/shards/tmp/partial-{shard}"));
    let kept = std::fs::metadata(&partial).map_or(0, |m| m.len());
    assert_eq!(kept % (16 * 1024), 0, "{kept}");
    let size = std::fs::metadata(&shard_files(a.path())[0]).unwrap().len();
    assert!(kept <= size / 2, "{kept} of {size}");
    let bad = std::fs::read(&partial).unwrap_or_default();
    assert_eq!(
        bad[..],
        std::fs::read(&shard_files(a.path())[0]).unwrap()[..bad.len()]
    );
    assert!(fails(b.path(), &["cat", "liar/main:notes/readme.txt"]).contains("liar/main"));

    // With an honest peer next to the liar, the fetch completes.
    let both = format!("{},{}", liar.ticket, honest.ticket);
    ok(b.path(), &["remote", "add", "swarm", &both]);
    let f = json(b.path(), &["fetch", "swarm"]);
    assert_eq!(f["shards"], 1, "{f}");
    ok(b.path(), &["verify", "swarm/main"]);
    ok(b.path(), &["checkout", "swarm/main"]);
    assert_eq!(tree(b.path()), tree(a.path()));
    ok(b.path(), &["fsck"]);
}

/// How many peers in a `colony where --json` answer hold the whole snapshot.
fn complete_holders(w: &serde_json::Value) -> usize {
    w.as_array()
        .unwrap()
        .iter()
        .filter(|h| h["complete"] == true)
        .count()
}

/// Bytes of the shards that landed in the dataset at `dir`.
fn shard_bytes(dir: &Path) -> u64 {
    shard_files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// Bytes of partial shards (`partial-*`) in `tmp`.
fn partial_bytes(tmp: &Path) -> u64 {
    std::fs::read_dir(tmp)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("partial-"))
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum()
        })
        .unwrap_or(0)
}

/// Kills `child` with SIGKILL once `tmp` holds 8 MiB of partial shards; panics if it
/// finished first.
fn kill_halfway(mut child: Child, tmp: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    while Instant::now() < deadline {
        if partial_bytes(tmp) >= 8 << 20 {
            child.kill().unwrap(); // SIGKILL
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.wait();
    assert!(killed, "the transfer finished before it could be killed");
}

/// Bytes of the shards that landed in the dataset at `dir` and of its partial shards.
fn landed_and_partial(dir: &Path) -> (u64, u64) {
    let landed = shard_bytes(dir);
    let partial = std::fs::read_dir(dir.join(".colony/shards/tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    (landed, partial)
}

#[test]
fn a_killed_fetch_resumes_and_moves_only_the_missing_part() {
    // Two shards (64 MiB and the rest).
    let a = origin(&[100 << 20]);
    let server = Server::start(a.path(), &[], &[]);
    let total = shard_bytes(a.path());
    let b = dataset();
    ok(b.path(), &["remote", "add", "origin", &server.ticket]);
    let child = cmd(b.path(), &["fetch", "origin", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_halfway(child, &b.path().join(".colony/shards/tmp"));
    let (landed, partial) = landed_and_partial(b.path());
    let before = server.sent();
    let f = json(b.path(), &["fetch", "origin"]);
    assert!(f["shards"].as_u64().unwrap() >= 1, "{f}");
    let moved = server.sent() - before;
    // The receiver's own count of the bytes that arrived agrees with the sender's.
    assert_eq!(f["moved"].as_u64().unwrap(), moved, "{f}");
    assert!(f["bytes"].as_u64().unwrap() > moved, "{f}");
    let missing = total - landed - partial;
    assert!(
        moved <= missing + (64 << 10),
        "resume moved {moved} bytes; missing were {missing} (total {total}, landed {landed}, partial {partial})"
    );
    assert!(moved < total - (8 << 20), "{moved} of {total}");
    ok(b.path(), &["verify", "origin/main"]);
    ok(b.path(), &["checkout", "origin/main"]);
    assert_eq!(tree(b.path()), tree(a.path()));
}

/// One node answers several peers at once (each connection reads the store beside the
/// others), while its own user reads the same dataset.
#[test]
fn one_node_serves_two_clones_at_once() {
    let a = origin(&[6_000_000, 3_000_000]);
    let server = Server::start(a.path(), &[], &[]);
    let top = tempfile::tempdir().unwrap();
    let clones: Vec<_> = ["c1", "c2"]
        .iter()
        .map(|name| {
            cmd(top.path(), &["clone", &server.ticket, name, "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // The node's user reads data (chunks) while both clones run.
    for _ in 0..3 {
        ok(a.path(), &["verify", "HEAD"]);
    }
    for (child, name) in clones.into_iter().zip(["c1", "c2"]) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "clone {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(tree(&top.path().join(name)), tree(a.path()));
    }
}

#[test]
fn a_killed_clone_resumes_and_moves_only_the_missing_part() {
    let a = origin(&[100 << 20]);
    let server = Server::start(a.path(), &[], &[]);
    let total = shard_bytes(a.path());
    let top = tempfile::tempdir().unwrap();
    let child = cmd(top.path(), &["clone", &server.ticket, "c", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let c = top.path().join("c");
    kill_halfway(child, &c.join(".colony/shards/tmp"));
    assert!(
        c.join(".colony/cloning").exists(),
        "a killed clone leaves its marker"
    );
    let (landed, partial) = landed_and_partial(&c);
    let before = server.sent();
    // The same command, run again, finishes the clone.
    let r = json(top.path(), &["clone", &server.ticket, "c"]);
    assert_eq!(r["resumed"], true, "{r}");
    let moved = server.sent() - before;
    assert_eq!(r["fetch"]["moved"].as_u64().unwrap(), moved, "{r}");
    let missing = total - landed - partial;
    assert!(
        moved <= missing + (64 << 10),
        "resume moved {moved} bytes; missing were {missing} (total {total}, landed {landed}, partial {partial})"
    );
    assert!(!c.join(".colony/cloning").exists());
    assert_eq!(tree(&c), tree(a.path()));
    ok(&c, &["fsck"]);
}

#[test]
fn pins_on_a_peer_need_allow_and_survive_its_gc() {
    let a = origin(&[1_000_000, 400_000]);
    let commit = head_commit(a.path());
    let me = node_id(a.path());
    let p = dataset();
    let server = Server::start(p.path(), &[&me], &[]);
    ok(a.path(), &["remote", "add", "p", &server.ticket]);

    let w = json(a.path(), &["where", "HEAD"]);
    assert_eq!(w[0]["remote"], "p", "{w}");
    assert_eq!(w[0]["shards"], 0, "{w}");
    assert_eq!(w[0]["complete"], false, "{w}");

    let r = json(a.path(), &["pin", "HEAD", "--on", "p", "--name", "keep"]);
    assert_eq!(r["commit"], commit.as_str(), "{r}");
    assert!(r["shards"].as_u64().unwrap() >= 1, "{r}");
    let pins = json(p.path(), &["pin"]);
    assert_eq!(pins[0]["name"], "keep", "{pins}");
    // gc on the peer (while it serves) keeps the pinned snapshot.
    ok(p.path(), &["gc"]);
    ok(p.path(), &["verify", &commit]);
    let w = json(a.path(), &["where", "HEAD"]);
    assert_eq!(w[0]["complete"], true, "{w}");
    assert_eq!(w[0]["bytes"], w[0]["bytes_total"], "{w}");

    // Another node, not allowed, is refused with its id and how to allow it.
    let c = origin(&[10_000]);
    let other = node_id(c.path());
    ok(c.path(), &["remote", "add", "p", &server.ticket]);
    let err = fails(c.path(), &["pin", "HEAD", "--on", "p"]);
    assert!(err.contains(&other) && err.contains("--allow"), "{err}");
    assert_eq!(json(p.path(), &["pin"]).as_array().unwrap().len(), 1);

    let u = json(a.path(), &["unpin", "keep", "--on", "p"]);
    assert_eq!(u["unpinned"][0], "keep", "{u}");
    assert_eq!(json(p.path(), &["pin"]).as_array().unwrap().len(), 0);
}

#[test]
fn replicate_to_two_of_three_peers_then_lose_one() {
    let a = origin(&[1_200_000]);
    let me = node_id(a.path());
    let peers: Vec<_> = (0..3).map(|_| dataset()).collect();
    let mut servers: Vec<Server> = peers
        .iter()
        .map(|p| Server::start(p.path(), &[&me], &[]))
        .collect();
    for (i, s) in servers.iter().enumerate() {
        ok(a.path(), &["remote", "add", &format!("p{i}"), &s.ticket]);
    }
    let r = json(a.path(), &["replicate", "HEAD", "--copies", "2"]);
    assert_eq!(r["holders"], 2, "{r}");
    assert_eq!(r["pinned"].as_array().unwrap().len(), 2, "{r}");
    let w = json(a.path(), &["where", "HEAD"]);
    assert_eq!(complete_holders(&w), 2, "{w}");
    // Asking again places nothing new.
    let again = json(a.path(), &["replicate", "HEAD", "--copies", "2"]);
    assert_eq!(again["pinned"].as_array().unwrap().len(), 0, "{again}");

    // One holder goes away; a newcomer still gets the snapshot from the others.
    let holder = r["pinned"][0]["remote"].as_str().unwrap();
    let i: usize = holder[1..].parse().unwrap();
    servers[i].stop();
    let all = servers
        .iter()
        .map(|s| s.ticket.clone())
        .collect::<Vec<_>>()
        .join(",");
    let d = dataset();
    ok(d.path(), &["remote", "add", "swarm", &all]);
    let commit = head_commit(a.path());
    json(d.path(), &["fetch", "swarm"]);
    ok(d.path(), &["verify", &format!("swarm/pins/{commit}")]);
    ok(d.path(), &["checkout", &format!("swarm/pins/{commit}")]);
    assert_eq!(tree(d.path()), tree(a.path()));
}

#[test]
fn push_over_iroh_needs_allow_and_fast_forwards() {
    let a = origin(&[900_000]);
    let p = dataset();
    let me = node_id(a.path());
    let server = Server::start(p.path(), &[&me], &[]);
    ok(a.path(), &["remote", "add", "p", &server.ticket]);
    let r = json(a.path(), &["push", "p", "main"]);
    assert!(r["shards"].as_u64().unwrap() >= 1, "{r}");
    ok(p.path(), &["verify", "main"]);
    ok(p.path(), &["checkout", "main", "--force"]);
    assert_eq!(tree(p.path()), tree(a.path()));
    let again = json(a.path(), &["push", "p", "main"]);
    assert_eq!(again["up_to_date"], true, "{again}");

    // `main` is now checked out on the peer: a push does not move it under its work
    // tree unless the peer's owner allows it, and then only into a clean work tree.
    write(a.path(), "data/more.bin", &random_bytes(50_000, 9));
    commit_all(a.path(), "v2");
    let err = fails(a.path(), &["push", "p", "main"]);
    assert!(
        err.contains("checked out") && err.contains("serve.update_work_tree"),
        "{err}"
    );
    let config = p.path().join(".colony/config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[serve]\nupdate_work_tree = true\n");
    std::fs::write(&config, text).unwrap();
    write(p.path(), "notes/readme.txt", b"local edit\n");
    let err = fails(a.path(), &["push", "p", "main"]);
    assert!(
        err.contains("uncommitted") && err.contains("notes/readme.txt"),
        "{err}"
    );
    ok(p.path(), &["checkout", "main", "--force"]);
    json(a.path(), &["push", "p", "main"]);
    assert_eq!(tree(p.path()), tree(a.path()));
    assert!(
        json(p.path(), &["status"])["unstaged"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let c = origin(&[5_000]);
    let other = node_id(c.path());
    ok(c.path(), &["remote", "add", "p", &server.ticket]);
    let err = fails(c.path(), &["push", "p", "main"]);
    assert!(err.contains(&other) && err.contains("--allow"), "{err}");
}

#[test]
fn clone_over_iroh_with_paths() {
    let a = origin(&[700_000, 300_000]);
    let server = Server::start(a.path(), &[], &[]);
    let top = tempfile::tempdir().unwrap();
    let dest = top.path().join("c");
    let r = json(
        top.path(),
        &["clone", &server.ticket, dest.to_str().unwrap()],
    );
    assert!(r["fetch"]["shards"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(tree(&dest), tree(a.path()));
    ok(&dest, &["fsck"]);
}

fn files_of(dir: &Path) -> Vec<String> {
    tree(dir).into_keys().collect()
}

#[test]
fn sparse_clone_moves_only_the_shards_its_paths_need() {
    // Two commits, so two shards: data/keep/* in the first, big/* in the second.
    let a = dataset();
    write(a.path(), "data/keep/a.bin", &random_bytes(600_000, 1));
    write(a.path(), "data/keep/b.txt", b"kept\n");
    commit_all(a.path(), "v1");
    write(a.path(), "big/b.bin", &random_bytes(1_500_000, 2));
    write(a.path(), "notes/readme.txt", b"penguins\n");
    commit_all(a.path(), "v2");
    let shards = shard_files(a.path());
    assert_eq!(shards.len(), 2, "{shards:?}");
    let size = |p: &PathBuf| std::fs::metadata(p).unwrap().len();
    let needed = json(a.path(), &["log", "-n", "2"]); // newest first
    let v1 = needed[1]["commit"].as_str().unwrap().to_string();
    let server = Server::start(a.path(), &[], &[]);

    let top = tempfile::tempdir().unwrap();
    let dest = top.path().join("c");
    let r = json(
        top.path(),
        &[
            "clone",
            &server.ticket,
            dest.to_str().unwrap(),
            "--paths",
            "data/**",
        ],
    );
    // One shard moved, the smaller one (v1's), and the sender agrees on the bytes.
    assert_eq!(r["fetch"]["shards"], 1, "{r}");
    let small = shards.iter().map(size).min().unwrap();
    assert_eq!(r["fetch"]["bytes"].as_u64().unwrap(), small, "{r}");
    assert_eq!(r["fetch"]["moved"].as_u64().unwrap(), small, "{r}");
    assert_eq!(server.sent(), small);
    assert_eq!(r["paths"], "data/**", "{r}");
    assert_eq!(r["all_shards"], false, "{r}");
    assert_eq!(r["outside_paths"], 2, "{r}");
    assert_eq!(r["checked_out"], 2, "{r}");
    // The files under the glob, byte-exact, and nothing else.
    let want: std::collections::BTreeMap<_, _> = tree(a.path())
        .into_iter()
        .filter(|(p, _)| p.starts_with("data/"))
        .collect();
    assert_eq!(tree(&dest), want);
    // The rest is absent on purpose: status is clean and says so; fsck warns only.
    let st = json(&dest, &["status"]);
    assert_eq!(st["unstaged"].as_array().unwrap().len(), 0, "{st}");
    assert_eq!(st["sparse"][0], "data/**", "{st}");
    let fsck = json(&dest, &["fsck"]);
    assert_eq!(fsck["ok"], true, "{fsck}");
    assert!(fsck["warnings"].to_string().contains("sparse"), "{fsck}");
    ok(&dest, &["verify", &v1]);
    // Reading a file outside says what to do.
    let err = fails(&dest, &["checkout", "HEAD", "--", "big/b.bin"]);
    assert!(
        err.contains("sparse") && err.contains("colony fetch origin"),
        "{err}"
    );
    // A commit made here keeps the files it does not have.
    write(&dest, "data/keep/b.txt", b"edited\n");
    let c = json(&dest, &["commit", "-a", "-m", "edit"]);
    assert_eq!(c["root"].as_str().map(str::len), Some(64), "{c}");
    let d = json(&dest, &["diff", "HEAD~1", "HEAD"]);
    assert_eq!(d.to_string().matches("\"path\"").count(), 1, "{d}");

    // Fetching the rest makes the other paths available.
    let f = json(&dest, &["fetch", "origin"]);
    assert_eq!(f["shards"], 1, "{f}");
    ok(&dest, &["checkout", "HEAD", "--", "big"]);
    assert_eq!(
        std::fs::read(dest.join("big/b.bin")).unwrap(),
        std::fs::read(a.path().join("big/b.bin")).unwrap()
    );
    assert!(files_of(&dest).contains(&"big/b.bin".to_string()));
    ok(&dest, &["verify", "HEAD"]);

    // A folder remote answers the same question from its index.
    let local = top.path().join("l");
    let r = json(
        top.path(),
        &[
            "clone",
            a.path().to_str().unwrap(),
            local.to_str().unwrap(),
            "--paths",
            "big/*.bin",
            "--rev",
            &head_commit(a.path()),
        ],
    );
    assert_eq!(r["fetch"]["shards"], 1, "{r}");
    assert_eq!(
        r["fetch"]["bytes"].as_u64().unwrap(),
        shards.iter().map(size).max().unwrap(),
        "{r}"
    );
    assert_eq!(files_of(&local), vec!["big/b.bin".to_string()]);
}

#[test]
fn run_records_travel_over_iroh() {
    let a = dataset_with_points();
    let trained = train_points(a.path());
    let run = trained["run"].as_str().unwrap().to_string();
    let p = dataset();
    let server = Server::start(p.path(), &[&node_id(a.path())], &[]);
    ok(a.path(), &["remote", "add", "p", &server.ticket]);
    let r = json(a.path(), &["push", "p", "main"]);
    assert_eq!(
        (r["runs"].as_u64(), r["runs_new"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert!(r.get("runs_not_carried").is_none(), "{r}");
    let listed = json(p.path(), &["run", "list"]);
    assert_eq!(listed[0]["id"], run.as_str(), "{listed}");
    assert_eq!(json(a.path(), &["push", "p", "main"])["runs_new"], 0);

    // A clone over iroh brings the run with its checkpoints; its steps re-execute there
    // to the same hashes.
    let top = tempfile::tempdir().unwrap();
    json(top.path(), &["clone", &server.ticket, "c"]);
    let c = top.path().join("c");
    assert_run_reproduces(&c, &trained);
    // Runs are not branches: the clone tracks no `origin/runs/…`.
    let out = std::process::Command::new("git")
        .args(["--git-dir", c.join(".colony/history").to_str().unwrap()])
        .args(["for-each-ref", "--format=%(refname)"])
        .output()
        .unwrap();
    let refs = String::from_utf8_lossy(&out.stdout);
    assert!(refs.contains(&format!("refs/runs/{run}")), "{refs}");
    assert!(!refs.contains("refs/remotes/origin/runs/"), "{refs}");
}

/// Hosts on one Ethernet segment: a network namespace each, joined by veth pairs to a
/// bridge in a hub namespace, host `i` at 10.231.0.(i+2)/24. Nothing is routed out of it.
/// Removed (namespaces, and with them every interface) on drop.
struct Lan {
    hub: String,
    hosts: Vec<String>,
}

impl Lan {
    /// `n` hosts, or `None` when this machine does not let us make namespaces.
    fn new(n: usize) -> Option<Lan> {
        let sh = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        let tag = format!("cl{}", std::process::id() % 100_000);
        let hub = format!("{tag}h");
        if !sh(&["netns", "add", &hub]) {
            return None;
        }
        let mut lan = Lan {
            hub: hub.clone(),
            hosts: Vec::new(),
        };
        let ok = sh(&["-n", &hub, "link", "add", "br0", "type", "bridge"])
            && sh(&["-n", &hub, "link", "set", "br0", "up"]);
        if !ok {
            return None;
        }
        for i in 0..n {
            let ns = format!("{tag}n{i}");
            let (inner, outer) = (format!("{tag}i{i}"), format!("{tag}o{i}"));
            let ip = format!("{}/24", Lan::ip(i));
            let ok = sh(&["netns", "add", &ns]) && {
                lan.hosts.push(ns.clone());
                sh(&[
                    "link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer,
                    "netns", &hub,
                ]) && sh(&["-n", &hub, "link", "set", &outer, "master", "br0", "up"])
                    && sh(&["-n", &ns, "addr", "add", &ip, "dev", &inner])
                    && sh(&["-n", &ns, "link", "set", &inner, "up"])
                    && sh(&["-n", &ns, "link", "set", "lo", "up"])
            };
            if !ok {
                return None;
            }
        }
        Some(lan)
    }

    fn ip(i: usize) -> String {
        format!("10.231.0.{}", i + 2)
    }

    /// Cuts host `i` off the segment (its process keeps running, unreachable).
    fn unplug(&self, i: usize) {
        let outer = format!("{}o{i}", self.hub.trim_end_matches('h'));
        let st = std::process::Command::new("ip")
            .args(["-n", &self.hub, "link", "set", &outer, "down"])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(std::iter::once(&self.hub)) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
    }
}

#[test]
fn replicate_across_network_namespaces_then_unplug_a_holder() {
    // Five hosts: the origin (0), three peers (1..=3), a newcomer (4). Every byte
    // crosses veth and a bridge, not loopback.
    let Some(lan) = Lan::new(5) else {
        eprintln!(
            "skipped: cannot create network namespaces here (needs root and `ip netns`); \
             replicate_to_two_of_three_peers_then_lose_one covers the same with processes"
        );
        return;
    };
    let a = origin(&[1_200_000]);
    let me = node_id(a.path());
    let peers: Vec<_> = (0..3).map(|_| dataset()).collect();
    let mut servers: Vec<Server> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let bind = format!("{}:7700", Lan::ip(i + 1));
            Server::start_at(Some(&lan.hosts[i + 1]), &bind, p.path(), &[&me], &[])
        })
        .collect();
    let on_a = |args: &[&str]| {
        let mut a2 = args.to_vec();
        a2.push("--json");
        json_cmd(cmd_in(&lan.hosts[0], a.path(), &a2))
    };
    for (i, s) in servers.iter().enumerate() {
        on_a(&["remote", "add", &format!("p{i}"), &s.ticket]);
    }
    let r = on_a(&["replicate", "HEAD", "--copies", "2"]);
    assert_eq!(r["holders"], 2, "{r}");
    let w = on_a(&["where", "HEAD"]);
    assert_eq!(complete_holders(&w), 2, "{w}");

    // One holder drops off the network without a word; the newcomer clones from the
    // swarm, the unreachable holder listed first.
    let holder = r["pinned"][0]["remote"].as_str().unwrap();
    let i: usize = holder[1..].parse().unwrap();
    lan.unplug(i + 1);
    let mut tickets = vec![servers[i].ticket.clone()];
    tickets.extend(
        (0..3)
            .filter(|&j| j != i)
            .map(|j| servers[j].ticket.clone()),
    );
    let top = tempfile::tempdir().unwrap();
    let commit = head_commit(a.path());
    let clone = json_cmd(cmd_in(
        &lan.hosts[4],
        top.path(),
        &[
            "clone",
            &tickets.join(","),
            "d",
            "--rev",
            &format!("pins/{commit}"),
            "--json",
        ],
    ));
    assert!(clone["fetch"]["shards"].as_u64().unwrap() >= 1, "{clone}");
    let d = top.path().join("d");
    assert_eq!(tree(&d), tree(a.path()));
    ok(&d, &["verify", "HEAD"]);
    servers[i].stop();
}
