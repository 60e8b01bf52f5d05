//! `clone`, `push` and `pull` with a dataset on this machine as the remote, driving the
//! built binary.

mod common;

use common::*;

#[test]
fn clone_push_pull_round_trip_byte_exact() {
    let a = origin_with_parts(&[700_000; 3]);
    let top = tempfile::tempdir().unwrap();
    let a_path = a.path().to_str().unwrap();

    // Clone: every file byte-exact, origin recorded, the checkout verified.
    let r = json(top.path(), &["clone", a_path, "b"]);
    let b = top.path().join("b");
    assert_eq!(r["branch"], "main", "{r}");
    assert_eq!(r["resumed"], false);
    assert!(r["fetch"]["shards"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(tree(&b), tree(a.path()));
    assert!(!b.join(".colony/cloning").exists());
    ok(&b, &["verify"]);
    ok(&b, &["fsck"]);
    assert_eq!(json(&b, &["remote"])[0]["name"], "origin");

    // A second fetch moves nothing.
    let f = json(&b, &["fetch", "origin"]);
    assert_eq!(f["objects"], 0, "{f}");
    assert_eq!(f["shards"], 0, "{f}");
    assert_eq!(f["updated"].as_array().unwrap().len(), 0, "{f}");

    // Push from the clone: the origin has `main` checked out and clean, so its work tree
    // follows.
    write(&b, "data/new.bin", &random_bytes(400_000, 42));
    write(&b, "notes/readme.txt", b"edited in b\n");
    commit_all(&b, "b v2");
    let p = json(&b, &["push", "origin"]);
    assert_eq!(p["branch"], "main");
    assert_eq!(p["up_to_date"], false);
    assert!(p["shards"].as_u64().unwrap() >= 1, "{p}");
    assert_eq!(head_commit(a.path()), head_commit(&b));
    assert_eq!(tree(a.path()), tree(&b));
    ok(a.path(), &["verify"]);
    ok(a.path(), &["fsck"]);
    let st = json(a.path(), &["status"]);
    assert!(st["staged"].as_array().unwrap().is_empty(), "{st}");
    assert!(st["unstaged"].as_array().unwrap().is_empty(), "{st}");
    // The remote-tracking ref followed; pushing again is a no-op.
    let again = json(&b, &["push", "origin"]);
    assert_eq!(again["up_to_date"], true, "{again}");

    // Pull into a second clone: a fast-forward, byte-exact.
    let c = top.path().join("c");
    ok(top.path(), &["clone", a_path, c.to_str().unwrap()]);
    write(&c, "data/from_c.bin", &random_bytes(300_000, 7));
    commit_all(&c, "c v3");
    ok(&c, &["push", "origin"]);
    let pl = json(&b, &["pull", "origin"]);
    assert_eq!(pl["merge"]["result"], "fast_forward", "{pl}");
    assert_eq!(tree(&b), tree(&c));

    // Diverged: b and c both commit; c pushes first, b's push is refused with a hint.
    write(&c, "data/c_only.txt", b"c\n");
    commit_all(&c, "c v4");
    ok(&c, &["push", "origin"]);
    write(&b, "data/b_only.txt", b"b\n");
    commit_all(&b, "b v4");
    let before = head_commit(a.path());
    let err = fails(&b, &["push", "origin"]);
    assert!(err.contains("not a fast-forward"), "{err}");
    assert!(err.contains("colony pull origin main"), "{err}");
    assert_eq!(
        head_commit(a.path()),
        before,
        "a refused push moved nothing"
    );
    // Pull merges (three-way, disjoint files), then the push goes through.
    let pl = json(&b, &["pull", "origin", "main"]);
    assert_eq!(pl["merge"]["result"], "merged", "{pl}");
    assert!(b.join("data/c_only.txt").exists() && b.join("data/b_only.txt").exists());
    ok(&b, &["push", "origin"]);
    assert_eq!(head_commit(a.path()), head_commit(&b));
    assert_eq!(tree(a.path()), tree(&b));

    // --force overwrites a diverged branch.
    write(&c, "data/c5.txt", b"c5\n");
    commit_all(&c, "c v5 (diverged)");
    fails(&c, &["push", "origin"]);
    let p = json(&c, &["push", "origin", "main", "--force"]);
    assert_eq!(p["new"].as_str().unwrap(), head_commit(&c));
    assert_eq!(tree(a.path()), tree(&c));
}

#[test]
fn push_refuses_a_dirty_checked_out_branch_but_takes_other_branches() {
    let a = origin_with_parts(&[700_000; 3]);
    let top = tempfile::tempdir().unwrap();
    ok(top.path(), &["clone", a.path().to_str().unwrap(), "b"]);
    let b = top.path().join("b");
    write(&b, "x.txt", b"from b\n");
    commit_all(&b, "b v2");

    // Uncommitted edit in the origin's checked-out `main`: refused, nothing moves.
    write(a.path(), "notes/readme.txt", b"local edit in a\n");
    let before = head_commit(a.path());
    let err = fails(&b, &["push", "origin"]);
    assert!(err.contains("uncommitted changes"), "{err}");
    assert!(err.contains("notes/readme.txt"), "{err}");
    assert_eq!(head_commit(a.path()), before);
    assert_eq!(
        std::fs::read(a.path().join("notes/readme.txt")).unwrap(),
        b"local edit in a\n"
    );

    // Another branch is fine: it is not checked out there.
    ok(&b, &["switch", "-c", "feature"]);
    let p = json(&b, &["push", "origin"]);
    assert_eq!(p["branch"], "feature");
    assert_eq!(p["old"], serde_json::Value::Null);
    let branches = json(a.path(), &["branch"]);
    assert!(branches.to_string().contains("feature"), "{branches}");
    assert!(
        !a.path().join("x.txt").exists(),
        "a's work tree is untouched"
    );
}

#[test]
fn clone_refuses_a_non_empty_folder_and_cleans_up_after_failure() {
    let a = origin_with_parts(&[700_000; 3]);
    let top = tempfile::tempdir().unwrap();
    let a_path = a.path().to_str().unwrap();
    write(top.path(), "busy/file.txt", b"x");
    let err = fails(top.path(), &["clone", a_path, "busy"]);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read(top.path().join("busy/file.txt")).unwrap(),
        b"x"
    );

    // A branch that does not exist: the clone fails and leaves no folder behind.
    let err = fails(top.path(), &["clone", a_path, "nob", "--branch", "nope"]);
    assert!(err.contains("no branch `nope`"), "{err}");
    assert!(!top.path().join("nob").exists());
    // Into an existing empty folder: the folder stays, empty.
    std::fs::create_dir(top.path().join("empty")).unwrap();
    fails(top.path(), &["clone", a_path, "empty", "--branch", "nope"]);
    assert!(top.path().join("empty").is_dir());
    assert_eq!(
        std::fs::read_dir(top.path().join("empty")).unwrap().count(),
        0
    );
    // Not a dataset at all.
    let err = fails(top.path(), &["clone", "/nonexistent/ds", "x"]);
    assert!(err.contains("not a colony dataset"), "{err}");
    assert!(!top.path().join("x").exists());

    // --branch picks the branch; init into a path names the right folder.
    ok(a.path(), &["switch", "-c", "dev"]);
    write(a.path(), "dev.txt", b"dev\n");
    commit_all(a.path(), "dev");
    ok(a.path(), &["switch", "main"]);
    let r = json(top.path(), &["clone", a_path, "d", "--branch", "dev"]);
    assert_eq!(r["branch"], "dev");
    assert!(top.path().join("d/dev.txt").exists());
    ok(top.path(), &["init", "fresh"]);
    assert!(top.path().join("fresh/.colony").is_dir());
}

#[test]
fn pull_into_a_fresh_dataset_starts_the_branch() {
    let a = origin_with_parts(&[700_000; 3]);
    let top = tempfile::tempdir().unwrap();
    let n = top.path().join("n");
    ok(top.path(), &["init", "n"]);
    ok(&n, &["remote", "add", "up", a.path().to_str().unwrap()]);
    let r = json(&n, &["pull", "up"]);
    assert_eq!(r["merge"]["result"], "fast_forward", "{r}");
    assert_eq!(tree(&n), tree(a.path()));
    assert_eq!(head_commit(&n), head_commit(a.path()));
    ok(&n, &["verify"]);
}

#[test]
fn interrupted_clone_resumes() {
    // A clone killed after its fetch (simulated: the marker and the fetched store left
    // behind, no branch, no work tree) is completed by running it again.
    let a = origin_with_parts(&[700_000; 3]);
    let top = tempfile::tempdir().unwrap();
    let a_path = a.path().to_str().unwrap();
    let b = top.path().join("b");
    ok(top.path(), &["init", "b"]);
    ok(&b, &["remote", "add", "origin", a_path]);
    ok(&b, &["fetch", "origin"]);
    std::fs::write(b.join(".colony/cloning"), a_path).unwrap();
    let r = json(top.path(), &["clone", a_path, "b"]);
    assert_eq!(r["resumed"], true, "{r}");
    assert_eq!(r["fetch"]["shards"], 0, "nothing fetched twice: {r}");
    assert_eq!(tree(&b), tree(a.path()));
    assert!(!b.join(".colony/cloning").exists());
    // Another URL into it is refused.
    std::fs::write(b.join(".colony/cloning"), "/elsewhere").unwrap();
    let err = fails(top.path(), &["clone", a_path, "b"]);
    assert!(err.contains("interrupted clone of /elsewhere"), "{err}");
}
