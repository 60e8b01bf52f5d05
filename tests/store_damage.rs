//! Damage and hostility: corrupt shards, hostile histories, killed commits, concurrent
//! writers. Each must be caught, named and survived.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn flipped_byte_in_a_shard_is_named_by_fsck_and_checkout() {
    let d = dataset();
    let root = d.path();
    write(root, "victim.bin", &random_bytes(600_000, 21));
    write(root, "other.txt", b"fine");
    let c = commit_all(root, "data");
    let shards = shard_files(root);
    assert_eq!(shards.len(), 1);
    let shard = &shards[0];
    let shard_id = shard.file_stem().unwrap().to_str().unwrap().to_string();
    let mut bytes = std::fs::read(shard).unwrap();
    bytes[4096] ^= 0x01;
    std::fs::write(shard, bytes).unwrap();
    // fsck: non-zero, JSON names the shard, the file and the commit.
    let out = run(root, &["fsck", "--json"]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let errors = report["errors"].as_array().unwrap();
    let shard_err = errors
        .iter()
        .find(|e| e["object"] == format!("shard {shard_id}"))
        .expect("shard named");
    assert!(
        shard_err["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "victim.bin"),
        "{shard_err}"
    );
    assert!(
        shard_err["commits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == &c["commit"]),
        "{shard_err}"
    );
    // checkout of the damaged file fails naming the shard and the file, and writes nothing.
    std::fs::remove_file(root.join("victim.bin")).unwrap();
    let e = fails(root, &["checkout", "--force", "HEAD", "--", "victim.bin"]);
    assert!(e.contains(&shard_id) && e.contains("victim.bin"), "{e}");
    assert!(!root.join("victim.bin").exists());
    let e = fails(root, &["verify"]);
    assert!(e.contains("victim.bin"), "{e}");
}

/// Writes a raw git object with real git and returns its id.
fn git_object(git_dir: &std::path::Path, kind: &str, bytes: &[u8]) -> String {
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["hash-object", "-w", "--literally", "-t", kind, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn tree_bytes(entries: &[(&str, &[u8], &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (mode, name, id) in entries {
        out.extend_from_slice(mode.as_bytes());
        out.push(b' ');
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(&hex::decode(id).unwrap());
    }
    out
}

#[test]
fn hostile_paths_in_history_are_refused_and_nothing_escapes() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("ds");
    std::fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    write(&root, "ok.txt", b"fine");
    commit_all(&root, "benign");
    let git_dir = root.join(".colony/history");
    let pointer = format!(
        "colony-pointer v1\nblake3 {}\nsize 4\n",
        blake3::hash(b"fine").to_hex()
    );
    let blob = git_object(&git_dir, "blob", pointer.as_bytes());
    let ok_entry = ("100644", b"ok.txt".as_slice(), blob.as_str());
    let x_tree = git_object(&git_dir, "tree", &tree_bytes(&[("100644", b"x", &blob)]));
    let cfg_tree = git_object(
        &git_dir,
        "tree",
        &tree_bytes(&[("100644", b"config.toml", &blob)]),
    );
    let link_blob = git_object(&git_dir, "blob", b"../../outside-link-target");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", tree_bytes(&[ok_entry, ("40000", b"..", &x_tree)])),
        ("absolute", tree_bytes(&[("100644", b"", &blob), ok_entry])),
        (
            "slash-in-name",
            tree_bytes(&[("100644", b"/abs", &blob), ok_entry]),
        ),
        (
            "colony-dir",
            tree_bytes(&[("40000", b".colony", &cfg_tree), ok_entry]),
        ),
        (
            "escaping-symlink",
            tree_bytes(&[("120000", b"link", &link_blob), ok_entry]),
        ),
    ];
    let before = tree(outer.path());
    let config_before = std::fs::read(root.join(".colony/config.toml")).unwrap();
    for (name, raw) in cases {
        let t = git_object(&git_dir, "tree", &raw);
        let commit = git_object(
            &git_dir,
            "commit",
            format!("tree {t}\nauthor E <e@x> 0 +0000\ncommitter E <e@x> 0 +0000\n\n{name}\n")
                .as_bytes(),
        );
        std::fs::write(
            git_dir.join(format!("refs/heads/{name}")),
            format!("{commit}\n"),
        )
        .unwrap();
        let e = fails(&root, &["checkout", "--force", name]);
        assert!(e.contains("refusing"), "{name}: {e}");
        let e = fails(&root, &["checkout", "--force", name, "--", "ok.txt"]);
        assert!(e.contains("refusing"), "{name} (paths): {e}");
        assert_eq!(tree(outer.path()), before, "{name}: something was written");
        assert_eq!(
            std::fs::read(root.join(".colony/config.toml")).unwrap(),
            config_before
        );
        assert!(
            !outer.path().join("x").exists() && !outer.path().join("outside-link-target").exists()
        );
    }
    assert_eq!(json(&root, &["status"])["branch"], "main");
    // A work-tree folder that is a symlink out of the tree is never written through.
    std::fs::remove_file(root.join("ok.txt")).unwrap();
    std::os::unix::fs::symlink(outer.path(), root.join("sub")).unwrap();
    let escape = git_object(&git_dir, "tree", &tree_bytes(&[("100644", b"x", &blob)]));
    let t = git_object(
        &git_dir,
        "tree",
        &tree_bytes(&[ok_entry, ("40000", b"sub", &escape)]),
    );
    let commit = git_object(
        &git_dir,
        "commit",
        format!("tree {t}\nauthor E <e@x> 0 +0000\ncommitter E <e@x> 0 +0000\n\nsub\n").as_bytes(),
    );
    std::fs::write(
        git_dir.join("refs/heads/via-symlink"),
        format!("{commit}\n"),
    )
    .unwrap();
    let e = fails(&root, &["checkout", "--force", "via-symlink"]);
    assert!(e.contains("symlink"), "{e}");
    assert!(
        !outer.path().join("x").exists(),
        "wrote through a symlinked folder"
    );
}

#[test]
fn killed_commits_leave_a_store_fsck_passes_and_the_last_commit_intact() {
    let d = dataset();
    let root = d.path();
    for i in 0..6 {
        write(
            root,
            &format!("f{i}.bin"),
            &random_bytes(3_000_000, 100 + i),
        );
    }
    let mut good = commit_all(root, "base");
    let mut good_tree = tree(root);
    let mut killed = 0;
    for round in 0..12u64 {
        // New content each round, so every commit has real work to do.
        for i in 0..6 {
            write(
                root,
                &format!("f{i}.bin"),
                &random_bytes(3_000_000, 1000 * round + i),
            );
        }
        let mut child = cmd(
            root,
            &["commit", "-a", "-m", &format!("round {round}"), "--json"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(5 + (round * 37) % 250));
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            good = serde_json::from_slice(&out.stdout).unwrap();
            good_tree = tree(root);
        } else {
            killed += 1;
        }
        let fsck = run(root, &["fsck", "--json"]);
        assert!(
            fsck.status.success(),
            "round {round}: fsck failed: {}",
            String::from_utf8_lossy(&fsck.stdout)
        );
        // HEAD is either the last good commit or a complete new one; both verify.
        let head = json(root, &["log", "-n", "1"]);
        let verify = json(root, &["verify"]);
        assert_eq!(verify["ok"], true, "round {round}: {verify}");
        if head[0]["commit"] != good["commit"] {
            good = serde_json::json!({ "commit": head[0]["commit"] });
            ok(root, &["reset", "--hard"]);
            good_tree = tree(root);
        }
        // The last good commit checks out intact.
        let saved = tree(root);
        ok(
            root,
            &["checkout", "--force", good["commit"].as_str().unwrap()],
        );
        assert_eq!(
            tree(root),
            good_tree,
            "round {round}: last commit is not intact"
        );
        ok(root, &["switch", "--force", "main"]);
        for (p, b) in saved {
            write(root, &p, &b);
        }
    }
    assert!(
        killed >= 3,
        "only {killed} commits were actually interrupted"
    );
    let gc = json(root, &["gc"]);
    assert!(gc["temporaries_removed"].as_u64().is_some());
    assert_eq!(json(root, &["fsck"])["ok"], true);
}

#[test]
fn concurrent_commits_serialise_and_none_is_lost() {
    let d = dataset();
    let root = d.path().to_path_buf();
    write(&root, "seed", b"seed");
    commit_all(&root, "seed");
    let n = 4;
    for i in 0..n {
        write(
            &root,
            &format!("w{i}.bin"),
            &random_bytes(2_000_000, 500 + i),
        );
    }
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                let a = run(&root, &["add", &format!("w{i}.bin")]);
                assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
                let c = run(&root, &["commit", "-m", &format!("writer {i}")]);
                let err = String::from_utf8_lossy(&c.stderr).to_string();
                // A writer may find its file already committed by a faster one.
                assert!(
                    c.status.success() || err.contains("nothing to commit"),
                    "writer {i}: {err}"
                );
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let show = json(&root, &["show"]);
    let paths: Vec<&str> = show["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for i in 0..n {
        assert!(
            paths.contains(&format!("w{i}.bin").as_str()),
            "w{i}.bin lost: {paths:?}"
        );
    }
    let log = json(&root, &["log"]);
    for w in log.as_array().unwrap().windows(2) {
        assert_eq!(w[0]["parents"][0], w[1]["commit"], "history is linear");
    }
    assert_eq!(json(&root, &["fsck"])["ok"], true);
    assert_eq!(json(&root, &["verify"])["ok"], true);
}

#[test]
fn a_second_process_waits_for_the_lock_then_times_out_clearly() {
    let d = dataset();
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(d.path().join(".colony/lock"))
        .unwrap();
    lock.lock().unwrap();
    let out = cmd(d.path(), &["status"])
        .env("COLONY_LOCK_TIMEOUT", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("another colony process") && e.contains("COLONY_LOCK_TIMEOUT"),
        "{e}"
    );
    lock.unlock().unwrap();
    ok(d.path(), &["status"]);
}
