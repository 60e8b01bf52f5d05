//! Helpers shared by the end-to-end tests: run the built `colony` binary, make data.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_colony"))
}

/// A `colony` command run in `dir` with a clean, deterministic environment.
pub fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .args(args)
        .env("COLONY_AUTHOR_NAME", "Test")
        .env("COLONY_AUTHOR_EMAIL", "test@example.invalid");
    c
}

/// Runs colony and returns its output.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().expect("run colony")
}

/// Runs a prepared colony command (extra environment, say) and panics with its stderr
/// unless it succeeds; returns stdout.
pub fn ok_cmd(mut c: Command) -> String {
    let out = c.output().expect("run colony");
    assert!(
        out.status.success(),
        "colony {:?} failed ({}):\nstdout: {}\nstderr: {}",
        c.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// [`ok_cmd`], parsing stdout as JSON.
pub fn json_cmd(c: Command) -> serde_json::Value {
    let s = ok_cmd(c);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("colony printed non-JSON ({e}): {s}"))
}

/// Runs a prepared colony command expecting failure; returns stderr.
pub fn fails_cmd(mut c: Command) -> String {
    let out = c.output().expect("run colony");
    assert!(
        !out.status.success(),
        "colony {:?} unexpectedly succeeded: {}",
        c.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs colony and panics with its stderr unless it succeeds; returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    ok_cmd(cmd(dir, args))
}

/// Runs colony with `--json` and parses stdout.
pub fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    json_cmd(cmd(dir, &a))
}

/// Runs colony expecting failure; returns stderr.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    fails_cmd(cmd(dir, args))
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a file, creating its folders.
pub fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// Every file (and symlink, as `-> target`) under `root`, except `.colony`.
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if e.file_name() == ".colony" {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else if ft.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// A fresh dataset in a temporary folder.
pub fn dataset() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    d
}

/// A committed dataset ("origin v1") holding `data/part{i}.bin` of each size in `sizes`
/// (random bytes, seeded by `i`) and a small `notes/readme.txt`.
pub fn origin_with_parts(sizes: &[usize]) -> tempfile::TempDir {
    let a = dataset();
    for (i, size) in sizes.iter().enumerate() {
        write(
            a.path(),
            &format!("data/part{i}.bin"),
            &random_bytes(*size, i as u64),
        );
    }
    write(a.path(), "notes/readme.txt", b"penguins and more\n");
    commit_all(a.path(), "origin v1");
    a
}

/// A committed dataset with one small labelled table, `points.csv` (columns x, y, kind).
pub fn dataset_with_points() -> tempfile::TempDir {
    let a = dataset();
    let mut csv = String::from("x,y,kind\n");
    for i in 0..120u64 {
        let (x, y) = ((i * 37 % 101) as f64 / 50.0, (i * 53 % 97) as f64 / 48.0);
        let kind = if x > y { "up" } else { "down" };
        csv.push_str(&format!("{x},{y},{kind}\n"));
    }
    write(a.path(), "points.csv", csv.as_bytes());
    commit_all(a.path(), "points");
    a
}

/// A short recorded MLP run on `main` of a [`dataset_with_points`]; returns its JSON.
pub fn train_points(dir: &Path) -> serde_json::Value {
    json(
        dir,
        &[
            "train",
            "main",
            "--model",
            "mlp",
            "--label",
            "kind",
            "--steps",
            "6",
            "--checkpoint-every",
            "3",
            "--batch",
            "16",
        ],
    )
}

/// Asserts that the dataset at `dir` lists the run `trained` (the JSON `colony train`
/// printed) with the same record hash, and that its steps re-execute to the same hashes.
pub fn assert_run_reproduces(dir: &Path, trained: &serde_json::Value) {
    let run = trained["run"].as_str().expect("a recorded run");
    let listed = json(dir, &["run", "list"]);
    let found = listed
        .as_array()
        .and_then(|l| l.iter().find(|r| r["id"] == run))
        .unwrap_or_else(|| panic!("run {run} not listed: {listed}"));
    assert_eq!(found["record_hash"], trained["record_hash"], "{listed}");
    let v = json(dir, &["run", "verify", run]);
    assert!(v["first_bad"].is_null(), "{v}");
}

/// The commit the checked-out branch points at.
pub fn head_commit(dir: &Path) -> String {
    json(dir, &["log", "-n", "1"])[0]["commit"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `add .` then `commit`; returns the commit JSON.
pub fn commit_all(dir: &Path, msg: &str) -> serde_json::Value {
    ok(dir, &["add", "."]);
    json(dir, &["commit", "-m", msg])
}

/// The shard files of a dataset.
pub fn shard_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir.join(".colony/shards"))
        .unwrap()
        .flatten()
    {
        if sub.file_name() == "tmp" {
            continue;
        }
        for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
            out.push(f.path());
        }
    }
    out.sort();
    out
}
