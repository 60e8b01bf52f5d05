//! Reading and writing the `DatasetRegistry`: the anchored head, its history (from events),
//! lineage back to the origin, fork registration with a governance of its own, and checking
//! local data against the anchored root.

use alloy::primitives::{Address, B256, FixedBytes, U256};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use serde::{Deserialize, Serialize};

use crate::bindings::DatasetRegistry;
use crate::chain::{Chain, TxRecord};
use crate::deploy::{self, DeployOutcome, Deployment, GovernanceParams};
use crate::error::{DaoError, Result};
use crate::governance::HeadUpdate;

/// The head anchored on chain for a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchoredHead {
    /// The dataset.
    pub dataset_id: u64,
    /// BLAKE3 snapshot root.
    pub root: B256,
    /// colony commit id.
    pub commit: FixedBytes<20>,
    /// Where to fetch the data.
    pub locator: String,
    /// Block in which it was set.
    pub block: u64,
    /// How many heads the dataset has had, this one included.
    pub count: u32,
}

/// One entry of a dataset's head history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadEvent {
    /// Its place in the history (0 = first).
    pub seq: u64,
    /// BLAKE3 snapshot root.
    pub root: B256,
    /// colony commit id.
    pub commit: FixedBytes<20>,
    /// Where to fetch the data.
    pub locator: String,
    /// Block in which it was set.
    pub block: u64,
    /// The transaction that set it.
    pub tx_hash: Option<B256>,
}

/// A dataset as registered: name, governance and lineage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its governance (timelock): the only address that may move its head.
    pub governance: Address,
    /// The dataset it was forked from, if any.
    pub parent_id: Option<u64>,
    /// The parent's snapshot root at the fork point (forks only).
    pub fork_root: Option<B256>,
    /// The parent's commit at the fork point (forks only).
    pub fork_commit: Option<FixedBytes<20>>,
    /// Who registered it.
    pub registrant: Address,
    /// Block it was registered in.
    pub created_block: u64,
}

/// What `colony fork SRC DST --dao` registers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkParams {
    /// The dataset forked from.
    pub parent_id: u64,
    /// The fork's name.
    pub name: String,
    /// The fork point: the parent's snapshot root, commit and a locator for the data.
    pub fork_point: HeadUpdate,
    /// The fork's own governance.
    pub governance: GovernanceParams,
}

/// The dataset's anchored head, with its locator. Errors with [`DaoError::NoHead`] when no
/// head was set yet (a fork starts at its fork point, so it always has one).
pub async fn head(chain: &Chain, registry: Address, dataset_id: u64) -> Result<AnchoredHead> {
    let p = chain.checked().await?;
    let reg = DatasetRegistry::new(registry, p);
    let h = reg
        .head(U256::from(dataset_id))
        .call()
        .await
        .map_err(|e| map_unknown(chain, registry, dataset_id, "reading the head", e))?;
    if h.root == B256::ZERO {
        return Err(DaoError::NoHead {
            dataset_id: U256::from(dataset_id),
        });
    }
    // The locator lives in the HeadSet event of the block the head was set in.
    let events = head_events(chain, registry, dataset_id, h.headBlock, h.headBlock).await?;
    let locator = events
        .iter()
        .rev()
        .find(|e| e.root == h.root && e.commit == h.commit)
        .map(|e| e.locator.clone())
        .unwrap_or_default();
    Ok(AnchoredHead {
        dataset_id,
        root: h.root,
        commit: h.commit,
        locator,
        block: h.headBlock,
        count: h.heads,
    })
}

/// Every head the dataset has had, oldest first (from `HeadSet` events).
pub async fn head_history(
    chain: &Chain,
    registry: Address,
    dataset_id: u64,
) -> Result<Vec<HeadEvent>> {
    let info = dataset(chain, registry, dataset_id).await?;
    let to = chain.block_number().await?;
    head_events(chain, registry, dataset_id, info.created_block, to).await
}

/// The dataset's name, governance and lineage.
pub async fn dataset(chain: &Chain, registry: Address, dataset_id: u64) -> Result<DatasetInfo> {
    let p = chain.checked().await?;
    let reg = DatasetRegistry::new(registry, p);
    let d = reg
        .dataset(U256::from(dataset_id))
        .call()
        .await
        .map_err(|e| map_unknown(chain, registry, dataset_id, "reading the dataset", e))?;
    let filter = Filter::new()
        .address(registry)
        .event_signature(DatasetRegistry::DatasetRegistered::SIGNATURE_HASH)
        .topic1(B256::from(U256::from(dataset_id)));
    let logs = chain
        .logs(
            "reading the dataset's registration",
            &filter,
            d.createdBlock,
            d.createdBlock,
        )
        .await?;
    let ev = logs
        .iter()
        .find_map(|l| l.log_decode::<DatasetRegistry::DatasetRegistered>().ok())
        .map(|l| l.inner.data);
    let parent_id: u64 = d.parentId.saturating_to();
    let is_fork = parent_id != 0;
    Ok(DatasetInfo {
        id: dataset_id,
        name: ev.as_ref().map(|e| e.name.clone()).unwrap_or_default(),
        governance: d.governance,
        parent_id: is_fork.then_some(parent_id),
        fork_root: is_fork.then_some(d.forkRoot),
        fork_commit: is_fork.then_some(d.forkCommit),
        registrant: ev.map(|e| e.registrant).unwrap_or_default(),
        created_block: d.createdBlock,
    })
}

/// The dataset and its ancestors: `[dataset, parent, grandparent, …, origin]`.
pub async fn lineage(
    chain: &Chain,
    registry: Address,
    dataset_id: u64,
) -> Result<Vec<DatasetInfo>> {
    let mut out: Vec<DatasetInfo> = Vec::new();
    let mut next = Some(dataset_id);
    while let Some(id) = next {
        if out.iter().any(|d| d.id == id) {
            break; // cannot happen with this registry (parents have lower ids); guards a bad one
        }
        let info = dataset(chain, registry, id).await?;
        next = info.parent_id;
        out.push(info);
    }
    Ok(out)
}

/// Registers a fork of `params.parent_id` in `registry` with a newly deployed governance of
/// its own (token, timelock, governor; the sender gets the supply). The fork's head starts at
/// its fork point.
pub async fn register_fork(
    chain: &Chain,
    registry: Address,
    params: &ForkParams,
) -> Result<DeployOutcome> {
    if params.name.trim().is_empty() {
        return Err(DaoError::InvalidParam {
            what: "fork name".to_owned(),
            reason: "it must not be empty".to_owned(),
        });
    }
    if params.fork_point.root == B256::ZERO {
        return Err(DaoError::InvalidParam {
            what: "fork point".to_owned(),
            reason: "its snapshot root is all zeros; fork from a committed snapshot".to_owned(),
        });
    }
    chain.require_sender("register fork")?;
    deploy::check_registry(chain, registry).await?;
    // Fails early, before any deployment, if the parent does not exist.
    dataset(chain, registry, params.parent_id).await?;
    let (gov, mut txs) = deploy::deploy_governance(chain, &params.name, &params.governance).await?;
    let p = chain.checked().await?;
    let reg = DatasetRegistry::new(registry, p);
    let fp = &params.fork_point;
    let (tx, receipt) = chain
        .send_with_receipt(
            "register fork",
            reg.registerFork(
                U256::from(params.parent_id),
                params.name.clone(),
                gov.timelock,
                fp.root,
                fp.commit,
                fp.locator.clone(),
            ),
        )
        .await?;
    txs.push(tx);
    let dataset_id = deploy::registered_id(&receipt)?;
    Ok(DeployOutcome {
        deployment: Deployment::registered(chain, &params.name, registry, dataset_id, &gov),
        txs,
    })
}

/// Calls `setHead` directly from the sender. Only the dataset's timelock may do this, so from
/// any other account it fails with [`DaoError::NotDatasetGovernance`], naming the caller and
/// the governance; heads move through [`crate::governance::propose_head`].
pub async fn set_head_direct(
    chain: &Chain,
    registry: Address,
    dataset_id: u64,
    head: &HeadUpdate,
) -> Result<TxRecord> {
    chain.require_sender("set head")?;
    let p = chain.checked().await?;
    let reg = DatasetRegistry::new(registry, p);
    chain
        .send(
            "set head",
            reg.setHead(
                U256::from(dataset_id),
                head.root,
                head.commit,
                head.locator.clone(),
            ),
        )
        .await
}

/// Checks `local_root` (recomputed from local data) against the anchored root; returns the
/// anchored head when they are equal, [`DaoError::RootMismatch`] when not.
pub async fn verify_root(
    chain: &Chain,
    registry: Address,
    dataset_id: u64,
    local_root: [u8; 32],
) -> Result<AnchoredHead> {
    let anchored = head(chain, registry, dataset_id).await?;
    let local = B256::from(local_root);
    if anchored.root != local {
        return Err(DaoError::RootMismatch {
            dataset_id: U256::from(dataset_id),
            local,
            anchored: anchored.root,
        });
    }
    Ok(anchored)
}

async fn head_events(
    chain: &Chain,
    registry: Address,
    dataset_id: u64,
    from: u64,
    to: u64,
) -> Result<Vec<HeadEvent>> {
    let filter = Filter::new()
        .address(registry)
        .event_signature(DatasetRegistry::HeadSet::SIGNATURE_HASH)
        .topic1(B256::from(U256::from(dataset_id)));
    let logs = chain
        .logs("reading the head history", &filter, from, to)
        .await?;
    Ok(logs
        .iter()
        .filter_map(|l| {
            let d = l.log_decode::<DatasetRegistry::HeadSet>().ok()?;
            let ev = d.inner.data;
            Some(HeadEvent {
                seq: ev.seq.saturating_to(),
                root: ev.root,
                commit: ev.commit,
                locator: ev.locator,
                block: l.block_number.unwrap_or_default(),
                tx_hash: l.transaction_hash,
            })
        })
        .collect())
}

fn map_unknown(
    chain: &Chain,
    registry: Address,
    dataset_id: u64,
    action: &str,
    e: alloy::contract::Error,
) -> DaoError {
    if e.as_decoded_error::<DatasetRegistry::UnknownDataset>()
        .is_some()
    {
        return DaoError::UnknownDataset {
            registry,
            dataset_id: U256::from(dataset_id),
        };
    }
    chain.contract_error(action, e)
}
