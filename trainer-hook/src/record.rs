//! Run records: what a run did, stored in the store as a commit on `refs/runs/<id>`.
//!
//! The commit's tree holds `record.json` (this [`RunRecord`]) and `checkpoints/step-K.ckpt`
//! (and for `--exec` runs `artifacts/…`), all as content-addressed data through the chunk
//! store, like dataset files: identical checkpoints are stored once, and `gc`/`fsck` treat
//! everything a run ref reaches as live. The commit's parent is the snapshot commit
//! trained on, so a run keeps its data alive and travels with it. The record hash is the
//! BLAKE3 of `record.json`'s bytes; the run id is its first 16 hex digits
//! ([`colony_store::ops::runs::run_id`]). A run whose name is not that id is forged (or
//! damaged): the store refuses to adopt it, and [`read_run`] (so `run show`, `verify`,
//! `bisect` and claims) refuses to use it.

use std::collections::BTreeMap;

use colony_store::ObjectId;
use colony_store::ingest::ingest_bytes;
use colony_store::snapshot::snapshot_root;
use colony_store::{FileEntry, Hash, Mode, Repo, Snapshot};

use crate::data::{DataInfo, DataSpec};
use crate::error::{Result, TrainError};
use crate::exec::ExecInfo;
use crate::model::{CharLmDims, MlpDims, ModelKind};
use crate::optim::AdamWParams;

/// Ref prefix of run records.
pub const RUNS_PREFIX: &str = "refs/runs/";
/// Format tag of records.
pub const FORMAT: &str = "colony-run v1";

/// The revision trained on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotRef {
    /// Commit id.
    pub commit: String,
    /// Snapshot root (BLAKE3).
    pub root: String,
}

/// Who trained.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainerId {
    /// Trainer name.
    pub name: String,
    /// Trainer version.
    pub version: String,
    /// Tensor backend.
    pub backend: String,
}

/// The full configuration of a built-in run: everything needed to repeat it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Model.
    pub model: ModelKind,
    /// Steps.
    pub steps: u64,
    /// Batch size.
    pub batch: usize,
    /// Optimiser.
    pub adamw: AdamWParams,
    /// Seed of the weights and the data order.
    pub seed: u64,
    /// A checkpoint every this many steps (0: none but the last).
    pub checkpoint_every: u64,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Data selection.
    pub data: DataSpec,
    /// MLP sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp: Option<MlpDims>,
    /// Char model sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charlm: Option<CharLmDims>,
}

/// A stored checkpoint.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// State after this step.
    pub step: u64,
    /// Path in the run's tree.
    pub path: String,
    /// BLAKE3 of the state bytes (what the chain links).
    pub state: String,
}

/// Everything a run did.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// [`FORMAT`].
    pub format: String,
    /// `builtin` or `exec`.
    pub kind: String,
    /// Revision trained on.
    pub snapshot: SnapshotRef,
    /// Trainer identity and version.
    pub trainer: TrainerId,
    /// Instruction-set class of the machine (see [`crate::isa`]).
    pub isa: String,
    /// Built-in runs: the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<TrainConfig>,
    /// Built-in runs: the data read and how its order is fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataInfo>,
    /// Loss of each step (index 0 is step 1).
    #[serde(default)]
    pub losses: Vec<f32>,
    /// Hash chain, hex: `chain[0]` after initialisation, `chain[i]` after step i.
    #[serde(default)]
    pub chain: Vec<String>,
    /// Checkpoints, by step.
    #[serde(default)]
    pub checkpoints: Vec<Checkpoint>,
    /// BLAKE3 of the final parameters (built-in), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_weights: Option<String>,
    /// `--exec` runs: the command and what it did. PyTorch runs: the command (the script
    /// and its hash) that `run verify` re-runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecInfo>,
    /// PyTorch runs recorded by the Python package's `Recorder`: how the steps were hashed
    /// and made reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<TorchInfo>,
}

/// How a PyTorch run was recorded (kind `torch`). Its chain follows the built-in
/// definition (`h_0 = BLAKE3([0; 32] || state hash after initialisation)`, `h_i =
/// BLAKE3(h_{i-1} || state hash after step i)`) over the state bytes named by `state`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TorchInfo {
    /// What the state bytes are: [`TORCH_STATE`] for PyTorch's adapter; another recorder
    /// built on the same core names its own.
    pub state: String,
    /// A checkpoint every this many steps (step 0, the initial state, always).
    pub every: u64,
    /// PyTorch version.
    pub torch_version: String,
    /// CPU threads PyTorch used (`torch.get_num_threads()`); results can depend on it.
    pub threads: u32,
    /// Whether `torch.use_deterministic_algorithms(True)` was on.
    pub deterministic: bool,
    /// Where the steps ran (`cpu`, `cuda`); steps are re-executed on CPU.
    pub device: String,
    /// How the data was ordered (as the script's datasets describe it).
    pub data_order: serde_json::Value,
}

/// The state bytes a PyTorch run's chain hashes (see the Python package's
/// `colony.torch` and the README).
pub const TORCH_STATE: &str = "colony-torch-state v1";

/// The three bytes32 values a claim posts on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimValues {
    /// BLAKE3 of `record.json`.
    pub record_hash: [u8; 32],
    /// BLAKE3 of the final parameters (exec runs: of the artifact list).
    pub final_weights: [u8; 32],
    /// The last link of the step chain (exec runs: zero).
    pub chain_root: [u8; 32],
}

/// One run as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    /// Run id.
    pub id: String,
    /// Commit of the run record.
    pub commit: String,
    /// BLAKE3 of record.json.
    pub record_hash: String,
    /// `builtin` or `exec`.
    pub kind: String,
    /// Model name or the command.
    pub what: String,
    /// Snapshot commit.
    pub snapshot: String,
    /// Steps recorded.
    pub steps: usize,
    /// Last loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<f32>,
    /// Why the run cannot be used (its name is not its record's id), if it cannot; the
    /// other fields are then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// Parses 64 hex digits.
pub fn parse_hex32(s: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| TrainError::Record(format!("`{s}` is not a 32-byte hex hash")))?;
    Ok(out)
}

impl RunRecord {
    /// The canonical bytes of `record.json`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("records serialise");
        v.push(b'\n');
        v
    }

    /// The record hash: BLAKE3 of [`RunRecord::to_bytes`].
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(&self.to_bytes()).as_bytes()
    }

    /// The values a claim posts.
    pub fn claim_values(&self) -> Result<ClaimValues> {
        let final_weights = match (&self.final_weights, &self.exec) {
            (Some(w), _) => parse_hex32(w)?,
            (None, Some(e)) => {
                *blake3::hash(&serde_json::to_vec(&e.artifacts).unwrap_or_default()).as_bytes()
            }
            (None, None) => [0; 32],
        };
        let chain_root = match self.chain.last() {
            Some(h) => parse_hex32(h)?,
            None => [0; 32],
        };
        Ok(ClaimValues {
            record_hash: self.hash(),
            final_weights,
            chain_root,
        })
    }
}

/// Stores bytes as content-addressed data and returns their file entry.
pub fn store_bytes(repo: &Repo, bytes: &[u8]) -> Result<FileEntry> {
    Ok(store_blobs(repo, [bytes])?.remove(0))
}

/// Stores each of `blobs` as content-addressed data through one sink (so they fill
/// shards together) and returns their file entries, in order.
pub fn store_blobs<'b>(
    repo: &Repo,
    blobs: impl IntoIterator<Item = &'b [u8]>,
) -> Result<Vec<FileEntry>> {
    let store = repo.chunks()?;
    let sink = store.sink();
    let level = repo.config().compression_level()?;
    let entries = blobs
        .into_iter()
        .map(|bytes| {
            let got = ingest_bytes(bytes, &sink, level)?;
            Ok(FileEntry {
                mode: Mode::File,
                size: got.size,
                hash: got.hash,
                manifest: got.manifest,
                target: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    sink.finish()?;
    Ok(entries)
}

/// Writes `record` (with the extra files of its tree: checkpoints, artifacts) as a commit
/// whose parent is the snapshot commit, and points `refs/runs/<id>` at it. Returns the id
/// and the commit. Writing the same record twice gives the same id.
///
/// `name` replaces the id as the ref name. Any name but the id makes a run that every
/// reader and every store refuses as forged; it exists for tests that stage a forgery.
pub fn write_record(
    repo: &Repo,
    record: &RunRecord,
    files: &BTreeMap<String, FileEntry>,
    name: Option<&str>,
) -> Result<(String, ObjectId)> {
    let bytes = record.to_bytes();
    let entry = store_bytes(repo, &bytes)?;
    let id = colony_store::ops::runs::run_id(&entry.hash);
    let mut snap: Snapshot = files.clone();
    let record_hash = entry.hash;
    snap.insert("record.json".into(), entry);
    let h = repo.history();
    let tree = h.write_tree(&snap)?;
    let root = snapshot_root(&snap);
    let parent = repo.resolve(&record.snapshot.commit)?;
    let (author, email) = repo.config().author();
    let what = match (&record.config, &record.exec) {
        (Some(c), _) => format!("{} for {} steps", c.model.name(), c.steps),
        (None, Some(e)) => format!("exec `{}`", e.command.join(" ")),
        _ => "run".into(),
    };
    let msg = format!("run {id}: {what}\n\nColony-Record: {record_hash}");
    let commit = h.write_commit(tree, &[parent], &msg, &root, (&author, &email))?;
    h.sync()?;
    let name = name.unwrap_or(&id);
    h.set_ref(&format!("{RUNS_PREFIX}{name}"), commit)?;
    Ok((name.to_string(), commit))
}

/// A stored run: its record and the files of its tree.
pub struct StoredRun {
    /// Run id (the ref name).
    pub id: String,
    /// Commit.
    pub commit: ObjectId,
    /// The record.
    pub record: RunRecord,
    /// Hash of record.json.
    pub record_hash: Hash,
    /// The tree's files (record.json, checkpoints, artifacts).
    pub files: Snapshot,
}

/// The run refs, by id.
pub fn list_ids(repo: &Repo) -> Result<Vec<(String, ObjectId)>> {
    Ok(repo.history().list_refs(RUNS_PREFIX)?)
}

/// Finds a run by id, unique id prefix, or `refs/runs/` name.
pub fn find_run(repo: &Repo, run: &str) -> Result<(String, ObjectId)> {
    let run = run.strip_prefix(RUNS_PREFIX).unwrap_or(run);
    let ids = list_ids(repo)?;
    if let Some(hit) = ids.iter().find(|(n, _)| n == run) {
        return Ok(hit.clone());
    }
    let hits: Vec<_> = ids.iter().filter(|(n, _)| n.starts_with(run)).collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(TrainError::Record(format!(
            "no run `{run}` (see `colony run list`)"
        ))),
        _ => Err(TrainError::Record(format!(
            "`{run}` names {} runs; give more of the id",
            hits.len()
        ))),
    }
}

/// Reads a run: its record, verified against the stored hash, refusing a run whose
/// name is not its record's id ([`colony_store::StoreError::ForgedRun`]).
pub fn read_run(repo: &Repo, run: &str) -> Result<StoredRun> {
    let (id, commit) = find_run(repo, run)?;
    colony_store::ops::runs::check_run(repo.history(), &id, commit)?;
    let files = repo.snapshot_of(commit)?;
    let e = files
        .get("record.json")
        .ok_or_else(|| TrainError::Record(format!("run `{id}` has no record.json")))?;
    let bytes = crate::data::read_all(repo, "record.json", e)?;
    let record: RunRecord = serde_json::from_slice(&bytes)
        .map_err(|err| TrainError::Record(format!("run `{id}`: malformed record.json: {err}")))?;
    if record.format != FORMAT {
        return Err(TrainError::Record(format!(
            "run `{id}` has format `{}`, expected `{FORMAT}`",
            record.format
        )));
    }
    Ok(StoredRun {
        id,
        commit,
        record,
        record_hash: e.hash,
        files,
    })
}

/// Reads a checkpoint file of a stored run.
pub fn read_checkpoint(repo: &Repo, run: &StoredRun, path: &str) -> Result<Vec<u8>> {
    let e = run
        .files
        .get(path)
        .ok_or_else(|| TrainError::Record(format!("run `{}` lacks {path}", run.id)))?;
    crate::data::read_all(repo, path, e)
}

/// Summaries of every run, by id. A forged run is listed with only its id, commit and
/// why it is refused ([`RunSummary::refused`]).
pub fn list_runs(repo: &Repo) -> Result<Vec<RunSummary>> {
    let mut out = Vec::new();
    for (id, commit) in list_ids(repo)? {
        match read_run(repo, &id) {
            Ok(r) => out.push(summary(&r)),
            Err(TrainError::Store(e @ colony_store::StoreError::ForgedRun { .. })) => {
                out.push(RunSummary {
                    id,
                    commit: commit.to_string(),
                    record_hash: String::new(),
                    kind: String::new(),
                    what: String::new(),
                    snapshot: String::new(),
                    steps: 0,
                    final_loss: None,
                    refused: Some(e.to_string()),
                })
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The summary of a stored run.
pub fn summary(r: &StoredRun) -> RunSummary {
    let rec = &r.record;
    RunSummary {
        id: r.id.clone(),
        commit: r.commit.to_string(),
        record_hash: r.record_hash.to_string(),
        kind: rec.kind.clone(),
        what: match (&rec.config, &rec.exec) {
            (Some(c), _) => c.model.name().to_string(),
            (None, Some(e)) => e.command.join(" "),
            _ => String::new(),
        },
        snapshot: rec.snapshot.commit.clone(),
        steps: rec.losses.len(),
        final_loss: rec.losses.last().copied(),
        refused: None,
    }
}

/// The three bytes32 values a claim on run `run` posts on chain: the record hash
/// (BLAKE3 of record.json), the final weights hash and the step-chain root (the last
/// chain link). The record is read back and its hash checked against the stored bytes.
pub fn claim_values(repo: &Repo, run: &str) -> Result<ClaimValues> {
    let r = read_run(repo, run)?;
    let v = r.record.claim_values()?;
    if v.record_hash != r.record_hash.0 {
        return Err(TrainError::Record(format!(
            "run `{}`: record.json is not in canonical form (its hash {} differs from the re-encoded {})",
            r.id,
            r.record_hash,
            hex::encode(v.record_hash)
        )));
    }
    Ok(v)
}
