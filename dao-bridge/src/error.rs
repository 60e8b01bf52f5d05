//! The one error type of this crate. Every message says what went wrong and what to do.

use std::path::PathBuf;

use alloy::primitives::{Address, B256, U256};

/// Result with [`DaoError`].
pub type Result<T, E = DaoError> = std::result::Result<T, E>;

/// What can go wrong talking to a chain, a key, or the local dev node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaoError {
    /// No anvil binary was found.
    #[error(
        "anvil (the local Ethereum node) was not found; looked in: {searched}. \
         Install it with `npm ci --prefix dao-bridge` (from the colony source tree), \
         put `anvil` on PATH, or set COLONY_ANVIL to its path"
    )]
    AnvilNotFound {
        /// The places searched, joined for display.
        searched: String,
    },
    /// anvil could not be started.
    #[error("could not start anvil at {path}: {source}; check that the file is executable")]
    AnvilSpawn {
        /// The binary that was run.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// anvil started but never answered, or exited early.
    #[error("anvil at {url} did not come up: {detail}")]
    AnvilNotReady {
        /// The URL it should have answered on.
        url: String,
        /// What was seen (exit status, its stderr).
        detail: String,
    },
    /// The RPC URL is malformed or uses a scheme this build cannot speak.
    #[error("invalid RPC URL `{url}`: {reason}")]
    InvalidRpcUrl {
        /// The URL given.
        url: String,
        /// Why it was refused and what to do.
        reason: String,
    },
    /// The endpoint could not be reached.
    #[error(
        "cannot reach the Ethereum JSON-RPC endpoint at {url}: {detail}. Nothing was changed. \
         Start a local chain with `colony dao devnet` or pass a reachable `--rpc-url`"
    )]
    RpcUnreachable {
        /// The endpoint.
        url: String,
        /// The transport error.
        detail: String,
    },
    /// The endpoint serves another chain than the one configured.
    #[error(
        "the endpoint at {url} serves chain id {actual}, but chain id {expected} is configured; \
         refusing to continue. Point `--rpc-url` at a node of chain {expected}, or change the \
         configured chain id if you really mean chain {actual}"
    )]
    ChainIdMismatch {
        /// The endpoint.
        url: String,
        /// The configured chain id.
        expected: u64,
        /// What the endpoint reports.
        actual: u64,
    },
    /// A JSON-RPC request failed for another reason than a revert.
    #[error("{action} failed at {url}: {detail}")]
    Rpc {
        /// What was being done.
        action: String,
        /// The endpoint.
        url: String,
        /// The error from the node.
        detail: String,
    },
    /// The registry refused a head move because the caller is not the dataset's governance.
    #[error(
        "dataset {dataset_id}'s head can only be moved by its governance (timelock {governance}), \
         but {caller} called setHead; propose the head with `colony dao propose` and let the \
         vote pass, queue and execute it"
    )]
    NotDatasetGovernance {
        /// The dataset.
        dataset_id: U256,
        /// Who called.
        caller: Address,
        /// Who is allowed to.
        governance: Address,
    },
    /// A contract call reverted; `reason` is the decoded custom error.
    #[error("{action} was reverted by the contract: {reason}")]
    Reverted {
        /// What was being done.
        action: String,
        /// The decoded revert reason.
        reason: String,
    },
    /// A transaction was mined but failed.
    #[error(
        "{action}: transaction {tx_hash} was mined but failed (status 0); check the call and its gas"
    )]
    TxFailed {
        /// What was being done.
        action: String,
        /// The transaction.
        tx_hash: B256,
    },
    /// A deployment did not produce the expected contract.
    #[error("deploying {contract} went wrong: {detail}")]
    Deploy {
        /// Which contract.
        contract: String,
        /// What was seen.
        detail: String,
    },
    /// An action that sends a transaction was asked of a read-only connection.
    #[error(
        "{action} sends a transaction and needs a signing key; set ETH_PRIVATE_KEY or pass \
         `--keystore PATH`"
    )]
    NoSigner {
        /// What was being done.
        action: String,
    },
    /// No key source was configured.
    #[error(
        "no signing key: set the ETH_PRIVATE_KEY environment variable or pass `--keystore PATH`"
    )]
    MissingKey,
    /// The private key in ETH_PRIVATE_KEY is malformed (the key itself is never shown).
    #[error(
        "ETH_PRIVATE_KEY is not a valid secp256k1 private key ({reason}); it must be 32 bytes \
         as 64 hex digits, with or without 0x"
    )]
    BadPrivateKey {
        /// What is wrong with it (never the key).
        reason: String,
    },
    /// A keystore could not be read or decrypted.
    #[error("cannot use keystore {path}: {detail}")]
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The password file could not be read.
    #[error("cannot read the password file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The password prompt failed (no terminal, say).
    #[error(
        "cannot prompt for the keystore password: {source}; without a terminal, pass a \
         password file instead"
    )]
    PasswordPrompt {
        /// Why.
        source: std::io::Error,
    },
    /// No dataset with this id in the registry.
    #[error(
        "the registry at {registry} has no dataset {dataset_id}; check the dataset id and the registry address"
    )]
    UnknownDataset {
        /// The registry.
        registry: Address,
        /// The id asked for.
        dataset_id: U256,
    },
    /// No head has been anchored for the dataset yet.
    #[error("dataset {dataset_id} has no anchored head yet; propose one with `colony dao propose`")]
    NoHead {
        /// The dataset.
        dataset_id: U256,
    },
    /// No proposal matches.
    #[error("no proposal `{query}` on governor {governor}; list them with `colony dao status`")]
    UnknownProposal {
        /// What was asked for.
        query: String,
        /// The governor searched.
        governor: Address,
    },
    /// A proposal reference matches more than one proposal.
    #[error("proposal `{query}` is ambiguous ({matches} proposals match); give more digits")]
    AmbiguousProposal {
        /// What was asked for.
        query: String,
        /// How many matched.
        matches: usize,
    },
    /// A proposal is not one of ours (it does not call `setHead` on the registry).
    #[error(
        "proposal {proposal_id} does not set a dataset head; colony only handles setHead proposals"
    )]
    NotAHeadProposal {
        /// The proposal.
        proposal_id: U256,
    },
    /// The local snapshot root differs from the anchored one.
    #[error(
        "snapshot root {local} does not match the root anchored on chain for dataset \
         {dataset_id} ({anchored}); the data is not the head the community voted for"
    )]
    RootMismatch {
        /// The dataset.
        dataset_id: U256,
        /// The root computed from local data.
        local: B256,
        /// The root on chain.
        anchored: B256,
    },
    /// The action is not possible yet (a delay has to pass first).
    #[error("{detail}")]
    NotYet {
        /// What has to pass, and until when.
        detail: String,
    },
    /// A parameter was out of range.
    #[error("invalid {what}: {reason}")]
    InvalidParam {
        /// Which parameter.
        what: String,
        /// Why, and what is allowed.
        reason: String,
    },
    /// The `[dao]` section of a dataset's config cannot be read.
    #[error("the [dao] section of .colony/config.toml is malformed: {why}")]
    MalformedConfig {
        /// What is wrong.
        why: String,
    },
    /// The dataset's config records no DAO deployment.
    #[error("this dataset has no DAO: .colony/config.toml has no [dao] deployment")]
    NoDeployment,
}
