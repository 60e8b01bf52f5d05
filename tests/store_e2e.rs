//! End-to-end tests of the store core, driving the built `colony` binary.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

#[test]
fn byte_exact_round_trip_across_versions() {
    let d = dataset();
    let root = d.path();
    // v1: text, binary, empty, spaces and unicode, nesting, a symlink, an executable.
    write(root, "README.md", b"# data\n");
    write(root, "bin/blob.bin", &random_bytes(1_500_000, 1));
    write(root, "empty", b"");
    write(root, "names/with spaces/ünïcødé 数据.csv", b"a,b\n1,2\n");
    write(root, "deep/a/b/c/d/e.txt", b"deep");
    write(root, "tool.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(root.join("tool.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("../README.md", root.join("deep/readme-link")).unwrap();
    let v1 = commit_all(root, "v1");
    let t1 = tree(root);
    // v2: edit, delete, rename, add.
    let mut big = std::fs::read(root.join("bin/blob.bin")).unwrap();
    big[700_000] ^= 0xff;
    write(root, "bin/blob.bin", &big);
    std::fs::remove_file(root.join("empty")).unwrap();
    std::fs::rename(root.join("deep/a/b/c/d/e.txt"), root.join("deep/moved.txt")).unwrap();
    write(root, "new/file.txt", b"new");
    let v2 = commit_all(root, "v2");
    let t2 = tree(root);
    let diff = json(
        root,
        &[
            "diff",
            v1["commit"].as_str().unwrap(),
            v2["commit"].as_str().unwrap(),
        ],
    );
    assert_eq!(diff["added"][0]["path"], "new/file.txt");
    assert_eq!(diff["removed"][0]["path"], "empty");
    assert_eq!(diff["modified"][0]["path"], "bin/blob.bin");
    assert_eq!(diff["renamed"][0]["from"], "deep/a/b/c/d/e.txt");
    assert_eq!(diff["renamed"][0]["to"], "deep/moved.txt");
    // v3: replace a folder with a file of the same name, truncate to empty.
    std::fs::remove_dir_all(root.join("new")).unwrap();
    write(root, "new", b"now a file");
    write(root, "README.md", b"");
    let v3 = commit_all(root, "v3");
    let t3 = tree(root);
    for (v, t) in [(&v1, &t1), (&v2, &t2), (&v3, &t3), (&v1, &t1)] {
        ok(root, &["checkout", v["commit"].as_str().unwrap()]);
        assert_eq!(&tree(root), t, "work tree differs from {}", v["commit"]);
        assert_eq!(json(root, &["status"])["unstaged"], serde_json::json!([]));
        let verify = json(root, &["verify"]);
        assert_eq!(verify["ok"], true);
        assert_eq!(verify["computed_root"], v["root"]);
    }
    let mode = std::fs::metadata(root.join("tool.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "executable bit restored");
    // cat streams the exact bytes of any version.
    let out = cmd(
        root,
        &[
            "cat",
            &format!("{}:bin/blob.bin", v2["commit"].as_str().unwrap()),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.stdout, big);
    ok(root, &["switch", "main"]);
    assert_eq!(tree(root), t3);
}

#[test]
fn commit_json_reports_what_it_recorded() {
    let d = dataset();
    write(d.path(), "a", b"12345");
    write(d.path(), "b/c", &random_bytes(300_000, 2));
    let c = commit_all(d.path(), "first");
    assert_eq!(c["files"], 2);
    assert_eq!(c["bytes"], 300_005);
    assert!(c["new_bytes"].as_u64().unwrap() > 300_000);
    assert_eq!(c["root"].as_str().unwrap().len(), 64);
    assert_eq!(c["commit"].as_str().unwrap().len(), 40);
    let show = json(d.path(), &["show", "HEAD"]);
    assert_eq!(show["root"], c["root"]);
    assert_eq!(show["files"][0]["path"], "a");
    assert_eq!(
        show["files"][0]["hash"],
        blake3::hash(b"12345").to_hex().as_str()
    );
    let log = json(d.path(), &["log"]);
    assert_eq!(log[0]["commit"], c["commit"]);
    let e = fails(d.path(), &["commit", "-m", "again"]);
    assert!(e.contains("nothing to commit"), "{e}");
}

#[test]
fn snapshot_root_is_recomputable_from_the_bytes_alone() {
    // The documented canonical form, computed here independently of colony.
    let d = dataset();
    let files: BTreeMap<&str, Vec<u8>> = [
        ("x.bin", random_bytes(200_000, 3)),
        ("d/y.txt", b"y".to_vec()),
        ("z", Vec::new()),
    ]
    .into_iter()
    .collect();
    for (p, b) in &files {
        write(d.path(), p, b);
    }
    let c = commit_all(d.path(), "r");
    let mut h = blake3::Hasher::new();
    h.update(b"colony snapshot v1\n");
    for (p, b) in &files {
        h.update(&(p.len() as u32).to_le_bytes());
        h.update(p.as_bytes());
        h.update(&[0]);
        h.update(&(b.len() as u64).to_le_bytes());
        h.update(blake3::hash(b).as_bytes());
    }
    assert_eq!(c["root"], h.finalize().to_hex().as_str());
}

#[test]
fn second_copy_and_one_byte_edit_store_almost_nothing() {
    let d = dataset();
    let root = d.path();
    for i in 0..8 {
        write(
            root,
            &format!("orig/part-{i}.bin"),
            &random_bytes(2_000_000, 10 + i),
        );
    }
    let first = commit_all(root, "original");
    assert!(first["new_bytes"].as_u64().unwrap() >= 16_000_000);
    // A second copy of the whole dataset: only manifests are new.
    for i in 0..8 {
        std::fs::copy(
            root.join(format!("orig/part-{i}.bin")),
            root.join(format!("part-{i}.copy")),
        )
        .unwrap();
    }
    let copy = commit_all(root, "copy");
    assert!(
        copy["new_bytes"].as_u64().unwrap() < 20_000,
        "copy wrote {}",
        copy["new_bytes"]
    );
    // One byte edited in a 100 MiB file.
    let mut big = random_bytes(100 << 20, 99);
    write(root, "big.bin", &big);
    commit_all(root, "big");
    big[50 << 20] ^= 1;
    write(root, "big.bin", &big);
    let edit = commit_all(root, "edit");
    let new = edit["new_bytes"].as_u64().unwrap();
    assert!(new < 1 << 20, "1-byte edit wrote {new} bytes");
    let out = cmd(root, &["cat", "HEAD:big.bin"]).output().unwrap();
    assert!(out.stdout == big, "edited file reads back exactly");
}

#[test]
fn status_sees_changes_and_honours_colonyignore() {
    let d = dataset();
    let root = d.path();
    write(root, ".colonyignore", b"*.tmp\ncache/\n");
    write(root, "keep.txt", b"1");
    write(root, "junk.tmp", b"x");
    write(root, "cache/big", b"x");
    write(root, "sub/also.tmp", b"x");
    commit_all(root, "one");
    let show = json(root, &["show"]);
    let paths: Vec<&str> = show["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, [".colonyignore", "keep.txt"]);
    let st = json(root, &["status"]);
    assert_eq!(st["untracked"], serde_json::json!([]));
    // Same size, different content, mtime pushed back so only hashing can tell.
    write(root, "keep.txt", b"2");
    write(root, "new.txt", b"n");
    std::fs::remove_file(root.join(".colonyignore")).unwrap();
    let st = json(root, &["status"]);
    assert_eq!(
        st["unstaged"],
        serde_json::json!([{"path": ".colonyignore", "change": "removed"}, {"path": "keep.txt", "change": "modified"}])
    );
    assert!(
        st["untracked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "new.txt")
    );
    ok(root, &["add", "keep.txt", ".colonyignore"]);
    let st = json(root, &["status"]);
    assert_eq!(
        st["staged"],
        serde_json::json!([{"path": ".colonyignore", "change": "removed"}, {"path": "keep.txt", "change": "modified"}])
    );
}

#[test]
fn checkout_refuses_to_overwrite_uncommitted_work() {
    let d = dataset();
    let root = d.path();
    write(root, "a.txt", b"v1");
    let v1 = commit_all(root, "v1");
    write(root, "a.txt", b"v2");
    commit_all(root, "v2");
    write(root, "a.txt", b"local edit");
    let e = fails(root, &["checkout", v1["commit"].as_str().unwrap()]);
    assert!(e.contains("a.txt") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"local edit");
    let e = fails(root, &["checkout", "HEAD~1", "--", "a.txt"]);
    assert!(e.contains("a.txt"), "{e}");
    ok(root, &["checkout", "--force", "HEAD~1", "--", "a.txt"]);
    assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"v1");
    // Untracked file in the way of a checkout.
    ok(root, &["reset", "--hard", "HEAD"]);
    write(root, "b.txt", b"b");
    commit_all(root, "adds b");
    ok(root, &["checkout", v1["commit"].as_str().unwrap()]);
    assert!(!root.join("b.txt").exists());
    write(root, "b.txt", b"untracked precious");
    let e = fails(root, &["switch", "main"]);
    assert!(e.contains("b.txt"), "{e}");
    assert_eq!(
        std::fs::read(root.join("b.txt")).unwrap(),
        b"untracked precious"
    );
}

#[test]
fn branches_tags_reset_and_gc_keep_what_is_reachable() {
    let d = dataset();
    let root = d.path();
    write(root, "keep.bin", &random_bytes(400_000, 5));
    commit_all(root, "base");
    ok(root, &["tag", "v1"]);
    ok(root, &["switch", "-c", "exp"]);
    write(root, "exp.bin", &random_bytes(400_000, 6));
    let exp = commit_all(root, "experiment");
    ok(root, &["switch", "main"]);
    assert!(!root.join("exp.bin").exists());
    let branches = json(root, &["branch"]);
    assert_eq!(branches.as_array().unwrap().len(), 2);
    // The experiment is reachable from its branch: gc keeps it.
    json(root, &["gc"]);
    ok(root, &["verify", "exp"]);
    // Pinned and then unreachable: still kept.
    ok(root, &["pin", "exp", "--name", "keep-exp"]);
    ok(root, &["branch", "-d", "exp"]);
    json(root, &["gc"]);
    assert_eq!(
        json(root, &["verify", exp["commit"].as_str().unwrap()])["ok"],
        true
    );
    // Unpinned: gc drops its unique data, and the rest is intact.
    ok(root, &["unpin", "keep-exp"]);
    let gc = json(root, &["gc"]);
    assert!(gc["records_dropped"].as_u64().unwrap() >= 1, "{gc}");
    assert!(
        gc["bytes_freed"].as_u64().unwrap() > 0 || gc["shards_repacked"].as_u64().unwrap() > 0,
        "{gc}"
    );
    let e = fails(root, &["verify", exp["commit"].as_str().unwrap()]);
    assert!(!e.is_empty());
    // Pinning it now would promise bytes that are gone: refused, and no pin is made.
    let e = fails(root, &["pin", exp["commit"].as_str().unwrap()]);
    assert!(
        e.contains("refusing to pin") && e.contains("exp.bin") && e.contains("hint:"),
        "{e}"
    );
    let refs = Command::new("git")
        .args(["--git-dir", ".colony/history", "for-each-ref", "refs/pins/"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(refs.status.success() && refs.stdout.is_empty(), "{refs:?}");
    assert_eq!(json(root, &["verify", "v1"])["ok"], true);
    assert_eq!(json(root, &["fsck"])["ok"], true);
    // reset --mixed keeps the work tree, --hard restores it.
    write(root, "keep.bin", b"changed");
    ok(root, &["add", "."]);
    ok(root, &["reset"]);
    assert_eq!(std::fs::read(root.join("keep.bin")).unwrap(), b"changed");
    assert_eq!(json(root, &["status"])["staged"], serde_json::json!([]));
    ok(root, &["reset", "--hard"]);
    assert_eq!(
        std::fs::read(root.join("keep.bin")).unwrap(),
        random_bytes(400_000, 5)
    );
}

#[test]
fn real_git_reads_the_history() {
    let d = dataset();
    let root = d.path();
    write(root, "a/b.csv", b"x,y\n1,2\n");
    write(root, "c.bin", &random_bytes(500_000, 8));
    std::os::unix::fs::symlink("a/b.csv", root.join("link")).unwrap();
    commit_all(root, "first");
    write(root, "a/b.csv", b"x,y\n1,3\n");
    let c2 = commit_all(root, "second");
    ok(root, &["tag", "v2"]);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(root.join(".colony/history"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let log = git(&["log", "--format=%H %s"]);
    assert!(
        log.starts_with(&format!("{} second", c2["commit"].as_str().unwrap())),
        "{log}"
    );
    assert_eq!(log.lines().count(), 2);
    git(&["fsck", "--strict", "--no-dangling"]);
    let body = git(&["log", "-1", "--format=%B"]);
    assert!(
        body.contains(&format!("Colony-Root: {}", c2["root"].as_str().unwrap())),
        "{body}"
    );
    let ptr = git(&["show", "v2:a/b.csv"]);
    assert!(ptr.starts_with("colony-pointer v1\nblake3 "), "{ptr}");
    assert_eq!(git(&["cat-file", "-p", "HEAD:link"]), "a/b.csv");
    let changed = git(&["diff", "--name-only", "HEAD~1", "HEAD"]);
    assert_eq!(changed.trim(), "a/b.csv");
}

#[test]
fn errors_are_clear_and_json_stays_clean() {
    let d = tempfile::tempdir().unwrap();
    let e = fails(d.path(), &["status"]);
    assert!(
        e.contains("not a colony dataset") && e.contains("colony init"),
        "{e}"
    );
    let out = run(d.path(), &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    ok(d.path(), &["init"]);
    let e = fails(d.path(), &["init"]);
    assert!(e.contains("already"), "{e}");
    let e = fails(d.path(), &["log", "nope"]);
    assert!(e.contains("nope"), "{e}");
    let e = fails(d.path(), &["add", "missing.txt"]);
    assert!(e.contains("missing.txt"), "{e}");
    let e = fails(d.path(), &["cat", "HEAD"]);
    assert!(e.contains("REV:PATH"), "{e}");
    let outside = tempfile::tempdir().unwrap();
    let e = fails(d.path(), &["add", outside.path().to_str().unwrap()]);
    assert!(e.contains("outside"), "{e}");
    // Symlinks that leave the dataset are refused at add time, naming the link.
    std::os::unix::fs::symlink("/etc/passwd", d.path().join("evil")).unwrap();
    let e = fails(d.path(), &["add", "."]);
    assert!(
        e.contains("evil") && e.contains("leaves the dataset"),
        "{e}"
    );
}
