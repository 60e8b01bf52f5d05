//! Errors of the trainer.

use colony_store::StoreError;

/// Result with [`TrainError`].
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// What can go wrong while training, recording or verifying.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The store failed (missing data, corrupt shard, bad revision …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tensor library failed.
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The options make no sense.
    #[error("{0}")]
    Config(String),
    /// The snapshot does not hold data the model can use.
    #[error("{0}")]
    Data(String),
    /// A run record or checkpoint is missing or malformed.
    #[error("run record: {0}")]
    Record(String),
    /// Two machines' results cannot be compared.
    #[error(
        "instruction-set class mismatch: the run was recorded on `{recorded}` but this machine is `{here}`; floating-point results differ between classes, so a step cannot be judged here (verify on a `{recorded}` machine)"
    )]
    IsaMismatch {
        /// Class in the record.
        recorded: String,
        /// Class of this machine.
        here: String,
    },
    /// An I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl TrainError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> TrainError {
        TrainError::Io {
            what: what.into(),
            source,
        }
    }
}
