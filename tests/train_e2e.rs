//! End-to-end tests of `colony train` and `colony run`, driving the built binary.

mod common;
mod pyhelp;

use std::collections::BTreeMap;
use std::path::Path;

use colony_store::{Access, Repo};
use colony_trainer_hook::record::{read_run, write_record};
use common::*;

/// A dataset with a table and a text file, committed.
fn data() -> tempfile::TempDir {
    let d = dataset();
    let root = d.path();
    let mut csv = String::from("a,b,c,kind\n");
    for i in 0..240u64 {
        let x = (i * 37 % 101) as f64 / 50.0 - 1.0;
        let y = (i * 53 % 97) as f64 / 48.0 - 1.0;
        let z = (i * 11 % 89) as f64 / 44.0 - 1.0;
        let kind = if x - y > 0.0 { "up" } else { "down" };
        csv.push_str(&format!("{x},{y},{z},{kind}\n"));
    }
    write(root, "tables/points.csv", csv.as_bytes());
    write(
        root,
        "text/poem.txt",
        "so much depends upon a red wheel barrow glazed with rain water beside the white chickens\n"
            .repeat(40)
            .as_bytes(),
    );
    commit_all(root, "data");
    d
}

fn train(root: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "main",
        "--steps",
        "20",
        "--checkpoint-every",
        "5",
        "--batch",
        "16",
    ];
    args.extend_from_slice(extra);
    json(root, &args)
}

const MLP: &[&str] = &["--model", "mlp", "--label", "kind"];
const CHARLM: &[&str] = &["--model", "charlm"];

#[test]
fn same_config_gives_identical_records_across_runs_and_thread_counts() {
    let d = data();
    let root = d.path();
    for model in [MLP, CHARLM] {
        let a = train(root, model);
        let b = train(root, model);
        assert_eq!(a["record_hash"], b["record_hash"]);
        let out = cmd(
            root,
            &[
                &[
                    "train",
                    "main",
                    "--steps",
                    "20",
                    "--checkpoint-every",
                    "5",
                    "--batch",
                    "16",
                    "--json",
                ][..],
                model,
            ]
            .concat(),
        )
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let one: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(one["record_hash"], a["record_hash"], "1 thread differs");
        let out = cmd(
            root,
            &[
                &[
                    "train",
                    "main",
                    "--steps",
                    "20",
                    "--checkpoint-every",
                    "5",
                    "--batch",
                    "16",
                    "--json",
                ][..],
                model,
            ]
            .concat(),
        )
        .env("RAYON_NUM_THREADS", "4")
        .output()
        .unwrap();
        let four: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(four["record_hash"], a["record_hash"], "4 threads differ");
        let show = json(root, &["run", "show", a["run"].as_str().unwrap()]);
        assert_eq!(show["record"]["chain"].as_array().unwrap().len(), 21);
        assert_eq!(show["record"]["checkpoints"].as_array().unwrap().len(), 4);
        assert_eq!(show["record_hash"], a["record_hash"]);
    }
    let list = json(root, &["run", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    // The data stays pinned and the runs are live for gc and fsck.
    ok(root, &["gc"]);
    ok(root, &["fsck"]);
}

#[test]
fn resume_from_checkpoint_gives_the_same_record() {
    let d = data();
    let root = d.path();
    let a = train(root, CHARLM);
    let run = a["run"].as_str().unwrap();
    let r = json(root, &["train", "--resume", &format!("{run}@10")]);
    assert_eq!(r["steps"], 10);
    assert_eq!(r["record_hash"], a["record_hash"]);
    assert_eq!(r["chain_root"], a["chain_root"]);
}

#[test]
fn verify_passes_honest_record_and_names_the_tampered_step() {
    let d = data();
    let root = d.path();
    let a = train(root, MLP);
    let run = a["run"].as_str().unwrap().to_string();
    let v = json(root, &["run", "verify", &run]);
    assert!(v["first_bad"].is_null(), "{v}");
    let v = json(root, &["run", "verify", &run, "--steps", "6..9"]);
    assert!(v["first_bad"].is_null());
    ok(root, &["run", "verify", &run, "--sample", "3"]);
    // Tamper with the stored record: a modified record (under its own id, since a run
    // whose name is not its record's id is refused outright, as checked at the end).
    let honest = run.clone();
    let (run, forged) = {
        let repo = Repo::open(root, Access::Write, &|_| {}).unwrap();
        let stored = read_run(&repo, &run).unwrap();
        let mut rec = stored.record.clone();
        let mut h = [0u8; 32];
        hex::decode_to_slice(&rec.chain[12], &mut h).unwrap();
        h[0] ^= 1;
        rec.chain[12] = hex::encode(h);
        let files: BTreeMap<_, _> = stored
            .files
            .into_iter()
            .filter(|(p, _)| p != "record.json")
            .collect();
        let (tampered, _) = write_record(&repo, &rec, &files, None).unwrap();
        let (forged, _) = write_record(&repo, &rec, &files, Some("f0f0f0f0f0f0f0f0")).unwrap();
        (tampered, forged)
    };
    assert_ne!(run, honest);
    let out = run_colony(root, &["run", "verify", &run]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("step 12 differs"), "{err}");
    let out = run_colony(
        root,
        &["run", "verify", &run, "--steps", "11..14", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["first_bad"]["step"], 12);
    // Steps before the tampering still verify.
    ok(root, &["run", "verify", &run, "--steps", "1..11"]);
    // A record under a name that is not its id is refused by verify and show.
    let forged = forged.as_str();
    for args in [["run", "verify", forged], ["run", "show", forged]] {
        let err = fails(root, &args);
        assert!(err.contains("not what its name says"), "{err}");
    }
    ok(root, &["run", "verify", &honest, "--steps", "1..3"]);
}

fn run_colony(root: &Path, args: &[&str]) -> std::process::Output {
    common::run(root, args)
}

#[test]
fn bisect_finds_a_planted_divergence() {
    let d = data();
    let root = d.path();
    let a = train(root, MLP);
    // Another seed changes the initialisation: the runs diverge at step 0.
    let b = train(root, &[MLP, &["--seed", "9"][..]].concat());
    // Diverging runs exit 3, with the report on stdout.
    let out = run_colony(
        root,
        &[
            "run",
            "bisect",
            a["run"].as_str().unwrap(),
            b["run"].as_str().unwrap(),
            "--no-confirm",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["first_divergent_step"], 0, "{r}");
    // Planted: the same run with its chain rewritten from step 14.
    let run = a["run"].as_str().unwrap();
    let planted = {
        let repo = Repo::open(root, Access::Write, &|_| {}).unwrap();
        let stored = read_run(&repo, run).unwrap();
        let mut rec = stored.record.clone();
        rec.losses[13] *= 1.5;
        for i in 14..rec.chain.len() {
            rec.chain[i] = blake3::hash(rec.chain[i].as_bytes()).to_hex().to_string();
        }
        let files: BTreeMap<_, _> = stored
            .files
            .into_iter()
            .filter(|(p, _)| p != "record.json")
            .collect();
        write_record(&repo, &rec, &files, None).unwrap().0
    };
    let out = run_colony(root, &["run", "bisect", run, &planted, "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["first_divergent_step"], 14, "{r}");
    assert_eq!(r["a_reproduces"], true);
    assert_eq!(r["b_reproduces"], false);
    assert!(r["comparisons"].as_u64().unwrap() <= 6);
    let r = json(root, &["run", "bisect", run, run]);
    assert!(r["first_divergent_step"].is_null());
}

#[test]
fn exec_records_the_script_hash_and_artifacts() {
    let d = data();
    let root = d.path();
    let script = "#!/bin/sh\nset -e\ntest \"$(stat -c %a \"$COLONY_SNAPSHOT_DIR/tables/points.csv\")\" = 444\n\
                  wc -l < \"$COLONY_SNAPSHOT_DIR/tables/points.csv\" > \"$COLONY_RUN_DIR/rows.txt\"\n\
                  echo \"$COLONY_SEED $COLONY_SNAPSHOT_ROOT\" > \"$COLONY_RUN_DIR/env.txt\"\n";
    let tools = tempfile::tempdir().unwrap();
    let sp = tools.path().join("train.sh");
    std::fs::write(&sp, script).unwrap();
    let sps = sp.to_str().unwrap();
    let a = json(
        root,
        &[
            "train",
            "main",
            "--seed",
            "7",
            "--exec",
            &format!("sh {sps}"),
        ],
    );
    assert_eq!(a["exit_code"], 0, "{a}");
    let scripts = a["exec"]["scripts"].as_array().unwrap();
    assert_eq!(scripts.len(), 1);
    assert_eq!(
        scripts[0]["hash"],
        blake3::hash(script.as_bytes()).to_hex().as_str()
    );
    let arts = a["exec"]["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 2);
    assert_eq!(arts[1]["path"], "rows.txt");
    assert_eq!(arts[1]["hash"], blake3::hash(b"241\n").to_hex().as_str());
    let root_hex = json(root, &["show", "main"])["root"].clone();
    assert_eq!(
        arts[0]["hash"],
        blake3::hash(format!("7 {}\n", root_hex.as_str().unwrap()).as_bytes())
            .to_hex()
            .as_str()
    );
    let show = json(root, &["run", "show", a["run"].as_str().unwrap()]);
    assert_eq!(
        show["record"]["exec"]["scripts"][0]["hash"],
        scripts[0]["hash"]
    );
    // A changed script changes its hash and the record.
    std::fs::write(&sp, format!("{script}# v2\n")).unwrap();
    let b = json(
        root,
        &[
            "train",
            "main",
            "--seed",
            "7",
            "--exec",
            &format!("sh {sps}"),
        ],
    );
    assert_ne!(b["exec"]["scripts"][0]["hash"], scripts[0]["hash"]);
    assert_ne!(b["record_hash"], a["record_hash"]);
    // A failing command is recorded, and colony exits with its status.
    std::fs::write(&sp, "exit 4\n").unwrap();
    let out = run_colony(root, &["train", "main", "--exec", &format!("sh {sps}")]);
    assert_eq!(out.status.code(), Some(4));
    // The read-only snapshot folder is gone.
    assert!(
        !root
            .join(".colony/run-work")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
}

/// A long external run must not keep the dataset from others: while the trainer runs, the
/// store is free, so the trainer itself (standing in for a user in another terminal) can
/// read the log and even commit, with a lock timeout far shorter than its run.
#[test]
fn the_store_is_free_while_an_external_trainer_runs() {
    let d = data();
    let root = d.path();
    let script = "#!/bin/sh\nset -e\ncd \"$DATASET\"\n\
                  \"$COLONY\" log -n 1 > \"$COLONY_RUN_DIR/log.txt\"\n\
                  echo note > notes.txt\n\
                  \"$COLONY\" add notes.txt > /dev/null\n\
                  \"$COLONY\" commit -m 'written while training' > /dev/null\n";
    let tools = tempfile::tempdir().unwrap();
    let sp = tools.path().join("train.sh");
    std::fs::write(&sp, script).unwrap();
    let mut c = cmd(
        root,
        &[
            "--json",
            "train",
            "main",
            "--exec",
            &format!("sh {}", sp.to_str().unwrap()),
        ],
    );
    c.env("COLONY", bin())
        .env("DATASET", root)
        .env("COLONY_LOCK_TIMEOUT", "3");
    let a = json_cmd(c);
    assert_eq!(a["exit_code"], 0, "{a}");
    assert_eq!(a["exec"]["artifacts"][0]["path"], "log.txt", "{a}");
    let log = json(root, &["log"]);
    assert_eq!(
        log[0]["message"].as_str().unwrap().trim(),
        "written while training",
        "{log}"
    );
    // The run is recorded against the revision it trained on, not the new head.
    let show = json(root, &["run", "show", a["run"].as_str().unwrap()]);
    assert_eq!(
        show["record"]["snapshot"]["commit"], log[1]["commit"],
        "{show}"
    );
}

/// A built-in run holds the store only while it pins and loads: once it trains, another
/// process reads and commits; killing the run then leaves the dataset whole.
#[test]
fn the_store_is_free_while_a_builtin_run_trains() {
    let d = data();
    let root = d.path();
    let mut child = cmd(
        root,
        &[
            "-q", "train", "main", "--model", "charlm", "--steps", "100000",
        ],
    )
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Waits out the short load (the lock timeout is generous), then must not wait for
    // the training itself.
    let mut c = cmd(root, &["--json", "log", "-n", "1"]);
    c.env("COLONY_LOCK_TIMEOUT", "30");
    let log = json_cmd(c);
    assert!(log[0]["commit"].is_string(), "{log}");
    write(root, "notes.txt", b"written while training\n");
    for args in [&["add", "notes.txt"][..], &["commit", "-m", "during a run"]] {
        let mut c = cmd(root, args);
        c.env("COLONY_LOCK_TIMEOUT", "30");
        ok_cmd(c);
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the test could use the store beside it"
    );
    child.kill().unwrap();
    let _ = child.wait();
    ok(root, &["fsck"]);
    assert_eq!(
        json(root, &["run", "list"]).as_array().map(Vec::len),
        Some(0)
    );
}

#[test]
fn verify_refuses_another_instruction_set_class() {
    let d = data();
    let root = d.path();
    let a = train(root, MLP);
    let run = a["run"].as_str().unwrap();
    let elsewhere = {
        let repo = Repo::open(root, Access::Write, &|_| {}).unwrap();
        let stored = read_run(&repo, run).unwrap();
        let mut rec = stored.record.clone();
        rec.isa = "riscv64-base".into();
        let files: BTreeMap<_, _> = stored
            .files
            .into_iter()
            .filter(|(p, _)| p != "record.json")
            .collect();
        write_record(&repo, &rec, &files, None).unwrap().0
    };
    let err = fails(root, &["run", "verify", &elsewhere]);
    assert!(err.contains("instruction-set class mismatch"), "{err}");
}

#[test]
fn runs_travel_with_push_fetch_and_clone() {
    let a = data();
    let a_root = a.path();
    let trained = train(a_root, MLP);
    let run = trained["run"].as_str().unwrap().to_string();
    // A run on another branch's commit stays behind when `main` is pushed.
    ok(a_root, &["branch", "side"]);
    ok(a_root, &["switch", "side"]);
    write(
        a_root,
        "text/more.txt",
        b"another line of text to train on\n",
    );
    commit_all(a_root, "side data");
    let side = json(
        a_root,
        &["train", "side", "--model", "charlm", "--steps", "3"],
    );
    let side_run = side["run"].as_str().unwrap().to_string();
    ok(a_root, &["switch", "main"]);

    // Push to an empty dataset on this machine: the run on `main` goes along.
    let top = tempfile::tempdir().unwrap();
    let r = top.path().join("r");
    std::fs::create_dir_all(&r).unwrap();
    ok(&r, &["init"]);
    ok(a_root, &["remote", "add", "r", r.to_str().unwrap()]);
    let p = json(a_root, &["push", "r", "main"]);
    assert_eq!(p["runs"], 1, "{p}");
    assert_eq!(p["runs_new"], 1, "{p}");
    let listed = json(&r, &["run", "list"]);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [run.as_str()], "{listed}");
    // Pushing again sends no run again.
    let p = json(a_root, &["push", "r", "main"]);
    assert_eq!(p["runs_new"], 0, "{p}");

    // Clone the pushed-to dataset: the run, its record and checkpoints arrive, and its
    // steps re-execute there to the same hashes.
    json(top.path(), &["clone", r.to_str().unwrap(), "c"]);
    let c = top.path().join("c");
    assert_run_reproduces(&c, &trained);
    ok(&c, &["fsck"]);

    // A fetch brings every run the remote holds, including the side branch's.
    let d = dataset();
    ok(d.path(), &["remote", "add", "a", a_root.to_str().unwrap()]);
    let f = json(d.path(), &["fetch", "a"]);
    assert_eq!(f["runs"], 2, "{f}");
    let v = json(d.path(), &["run", "verify", &side_run]);
    assert!(v["first_bad"].is_null(), "{v}");
    let f = json(d.path(), &["fetch", "a"]);
    assert_eq!(f["runs"], 0, "{f}");
}

/// What the `--exec` script below reads through the run's own gateway: the table over
/// plain HTTP, the listing and a ranged get over S3 (boto3), and what it is answered for
/// a revision other than the pinned one.
const GATEWAY_READER: &str = r#"
import os, urllib.request, urllib.error, boto3
url = os.environ["COLONY_SNAPSHOT_URL"]
out = os.environ["COLONY_RUN_DIR"]
open(os.path.join(out, "http.csv"), "wb").write(urllib.request.urlopen(url + "tables/points.csv").read())
s3 = boto3.client("s3", endpoint_url=os.environ["COLONY_S3_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="any", aws_secret_access_key="any")
bucket, prefix = os.environ["COLONY_S3_BUCKET"], os.environ["COLONY_S3_PREFIX"]
keys = [o["Key"][len(prefix):] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
part = s3.get_object(Bucket=bucket, Key=prefix + "text/poem.txt", Range="bytes=3-11")["Body"].read()
try:
    urllib.request.urlopen(os.environ["COLONY_S3_ENDPOINT"] + "/main/tables/points.csv")
    other = "served"
except urllib.error.HTTPError as e:
    other = str(e.code)
open(os.path.join(out, "seen.txt"), "w").write(" ".join(keys) + "|" + part.decode() + "|" + other)
"#;

#[test]
fn exec_reads_the_pinned_revision_through_the_runs_own_gateway() {
    pyhelp::require(&["boto3"]);
    let d = data();
    let root = d.path();
    let old_csv = std::fs::read(root.join("tables/points.csv")).unwrap();
    // A newer revision on main: the run pins the older one and must see only that.
    write(root, "tables/points.csv", b"a,b,c,kind\n0,0,0,up\n");
    write(root, "later.txt", b"not in the pinned revision\n");
    commit_all(root, "later");
    let tools = tempfile::tempdir().unwrap();
    let script = tools.path().join("read.py");
    std::fs::write(&script, GATEWAY_READER).unwrap();
    let exec = format!("python3 {}", script.display());
    // --materialize: the gateway is there whether or not the folder is a mount.
    let r = json(root, &["train", "main~1", "--materialize", "--exec", &exec]);
    assert_eq!(r["exit_code"], 0, "{r}");
    let arts = r["exec"]["artifacts"].as_array().unwrap();
    let hash_of = |name: &str| {
        arts.iter()
            .find(|a| a["path"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {r}"))["hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        hash_of("http.csv"),
        blake3::hash(&old_csv).to_hex().as_str()
    );
    let seen = "tables/points.csv text/poem.txt|much depe|404";
    assert_eq!(
        hash_of("seen.txt"),
        blake3::hash(seen.as_bytes()).to_hex().as_str(),
        "expected {seen:?}"
    );
}
