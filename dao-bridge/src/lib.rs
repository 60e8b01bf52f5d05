//! colony's DAO bridge: a dataset's head (BLAKE3 snapshot root + commit id + locator)
//! anchored on Ethereum in a `DatasetRegistry`, moved only by the dataset's own
//! OpenZeppelin Governor + TimelockController, voted with an ERC20Votes token.
//!
//! Each `colony dao …` command is one call here:
//!
//! | command | call |
//! |---|---|
//! | `dao devnet` | [`devnet::Devnet::spawn`] (+ [`devnet::advance`] to move time) |
//! | `dao deploy` | [`deploy::deploy`] (joining someone else's dataset: [`deploy::attach`]) |
//! | `dao delegate` | [`governance::delegate`] |
//! | `dao propose` | [`governance::propose_head`] |
//! | `dao vote` | [`governance::vote`] (takes the id as typed: full, or a unique leading part) |
//! | `dao queue` / `dao execute` | [`governance::queue`] / [`governance::execute`] |
//! | `dao status` | [`governance::status`] |
//! | `dao head` | [`registry::head`] (history: [`registry::head_history`]) |
//! | `dao verify` | [`registry::verify_root`] |
//! | `fork --dao` | [`registry::register_fork`] |
//! | `lineage` | [`registry::lineage`] |
//! | `bounty …`, `run claim/challenge/finalize/resolve` | [`market`] (the `TrainingMarket`) |
//! | `clone --from-chain` | [`registry::head`] (root + locator), [`deploy::attach`] (to vote later) |
//!
//! Connect first with [`chain::Chain::connect`] (read-only) or
//! [`chain::Chain::connect_with_signer`] (key from [`signer::Signer::load_for`], which falls
//! back to anvil's dev account on the dev chain only); the chain id is
//! checked on connect and again before every operation. The contracts' compiled artifacts are
//! committed in `dao-bridge/artifacts/`, so building this crate needs no Node.

pub(crate) mod bindings;
pub mod chain;
pub mod deploy;
pub mod devnet;
pub mod error;
pub mod governance;
pub mod market;
pub mod registry;
mod revert;
pub mod settings;
pub mod signer;

pub use alloy::primitives::{Address, B256, FixedBytes, U256};
pub use chain::{Chain, ChainConfig, TxRecord};
pub use deploy::{DeployOutcome, DeployParams, Deployment, GovernanceParams};
pub use devnet::{Devnet, DevnetOptions};
pub use error::{DaoError, Result};
pub use governance::{HeadUpdate, ProposalRef, ProposalState, Support};
pub use registry::{AnchoredHead, DatasetInfo, ForkParams};
pub use settings::{AnchorCheck, DaoSettings, check_anchor};
pub use signer::{KeySource, Password, PasswordSource, Signer};
