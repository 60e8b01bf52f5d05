//! Sparse clones read through (issue 13): `colony cat` of a file outside a sparse clone's
//! paths fetches its shards from the dataset's remotes (a peer over iroh on loopback, a
//! folder, an S3 server (moto) on loopback), verified, keeps them, and prints the right
//! bytes; a lying or vanished remote gives an error naming it and the path, and nothing
//! wrong is stored.
//!
//! A sparse clone *from* S3 already holds every shard (an object store cannot tell which
//! shards some paths need), so S3 is tested as the remote of a clone made elsewhere.

mod common;
mod moto;
mod mounthelp;
mod pyhelp;
mod served;

use std::path::Path;
use std::process::Stdio;

use common::*;
use moto::Moto;
use served::Server;

/// An origin whose `a/` and `b/` files are in different shards (two commits).
fn origin() -> tempfile::TempDir {
    let a = dataset();
    write(a.path(), "a/x.bin", &random_bytes(400_000, 1));
    commit_all(a.path(), "a");
    write(a.path(), "b/y.bin", &random_bytes(1_200_000, 2));
    write(a.path(), "b/notes.txt", b"penguins\n");
    commit_all(a.path(), "b");
    assert_eq!(shard_files(a.path()).len(), 2);
    a
}

/// `colony cat SPEC` in `dir`: its stdout, or a panic with its stderr.
fn cat(dir: &Path, spec: &str) -> Vec<u8> {
    let out = run(dir, &["cat", spec]);
    assert!(
        out.status.success(),
        "cat {spec}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A sparse clone (`a/*`) of `url` in a new folder under `top`.
fn sparse_clone(top: &Path, url: &str) -> std::path::PathBuf {
    let dest = top.join("c");
    let r = json(
        top,
        &["clone", url, dest.to_str().unwrap(), "--paths", "a/*"],
    );
    assert_eq!(r["fetch"]["shards"], 1, "{r}");
    dest
}

fn assert_fsck_clean(dir: &Path) {
    let f = json(dir, &["fsck"]);
    assert_eq!(f["ok"], true, "{f}");
}

#[test]
fn cat_in_a_sparse_clone_over_iroh_reads_through_and_keeps_the_shards() {
    let a = origin();
    let server = Server::start(a.path(), &[], &[]);
    let top = tempfile::tempdir().unwrap();
    let c = sparse_clone(top.path(), &server.ticket);
    assert!(!c.join("b").exists());

    let want = std::fs::read(a.path().join("b/y.bin")).unwrap();
    assert_eq!(cat(&c, "HEAD:b/y.bin"), want);
    // The shard is here now, verified and indexed: fsck is clean, and it reads without
    // the peer.
    assert_eq!(shard_files(&c).len(), 2);
    assert_fsck_clean(&c);
    drop(server);
    assert_eq!(cat(&c, "HEAD:b/notes.txt"), b"penguins\n");
    assert_eq!(cat(&c, "HEAD:b/y.bin"), want);
    // The work tree is still sparse.
    assert!(!c.join("b").exists());
}

/// A sparse clone plus a mount is a streaming view of what a peer holds: a file outside
/// the clone's paths reads through the mount with the right bytes, fetched on first read.
#[test]
fn a_mount_of_a_sparse_clone_over_iroh_reads_files_that_are_not_local() {
    if !mounthelp::fuse_here() {
        return;
    }
    let a = origin();
    let server = Server::start(a.path(), &[], &[]);
    let top = tempfile::tempdir().unwrap();
    let c = sparse_clone(top.path(), &server.ticket);
    let m = mounthelp::Mounted::start(&c, "HEAD");
    let sent = server.shards_sent();
    let want = std::fs::read(a.path().join("b/y.bin")).unwrap();
    // Random ranges first (only the chunks under them are needed), then the whole file.
    let f = std::fs::File::open(m.dir.join("b/y.bin")).unwrap();
    for (off, len) in [(1_000_000u64, 4096usize), (17, 100), (1_199_990, 10)] {
        let mut buf = vec![0u8; len];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, off).unwrap();
        assert_eq!(buf, want[off as usize..off as usize + len], "at {off}");
    }
    assert_eq!(std::fs::read(m.dir.join("b/y.bin")).unwrap(), want);
    assert_eq!(
        std::fs::read(m.dir.join("b/notes.txt")).unwrap(),
        b"penguins\n"
    );
    assert_eq!(server.shards_sent(), sent + 1);
    m.stop();
    assert_fsck_clean(&c);
}

#[test]
fn two_processes_reading_one_missing_file_fetch_it_once() {
    let a = origin();
    let server = Server::start(a.path(), &[], &[]);
    let top = tempfile::tempdir().unwrap();
    let c = sparse_clone(top.path(), &server.ticket);
    let sent = server.shards_sent();
    assert_eq!(sent, 1);
    let want = std::fs::read(a.path().join("b/y.bin")).unwrap();
    let cats: Vec<_> = (0..3)
        .map(|_| {
            cmd(&c, &["cat", "HEAD:b/y.bin"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in cats {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, want);
    }
    // The store lock serialises them; the ones after the first find the shard here.
    assert_eq!(server.shards_sent(), sent + 1);
    assert_fsck_clean(&c);
}

#[test]
fn cat_in_a_sparse_clone_of_a_folder_reads_through() {
    let a = origin();
    let top = tempfile::tempdir().unwrap();
    let c = sparse_clone(top.path(), a.path().to_str().unwrap());
    assert_eq!(
        cat(&c, "HEAD:b/y.bin"),
        std::fs::read(a.path().join("b/y.bin")).unwrap()
    );
    assert_eq!(shard_files(&c).len(), 2);
    assert_fsck_clean(&c);
}

#[test]
fn a_lying_peer_is_refused_naming_it_and_an_honest_remote_completes_the_read() {
    let a = origin();
    let top = tempfile::tempdir().unwrap();
    let c = sparse_clone(top.path(), a.path().to_str().unwrap());
    // `origin` becomes a peer that flips a byte of every shard it sends.
    let liar = Server::start(a.path(), &[], &[("COLONY_TEST_LIE", "flip")]);
    ok(&c, &["remote", "remove", "origin"]);
    ok(&c, &["remote", "add", "origin", &liar.ticket]);
    let err = fails(&c, &["cat", "HEAD:b/y.bin"]);
    assert!(
        err.contains("origin") && err.contains("b/y.bin") && err.contains("BLAKE3"),
        "{err}"
    );
    assert!(err.contains(&liar.node_id), "names the peer: {err}");
    // Nothing of it was stored, and the store is sound.
    assert_eq!(shard_files(&c).len(), 1);
    assert_fsck_clean(&c);
    // An honest remote beside it: the read completes (origin is tried first, then it).
    ok(&c, &["remote", "add", "mirror", a.path().to_str().unwrap()]);
    assert_eq!(
        cat(&c, "HEAD:b/y.bin"),
        std::fs::read(a.path().join("b/y.bin")).unwrap()
    );
    assert_fsck_clean(&c);
}

#[test]
fn a_peer_that_is_gone_gives_an_error_naming_it_and_the_path() {
    let a = origin();
    let server = Server::start(a.path(), &[], &[]);
    let top = tempfile::tempdir().unwrap();
    let c = sparse_clone(top.path(), &server.ticket);
    drop(server);
    let err = fails(&c, &["cat", "HEAD:b/y.bin"]);
    assert!(
        err.contains("remote `origin`") && err.contains("b/y.bin"),
        "{err}"
    );
    assert!(err.contains("colony fetch origin"), "a hint: {err}");
    assert_eq!(shard_files(&c).len(), 1);
    // What is local still reads.
    assert_eq!(
        cat(&c, "HEAD:a/x.bin"),
        std::fs::read(a.path().join("a/x.bin")).unwrap()
    );
}

#[test]
fn cat_reads_through_an_s3_remote() {
    let moto = Moto::start();
    let a = origin();
    ok_cmd(moto.colony(
        a.path(),
        &["remote", "add", "bucket", "s3://readthrough/ds"],
    ));
    // A push does not create the bucket.
    moto.create_bucket("readthrough");
    ok_cmd(moto.colony(a.path(), &["push", "bucket", "main"]));
    let top = tempfile::tempdir().unwrap();
    let c = sparse_clone(top.path(), a.path().to_str().unwrap());
    // The clone's only remote is now the bucket.
    ok(&c, &["remote", "remove", "origin"]);
    ok(&c, &["remote", "add", "bucket", "s3://readthrough/ds"]);
    let out = moto.colony(&c, &["cat", "HEAD:b/y.bin"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, std::fs::read(a.path().join("b/y.bin")).unwrap());
    assert_eq!(shard_files(&c).len(), 2);
    assert_fsck_clean(&c);
}
