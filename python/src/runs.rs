//! What the Python `Recorder` needs from Rust: the chain's hashes (BLAKE3, as the built-in
//! trainer computes them), the machine's instruction-set class, and storing a run record
//! exactly as the built-in trainer stores one.

use std::path::PathBuf;

use colony_store::{Access, Repo};
use colony_trainer_hook::RunRecord;
use colony_trainer_hook::torch_run::write_torch_run;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;

/// States at least this large are hashed on several threads.
const PARALLEL_STATE: usize = 32 << 20;

/// BLAKE3 (hex) of the concatenation of `pieces` (bytes objects): a state hash.
#[pyfunction]
pub(crate) fn state_hash(py: Python<'_>, pieces: Vec<Bound<'_, PyBytes>>) -> String {
    let slices: Vec<&[u8]> = pieces.iter().map(|b| b.as_bytes()).collect();
    let total: usize = slices.iter().map(|s| s.len()).sum();
    let hash = || {
        let mut h = blake3::Hasher::new();
        for s in &slices {
            // Threads pay off only for large states; a small model's state hashes faster on
            // this thread than the hand-off to a pool costs.
            if total >= PARALLEL_STATE && s.len() >= 1 << 20 {
                h.update_rayon(s);
            } else {
                h.update(s);
            }
        }
        h.finalize().to_hex().to_string()
    };
    if total < 1 << 16 {
        hash()
    } else {
        py.detach(hash)
    }
}

/// The next chain link (hex): BLAKE3(previous link || state hash); the first link's
/// previous is 32 zero bytes (`prev=None`).
#[pyfunction]
#[pyo3(signature = (prev, state))]
pub(crate) fn chain_link(prev: Option<&str>, state: &str) -> PyResult<String> {
    let parse = |s: &str| {
        colony_trainer_hook::record::parse_hex32(s)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    };
    let prev = match prev {
        Some(p) => parse(p)?,
        None => [0u8; 32],
    };
    let link = colony_trainer_hook::state::chain(&prev, &parse(state)?);
    Ok(hex::encode(link))
}

/// The instruction-set class runs on this CPU are recorded under.
#[pyfunction]
pub(crate) fn cpu_class() -> String {
    colony_trainer_hook::isa::cpu_class()
}

/// `record_json` in the canonical form run ids are computed over (the fields in their
/// order, losses as 32-bit floats). Raises ValueError when it is not a run record.
#[pyfunction]
pub(crate) fn canonical_record<'py>(
    py: Python<'py>,
    record_json: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let record: RunRecord = serde_json::from_slice(record_json)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("not a run record: {e}")))?;
    Ok(PyBytes::new(py, &record.to_bytes()))
}

/// Stores a PyTorch run (record in canonical form, checkpoint files) in the dataset at
/// `dataset_root`, as `refs/runs/<id>`. Returns `(id, commit, record_hash)`.
#[pyfunction]
pub(crate) fn write_run(
    py: Python<'_>,
    dataset_root: PathBuf,
    record_json: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
) -> PyResult<(String, String, String)> {
    let written = py.detach(move || {
        let repo = Repo::open(&dataset_root, Access::Write, &|_| {})?;
        write_torch_run(&repo, &record_json, files)
    });
    match written {
        Ok((id, commit, hash)) => Ok((id, commit.to_string(), hash)),
        Err(colony_trainer_hook::TrainError::Store(e)) => Err(to_py(py, &e)),
        Err(e) => Err(crate::errors::colony_error(py, &e.to_string(), None)),
    }
}
