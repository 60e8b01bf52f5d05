//! Tests of [`SnapshotReader`] against stores built with the library.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::error::StoreError;
use crate::ops::refs::RefKind;
use crate::repo::{Access, InitOptions, Repo};

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A small random generator for offsets.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn write(root: &Path, path: &str, bytes: &[u8]) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// The files of the test dataset, by path.
fn dataset() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("big.bin".to_string(), noise(1, 5 << 20));
    files.insert("data/other.bin".to_string(), noise(2, 3 << 20));
    let text: String = (0..90_000)
        .map(|i| format!("row {i} value {}\n", (i * 7919) % 1000))
        .collect();
    files.insert("data/table.csv".to_string(), text.into_bytes());
    files.insert("data/sub/small.txt".to_string(), b"hello reader\n".to_vec());
    files.insert("data/sub/empty".to_string(), Vec::new());
    files.insert("tool.sh".to_string(), b"#!/bin/sh\necho hi\n".to_vec());
    files
}

/// A dataset with one commit on `main` holding [`dataset`] plus a symlink `link`.
fn store() -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let files = dataset();
    for (p, b) in &files {
        write(dir.path(), p, b);
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("tool.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("data/sub/small.txt", dir.path().join("link")).unwrap();
    let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
    repo.add(&["".into()]).unwrap();
    repo.commit("first", false).unwrap();
    (dir, files)
}

fn small_cache() -> ReaderOptions {
    ReaderOptions {
        cache_bytes: 1 << 20,
        ..Default::default()
    }
}

fn expect_range(want: &[u8], offset: u64, len: usize) -> &[u8] {
    let from = (offset as usize).min(want.len());
    &want[from..(from + len).min(want.len())]
}

#[test]
fn list_stat_and_random_ranges_match_the_original_bytes() {
    let (dir, files) = store();
    let r = SnapshotReader::open(dir.path(), "main").unwrap();
    assert_eq!(r.root(), r.recorded_root().map(SnapshotRoot).unwrap());

    // Listing: direct children with folders, or every file beneath.
    let top: Vec<(String, NodeKind)> = r
        .list("", false)
        .unwrap()
        .into_iter()
        .map(|n| (n.path, n.kind))
        .collect();
    assert_eq!(
        top,
        vec![
            ("big.bin".into(), NodeKind::File),
            ("data".into(), NodeKind::Dir),
            ("link".into(), NodeKind::Symlink),
            ("tool.sh".into(), NodeKind::File),
        ]
    );
    let deep: Vec<String> = r
        .list("data/", true)
        .unwrap()
        .into_iter()
        .map(|n| n.path)
        .collect();
    assert_eq!(
        deep,
        vec![
            "data/other.bin",
            "data/sub/empty",
            "data/sub/small.txt",
            "data/table.csv"
        ]
    );
    let data: Vec<String> = r
        .list("data", false)
        .unwrap()
        .into_iter()
        .map(|n| n.path)
        .collect();
    assert_eq!(data, vec!["data/other.bin", "data/sub", "data/table.csv"]);
    assert!(matches!(
        r.list("big.bin", false),
        Err(StoreError::NotAFolder { .. })
    ));
    assert!(matches!(
        r.list("nope", true),
        Err(StoreError::NoSuchPath { .. })
    ));

    // Stat.
    let s = r.stat("./data//table.csv").unwrap();
    assert_eq!(s.path, "data/table.csv");
    assert_eq!(s.size, files["data/table.csv"].len() as u64);
    assert_eq!(s.hash, Some(Hash::of(&files["data/table.csv"])));
    assert_eq!(r.stat("tool.sh").unwrap().mode, Some(Mode::Exec));
    assert_eq!(r.stat("data/sub").unwrap().kind, NodeKind::Dir);
    assert_eq!(r.stat("").unwrap().kind, NodeKind::Dir);
    let link = r.stat("link").unwrap();
    assert_eq!(
        (link.kind, link.target.as_deref()),
        (NodeKind::Symlink, Some("data/sub/small.txt"))
    );
    assert!(matches!(
        r.stat("data/nope"),
        Err(StoreError::NoSuchPath { .. })
    ));

    // Whole files, then random ranges, including ones that cross chunk boundaries.
    for (p, want) in &files {
        assert_eq!(&r.read_at(p, 0, want.len() + 10).unwrap(), want, "{p}");
    }
    assert_eq!(r.read_at("link", 0, 100).unwrap(), b"data/sub/small.txt");
    let mut rng = Rng(0x5eed);
    for round in 0..300 {
        for (p, want) in &files {
            let size = want.len() as u64;
            let offset = rng.below(size + 64);
            let len = if round % 3 == 0 {
                rng.below(2 << 20) as usize
            } else {
                rng.below(200_000) as usize
            };
            let got = r.read_at(p, offset, len).unwrap();
            assert_eq!(got, expect_range(want, offset, len), "{p} @{offset}+{len}");
        }
    }
}

#[test]
fn ranges_at_and_after_the_end_are_short_or_empty() {
    let (dir, files) = store();
    let r = SnapshotReader::open(dir.path(), "main").unwrap();
    let big = &files["big.bin"];
    let size = big.len() as u64;
    assert_eq!(
        r.read_at("big.bin", size - 1, 100).unwrap(),
        &big[big.len() - 1..]
    );
    assert!(r.read_at("big.bin", size, 100).unwrap().is_empty());
    assert!(r.read_at("big.bin", size + 12345, 100).unwrap().is_empty());
    assert!(r.read_at("big.bin", u64::MAX, 100).unwrap().is_empty());
    assert!(r.read_at("big.bin", 10, 0).unwrap().is_empty());
    assert!(r.read_at("data/sub/empty", 0, 10).unwrap().is_empty());
    let mut buf = vec![7u8; 64];
    assert_eq!(r.read_into("big.bin", size - 10, &mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], &big[big.len() - 10..]);
    // Folders have no bytes.
    assert!(matches!(
        r.read_at("data", 0, 10),
        Err(StoreError::IsAFolder { .. })
    ));
    assert!(matches!(
        r.read_at("", 0, 10),
        Err(StoreError::IsAFolder { .. })
    ));
    assert!(matches!(
        r.read_at("missing", 0, 10),
        Err(StoreError::NoSuchPath { .. })
    ));
}

#[test]
fn hostile_paths_are_refused_and_never_escape() {
    let (dir, _) = store();
    let r = SnapshotReader::open(dir.path(), "main").unwrap();
    for p in [
        "../outside-secret",
        "data/../../outside-secret",
        "data/../big.bin",
        "/etc/passwd",
        "data\\..\\big.bin",
        "big.bin\0",
        ".colony/config.toml",
        ".colony/lock",
        "data/.git/config",
    ] {
        for r in [
            r.read_at(p, 0, 10).map(|_| ()),
            r.stat(p).map(|_| ()),
            r.list(p, true).map(|_| ()),
        ] {
            assert!(
                matches!(r, Err(StoreError::InvalidPath { .. })),
                "{p:?}: {r:?}"
            );
        }
    }
}

#[test]
fn many_threads_share_one_handle_and_the_cache_stays_bounded() {
    let (dir, files) = store();
    let r = SnapshotReader::open_with(dir.path(), "main", small_cache()).unwrap();
    let files = Arc::new(files);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let (r, files) = (r.clone(), files.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234 + t * 7);
                let names: Vec<&String> = files.keys().collect();
                for _ in 0..150 {
                    let p = names[rng.below(names.len() as u64) as usize];
                    let want = &files[p];
                    let offset = rng.below(want.len() as u64 + 1);
                    let len = rng.below(400_000) as usize;
                    let got = r.read_at(p, offset, len).unwrap();
                    assert_eq!(got, expect_range(want, offset, len), "{p} @{offset}+{len}");
                    let s = r.cache_stats();
                    assert!(s.bytes <= s.capacity, "{s:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = r.cache_stats();
    assert_eq!(s.capacity, 1 << 20);
    assert!(s.peak_bytes <= s.capacity && s.bytes <= s.capacity, "{s:?}");
    assert!(s.hits > 0 && s.misses > 0, "{s:?}");
}

#[test]
fn sequential_reads_are_read_ahead() {
    let (dir, files) = store();
    let r = SnapshotReader::open(dir.path(), "main").unwrap();
    let want = &files["big.bin"];
    // Two reads, the second where the first ended: the chunks after it are queued.
    let mut out = r.read_at("big.bin", 0, 128 << 10).unwrap();
    out.extend(r.read_at("big.bin", 128 << 10, 128 << 10).unwrap());
    // Nothing else reads now, so only the workers can load them (watchdog, not a timing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while r.cache_stats().prefetched == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no chunk was read ahead"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let hits = r.cache_stats().hits;
    loop {
        let got = r.read_at("big.bin", out.len() as u64, 128 << 10).unwrap();
        if got.is_empty() {
            break;
        }
        out.extend_from_slice(&got);
    }
    assert_eq!(&out, want);
    assert!(r.cache_stats().hits > hits);
}

/// The chunk index entry of a file's first chunk.
fn first_chunk(dir: &Path, commit_rev: &str, path: &str) -> (Hash, crate::chunks::Location) {
    let repo = Repo::open(dir, Access::Read, &|_| {}).unwrap();
    let id = repo.resolve(commit_rev).unwrap();
    let snap = repo.snapshot_of(id).unwrap();
    let store = repo.chunks().unwrap();
    let (chunk, _) = crate::content::chunk_list(store, &snap[path]).unwrap()[0];
    (chunk, store.locate(&chunk).unwrap().unwrap())
}

#[test]
fn a_corrupt_chunk_is_an_error_naming_file_and_shard_and_other_files_still_read() {
    let (dir, files) = store();
    let (chunk, loc) = first_chunk(dir.path(), "main", "big.bin");
    let shard = crate::shard_path(&dir.path().join(".colony/shards"), &loc.shard);
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[loc.entry.offset as usize + 100] ^= 0x40;
    std::fs::write(&shard, bytes).unwrap();

    let r = SnapshotReader::open(dir.path(), "main").unwrap();
    let err = r.read_at("big.bin", 10, 1000).unwrap_err();
    match &err {
        StoreError::AtPath { path, source } => {
            assert_eq!(path, "big.bin");
            match source.as_ref() {
                StoreError::CorruptChunk {
                    chunk: c, shard, ..
                } => {
                    assert_eq!((*c, *shard), (chunk, loc.shard));
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("big.bin") && msg.contains(&loc.shard.to_hex()),
        "{msg}"
    );
    // No bytes come back for a range touching it, however it is asked for.
    let mut buf = vec![0u8; 1 << 20];
    assert!(r.read_into("big.bin", 0, &mut buf).is_err());
    assert!(buf.iter().all(|&b| b == 0));
    // The rest of that file (proven at `add`) and the other files in the same shard read.
    let big = &files["big.bin"];
    let tail = big.len() as u64 - 300_000;
    assert_eq!(
        r.read_at("big.bin", tail, 300_000).unwrap(),
        &big[tail as usize..]
    );
    for p in ["data/other.bin", "data/table.csv", "data/sub/small.txt"] {
        assert_eq!(&r.read_at(p, 0, usize::MAX >> 1).unwrap(), &files[p], "{p}");
    }
}

/// Writes a commit on branch `branch` whose snapshot is `snap` (its records must be
/// stored already), without touching HEAD or the index.
fn commit_snapshot(repo: &Repo, branch: &str, snap: &Snapshot) -> gix::ObjectId {
    let h = repo.history();
    let tree = h.write_tree(snap).unwrap();
    let id = h
        .write_commit(
            tree,
            &[],
            "crafted",
            &snapshot_root(snap),
            ("t", "t@example.org"),
        )
        .unwrap();
    h.sync().unwrap();
    h.set_ref(&format!("refs/heads/{branch}"), id).unwrap();
    id
}

#[test]
fn a_manifest_that_disagrees_with_its_pointer_hash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
    let honest = noise(9, 2 << 20);
    let other = noise(10, 2 << 20);
    let e = repo.store_bytes(&honest, Mode::File).unwrap();
    let o = repo.store_bytes(&other, Mode::File).unwrap();
    assert!(e.manifest.is_some() && o.manifest.is_some());
    // The pointer names `honest` (so the root commits to it) but the manifest lists the
    // chunks of `other`: every chunk verifies, the file does not.
    let lying = FileEntry {
        manifest: o.manifest,
        ..e.clone()
    };
    let mut snap = Snapshot::new();
    snap.insert("f.bin".into(), lying);
    commit_snapshot(&repo, "evil", &snap);
    snap.insert("f.bin".into(), e.clone());
    commit_snapshot(&repo, "good", &snap);
    drop(repo);

    let r = SnapshotReader::open(dir.path(), "evil").unwrap();
    assert_eq!(r.stat("f.bin").unwrap().hash, Some(e.hash));
    for (off, len) in [(0, 10), (1 << 20, 4096), (0, 3 << 20)] {
        match r.read_at("f.bin", off, len) {
            Err(StoreError::ContentMismatch { path, expected, .. }) => {
                assert_eq!((path.as_str(), expected), ("f.bin", e.hash));
            }
            other => panic!("read {off}+{len} of a lying manifest: {other:?}"),
        }
    }
    // The honest history reads, and its proof is recorded for the next reader.
    let g = SnapshotReader::open(dir.path(), "good").unwrap();
    assert_eq!(g.read_at("f.bin", 5, 100).unwrap(), &honest[5..105]);
    assert!(
        ProofLog::open(&dir.path().join(".colony"))
            .contains(&e.hash, &e.manifest.unwrap())
            .unwrap()
    );
    assert!(
        !ProofLog::open(&dir.path().join(".colony"))
            .contains(&e.hash, &o.manifest.unwrap())
            .unwrap()
    );
    // Still refused after the honest pair was proven.
    assert!(matches!(
        r.read_at("f.bin", 0, 10),
        Err(StoreError::ContentMismatch { .. })
    ));
}

#[test]
fn revisions_by_branch_tag_pin_commit_and_root() {
    let (dir, files) = store();
    let repo = Repo::open(dir.path(), Access::Write, &|_| {}).unwrap();
    let first = repo.resolve("main").unwrap();
    repo.create_ref(RefKind::Tag, "v1", None, false).unwrap();
    repo.create_ref(RefKind::Pin, "keep", None, false).unwrap();
    let root = repo.history().commit_info(first).unwrap().root.unwrap();
    write(dir.path(), "big.bin", b"changed");
    repo.add(&["big.bin".into()]).unwrap();
    repo.commit("second", false).unwrap();
    drop(repo);

    let old = files["big.bin"].as_slice();
    for rev in [
        "v1".to_string(),
        "keep".to_string(),
        first.to_string(),
        first.to_string()[..10].to_string(),
        "main~1".to_string(),
        root.to_hex(),
    ] {
        let r = SnapshotReader::open(dir.path(), &rev).unwrap();
        assert_eq!(r.commit(), first, "{rev}");
        assert_eq!(r.root().0, root, "{rev}");
        assert_eq!(r.read_at("big.bin", 0, 64).unwrap(), &old[..64], "{rev}");
    }
    let r = SnapshotReader::open(dir.path(), "main").unwrap();
    assert_eq!(r.read_at("big.bin", 0, 64).unwrap(), b"changed");
    for rev in ["nope", &Hash::of(b"no such root").to_hex()] {
        assert!(
            matches!(
                SnapshotReader::open(dir.path(), rev),
                Err(StoreError::UnknownRevision { .. })
            ),
            "{rev}"
        );
    }
}

#[test]
fn a_root_whose_commit_tree_disagrees_is_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
    let e = repo.store_bytes(b"abc", Mode::File).unwrap();
    let mut snap = Snapshot::new();
    snap.insert("a".into(), e.clone());
    let claimed = snapshot_root(&snap);
    snap.insert("b".into(), e);
    // A commit whose trailer claims the root of a snapshot its tree does not hold.
    let h = repo.history();
    let tree = h.write_tree(&snap).unwrap();
    let id = h
        .write_commit(tree, &[], "lies", &claimed, ("t", "t@x"))
        .unwrap();
    h.sync().unwrap();
    h.set_ref("refs/heads/main", id).unwrap();
    drop(repo);
    let err = SnapshotReader::open(dir.path(), &claimed.0.to_hex())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::UnknownRevision { .. }), "{err}");
    assert!(err.to_string().contains("tree hashes to"), "{err}");
}

#[test]
fn an_open_reader_holds_no_lock_and_commit_and_gc_go_on() {
    let (dir, files) = store();
    let r = SnapshotReader::open(dir.path(), "main").unwrap();
    assert_eq!(
        r.read_at("data/sub/small.txt", 0, 100).unwrap(),
        b"hello reader\n"
    );
    // The store can be taken for writing at once: no lock is held by the reader.
    let lock = crate::lock::StoreLock::acquire(&dir.path().join(".colony/lock"), true, &|_| {});
    assert!(lock.is_ok());
    drop(lock);
    let repo = Repo::open(dir.path(), Access::Write, &|_| {}).unwrap();
    write(dir.path(), "data/sub/small.txt", b"new content\n");
    repo.add(&["".into()]).unwrap();
    repo.commit("while reading", false).unwrap();
    repo.gc().unwrap();
    drop(repo);
    // The reader still reads its own revision, new chunks included.
    assert_eq!(
        r.read_at("data/sub/small.txt", 0, 100).unwrap(),
        b"hello reader\n"
    );
    let big = &files["big.bin"];
    assert_eq!(
        r.read_at("big.bin", 1 << 20, 5000).unwrap(),
        &big[1 << 20..(1 << 20) + 5000]
    );
    let n = SnapshotReader::open(dir.path(), "main").unwrap();
    assert_eq!(
        n.read_at("data/sub/small.txt", 0, 100).unwrap(),
        b"new content\n"
    );
}

#[test]
fn a_revision_being_read_survives_gc_and_is_collected_after() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
    let kept = noise(20, 600 << 10);
    let doomed = noise(21, 3 << 20);
    let k = repo.store_bytes(&kept, Mode::File).unwrap();
    let d = repo.store_bytes(&doomed, Mode::File).unwrap();
    let mut base = Snapshot::new();
    base.insert("kept.bin".into(), k);
    commit_snapshot(&repo, "main", &base);
    let mut side = base.clone();
    side.insert("doomed.bin".into(), d.clone());
    commit_snapshot(&repo, "side", &side);
    drop(repo);

    let r = SnapshotReader::open(dir.path(), "side").unwrap();
    assert_eq!(r.read_at("doomed.bin", 0, 10).unwrap(), &doomed[..10]);
    let repo = Repo::open(dir.path(), Access::Write, &|_| {}).unwrap();
    repo.delete_ref(RefKind::Branch, "side").unwrap();
    let report = repo.gc().unwrap();
    assert_eq!(report.records_dropped, 0, "{report:?}");
    drop(repo);
    // Everything of the revision still reads, after gc may have repacked its shards.
    assert_eq!(r.read_at("doomed.bin", 0, 4 << 20).unwrap(), doomed);
    assert_eq!(r.read_at("kept.bin", 0, 1 << 20).unwrap(), kept);

    let readers = dir.path().join(".colony").join(lease::READERS_DIR);
    assert_eq!(std::fs::read_dir(&readers).unwrap().count(), 1);
    drop(r);
    assert_eq!(std::fs::read_dir(&readers).unwrap().count(), 0);
    let repo = Repo::open(dir.path(), Access::Write, &|_| {}).unwrap();
    let report = repo.gc().unwrap();
    assert!(report.records_dropped > 0, "{report:?}");
    let store = repo.chunks().unwrap();
    assert!(!store.contains(&d.manifest.unwrap()).unwrap());
    drop(repo);
    let r = SnapshotReader::open(dir.path(), "main").unwrap();
    assert_eq!(r.read_at("kept.bin", 0, 1 << 20).unwrap(), kept);
}

#[test]
fn reads_follow_records_that_gc_moved_to_another_shard() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
    let kept = noise(50, 700 << 10);
    // One shard holding the revision's file and a larger one nothing refers to.
    let store = repo.chunks().unwrap();
    let sink = store.sink();
    let k = crate::ingest::ingest_bytes(&kept, &sink, 3).unwrap();
    crate::ingest::ingest_bytes(&noise(51, 3 << 20), &sink, 3).unwrap();
    sink.finish().unwrap();
    let mut s = Snapshot::new();
    let e = FileEntry {
        mode: Mode::File,
        size: k.size,
        hash: k.hash,
        manifest: k.manifest,
        target: None,
    };
    s.insert("kept.bin".into(), e);
    commit_snapshot(&repo, "main", &s);
    drop(repo);

    // No chunk cache: every read goes to the shards.
    let opts = ReaderOptions {
        cache_bytes: 0,
        ..Default::default()
    };
    let r = SnapshotReader::open_with(dir.path(), "main", opts).unwrap();
    assert_eq!(r.read_at("kept.bin", 0, 1 << 20).unwrap(), kept);
    r.close_shards();
    let repo = Repo::open(dir.path(), Access::Write, &|_| {}).unwrap();
    let report = repo.gc().unwrap();
    assert_eq!(report.shards_repacked, 1, "{report:?}");
    drop(repo);
    // The locations the reader knew point into a deleted shard; it finds the new one.
    assert_eq!(r.read_at("kept.bin", 0, 1 << 20).unwrap(), kept);
}

#[test]
fn a_stale_lease_protects_nothing_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
    let d = repo.store_bytes(&noise(30, 1 << 20), Mode::File).unwrap();
    let mut s = Snapshot::new();
    s.insert("x".into(), d.clone());
    let id = commit_snapshot(&repo, "side", &s);
    // A reader that died: its lease file is left, unlocked.
    let readers = dir.path().join(".colony").join(lease::READERS_DIR);
    std::fs::create_dir_all(&readers).unwrap();
    std::fs::write(readers.join("dead.lease"), format!("commit {id}\n")).unwrap();
    repo.delete_ref(RefKind::Branch, "side").unwrap();
    let report = repo.gc().unwrap();
    assert!(report.records_dropped > 0, "{report:?}");
    assert!(!readers.join("dead.lease").exists());
}

#[test]
fn readers_are_cheap_to_share() {
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    send_sync::<SnapshotReader>();
}
