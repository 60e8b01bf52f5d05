use std::path::Path;
use std::sync::Arc;

use colony_store::Access;
use colony_trainer_hook::data::DataSpec;
use colony_trainer_hook::{
    ExecOptions, ModelKind, ProvidedSnapshot, SnapshotProvider, StoreAccess, TrainOptions,
    TrainReport, VerifyMode,
};

use crate::{CliError, Ctx, output};

/// Train a model on a pinned revision, recording every step so anyone can check it.
///
/// Pins REV (checking that every byte of it is here and verified), then runs the built-in
/// trainer on it: `--model mlp` classifies the rows of the tables in the revision by their
/// numeric columns (`--label COL`, `--features A,B`), `--model charlm` is a small
/// byte-level transformer over its text files (`.txt`, `.md`) or over one text column of
/// its tables (`--features COL`). `--path GLOB` picks the files.
///
/// Training is bitwise deterministic on a CPU: weights come from a seeded generator, the
/// data order is a function of the seed and the step, and the optimiser (AdamW) state is
/// part of every checkpoint. After each step the parameters and optimiser state are
/// hashed into a chain (h_i = BLAKE3(h_{i-1} || BLAKE3(state_i))). The run record
/// (revision, snapshot root, config, seed, instruction-set class, losses, chain,
/// checkpoints every K steps, final weights hash) is stored as a commit on
/// `refs/runs/<id>`; `colony run show|verify|bisect` read it.
///
/// `--resume RUN[@STEP]` continues a recorded run from its checkpoint at STEP (default:
/// its last), to `--steps` if given; resuming an honest run reproduces it exactly.
///
/// `--exec "CMD ARGS..."` hands the revision to any external trainer instead: the command
/// runs with COLONY_SNAPSHOT_DIR (the revision, read-only), COLONY_SNAPSHOT_ROOT,
/// COLONY_DATASET and COLONY_COMMIT (the dataset's folder and the pinned commit, which
/// the Python package's `colony.from_env()` opens), COLONY_RUN_DIR (a folder for its
/// outputs) and COLONY_SEED set; the record names the
/// command, the BLAKE3 of every argument that is a file, the exit status and the files
/// written to COLONY_RUN_DIR (stored in the run). colony exits with the command's status.
/// Where FUSE is available COLONY_SNAPSHOT_DIR is a read-only mount of the revision (as
/// `colony mount` makes) for the life of the command, so nothing is copied and the
/// hand-off takes the same time whatever the dataset's size; `--materialize` copies the
/// revision into `.colony/run-work/` instead (also the fallback without FUSE, with a
/// note). `--verify lazy` (the default) checks every byte when the command reads it;
/// `--verify full` reads the whole revision back first and refuses to start on any
/// problem.
///
/// The command also always gets the revision over HTTP, from a gateway (as `colony serve
/// --http` runs) started on loopback for this run and serving the pinned commit only:
/// COLONY_SNAPSHOT_URL (`http://127.0.0.1:PORT/<commit>/`; append a path and read it with
/// any HTTP client, ranges included) and, for S3 clients, COLONY_S3_ENDPOINT,
/// COLONY_S3_BUCKET and COLONY_S3_PREFIX (`<commit>/`). Every byte is checked as it is read.
///
/// The dataset stays usable while a run trains: the store is taken only to pin and load
/// the revision and to store checkpoints and the record, so `status`, `log`, `commit` or
/// a `serve` go on meanwhile (the pin keeps the revision's data).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision to train on.
    #[arg(required_unless_present = "resume")]
    pub rev: Option<String>,
    /// Built-in model: `mlp` (table classifier) or `charlm` (byte-level transformer).
    #[arg(long, default_value = "mlp", value_parser = ["mlp", "charlm"])]
    pub model: String,
    /// Training steps [default: 100; with --resume: the recorded run's].
    #[arg(long)]
    pub steps: Option<u64>,
    /// Examples (rows or text windows) per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Seed of the initial weights and the data order (also COLONY_SEED for --exec).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Store a checkpoint every K steps (the last step always has one; 0: only that).
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub checkpoint_every: u64,
    /// `cpu`, or `cuda` (needs colony built with the `cuda` feature).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
    pub device: String,
    /// The class column (mlp).
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    /// Feature columns (mlp; default: every numeric column but the label), or the text
    /// column (charlm).
    #[arg(long, value_name = "COLS", value_delimiter = ',')]
    pub features: Vec<String>,
    /// Only files whose dataset path matches GLOB (`*` any characters, `?` one).
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    /// Read at most this many bytes of text (charlm).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_bytes: u64,
    /// Continue the recorded run RUN from its checkpoint at STEP (default: the last).
    #[arg(long, value_name = "RUN[@STEP]", conflicts_with_all = ["exec", "rev"])]
    pub resume: Option<String>,
    /// Run this external command on the revision instead of a built-in model.
    #[arg(long, value_name = "CMD ARGS...")]
    pub exec: Option<String>,
    /// With --exec: copy the revision into the run's folder instead of mounting it.
    #[arg(long, requires = "exec")]
    pub materialize: bool,
    /// With --exec: `lazy` checks each byte as the command reads it; `full` reads and
    /// checks the whole revision before the command starts.
    #[arg(long, value_name = "MODE", default_value = "lazy", value_parser = ["full", "lazy"])]
    pub verify: String,
    /// Do not hash, checkpoint or record (to measure what recording costs).
    #[arg(long)]
    pub no_record: bool,
}

fn render(ctx: &Ctx, r: &TrainReport) {
    if ctx.json {
        output::json(r);
    } else if !ctx.quiet {
        if r.run.is_empty() {
            println!(
                "trained {} steps (not recorded), final loss {:.4}",
                r.steps, r.final_loss
            );
        } else {
            println!(
                "run {}: {} steps, final loss {:.4}",
                r.run, r.steps, r.final_loss
            );
            println!("  record   {}", r.record_hash);
            println!("  weights  {}", r.final_weights);
            println!("  chain    {}", r.chain_root);
        }
        println!(
            "  {:.1} steps/s, first step after {:.2}s, recording {:.1}% of step time, isa {}",
            r.steps_per_s,
            r.first_step_s,
            r.record_overhead * 100.0,
            r.isa
        );
    }
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    // The store is taken for the short parts of a run only (pinning and loading the
    // snapshot, storing checkpoints and the record), so other commands go on meanwhile.
    let root = ctx.open(Access::Read)?.root().to_path_buf();
    let open = || ctx.open_in(&root, Access::Write);
    let repo = StoreAccess::Reopen(&open);
    if let Some(spec) = &args.resume {
        let (run, at) = match spec.split_once('@') {
            Some((r, s)) => (
                r,
                Some(s.parse::<u64>().map_err(|_| {
                    CliError::new(format!("`{s}` is not a step number")).hint("use RUN@STEP")
                })?),
            ),
            None => (spec.as_str(), None),
        };
        let r = colony_trainer_hook::train::resume(repo, run, at, args.steps)?;
        render(ctx, &r);
        return Ok(0);
    }
    let rev = args.rev.clone().expect("clap requires REV");
    if let Some(cmd) = &args.exec {
        let r = colony_trainer_hook::exec_run(
            repo,
            &ExecOptions {
                rev,
                command: cmd.clone(),
                seed: args.seed,
                cwd: ctx.cwd.clone(),
                verify: if args.verify == "full" {
                    VerifyMode::Full
                } else {
                    VerifyMode::Lazy
                },
                materialize: args.materialize,
                providers: vec![
                    Arc::new(MountProvider) as Arc<dyn SnapshotProvider>,
                    Arc::new(HttpProvider),
                ],
            },
        )?;
        for n in &r.notes {
            eprintln!("note: {n}");
        }
        if ctx.json {
            output::json(&r);
        } else if !ctx.quiet {
            println!(
                "run {}: `{}` exited with {}",
                r.run,
                r.exec.command.join(" "),
                r.exit_code.map_or("a signal".into(), |c| c.to_string())
            );
            for s in &r.exec.scripts {
                println!("  script   {} {}", s.hash, s.path);
            }
            for a in &r.exec.artifacts {
                println!("  artifact {} {}", a.hash, a.path);
            }
            println!("  record   {}", r.record_hash);
        }
        return Ok(r.exit_code.unwrap_or(1));
    }
    let opts = TrainOptions {
        rev,
        model: ModelKind::parse(&args.model).expect("clap checked"),
        steps: args.steps.unwrap_or(100),
        batch: args.batch,
        lr: args.lr,
        seed: args.seed,
        checkpoint_every: args.checkpoint_every,
        device: args.device,
        data: DataSpec {
            path: args.path,
            label: args.label,
            features: args.features,
            max_bytes: args.max_bytes,
        },
        record: !args.no_record,
    };
    let r = colony_trainer_hook::train(repo, &opts)?;
    render(ctx, &r);
    Ok(0)
}

/// Serves `--exec`'s COLONY_SNAPSHOT_DIR as a read-only mount (`colony mount`'s) at
/// `<run folder>/mount`, unmounted when the command has exited.
struct MountProvider;

impl SnapshotProvider for MountProvider {
    fn name(&self) -> &str {
        "mount"
    }

    fn serves_dir(&self) -> bool {
        true
    }

    fn provide(
        &self,
        dataset_root: &Path,
        commit: &str,
        work: &Path,
    ) -> Result<ProvidedSnapshot, String> {
        if let Some(why) = colony_mount::unavailable_reason() {
            return Err(format!("FUSE is not available ({why})"));
        }
        let dir = work.join("mount");
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mount = colony_mount::Mount::start(
            dataset_root,
            commit,
            &dir,
            colony_mount::MountOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        Ok(ProvidedSnapshot {
            env: vec![("COLONY_SNAPSHOT_DIR".into(), dir.into_os_string())],
            stop: Box::new(move || mount.detach().map_err(|e| e.to_string())),
        })
    }
}

/// Serves `--exec`'s COLONY_SNAPSHOT_URL: a gateway on loopback (`colony serve --http`'s)
/// that answers for the pinned commit only, stopped when the command has exited.
struct HttpProvider;

impl SnapshotProvider for HttpProvider {
    fn name(&self) -> &str {
        "http"
    }

    fn serves_dir(&self) -> bool {
        false
    }

    fn provide(
        &self,
        dataset_root: &Path,
        commit: &str,
        _work: &Path,
    ) -> Result<ProvidedSnapshot, String> {
        let gateway = colony_gateway::Gateway::start(
            dataset_root,
            colony_gateway::GatewayOptions {
                only_commit: Some(commit.to_string()),
                ..Default::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let url = gateway.url();
        let env = vec![
            (
                "COLONY_SNAPSHOT_URL".to_string(),
                format!("{url}/{commit}/").into(),
            ),
            ("COLONY_S3_ENDPOINT".to_string(), url.into()),
            ("COLONY_S3_BUCKET".to_string(), gateway.bucket().into()),
            ("COLONY_S3_PREFIX".to_string(), format!("{commit}/").into()),
        ];
        Ok(ProvidedSnapshot {
            env,
            stop: Box::new(move || {
                gateway.shutdown();
                Ok(())
            }),
        })
    }
}
