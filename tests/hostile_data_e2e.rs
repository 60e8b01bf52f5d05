//! Hostile remotes against the built binary (issue 21): a mirror serving a forged shard,
//! a folder remote changing a shard after it was shared, a dangling remote-tracking ref.

mod common;

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use colony_store::Hash;
use colony_store::shard::{ShardFile, ShardWriter};
use common::*;

/// The id of a shard file (its name).
fn shard_id(path: &Path) -> Hash {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// The bytes `colony cat REV:PATH` prints in `dir`.
fn cat(dir: &Path, spec: &str) -> Vec<u8> {
    let out = run(dir, &["cat", spec]);
    assert!(
        out.status.success(),
        "cat {spec}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Forges, in `dataset`'s shard folder, what a hostile mirror serves: a validly named
/// shard (its name is the BLAKE3 of its bytes) whose table lists every record of the
/// honest shard at `honest` (their hashes are public in pointers and manifests) over
/// garbage. Its name is made to sort before every shard there, so that a fetch takes it
/// first, as in the attack. Returns its id.
fn plant_forgery(dataset: &Path, honest: &Path) -> Hash {
    let shards = dataset.join(".colony/shards");
    let table = ShardFile::open(shard_id(honest), honest)
        .unwrap()
        .table()
        .unwrap();
    let first = shard_files(dataset)
        .iter()
        .map(|p| shard_id(p))
        .min()
        .unwrap();
    for attempt in 0u64.. {
        let mut w = ShardWriter::create(&shards.join("tmp")).unwrap();
        for (i, e) in table.iter().enumerate() {
            let garbage = random_bytes(e.raw_len as usize, attempt * 10_000 + i as u64);
            w.append(e.hash, e.kind, e.raw_len, &garbage, false)
                .unwrap();
        }
        let sealed = w.seal(&shards).unwrap().unwrap();
        if sealed.id < first {
            return sealed.id;
        }
        std::fs::remove_file(colony_store::shard_path(&shards, &sealed.id)).unwrap();
    }
    unreachable!()
}

/// Issue 21, hole 2: a mirror serves a forged shard that lists honest records' hashes.
/// It used to be indexed first, shadow the honest copies (checkout and cat then failed),
/// and let gc delete the honest shard. Now clone and fetch refuse it by name, nothing of
/// it is stored, the honest data fetched from elsewhere checks out, and gc keeps it.
#[test]
fn a_forged_shard_from_a_folder_mirror_is_refused_and_honest_data_survives_gc() {
    let a = origin_with_parts(&[700_000; 2]);
    let top = tempfile::tempdir().unwrap();
    let mirror = top.path().join("mirror");
    ok(
        top.path(),
        &[
            "clone",
            a.path().to_str().unwrap(),
            mirror.to_str().unwrap(),
        ],
    );
    let honest: Vec<Hash> = shard_files(a.path()).iter().map(|p| shard_id(p)).collect();
    let forged = plant_forgery(&mirror, &shard_files(&mirror)[0]);

    // A clone from the mirror is refused, naming the shard, and leaves nothing behind.
    let err = fails(top.path(), &["clone", mirror.to_str().unwrap(), "b"]);
    assert!(err.contains(&forged.to_hex()), "names the shard: {err}");
    assert!(err.contains("failed verification"), "{err}");
    assert!(!top.path().join("b").exists());

    // A dataset that fetches from the mirror first: refused, nothing of it stored.
    let c = dataset();
    ok(
        c.path(),
        &["remote", "add", "mirror", mirror.to_str().unwrap()],
    );
    let err = fails(c.path(), &["fetch", "mirror"]);
    assert!(err.contains(&forged.to_hex()), "{err}");
    assert!(
        !shard_files(c.path()).iter().any(|p| shard_id(p) == forged),
        "the forged shard was stored"
    );
    assert!(
        !c.path()
            .join(format!(".colony/shards/tmp/partial-{forged}"))
            .exists()
    );

    // The honest data, fetched from the origin afterwards, reads and checks out.
    ok(
        c.path(),
        &["remote", "add", "origin", a.path().to_str().unwrap()],
    );
    ok(c.path(), &["fetch", "origin"]);
    for i in 0..2 {
        let path = format!("data/part{i}.bin");
        assert_eq!(
            cat(c.path(), &format!("origin/main:{path}")),
            random_bytes(700_000, i)
        );
    }
    ok(c.path(), &["checkout", "origin/main"]);
    assert_eq!(tree(c.path()), tree(a.path()));

    // gc keeps every honest shard, and everything still reads.
    json(c.path(), &["gc"]);
    let kept: Vec<Hash> = shard_files(c.path()).iter().map(|p| shard_id(p)).collect();
    for h in &honest {
        assert!(kept.contains(h), "gc deleted honest shard {h}");
    }
    ok(c.path(), &["verify"]);
    ok(c.path(), &["fsck"]);
    assert_eq!(
        cat(c.path(), "HEAD:data/part1.bin"),
        random_bytes(700_000, 1)
    );

    // Asking the mirror again is refused again and changes nothing.
    assert!(fails(c.path(), &["fetch", "mirror"]).contains(&forged.to_hex()));
    ok(c.path(), &["fsck"]);
}

/// Issue 21, hole 9: shards fetched from a dataset on this machine used to be hard links
/// to the other dataset's files, so its owner could change them after they were
/// verified here. They are copies (or copy-on-write clones) now.
#[test]
fn a_folder_remote_cannot_change_a_shard_after_it_was_fetched() {
    let a = origin_with_parts(&[600_000]);
    let top = tempfile::tempdir().unwrap();
    let b = top.path().join("b");
    ok(
        top.path(),
        &["clone", a.path().to_str().unwrap(), b.to_str().unwrap()],
    );
    for s in shard_files(&b) {
        assert_eq!(std::fs::metadata(&s).unwrap().nlink(), 1, "{}", s.display());
    }
    // The folder's owner rewrites its shards in place (same inode).
    for s in shard_files(a.path()) {
        let f = std::fs::OpenOptions::new().write(true).open(&s).unwrap();
        f.write_all_at(&[0x5a; 64], 4096).unwrap();
    }
    assert!(!run(a.path(), &["fsck"]).status.success());
    ok(&b, &["fsck"]);
    ok(&b, &["verify"]);
}

/// Issue 21, hole 8: a remote-tracking ref to a commit that is not here (what a peer
/// listing a tip it never sent used to leave) wedged fetch, gc and `remote remove`
/// ("Could not peel reference"). fsck now names it, gc reports it and deletes nothing,
/// fetching another remote works, and removing its remote removes it.
#[test]
fn a_dangling_remote_ref_is_reported_survived_and_removed() {
    let a = origin_with_parts(&[500_000]);
    let other = origin_with_parts(&[300_000]);
    let other_path = other.path().to_str().unwrap();
    ok(a.path(), &["remote", "add", "evil", other_path]);
    ok(a.path(), &["remote", "add", "other", other_path]);
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let r = a.path().join(".colony/history/refs/remotes/evil/main");
    std::fs::create_dir_all(r.parent().unwrap()).unwrap();
    std::fs::write(&r, format!("{missing}\n")).unwrap();

    let out = run(a.path(), &["fsck"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refs/remotes/evil/main") && err.contains(missing),
        "{err}"
    );

    let shards = shard_files(a.path());
    let g = json(a.path(), &["gc"]);
    assert!(
        g["dangling_refs"][0]
            .as_str()
            .is_some_and(|d| d.contains("refs/remotes/evil/main")),
        "{g}"
    );
    assert_eq!(g["shards_removed"], 0, "{g}");
    assert_eq!(shard_files(a.path()), shards);

    ok(a.path(), &["fetch", "other"]);
    ok(a.path(), &["remote", "remove", "evil"]);
    assert!(!r.exists());
    ok(a.path(), &["fsck"]);
    ok(a.path(), &["gc"]);
    assert_eq!(
        cat(a.path(), "other/main:data/part0.bin"),
        random_bytes(300_000, 0)
    );
}
