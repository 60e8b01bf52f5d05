//! Store errors as Python exceptions: the class says what kind of failure it is (so that
//! `except FileNotFoundError` works where Python code expects it), the message is the
//! store's own, and the hint is the one the command line prints after it.

use colony_store::StoreError;
use pyo3::prelude::*;

/// The exception for `e`, built by `colony._errors.make(kind, message, hint)`.
pub(crate) fn to_py(py: Python<'_>, e: &StoreError) -> PyErr {
    make(py, kind(e), e.to_string(), hint(e))
}

/// A plain `colony.ColonyError`.
pub(crate) fn colony_error(py: Python<'_>, message: &str, hint: Option<&str>) -> PyErr {
    make(
        py,
        "ColonyError",
        message.to_string(),
        hint.map(str::to_string),
    )
}

fn make(py: Python<'_>, kind: &str, message: String, hint: Option<String>) -> PyErr {
    let made = py
        .import("colony._errors")
        .and_then(|m| m.getattr("make"))
        .and_then(|make| make.call1((kind, message.as_str(), hint.as_deref())));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        // The package is incomplete (the module loaded on its own): still say what failed.
        Err(_) => pyo3::exceptions::PyOSError::new_err(match hint {
            Some(h) => format!("{message}\nhint: {h}"),
            None => message,
        }),
    }
}

/// The cause under any per-file wrapping.
fn cause(e: &StoreError) -> &StoreError {
    match e {
        StoreError::AtPath { source, .. } => cause(source),
        other => other,
    }
}

/// The class `colony._errors.make` raises for `e`.
fn kind(e: &StoreError) -> &'static str {
    match cause(e) {
        StoreError::NotADataset(_) => "NotADataset",
        StoreError::UnknownRevision { .. } => "RevisionNotFound",
        StoreError::NoSuchPath { .. } => "PathNotFound",
        StoreError::IsAFolder { .. } => "IsAFolder",
        StoreError::NotAFolder { .. } => "NotAFolder",
        StoreError::InvalidPath { .. } | StoreError::HostilePath { .. } => "InvalidPath",
        StoreError::CorruptShard { .. }
        | StoreError::CorruptChunk { .. }
        | StoreError::ContentMismatch { .. } => "CorruptData",
        StoreError::Missing { .. } | StoreError::ReadThrough { .. } => "MissingData",
        StoreError::LockTimeout { .. } => "StoreBusy",
        _ => "ColonyError",
    }
}

/// What to do about `e`, as the command line says it (`cli/src/error.rs`; the tests
/// compare the two).
fn hint(e: &StoreError) -> Option<String> {
    match e {
        StoreError::NotADataset(_) => Some("run `colony init` to create one here".into()),
        StoreError::CorruptShard { .. } | StoreError::CorruptChunk { .. } => Some(
            "run `colony fsck` to see every damaged object and the files it affects".into(),
        ),
        StoreError::HostilePath { .. } => Some(
            "the revision was made by a tool that does not check paths; inspect it with `colony show`"
                .into(),
        ),
        StoreError::ReadThrough { remote, .. } => Some(format!(
            "every configured remote was tried, `{remote}` first (`colony remote` lists them); check that one is reachable and honest, or bring every shard with `colony fetch {remote}`"
        )),
        StoreError::AtPath { source, .. } => hint(source),
        _ => None,
    }
}
