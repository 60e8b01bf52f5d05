//! Naming a revision the same way everywhere: branch, tag, pin, commit id (or anything
//! git's rev-parse takes, like `HEAD~2`), or a snapshot root that a commit records.

use gix::ObjectId;

use super::snapshot_root;
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::history::{History, validate_ref_name};

/// Ref folders whose commits are searched for a snapshot root.
const SEARCHED: [&str; 5] = [
    "refs/heads/",
    "refs/tags/",
    "refs/pins/",
    "refs/remotes/",
    "refs/runs/",
];

/// Resolves `rev` to a commit.
///
/// In order: a 64-hex snapshot root (no git commit id has 64 digits) names the newest
/// commit reachable from any ref or HEAD that records it and whose tree really hashes to
/// it (commits with one root hold identical content, so which one does not matter);
/// then whatever git's rev-parse resolves (branches, tags, commit ids and prefixes,
/// `HEAD~N`); then a pin name (`refs/pins/NAME`).
pub fn resolve_revision(history: &History, rev: &str) -> Result<ObjectId> {
    if rev.len() == 64
        && let Ok(root) = rev.parse::<Hash>()
    {
        // A ref may (oddly) be named with 64 hex digits.
        return find_by_root(history, &root).or_else(|e| history.resolve(rev).map_err(|_| e));
    }
    match history.resolve(rev) {
        Ok(id) => Ok(id),
        Err(e) => {
            let pin = format!("refs/pins/{rev}");
            if validate_ref_name(&pin).is_ok()
                && let Ok(Some(id)) = history.ref_target(&pin)
            {
                return Ok(id);
            }
            Err(e)
        }
    }
}

/// The commit recording snapshot root `root`, verified against its tree.
pub fn find_by_root(history: &History, root: &Hash) -> Result<ObjectId> {
    let mut tips = Vec::new();
    for prefix in SEARCHED {
        tips.extend(history.list_refs(prefix)?.into_iter().map(|(_, id)| id));
    }
    tips.extend(history.head()?.commit());
    let mut mismatch = None;
    for id in history.walk(&tips)? {
        if history.commit_info(id)?.root != Some(*root) {
            continue;
        }
        let snap = history.read_snapshot(id)?;
        let actual = snapshot_root(&snap.files).0;
        if snap.hostile.is_empty() && actual == *root {
            return Ok(id);
        }
        mismatch.get_or_insert((id, actual));
    }
    Err(StoreError::UnknownRevision {
        rev: root.to_string(),
        why: match mismatch {
            Some((id, actual)) => format!(
                "commit {id} records this snapshot root, but its tree hashes to {actual} \
                 (or holds refused paths); no commit that really has it is reachable"
            ),
            None => "no commit reachable from the dataset's refs records this snapshot root".into(),
        },
    })
}
