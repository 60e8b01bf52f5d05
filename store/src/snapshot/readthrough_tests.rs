//! Tests of read-through ([`super::readthrough`]) with real datasets: a sparse clone of a
//! dataset folder, read with a [`SnapshotReader`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::error::StoreError;
use crate::ops::clone::CloneOptions;
use crate::ops::remote::RemoteUrl;
use crate::repo::{Access, InitOptions, Repo};

fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write(root: &Path, path: &str, bytes: &[u8]) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn commit_all(root: &Path, msg: &str) {
    let repo = Repo::open(root, Access::Write, &|_| {}).unwrap();
    repo.add(&["".into()]).unwrap();
    repo.commit(msg, false).unwrap();
}

/// Shard files of a dataset.
fn shards(root: &Path) -> Vec<PathBuf> {
    let dir = root.join(".colony/shards");
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "tmp") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "shard") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// An origin with `a/x.bin` in one commit (one shard) and `b/y.bin` in the next (another
/// shard), and a sparse clone of it (`a/*`) from its folder.
struct Setup {
    _top: tempfile::TempDir,
    origin: PathBuf,
    clone: PathBuf,
    y: Vec<u8>,
}

fn setup() -> Setup {
    let top = tempfile::tempdir().unwrap();
    let origin = top.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    Repo::init(&origin, &InitOptions::default()).unwrap();
    write(&origin, "a/x.bin", &noise(1, 300_000));
    commit_all(&origin, "a");
    let y = noise(2, 900_000);
    write(&origin, "b/y.bin", &y);
    commit_all(&origin, "b");
    assert_eq!(shards(&origin).len(), 2);
    let clone = top.path().join("clone");
    let opts = CloneOptions {
        paths: Some("a/*".into()),
        ..Default::default()
    };
    let r = Repo::clone_from(&RemoteUrl::Path(origin.clone()), &clone, &opts).unwrap();
    assert_eq!(r.fetch.shards, 1);
    Setup {
        _top: top,
        origin,
        clone,
        y,
    }
}

fn offline() -> ReaderOptions {
    ReaderOptions {
        offline: true,
        ..Default::default()
    }
}

/// The shard of the origin holding `b/y.bin` (the one the clone lacks).
fn y_shard(s: &Setup) -> PathBuf {
    let have: Vec<_> = shards(&s.clone)
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    shards(&s.origin)
        .into_iter()
        .find(|p| !have.contains(&p.file_name().unwrap().to_owned()))
        .unwrap()
}

#[test]
fn a_sparse_clone_reads_a_file_outside_its_paths_through_its_remote() {
    let s = setup();
    // Offline, the file is missing.
    let r = SnapshotReader::open_with(&s.clone, "HEAD", offline()).unwrap();
    let err = r.read_at("b/y.bin", 0, 10).unwrap_err();
    assert!(
        matches!(&err, StoreError::AtPath { source, .. }
            if matches!(**source, StoreError::Missing { .. })),
        "{err:?}"
    );
    drop(r);
    // By default a sparse clone reads through its remote: the right bytes, anywhere.
    let r = SnapshotReader::open(&s.clone, "HEAD").unwrap();
    assert_eq!(r.read_at("b/y.bin", 1000, 5000).unwrap(), &s.y[1000..6000]);
    let mut all = Vec::new();
    assert_eq!(r.write_to("b/y.bin", &mut all).unwrap(), s.y.len() as u64);
    assert_eq!(all, s.y);
    // Now the data is local: an offline reader reads it, and fsck is clean.
    assert_eq!(shards(&s.clone).len(), 2);
    let r2 = SnapshotReader::open_with(&s.clone, "HEAD", offline()).unwrap();
    assert_eq!(r2.read_at("b/y.bin", 0, 1 << 20).unwrap(), s.y);
    drop((r, r2));
    let repo = Repo::open(&s.clone, Access::Read, &|_| {}).unwrap();
    let fsck = repo.fsck().unwrap();
    assert!(fsck.ok, "{:?}", fsck.errors);
}

/// Counts the files asked for, passing them on.
struct Counting(DatasetRemotes, AtomicUsize);
impl RemoteChunks for Counting {
    fn fetch_file(&self, commit: gix::ObjectId, path: &str, e: &FileEntry) -> crate::Result<()> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.fetch_file(commit, path, e)
    }
}

#[test]
fn threads_reading_one_missing_file_fetch_it_once() {
    let s = setup();
    let counting = Arc::new(Counting(DatasetRemotes::new(&s.clone), AtomicUsize::new(0)));
    let opts = ReaderOptions {
        remote: Some(counting.clone()),
        readahead_bytes: 0,
        ..Default::default()
    };
    let r = SnapshotReader::open_with(&s.clone, "HEAD", opts).unwrap();
    std::thread::scope(|scope| {
        for t in 0..8u64 {
            let (r, y) = (r.clone(), &s.y);
            scope.spawn(move || {
                let off = t * 100_000;
                assert_eq!(
                    r.read_at("b/y.bin", off, 50_000).unwrap(),
                    &y[off as usize..off as usize + 50_000]
                );
            });
        }
    });
    assert_eq!(counting.1.load(Ordering::SeqCst), 1);
}

#[test]
fn a_lying_remote_is_refused_and_nothing_of_it_is_stored() {
    let s = setup();
    let victim = y_shard(&s);
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&victim, bytes).unwrap();
    let r = SnapshotReader::open(&s.clone, "HEAD").unwrap();
    let err = r.read_at("b/y.bin", 0, 100).unwrap_err();
    match &err {
        StoreError::ReadThrough { path, remote, .. } => {
            assert_eq!((path.as_str(), remote.as_str()), ("b/y.bin", "origin"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("BLAKE3"), "{err}");
    assert_eq!(shards(&s.clone).len(), 1, "nothing was stored");
    // Nor left behind: the transfer folder holds only its lock files.
    let left: Vec<String> = std::fs::read_dir(s.clone.join(".colony/readthrough"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("lock-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The other files still read.
    assert_eq!(r.read_at("a/x.bin", 0, 10).unwrap(), noise(1, 10));
}

#[test]
fn a_remote_that_is_gone_gives_an_error_naming_it_and_the_path() {
    let s = setup();
    std::fs::remove_dir_all(&s.origin).unwrap();
    let r = SnapshotReader::open(&s.clone, "HEAD").unwrap();
    let err = r.read_at("b/y.bin", 0, 100).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, StoreError::ReadThrough { remote, path, .. }
            if remote == "origin" && path == "b/y.bin"),
        "{err:?}"
    );
    assert!(
        text.contains("origin") && text.contains("b/y.bin"),
        "{text}"
    );
}

#[test]
fn a_commit_made_in_the_clone_reads_through_the_remotes_branch() {
    let s = setup();
    write(&s.clone, "a/new.txt", b"made here\n");
    commit_all(&s.clone, "here");
    let r = SnapshotReader::open(&s.clone, "HEAD").unwrap();
    assert_eq!(r.read_at("b/y.bin", 0, 1 << 20).unwrap(), s.y);
}

#[test]
fn a_damaged_copy_falls_back_to_a_good_alternate() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
    let bytes = noise(3, 400_000);
    write(dir.path(), "f.bin", &bytes);
    repo.add(&["".into()]).unwrap();
    repo.commit("f", false).unwrap();
    let store = repo.chunks().unwrap();
    let honest_id = store.shard_files().unwrap()[0];
    let honest = crate::shard::SealedShard {
        id: honest_id,
        size: 0,
        entries: store.shard(&honest_id).unwrap().table().unwrap(),
    };
    // A copy of every record over garbage becomes the indexed one; the honest shard,
    // indexed again, is the alternate.
    let forged = store.forge_copy_for_test(&honest_id);
    store.reindex_shard(&forged).unwrap();
    store.index_shard(&honest).unwrap();
    drop(repo);
    let r = SnapshotReader::open(dir.path(), "HEAD").unwrap();
    assert_eq!(r.read_at("f.bin", 0, 1 << 20).unwrap(), bytes);
}
