//! Deploying a dataset's governance (voting token, timelock, governor) and registering the
//! dataset in a `DatasetRegistry` contract, deploying the registry
//! too unless one is given.

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use serde::{Deserialize, Serialize};

use crate::bindings::{DatasetGovernor, DatasetRegistry, DatasetToken, TimelockController};
use crate::chain::{Chain, ChainConfig, TxRecord};
use crate::error::{DaoError, Result};

/// Where a dataset's governance lives; what the CLI writes to `.colony/config.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Chain id the contracts live on.
    pub chain_id: u64,
    /// JSON-RPC endpoint they were deployed through.
    pub rpc_url: String,
    /// The dataset's name as registered.
    pub name: String,
    /// The `DatasetRegistry`.
    pub registry: Address,
    /// The dataset's id in the registry.
    pub dataset_id: u64,
    /// The ERC20Votes token.
    pub token: Address,
    /// The TimelockController: the dataset's governance address in the registry.
    pub timelock: Address,
    /// The Governor.
    pub governor: Address,
    /// Block the governance was deployed in; proposal scans start here.
    pub start_block: u64,
}

impl Deployment {
    /// The chain this deployment lives on.
    pub fn chain_config(&self) -> ChainConfig {
        ChainConfig {
            rpc_url: self.rpc_url.clone(),
            chain_id: self.chain_id,
        }
    }
}

/// Settings of a dataset's governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceParams {
    /// Token name; `None` gives "`<dataset name>` votes".
    pub token_name: Option<String>,
    /// Token symbol.
    pub token_symbol: String,
    /// Whole tokens minted to the deployer (18 decimals each).
    pub supply: u64,
    /// Blocks between proposing and the vote opening (at least 1 so delegations made in the
    /// proposal's block do not count).
    pub voting_delay: u32,
    /// Blocks the vote stays open.
    pub voting_period: u32,
    /// Share of the supply (0–100 %) that must vote for or abstain.
    pub quorum_percent: u8,
    /// Seconds between queueing a passed proposal and executing it.
    pub timelock_delay: u64,
}

impl Default for GovernanceParams {
    /// 1 000 000 tokens, a 1-block voting delay, a 50 400-block (about a week) vote, 4 % quorum,
    /// a one-day timelock.
    fn default() -> Self {
        Self {
            token_name: None,
            token_symbol: "CLNY".to_owned(),
            supply: 1_000_000,
            voting_delay: 1,
            voting_period: 50_400,
            quorum_percent: 4,
            timelock_delay: 86_400,
        }
    }
}

impl GovernanceParams {
    fn validate(&self) -> Result<()> {
        let bad = |what: &str, reason: &str| {
            Err(DaoError::InvalidParam {
                what: what.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.voting_period == 0 {
            return bad("voting period", "it must be at least 1 block");
        }
        if self.quorum_percent > 100 {
            return bad("quorum", "it is a percentage of the supply, 0 to 100");
        }
        if self.supply == 0 {
            return bad("supply", "it must be at least 1 token, or nobody can vote");
        }
        if self.token_symbol.trim().is_empty() {
            return bad("token symbol", "it must not be empty");
        }
        Ok(())
    }
}

/// What `colony dao deploy` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployParams {
    /// The dataset's name.
    pub name: String,
    /// Its governance.
    pub governance: GovernanceParams,
    /// Register in this registry instead of deploying a new one.
    pub registry: Option<Address>,
}

/// Addresses of one governance (token, timelock, governor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceAddresses {
    /// The ERC20Votes token.
    pub token: Address,
    /// The TimelockController.
    pub timelock: Address,
    /// The Governor.
    pub governor: Address,
    /// Block of the first deployment.
    pub start_block: u64,
}

/// The result of a deployment: where everything is, and each transaction with its gas.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeployOutcome {
    /// Where everything is (write this to the config).
    pub deployment: Deployment,
    /// Every transaction sent, in order.
    pub txs: Vec<TxRecord>,
}

/// Deploys the token, timelock and governor for a new dataset and registers it (deploying
/// the registry first unless `params.registry` names one). The sender receives the whole
/// token supply; delegate it before proposing.
pub async fn deploy(chain: &Chain, params: &DeployParams) -> Result<DeployOutcome> {
    if params.name.trim().is_empty() {
        return Err(DaoError::InvalidParam {
            what: "dataset name".to_owned(),
            reason: "it must not be empty".to_owned(),
        });
    }
    params.governance.validate()?;
    chain.require_sender("deploy")?;
    let mut txs = Vec::new();
    let registry = match params.registry {
        Some(r) => {
            check_registry(chain, r).await?;
            r
        }
        None => {
            let tx = deploy_registry(chain).await?;
            let r = tx
                .contract_address
                .expect("deployment receipts carry the address");
            txs.push(tx);
            r
        }
    };
    let (gov, mut gov_txs) = deploy_governance(chain, &params.name, &params.governance).await?;
    txs.append(&mut gov_txs);
    let p = chain.checked().await?;
    let reg = DatasetRegistry::new(registry, p);
    let (tx, receipt) = chain
        .send_with_receipt(
            "register dataset",
            reg.register(params.name.clone(), gov.timelock),
        )
        .await?;
    txs.push(tx);
    let dataset_id = registered_id(&receipt)?;
    Ok(DeployOutcome {
        deployment: Deployment::registered(chain, &params.name, registry, dataset_id, &gov),
        txs,
    })
}

impl Deployment {
    /// The record of a dataset just registered as `dataset_id` in `registry`, governed by `gov`.
    pub(crate) fn registered(
        chain: &Chain,
        name: &str,
        registry: Address,
        dataset_id: u64,
        gov: &GovernanceAddresses,
    ) -> Deployment {
        Deployment {
            chain_id: chain.chain_id(),
            rpc_url: chain.rpc_url().to_owned(),
            name: name.to_owned(),
            registry,
            dataset_id,
            token: gov.token,
            timelock: gov.timelock,
            governor: gov.governor,
            start_block: gov.start_block,
        }
    }
}

/// Deploys a new, empty `DatasetRegistry`; the record's `contract_address` is its address.
pub async fn deploy_registry(chain: &Chain) -> Result<TxRecord> {
    let p = chain.checked().await?;
    chain
        .send("deploy DatasetRegistry", DatasetRegistry::deploy_builder(p))
        .await
}

/// Deploys a token, a timelock and a governor wired together: the governor is the timelock's
/// only proposer and canceller, anyone may execute, and the timelock has no admin.
pub async fn deploy_governance(
    chain: &Chain,
    dataset_name: &str,
    params: &GovernanceParams,
) -> Result<(GovernanceAddresses, Vec<TxRecord>)> {
    params.validate()?;
    let me = chain.require_sender("deploy")?;
    let p = chain.checked().await?;
    let mut txs = Vec::new();
    let token_name = params
        .token_name
        .clone()
        .unwrap_or_else(|| format!("{dataset_name} votes"));
    let supply = U256::from(params.supply) * U256::from(10u64).pow(U256::from(18u64));
    let tx = chain
        .send(
            "deploy DatasetToken",
            DatasetToken::deploy_builder(p, token_name, params.token_symbol.clone(), me, supply),
        )
        .await?;
    let token = created(&tx, "DatasetToken")?;
    let start_block = tx.block;
    txs.push(tx);

    // The timelock names the governor as its proposer before the governor exists: the
    // governor's address follows from the sender's nonce, and both transactions pin it.
    let nonce = p
        .get_transaction_count(me)
        .await
        .map_err(|e| chain.rpc_error("reading the sender's nonce", e))?;
    let predicted_governor = me.create(nonce + 1);
    let tx = chain
        .send(
            "deploy TimelockController",
            TimelockController::deploy_builder(
                p,
                U256::from(params.timelock_delay),
                vec![predicted_governor],
                vec![Address::ZERO],
                Address::ZERO,
            )
            .nonce(nonce),
        )
        .await?;
    let timelock = created(&tx, "TimelockController")?;
    txs.push(tx);

    let tx = chain
        .send(
            "deploy DatasetGovernor",
            DatasetGovernor::deploy_builder(
                p,
                format!("{dataset_name} governor"),
                token,
                timelock,
                U48::from(params.voting_delay),
                params.voting_period,
                U256::from(params.quorum_percent),
            )
            .nonce(nonce + 1),
        )
        .await?;
    let governor = created(&tx, "DatasetGovernor")?;
    txs.push(tx);
    if governor != predicted_governor {
        return Err(DaoError::Deploy {
            contract: "DatasetGovernor".to_owned(),
            detail: format!(
                "it landed at {governor}, not at {predicted_governor} where the timelock expects \
                 it (another transaction from {me} interfered); deploy again"
            ),
        });
    }
    Ok((
        GovernanceAddresses {
            token,
            timelock,
            governor,
            start_block,
        },
        txs,
    ))
}

/// Checks that `registry` is a `DatasetRegistry` on this chain.
pub(crate) async fn check_registry(chain: &Chain, registry: Address) -> Result<()> {
    let p = chain.checked().await?;
    let code = p
        .get_code_at(registry)
        .await
        .map_err(|e| chain.rpc_error("reading the registry's code", e))?;
    let not_registry = |detail: String| DaoError::Deploy {
        contract: "DatasetRegistry".to_owned(),
        detail,
    };
    if code.is_empty() {
        return Err(not_registry(format!(
            "there is no contract at {registry} on chain {}; check the address and the chain",
            chain.chain_id()
        )));
    }
    DatasetRegistry::new(registry, p)
        .count()
        .call()
        .await
        .map_err(|e| {
            not_registry(format!(
                "{registry} does not answer like a DatasetRegistry: {e}"
            ))
        })?;
    Ok(())
}

fn created(tx: &TxRecord, contract: &str) -> Result<Address> {
    tx.contract_address.ok_or_else(|| DaoError::Deploy {
        contract: contract.to_owned(),
        detail: format!("the receipt of {} names no contract address", tx.tx_hash),
    })
}

/// The dataset id from a receipt holding a `DatasetRegistered` event.
pub(crate) fn registered_id(receipt: &alloy::rpc::types::TransactionReceipt) -> Result<u64> {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<DatasetRegistry::DatasetRegistered>().ok())
        .map(|l| l.inner.data.id.saturating_to())
        .ok_or_else(|| DaoError::Deploy {
            contract: "DatasetRegistry".to_owned(),
            detail: "registering succeeded but emitted no DatasetRegistered event".to_owned(),
        })
}

/// Blocks searched back from a dataset's registration for its timelock's role grants.
const ATTACH_LOOKBACK: u64 = 100_000;

/// The [`Deployment`] of a dataset someone else deployed, found from the registry alone
/// (for a clone that wants to vote): the timelock is the dataset's governance, the governor is
/// the account the timelock made its proposer (from the `RoleGranted` events of its
/// deployment, searched back from the dataset's registration), and the token is the
/// governor's. The RPC URL recorded is `chain`'s.
pub async fn attach(chain: &Chain, registry: Address, dataset_id: u64) -> Result<Deployment> {
    check_registry(chain, registry).await?;
    let info = crate::registry::dataset(chain, registry, dataset_id).await?;
    let p = chain.checked().await?;
    let timelock = TimelockController::new(info.governance, p);
    let err = |e| chain.contract_error("reading the dataset's governance", e);
    let proposer_role = timelock.PROPOSER_ROLE().call().await.map_err(err)?;
    let filter = alloy::rpc::types::Filter::new()
        .address(info.governance)
        .event_signature(
            <TimelockController::RoleGranted as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
        )
        .topic1(proposer_role);
    let from = info.created_block.saturating_sub(ATTACH_LOOKBACK);
    let logs = chain
        .logs("finding the governor", &filter, from, info.created_block)
        .await?;
    let not_found = || DaoError::Deploy {
        contract: "DatasetGovernor".to_owned(),
        detail: format!(
            "dataset {dataset_id}'s governance {} granted no proposer role within {ATTACH_LOOKBACK} \
             blocks before its registration; it is not a colony governance, so give the \
             governor's address yourself",
            info.governance
        ),
    };
    // The latest grant wins (a governance may have been re-pointed).
    let (governor, start_block) = logs
        .iter()
        .rev()
        .find_map(|l| {
            let ev = l.log_decode::<TimelockController::RoleGranted>().ok()?;
            Some((ev.inner.data.account, l.block_number.unwrap_or(from)))
        })
        .ok_or_else(not_found)?;
    let gov = DatasetGovernor::new(governor, p);
    let token = gov.token().call().await.map_err(|_| not_found())?;
    let governed = gov.timelock().call().await.map_err(|_| not_found())?;
    if governed != info.governance {
        return Err(not_found());
    }
    Ok(Deployment {
        chain_id: chain.chain_id(),
        rpc_url: chain.rpc_url().to_owned(),
        name: info.name,
        registry,
        dataset_id,
        token,
        timelock: info.governance,
        governor,
        start_block,
    })
}
