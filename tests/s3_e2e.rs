//! S3-compatible remotes against a real S3 server the tests start on loopback: moto
//! (`moto[server]` from PyPI, installed by `scripts/setup.sh`).

mod common;
mod moto;
mod pyhelp;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;
use moto::Moto;

#[test]
fn s3_push_clone_fetch_pull_round_trip() {
    let s3 = Moto::start();
    s3.create_bucket("colony-test");
    let a = origin_with_parts(&[600_000; 3]);
    let top = tempfile::tempdir().unwrap();
    s3.ok(
        a.path(),
        &["remote", "add", "s3", "s3://colony-test/datasets/penguins"],
    );

    let p = s3.json(a.path(), &["push", "s3"]);
    assert_eq!(p["old"], serde_json::Value::Null, "{p}");
    assert!(p["shards"].as_u64().unwrap() >= 1, "{p}");
    assert!(p["objects"].as_u64().unwrap() >= 4, "{p}");
    let keys = s3.keys("colony-test", "datasets/penguins/");
    assert!(
        keys.iter()
            .any(|k| k == "datasets/penguins/refs/heads/main"),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("datasets/penguins/shards/")),
        "{keys:?}"
    );
    assert!(keys.iter().any(|k| k.ends_with(".bundle")), "{keys:?}");
    // Pushing again sends nothing.
    assert_eq!(s3.json(a.path(), &["push", "s3"])["up_to_date"], true);

    // Clone into an empty folder: byte-exact.
    let r = s3.json(
        top.path(),
        &["clone", "s3://colony-test/datasets/penguins", "b"],
    );
    let b = top.path().join("b");
    assert_eq!(r["branch"], "main", "{r}");
    assert_eq!(tree(&b), tree(a.path()));
    assert_eq!(head_commit(&b), head_commit(a.path()));
    ok(&b, &["verify"]);
    ok(&b, &["fsck"]);

    // A second fetch moves nothing.
    let f = s3.json(&b, &["fetch", "origin"]);
    assert_eq!(f["objects"], 0, "{f}");
    assert_eq!(f["shards"], 0, "{f}");
    assert!(f["updated"].as_array().unwrap().is_empty(), "{f}");

    // b pushes a change; a pulls it (fast-forward); only the new shard moves.
    write(&b, "data/new.bin", &random_bytes(300_000, 9));
    write(&b, "notes/readme.txt", b"edited in b\n");
    commit_all(&b, "v2 from b");
    let p = s3.json(&b, &["push", "origin"]);
    assert_eq!(p["shards"], 1, "{p}");
    let pl = s3.json(a.path(), &["pull", "s3"]);
    assert_eq!(pl["merge"]["result"], "fast_forward", "{pl}");
    assert_eq!(pl["fetch"]["shards"], 1, "{pl}");
    assert_eq!(tree(a.path()), tree(&b));
    ok(a.path(), &["verify"]);

    // Diverged: b pushes first, a's push is refused without --force.
    write(&b, "b.txt", b"b\n");
    commit_all(&b, "v3 from b");
    s3.ok(&b, &["push", "origin"]);
    write(a.path(), "a.txt", b"a\n");
    commit_all(a.path(), "v3 from a");
    let err = s3.fails(a.path(), &["push", "s3"]);
    assert!(err.contains("not a fast-forward"), "{err}");
    assert!(err.contains("colony pull s3 main"), "{err}");
    // Pull merges, then the push is a fast-forward.
    let pl = s3.json(a.path(), &["pull", "s3"]);
    assert_eq!(pl["merge"]["result"], "merged", "{pl}");
    s3.ok(a.path(), &["push", "s3"]);
    let pl = s3.json(&b, &["pull", "origin"]);
    assert_eq!(pl["merge"]["result"], "fast_forward", "{pl}");
    assert_eq!(tree(a.path()), tree(&b));

    // Another branch; a fresh clone of it; --force overwrites.
    ok(&b, &["switch", "-c", "dev"]);
    write(&b, "dev.txt", b"dev\n");
    commit_all(&b, "dev");
    s3.ok(&b, &["push", "origin"]);
    let r = s3.json(
        top.path(),
        &[
            "clone",
            "s3://colony-test/datasets/penguins",
            "c",
            "--branch",
            "dev",
        ],
    );
    assert_eq!(r["branch"], "dev");
    assert_eq!(tree(&top.path().join("c")), tree(&b));
    ok(a.path(), &["reset", "--hard", "HEAD~1"]);
    s3.fails(a.path(), &["push", "s3"]);
    s3.ok(a.path(), &["push", "s3", "main", "--force"]);
    let f = s3.json(&b, &["fetch", "origin"]);
    assert_eq!(
        f["updated"][0]["new"].as_str().unwrap(),
        head_commit(a.path()),
        "{f}"
    );
}

#[test]
fn s3_corrupt_shard_is_caught_and_nothing_lands() {
    let s3 = Moto::start();
    s3.create_bucket("bkt");
    let a = origin_with_parts(&[600_000; 3]);
    s3.ok(a.path(), &["remote", "add", "s3", "s3://bkt/ds"]);
    s3.ok(a.path(), &["push", "s3"]);
    let shard: PathBuf = shard_files(a.path())[0].clone();
    let id = shard
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".shard")
        .to_string();
    let mut bytes = std::fs::read(&shard).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    s3.put("bkt", &format!("ds/shards/{id}"), &bytes);

    let top = tempfile::tempdir().unwrap();
    let err = s3.fails(top.path(), &["clone", "s3://bkt/ds", "b"]);
    assert!(err.contains(&id), "the error names the shard: {err}");
    assert!(
        !top.path().join("b").exists(),
        "a failed clone leaves nothing"
    );

    // A fetch into an existing dataset: fails, keeps neither the shard nor a partial.
    let c = top.path().join("c");
    ok(top.path(), &["init", "c"]);
    ok(&c, &["remote", "add", "s3", "s3://bkt/ds"]);
    let err = s3.fails(&c, &["fetch", "s3"]);
    assert!(err.contains(&id), "{err}");
    let leftovers: Vec<_> = walk(&c.join(".colony/shards"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&id))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!c.join(".colony/history/refs/remotes/s3/main").exists());
    ok(&c, &["fsck"]);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Waits until `ready()` or the child exits; kills it with SIGKILL if still running.
/// Returns whether it was killed (false: it finished first).
fn kill_when(child: &mut Child, ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() {
            // SIGKILL on Unix: no chance to clean up.
            let _ = child.kill();
            child.wait().unwrap();
            return true;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn s3_killed_push_and_clone_resume() {
    let s3 = Moto::start();
    s3.create_bucket("big");
    // Three shards of incompressible data, each over the multipart threshold: one per
    // commit (every commit seals its own shard).
    let a = dataset();
    for i in 0..3u64 {
        write(
            a.path(),
            &format!("big/{i}.bin"),
            &random_bytes(20 * 1024 * 1024, 100 + i),
        );
        commit_all(a.path(), &format!("part {i}"));
    }
    assert_eq!(shard_files(a.path()).len(), 3);
    let sizes: Vec<u64> = shard_files(a.path())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    let total: u64 = sizes.iter().sum();
    let smallest = *sizes.iter().min().unwrap();
    s3.ok(a.path(), &["remote", "add", "s3", "s3://big/ds"]);

    // kill -9 once the first shard is in the bucket; the rerun sends only the others.
    let mut push = s3.colony(a.path(), &["push", "s3", "-q"]).spawn().unwrap();
    let killed = kill_when(&mut push, || !s3.keys("big", "ds/shards/").is_empty());
    assert!(killed, "the push finished before it could be killed");
    let there = s3.keys("big", "ds/shards/").len();
    assert!(there < 3, "{there}");
    assert!(
        s3.keys("big", "ds/refs/").is_empty(),
        "no branch before the data"
    );
    let p = s3.json(a.path(), &["push", "s3"]);
    assert_eq!(p["shards"].as_u64().unwrap() as usize, 3 - there, "{p}");
    assert_eq!(s3.keys("big", "ds/shards/").len(), 3);

    // kill -9 a clone once its first shard is stored; the rerun resumes.
    let top = tempfile::tempdir().unwrap();
    let b = top.path().join("b");
    let mut clone = s3
        .colony(top.path(), &["clone", "s3://big/ds", "b", "-q"])
        .spawn()
        .unwrap();
    let killed = kill_when(&mut clone, || {
        walk(&b.join(".colony/shards"))
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "shard"))
    });
    assert!(killed, "the clone finished before it could be killed");
    assert!(b.join(".colony/cloning").exists());
    let r = s3.json(top.path(), &["clone", "s3://big/ds", "b"]);
    assert_eq!(r["resumed"], true, "{r}");
    let moved = r["fetch"]["bytes"].as_u64().unwrap();
    assert!(
        moved + smallest <= total,
        "the resumed clone moved {moved} of {total} bytes: at least one whole shard should have been kept"
    );
    assert_eq!(tree(&b), tree(a.path()));
    ok(&b, &["verify"]);
    ok(&b, &["fsck"]);
    assert!(!b.join(".colony/cloning").exists());
}

#[test]
fn s3_run_records_travel_with_push_and_clone() {
    let s3 = Moto::start();
    s3.create_bucket("colony-test");
    let a = dataset_with_points();
    let url = "s3://colony-test/runs-demo";
    s3.ok(a.path(), &["remote", "add", "s3", url]);
    s3.json(a.path(), &["push", "s3"]);

    // A run trained after the branch was pushed goes with the next push.
    let trained = train_points(a.path());
    let run = trained["run"].as_str().unwrap().to_string();
    let p = s3.json(a.path(), &["push", "s3"]);
    assert_eq!(
        (p["runs"].as_u64(), p["runs_new"].as_u64()),
        (Some(1), Some(1)),
        "{p}"
    );
    let keys = s3.keys("colony-test", "runs-demo/");
    assert!(
        keys.contains(&format!("runs-demo/refs/runs/{run}")),
        "{keys:?}"
    );
    assert_eq!(s3.json(a.path(), &["push", "s3"])["runs_new"], 0);

    // A clone from the bucket has the run, and its steps re-execute to the same hashes.
    let top = tempfile::tempdir().unwrap();
    s3.json(top.path(), &["clone", url, "c"]);
    let c = top.path().join("c");
    assert_run_reproduces(&c, &trained);
    // A fetch finds nothing new.
    assert_eq!(s3.json(&c, &["fetch", "origin"])["runs"], 0);
}
