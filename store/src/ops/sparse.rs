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
//! outside them (checkout of more paths, `verify`, `cat`) fails with
//! [`StoreError::Missing`], which [`Repo::explain_missing`] turns into a hint: `colony
//! fetch origin` brings the other shards. The clone also lacks the shards of older
//! versions of the matching files. `fsck` reports all those missing chunks as one
//! warning; a missing chunk is an error there only when the checked-out snapshot (HEAD
//! or the index) needs it for a file inside the patterns.

use std::collections::BTreeMap;
use std::collections::HashSet;

use gix::ObjectId;

use crate::Hash;
use crate::content::chunk_list;
use crate::error::{Result, StoreError};
use crate::repo::Repo;

/// The file under `.colony/` that holds the patterns.
pub const SPARSE_FILE: &str = "sparse";

/// The globs a sparse work tree holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sparse {
    /// The patterns (see [`glob_matches`]).
    pub patterns: Vec<String>,
}

impl Sparse {
    /// Whether `path` is inside the sparse work tree.
    pub fn contains(&self, path: &str) -> bool {
        self.patterns.iter().any(|g| glob_matches(g, path))
    }
}

/// Whether `path` matches `glob`: `*` and `?` within a path component, `**` across
/// components; a pattern naming a folder matches everything under it.
pub fn glob_matches(glob: &str, path: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
                (0..=s.len()).any(|i| (i == 0 || s[i - 1] == b'/') && m(rest, &s[i..]))
                    || (0..=s.len()).any(|i| m(&p[2..], &s[i..]))
            }
            Some(b'*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| m(&p[1..], &s[i..])),
            Some(b'?') => !s.is_empty() && s[0] != b'/' && m(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
        }
    }
    let g = glob.trim_end_matches('/');
    if g.is_empty() || g == "." {
        return true;
    }
    m(g.as_bytes(), path.as_bytes())
        || path
            .strip_prefix(g)
            .is_some_and(|rest| rest.starts_with('/'))
        || (g.contains('*') && m(format!("{g}/**").as_bytes(), path.as_bytes()))
}

/// The shards holding the chunks and manifests of `commit`'s files (only those matching
/// `paths`, when given), with their sizes, read from `repo`'s chunk index.
pub fn snapshot_shards(
    repo: &Repo,
    commit: ObjectId,
    paths: Option<&str>,
) -> Result<BTreeMap<Hash, u64>> {
    let store = repo.chunks()?;
    let snap = repo.history().read_snapshot(commit)?.files;
    let mut records: HashSet<Hash> = HashSet::new();
    for (path, e) in &snap {
        if let Some(g) = paths
            && !glob_matches(g, path)
        {
            continue;
        }
        if let Some(m) = e.manifest {
            records.insert(m);
        }
        for (c, _) in chunk_list(store, e)? {
            records.insert(c);
        }
    }
    let dir = store.dir().to_path_buf();
    let mut out = BTreeMap::new();
    for r in records {
        let loc = store.locate(&r)?.ok_or(StoreError::Missing {
            kind: "chunk",
            hash: r,
        })?;
        out.entry(loc.shard).or_insert_with(|| {
            std::fs::metadata(crate::shard_path(&dir, &loc.shard)).map_or(0, |m| m.len())
        });
    }
    Ok(out)
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
    use super::{Sparse, glob_matches};

    #[test]
    fn globs() {
        assert!(glob_matches("data/*.csv", "data/a.csv"));
        assert!(!glob_matches("data/*.csv", "data/x/a.csv"));
        assert!(glob_matches("data/**/*.csv", "data/x/y/a.csv"));
        assert!(glob_matches("data/**", "data/x/y/a.csv"));
        assert!(glob_matches("data", "data/x/y/a.csv"));
        assert!(glob_matches("data/", "data/a"));
        assert!(!glob_matches("data", "database/a"));
        assert!(glob_matches("**/a.bin", "x/y/a.bin"));
        assert!(glob_matches("a?.bin", "ab.bin"));
        assert!(glob_matches(".", "any/thing"));
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
