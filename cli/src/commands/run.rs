use colony_store::Access;
use colony_trainer_hook::record::{list_runs, read_run, summary};
use colony_trainer_hook::{Steps, bisect_runs, verify_run};

use crate::{CliError, Ctx, output};

/// Inspect, check and claim training runs recorded by `colony train`.
///
/// Runs are stored as commits on `refs/runs/<id>` (the id is the start of the BLAKE3 of
/// the run's record.json); their checkpoints are content-addressed data kept by `gc`.
/// Without a subcommand, lists them. `claim`, `challenge`, `finalize` and `resolve` act
/// on the dataset's TrainingMarket contract (see `colony bounty`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// What to do with runs.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the recorded runs.
    List,
    /// Show a run: its revision, config, data, losses, hash chain and checkpoints.
    ///
    /// Text output summarises; `--json` prints the whole record plus its id, commit and
    /// record hash.
    Show {
        /// Run id (or a unique prefix).
        run: String,
    },
    /// Re-execute recorded steps and compare every hash with the record.
    ///
    /// Each checked step is recomputed from the nearest checkpoint at or before it (or
    /// from the seeded initialisation), and every link of the hash chain and every loss on
    /// the way is compared. Exits 0 when all agree; otherwise exits 3 naming the first
    /// step whose hash (or loss, or checkpoint) differs. A run recorded on another
    /// instruction-set class (e.g. with vs. without AVX2+FMA) is refused, since
    /// floating-point results legitimately differ between classes. Without options,
    /// every step is checked.
    Verify {
        /// Run id (or a unique prefix).
        run: String,
        /// Check steps A through B (inclusive; 0 is the initialisation).
        #[arg(long, value_name = "A..B", conflicts_with = "sample")]
        steps: Option<String>,
        /// Check N steps drawn at random (each from its nearest checkpoint).
        #[arg(long, value_name = "N")]
        sample: Option<usize>,
    },
    /// Find the first step where two runs diverge.
    ///
    /// Compares the two recorded hash chains by binary search (a link commits to every
    /// step before it, so once chains differ they differ for good): O(log steps)
    /// comparisons. Then re-executes that one step from each run's nearest checkpoint to
    /// tell which run this machine reproduces (skipped with --no-confirm, for external
    /// runs, or for runs from another instruction-set class). Exits 0 if the runs agree
    /// on every common step, 3 if they diverge.
    Bisect {
        /// First run.
        run_a: String,
        /// Second run.
        run_b: String,
        /// Only compare the records; re-execute nothing.
        #[arg(long)]
        no_confirm: bool,
    },
    /// On-chain claims on bounties.
    #[command(flatten)]
    Market(super::market::MarketRunCommand),
}

fn parse_range(s: &str) -> Result<Steps, CliError> {
    let bad = || CliError::new(format!("`{s}` is not a step range")).hint("use A..B, e.g. 10..20");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    Ok(Steps::Range(
        a.parse().map_err(|_| bad())?,
        b.trim_start_matches('=').parse().map_err(|_| bad())?,
    ))
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let action = args.action.unwrap_or(Action::List);
    if let Action::Market(cmd) = action {
        return super::market::run_market(ctx, cmd);
    }
    let repo = ctx.open(Access::Read)?;
    match action {
        Action::Market(_) => unreachable!("handled above"),
        Action::List => {
            let runs = list_runs(&repo)?;
            if ctx.json {
                output::json(&runs);
            } else {
                for r in runs {
                    if let Some(why) = &r.refused {
                        println!("{}  REFUSED: {why}", r.id);
                        continue;
                    }
                    println!(
                        "{}  {:<7} {:<24} {:>6} steps  loss {:<10} on {}",
                        r.id,
                        r.kind,
                        r.what,
                        r.steps,
                        r.final_loss.map_or("-".into(), |l| format!("{l:.4}")),
                        output::short(&r.snapshot)
                    );
                }
            }
        }
        Action::Show { run } => {
            let r = read_run(&repo, &run)?;
            if ctx.json {
                output::json(&serde_json::json!({
                    "id": r.id,
                    "commit": r.commit.to_string(),
                    "record_hash": r.record_hash.to_string(),
                    "record": r.record,
                }));
            } else {
                let s = summary(&r);
                let rec = &r.record;
                println!("run {} ({})", s.id, s.kind);
                println!("record     {}", s.record_hash);
                println!("commit     {}", s.commit);
                println!(
                    "snapshot   {} root {}",
                    rec.snapshot.commit, rec.snapshot.root
                );
                println!(
                    "trainer    {} {} ({})",
                    rec.trainer.name, rec.trainer.version, rec.trainer.backend
                );
                println!("isa        {}", rec.isa);
                if let Some(c) = &rec.config {
                    println!(
                        "config     {} steps {} batch {} lr {} seed {} checkpoint every {} on {}",
                        c.model.name(),
                        c.steps,
                        c.batch,
                        c.adamw.lr,
                        c.seed,
                        c.checkpoint_every,
                        c.device
                    );
                }
                if let Some(d) = &rec.data {
                    println!(
                        "data       {} files, {} examples",
                        d.files.len(),
                        d.examples
                    );
                }
                if let Some(e) = &rec.exec {
                    println!("command    {}", e.command.join(" "));
                    for sc in &e.scripts {
                        println!("script     {} {}", sc.hash, sc.path);
                    }
                    println!(
                        "exit       {}",
                        e.exit_code.map_or("signal".into(), |c| c.to_string())
                    );
                    for a in &e.artifacts {
                        println!(
                            "artifact   {} {} ({})",
                            a.hash,
                            a.path,
                            output::bytes(a.size)
                        );
                    }
                }
                if let (Some(first), Some(last)) = (rec.losses.first(), rec.losses.last()) {
                    println!(
                        "loss       {first:.4} → {last:.4} over {} steps",
                        rec.losses.len()
                    );
                }
                if let Some(w) = &rec.final_weights {
                    println!("weights    {w}");
                }
                if let Some(h) = rec.chain.last() {
                    println!("chain      {h}");
                }
                let cks: Vec<String> = rec.checkpoints.iter().map(|c| c.step.to_string()).collect();
                if !cks.is_empty() {
                    println!("checkpoints at steps {}", cks.join(", "));
                }
            }
        }
        Action::Verify { run, steps, sample } => {
            let which = match (steps, sample) {
                (Some(s), _) => parse_range(&s)?,
                (None, Some(n)) => Steps::Sample(n),
                (None, None) => Steps::All,
            };
            let r = verify_run(&repo, &run, &which)?;
            if ctx.json {
                output::json(&r);
            } else if let Some(bad) = &r.first_bad {
                eprintln!(
                    "run {}: step {} differs ({}): recorded {}, recomputed {}",
                    r.run, bad.step, bad.what, bad.recorded, bad.recomputed
                );
            } else if !ctx.quiet {
                println!(
                    "run {}: {} steps checked, {} re-executed, all hashes match (isa {})",
                    r.run,
                    r.checked.len(),
                    r.reexecuted,
                    r.isa
                );
            }
            return Ok(if r.first_bad.is_some() { 3 } else { 0 });
        }
        Action::Bisect {
            run_a,
            run_b,
            no_confirm,
        } => {
            let r = bisect_runs(&repo, &run_a, &run_b, !no_confirm)?;
            let yes = |b: Option<bool>| match b {
                Some(true) => "reproduced here",
                Some(false) => "NOT reproduced here",
                None => "not re-executed",
            };
            if ctx.json {
                output::json(&r);
            } else if let Some(step) = r.first_divergent_step {
                println!(
                    "first divergent step: {step} ({} hash comparisons, {} steps re-executed)",
                    r.comparisons, r.reexecuted
                );
                println!("  {}: {}", r.a, yes(r.a_reproduces));
                println!("  {}: {}", r.b, yes(r.b_reproduces));
            } else if !ctx.quiet {
                println!("runs {} and {} agree on every common step", r.a, r.b);
            }
            return Ok(if r.first_divergent_step.is_some() {
                3
            } else {
                0
            });
        }
    }
    Ok(0)
}
