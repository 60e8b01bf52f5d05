//! PyTorch runs: recorded by the Python package's `Recorder` (kind `torch`), stored like
//! every run, and verified by re-running the recorded script from a checkpoint.
//!
//! The Python side computes the chain (the built-in definition over the state bytes
//! [`TORCH_STATE`] names) and encodes checkpoints; this module only checks what it is
//! given and stores it ([`write_torch_run`]), and for `run verify` starts the recorded
//! command with `COLONY_VERIFY` naming what to re-execute, then reads back the report the
//! `Recorder` writes in verify mode ([`verify_torch_run`]).
//!
//! ```text
//! COLONY_VERIFY = path of {"run", "run_commit", "from": step|null, "to": step, "report": path}
//! report        = {"reexecuted": n, "first_bad": null | {"step", "what", "recorded", "recomputed"}}
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use colony_store::snapshot::snapshot_root;
use colony_store::{ObjectId, Repo};

use crate::error::{Result, TrainError};
use crate::record::{FORMAT, RunRecord, StoredRun, TORCH_STATE, store_blobs, write_record};
use crate::verify::{StepCheck, VerifyReport, check_isa};

/// Checks a PyTorch run record (`record_json`, as the `Recorder` wrote it) against the
/// store and stores it with its files (checkpoints), as `refs/runs/<id>`. Returns the run
/// id, its commit and the record hash (BLAKE3 of `record.json`).
///
/// The record must be in canonical form (the bytes `RunRecord::to_bytes` gives), name a
/// commit of this dataset whose snapshot root it states, hold one chain link per step
/// plus the initial one, and list exactly the checkpoint files given.
pub fn write_torch_run(
    repo: &Repo,
    record_json: &[u8],
    files: Vec<(String, Vec<u8>)>,
) -> Result<(String, ObjectId, String)> {
    let bad = |why: String| TrainError::Record(format!("PyTorch run: {why}"));
    let record: RunRecord =
        serde_json::from_slice(record_json).map_err(|e| bad(format!("malformed record: {e}")))?;
    if record.to_bytes() != record_json {
        return Err(bad(
            "the record is not in canonical form (write it with the colony package)".into(),
        ));
    }
    if record.format != FORMAT || record.kind != "torch" {
        return Err(bad(format!(
            "format `{}` kind `{}`, expected `{FORMAT}` kind `torch`",
            record.format, record.kind
        )));
    }
    let torch = record
        .torch
        .as_ref()
        .ok_or_else(|| bad("no `torch` section".into()))?;
    if torch.state.trim().is_empty() {
        return Err(bad(format!(
            "the state bytes are not named (PyTorch's are `{TORCH_STATE}`)"
        )));
    }
    if record.exec.is_none() {
        return Err(bad("no command recorded (`exec`)".into()));
    }
    if record.chain.len() != record.losses.len() + 1 {
        return Err(bad(format!(
            "{} losses but {} chain links (one per step plus the initial state)",
            record.losses.len(),
            record.chain.len()
        )));
    }
    let commit = repo.resolve(&record.snapshot.commit)?;
    let root = snapshot_root(&repo.snapshot_of(commit)?).to_string();
    if root != record.snapshot.root {
        return Err(bad(format!(
            "commit {commit} has snapshot root {root}, the record says {}",
            record.snapshot.root
        )));
    }
    let listed: Vec<&str> = record.checkpoints.iter().map(|c| c.path.as_str()).collect();
    let given: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    if listed != given {
        return Err(bad(format!(
            "the record lists checkpoints {listed:?} but {given:?} were given"
        )));
    }
    let entries = store_blobs(repo, files.iter().map(|(_, b)| b.as_slice()))?;
    let files: BTreeMap<_, _> = files.into_iter().map(|(p, _)| p).zip(entries).collect();
    let (id, commit) = write_record(repo, &record, &files, None)?;
    Ok((id, commit, hex::encode(record.hash())))
}

/// Verifies steps `targets` (sorted, non-empty) of a stored PyTorch run by re-running its
/// recorded command from the nearest checkpoint before the first target up to the last,
/// with the `Recorder` in verify mode, in the folder `cwd` (where the script's recorded
/// path resolves). Refuses to run a script whose BLAKE3 is not the recorded one.
pub fn verify_torch_run(
    repo: &Repo,
    stored: &StoredRun,
    targets: &[u64],
    cwd: &Path,
) -> Result<VerifyReport> {
    let rec = &stored.record;
    check_isa(rec)?;
    let exec = rec
        .exec
        .as_ref()
        .ok_or_else(|| TrainError::Record(format!("run `{}` records no command", stored.id)))?;
    for s in &exec.scripts {
        let path = cwd.join(&s.path);
        let bytes = std::fs::read(&path).map_err(|e| {
            TrainError::Config(format!(
                "the run's script {} cannot be read ({e}); run `colony run verify` where the recorded command `{}` works",
                path.display(),
                exec.command.join(" ")
            ))
        })?;
        let now = blake3::hash(&bytes).to_hex();
        if now.as_str() != s.hash {
            return Err(TrainError::Config(format!(
                "{} has changed since the run (BLAKE3 {now}, recorded {}); re-running it would not check the run",
                path.display(),
                s.hash
            )));
        }
    }
    let (first, last) = match (targets.first(), targets.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => return Err(TrainError::Config("no steps to verify".into())),
    };
    // Re-execution starts after the last checkpoint before the first target (step 0 re-runs
    // the initialisation itself).
    let from = (first > 0)
        .then(|| {
            rec.checkpoints
                .iter()
                .map(|c| c.step)
                .filter(|&s| s < first)
                .max()
        })
        .flatten();
    let work = tempfile::tempdir().map_err(|e| TrainError::io("create a temporary folder", e))?;
    let report_path = work.path().join("report.json");
    let spec = serde_json::json!({
        "run": stored.id,
        "run_commit": stored.commit.to_string(),
        "from": from,
        "to": last,
        "report": report_path,
    });
    let spec_path = work.path().join("verify.json");
    std::fs::write(&spec_path, spec.to_string())
        .map_err(|e| TrainError::io(format!("write {}", spec_path.display()), e))?;
    let program = std::env::var_os("COLONY_PYTHON")
        .filter(|_| exec.command.first().is_some_and(|p| looks_like_python(p)))
        .unwrap_or_else(|| exec.command[0].clone().into());
    // The script's own output goes to stderr: stdout is colony's (and may be JSON).
    let status = Command::new(&program)
        .args(&exec.command[1..])
        .current_dir(cwd)
        .env("COLONY_DATASET", repo.root())
        .env("COLONY_COMMIT", &rec.snapshot.commit)
        .env("COLONY_SNAPSHOT_ROOT", &rec.snapshot.root)
        .env("COLONY_SEED", exec.seed.to_string())
        .env("COLONY_VERIFY", &spec_path)
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| TrainError::io(format!("run `{}`", program.to_string_lossy()), e))?;
    let report = std::fs::read(&report_path).map_err(|_| {
        TrainError::Config(format!(
            "`{}` exited ({status}) without a verification report: the script must record its steps with colony.torch.Recorder, which verifies them when COLONY_VERIFY is set",
            exec.command.join(" ")
        ))
    })?;
    let report: TorchReport = serde_json::from_slice(&report)
        .map_err(|e| TrainError::Record(format!("malformed verification report: {e}")))?;
    Ok(VerifyReport {
        run: stored.id.clone(),
        checked: targets.to_vec(),
        reexecuted: report.reexecuted,
        first_bad: report.first_bad,
        isa: rec.isa.clone(),
    })
}

/// What the `Recorder` reports in verify mode.
#[derive(serde::Deserialize)]
struct TorchReport {
    reexecuted: u64,
    first_bad: Option<StepCheck>,
}

/// Whether a recorded program is a Python interpreter (which `COLONY_PYTHON` replaces:
/// the recording machine's interpreter path rarely exists on the verifier's).
fn looks_like_python(program: &str) -> bool {
    Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("python"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{ExecInfo, ScriptHash};
    use crate::record::{Checkpoint, SnapshotRef, TorchInfo, TrainerId, read_run};

    /// A valid two-step record on `main` of `repo`, with one checkpoint file.
    fn record(repo: &Repo) -> (RunRecord, Vec<(String, Vec<u8>)>) {
        let commit = repo.resolve("main").unwrap();
        let root = snapshot_root(&repo.snapshot_of(commit).unwrap()).to_string();
        let link = |n: u8| hex::encode([n; 32]);
        let rec = RunRecord {
            format: FORMAT.into(),
            kind: "torch".into(),
            snapshot: SnapshotRef {
                commit: commit.to_string(),
                root,
            },
            trainer: TrainerId {
                name: "colony.torch".into(),
                version: "test".into(),
                backend: "pytorch test".into(),
            },
            isa: crate::isa::cpu_class(),
            config: None,
            data: None,
            losses: vec![1.0, 0.5],
            chain: vec![link(1), link(2), link(3)],
            checkpoints: vec![Checkpoint {
                step: 0,
                path: "checkpoints/step-0.ckpt".into(),
                state: link(9),
            }],
            final_weights: Some(link(7)),
            exec: Some(ExecInfo {
                command: vec!["python3".into(), "train.py".into()],
                scripts: vec![ScriptHash {
                    path: "train.py".into(),
                    hash: link(5),
                }],
                seed: 1,
                exit_code: Some(0),
                artifacts: vec![],
            }),
            torch: Some(TorchInfo {
                state: TORCH_STATE.into(),
                every: 10,
                torch_version: "test".into(),
                threads: 1,
                deterministic: true,
                device: "cpu".into(),
                data_order: serde_json::json!({"described": false}),
            }),
        };
        let files = vec![("checkpoints/step-0.ckpt".to_string(), b"state".to_vec())];
        (rec, files)
    }

    #[test]
    fn a_valid_record_is_stored_and_read_back_like_any_run() {
        let (_d, repo) = crate::tests::dataset();
        let (rec, files) = record(&repo);
        let (id, _, hash) = write_torch_run(&repo, &rec.to_bytes(), files).unwrap();
        let stored = read_run(&repo, &id).unwrap();
        assert_eq!(stored.record, rec);
        assert_eq!(stored.record_hash.to_string(), hash);
        assert!(stored.files.contains_key("checkpoints/step-0.ckpt"));
    }

    #[test]
    fn records_that_do_not_hold_together_are_refused() {
        let (_d, repo) = crate::tests::dataset();
        let refused = |rec: &RunRecord, bytes: Option<Vec<u8>>, files: Vec<(String, Vec<u8>)>| {
            let bytes = bytes.unwrap_or_else(|| rec.to_bytes());
            match write_torch_run(&repo, &bytes, files) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("stored a bad record"),
            }
        };
        let (rec, files) = record(&repo);
        let compact = serde_json::to_vec(&rec).unwrap();
        assert!(refused(&rec, Some(compact), files.clone()).contains("canonical"));
        let mut wrong_root = rec.clone();
        wrong_root.snapshot.root = hex::encode([0u8; 32]);
        assert!(refused(&wrong_root, None, files.clone()).contains("snapshot root"));
        let mut short = rec.clone();
        short.chain.pop();
        assert!(refused(&short, None, files.clone()).contains("chain links"));
        let mut other_state = rec.clone();
        other_state.torch.as_mut().unwrap().state = " ".into();
        assert!(refused(&other_state, None, files.clone()).contains("state bytes"));
        assert!(refused(&rec, None, vec![]).contains("checkpoints"));
        assert!(
            crate::record::list_ids(&repo).unwrap().is_empty(),
            "nothing was stored"
        );
    }
}
