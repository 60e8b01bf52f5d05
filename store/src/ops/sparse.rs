//! Sparse work trees: a dataset whose work tree holds only the paths matching some
//! globs, as `colony clone --paths GLOB` leaves it.
//!
//! The patterns live in `.colony/sparse`, one per line. While that file exists:
//!
//! - checkout, switch and `reset --hard` write only the matching paths; a tracked file
//!   outside the patterns is left out of the work tree (removed if an earlier checkout
//!   wrote it and it has no uncommitted edits);
//! - `status`, `add` and `commit -a` take a tracked path outside the patterns that is
//!   absent from the work tree as unchanged, never as removed, so the next commit still
//!   records every file of the snapshot;
//! - `checkout REV -- PATH` of a path outside the patterns writes it and adds PATH to the
//!   patterns.
//!
//! A sparse clone also holds only the shards the matching files need. Reading a file
//! outside them through a [`crate::snapshot::SnapshotReader`] (`cat`, and the front ends
//! built on it) reads through: the file's shards are fetched from the dataset's remotes,
//! verified and kept ([`crate::snapshot::readthrough`]). Other commands (checkout of more
//! paths, `verify`) fail with [`StoreError::Missing`], which [`Repo::explain_missing`]
//! turns into a hint: `colony fetch origin` brings the other shards. The clone also lacks the shards of older
//! versions of the matching files. `fsck` reports all those missing chunks as one
//! warning; a missing chunk is an error there only when the checked-out snapshot (HEAD
//! or the index) needs it for a file inside the patterns.

use crate::error::{Result, StoreError};
use crate::repo::Repo;
pub use crate::snapshot::glob::{Glob, glob_matches};
pub use crate::snapshot::shards::{abandoned, shards_of, snapshot_files, snapshot_shards};

/// The file under `.colony/` that holds the patterns.
pub const SPARSE_FILE: &str = "sparse";

/// The globs a sparse work tree holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sparse {
    /// The patterns (see [`Glob`]).
    pub patterns: Vec<String>,
}

impl Sparse {
    /// Whether `path` is inside the sparse work tree.
    pub fn contains(&self, path: &str) -> bool {
        self.patterns.iter().any(|g| glob_matches(g, path))
    }
}

impl Repo {
    /// The sparse patterns, or `None` when the whole snapshot is checked out.
    pub fn sparse(&self) -> Result<Option<Sparse>> {
        let path = self.colony_dir().join(SPARSE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(Sparse {
                patterns: text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(format!("read {}", path.display()), e)),
        }
    }

    /// Records the sparse patterns (`None`: the whole snapshot). Only the record: the
    /// work tree follows at the next checkout.
    pub fn set_sparse(&self, patterns: Option<&[String]>) -> Result<()> {
        let path = self.colony_dir().join(SPARSE_FILE);
        match patterns {
            Some(p) => {
                let mut text = p.join("\n");
                text.push('\n');
                crate::durable::write_atomic(&path, text.as_bytes())
            }
            None => match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StoreError::io(format!("remove {}", path.display()), e)),
            },
        }
    }

    /// In a sparse dataset, turns a [`StoreError::Missing`] into a refusal that says
    /// why the data is not here and what brings it; other errors pass unchanged.
    pub fn explain_missing(&self, e: StoreError) -> StoreError {
        let missing = match &e {
            StoreError::Missing { .. } => true,
            StoreError::AtPath { source, .. } => matches!(**source, StoreError::Missing { .. }),
            _ => false,
        };
        let Ok(Some(sparse)) = self.sparse() else {
            return e;
        };
        if !missing {
            return e;
        }
        let remote = self
            .remotes()
            .first()
            .map_or_else(|| "REMOTE".to_string(), |r| r.name.clone());
        StoreError::Refused(format!(
            "{e}: this is a sparse clone that holds only the shards of `{}`; run `colony fetch {remote}` to bring the rest, then try again",
            sparse.patterns.join("`, `")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{Glob, Sparse, shards_of, snapshot_files};
    use crate::repo::{InitOptions, Repo};

    /// The work of listing a snapshot's shards for a peer stops between files once the
    /// asker is gone, in both halves (history, then the chunk index).
    #[test]
    fn listing_a_snapshot_stops_when_the_asker_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path(), &InitOptions::default()).unwrap();
        std::fs::write(dir.path().join("a.bin"), vec![7u8; 100_000]).unwrap();
        std::fs::write(dir.path().join("b.txt"), b"b").unwrap();
        repo.add(&[String::new()]).unwrap();
        let c = repo.commit("t", false).unwrap().commit;
        let c = gix::ObjectId::from_hex(c.as_bytes()).unwrap();
        let glob = Glob::new("a*");
        assert_eq!(
            snapshot_files(&repo, c, Some(&glob), &|| false)
                .unwrap()
                .len(),
            1
        );
        let e = snapshot_files(&repo, c, None, &|| true).unwrap_err();
        assert!(e.to_string().contains("abandoned"), "{e}");
        let files = snapshot_files(&repo, c, None, &|| false).unwrap();
        assert_eq!(files.len(), 2);
        assert!(shards_of(&repo, &files, &|| true).is_err());
        assert_eq!(shards_of(&repo, &files, &|| false).unwrap().len(), 1);
    }

    #[test]
    fn any_pattern_counts() {
        let s = Sparse {
            patterns: vec!["a/*.bin".into(), "notes".into()],
        };
        assert!(s.contains("a/x.bin") && s.contains("notes/r.txt"));
        assert!(!s.contains("b/x.bin"));
    }
}
