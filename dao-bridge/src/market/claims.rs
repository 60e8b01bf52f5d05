//! Claims on a bounty: claim with a staked run record, challenge a step during the window,
//! finalize after it, and resolve a dispute through the dataset's governance.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use serde::{Deserialize, Serialize};

use crate::bindings::TrainingMarket;
use crate::chain::{Chain, TxRecord};
use crate::deploy::Deployment;
use crate::error::{DaoError, Result};
use crate::governance::{self, Proposed, u256_dec};
use crate::market::Market;

/// What a claim commits to: the run record's hash, the final weights' hash, the root of the
/// per-step hash chain, and the number of steps (a challenge names one of `0..steps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimValues {
    /// Hash of the run record.
    pub record_hash: B256,
    /// Hash of the final weights.
    pub weights_hash: B256,
    /// Root of the per-step hash chain.
    pub chain_root: B256,
    /// Steps the run took.
    pub steps: u64,
}

/// A claim's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimStatus {
    /// Open to challenge until its deadline, then payable with `finalize`.
    Pending,
    /// Challenged; waits for the dataset's governance.
    Challenged,
    /// Paid after its window, unchallenged.
    Finalized,
    /// Disputed and upheld by the governance: paid, the challenger slashed.
    Upheld,
    /// Disputed and rejected by the governance: slashed, the bounty reopened.
    Rejected,
}

impl ClaimStatus {
    fn from_u8(n: u8) -> Self {
        match n {
            1 => Self::Pending,
            2 => Self::Challenged,
            3 => Self::Finalized,
            4 => Self::Upheld,
            _ => Self::Rejected,
        }
    }
}

impl ClaimStatus {
    /// The state's name for a raw contract value (0 is `none`: no such claim).
    pub(crate) fn name(n: u8) -> String {
        if n == 0 {
            return "none".to_owned();
        }
        Self::from_u8(n).to_string()
    }
}

impl std::fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Challenged => "challenged",
            Self::Finalized => "finalized",
            Self::Upheld => "upheld",
            Self::Rejected => "rejected",
        })
    }
}

/// A claim as the market stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimInfo {
    /// Its id.
    pub id: u64,
    /// The bounty claimed.
    pub bounty_id: u64,
    /// Who claimed.
    pub claimant: Address,
    /// What it commits to.
    pub values: ClaimValues,
    /// End of the challenge window (Unix seconds).
    pub deadline: u64,
    /// Its state.
    pub status: ClaimStatus,
    /// Who challenged it, if anyone.
    pub challenger: Option<Address>,
    /// The step the challenger disputes.
    pub disputed_step: Option<u64>,
}

/// A claim made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claimed {
    /// The new claim's id.
    pub claim_id: u64,
    /// End of its challenge window (Unix seconds).
    pub deadline: u64,
    /// The stake put up, in wei.
    #[serde(with = "u256_dec")]
    pub stake: U256,
    /// The transaction.
    pub tx: TxRecord,
}

/// A payment the market made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Paid {
    /// Who was paid.
    pub to: Address,
    /// How much, in wei.
    #[serde(with = "u256_dec")]
    pub amount: U256,
    /// The transaction.
    pub tx: TxRecord,
}

/// Claims bounty `bounty_id` with `values`, staking the bounty's stake from the sender.
pub async fn claim(
    chain: &Chain,
    market: Address,
    bounty_id: u64,
    values: &ClaimValues,
) -> Result<Claimed> {
    chain.require_sender("claim")?;
    if values.steps == 0 {
        return Err(DaoError::InvalidParam {
            what: "claim".to_owned(),
            reason: "a run of zero steps cannot be claimed".to_owned(),
        });
    }
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market, p);
    let b = m
        .bounty(U256::from(bounty_id))
        .call()
        .await
        .map_err(|e| chain.contract_error("claim", e))?;
    let call = m
        .claim(
            U256::from(bounty_id),
            values.record_hash,
            values.weights_hash,
            values.chain_root,
            U256::from(values.steps),
        )
        .value(b.stake);
    let (tx, receipt) = chain.send_with_receipt("claim", call).await?;
    let ev = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<TrainingMarket::Claimed>().ok())
        .map(|l| l.inner.data)
        .ok_or_else(|| no_event("claim", "Claimed"))?;
    Ok(Claimed {
        claim_id: ev.claimId.saturating_to(),
        deadline: ev.deadline.saturating_to(),
        stake: b.stake,
        tx,
    })
}

/// Challenges claim `claim_id` at `step` (0-based), counter-staking the bounty's stake.
pub async fn challenge(
    chain: &Chain,
    market: Address,
    claim_id: u64,
    step: u64,
) -> Result<TxRecord> {
    chain.require_sender("challenge")?;
    let info = claim_info(chain, market, claim_id).await?;
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market, p);
    let b = m
        .bounty(U256::from(info.bounty_id))
        .call()
        .await
        .map_err(|e| chain.contract_error("challenge", e))?;
    let call = m
        .challenge(U256::from(claim_id), U256::from(step))
        .value(b.stake);
    chain.send("challenge", call).await
}

/// Pays unchallenged claim `claim_id` after its window: reward and stake to the claimant.
pub async fn finalize(chain: &Chain, market: Address, claim_id: u64) -> Result<Paid> {
    chain.require_sender("finalize")?;
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market, p);
    let (tx, receipt) = chain
        .send_with_receipt("finalize", m.finalize(U256::from(claim_id)))
        .await?;
    let ev = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<TrainingMarket::Finalized>().ok())
        .map(|l| l.inner.data)
        .ok_or_else(|| no_event("finalize", "Finalized"))?;
    Ok(Paid {
        to: ev.claimant,
        amount: ev.paid,
        tx,
    })
}

/// Claim `claim_id` as stored.
pub async fn claim_info(chain: &Chain, market: Address, claim_id: u64) -> Result<ClaimInfo> {
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market, p);
    let c = m
        .claimInfo(U256::from(claim_id))
        .call()
        .await
        .map_err(|e| chain.contract_error("reading the claim", e))?;
    let challenged = c.challenger != Address::ZERO;
    Ok(ClaimInfo {
        id: claim_id,
        bounty_id: c.bountyId.saturating_to(),
        claimant: c.claimant,
        values: ClaimValues {
            record_hash: c.recordHash,
            weights_hash: c.weightsHash,
            chain_root: c.chainRoot,
            steps: c.steps.saturating_to(),
        },
        deadline: c.deadline.saturating_to(),
        status: ClaimStatus::from_u8(c.status),
        challenger: challenged.then_some(c.challenger),
        disputed_step: challenged.then(|| c.disputedStep.saturating_to()),
    })
}

/// Every claim ever made on bounty `bounty_id`, oldest first (from `Claimed` events since
/// the market's deployment), each as stored now.
pub async fn claims_of(chain: &Chain, market: &Market, bounty_id: u64) -> Result<Vec<ClaimInfo>> {
    let to = chain.block_number().await?;
    let filter = Filter::new()
        .address(market.address)
        .event_signature(TrainingMarket::Claimed::SIGNATURE_HASH)
        .topic2(B256::from(U256::from(bounty_id)));
    let logs = chain
        .logs("listing claims", &filter, market.start_block, to)
        .await?;
    let mut out = Vec::with_capacity(logs.len());
    for l in &logs {
        if let Ok(ev) = l.log_decode::<TrainingMarket::Claimed>() {
            out.push(
                claim_info(chain, market.address, ev.inner.data.claimId.saturating_to()).await?,
            );
        }
    }
    Ok(out)
}

/// The calldata of `resolve(claim_id, challenger_wins)` on the market.
pub fn resolve_calldata(claim_id: u64, challenger_wins: bool) -> Bytes {
    TrainingMarket::resolveCall {
        claimId: U256::from(claim_id),
        challengerWins: challenger_wins,
    }
    .abi_encode()
    .into()
}

/// Proposes, through the dataset's Governor, that its timelock resolve disputed claim
/// `claim_id` (`challenger_wins`: the claim was wrong). Refuses, before any transaction, a
/// claim that is not under challenge or whose bounty is for another dataset than `dep`'s.
/// The proposal then goes through `governance::vote`, `queue` and `execute` like any other.
pub async fn propose_resolution(
    chain: &Chain,
    dep: &Deployment,
    market: Address,
    claim_id: u64,
    challenger_wins: bool,
    description: &str,
) -> Result<Proposed> {
    chain.require_sender("propose")?;
    let info = claim_info(chain, market, claim_id).await?;
    if info.status != ClaimStatus::Challenged {
        return Err(DaoError::InvalidParam {
            what: "claim".to_owned(),
            reason: format!(
                "claim {claim_id} is {}, not challenged; only a challenged claim is resolved by \
                 the DAO",
                info.status
            ),
        });
    }
    let p = chain.checked().await?;
    let b = TrainingMarket::new(market, p)
        .bounty(U256::from(info.bounty_id))
        .call()
        .await
        .map_err(|e| chain.contract_error("propose", e))?;
    let dataset: u64 = b.datasetId.saturating_to();
    if dataset != dep.dataset_id {
        return Err(DaoError::InvalidParam {
            what: "claim".to_owned(),
            reason: format!(
                "claim {claim_id} is on a bounty for dataset {dataset}, but this governance is \
                 dataset {}'s; propose from dataset {dataset}'s governance",
                dep.dataset_id
            ),
        });
    }
    let description = if description.trim().is_empty() {
        let verdict = if challenger_wins {
            "the challenger wins: the claim is rejected and its stake slashed"
        } else {
            "the claimant wins: the claim is upheld and the challenger's stake slashed"
        };
        format!(
            "colony: resolve training claim {claim_id} (bounty {}, disputed step {}) on market \
             {market}: {verdict}",
            info.bounty_id,
            info.disputed_step.unwrap_or_default()
        )
    } else {
        description.to_owned()
    };
    governance::propose_call(
        chain,
        dep,
        market,
        resolve_calldata(claim_id, challenger_wins),
        &description,
    )
    .await
}

/// Calls `resolve` directly from the sender. Only the dataset's governance (its timelock)
/// may, so from any other account it fails naming the caller and the governance; disputes
/// are resolved through [`propose_resolution`].
pub async fn resolve_direct(
    chain: &Chain,
    market: Address,
    claim_id: u64,
    challenger_wins: bool,
) -> Result<TxRecord> {
    chain.require_sender("resolve")?;
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market, p);
    chain
        .send("resolve", m.resolve(U256::from(claim_id), challenger_wins))
        .await
        .map_err(|e| match e {
            // The market's error has the registry's signature; say what it means here.
            DaoError::NotDatasetGovernance {
                dataset_id,
                caller,
                governance,
            } => DaoError::Reverted {
                action: "resolve".to_owned(),
                reason: format!(
                    "only dataset {dataset_id}'s governance (timelock {governance}) may resolve \
                     a disputed claim, but {caller} called; propose the resolution with \
                     `colony run resolve` and let the vote pass, queue and execute it"
                ),
            },
            other => other,
        })
}

fn no_event(action: &str, event: &str) -> DaoError {
    DaoError::Deploy {
        contract: "TrainingMarket".to_owned(),
        detail: format!("{action} succeeded but emitted no {event} event"),
    }
}
