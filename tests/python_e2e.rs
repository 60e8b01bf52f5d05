//! The Python package (`python/`, import name `colony`) in real Python with the real
//! readers: pandas, pyarrow, polars and Hugging Face `datasets` read an older revision
//! through `colony://`; a file object seeks and reads like the checked-out file; a corrupt
//! shard raises naming the shard and the file; errors carry the CLI's messages and hints;
//! `colony train --exec` hands a Python script its snapshot through `colony.from_env()`.
//!
//! The package under test is the one this build made: the extension library cargo built
//! beside these tests (`libcolony_native.so`) and the Python sources of `python/colony`,
//! staged in a temporary folder on `PYTHONPATH`, with an installed-package record whose
//! `fsspec.specs` entry point is read from `python/pyproject.toml` (so fsspec finds
//! `colony://` exactly as it does after `pip install ./python`).

mod common;
mod pyhelp;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The package staged for python3: `PYTHONPATH` is `dir`.
struct Package {
    dir: tempfile::TempDir,
}

/// The extension library built with these tests (the newest, where cargo left several).
fn built_extension() -> PathBuf {
    let debug = bin().parent().unwrap().to_path_buf();
    [
        debug.join("libcolony_native.so"),
        debug.join("deps/libcolony_native.so"),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    .expect("libcolony_native.so beside the colony binary: build with `cargo test --workspace`")
}

impl Package {
    fn stage() -> Package {
        pyhelp::require(&["pandas", "pyarrow", "polars", "fsspec", "datasets"]);
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python");
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("colony");
        std::fs::create_dir(&pkg).unwrap();
        for f in std::fs::read_dir(src.join("colony")).unwrap().flatten() {
            if f.path().extension().is_some_and(|e| e == "py") {
                std::fs::copy(f.path(), pkg.join(f.file_name())).unwrap();
            }
        }
        std::fs::copy(built_extension(), pkg.join("_native.abi3.so")).unwrap();
        // The installed-package record pip would write, entry points from pyproject.toml.
        let info = dir.path().join("colony-0.0.0.dist-info");
        std::fs::create_dir(&info).unwrap();
        std::fs::write(
            info.join("METADATA"),
            "Metadata-Version: 2.1\nName: colony\nVersion: 0.0.0\n",
        )
        .unwrap();
        let eps = pyhelp::run(
            "import sys, tomllib\n\
             p = tomllib.load(open(sys.argv[1], 'rb'))['project']['entry-points']\n\
             for group, names in p.items():\n\
             \x20   print(f'[{group}]')\n\
             \x20   for k, v in names.items(): print(f'{k} = {v}')\n",
            &[src.join("pyproject.toml").to_str().unwrap()],
        );
        assert!(eps.contains("[fsspec.specs]"), "{eps}");
        std::fs::write(info.join("entry_points.txt"), eps).unwrap();
        Package { dir }
    }

    /// `python3` with this package importable and Hugging Face's caches in the staging folder.
    fn python(&self) -> Command {
        self.python_at(Path::new("python3"))
    }

    /// The same with the Python of the cached PyTorch environment `scripts/setup.sh`
    /// makes (`$COLONY_TORCH_VENV`, default `~/.cache/colony/torch-venv`).
    fn torch_python(&self) -> Command {
        let venv = std::env::var_os("COLONY_TORCH_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                    .join(".cache/colony/torch-venv")
            });
        let python = venv.join("bin/python");
        let ok = Command::new(&python)
            .args(["-c", "import torch"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "no PyTorch at {}: run `scripts/setup.sh` (it installs torch there once)",
            python.display()
        );
        self.python_at(&python)
    }

    fn python_at(&self, python: &Path) -> Command {
        let mut c = Command::new(python);
        c.env("PYTHONPATH", self.dir.path())
            .env("HF_HOME", self.dir.path().join("hf"))
            .env_remove("COLONY_DATASET");
        c
    }

    /// Runs `tests/python/<script>` with `args`; panics with its output unless it
    /// succeeds; returns stdout.
    fn run(&self, script: &str, args: &[&str]) -> String {
        self.run_with(self.python(), script, args)
    }

    /// [`Package::run`] with the given Python.
    fn run_with(&self, mut python: Command, script: &str, args: &[&str]) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/python")
            .join(script);
        let out = python.arg(path).args(args).output().expect("python3 runs");
        assert!(
            out.status.success(),
            "{script} failed:\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Writes `tables/points.parquet` (several row groups) and `tables/labels.csv` with
/// pyarrow, their content depending on `version`.
fn write_tables(root: &Path, version: u32) {
    pyhelp::run(
        r#"
import sys, pyarrow as pa, pyarrow.parquet as pq, pyarrow.csv as pacsv
root, v = sys.argv[1], int(sys.argv[2])
n = 30000
t = pa.table({
    "id": pa.array(range(n), pa.int64()),
    "x": pa.array([((i * 37 + v) % 1009) / 7.0 for i in range(n)], pa.float64()),
    "kind": pa.array([("up", "down", "flat")[(i + v) % 3] for i in range(n)]),
})
import os
os.makedirs(f"{root}/tables", exist_ok=True)
pq.write_table(t, f"{root}/tables/points.parquet", row_group_size=7000)
labels = pa.table({"name": [f"item{i}" for i in range(500)], "label": [(i * v) % 11 for i in range(500)]})
pacsv.write_csv(labels, f"{root}/tables/labels.csv")
"#,
        &[root.to_str().unwrap(), &version.to_string()],
    );
}

/// A dataset with tag `v1` (two tables and a 3 MB binary file) and a newer `main`, and
/// a copy of v1's files (what a checkout of v1 holds).
fn two_versions() -> (tempfile::TempDir, tempfile::TempDir) {
    let d = dataset();
    let root = d.path();
    write_tables(root, 1);
    write(root, "blobs/blob.bin", &random_bytes(3_000_000, 5));
    commit_all(root, "v1");
    ok(root, &["tag", "v1"]);
    let expected = tempfile::tempdir().unwrap();
    for f in [
        "tables/points.parquet",
        "tables/labels.csv",
        "blobs/blob.bin",
    ] {
        let to = expected.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(f), to).unwrap();
    }
    write_tables(root, 2);
    write(root, "blobs/blob.bin", &random_bytes(2_000_000, 6));
    commit_all(root, "v2");
    (d, expected)
}

#[test]
fn pandas_pyarrow_polars_and_datasets_read_an_older_revision_through_colony_urls() {
    let pkg = Package::stage();
    let (d, expected) = two_versions();
    let out = pkg.run(
        "readers.py",
        &[
            d.path().to_str().unwrap(),
            expected.path().to_str().unwrap(),
            "v1",
        ],
    );
    for reader in [
        "pandas ok 30000",
        "pyarrow ok 30000",
        "polars ok 30000",
        "datasets ok 30000",
    ] {
        assert!(out.contains(reader), "{out}");
    }
    // Reading in place copied nothing into the dataset.
    assert_eq!(
        tree(d.path())
            .keys()
            .filter(|k| !k.starts_with(".colony"))
            .count(),
        3
    );
}

#[test]
fn a_file_object_seeks_and_reads_like_the_checked_out_file() {
    let pkg = Package::stage();
    let (d, expected) = two_versions();
    let out = pkg.run(
        "fileobj.py",
        &[
            d.path().to_str().unwrap(),
            expected.path().join("blobs/blob.bin").to_str().unwrap(),
            "v1",
            "blobs/blob.bin",
        ],
    );
    assert!(out.contains("fileobj ok 3000000"), "{out}");
}

#[test]
fn history_names_and_listings_equal_what_the_cli_prints() {
    let pkg = Package::stage();
    let (d, _) = two_versions();
    let root = d.path();
    let out = pkg.run("listing.py", &[root.to_str().unwrap(), "v1"]);
    let py: serde_json::Value = serde_json::from_str(&out).unwrap();
    let log = json(root, &["log"]);
    assert_eq!(py["log"], log, "log");
    let v1 = &log[1];
    assert_eq!(py["log_rev"][0], *v1);
    assert_eq!(py["snapshot"]["commit"], v1["commit"]);
    assert_eq!(
        py["snapshot"]["root"], v1["root"],
        "the recomputed root is the recorded one"
    );
    assert_eq!(
        py["root"],
        std::fs::canonicalize(root).unwrap().to_str().unwrap()
    );
    let branches = json(root, &["branch"]);
    assert_eq!(py["branches"], branches, "{branches}");
    assert_eq!(py["tags"][0]["name"], "v1");
    assert_eq!(py["tags"][0]["commit"], v1["commit"]);
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&py["ls_top"]), ["blobs", "tables"]);
    assert_eq!(
        names(&py["ls_recursive"]),
        [
            "blobs/blob.bin",
            "tables/labels.csv",
            "tables/points.parquet"
        ]
    );
    let blob = &py["ls_recursive"][0];
    assert_eq!(blob["size"], 3_000_000);
    assert_eq!(
        blob["hash"],
        blake3::hash(&random_bytes(3_000_000, 5)).to_hex().as_str()
    );
    assert_eq!(py["stat"]["kind"], "file");
    assert_eq!(py["exists"], serde_json::json!([true, false]));
    assert_eq!(py["fs_top"], serde_json::json!(["main", "v1"]));
    assert_eq!(py["fs_rev"], serde_json::json!(["v1/blobs", "v1/tables"]));
    assert_eq!(
        py["fs_find"],
        serde_json::json!(["v1/tables/labels.csv", "v1/tables/points.parquet"])
    );
    assert_eq!(py["fs_info"]["type"], "file");
    assert_eq!(py["fs_info"]["blake3"], py["stat"]["hash"]);
    assert_eq!(py["fs_ukey"], py["stat"]["hash"]);
    assert_eq!(py["fs_range"], "\"name\"");
    assert_eq!(py["fs_exists"], serde_json::json!([true, false, false]));
}

#[test]
fn bad_requests_raise_python_exceptions_with_the_clis_messages_and_hints() {
    let pkg = Package::stage();
    let (d, _) = two_versions();
    let root = d.path();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = pkg.run(
        "errors.py",
        &[root.to_str().unwrap(), elsewhere.path().to_str().unwrap()],
    );
    let py: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The message and hint are the ones the CLI prints for the same mistake.
    let cli = |dir: &Path, args: &[&str]| -> (String, Option<String>) {
        let err = fails(dir, args);
        let message = err
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or_else(|| panic!("{err}"))
            .to_string();
        let hint = err
            .lines()
            .find_map(|l| l.strip_prefix("hint: "))
            .map(str::to_string);
        (message, hint)
    };
    let same = |case: &str, (message, hint): (String, Option<String>)| {
        assert_eq!(py[case]["message"], message.as_str(), "{case}: {py}");
        assert_eq!(py[case]["hint"].as_str(), hint.as_deref(), "{case}: {py}");
    };
    same("not_a_dataset", cli(elsewhere.path(), &["log"]));
    same("unknown_revision", cli(root, &["cat", "no-such-rev:x"]));
    same("missing_path", cli(root, &["cat", "main:nope.txt"]));
    assert!(
        py["not_a_dataset"]["str"]
            .as_str()
            .unwrap()
            .contains("\nhint: run `colony init`"),
        "{py}"
    );
    assert_eq!(py["missing_path"]["errno"], 2);
    assert_eq!(py["folder"]["errno"], 21);
    assert_eq!(py["write_open"]["errno"], 30);
    for case in ["escape", "absolute"] {
        assert_eq!(py[case]["class"], "InvalidPath", "{py}");
    }
    for case in ["write_open", "fsspec_write", "fsspec_rm"] {
        assert_eq!(py[case]["class"], "ReadOnly", "{py}");
        assert!(
            py[case]["message"].as_str().unwrap().contains("read-only"),
            "{py}"
        );
    }
}

#[test]
fn a_corrupt_shard_raises_naming_the_shard_and_the_file_and_returns_no_bytes() {
    let pkg = Package::stage();
    let d = dataset();
    let root = d.path();
    write(root, "victim.bin", &random_bytes(600_000, 21));
    commit_all(root, "victim");
    let victim_shards = shard_files(root);
    assert_eq!(victim_shards.len(), 1);
    write(root, "other.bin", &random_bytes(300_000, 22));
    commit_all(root, "other");
    let expected = tempfile::tempdir().unwrap();
    std::fs::write(expected.path().join("other.bin"), random_bytes(300_000, 22)).unwrap();
    let shard = &victim_shards[0];
    let shard_id = shard.file_stem().unwrap().to_str().unwrap().to_string();
    let mut bytes = std::fs::read(shard).unwrap();
    bytes[4096] ^= 0x01;
    std::fs::write(shard, bytes).unwrap();
    let out = pkg.run(
        "corrupt.py",
        &[
            root.to_str().unwrap(),
            "victim.bin",
            "other.bin",
            expected.path().join("other.bin").to_str().unwrap(),
        ],
    );
    let py: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cli_err = fails(root, &["cat", "HEAD:victim.bin"]);
    for how in ["read_bytes", "range", "file"] {
        let message = py[how]["message"].as_str().unwrap();
        assert!(
            message.contains("victim.bin") && message.contains(&shard_id),
            "{how} must name the file and the shard: {message}"
        );
        let hint = py[how]["hint"].as_str().unwrap();
        assert!(
            cli_err.contains(&format!("hint: {hint}")),
            "{hint} vs {cli_err}"
        );
    }
}

#[test]
fn a_script_run_by_train_exec_opens_its_snapshot_with_from_env() {
    let pkg = Package::stage();
    let (d, expected) = two_versions();
    let root = d.path();
    let tools = tempfile::tempdir().unwrap();
    let script = tools.path().join("train.py");
    std::fs::write(
        &script,
        r#"
import os, colony
snap = colony.from_env()
assert snap.root == os.environ["COLONY_SNAPSHOT_ROOT"], (snap.root, os.environ["COLONY_SNAPSHOT_ROOT"])
assert snap.commit == os.environ["COLONY_COMMIT"]
data = snap.read_bytes("blobs/blob.bin")
open(os.path.join(os.environ["COLONY_RUN_DIR"], "seen.txt"), "w").write(f"{len(data)} {snap.commit}")
"#,
    )
    .unwrap();
    let exec = format!("python3 {}", script.display());
    let mut c = cmd(
        root,
        &["train", "v1", "--materialize", "--exec", &exec, "--json"],
    );
    c.env("PYTHONPATH", pkg.dir.path());
    let r: serde_json::Value = serde_json::from_str(&ok_cmd(c)).unwrap();
    assert_eq!(r["exit_code"], 0, "{r}");
    let v1 = json(root, &["log", "v1"])[0]["commit"].clone();
    let seen = format!("3000000 {}", v1.as_str().unwrap());
    let art = r["exec"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == "seen.txt")
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        art["hash"],
        blake3::hash(seen.as_bytes()).to_hex().as_str(),
        "{seen}"
    );
    assert_eq!(
        std::fs::read(expected.path().join("blobs/blob.bin"))
            .unwrap()
            .len(),
        3_000_000
    );
}

#[test]
fn torch_dataloader_workers_see_every_item_once_in_a_seeded_order() {
    let pkg = Package::stage();
    let python = pkg.torch_python();
    let (d, expected) = two_versions();
    let root = d.path();
    // Forty items of different sizes on main, mirrored where a checkout would put them.
    for i in 0..40u64 {
        let bytes = random_bytes(1_000 + (i as usize * 7_919) % 90_000, 100 + i);
        let rel = format!("items/item{i:02}.bin");
        write(root, &rel, &bytes);
        write(expected.path(), &rel, &bytes);
    }
    write_tables(expected.path(), 2);
    commit_all(root, "items");
    let out = pkg.run_with(
        python,
        "torch_datasets.py",
        &[
            root.to_str().unwrap(),
            expected.path().to_str().unwrap(),
            "main",
        ],
    );
    assert!(out.contains("torch ok 40 30000"), "{out}");
}

/// A training script of `tests/python` copied into a project folder, run on tag `v1` of
/// a fresh dataset the way a user runs it (`COLONY_DATASET`, `COLONY_COMMIT` set).
struct Training {
    data: tempfile::TempDir,
    commit: String,
    project: tempfile::TempDir,
    script: &'static str,
}

impl Training {
    fn new(script: &'static str) -> Training {
        let (data, _) = two_versions();
        let commit = json(data.path(), &["log", "v1"])[0]["commit"]
            .as_str()
            .unwrap()
            .to_string();
        let project = tempfile::tempdir().unwrap();
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python");
        std::fs::copy(scripts.join(script), project.path().join(script)).unwrap();
        Training {
            data,
            commit,
            project,
            script,
        }
    }

    fn root(&self) -> &Path {
        self.data.path()
    }

    /// Runs the script with `args` under `python`; returns what it printed (the run).
    fn record(&self, mut python: Command, args: &[&str]) -> serde_json::Value {
        let out = python
            .current_dir(self.project.path())
            .arg(self.script)
            .args(args)
            .env("COLONY_DATASET", self.root())
            .env("COLONY_COMMIT", &self.commit)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} failed:\n{}",
            self.script,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `colony run verify RUN --steps STEPS --json` in the project folder against
    /// `dataset`: (exit code, report).
    fn verify(
        &self,
        pkg: &Package,
        dataset: &Path,
        run: &str,
        steps: &str,
    ) -> (Option<i32>, serde_json::Value) {
        let mut c = cmd(
            self.project.path(),
            &[
                "-C",
                dataset.to_str().unwrap(),
                "run",
                "verify",
                run,
                "--steps",
                steps,
                "--json",
            ],
        );
        c.env("PYTHONPATH", pkg.dir.path());
        let out = c.output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), v)
    }
}

#[test]
fn a_pytorch_run_recorded_twice_is_identical_verifies_and_a_tampered_link_is_named() {
    let pkg = Package::stage();
    let t = Training::new("recorder.py");
    let root = t.root();
    let a = t.record(pkg.torch_python(), &["40", "10"]);
    let b = t.record(pkg.torch_python(), &["40", "10"]);
    // The record (so its hash and the run id) is the same; only the commit's time differs.
    assert_eq!(
        a["record_hash"], b["record_hash"],
        "two runs of the same script give the same record"
    );
    assert_eq!(a["id"], b["id"]);
    let id = a["id"].as_str().unwrap();
    // The CLI lists and shows it like any run, bound to the revision trained on.
    let list = json(root, &["run", "list"]);
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(listed["kind"], "torch");
    assert_eq!(listed["snapshot"], t.commit.as_str());
    assert_eq!(listed["steps"], 40);
    let shown = ok(root, &["run", "show", id]);
    assert!(shown.contains("recorder.py"), "{shown}");
    // `run verify` re-runs the script from the checkpoint before step 15 up to 25.
    let (code, v) = t.verify(&pkg, root, id, "15..25");
    assert_eq!(code, Some(0), "{v}");
    assert!(v["first_bad"].is_null(), "{v}");
    assert_eq!(
        v["reexecuted"], 15,
        "from the step-10 checkpoint to step 25: {v}"
    );
    let (code, v) = t.verify(&pkg, root, id, "0..3");
    assert_eq!(code, Some(0), "the initialisation re-runs too: {v}");
    // The run travels with the dataset: a clone lists it and verifies it the same way.
    let top = tempfile::tempdir().unwrap();
    ok(top.path(), &["clone", root.to_str().unwrap(), "copy"]);
    let copy = top.path().join("copy");
    let cloned = json(&copy, &["run", "list"]);
    assert!(
        cloned.as_array().unwrap().iter().any(|r| r["id"] == id),
        "{cloned}"
    );
    let (code, v) = t.verify(&pkg, &copy, id, "38..40");
    assert_eq!(code, Some(0), "{v}");
    // A record whose link 22 was changed: verification names step 22.
    let tampered = pkg.run_with(
        pkg.torch_python(),
        "tamper.py",
        &[root.to_str().unwrap(), a["commit"].as_str().unwrap(), "22"],
    );
    let tampered: serde_json::Value = serde_json::from_str(&tampered).unwrap();
    let bad_id = tampered["id"].as_str().unwrap();
    assert_ne!(bad_id, id);
    let (code, v) = t.verify(&pkg, root, bad_id, "15..25");
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["first_bad"]["step"], 22, "{v}");
    assert_eq!(v["first_bad"]["what"], "hash", "{v}");
    // A script that changed since the run is refused, not re-run.
    std::fs::write(t.project.path().join("recorder.py"), "print('changed')\n").unwrap();
    let mut c = cmd(
        t.project.path(),
        &[
            "-C",
            root.to_str().unwrap(),
            "run",
            "verify",
            id,
            "--steps",
            "1..2",
        ],
    );
    c.env("PYTHONPATH", pkg.dir.path());
    let err = fails_cmd(c);
    assert!(err.contains("has changed since the run"), "{err}");
}

#[test]
fn the_recorder_core_records_and_verifies_a_numpy_run_without_torch() {
    let pkg = Package::stage();
    let t = Training::new("numpy_run.py");
    let run = t.record(pkg.python(), &["30", "8"]);
    let id = run["id"].as_str().unwrap();
    let shown = json(t.root(), &["run", "show", id]);
    assert_eq!(shown["record"]["kind"], "torch", "{shown}");
    assert_eq!(
        shown["record"]["torch"]["state"],
        "numpy-lsq v1: w, velocity, u64le(step)"
    );
    assert_eq!(
        shown["record"]["chain"].as_array().unwrap().len(),
        31,
        "{shown}"
    );
    let (code, v) = t.verify(&pkg, t.root(), id, "9..20");
    assert_eq!(code, Some(0), "{v}");
    assert!(v["first_bad"].is_null(), "{v}");
    assert_eq!(v["reexecuted"], 12, "from the step-8 checkpoint: {v}");
}
