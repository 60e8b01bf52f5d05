//! End-to-end tests of `colony mount` / `colony unmount` and of `train --exec` reading
//! through a mount: real FUSE mounts, read by `sha256sum`, `find` and Python. Every
//! mount is owned by a `mounthelp::Mounted` guard.

mod common;
mod mounthelp;
mod pyhelp;

use std::path::Path;
use std::process::Command;

use common::*;
use mounthelp::{Mounted, fuse_here, mounted};

/// `sha256sum` of every file, the symlinks with their targets and the executable files
/// under `dir` (leaving `.colony` out), as one text with relative paths.
fn listing(dir: &Path) -> String {
    let script = "set -e; cd \"$1\"; \
        find . -path ./.colony -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum; \
        echo links; find . -path ./.colony -prune -o -type l -printf '%p -> %l\\n' | sort; \
        echo exec; find . -path ./.colony -prune -o -type f -perm -u+x -print | sort; \
        echo dirs; find . -path ./.colony -prune -o -type d -print | sort";
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A dataset with two commits: v1 and then v2 (a changed, a removed and an added file).
/// Returns it and v1's commit id.
fn two_versions() -> (tempfile::TempDir, String) {
    let d = dataset();
    let root = d.path();
    write(root, "data/big.bin", &random_bytes(5_000_000, 1));
    write(
        root,
        "data/nested/deep/small.txt",
        b"hello from deep down\n",
    );
    write(root, "data/empty.txt", b"");
    write(root, "gone.txt", b"only in v1\n");
    write(root, "bin/tool.sh", b"#!/bin/sh\necho tool\n");
    let mut perm = std::fs::metadata(root.join("bin/tool.sh"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(root.join("bin/tool.sh"), perm).unwrap();
    std::os::unix::fs::symlink("data/nested/deep/small.txt", root.join("latest")).unwrap();
    let v1 = commit_all(root, "v1")["commit"]
        .as_str()
        .unwrap()
        .to_string();
    let mut big = random_bytes(5_000_000, 1);
    big[2_500_000..2_600_000].copy_from_slice(&random_bytes(100_000, 9));
    write(root, "data/big.bin", &big);
    std::fs::remove_file(root.join("gone.txt")).unwrap();
    write(root, "data/new.csv", b"a,b\n1,2\n");
    commit_all(root, "v2");
    (d, v1)
}

#[test]
fn every_file_of_a_mount_hashes_as_a_checkout_of_that_revision() {
    if !fuse_here() {
        return;
    }
    let (d, v1) = two_versions();
    let root = d.path();
    let new = Mounted::start(root, "main");
    let old = Mounted::start(root, &v1);
    assert_eq!(new.ready["revision"], "main");
    assert_eq!(old.ready["commit"], v1.as_str());
    assert_eq!(listing(&new.dir), listing(root));
    // The older revision, against a checkout of it (made while both stay mounted).
    ok(root, &["checkout", &v1]);
    let want = listing(root);
    assert!(
        want.contains("gone.txt") && want.contains("./latest -> data/"),
        "{want}"
    );
    assert_eq!(listing(&old.dir), want);
    assert_ne!(listing(&new.dir), want);
    // Nothing can be written.
    for (what, script) in [
        ("create", "touch \"$1/x\""),
        ("mkdir", "mkdir \"$1/x\""),
        ("remove", "rm -f \"$1/gone.txt\""),
        ("append", "echo x >> \"$1/gone.txt\""),
    ] {
        let out = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&old.dir)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{what} succeeded on the mount");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("Read-only file system"), "{what}: {e}");
    }
    let fs = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(&old.dir)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&fs.stdout).contains("fuse"),
        "{fs:?}"
    );
    old.stop();
    new.stop();
}

const RANDOM_READS: &str = r#"
import mmap, os, random, sys, threading, hashlib
mounted, plain = sys.argv[1], sys.argv[2]
want = open(plain, "rb").read()
rng = random.Random(7)
fd = os.open(mounted, os.O_RDONLY)
assert os.fstat(fd).st_size == len(want)
for _ in range(300):
    off = rng.randrange(0, len(want) + 10)
    n = rng.choice([1, 17, 4096, 65536, 300000, 2_000_000])
    assert os.pread(fd, n, off) == want[off:off + n], (off, n)
errors = []
def reader(seed):
    r = random.Random(seed)
    f = os.open(mounted, os.O_RDONLY)
    for _ in range(50):
        off = r.randrange(0, len(want))
        if os.pread(f, 65536, off) != want[off:off + 65536]:
            errors.append((seed, off))
    os.close(f)
threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
with open(mounted, "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    assert len(m) == len(want)
    for _ in range(100):
        off = rng.randrange(0, len(want))
        assert m[off:off + 1000] == want[off:off + 1000], off
    assert hashlib.sha256(m).hexdigest() == hashlib.sha256(want).hexdigest()
    m.close()
try:
    open(mounted, "r+b")
    raise SystemExit("opened for writing")
except OSError as e:
    assert e.errno == 30, e  # EROFS
print("ok")
"#;

#[test]
fn random_ranges_threads_and_mmap_read_the_checked_out_bytes() {
    if !fuse_here() {
        return;
    }
    let (d, _) = two_versions();
    let root = d.path();
    let m = Mounted::start(root, "HEAD");
    let out = pyhelp::run(
        RANDOM_READS,
        &[
            m.dir.join("data/big.bin").to_str().unwrap(),
            root.join("data/big.bin").to_str().unwrap(),
        ],
    );
    assert_eq!(out.trim(), "ok");
    m.stop();
}

const READ_EACH: &str = r#"
import sys
for p in sys.argv[1:]:
    try:
        b = open(p, "rb").read()
        print(p, "ok", len(b))
    except OSError as e:
        print(p, "errno", e.errno)
"#;

#[test]
fn a_corrupt_shard_fails_the_files_it_holds_with_eio_and_no_others() {
    if !fuse_here() {
        return;
    }
    let d = dataset();
    let root = d.path();
    write(root, "victim.bin", &random_bytes(600_000, 21));
    commit_all(root, "victim");
    let victim_shards = shard_files(root);
    assert_eq!(victim_shards.len(), 1);
    write(root, "other.bin", &random_bytes(300_000, 22));
    write(root, "fine.txt", b"fine\n");
    commit_all(root, "others");
    let shard = &victim_shards[0];
    let shard_id = shard.file_stem().unwrap().to_str().unwrap().to_string();
    let mut bytes = std::fs::read(shard).unwrap();
    bytes[4096] ^= 0x01;
    std::fs::write(shard, bytes).unwrap();
    let mut m = Mounted::start(root, "HEAD");
    let out = pyhelp::run(
        READ_EACH,
        &[
            m.dir.join("victim.bin").to_str().unwrap(),
            m.dir.join("other.bin").to_str().unwrap(),
            m.dir.join("fine.txt").to_str().unwrap(),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("errno 5"), "{out}");
    assert!(lines[1].ends_with("ok 300000"), "{out}");
    assert!(lines[2].ends_with("ok 5"), "{out}");
    // The good files' bytes are exactly the committed ones.
    assert_eq!(
        std::fs::read(m.dir.join("other.bin")).unwrap(),
        random_bytes(300_000, 22)
    );
    assert!(std::fs::read(m.dir.join("victim.bin")).is_err());
    m.signal("INT");
    assert_eq!(m.wait(), Some(0));
    let err = m.err();
    assert!(
        err.contains("victim.bin") && err.contains(&shard_id),
        "the failure must name the file and the shard: {err}"
    );
    assert!(!err.contains("other.bin"), "{err}");
    assert!(!mounted(&m.dir));
}

#[test]
fn unmount_and_ctrl_c_leave_no_mount_behind() {
    if !fuse_here() {
        return;
    }
    let (d, _) = two_versions();
    let root = d.path();
    // `colony unmount` from elsewhere ends the serving process.
    let mut a = Mounted::start(root, "main");
    let dir = a.dir.to_str().unwrap().to_string();
    let u = json(root, &["unmount", &dir]);
    assert_eq!(u["unmounted"], dir.as_str());
    assert_eq!(a.wait(), Some(0), "{}", a.err());
    assert!(!mounted(&a.dir));
    // Ctrl-C and SIGTERM.
    let b = Mounted::start(root, "main");
    b.stop();
    let mut c = Mounted::start(root, "main");
    c.signal("TERM");
    assert_eq!(c.wait(), Some(0), "{}", c.err());
    assert!(!mounted(&c.dir));
    // The folder can be mounted again once free.
    let again = Mounted::at(root, "main", &a.dir);
    assert_eq!(
        std::fs::read_to_string(again.dir.join("data/new.csv")).unwrap(),
        "a,b\n1,2\n"
    );
    again.stop();
}

#[test]
fn bad_mount_points_revisions_and_unmounts_are_explained() {
    if !fuse_here() {
        return;
    }
    let (d, _) = two_versions();
    let root = d.path();
    let t = tempfile::tempdir().unwrap();
    let full = t.path().join("full");
    write(&full, "x", b"x");
    let e = fails(root, &["mount", "main", full.to_str().unwrap()]);
    assert!(e.contains("is not empty"), "{e}");
    let e = fails(root, &["mount", "main", full.join("x").to_str().unwrap()]);
    assert!(e.contains("is not a folder"), "{e}");
    let e = fails(
        root,
        &["mount", "main", t.path().join("nope").to_str().unwrap()],
    );
    assert!(e.contains("does not exist"), "{e}");
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = fails(root, &["mount", "no-such-branch", empty.to_str().unwrap()]);
    assert!(e.contains("unknown revision"), "{e}");
    assert!(!mounted(&empty));
    let e = fails(root, &["unmount", empty.to_str().unwrap()]);
    assert!(e.contains("is not a colony mount"), "{e}");
}

/// What the `train --exec` script checks and leaves in COLONY_RUN_DIR: the hashes of
/// the files it reads through COLONY_SNAPSHOT_DIR, whether that is a mount, and what the
/// run's work folder holds; and the same hashes read through COLONY_SNAPSHOT_URL, a
/// ranged read there, and what the run's gateway answers for another revision.
const TRAINER: &str = r#"
import hashlib, os, sys, urllib.request, urllib.error
url = os.environ["COLONY_SNAPSHOT_URL"]
with open(os.path.join(os.environ["COLONY_RUN_DIR"], "http_hashes.txt"), "w") as f:
    for rel in sys.argv[1:]:
        body = urllib.request.urlopen(url + rel).read()
        f.write(hashlib.sha256(body).hexdigest() + "  ./" + rel + "\n")
with open(os.path.join(os.environ["COLONY_RUN_DIR"], "http_other.txt"), "w") as f:
    req = urllib.request.Request(url + sys.argv[1], headers={"Range": "bytes=3-9"})
    with urllib.request.urlopen(req) as r:
        f.write(f"{r.status} {r.read().hex()}\n")
    try:
        urllib.request.urlopen(os.environ["COLONY_S3_ENDPOINT"] + "/main~1/" + sys.argv[1])
        f.write("served another revision\n")
    except urllib.error.HTTPError as e:
        f.write(f"{e.code}\n")
snap = os.environ["COLONY_SNAPSHOT_DIR"]
out = os.environ["COLONY_RUN_DIR"]
work = os.path.dirname(out)
with open(os.path.join(out, "hashes.txt"), "w") as f:
    for rel in sys.argv[1:]:
        with open(os.path.join(snap, rel), "rb") as g:
            f.write(hashlib.sha256(g.read()).hexdigest() + "  ./" + rel + "\n")
with open(os.path.join(out, "how.txt"), "w") as f:
    f.write("mount\n" if os.path.ismount(snap) else "copy\n")
    f.write(" ".join(sorted(e for e in os.listdir(work))) + "\n")
"#;

#[test]
fn train_exec_reads_through_a_mount_and_copies_nothing() {
    if !fuse_here() {
        return;
    }
    let (d, _) = two_versions();
    let root = d.path();
    let tools = tempfile::tempdir().unwrap();
    let script = tools.path().join("trainer.py");
    std::fs::write(&script, TRAINER).unwrap();
    let files = ["data/big.bin", "data/new.csv", "bin/tool.sh"];
    let want = {
        let out = Command::new("sha256sum")
            .args(files.map(|f| format!("./{f}")))
            .current_dir(root)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let exec = format!("python3 {} {}", script.display(), files.join(" "));
    let mut records = Vec::new();
    for (flags, how) in [
        (&[][..], "mount"),
        (&["--verify", "full"][..], "mount"),
        (&["--materialize"][..], "copy"),
    ] {
        let mut args = vec!["train", "main", "--exec", &exec];
        args.extend_from_slice(flags);
        let r = json(root, &args);
        assert_eq!(r["exit_code"], 0, "{r}");
        assert_eq!(r["snapshot_via"], how, "{r}");
        let run = r["run"].as_str().unwrap();
        let show = json(root, &["run", "show", run]);
        let arts = show["record"]["exec"]["artifacts"]
            .as_array()
            .unwrap()
            .clone();
        let hash_of = |name: &str| -> String {
            let a = arts
                .iter()
                .find(|a| a["path"] == name)
                .unwrap_or_else(|| panic!("{name} missing: {show}"));
            a["hash"].as_str().unwrap().to_string()
        };
        // The script read the same bytes as the checkout has, from the folder and over
        // HTTP; a range read gives those bytes; the run's gateway serves no other revision.
        for name in ["hashes.txt", "http_hashes.txt"] {
            assert_eq!(
                hash_of(name),
                blake3::hash(want.as_bytes()).to_hex().as_str(),
                "{flags:?} {name}"
            );
        }
        let first = std::fs::read(root.join(files[0])).unwrap();
        let other = format!("206 {}\n404\n", hex::encode(&first[3..10]));
        assert_eq!(
            hash_of("http_other.txt"),
            blake3::hash(other.as_bytes()).to_hex().as_str(),
            "{flags:?}: expected {other:?}"
        );
        // A mount and no copy (or, with --materialize, a copy).
        let how_txt = if how == "mount" {
            "mount\nmount out\n"
        } else {
            "copy\nout snapshot\n"
        };
        assert_eq!(
            hash_of("how.txt"),
            blake3::hash(how_txt.as_bytes()).to_hex().as_str(),
            "{flags:?}: expected {how_txt:?}"
        );
        records.push(show["record"]["snapshot"].clone());
    }
    // How the snapshot was handed over does not change what the record says of it.
    assert!(records.windows(2).all(|w| w[0] == w[1]), "{records:?}");
    // Nothing is left mounted or copied once the runs are over.
    let left: Vec<_> = root.join(".colony/run-work").read_dir().unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.lines().any(|l| l.starts_with("colony ")),
        "{mounts}"
    );
}

#[test]
fn train_exec_verify_full_refuses_damage_that_lazy_reports_on_read() {
    if !fuse_here() {
        return;
    }
    let d = dataset();
    let root = d.path();
    write(root, "victim.bin", &random_bytes(600_000, 21));
    commit_all(root, "victim");
    let shard = shard_files(root).remove(0);
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[4096] ^= 0x01;
    std::fs::write(&shard, bytes).unwrap();
    let tools = tempfile::tempdir().unwrap();
    let script = tools.path().join("read.py");
    std::fs::write(
        &script,
        "import os\ntry:\n    open(os.path.join(os.environ['COLONY_SNAPSHOT_DIR'], 'victim.bin'), 'rb').read()\nexcept OSError as e:\n    raise SystemExit(e.errno)\n",
    )
    .unwrap();
    let exec = format!("python3 {}", script.display());
    let e = fails(
        root,
        &["train", "main", "--verify", "full", "--exec", &exec],
    );
    assert!(
        e.contains("failed verification") && e.contains("victim.bin"),
        "{e}"
    );
    // Lazy: the command starts, its read of the damaged file fails with EIO (5).
    let out = run(root, &["train", "main", "--exec", &exec]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
