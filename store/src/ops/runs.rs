//! Run records travel with the data they were trained on.
//!
//! The trainer stores each run as a commit on `refs/runs/<name>` whose first parent is the
//! snapshot commit it trained on and whose tree holds the record and its checkpoints (as
//! chunked data in shards, like dataset files). A push of a commit carries every run
//! trained on that commit or one of its ancestors ([`Repo::runs_reached_by`]); a fetch
//! (and so a clone) brings every run the remote lists. Run names are the start of the
//! BLAKE3 of the record ([`run_id`]), so a run already present under the same name holds
//! the same record: it is left as it is, never overwritten.
//!
//! That only holds if names are checked: a remote could publish `refs/runs/<someone's
//! id>` pointing at a forged record, and the honest run would then be skipped as "same
//! name". So every path that adopts a run (fetch from a folder, S3 or peer remote, and a
//! push received by a folder or a peer) goes through [`adopt_runs`], which refuses, with
//! [`StoreError::ForgedRun`] and before any ref moves, a run whose name is not the id of
//! its `record.json` ([`check_run`]); readers of runs check the same.

use gix::ObjectId;

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::history::History;
use crate::remote::PushReport;
use crate::repo::Repo;

pub use crate::history::RUNS_PREFIX;

/// What a push did with run records.
#[derive(Debug, Default, serde::Serialize)]
pub struct RunsPushed {
    /// Runs the push carries: those trained on the pushed commit or its ancestors.
    pub runs: usize,
    /// Of those, runs the remote did not have and now has.
    pub runs_new: usize,
    /// Set when the remote's kind cannot hold run records: they stayed here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_not_carried: Option<String>,
}

/// What `push` did: the branch, then the runs on it.
#[derive(Debug, serde::Serialize)]
pub struct BranchPush {
    /// The branch.
    #[serde(flatten)]
    pub push: PushReport,
    /// The run records.
    #[serde(flatten)]
    pub runs: RunsPushed,
}

/// The file holding the record in a run's tree.
pub const RECORD_FILE: &str = "record.json";

/// How many hex digits of the record hash make a run id.
pub const RUN_ID_HEX: usize = 16;

/// The id of the run whose `record.json` hashes (BLAKE3 of its bytes) to `record_hash`:
/// the first [`RUN_ID_HEX`] hex digits. The one definition every writer and checker uses.
pub fn run_id(record_hash: &Hash) -> String {
    record_hash.to_string()[..RUN_ID_HEX].to_string()
}

/// Checks that the run named `name`, whose commit is `commit` in `h`, is the run its name
/// says: the commit's tree holds a regular `record.json` whose hash, as its pointer
/// records it, has [`run_id`] `name`. Returns that hash.
///
/// The pointer's hash is what binds the bytes: reading the record verifies its bytes
/// against it ([`crate::content::write_content`]), so a record that passes here and
/// reads back is the named one. This needs only the history (the bytes may not be here
/// yet, as in a sparse clone). A run that fails is refused with
/// [`StoreError::ForgedRun`] naming it.
pub fn check_run(h: &History, name: &str, commit: ObjectId) -> Result<Hash> {
    let forged = |why: String| StoreError::ForgedRun {
        run: name.to_string(),
        why,
    };
    let snap = h.read_snapshot(commit)?;
    let e = snap
        .files
        .get(RECORD_FILE)
        .ok_or_else(|| forged(format!("its commit {commit} has no {RECORD_FILE}")))?;
    if e.mode != crate::snapshot::Mode::File {
        return Err(forged(format!("its {RECORD_FILE} is not a regular file")));
    }
    let id = run_id(&e.hash);
    if id != name {
        return Err(forged(format!(
            "its {RECORD_FILE} (commit {commit}) hashes to {}, whose id is {id}",
            e.hash
        )));
    }
    Ok(e.hash)
}

/// The run refs of `h`, by name.
pub fn list_runs(h: &History) -> Result<Vec<(String, ObjectId)>> {
    h.list_refs(RUNS_PREFIX)
}

/// Points `refs/runs/<name>` of `into` at each run of `runs` it lacks (their objects must
/// already be there and durable); names present already are left alone (same name, same
/// record), unless the run kept here fails [`check_run`] (adopted before names were
/// checked) and the new one passes. Returns how many refs were set.
///
/// Every run is checked with [`check_run`] before any ref moves: one forged run refuses
/// them all with [`StoreError::ForgedRun`], so a source that lies is not half-trusted.
/// This is the one gate through which fetches (folder, S3, peer) and received pushes
/// (folder, peer) adopt runs.
pub fn adopt_runs(into: &History, runs: &[(String, ObjectId)]) -> Result<usize> {
    for (name, commit) in runs {
        crate::history::validate_ref_name(&format!("{RUNS_PREFIX}{name}"))?;
        check_run(into, name, *commit)?;
    }
    let mut n = 0;
    for (name, commit) in runs {
        let full = format!("{RUNS_PREFIX}{name}");
        let replace = match into.ref_target(&full)? {
            None => true,
            Some(old) => old != *commit && check_run(into, name, old).is_err(),
        };
        if replace {
            into.set_ref(&full, *commit)?;
            n += 1;
        }
    }
    Ok(n)
}

impl Repo {
    /// The runs trained on `commit` or one of its ancestors: the run refs whose commit's
    /// first parent (the snapshot trained on) `commit` reaches.
    pub fn runs_reached_by(&self, commit: ObjectId) -> Result<Vec<(String, ObjectId)>> {
        let h = self.history();
        let mut out = Vec::new();
        for (name, run) in list_runs(h)? {
            let info = h.commit_info(run)?;
            let Some(parent) = info.parents.first() else {
                continue;
            };
            let parent = ObjectId::from_hex(parent.as_bytes()).map_err(|_| {
                StoreError::MalformedHistory {
                    object: run.to_string(),
                    why: format!("parent `{parent}` is not an object id"),
                }
            })?;
            if parent == commit || h.merge_base(parent, commit)? == Some(parent) {
                out.push((name, run));
            }
        }
        Ok(out)
    }

    /// Pushes local branch `branch` (default: the current one) to remote `name`, then the
    /// run records trained on its commit or an ancestor ([`Repo::runs_reached_by`]),
    /// where the remote's kind can hold them.
    pub fn push(&self, name: &str, branch: Option<&str>, force: bool) -> Result<BranchPush> {
        let remote = self.open_remote(name)?;
        let (push, commit) = self.push_branch(remote.as_ref(), name, branch, force)?;
        let carried = self.runs_reached_by(commit)?;
        // Never pass on a run that is not what its name says (a bucket has no receiver
        // of its own to refuse it).
        for (run, c) in &carried {
            check_run(self.history(), run, *c)?;
        }
        let mut runs = RunsPushed {
            runs: carried.len(),
            ..Default::default()
        };
        if !carried.is_empty() {
            let pushed = match remote.local_dataset() {
                Some(path) => Some(push_runs_to_dataset(name, path?, self, &carried)?),
                None => remote.push_runs(self, &carried)?,
            };
            match pushed {
                Some(n) => runs.runs_new = n,
                None => {
                    runs.runs_not_carried = Some(format!(
                        "remote `{name}` is of a kind that does not hold run records"
                    ))
                }
            }
        }
        Ok(BranchPush { push, runs })
    }
}

/// Sends `runs` from `local` to the dataset at `path` (remote `name`): what they need, as
/// any push into a dataset brings it ([`crate::ops::push::receive_push`]: shards first,
/// checkpoints live in shards, then the history objects, synced), and only then the run
/// refs ([`adopt_runs`]). Returns how many runs were new there.
pub fn push_runs_to_dataset(
    name: &str,
    path: &std::path::Path,
    local: &Repo,
    runs: &[(String, ObjectId)],
) -> Result<usize> {
    let target = crate::ops::push::open_push_target(name, path, local)?;
    let tips: Vec<ObjectId> = runs.iter().map(|(_, c)| *c).collect();
    crate::ops::push::receive_push(&target, local, &tips)?;
    adopt_runs(target.history(), runs)
}
