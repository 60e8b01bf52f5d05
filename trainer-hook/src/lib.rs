//! The trainer hand-off of colony: train on a pinned snapshot and record every step so
//! that anyone can repeat any step and check it.
//!
//! - [`train`] runs a built-in model ([`ModelKind::Mlp`], a classifier over a table's
//!   numeric columns, or [`ModelKind::CharLm`], a small byte-level transformer over text)
//!   on candle, bitwise deterministically on CPU: weights come from our own seeded
//!   generator ([`rng`]), the optimiser is our own AdamW ([`optim`]) whose state is
//!   checkpointed, and the data order is a pure function of the seed and the step.
//! - After every step the parameters and optimiser state are hashed and chained
//!   (`h_i = BLAKE3(h_{i-1} || BLAKE3(state_i))`, see [`state`]); the chain, the losses,
//!   the config and checkpoints every K steps form a [`RunRecord`], stored in the store as
//!   a commit on `refs/runs/<id>` whose tree holds `record.json` and the checkpoints as
//!   content-addressed data ([`record`]).
//! - [`verify_run`] re-executes steps from the nearest checkpoint and names the first
//!   step whose hash differs; [`bisect_runs`] finds the first step where two records
//!   diverge.
//! - [`exec`] hands a pinned snapshot (served read-only by a caller's [`SnapshotProvider`],
//!   such as a mount, or materialised) to any external command and records
//!   the command, the hashes of the scripts it names, its exit status and its artifacts.
//! - A run holds the store for writing only while it pins, loads and stores
//!   ([`StoreAccess`]), so other commands on the dataset go on while it trains.

pub mod access;
pub mod data;
mod data_tables;
pub mod error;
pub mod exec;
pub mod isa;
pub mod model;
pub mod optim;
pub mod record;
pub mod rng;
pub mod session;
pub mod state;
pub mod torch_run;
pub mod train;
pub mod verify;

pub use access::StoreAccess;
pub use error::{Result, TrainError};
pub use exec::{ExecOptions, ExecReport, ProvidedSnapshot, SnapshotProvider, VerifyMode, exec_run};
pub use model::ModelKind;
pub use record::{ClaimValues, RunRecord, RunSummary, claim_values};
pub use train::{TrainOptions, TrainReport, train};
pub use verify::{BisectReport, StepCheck, Steps, VerifyReport, bisect_runs, verify_run};

/// The trainer's identity as recorded in run records.
pub const TRAINER_NAME: &str = "colony-trainer-hook";
/// The trainer's version as recorded in run records.
pub const TRAINER_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests;
