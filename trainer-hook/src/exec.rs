//! `colony train --exec`: hand a pinned snapshot to any external trainer and record what
//! it did.
//!
//! The snapshot is materialised read-only (files 0444/0555, folders 0555) into
//! `.colony/run-work/<n>/snapshot`, and the command runs in the current folder with
//! `COLONY_SNAPSHOT_DIR` (that folder), `COLONY_SNAPSHOT_ROOT` (the snapshot root, hex),
//! `COLONY_RUN_DIR` (an empty folder for its outputs) and `COLONY_SEED`. The record holds
//! the command, the BLAKE3 of every argument that names an existing file (the scripts),
//! the exit status, and every file the command wrote into `COLONY_RUN_DIR`, stored
//! content-addressed under `artifacts/` in the run's tree.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use colony_store::FileEntry;
use colony_store::snapshot::snapshot_root;

use crate::access::StoreAccess;
use crate::error::{Result, TrainError};
use crate::record::{FORMAT, RunRecord, SnapshotRef, store_bytes, write_record};

/// What to run.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Revision to hand over.
    pub rev: String,
    /// The command line (split like a shell: spaces separate, quotes group).
    pub command: String,
    /// Seed passed as `COLONY_SEED`.
    pub seed: u64,
    /// Folder the command runs in (and relative script paths are resolved against).
    pub cwd: PathBuf,
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

/// Pins `opts.rev`, materialises it read-only, runs the command, stores its artifacts
/// and the record. The command's failure is recorded, not an error. With
/// [`StoreAccess::Reopen`] the store is not held while the command runs.
pub fn exec_run<'a>(store: impl Into<StoreAccess<'a>>, opts: &ExecOptions) -> Result<ExecReport> {
    let store = store.into();
    let argv = split_command(&opts.command)?;
    let repo = store.take()?;
    let commit = repo.resolve(&opts.rev)?;
    repo.pin(&commit.to_string(), None)?;
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
    let snap_dir = work.join("snapshot");
    let out_dir = work.join("out");
    std::fs::create_dir_all(&snap_dir).map_err(io("create", &snap_dir))?;
    std::fs::create_dir_all(&out_dir).map_err(io("create", &out_dir))?;
    let mut repo = Some(repo);
    let result = (|| -> Result<ExecReport> {
        {
            let repo = repo.as_ref().expect("held until the command starts");
            let store = repo.chunks()?;
            for (path, e) in &snapshot {
                colony_store::worktree::materialize(&snap_dir, store, path, e)?;
            }
        }
        set_readonly(&snap_dir, true)?;
        // The pin keeps the snapshot; the materialised copy is the command's own.
        repo = None;
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&opts.cwd)
            .env("COLONY_SNAPSHOT_DIR", &snap_dir)
            .env("COLONY_SNAPSHOT_ROOT", &root)
            .env("COLONY_RUN_DIR", &out_dir)
            .env("COLONY_SEED", opts.seed.to_string())
            .status()
            .map_err(|e| TrainError::io(format!("run `{}`", argv[0]), e))?;
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
        };
        let (id, c) = write_record(&repo, &record, &files, None)?;
        Ok(ExecReport {
            run: id,
            commit: c.to_string(),
            record_hash: hex::encode(record.hash()),
            exit_code: status.code(),
            exec,
        })
    })();
    let _ = set_readonly(&work, false);
    let _ = std::fs::remove_dir_all(&work);
    result
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
