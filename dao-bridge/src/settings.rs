//! A dataset's `[dao]` settings (what `.colony/config.toml` records), and the check of a
//! revision's recomputed snapshot root against the head its DAO anchored.
//!
//! Both are shared by every front end (the CLI's `dao` commands and `lineage --dao`, the
//! MCP server), so they answer the same questions with the same JSON.

use alloy::primitives::B256;
use serde::Serialize;

use crate::chain::{Chain, ChainConfig, DEVNET_CHAIN_ID, DEVNET_RPC_URL};
use crate::deploy::Deployment;
use crate::error::{DaoError, Result};
use crate::registry;

/// What `[dao]` in a dataset's config records.
#[derive(Clone, Debug, Default)]
pub struct DaoSettings {
    /// `dao.rpc_url`.
    pub rpc_url: Option<String>,
    /// `dao.chain_id`.
    pub chain_id: Option<u64>,
    /// The deployment, when `dao deploy` (or `fork --dao`) wrote one.
    pub deployment: Option<Deployment>,
}

impl DaoSettings {
    /// Reads the `[dao]` table (`None`: the config has none, which is no error).
    /// Errors: [`DaoError::MalformedConfig`] naming what is wrong.
    pub fn from_toml(section: Option<&toml::Value>) -> Result<DaoSettings> {
        let Some(v) = section else {
            return Ok(DaoSettings::default());
        };
        let malformed = |why: &str| DaoError::MalformedConfig {
            why: why.to_owned(),
        };
        let table = v.as_table().ok_or_else(|| malformed("it is not a table"))?;
        let rpc_url = match table.get("rpc_url") {
            None => None,
            Some(u) => Some(
                u.as_str()
                    .ok_or_else(|| malformed("rpc_url is not a string"))?
                    .to_owned(),
            ),
        };
        let chain_id = match table.get("chain_id") {
            None => None,
            Some(i) => Some(
                i.as_integer()
                    .and_then(|i| u64::try_from(i).ok())
                    .ok_or_else(|| malformed("chain_id is not a non-negative integer"))?,
            ),
        };
        let deployment = if table.contains_key("registry") {
            Some(
                v.clone()
                    .try_into::<Deployment>()
                    .map_err(|e| malformed(&e.to_string()))?,
            )
        } else {
            None
        };
        Ok(DaoSettings {
            rpc_url,
            chain_id,
            deployment,
        })
    }

    /// The chain to use: `rpc_url`/`chain_id` when given, else these settings, else the
    /// local devnet.
    pub fn chain(&self, rpc_url: Option<&str>, chain_id: Option<u64>) -> ChainConfig {
        ChainConfig {
            rpc_url: rpc_url
                .map(str::to_owned)
                .or_else(|| self.rpc_url.clone())
                .unwrap_or_else(|| DEVNET_RPC_URL.to_owned()),
            chain_id: chain_id.or(self.chain_id).unwrap_or(DEVNET_CHAIN_ID),
        }
    }

    /// The recorded deployment, pointed at `chain`.
    /// Errors: [`DaoError::NoDeployment`] when the dataset has none.
    pub fn deployment(&self, chain: &ChainConfig) -> Result<Deployment> {
        let mut dep = self.deployment.clone().ok_or(DaoError::NoDeployment)?;
        dep.rpc_url = chain.rpc_url.clone();
        dep.chain_id = chain.chain_id;
        Ok(dep)
    }
}

/// The outcome of checking a revision against the anchored head (what `dao verify
/// --json` prints).
#[derive(Clone, Debug, Serialize)]
pub struct AnchorCheck {
    /// True only when the revision's recomputed root is the anchored root.
    pub ok: bool,
    /// The revision as named.
    pub rev: String,
    /// Its commit id (hex).
    pub commit: String,
    /// The root recomputed from its bytes (0x-hex).
    pub local_root: String,
    /// The root anchored on chain.
    pub anchored_root: Option<B256>,
    /// The commit anchored on chain (0x-hex).
    pub anchored_commit: Option<String>,
    /// The dataset's id in the registry.
    pub dataset_id: u64,
    /// Why it is not the anchored head, when it is not.
    pub error: Option<String>,
}

/// Compares `local_root` (recomputed by the caller from the bytes of `rev`, commit
/// `commit_hex`) with the head anchored for `dep`. A mismatch is an answer
/// (`ok: false`, naming both roots and the anchored commit), not an error; errors are
/// the chain's (unreachable, no head yet, …).
pub async fn check_anchor(
    chain: &Chain,
    dep: &Deployment,
    rev: &str,
    commit_hex: &str,
    local_root: [u8; 32],
) -> Result<AnchorCheck> {
    let local = B256::from(local_root).to_string();
    let mut out = AnchorCheck {
        ok: false,
        rev: rev.to_owned(),
        commit: commit_hex.to_owned(),
        local_root: local.clone(),
        anchored_root: None,
        anchored_commit: None,
        dataset_id: dep.dataset_id,
        error: None,
    };
    match registry::verify_root(chain, dep.registry, dep.dataset_id, local_root).await {
        Ok(h) => {
            out.ok = true;
            out.anchored_root = Some(h.root);
            out.anchored_commit = Some(h.commit.to_string());
        }
        Err(DaoError::RootMismatch { anchored, .. }) => {
            // Name the anchored commit too, so the user knows what to check out.
            let h = registry::head(chain, dep.registry, dep.dataset_id).await?;
            out.anchored_root = Some(anchored);
            out.anchored_commit = Some(h.commit.to_string());
            out.error = Some(format!(
                "{rev} (commit {commit_hex}) is NOT the anchored head of dataset {}: its bytes \
                 give snapshot root {local}, the root anchored on chain is {anchored} (commit {})",
                dep.dataset_id, h.commit
            ));
        }
        Err(e) => return Err(e),
    }
    Ok(out)
}
