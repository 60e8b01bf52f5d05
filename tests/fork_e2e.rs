//! `fork`, `lineage`, `remote` and `fetch`, driving the built binary.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::*;

/// KiB that `du` charges to each folder, hard links counted once, in argument order.
fn du_k(dirs: &[&Path]) -> Vec<u64> {
    let out = Command::new("du").arg("-sk").args(dirs).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn fork_shares_chunks_and_lineage_reads_back() {
    let a = origin_with_parts(&[1_500_000; 4]);
    let top = tempfile::tempdir().unwrap();
    let b = top.path().join("curated");
    let r = json(
        a.path(),
        &["fork", ".", b.to_str().unwrap(), "--name", "curated"],
    );
    assert_eq!(r["shards_copied"], 0, "{r}");
    assert!(r["shards_linked"].as_u64().unwrap() >= 1, "{r}");
    // The same bytes, checked out and verified.
    assert_eq!(tree(&b), tree(a.path()));
    ok(&b, &["verify"]);
    ok(&b, &["fsck"]);
    // Every shard of the fork is the parent's file (same inode): no second copy.
    let a_shards = shard_files(a.path());
    let b_shards = shard_files(&b);
    assert_eq!(a_shards.len(), b_shards.len());
    for (x, y) in a_shards.iter().zip(&b_shards) {
        let (mx, my) = (std::fs::metadata(x).unwrap(), std::fs::metadata(y).unwrap());
        assert_eq!((mx.dev(), mx.ino()), (my.dev(), my.ino()));
    }
    let du = du_k(&[&a.path().join(".colony/shards"), &b.join(".colony/shards")]);
    assert!(du[0] > 4000, "{du:?}");
    assert!(du[1] * 20 < du[0], "the fork's shards take {du:?} KiB");

    // Lineage: own id, parent's id, fork point and root.
    let la = json(a.path(), &["lineage"]);
    let lb = json(&b, &["lineage"]);
    assert_eq!(la["parents"].as_array().unwrap().len(), 0);
    assert_ne!(lb["id"], la["id"]);
    assert_eq!(lb["id"].as_str().unwrap().len(), 32);
    assert_eq!(lb["name"], "curated");
    let p = &lb["parents"][0];
    assert_eq!(p["id"], la["id"]);
    assert_eq!(p["fork_commit"].as_str().unwrap(), head_commit(a.path()));
    assert_eq!(p["fork_root"], json(a.path(), &["show", "HEAD"])["root"]);
    assert_eq!(
        Path::new(p["path"].as_str().unwrap()),
        a.path().canonicalize().unwrap()
    );

    // A fork of the fork sees the whole chain, even once the origin is gone.
    write(&b, "notes/readme.txt", b"curated notes\n");
    ok(&b, &["commit", "-a", "-m", "curate"]);
    let c = top.path().join("grandchild");
    ok(&b, &["fork", ".", c.to_str().unwrap()]);
    let origin_id = la["id"].clone();
    drop(a);
    let lc = json(&c, &["lineage"]);
    let chain: Vec<_> = lc["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(chain, vec![lb["id"].clone(), origin_id]);
    assert_eq!(
        lc["parents"][0]["fork_commit"].as_str().unwrap(),
        head_commit(&b)
    );
    let text = ok(&c, &["lineage"]);
    assert!(text.contains("curated"), "{text}");
    // The fork's history stands alone: real git reads it.
    let out = Command::new("git")
        .args([
            "--git-dir",
            c.join(".colony/history").to_str().unwrap(),
            "fsck",
            "--strict",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&c, &["verify"]);

    // A sibling given with `..` is fine; a folder inside the dataset is not.
    let sib = c.join("../sibling");
    ok(&c, &["fork", ".", "../sibling", "--no-checkout"]);
    assert!(sib.join(".colony/history").is_dir());
    assert!(fails(&c, &["fork", ".", "inside"]).contains("overlaps"));
    // Forking into a non-empty folder is refused.
    let err = fails(&c, &["fork", ".", b.to_str().unwrap()]);
    assert!(err.contains("not empty"), "{err}");
}

#[test]
fn fetch_between_forks_moves_only_what_is_missing() {
    let a = origin_with_parts(&[1_500_000; 4]);
    let top = tempfile::tempdir().unwrap();
    let b = top.path().join("b");
    ok(a.path(), &["fork", ".", b.to_str().unwrap()]);
    write(&b, "data/new.bin", &random_bytes(800_000, 99));
    write(&b, "notes/readme.txt", b"from b\n");
    let cb = commit_all(&b, "b adds data");

    ok(a.path(), &["remote", "add", "b", b.to_str().unwrap()]);
    let remotes = json(a.path(), &["remote", "list"]);
    assert_eq!(remotes[0]["name"], "b");
    let f = json(a.path(), &["fetch", "b"]);
    assert!(f["objects"].as_u64().unwrap() >= 3, "{f}");
    assert_eq!(f["shards"], 1, "{f}");
    assert_eq!(f["updated"][0]["branch"], "main");
    assert_eq!(f["updated"][0]["new"], cb["commit"]);
    // Nothing is left to move the second time.
    let f2 = json(a.path(), &["fetch", "b"]);
    assert_eq!(f2["objects"], 0, "{f2}");
    assert_eq!(f2["shards"], 0, "{f2}");
    assert_eq!(f2["updated"].as_array().unwrap().len(), 0, "{f2}");
    // gc keeps what remote-tracking branches reach.
    ok(a.path(), &["gc"]);
    // The fetched commit reads back verified, then merges (fast-forward).
    assert_eq!(
        ok(a.path(), &["cat", "b/main:notes/readme.txt"]),
        "from b\n"
    );
    ok(a.path(), &["verify", "b/main"]);
    let m = json(a.path(), &["merge", "b/main"]);
    assert_eq!(m["result"], "fast_forward");
    assert_eq!(tree(a.path()), tree(&b));
    ok(a.path(), &["fsck"]);

    ok(a.path(), &["remote", "remove", "b"]);
    assert_eq!(json(a.path(), &["remote"]).as_array().unwrap().len(), 0);
    assert!(fails(a.path(), &["cat", "b/main:notes/readme.txt"]).contains("b/main"));
}

#[test]
fn fetch_refuses_a_corrupt_shard() {
    let a = origin_with_parts(&[1_500_000; 4]);
    let top = tempfile::tempdir().unwrap();
    let b = top.path().join("b");
    ok(a.path(), &["fork", ".", b.to_str().unwrap()]);
    let before: Vec<_> = shard_files(&b);
    write(&b, "data/new.bin", &random_bytes(300_000, 7));
    commit_all(&b, "b");
    let new: Vec<_> = shard_files(&b)
        .into_iter()
        .filter(|s| !before.contains(s))
        .collect();
    assert_eq!(new.len(), 1);
    let mut bytes = std::fs::read(&new[0]).unwrap();
    bytes[200] ^= 0x40;
    std::fs::write(&new[0], bytes).unwrap();

    ok(a.path(), &["remote", "add", "b", b.to_str().unwrap()]);
    let err = fails(a.path(), &["fetch", "b"]);
    assert!(err.contains("BLAKE3"), "{err}");
    assert!(fails(a.path(), &["cat", "b/main:data/new.bin"]).contains("b/main"));
    ok(a.path(), &["fsck"]);
}

#[test]
fn fork_into_a_sibling_folder_by_relative_path() {
    let top = tempfile::tempdir().unwrap();
    let a = top.path().join("a");
    std::fs::create_dir(&a).unwrap();
    ok(&a, &["init"]);
    write(&a, "f.txt", b"one\n");
    commit_all(&a, "v1");
    // `a-sibling` shares a name prefix with `a` but is not inside it.
    ok(&a, &["fork", ".", "../a-sibling"]);
    assert_eq!(tree(&top.path().join("a-sibling")), tree(&a));
    std::fs::create_dir(a.join("sub")).unwrap();
    ok(&a.join("sub"), &["fork", "..", "../../b"]);
    ok(&top.path().join("b"), &["verify"]);
    // Inside the dataset, or the dataset inside the fork: refused.
    assert!(fails(&a, &["fork", ".", "inner"]).contains("overlaps"));
    let err = fails(&a, &["fork", ".", ".."]);
    assert!(
        err.contains("overlaps") || err.contains("not empty"),
        "{err}"
    );
}
