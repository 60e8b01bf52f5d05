//! `colony train`: pin the revision, train a built-in model on it, record every step.

use std::collections::BTreeMap;
use std::time::Instant;

use colony_store::FileEntry;
use colony_store::snapshot::snapshot_root;

use crate::access::StoreAccess;
use crate::data::DataSpec;
use crate::error::{Result, TrainError};
use crate::model::ModelKind;
use crate::optim::AdamWParams;
use crate::record::{
    Checkpoint, FORMAT, RunRecord, SnapshotRef, TrainConfig, TrainerId, read_checkpoint, read_run,
    store_blobs, write_record,
};
use crate::session::Session;
use crate::state::chain;

/// What to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Revision to train on.
    pub rev: String,
    /// Model.
    pub model: ModelKind,
    /// Steps.
    pub steps: u64,
    /// Batch size.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Seed of weights and data order.
    pub seed: u64,
    /// Checkpoint every K steps (0: only the last step).
    pub checkpoint_every: u64,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Data selection.
    pub data: DataSpec,
    /// Record the run (hash chain, checkpoints, run ref); off only to measure the cost.
    pub record: bool,
}

/// What a run did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainReport {
    /// Run id (`refs/runs/<id>`); empty without recording.
    pub run: String,
    /// Commit of the run record.
    pub commit: String,
    /// BLAKE3 of record.json.
    pub record_hash: String,
    /// Snapshot commit trained on.
    pub snapshot: String,
    /// Steps taken in this invocation.
    pub steps: u64,
    /// Loss of the last step.
    pub final_loss: f32,
    /// Final weights hash.
    pub final_weights: String,
    /// Last chain link.
    pub chain_root: String,
    /// Instruction-set class.
    pub isa: String,
    /// Seconds from the start of the command to the end of the first step.
    pub first_step_s: f64,
    /// Training steps per second (loop only).
    pub steps_per_s: f64,
    /// Share of loop time spent hashing and checkpointing.
    pub record_overhead: f64,
}

impl TrainOptions {
    fn config(&self) -> TrainConfig {
        TrainConfig {
            model: self.model,
            steps: self.steps,
            batch: self.batch,
            adamw: AdamWParams::with_lr(self.lr),
            seed: self.seed,
            checkpoint_every: self.checkpoint_every,
            device: self.device.clone(),
            data: self.data.clone(),
            mlp: None,
            charlm: None,
        }
    }
}

/// Pins `opts.rev` (checking every byte of it is here), trains, and stores the record.
/// With [`StoreAccess::Reopen`] the store is held only while the snapshot is pinned and
/// loaded and while the checkpoints and record are stored, not while steps run.
pub fn train<'a>(store: impl Into<StoreAccess<'a>>, opts: &TrainOptions) -> Result<TrainReport> {
    let store = store.into();
    let started = Instant::now();
    if opts.steps == 0 {
        return Err(TrainError::Config("--steps must be at least 1".into()));
    }
    let repo = store.take()?;
    let commit = repo.resolve(&opts.rev)?;
    repo.pin(&commit.to_string(), None)?;
    let snapshot = repo.snapshot_of(commit)?;
    let mut s = Session::new(&repo, &snapshot, &opts.config())?;
    let progress = repo.progress();
    drop(repo);
    let record = RunRecord {
        format: FORMAT.into(),
        kind: "builtin".into(),
        snapshot: SnapshotRef {
            commit: commit.to_string(),
            root: snapshot_root(&snapshot).0.to_string(),
        },
        trainer: trainer_id(),
        isa: crate::isa::class_for(&opts.device),
        config: Some(s.cfg.clone()),
        data: Some(s.info.clone()),
        losses: Vec::new(),
        chain: Vec::new(),
        checkpoints: Vec::new(),
        final_weights: None,
        exec: None,
        torch: None,
    };
    let mut files = BTreeMap::new();
    let mut rec = record;
    if opts.record {
        let h0 = chain(&[0; 32], &s.state_hash()?);
        rec.chain.push(hex::encode(h0));
    }
    run_steps(
        store,
        progress,
        &mut s,
        &mut rec,
        &mut files,
        1,
        opts.record,
        started,
    )
}

/// The trainer identity recorded.
pub fn trainer_id() -> TrainerId {
    TrainerId {
        name: crate::TRAINER_NAME.into(),
        version: crate::TRAINER_VERSION.into(),
        backend: "candle-core 0.11".into(),
    }
}

/// Continues run `run` from its checkpoint at `at` (default: its last) up to `steps`
/// (default: the recorded step count), recording into a new run. Resuming an honest run
/// to the same step count reproduces it exactly (same record, same id).
pub fn resume<'a>(
    store: impl Into<StoreAccess<'a>>,
    run: &str,
    at: Option<u64>,
    steps: Option<u64>,
) -> Result<TrainReport> {
    let store = store.into();
    let started = Instant::now();
    let repo = store.take()?;
    let old = read_run(&repo, run)?;
    let cfg = old
        .record
        .config
        .clone()
        .ok_or_else(|| TrainError::Record(format!("run `{}` is not a built-in run", old.id)))?;
    crate::verify::check_isa(&old.record)?;
    let ck =
        match at {
            Some(k) => old
                .record
                .checkpoints
                .iter()
                .find(|c| c.step == k)
                .ok_or_else(|| {
                    TrainError::Record(format!(
                        "run `{}` has no checkpoint at step {k} (it has {})",
                        old.id,
                        old.record
                            .checkpoints
                            .iter()
                            .map(|c| c.step.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
            None => old.record.checkpoints.last().ok_or_else(|| {
                TrainError::Record(format!("run `{}` has no checkpoints", old.id))
            })?,
        }
        .clone();
    let commit = repo.resolve(&old.record.snapshot.commit)?;
    let snapshot = repo.snapshot_of(commit)?;
    let mut cfg = cfg;
    cfg.steps = steps.unwrap_or(cfg.steps);
    if cfg.steps <= ck.step {
        return Err(TrainError::Config(format!(
            "nothing to do: the checkpoint is at step {} and the run ends at {}",
            ck.step, cfg.steps
        )));
    }
    let mut s = Session::new(&repo, &snapshot, &cfg)?;
    let bytes = read_checkpoint(&repo, &old, &ck.path)?;
    let progress = repo.progress();
    drop(repo);
    let (step, state) = s.load(&bytes)?;
    let k = step as usize;
    if step != ck.step || hex::encode(state) != ck.state {
        return Err(TrainError::Record(format!(
            "checkpoint {} does not hold the recorded state of step {}",
            ck.path, ck.step
        )));
    }
    let mut rec = old.record.clone();
    rec.config = Some(cfg);
    rec.losses.truncate(k);
    rec.chain.truncate(k + 1);
    rec.checkpoints.retain(|c| c.step <= step);
    rec.final_weights = None;
    let mut files: BTreeMap<String, FileEntry> = old
        .files
        .iter()
        .filter(|(p, _)| rec.checkpoints.iter().any(|c| &c.path == *p))
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect();
    run_steps(
        store,
        progress,
        &mut s,
        &mut rec,
        &mut files,
        step + 1,
        true,
        started,
    )
}

/// Checkpoints taken but not yet in the store.
#[derive(Default)]
struct PendingCheckpoints {
    items: Vec<(String, Vec<u8>)>,
    bytes: usize,
}

/// How many checkpoint bytes a run keeps in memory before it takes the store briefly to
/// write them (otherwise they are written with the record).
const PENDING_LIMIT: usize = 256 << 20;

impl PendingCheckpoints {
    /// Writes the pending checkpoints into the store, recording their entries in `files`.
    fn flush(
        &mut self,
        repo: &colony_store::Repo,
        files: &mut BTreeMap<String, FileEntry>,
    ) -> Result<()> {
        if self.items.is_empty() {
            return Ok(());
        }
        let entries = store_blobs(repo, self.items.iter().map(|(_, b)| b.as_slice()))?;
        files.extend(self.items.drain(..).map(|(p, _)| p).zip(entries));
        self.bytes = 0;
        Ok(())
    }
}

/// Runs steps `from..=cfg.steps`, hashing, chaining and checkpointing when `record`,
/// then stores the record.
#[allow(clippy::too_many_arguments)]
fn run_steps(
    store: StoreAccess<'_>,
    progress: std::sync::Arc<dyn colony_store::Progress>,
    s: &mut Session,
    rec: &mut RunRecord,
    files: &mut BTreeMap<String, FileEntry>,
    from: u64,
    record: bool,
    started: Instant,
) -> Result<TrainReport> {
    let steps = s.cfg.steps;
    let every = s.cfg.checkpoint_every;
    let mut pending = PendingCheckpoints::default();
    progress.begin("training", Some(steps + 1 - from));
    let loop_start = Instant::now();
    let mut first_step_s = 0.0;
    let mut recording = std::time::Duration::ZERO;
    let mut loss = f32::NAN;
    // Links stay bytes inside the loop (no parsing or formatting per step) and join the
    // record's hex chain after it.
    let mut prev = match rec.chain.last() {
        Some(h) if record => crate::record::parse_hex32(h)?,
        _ => [0; 32],
    };
    let mut links: Vec<[u8; 32]> = Vec::with_capacity(if record {
        (steps + 1 - from) as usize
    } else {
        0
    });
    for step in from..=steps {
        loss = s.step(step)?;
        if step == from {
            first_step_s = started.elapsed().as_secs_f64();
        }
        if record {
            let t = Instant::now();
            let state = if (every > 0 && step % every == 0) || step == steps {
                let (bytes, state) = s.checkpoint(step)?;
                let path = format!("checkpoints/step-{step:08}.ckpt");
                pending.bytes += bytes.len();
                pending.items.push((path.clone(), bytes));
                if pending.bytes >= PENDING_LIMIT {
                    pending.flush(&*store.take()?, files)?;
                }
                rec.checkpoints.push(Checkpoint {
                    step,
                    path,
                    state: hex::encode(state),
                });
                state
            } else {
                s.state_hash()?
            };
            prev = chain(&prev, &state);
            links.push(prev);
            recording += t.elapsed();
        }
        rec.losses.push(loss);
        progress.advance(1);
    }
    let loop_s = loop_start.elapsed().as_secs_f64();
    rec.chain.extend(links.iter().map(hex::encode));
    progress.end();
    let repo = if record { Some(store.take()?) } else { None };
    if let Some(r) = &repo {
        let t = Instant::now();
        pending.flush(r, files)?;
        recording += t.elapsed();
    }
    let weights = hex::encode(s.weights_hash()?);
    rec.final_weights = Some(weights.clone());
    let taken = steps + 1 - from;
    let mut report = TrainReport {
        run: String::new(),
        commit: String::new(),
        record_hash: String::new(),
        snapshot: rec.snapshot.commit.clone(),
        steps: taken,
        final_loss: loss,
        final_weights: weights,
        chain_root: rec.chain.last().cloned().unwrap_or_default(),
        isa: rec.isa.clone(),
        first_step_s,
        steps_per_s: taken as f64 / loop_s.max(1e-9),
        record_overhead: recording.as_secs_f64() / loop_s.max(1e-9),
    };
    if let Some(repo) = repo {
        let (id, commit) = write_record(&repo, rec, files, None)?;
        report.run = id;
        report.commit = commit.to_string();
        report.record_hash = hex::encode(rec.hash());
    }
    Ok(report)
}
