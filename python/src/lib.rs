//! `colony._native`: the Rust half of colony's Python package.
//!
//! A thin layer over [`colony_store::SnapshotReader`]: every byte Python gets went through
//! the same verified reader as `colony cat`, the HTTP gateway and the mount (each chunk
//! checked against BLAKE3 before it is returned, each file's manifest proven against the
//! file hash the snapshot root commits to). Reads release the GIL, so DataLoader threads
//! and pyarrow's readers run in parallel on one handle.
//!
//! Structured answers (logs, listings, stats) cross as JSON text and become dicts on the
//! Python side (`colony/__init__.py`), which is also where the public API is documented.
//! Errors become the exception classes of `colony/_errors.py`, with the message and hint
//! the command line shows.

mod errors;
mod runs;

use std::path::PathBuf;

use colony_store::ops::refs::RefKind;
use colony_store::{Access, ReaderOptions, Repo, SnapshotReader};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;

/// A dataset: the folder holding `.colony` (found from any folder inside it).
#[pyclass(module = "colony._native", frozen)]
struct Dataset {
    root: PathBuf,
}

#[pymethods]
impl Dataset {
    /// Opens the dataset at `path` or the nearest folder above it holding `.colony`.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Dataset> {
        let root = py
            .detach(|| Repo::discover(&path, Access::Read, &|_| {}).map(|r| r.root().to_path_buf()))
            .map_err(|e| to_py(py, &e))?;
        Ok(Dataset { root })
    }

    /// The dataset's root folder.
    #[getter]
    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    /// Commits reachable from `rev` (default HEAD), newest first, as the JSON text of
    /// `colony log --json`'s `commits`.
    #[pyo3(signature = (rev=None, max_count=None))]
    fn log_json(
        &self,
        py: Python<'_>,
        rev: Option<String>,
        max_count: Option<usize>,
    ) -> PyResult<String> {
        let root = self.root.clone();
        py.detach(move || -> colony_store::Result<String> {
            let repo = Repo::open(&root, Access::Read, &|_| {})?;
            let commits = repo.log(rev.as_deref(), max_count)?;
            Ok(serde_json::to_string(&commits).expect("commits serialise"))
        })
        .map_err(|e| to_py(py, &e))
    }

    /// The refs of one kind (`"branch"`, `"tag"` or `"pin"`) as JSON text: a list of
    /// `{name, commit, current}`.
    fn refs_json(&self, py: Python<'_>, kind: &str) -> PyResult<String> {
        let kind = match kind {
            "branch" => RefKind::Branch,
            "tag" => RefKind::Tag,
            "pin" => RefKind::Pin,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "unknown ref kind `{other}`: expected branch, tag or pin"
                )));
            }
        };
        let root = self.root.clone();
        py.detach(move || -> colony_store::Result<String> {
            let repo = Repo::open(&root, Access::Read, &|_| {})?;
            Ok(serde_json::to_string(&repo.list_refs(kind)?).expect("refs serialise"))
        })
        .map_err(|e| to_py(py, &e))
    }

    /// Opens revision `rev` for reading in place (a branch, tag, pin, commit id or
    /// snapshot root). `cache_bytes` bounds the decompressed chunks kept in memory;
    /// `offline` refuses to read through to remotes in a sparse clone.
    #[pyo3(signature = (rev, cache_bytes=None, offline=false))]
    fn snapshot(
        &self,
        py: Python<'_>,
        rev: String,
        cache_bytes: Option<u64>,
        offline: bool,
    ) -> PyResult<Snapshot> {
        let mut opts = ReaderOptions {
            offline,
            ..ReaderOptions::default()
        };
        if let Some(c) = cache_bytes {
            opts.cache_bytes = c;
        }
        let root = self.root.clone();
        let reader = py
            .detach(move || SnapshotReader::open_with(&root, &rev, opts))
            .map_err(|e| to_py(py, &e))?;
        Ok(Snapshot { reader })
    }
}

/// One revision, opened for reading in place. Shared by every thread that holds it.
#[pyclass(module = "colony._native", frozen)]
struct Snapshot {
    reader: SnapshotReader,
}

#[pymethods]
impl Snapshot {
    /// The revision as it was named.
    #[getter]
    fn revision(&self) -> String {
        self.reader.revision().to_string()
    }

    /// The commit id (hex).
    #[getter]
    fn commit(&self) -> String {
        self.reader.commit().to_string()
    }

    /// The snapshot root (hex BLAKE3 over the whole tree), recomputed from the files.
    #[getter]
    fn root(&self) -> String {
        self.reader.root().to_string()
    }

    /// The snapshot root the commit records, if it records one.
    #[getter]
    fn recorded_root(&self) -> Option<String> {
        self.reader.recorded_root().map(|h| h.to_string())
    }

    /// The folder `prefix` (`""` for the top): its children, or with `recursive` every
    /// file beneath it, as JSON text (a list of `{path, kind, size, hash, mode, target}`).
    #[pyo3(signature = (prefix="", recursive=false))]
    fn list_json(&self, py: Python<'_>, prefix: &str, recursive: bool) -> PyResult<String> {
        let r = self.reader.clone();
        let prefix = prefix.to_string();
        py.detach(move || {
            r.list(&prefix, recursive)
                .map(|l| serde_json::to_string(&l).expect("listing serialises"))
        })
        .map_err(|e| to_py(py, &e))
    }

    /// What `path` is, as JSON text (`{path, kind, size, hash, mode, target}`).
    fn stat_json(&self, py: Python<'_>, path: &str) -> PyResult<String> {
        let r = self.reader.clone();
        let path = path.to_string();
        py.detach(move || {
            r.stat(&path)
                .map(|i| serde_json::to_string(&i).expect("stat serialises"))
        })
        .map_err(|e| to_py(py, &e))
    }

    /// Up to `length` bytes of file `path` from `offset` (fewer only at the end of the
    /// file), every chunk under them verified first. Never returns a byte that failed.
    /// `size`, when the caller already knows the file's size (a file object does), saves
    /// looking the path up a second time on every read.
    #[pyo3(signature = (path, offset, length, size=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        offset: u64,
        length: usize,
        size: Option<u64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let r = self.reader.clone();
        let p = path.to_string();
        let size = match size {
            Some(s) => s,
            None => py
                .detach(|| r.stat(&p).map(|i| i.size))
                .map_err(|e| to_py(py, &e))?,
        };
        let avail = size.saturating_sub(offset).min(length as u64) as usize;
        let mut failed = None;
        let bytes = PyBytes::new_with(py, avail, |buf| {
            // The bytes object is not visible to Python yet: filling it without the GIL
            // is safe, and lets other threads run meanwhile.
            match py.detach(|| r.read_into(&p, offset, buf)) {
                Ok(n) if n == buf.len() => {}
                Ok(n) => {
                    failed = Some(colony_store::StoreError::Refused(format!(
                        "{p}: {n} bytes at {offset} where {} were expected; the file changed under the reader",
                        buf.len()
                    )))
                }
                Err(e) => failed = Some(e),
            }
            Ok(())
        })?;
        match failed {
            Some(e) => Err(to_py(py, &e)),
            None => Ok(bytes),
        }
    }

    /// The whole content of `path` (a symlink: its target), verified: each chunk against
    /// its BLAKE3, the file's chunk list proven once against the file hash the snapshot
    /// root commits to. One copy, into the bytes object returned.
    fn read_all<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyBytes>> {
        self.read(py, path, 0, usize::MAX, None)
    }

    /// What the reader's chunk cache holds and how it has been used, as JSON text.
    fn cache_stats_json(&self) -> String {
        serde_json::to_string(&self.reader.cache_stats()).expect("stats serialise")
    }
}

/// The extension module, imported by `colony/__init__.py` as `colony._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Dataset>()?;
    m.add_class::<Snapshot>()?;
    m.add_function(wrap_pyfunction!(runs::state_hash, m)?)?;
    m.add_function(wrap_pyfunction!(runs::chain_link, m)?)?;
    m.add_function(wrap_pyfunction!(runs::cpu_class, m)?)?;
    m.add_function(wrap_pyfunction!(runs::canonical_record, m)?)?;
    m.add_function(wrap_pyfunction!(runs::write_run, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
