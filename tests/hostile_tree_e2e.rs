//! Hostile trees, locks and run records (issue 21, items 3, 5 and 7): each test performs
//! the attack against the built binary and checks it is refused and nothing outside the
//! dataset changed.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use colony_store::{Access, Repo};
use colony_trainer_hook::record::{FORMAT, RunRecord, SnapshotRef, TrainerId, write_record};
use common::*;

/// Writes a raw git object with real git and returns its id.
fn git_object(git_dir: &Path, kind: &str, bytes: &[u8]) -> String {
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

/// A raw tree of (mode, name, id) entries, sorted as git wants them.
fn tree_bytes(entries: &[(&str, &str, &str)]) -> Vec<u8> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|(mode, name, _)| {
        let mut k = name.as_bytes().to_vec();
        if *mode == "40000" {
            k.push(b'/');
        }
        k
    });
    let mut out = Vec::new();
    for (mode, name, id) in sorted {
        out.extend_from_slice(mode.as_bytes());
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(&hex::decode(id).unwrap());
    }
    out
}

/// The link that takes the walk back to the root: eight folders down, eight `..` up.
const UP_DIR: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
const UP_TARGET: &str = "../../../../../../../..";
/// Through `up`, one folder above the dataset root. Alone (without `up` being a link)
/// the text stays inside, so a per-link check lets it through.
const LEAK_TARGET: &str = "a/b/c/d/e/f/g/h/up/../secret.txt";

/// Writes, with real git, a commit holding `ok.txt` (content "fine"), the `up` link
/// eight folders down and `leak`, and points branch `branch` at it.
fn craft_chain_commit(root: &Path, branch: &str) -> String {
    let git_dir = root.join(".colony/history");
    let pointer = format!(
        "colony-pointer v1\nblake3 {}\nsize 4\n",
        blake3::hash(b"fine").to_hex()
    );
    let blob = git_object(&git_dir, "blob", pointer.as_bytes());
    let up = git_object(&git_dir, "blob", UP_TARGET.as_bytes());
    let leak = git_object(&git_dir, "blob", LEAK_TARGET.as_bytes());
    let mut t = git_object(&git_dir, "tree", &tree_bytes(&[("120000", "up", &up)]));
    for dir in UP_DIR.iter().rev() {
        let parent = if *dir == "a" {
            vec![
                ("40000", *dir, t.as_str()),
                ("100644", "ok.txt", blob.as_str()),
                ("120000", "leak", leak.as_str()),
            ]
        } else {
            vec![("40000", *dir, t.as_str())]
        };
        t = git_object(&git_dir, "tree", &tree_bytes(&parent));
    }
    let commit = git_object(
        &git_dir,
        "commit",
        format!("tree {t}\nauthor E <e@x> 0 +0000\ncommitter E <e@x> 0 +0000\n\nchain\n")
            .as_bytes(),
    );
    std::fs::write(
        git_dir.join(format!("refs/heads/{branch}")),
        format!("{commit}\n"),
    )
    .unwrap();
    commit
}

/// Every symlink under `dir` (any depth, `.colony` included), as paths.
fn symlinks_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            out.push(e.path());
        } else if ft.is_dir() {
            out.extend(symlinks_under(&e.path()));
        }
    }
    out
}

#[test]
fn a_symlink_chain_in_history_is_refused_by_clone_checkout_and_fsck() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret.txt"), b"outside the dataset").unwrap();
    let origin = outer.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    ok(&origin, &["init"]);
    write(&origin, "ok.txt", b"fine");
    commit_all(&origin, "benign");
    let evil = craft_chain_commit(&origin, "evil");
    let before = tree(outer.path());

    // Checkout in place: refused, nothing written (no `leak`, no `a/…/up`).
    let e = fails(&origin, &["checkout", "--force", "evil"]);
    assert!(e.contains("leak") && e.contains("refusing"), "{e}");
    let e = fails(&origin, &["checkout", "--force", "evil", "--", "ok.txt"]);
    assert!(e.contains("leak"), "{e}");
    assert_eq!(tree(outer.path()), before, "checkout wrote something");
    assert!(symlinks_under(outer.path()).is_empty());

    // fsck names the commit and the link (it used to say ok).
    let out = run(&origin, &["fsck", "--json"]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["object"] == format!("commit {evil}")
                && e["files"].as_array().unwrap().iter().any(|f| f == "leak")),
        "{report}"
    );

    // Clone of that branch: refused, and the half-made clone is removed.
    let clone = outer.path().join("clone");
    let e = fails(
        outer.path(),
        &[
            "clone",
            "--branch",
            "evil",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    assert!(e.contains("leak"), "{e}");
    assert!(!clone.exists() || symlinks_under(&clone).is_empty());
    assert!(symlinks_under(outer.path()).is_empty());
    assert_eq!(
        std::fs::read(outer.path().join("secret.txt")).unwrap(),
        b"outside the dataset"
    );
}

#[test]
fn add_refuses_a_symlink_chain_at_once_or_one_link_at_a_time() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("ds");
    std::fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    let up_dir = root.join(UP_DIR.join("/"));
    std::fs::create_dir_all(&up_dir).unwrap();
    std::os::unix::fs::symlink(UP_TARGET, up_dir.join("up")).unwrap();
    std::os::unix::fs::symlink(LEAK_TARGET, root.join("leak")).unwrap();
    write(&root, "ok.txt", b"fine");
    // Both at once.
    let e = fails(&root, &["add", "."]);
    assert!(
        e.contains("leak") && e.contains("a/b/c/d/e/f/g/h/up"),
        "{e}"
    );
    assert_eq!(json(&root, &["status"])["staged"], serde_json::json!([]));
    // `up` alone is harmless (it leads to the root) and is committed; `leak` then
    // chains through the committed link and is refused.
    ok(&root, &["add", "a", "ok.txt"]);
    ok(&root, &["commit", "-m", "up"]);
    let e = fails(&root, &["add", "leak"]);
    assert!(e.contains("leak"), "{e}");
    let st = json(&root, &["status"]);
    assert_eq!(st["staged"], serde_json::json!([]), "{st}");
    // And the other way round: `leak` first (harmless while `up` is a folder) ...
    let other = outer.path().join("other");
    std::fs::create_dir(&other).unwrap();
    ok(&other, &["init"]);
    std::fs::create_dir_all(other.join(UP_DIR.join("/")).join("up")).unwrap();
    write(&other, &format!("{}/up/keep.txt", UP_DIR.join("/")), b"k");
    std::os::unix::fs::symlink(LEAK_TARGET, other.join("leak")).unwrap();
    commit_all(&other, "leak while up is a folder");
    // ... then `up` turned into the link: staging it is refused.
    let up = other.join(UP_DIR.join("/")).join("up");
    std::fs::remove_dir_all(&up).unwrap();
    std::os::unix::fs::symlink(UP_TARGET, &up).unwrap();
    let e = fails(&other, &["add", "."]);
    assert!(e.contains("leak"), "{e}");
}

#[test]
fn links_of_two_revisions_cannot_be_mixed_into_an_escape() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret.txt"), b"outside").unwrap();
    let root = outer.path().join("ds");
    std::fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    write(&root, "ok.txt", b"fine");
    commit_all(&root, "base");
    // side: only `leak`, which stays inside while nothing else is a link.
    ok(&root, &["switch", "-c", "side"]);
    std::os::unix::fs::symlink(LEAK_TARGET, root.join("leak")).unwrap();
    commit_all(&root, "leak");
    // main: only `up`, harmless alone.
    ok(&root, &["switch", "main"]);
    let up_dir = root.join(UP_DIR.join("/"));
    std::fs::create_dir_all(&up_dir).unwrap();
    std::os::unix::fs::symlink(UP_TARGET, up_dir.join("up")).unwrap();
    commit_all(&root, "up");
    let before = tree(outer.path());
    // Restoring `leak` from side next to main's `up`: refused, nothing written.
    let e = fails(&root, &["checkout", "side", "--", "leak"]);
    assert!(e.contains("leak"), "{e}");
    // Merging side (a clean merge of two paths): refused, nothing written or committed.
    let head = head_commit(&root);
    let e = fails(&root, &["merge", "side"]);
    assert!(e.contains("leak"), "{e}");
    assert_eq!(head_commit(&root), head);
    assert_eq!(tree(outer.path()), before);
    assert!(!root.join("leak").exists() && root.join("leak").symlink_metadata().is_err());
}

#[test]
fn a_lock_symlinked_to_the_pushers_file_is_refused_and_the_file_unchanged() {
    let outer = tempfile::tempdir().unwrap();
    let pusher = outer.path().join("pusher");
    std::fs::create_dir(&pusher).unwrap();
    ok(&pusher, &["init"]);
    write(&pusher, "data.txt", b"some data");
    commit_all(&pusher, "data");
    let precious = outer.path().join("precious.txt");
    std::fs::write(&precious, b"the pusher's own file").unwrap();
    // The target dataset's lock is a symlink to the pusher's file.
    let target = outer.path().join("target");
    std::fs::create_dir(&target).unwrap();
    ok(&target, &["init"]);
    let lock = target.join(".colony/lock");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&precious, &lock).unwrap();
    ok(&pusher, &["remote", "add", "t", target.to_str().unwrap()]);
    let e = fails(&pusher, &["push", "t"]);
    assert!(e.contains("lock") && e.contains("symlink"), "{e}");
    assert_eq!(std::fs::read(&precious).unwrap(), b"the pusher's own file");
    // A hard link instead still locks, but is never written either.
    std::fs::remove_file(&lock).unwrap();
    std::fs::hard_link(&precious, &lock).unwrap();
    ok(&pusher, &["push", "t"]);
    assert_eq!(std::fs::read(&precious).unwrap(), b"the pusher's own file");
}

/// A minimal run record trained on `commit` of `root`, with `note` making it unique.
fn record(root: &Path, note: &str) -> RunRecord {
    let c = json(root, &["log", "-n", "1"]);
    RunRecord {
        format: FORMAT.into(),
        kind: "exec".into(),
        snapshot: SnapshotRef {
            commit: c[0]["commit"].as_str().unwrap().into(),
            root: c[0]["root"].as_str().unwrap_or_default().into(),
        },
        trainer: TrainerId {
            name: note.into(),
            version: "1".into(),
            backend: "none".into(),
        },
        isa: "test".into(),
        config: None,
        data: None,
        losses: vec![1.0, 0.5],
        chain: Vec::new(),
        checkpoints: Vec::new(),
        final_weights: None,
        exec: None,
        torch: None,
    }
}

#[test]
fn a_remote_publishing_a_forged_record_under_an_honest_id_is_refused() {
    let outer = tempfile::tempdir().unwrap();
    // The honest origin and its run.
    let origin = outer.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    ok(&origin, &["init"]);
    write(&origin, "data.txt", b"training data");
    commit_all(&origin, "data");
    let honest = {
        let rec = record(&origin, "honest");
        let repo = Repo::open(&origin, Access::Write, &|_| {}).unwrap();
        write_record(&repo, &rec, &BTreeMap::new(), None).unwrap().0
    };
    let honest_hash = json(&origin, &["run", "show", &honest])["record_hash"].clone();
    // The mirror: a clone of origin whose `refs/runs/<honest>` is a forged record.
    let mirror = outer.path().join("mirror");
    ok(
        outer.path(),
        &["clone", origin.to_str().unwrap(), mirror.to_str().unwrap()],
    );
    {
        let mut forged = record(&mirror, "forged");
        forged.losses = vec![0.0];
        let repo = Repo::open(&mirror, Access::Write, &|_| {}).unwrap();
        write_record(&repo, &forged, &BTreeMap::new(), Some(&honest)).unwrap();
    }
    // The mirror itself will not show, verify or pass it on.
    let e = fails(&mirror, &["run", "show", &honest]);
    assert!(
        e.contains(&honest) && e.contains("not what its name says"),
        "{e}"
    );
    let listed = json(&mirror, &["run", "list"]);
    assert!(listed[0]["refused"].is_string(), "{listed}");
    let empty = outer.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    ok(&empty, &["init"]);
    ok(&mirror, &["remote", "add", "e", empty.to_str().unwrap()]);
    let e = fails(&mirror, &["push", "e"]);
    assert!(e.contains(&honest), "{e}");
    assert!(
        !empty
            .join(format!(".colony/history/refs/runs/{honest}"))
            .exists()
    );

    // A victim fetching from the mirror first: refused, naming the run; nothing adopted.
    let victim = outer.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    ok(&victim, &["init"]);
    ok(
        &victim,
        &["remote", "add", "mirror", mirror.to_str().unwrap()],
    );
    ok(
        &victim,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    let e = fails(&victim, &["fetch", "mirror"]);
    assert!(
        e.contains(&honest) && e.contains("not what its name says"),
        "{e}"
    );
    assert!(
        !victim
            .join(format!(".colony/history/refs/runs/{honest}"))
            .exists()
    );
    // Then from the honest origin: the honest record is adopted and used.
    ok(&victim, &["fetch", "origin"]);
    let shown = json(&victim, &["run", "show", &honest]);
    assert_eq!(shown["record_hash"], honest_hash, "{shown}");
    assert_eq!(shown["record"]["trainer"]["name"], "honest");
    // Fetching from the mirror again is still refused, and the honest run stays.
    fails(&victim, &["fetch", "mirror"]);
    assert_eq!(
        json(&victim, &["run", "show", &honest])["record_hash"],
        honest_hash
    );
    // A forged run already held (adopted before names were checked, here planted) gives
    // way to the honest one when it arrives.
    ok(&mirror, &["fetch", "origin"]);
    assert_eq!(
        json(&mirror, &["run", "show", &honest])["record_hash"],
        honest_hash
    );
}
