//! The `TrainingMarket` contract: bounties for training a model on a pinned snapshot of a
//! dataset, claimed with a staked run record, challengeable during a window, and resolved by
//! the dataset's own governance when disputed.
//!
//! | command | call |
//! |---|---|
//! | `bounty post` | [`deploy_market`] (first use), [`post_bounty`] |
//! | `bounty list` / `bounty show` | [`bounties`] / [`bounty`] and [`claims_of`] |
//! | `run claim` | [`claim`] |
//! | `run challenge` | [`challenge`] |
//! | `run finalize` | [`finalize`] |
//! | `run resolve` | [`propose_resolution`] (then `dao vote`, `dao queue`, `dao execute`) |
//!
//! One claim at a time per bounty: a pending or disputed claim locks the bounty; a rejected
//! one reopens it. The contract's NatSpec (`contracts/TrainingMarket.sol`) is the full rule set.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use serde::{Deserialize, Serialize};

use crate::bindings::TrainingMarket;
use crate::chain::{Chain, TxRecord};
use crate::error::{DaoError, Result};
use crate::governance::u256_dec;

mod claims;

pub use claims::{
    ClaimInfo, ClaimStatus, ClaimValues, Claimed, Paid, challenge, claim, claim_info, claims_of,
    finalize, propose_resolution, resolve_calldata, resolve_direct,
};

/// Default challenge window: three days.
pub const DEFAULT_WINDOW: u64 = 3 * 24 * 3600;

/// A deployed `TrainingMarket`: its address and the block it was deployed in (event scans
/// start there). What the CLI records as `[dao] market` / `market_block`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Market {
    /// The contract.
    pub address: Address,
    /// Its deployment block.
    pub start_block: u64,
}

/// A bounty's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BountyStatus {
    /// Takes a claim.
    Open,
    /// A claim is pending or disputed.
    Claimed,
    /// The reward was paid.
    Paid,
    /// The poster took the reward back.
    Cancelled,
}

impl BountyStatus {
    fn from_u8(n: u8) -> Self {
        match n {
            1 => Self::Open,
            2 => Self::Claimed,
            3 => Self::Paid,
            _ => Self::Cancelled,
        }
    }
}

impl BountyStatus {
    /// The state's name for a raw contract value (0 is `none`: no such bounty).
    pub(crate) fn name(n: u8) -> String {
        if n == 0 {
            return "none".to_owned();
        }
        Self::from_u8(n).to_string()
    }
}

impl std::fmt::Display for BountyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Open => "open",
            Self::Claimed => "claimed",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
        })
    }
}

/// What `colony bounty post` asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BountyParams {
    /// The dataset in the market's registry.
    pub dataset_id: u64,
    /// The snapshot to train on.
    pub snapshot_root: B256,
    /// The model specification (stored as its keccak256; the text travels in the event).
    pub model_spec: String,
    /// Reward escrowed, in wei.
    #[serde(with = "u256_dec")]
    pub reward: U256,
    /// Stake a claim and a challenge must each put up, in wei.
    #[serde(with = "u256_dec")]
    pub stake: U256,
    /// Seconds a claim stays open to challenge.
    pub window: u64,
}

/// A bounty as the market stores it, with its model spec from the posting event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BountyInfo {
    /// Its id.
    pub id: u64,
    /// Who posted it.
    pub poster: Address,
    /// The dataset.
    pub dataset_id: u64,
    /// The snapshot to train on.
    pub snapshot_root: B256,
    /// The model spec as posted (empty if its event was not found).
    pub model_spec: String,
    /// keccak256 of the model spec.
    pub model_spec_hash: B256,
    /// Reward in wei.
    #[serde(with = "u256_dec")]
    pub reward: U256,
    /// Stake in wei.
    #[serde(with = "u256_dec")]
    pub stake: U256,
    /// Challenge window in seconds.
    pub window: u64,
    /// Its state.
    pub status: BountyStatus,
    /// The claim pending or disputed on it, if any.
    pub active_claim: Option<u64>,
    /// Block it was posted in.
    pub posted_block: u64,
}

/// A posted bounty.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Posted {
    /// The new bounty's id.
    pub bounty_id: u64,
    /// The transaction.
    pub tx: TxRecord,
}

/// Deploys a `TrainingMarket` serving `registry`.
pub async fn deploy_market(chain: &Chain, registry: Address) -> Result<(Market, TxRecord)> {
    chain.require_sender("deploy TrainingMarket")?;
    crate::deploy::check_registry(chain, registry).await?;
    let p = chain.checked().await?;
    let tx = chain
        .send(
            "deploy TrainingMarket",
            TrainingMarket::deploy_builder(p, registry),
        )
        .await?;
    let address = tx.contract_address.ok_or_else(|| DaoError::Deploy {
        contract: "TrainingMarket".to_owned(),
        detail: format!("the receipt of {} names no contract address", tx.tx_hash),
    })?;
    Ok((
        Market {
            address,
            start_block: tx.block,
        },
        tx,
    ))
}

/// Checks that `market` is a `TrainingMarket` on this chain; returns the registry it serves.
pub async fn check_market(chain: &Chain, market: Address) -> Result<Address> {
    let p = chain.checked().await?;
    let code = p
        .get_code_at(market)
        .await
        .map_err(|e| chain.rpc_error("reading the market's code", e))?;
    let not_market = |detail: String| DaoError::Deploy {
        contract: "TrainingMarket".to_owned(),
        detail,
    };
    if code.is_empty() {
        return Err(not_market(format!(
            "there is no contract at {market} on chain {}; check the address and the chain",
            chain.chain_id()
        )));
    }
    TrainingMarket::new(market, p)
        .registry()
        .call()
        .await
        .map_err(|e| {
            not_market(format!(
                "{market} does not answer like a TrainingMarket: {e}"
            ))
        })
}

/// Posts a bounty, escrowing `params.reward` from the sender.
pub async fn post_bounty(chain: &Chain, market: Address, params: &BountyParams) -> Result<Posted> {
    chain.require_sender("post bounty")?;
    let bad = |what: &str, reason: String| {
        Err(DaoError::InvalidParam {
            what: what.to_owned(),
            reason,
        })
    };
    if params.reward.is_zero() {
        return bad("reward", "it must be more than zero".to_owned());
    }
    if params.window == 0 || params.window > 365 * 24 * 3600 {
        return bad(
            "challenge window",
            format!("{} s; it must be 1 s to one year", params.window),
        );
    }
    if params.model_spec.trim().is_empty() {
        return bad("model spec", "it must not be empty".to_owned());
    }
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market, p);
    let call = m
        .postBounty(
            U256::from(params.dataset_id),
            params.snapshot_root,
            params.model_spec.clone(),
            params.stake,
            U256::from(params.window),
        )
        .value(params.reward);
    let (tx, receipt) = chain.send_with_receipt("post bounty", call).await?;
    let bounty_id = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<TrainingMarket::BountyPosted>().ok())
        .map(|l| l.inner.data.bountyId.saturating_to())
        .ok_or_else(|| DaoError::Deploy {
            contract: "TrainingMarket".to_owned(),
            detail: "posting succeeded but emitted no BountyPosted event".to_owned(),
        })?;
    Ok(Posted { bounty_id, tx })
}

/// Cancels an open bounty of the sender's and refunds its reward.
pub async fn cancel_bounty(chain: &Chain, market: Address, bounty_id: u64) -> Result<TxRecord> {
    chain.require_sender("cancel bounty")?;
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market, p);
    chain
        .send("cancel bounty", m.cancelBounty(U256::from(bounty_id)))
        .await
}

/// One bounty, with its model spec.
pub async fn bounty(chain: &Chain, market: &Market, bounty_id: u64) -> Result<BountyInfo> {
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market.address, p);
    let b = m
        .bounty(U256::from(bounty_id))
        .call()
        .await
        .map_err(|e| chain.contract_error("reading the bounty", e))?;
    let posted = posted_events(chain, market, Some(bounty_id)).await?;
    let (spec, block) = posted
        .into_iter()
        .find(|(_, ev)| ev.bountyId == U256::from(bounty_id))
        .map(|(block, ev)| (ev.modelSpec, block))
        .unwrap_or_default();
    let active: u64 = b.activeClaim.saturating_to();
    Ok(BountyInfo {
        id: bounty_id,
        poster: b.poster,
        dataset_id: b.datasetId.saturating_to(),
        snapshot_root: b.snapshotRoot,
        model_spec: spec,
        model_spec_hash: b.modelSpecHash,
        reward: b.reward,
        stake: b.stake,
        window: b.window.saturating_to(),
        status: BountyStatus::from_u8(b.status),
        active_claim: (active != 0).then_some(active),
        posted_block: block,
    })
}

/// Every bounty of the market, oldest first; only those for `dataset_id` when given.
pub async fn bounties(
    chain: &Chain,
    market: &Market,
    dataset_id: Option<u64>,
) -> Result<Vec<BountyInfo>> {
    let posted = posted_events(chain, market, None).await?;
    let mut out = Vec::with_capacity(posted.len());
    let p = chain.checked().await?;
    let m = TrainingMarket::new(market.address, p);
    for (block, ev) in posted {
        let id: u64 = ev.bountyId.saturating_to();
        if dataset_id.is_some_and(|d| U256::from(d) != ev.datasetId) {
            continue;
        }
        let b = m
            .bounty(ev.bountyId)
            .call()
            .await
            .map_err(|e| chain.contract_error("reading a bounty", e))?;
        let active: u64 = b.activeClaim.saturating_to();
        out.push(BountyInfo {
            id,
            poster: b.poster,
            dataset_id: b.datasetId.saturating_to(),
            snapshot_root: b.snapshotRoot,
            model_spec: ev.modelSpec,
            model_spec_hash: b.modelSpecHash,
            reward: b.reward,
            stake: b.stake,
            window: b.window.saturating_to(),
            status: BountyStatus::from_u8(b.status),
            active_claim: (active != 0).then_some(active),
            posted_block: block,
        });
    }
    Ok(out)
}

/// An amount of ETH as typed (`1.5`, `0.01`, or `250wei` for wei), in wei.
pub fn parse_eth(text: &str) -> Result<U256> {
    let t = text.trim();
    let bad = |why: String| DaoError::InvalidParam {
        what: "amount".to_owned(),
        reason: format!("`{text}`: {why}; give ETH like `1.5` or `0.01`, or wei like `250wei`"),
    };
    if let Some(wei) = t.strip_suffix("wei") {
        return wei.trim().parse::<U256>().map_err(|e| bad(e.to_string()));
    }
    let t = t
        .strip_suffix("eth")
        .or_else(|| t.strip_suffix("ETH"))
        .unwrap_or(t)
        .trim();
    alloy::primitives::utils::parse_ether(t).map_err(|e| bad(e.to_string()))
}

/// `wei` as ETH with no trailing zeros, e.g. `1.25`.
pub fn format_eth(wei: U256) -> String {
    let s = alloy::primitives::utils::format_ether(wei);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// keccak256 of a model spec, as the market stores it.
pub fn model_spec_hash(spec: &str) -> B256 {
    keccak256(spec.as_bytes())
}

/// An account's ETH balance in wei.
pub async fn balance(chain: &Chain, who: Address) -> Result<U256> {
    let p = chain.checked().await?;
    p.get_balance(who)
        .await
        .map_err(|e| chain.rpc_error("reading a balance", e))
}

async fn posted_events(
    chain: &Chain,
    market: &Market,
    bounty_id: Option<u64>,
) -> Result<Vec<(u64, TrainingMarket::BountyPosted)>> {
    let to = chain.block_number().await?;
    let mut filter = Filter::new()
        .address(market.address)
        .event_signature(TrainingMarket::BountyPosted::SIGNATURE_HASH);
    if let Some(id) = bounty_id {
        filter = filter.topic1(B256::from(U256::from(id)));
    }
    let logs = chain
        .logs("listing bounties", &filter, market.start_block, to)
        .await?;
    Ok(logs
        .iter()
        .filter_map(|l| {
            let block = l.block_number.unwrap_or_default();
            l.log_decode::<TrainingMarket::BountyPosted>()
                .ok()
                .map(|d| (block, d.inner.data))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_and_print_in_eth() {
        let milli = U256::from(10u64).pow(U256::from(15u64));
        assert_eq!(parse_eth("1.5").unwrap(), milli * U256::from(1500));
        assert_eq!(parse_eth("0.25 eth").unwrap(), milli * U256::from(250));
        assert_eq!(parse_eth("250wei").unwrap(), U256::from(250));
        assert!(
            parse_eth("lots")
                .unwrap_err()
                .to_string()
                .contains("`lots`")
        );
        assert_eq!(format_eth(milli * U256::from(1250)), "1.25");
        assert_eq!(format_eth(milli * U256::from(2000)), "2");
        assert_eq!(format_eth(U256::ZERO), "0");
    }
}
