//! Per-file three-way `merge`, conflicts, `resolve`, `--continue`, `--abort`, strategies.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

/// Everything `--abort` must restore: work-tree bytes, index bytes, HEAD and refs.
fn state(dir: &Path) -> (BTreeMap<String, Vec<u8>>, Vec<u8>, String, String) {
    let h = dir.join(".colony/history");
    let refs = std::process::Command::new("git")
        .args(["--git-dir", h.to_str().unwrap(), "for-each-ref"])
        .output()
        .unwrap();
    (
        tree(dir),
        std::fs::read(dir.join(".colony/index")).unwrap(),
        std::fs::read_to_string(h.join("HEAD")).unwrap(),
        String::from_utf8(refs.stdout).unwrap(),
    )
}

/// base → branch `theirs` and `main` each change some files.
fn diverged() -> tempfile::TempDir {
    let d = dataset();
    let p = d.path();
    write(p, "a.txt", b"a base\n");
    write(p, "b.txt", b"b base\n");
    write(p, "both.txt", b"both base\n");
    write(p, "gone.txt", b"to be deleted by ours\n");
    write(p, "same.txt", b"same base\n");
    write(p, "big.bin", &random_bytes(400_000, 1));
    commit_all(p, "base");
    ok(p, &["switch", "-c", "theirs"]);
    write(p, "b.txt", b"b theirs\n");
    write(p, "both.txt", b"both theirs\n");
    write(p, "same.txt", b"same changed\n");
    write(p, "new-theirs.txt", b"added by theirs\n");
    let mut big = random_bytes(400_000, 1);
    big[1000] ^= 1;
    write(p, "big.bin", &big);
    commit_all(p, "theirs");
    ok(p, &["switch", "main"]);
    write(p, "a.txt", b"a ours\n");
    write(p, "both.txt", b"both ours\n");
    write(p, "same.txt", b"same changed\n");
    std::fs::remove_file(p.join("gone.txt")).unwrap();
    ok(p, &["add", "."]);
    ok(p, &["commit", "-a", "-m", "ours"]);
    d
}

#[test]
fn per_file_merge_takes_each_side_and_stops_on_conflicts() {
    let d = diverged();
    let p = d.path();
    let ours_head = json(p, &["log", "-n", "1"])[0]["commit"].clone();
    let m = run(p, &["merge", "theirs", "--json"]);
    assert!(!m.status.success(), "conflicts exit non-zero");
    let m: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(m["result"], "conflicts", "{m}");
    let conflicts: Vec<_> = m["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(conflicts, ["both.txt"]);
    let outcome = |path: &str| {
        m["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .map(|f| f["outcome"].as_str().unwrap().to_string())
    };
    assert_eq!(outcome("a.txt").as_deref(), Some("ours"));
    assert_eq!(outcome("b.txt").as_deref(), Some("theirs"));
    assert_eq!(outcome("big.bin").as_deref(), Some("theirs"));
    assert_eq!(outcome("gone.txt").as_deref(), Some("ours"));
    assert_eq!(outcome("same.txt").as_deref(), Some("same"));
    assert_eq!(outcome("new-theirs.txt").as_deref(), Some("theirs"));

    // Status lists the conflict; the work tree has what merged and ours for the rest.
    let st = json(p, &["status"]);
    assert_eq!(st["conflicts"], serde_json::json!(["both.txt"]));
    assert!(ok(p, &["status"]).contains("conflict: both.txt"));
    let t = tree(p);
    assert_eq!(t["b.txt"], b"b theirs\n");
    assert_eq!(t["new-theirs.txt"], b"added by theirs\n");
    assert_eq!(t["both.txt"], b"both ours\n");
    assert!(!t.contains_key("gone.txt"));
    let c = json(p, &["conflicts", "both.txt"]);
    assert_eq!(c["kind"], "content");
    assert!(c["base"]["hash"].is_string() && c["theirs"]["size"] == 12);

    // Cannot continue until it is resolved; a second merge is refused meanwhile.
    assert!(fails(p, &["merge", "--continue"]).contains("both.txt"));
    assert!(fails(p, &["merge", "theirs"]).contains("in progress"));
    assert!(fails(p, &["commit", "-m", "x"]).contains("merge --continue"));
    let r = json(p, &["resolve", "both.txt", "--theirs"]);
    assert_eq!(r["resolved"], true);
    assert_eq!(std::fs::read(p.join("both.txt")).unwrap(), b"both theirs\n");
    let done = json(p, &["merge", "--continue"]);
    assert_eq!(done["result"], "merged");
    let log = json(p, &["log", "-n", "1"]);
    assert_eq!(log[0]["parents"].as_array().unwrap().len(), 2);
    assert_eq!(log[0]["parents"][0], ours_head);
    assert!(
        json(p, &["status"])["conflicts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(ok(p, &["status"]).contains("clean"));
    ok(p, &["verify"]);
    ok(p, &["fsck"]);
    // Merging again is a no-op.
    assert_eq!(json(p, &["merge", "theirs"])["result"], "up_to_date");
}

#[test]
fn resolve_with_a_file_and_strategies() {
    let d = diverged();
    let p = d.path();
    let _ = run(p, &["merge", "theirs"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let hand = elsewhere.path().join("hand-merged.txt");
    std::fs::write(&hand, b"both, by hand\n").unwrap();
    ok(
        p,
        &["resolve", "both.txt", "--with", hand.to_str().unwrap()],
    );
    ok(p, &["merge", "--continue"]);
    assert_eq!(ok(p, &["cat", "HEAD:both.txt"]), "both, by hand\n");

    for (strategy, want) in [("ours", "both ours\n"), ("theirs", "both theirs\n")] {
        let d = diverged();
        let p = d.path();
        let m = json(p, &["merge", "theirs", "--strategy", strategy]);
        assert_eq!(m["result"], "merged", "{m}");
        assert_eq!(std::fs::read_to_string(p.join("both.txt")).unwrap(), want);
        // Non-conflicting changes of both sides are merged either way.
        assert_eq!(std::fs::read(p.join("a.txt")).unwrap(), b"a ours\n");
        assert_eq!(std::fs::read(p.join("b.txt")).unwrap(), b"b theirs\n");
        assert!(ok(p, &["status"]).contains("clean"));
    }
}

#[test]
fn abort_restores_the_exact_pre_merge_state() {
    let d = diverged();
    let p = d.path();
    write(p, "untracked.txt", b"not tracked, left alone\n");
    let before = state(p);
    let _ = run(p, &["merge", "theirs"]);
    assert_ne!(state(p).0, before.0);
    // Resolving something before aborting is undone too.
    ok(p, &["resolve", "both.txt", "--theirs"]);
    ok(p, &["merge", "--abort"]);
    let after = state(p);
    assert_eq!(after.0, before.0, "work tree");
    assert_eq!(after.1, before.1, "index");
    assert_eq!(after.2, before.2, "HEAD");
    assert_eq!(after.3, before.3, "refs");
    assert!(!p.join(".colony/merge").exists());
    assert!(ok(p, &["status"]).contains("untracked.txt"));
    assert!(fails(p, &["merge", "--abort"]).contains("no merge in progress"));
}

#[test]
fn merge_refuses_uncommitted_work() {
    let d = diverged();
    let p = d.path();
    write(p, "a.txt", b"edited, not committed\n");
    let before = state(p);
    let err = fails(p, &["merge", "theirs"]);
    assert!(err.contains("uncommitted"), "{err}");
    assert_eq!(state(p), before);
}
