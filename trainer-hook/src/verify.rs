//! `colony run verify` and `colony run bisect`: re-execute recorded steps and compare.

use colony_store::Repo;

use crate::error::{Result, TrainError};
use crate::record::{RunRecord, StoredRun, parse_hex32, read_checkpoint, read_run};
use crate::rng::{SplitMix64, stream};
use crate::session::Session;
use crate::state::chain;

/// Which steps to check.
#[derive(Clone, Debug)]
pub enum Steps {
    /// Every step.
    All,
    /// Steps `a..=b`.
    Range(u64, u64),
    /// `n` steps drawn at random (from the clock: a challenger's choice cannot be
    /// predicted by the trainer).
    Sample(usize),
}

/// A step whose recomputation disagrees with the record.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StepCheck {
    /// The step (0: initialisation; for a checkpoint, the step it was taken after).
    pub step: u64,
    /// What differs: `hash`, `loss` or `checkpoint`.
    pub what: String,
    /// The recorded value.
    pub recorded: String,
    /// The recomputed value.
    pub recomputed: String,
}

/// What `verify` found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifyReport {
    /// Run id.
    pub run: String,
    /// The steps asked for.
    pub checked: Vec<u64>,
    /// Steps re-executed (including the way from checkpoints).
    pub reexecuted: u64,
    /// The first disagreement, if any.
    pub first_bad: Option<StepCheck>,
    /// Instruction-set class of this machine (equal to the record's).
    pub isa: String,
}

/// Refuses to judge a record from another instruction-set class.
pub fn check_isa(rec: &RunRecord) -> Result<()> {
    let here = crate::isa::class_for(rec.config.as_ref().map_or("cpu", |c| c.device.as_str()));
    if here != rec.isa {
        return Err(TrainError::IsaMismatch {
            recorded: rec.isa.clone(),
            here,
        });
    }
    Ok(())
}

/// Re-executes a stored run step by step from checkpoints, checking its chain.
pub(crate) struct Replayer<'a> {
    repo: &'a Repo,
    run: &'a StoredRun,
    session: Session,
    /// The state of the session is the recorded state after this step.
    at: Option<u64>,
    /// Steps re-executed.
    pub reexecuted: u64,
}

impl<'a> Replayer<'a> {
    pub(crate) fn new(repo: &'a Repo, run: &'a StoredRun) -> Result<Replayer<'a>> {
        let rec = &run.record;
        let cfg = rec.config.as_ref().ok_or_else(|| {
            TrainError::Record(format!(
                "run `{}` ran an external command; only built-in runs can be re-executed",
                run.id
            ))
        })?;
        check_isa(rec)?;
        let commit = repo.resolve(&rec.snapshot.commit)?;
        let snapshot = repo.snapshot_of(commit)?;
        let session = Session::new(repo, &snapshot, cfg)?;
        if let Some(info) = &rec.data
            && info.files != session.info.files
        {
            return Err(TrainError::Record(format!(
                "run `{}` read other files than the snapshot now gives",
                run.id
            )));
        }
        Ok(Replayer {
            repo,
            run,
            session,
            at: None,
            reexecuted: 0,
        })
    }

    fn recorded(&self, step: u64) -> Result<[u8; 32]> {
        let c = &self.run.record.chain;
        let h = c
            .get(step as usize)
            .ok_or_else(|| TrainError::Record(format!("the chain has no link for step {step}")))?;
        parse_hex32(h)
    }

    /// Brings the session to the recorded state after `step` from the nearest
    /// checkpoint at or before it (or from initialisation), checking every link on the
    /// way. Returns the first disagreement.
    pub(crate) fn reach(&mut self, step: u64) -> Result<Option<StepCheck>> {
        let ck = self
            .run
            .record
            .checkpoints
            .iter()
            .rev()
            .find(|c| c.step <= step)
            .cloned();
        let base = ck.as_ref().map_or(0, |c| c.step);
        if self.at.is_none_or(|a| a < base || a > step) {
            let (prev, state) = match &ck {
                Some(c) => {
                    let bytes = read_checkpoint(self.repo, self.run, &c.path)?;
                    let (s, state) = self.session.load(&bytes)?;
                    if s != c.step {
                        return Err(TrainError::Record(format!(
                            "{} holds step {s}, not {}",
                            c.path, c.step
                        )));
                    }
                    (self.recorded(c.step - 1)?, state)
                }
                None => {
                    self.session.reset()?;
                    ([0; 32], self.session.state_hash()?)
                }
            };
            let got = chain(&prev, &state);
            if got != self.recorded(base)? {
                return Ok(Some(StepCheck {
                    step: base,
                    what: if ck.is_some() { "checkpoint" } else { "hash" }.into(),
                    recorded: self.run.record.chain[base as usize].clone(),
                    recomputed: hex::encode(got),
                }));
            }
            self.at = Some(base);
        }
        while let Some(a) = self.at
            && a < step
        {
            if let Some(bad) = self.advance()? {
                return Ok(Some(bad));
            }
        }
        Ok(None)
    }

    /// Re-executes the step after the current one and compares its hash and loss.
    fn advance(&mut self) -> Result<Option<StepCheck>> {
        let a = self.at.expect("at a recorded state");
        let i = a + 1;
        let loss = self.session.step(i)?;
        self.reexecuted += 1;
        let got = chain(&self.recorded(a)?, &self.session.state_hash()?);
        if got != self.recorded(i)? {
            self.at = None;
            return Ok(Some(StepCheck {
                step: i,
                what: "hash".into(),
                recorded: self.run.record.chain[i as usize].clone(),
                recomputed: hex::encode(got),
            }));
        }
        let rec_loss = self.run.record.losses.get(i as usize - 1).copied();
        if rec_loss.map(f32::to_bits) != Some(loss.to_bits()) {
            self.at = None;
            return Ok(Some(StepCheck {
                step: i,
                what: "loss".into(),
                recorded: rec_loss.map_or("none".into(), |l| l.to_string()),
                recomputed: loss.to_string(),
            }));
        }
        self.at = Some(i);
        Ok(None)
    }

    /// Checks step `step`: re-executes it from the state after `step - 1`.
    pub(crate) fn check(&mut self, step: u64) -> Result<Option<StepCheck>> {
        if step == 0 {
            self.at = None;
            return self.reach(0);
        }
        if self.at != Some(step - 1)
            && let Some(bad) = self.reach(step - 1)?
        {
            return Ok(Some(bad));
        }
        self.advance()
    }
}

/// Re-executes the chosen steps of run `run` from the nearest checkpoints and compares
/// every hash on the way with the record; reports the first step that differs. A PyTorch
/// run re-runs its recorded script in the current folder
/// ([`crate::torch_run::verify_torch_run`]).
pub fn verify_run(repo: &Repo, run: &str, steps: &Steps) -> Result<VerifyReport> {
    let stored = read_run(repo, run)?;
    let n = stored.record.losses.len() as u64;
    if stored.record.chain.len() as u64 != n + 1 {
        return Err(TrainError::Record(format!(
            "run `{}` records {} losses but {} chain links",
            stored.id,
            n,
            stored.record.chain.len()
        )));
    }
    let mut targets: Vec<u64> = match *steps {
        Steps::All => (0..=n).collect(),
        Steps::Range(a, b) => {
            if a > b || b > n {
                return Err(TrainError::Config(format!(
                    "steps {a}..{b} are not within the run's 0..{n}"
                )));
            }
            (a..=b).collect()
        }
        Steps::Sample(k) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let mut all: Vec<u64> = (1..=n).collect();
            SplitMix64::new(nanos, stream::SAMPLE).shuffle(&mut all);
            all.truncate(k);
            all
        }
    };
    targets.sort_unstable();
    if stored.record.torch.is_some() {
        let cwd =
            std::env::current_dir().map_err(|e| TrainError::io("read the current folder", e))?;
        return crate::torch_run::verify_torch_run(repo, &stored, &targets, &cwd);
    }
    let mut r = Replayer::new(repo, &stored)?;
    let mut first_bad = None;
    for &t in &targets {
        if let Some(bad) = r.check(t)? {
            first_bad = Some(bad);
            break;
        }
    }
    Ok(VerifyReport {
        run: stored.id.clone(),
        checked: targets,
        reexecuted: r.reexecuted,
        first_bad,
        isa: stored.record.isa.clone(),
    })
}

/// What `bisect` found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BisectReport {
    /// First run.
    pub a: String,
    /// Second run.
    pub b: String,
    /// The first step whose recorded hashes differ (none: the records agree on every
    /// common step).
    pub first_divergent_step: Option<u64>,
    /// Recorded hashes compared (binary search over the chains).
    pub comparisons: u32,
    /// Whether re-executing that step here reproduces run A's hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a_reproduces: Option<bool>,
    /// Whether re-executing that step here reproduces run B's hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b_reproduces: Option<bool>,
    /// Steps re-executed to confirm.
    pub reexecuted: u64,
}

/// Finds the first step where two records diverge, by binary search over their hash
/// chains (a chain link commits to every step before it, so once two chains differ they
/// differ at every later step), then re-executes that one step from each record's
/// nearest checkpoint to say which record, if either, this machine reproduces
/// (`confirm`; skipped for external runs or another instruction-set class).
pub fn bisect_runs(repo: &Repo, a: &str, b: &str, confirm: bool) -> Result<BisectReport> {
    let ra = read_run(repo, a)?;
    let rb = read_run(repo, b)?;
    let (ca, cb) = (&ra.record.chain, &rb.record.chain);
    let common = ca.len().min(cb.len());
    let mut report = BisectReport {
        a: ra.id.clone(),
        b: rb.id.clone(),
        first_divergent_step: None,
        comparisons: 0,
        a_reproduces: None,
        b_reproduces: None,
        reexecuted: 0,
    };
    if common == 0 {
        return Ok(report);
    }
    report.comparisons += 1;
    if ca[common - 1] == cb[common - 1] {
        return Ok(report);
    }
    // Invariant: chains agree before `lo` (or lo = 0), differ at `hi`.
    let (mut lo, mut hi) = (0usize, common - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        report.comparisons += 1;
        if ca[mid] == cb[mid] {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let step = hi as u64;
    report.first_divergent_step = Some(step);
    if confirm && ra.record.config.is_some() && check_isa(&ra.record).is_ok() {
        let mut r = Replayer::new(repo, &ra)?;
        report.a_reproduces = Some(r.check(step)?.is_none());
        report.reexecuted += r.reexecuted;
    }
    if confirm && rb.record.config.is_some() && check_isa(&rb.record).is_ok() {
        let mut r = Replayer::new(repo, &rb)?;
        report.b_reproduces = Some(r.check(step)?.is_none());
        report.reexecuted += r.reexecuted;
    }
    Ok(report)
}
