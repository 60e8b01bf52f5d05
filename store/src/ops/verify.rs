//! `verify`: recompute a revision's snapshot root from the stored bytes.

use rayon::prelude::*;

use crate::Hash;
use crate::content::write_content;
use crate::error::Result;
use crate::repo::Repo;
use crate::snapshot::snapshot_root;

/// The outcome of `verify`.
#[derive(Debug, serde::Serialize)]
pub struct VerifyReport {
    /// The commit verified.
    pub commit: String,
    /// The root the commit records.
    pub recorded_root: Option<Hash>,
    /// The root recomputed from the bytes.
    pub computed_root: Hash,
    /// Files read.
    pub files: usize,
    /// Bytes read and hashed.
    pub bytes: u64,
    /// Every file whose bytes could not be read back or do not match.
    pub problems: Vec<String>,
    /// True only when every byte checked and the roots are equal.
    pub ok: bool,
}

impl Repo {
    /// Reads every byte of `rev` (default HEAD) back from the shards, checks each chunk and
    /// file hash, recomputes the snapshot root and compares it with the recorded one.
    pub fn verify(&self, rev: Option<&str>) -> Result<VerifyReport> {
        let id = self.resolve(rev.unwrap_or("HEAD"))?;
        let info = self.history().commit_info(id)?;
        let snap = self.snapshot_of(id)?;
        let store = self.chunks()?;
        let total: u64 = snap.values().map(|e| e.size).sum();
        let progress = self.progress();
        progress.begin("verifying", Some(total));
        let mut problems: Vec<String> = snap
            .par_iter()
            .filter_map(|(p, e)| {
                let mut sink = std::io::sink();
                let r = write_content(store, p, e, &mut sink);
                progress.advance(e.size);
                r.err().map(|err| err.to_string())
            })
            .collect();
        progress.end();
        problems.sort();
        if !problems.is_empty()
            && let Some(sparse) = self.sparse()?
            && snap.keys().any(|p| !sparse.contains(p))
        {
            problems.push(format!(
                "this is a sparse clone of `{}`: the files outside it have no shards here until `colony fetch REMOTE` brings them",
                sparse.patterns.join("`, `")
            ));
        }
        // Every file's bytes hash to its pointer, so the root over the pointers is the
        // root over the bytes.
        let computed = snapshot_root(&snap).0;
        let ok = problems.is_empty() && info.root == Some(computed);
        Ok(VerifyReport {
            commit: id.to_string(),
            recorded_root: info.root,
            computed_root: computed,
            files: snap.len(),
            bytes: total,
            problems,
            ok,
        })
    }
}
