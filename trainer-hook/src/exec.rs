//! `colony train --exec`: hand a pinned snapshot to any external trainer and record what
//! it did.
//!
//! The command runs in the current folder with `COLONY_SNAPSHOT_DIR` (a read-only folder
//! holding the snapshot), `COLONY_SNAPSHOT_ROOT` (the snapshot root, hex), `COLONY_RUN_DIR`
//! (an empty folder for its outputs) and `COLONY_SEED`. How the snapshot folder is made is
//! up to the caller's [`SnapshotProvider`]s: a read-only mount served while the command
//! runs, say, so that nothing is copied and the hand-off does not grow with the dataset.
//! Without one (or with [`ExecOptions::materialize`]) the snapshot is materialised
//! read-only (files 0444/0555, folders 0555) into `.colony/run-work/<n>/snapshot`.
//! Providers may also add variables of their own (an HTTP gateway's
//! `COLONY_SNAPSHOT_URL`, for example).
//!
//! The record holds the command, the BLAKE3 of every argument that names an existing
//! file (the scripts), the exit status, and every file the command wrote into
//! `COLONY_RUN_DIR`, stored content-addressed under `artifacts/` in the run's tree. It
//! does not depend on how the snapshot was handed over.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use colony_store::FileEntry;
use colony_store::ops::refs::RefKind;
use colony_store::snapshot::snapshot_root;

use crate::access::StoreAccess;
use crate::error::{Result, TrainError};
use crate::record::{FORMAT, RunRecord, SnapshotRef, store_bytes, write_record};

/// How much of the revision is read and checked before the command starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// Every byte is read back and checked against its hash first (and the snapshot root
    /// recomputed); any problem stops the run before the command starts.
    Full,
    /// Nothing is read up front: every byte is checked when the command reads it (a
    /// damaged chunk fails that read), so the hand-off does not grow with the dataset.
    #[default]
    Lazy,
}

/// Serves a pinned snapshot to the command other than by copying it (a read-only
/// mount, an HTTP gateway, ...). Implemented by the caller, so this library names no
/// front end; each provider is asked once per run, after the store is released.
pub trait SnapshotProvider: Send + Sync {
    /// A short name for notes and reports ("mount", "http").
    fn name(&self) -> &str;
    /// Whether it serves `COLONY_SNAPSHOT_DIR` (then no copy is made when it succeeds).
    fn serves_dir(&self) -> bool;
    /// Starts serving commit `commit` of the dataset at `dataset_root`; `work` is this
    /// run's own empty scratch folder. An error is noted and the run goes on without it
    /// (falling back to a copy if nothing else serves the folder).
    fn provide(
        &self,
        dataset_root: &Path,
        commit: &str,
        work: &Path,
    ) -> std::result::Result<ProvidedSnapshot, String>;
}

/// A snapshot being served by a [`SnapshotProvider`] while the command runs.
pub struct ProvidedSnapshot {
    /// Variables for the command (`COLONY_SNAPSHOT_DIR` from a provider that
    /// [`serves_dir`](SnapshotProvider::serves_dir), others of its own).
    pub env: Vec<(String, OsString)>,
    /// Stops serving once the command has exited; an error is noted. Dropping it
    /// without calling must stop serving too.
    pub stop: Box<dyn FnOnce() -> std::result::Result<(), String>>,
}

/// What to run.
#[derive(Clone)]
pub struct ExecOptions {
    /// Revision to hand over.
    pub rev: String,
    /// The command line (split like a shell: spaces separate, quotes group).
    pub command: String,
    /// Seed passed as `COLONY_SEED`.
    pub seed: u64,
    /// Folder the command runs in (and relative script paths are resolved against).
    pub cwd: PathBuf,
    /// What is checked before the command starts.
    pub verify: VerifyMode,
    /// Copy the snapshot into the run's folder even where a provider could serve it.
    pub materialize: bool,
    /// Ways to serve the snapshot without copying it, tried in order.
    pub providers: Vec<Arc<dyn SnapshotProvider>>,
}

impl std::fmt::Debug for ExecOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecOptions")
            .field("rev", &self.rev)
            .field("command", &self.command)
            .field("seed", &self.seed)
            .field("cwd", &self.cwd)
            .field("verify", &self.verify)
            .field("materialize", &self.materialize)
            .field(
                "providers",
                &self.providers.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A file the command names.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScriptHash {
    /// The argument as given.
    pub path: String,
    /// BLAKE3 of the file.
    pub hash: String,
}

/// A file the command wrote.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Artifact {
    /// Path under `COLONY_RUN_DIR` (stored as `artifacts/<path>` in the run's tree).
    pub path: String,
    /// BLAKE3.
    pub hash: String,
    /// Bytes.
    pub size: u64,
}

/// The external run (recorded).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExecInfo {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Arguments (and the program) that are existing files, with their BLAKE3.
    pub scripts: Vec<ScriptHash>,
    /// Seed given.
    pub seed: u64,
    /// Exit code (none: killed by a signal).
    pub exit_code: Option<i32>,
    /// Files written into the run folder.
    pub artifacts: Vec<Artifact>,
}

/// What `--exec` did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExecReport {
    /// Run id.
    pub run: String,
    /// Record commit.
    pub commit: String,
    /// BLAKE3 of record.json.
    pub record_hash: String,
    /// Exit code of the command.
    pub exit_code: Option<i32>,
    /// The recorded command details.
    pub exec: ExecInfo,
    /// How `COLONY_SNAPSHOT_DIR` was made: a provider's name, or `copy`.
    pub snapshot_via: String,
    /// Seconds from the start until the command was started (the hand-off).
    pub handoff_s: f64,
    /// What did not go as asked (a provider that failed, the copy made instead).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Splits a command line: whitespace separates, single and double quotes group,
/// backslash escapes the next character.
pub fn split_command(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (q, '\\') if q != Some('\'') => {
                cur.extend(chars.next());
                has = true;
            }
            (None, c) if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (_, c) => {
                cur.push(c);
                has = true;
            }
        }
    }
    if quote.is_some() {
        return Err(TrainError::Config(format!("unclosed quote in `{s}`")));
    }
    if has {
        out.push(cur);
    }
    if out.is_empty() {
        return Err(TrainError::Config("--exec needs a command".into()));
    }
    Ok(out)
}

fn io(what: &str, p: &Path) -> impl FnOnce(std::io::Error) -> TrainError {
    let what = format!("{what} {}", p.display());
    move |e| TrainError::io(what, e)
}

/// Sets every file and folder under `dir` read-only (or back to writable).
fn set_readonly(dir: &Path, readonly: bool) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir).map_err(io("stat", dir))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let exec = meta.permissions().mode() & 0o111 != 0;
    if meta.is_dir() {
        if !readonly {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(io("chmod", dir))?;
        }
        for e in std::fs::read_dir(dir).map_err(io("read", dir))? {
            set_readonly(&e.map_err(io("read", dir))?.path(), readonly)?;
        }
    }
    let mode = match (meta.is_dir() || exec, readonly) {
        (true, true) => 0o555,
        (false, true) => 0o444,
        (true, false) => 0o755,
        (false, false) => 0o644,
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", dir))
}

/// Files under `dir`, as sorted relative paths.
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io("read", dir))?
        .collect::<std::result::Result<_, _>>()
        .map_err(io("read", dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let p = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let t = e.file_type().map_err(io("stat", &e.path()))?;
        if t.is_dir() {
            walk(&e.path(), &p, out)?;
        } else if t.is_file() {
            out.push((p, e.path()));
        }
    }
    Ok(())
}

/// Pins `opts.rev` (checked as [`ExecOptions::verify`] says), hands it to the command
/// (served by a provider, or materialised read-only), runs the command, stores its
/// artifacts and the record. The command's failure is recorded, not an error. With
/// [`StoreAccess::Reopen`] the store is not held while the command runs; with
/// [`StoreAccess::Held`] providers cannot open it and the snapshot is copied.
pub fn exec_run<'a>(store: impl Into<StoreAccess<'a>>, opts: &ExecOptions) -> Result<ExecReport> {
    let started = Instant::now();
    let store = store.into();
    let argv = split_command(&opts.command)?;
    let repo = store.take()?;
    let commit = repo.resolve(&opts.rev)?;
    pin(&repo, &commit.to_string(), opts.verify)?;
    let snapshot = repo.snapshot_of(commit)?;
    let root = snapshot_root(&snapshot).0.to_string();
    let scripts = argv
        .iter()
        .filter_map(|a| {
            let p = opts.cwd.join(a);
            p.is_file().then(|| {
                std::fs::read(&p)
                    .map(|b| ScriptHash {
                        path: a.clone(),
                        hash: blake3::hash(&b).to_string(),
                    })
                    .map_err(io("read", &p))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let work = repo
        .colony_dir()
        .join("run-work")
        .join(format!("{nanos}-{}", std::process::id()));
    let out_dir = work.join("out");
    std::fs::create_dir_all(&out_dir).map_err(io("create", &out_dir))?;
    let dataset_root = repo.root().to_path_buf();
    let held = matches!(store, StoreAccess::Held(_));
    let mut repo = Some(repo);
    let mut notes = Vec::new();
    let mut served: Vec<(String, ProvidedSnapshot)> = Vec::new();
    let result = (|| -> Result<ExecReport> {
        let mut env: Vec<(String, OsString)> = Vec::new();
        let mut via = None;
        for p in &opts.providers {
            if p.serves_dir() && (opts.materialize || via.is_some()) {
                continue;
            }
            if held {
                notes.push(format!(
                    "{}: not used, the caller holds the store for the whole run",
                    p.name()
                ));
                continue;
            }
            // A provider opens the store itself, so this run lets it go first.
            repo = None;
            match p.provide(&dataset_root, &commit.to_string(), &work) {
                Ok(s) => {
                    if p.serves_dir() {
                        via = Some(p.name().to_string());
                    }
                    env.extend(s.env.iter().cloned());
                    served.push((p.name().to_string(), s));
                }
                Err(why) => notes.push(format!("{}: {why}", p.name())),
            }
        }
        if via.is_none() {
            if !opts.materialize && opts.providers.iter().any(|p| p.serves_dir()) {
                notes.push("copying the snapshot into the run's folder instead".into());
            }
            let snap_dir = work.join("snapshot");
            std::fs::create_dir_all(&snap_dir).map_err(io("create", &snap_dir))?;
            let taken;
            let repo = match &repo {
                Some(r) => r,
                None => {
                    taken = store.take()?;
                    &taken
                }
            };
            let chunks = repo.chunks()?;
            for (path, e) in &snapshot {
                colony_store::worktree::materialize(&snap_dir, chunks, path, e)?;
            }
            set_readonly(&snap_dir, true)?;
            env.push(("COLONY_SNAPSHOT_DIR".into(), snap_dir.into_os_string()));
        }
        // The pin keeps the snapshot; the store is free while the command runs.
        repo = None;
        let handoff_s = started.elapsed().as_secs_f64();
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&opts.cwd)
            .envs(env)
            // What `colony.from_env()` opens in Python: the dataset and the pinned commit.
            .env("COLONY_DATASET", &dataset_root)
            .env("COLONY_COMMIT", commit.to_string())
            .env("COLONY_SNAPSHOT_ROOT", &root)
            .env("COLONY_RUN_DIR", &out_dir)
            .env("COLONY_SEED", opts.seed.to_string())
            .status()
            .map_err(|e| TrainError::io(format!("run `{}`", argv[0]), e))?;
        for (name, s) in served.drain(..) {
            if let Err(why) = (s.stop)() {
                notes.push(format!("{name}: {why}"));
            }
        }
        let repo = store.take()?;
        let mut files: BTreeMap<String, FileEntry> = BTreeMap::new();
        let mut artifacts = Vec::new();
        let mut found = Vec::new();
        walk(&out_dir, "", &mut found)?;
        for (rel, full) in found {
            let bytes = std::fs::read(&full).map_err(io("read", &full))?;
            let e = store_bytes(&repo, &bytes)?;
            artifacts.push(Artifact {
                path: rel.clone(),
                hash: e.hash.to_string(),
                size: e.size,
            });
            files.insert(format!("artifacts/{rel}"), e);
        }
        let exec = ExecInfo {
            command: argv.clone(),
            scripts: scripts.clone(),
            seed: opts.seed,
            exit_code: status.code(),
            artifacts,
        };
        let record = RunRecord {
            format: FORMAT.into(),
            kind: "exec".into(),
            snapshot: SnapshotRef {
                commit: commit.to_string(),
                root: root.clone(),
            },
            trainer: crate::train::trainer_id(),
            isa: crate::isa::cpu_class(),
            config: None,
            data: None,
            losses: Vec::new(),
            chain: Vec::new(),
            checkpoints: Vec::new(),
            final_weights: None,
            exec: Some(exec.clone()),
            torch: None,
        };
        let (id, c) = write_record(&repo, &record, &files, None)?;
        Ok(ExecReport {
            run: id,
            commit: c.to_string(),
            record_hash: hex::encode(record.hash()),
            exit_code: status.code(),
            exec,
            snapshot_via: via.unwrap_or_else(|| "copy".into()),
            handoff_s,
            notes: Vec::new(),
        })
    })();
    // Whatever happened, stop serving before the run's folder (holding any mount point)
    // is removed.
    drop(served);
    let _ = set_readonly(&work, false);
    let _ = std::fs::remove_dir_all(&work);
    result.map(|mut r| {
        r.notes = notes;
        r
    })
}

/// Pins `commit` so that `gc` keeps it for the run; [`VerifyMode::Full`] first reads every
/// byte back and refuses a revision with any problem.
fn pin(repo: &colony_store::Repo, commit: &str, verify: VerifyMode) -> Result<()> {
    if verify == VerifyMode::Full {
        let report = repo.verify(Some(commit))?;
        let root_differs = report
            .recorded_root
            .is_some_and(|r| r != report.computed_root);
        if !report.problems.is_empty() || root_differs {
            let why = if report.problems.is_empty() {
                "its snapshot root differs from the one its commit records".to_string()
            } else {
                report.problems.join("; ")
            };
            return Err(TrainError::Data(format!(
                "revision {commit} failed verification, the command was not started: {why}"
            )));
        }
    }
    repo.create_ref(RefKind::Pin, commit, Some(commit), true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_command;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_command(r#"python3 "my script.py" --x 'a b' c\ d"#).unwrap(),
            vec!["python3", "my script.py", "--x", "a b", "c d"]
        );
        assert!(split_command("  ").is_err());
        assert!(split_command("a 'b").is_err());
    }
}
