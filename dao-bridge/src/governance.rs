//! A dataset's governance: delegate votes, propose a new head, vote, queue, execute, and list
//! proposals with their state, votes, quorum and deadlines.
//!
//! Every function checks the chain id first (through [`Chain`]).

use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use serde::{Deserialize, Serialize};

use crate::bindings::{DatasetGovernor, DatasetRegistry, DatasetToken, TimelockController};
use crate::chain::{Chain, TxRecord};
use crate::deploy::Deployment;
use crate::error::{DaoError, Result};
use crate::registry::{self, AnchoredHead};

/// A head to anchor: snapshot root, commit id and where to fetch the data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadUpdate {
    /// BLAKE3 snapshot root.
    pub root: B256,
    /// colony commit id (a git object id, 20 bytes).
    pub commit: FixedBytes<20>,
    /// Where to fetch the data (an iroh ticket, a URL, …); may be empty.
    pub locator: String,
}

impl HeadUpdate {
    /// A head from raw bytes, as the store hands them out.
    pub fn new(root: [u8; 32], commit: [u8; 20], locator: impl Into<String>) -> Self {
        Self {
            root: B256::from(root),
            commit: FixedBytes::from(commit),
            locator: locator.into(),
        }
    }
}

/// The state of a proposal, as the Governor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposalState {
    /// Created; the vote has not opened yet (voting delay).
    Pending,
    /// The vote is open.
    Active,
    /// Cancelled.
    Canceled,
    /// The vote closed without a majority or quorum.
    Defeated,
    /// The vote passed; it can be queued.
    Succeeded,
    /// Queued in the timelock; it can be executed after its ETA.
    Queued,
    /// Not executed in time.
    Expired,
    /// Executed: the head moved.
    Executed,
    /// A state number this crate does not know.
    Unknown,
}

impl ProposalState {
    /// From the Governor's enum number.
    pub fn from_u8(n: u8) -> Self {
        match n {
            0 => Self::Pending,
            1 => Self::Active,
            2 => Self::Canceled,
            3 => Self::Defeated,
            4 => Self::Succeeded,
            5 => Self::Queued,
            6 => Self::Expired,
            7 => Self::Executed,
            _ => Self::Unknown,
        }
    }
}

impl std::fmt::Display for ProposalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pending => "Pending",
            Self::Active => "Active",
            Self::Canceled => "Canceled",
            Self::Defeated => "Defeated",
            Self::Succeeded => "Succeeded",
            Self::Queued => "Queued",
            Self::Expired => "Expired",
            Self::Executed => "Executed",
            Self::Unknown => "Unknown",
        })
    }
}

/// A vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Support {
    /// Against the proposal.
    Against,
    /// For the proposal.
    For,
    /// Counts toward quorum only.
    Abstain,
}

impl Support {
    fn as_u8(self) -> u8 {
        match self {
            Self::Against => 0,
            Self::For => 1,
            Self::Abstain => 2,
        }
    }
}

impl std::str::FromStr for Support {
    type Err = DaoError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "for" | "yes" => Ok(Self::For),
            "against" | "no" => Ok(Self::Against),
            "abstain" => Ok(Self::Abstain),
            _ => Err(DaoError::InvalidParam {
                what: "vote".to_owned(),
                reason: format!("`{s}`; vote `for`, `against` or `abstain`"),
            }),
        }
    }
}

/// Serde for U256 as a decimal string (proposal ids and vote counts read best in decimal).
pub mod u256_dec {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `v` in decimal.
    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Reads a decimal (or `0x` hex) string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<U256>().map_err(serde::de::Error::custom)
    }
}

/// A new proposal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Proposed {
    /// The proposal id (decimal in JSON).
    #[serde(with = "u256_dec")]
    pub proposal_id: U256,
    /// Block at which voting power is counted (the vote opens after it).
    pub vote_start: u64,
    /// Last block of the vote.
    pub vote_end: u64,
    /// The transaction.
    pub tx: TxRecord,
}

/// A cast vote.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Voted {
    /// The voting power counted; zero means the voter had no delegated votes at the snapshot.
    #[serde(with = "u256_dec")]
    pub weight: U256,
    /// The transaction.
    pub tx: TxRecord,
}

/// A queued proposal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Queued {
    /// Earliest time (Unix seconds) it can be executed.
    pub eta: u64,
    /// The transaction.
    pub tx: TxRecord,
}

/// One proposal with its state, votes, quorum and deadlines.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProposalInfo {
    /// The proposal id (decimal in JSON).
    #[serde(with = "u256_dec")]
    pub id: U256,
    /// Who proposed it.
    pub proposer: Address,
    /// Its description.
    pub description: String,
    /// The head it sets, when it is a colony `setHead` proposal for this dataset.
    pub head: Option<HeadUpdate>,
    /// Its state now.
    pub state: ProposalState,
    /// Votes for.
    #[serde(with = "u256_dec")]
    pub votes_for: U256,
    /// Votes against.
    #[serde(with = "u256_dec")]
    pub votes_against: U256,
    /// Votes abstaining.
    #[serde(with = "u256_dec")]
    pub votes_abstain: U256,
    /// For + abstain votes needed.
    #[serde(with = "u256_dec")]
    pub quorum: U256,
    /// Block at which voting power is counted; the vote opens after it.
    pub vote_start: u64,
    /// Last block of the vote.
    pub vote_end: u64,
    /// Earliest execution time (Unix seconds) once queued.
    pub eta: Option<u64>,
    /// Block it was proposed in.
    pub proposed_block: u64,
}

/// What `colony dao status` shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DaoStatus {
    /// The chain id (checked).
    pub chain_id: u64,
    /// Latest block.
    pub block: u64,
    /// Latest block's time (Unix seconds).
    pub timestamp: u64,
    /// The anchored head, if any.
    pub head: Option<AnchoredHead>,
    /// Blocks between proposing and the vote opening.
    pub voting_delay: u64,
    /// Blocks the vote stays open.
    pub voting_period: u64,
    /// Quorum as a percentage of the supply.
    pub quorum_percent: u64,
    /// Seconds between queueing and executing.
    pub timelock_delay: u64,
    /// The sender's current voting power, when a key is loaded.
    #[serde(with = "opt_u256_dec")]
    pub my_votes: Option<U256>,
    /// All proposals, oldest first.
    pub proposals: Vec<ProposalInfo>,
}

mod opt_u256_dec {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<U256>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<U256>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| s.parse::<U256>().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Delegates the sender's votes to `to` (the sender itself when `None`). Voting power counts
/// only once delegated, and only for proposals made after the delegation.
pub async fn delegate(chain: &Chain, dep: &Deployment, to: Option<Address>) -> Result<TxRecord> {
    let me = chain.require_sender("delegate")?;
    let p = chain.checked().await?;
    let token = DatasetToken::new(dep.token, p);
    chain
        .send("delegate", token.delegate(to.unwrap_or(me)))
        .await
}

/// Proposes moving the dataset's head to `head`. An empty `description` gets a generated one.
pub async fn propose_head(
    chain: &Chain,
    dep: &Deployment,
    head: &HeadUpdate,
    description: &str,
) -> Result<Proposed> {
    chain.require_sender("propose")?;
    if head.root == B256::ZERO {
        return Err(DaoError::InvalidParam {
            what: "snapshot root".to_owned(),
            reason: "it is all zeros; propose the root of a committed snapshot".to_owned(),
        });
    }
    let description = if description.trim().is_empty() {
        format!(
            "colony: set the head of dataset {} ({}) to snapshot root {} (commit {})",
            dep.dataset_id, dep.name, head.root, head.commit
        )
    } else {
        description.to_owned()
    };
    let calldata = set_head_calldata(dep.dataset_id, head);
    propose_call(chain, dep, dep.registry, calldata, &description).await
}

/// Proposes that the dataset's timelock call `target` with `calldata` (no ETH), described by
/// `description`; refuses a proposal identical to an existing one before any transaction.
/// Heads go through [`propose_head`]; the training market's dispute resolutions through
/// [`crate::market::propose_resolution`].
pub(crate) async fn propose_call(
    chain: &Chain,
    dep: &Deployment,
    target: Address,
    calldata: Bytes,
    description: &str,
) -> Result<Proposed> {
    let p = chain.checked().await?;
    let governor = DatasetGovernor::new(dep.governor, p);
    let targets = vec![target];
    let values = vec![U256::ZERO];
    let calldatas = vec![calldata];
    // Refuse a duplicate up front with a clear message (the Governor would revert).
    let id = governor
        .hashProposal(
            targets.clone(),
            values.clone(),
            calldatas.clone(),
            keccak256(description.as_bytes()),
        )
        .call()
        .await
        .map_err(|e| chain.contract_error("propose", e))?;
    let existing = governor
        .proposalSnapshot(id)
        .call()
        .await
        .map_err(|e| chain.contract_error("propose", e))?;
    if existing != U256::ZERO {
        return Err(DaoError::InvalidParam {
            what: "proposal".to_owned(),
            reason: format!(
                "an identical proposal (same action and description) already exists: {id}; \
                 vote on it, or give another description"
            ),
        });
    }
    let (tx, receipt) = chain
        .send_with_receipt(
            "propose",
            governor.propose(targets, values, calldatas, description.to_owned()),
        )
        .await?;
    let created = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<DatasetGovernor::ProposalCreated>().ok())
        .ok_or_else(|| DaoError::Deploy {
            contract: "DatasetGovernor".to_owned(),
            detail: "propose succeeded but emitted no ProposalCreated event".to_owned(),
        })?;
    let ev = created.inner.data;
    Ok(Proposed {
        proposal_id: ev.proposalId,
        vote_start: ev.voteStart.saturating_to(),
        vote_end: ev.voteEnd.saturating_to(),
        tx,
    })
}

/// Casts the sender's vote on proposal `id`, with an optional reason.
pub async fn vote(
    chain: &Chain,
    dep: &Deployment,
    proposal: impl Into<ProposalRef>,
    support: Support,
    reason: Option<&str>,
) -> Result<Voted> {
    chain.require_sender("vote")?;
    let id = match proposal.into() {
        ProposalRef::Id(id) => id,
        ProposalRef::Typed(q) => resolve_proposal(chain, dep, &q).await?,
    };
    let p = chain.checked().await?;
    let governor = DatasetGovernor::new(dep.governor, p);
    let (tx, receipt) = match reason {
        Some(r) if !r.is_empty() => {
            chain
                .send_with_receipt(
                    "vote",
                    governor.castVoteWithReason(id, support.as_u8(), r.to_owned()),
                )
                .await?
        }
        _ => {
            chain
                .send_with_receipt("vote", governor.castVote(id, support.as_u8()))
                .await?
        }
    };
    let weight = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<DatasetGovernor::VoteCast>().ok())
        .map(|l| l.inner.data.weight)
        .unwrap_or_default();
    Ok(Voted { weight, tx })
}

/// Queues a passed proposal in the timelock.
pub async fn queue(
    chain: &Chain,
    dep: &Deployment,
    proposal: impl Into<ProposalRef>,
) -> Result<Queued> {
    chain.require_sender("queue")?;
    let (_, created) = find_ref(chain, dep, proposal.into()).await?;
    let id = created.proposalId;
    let p = chain.checked().await?;
    let governor = DatasetGovernor::new(dep.governor, p);
    let call = governor.queue(
        created.targets.clone(),
        created.values.clone(),
        created.calldatas.clone(),
        keccak256(created.description.as_bytes()),
    );
    let tx = chain.send("queue", call).await?;
    let eta = governor
        .proposalEta(id)
        .call()
        .await
        .map_err(|e| chain.contract_error("queue", e))?;
    Ok(Queued {
        eta: eta.saturating_to(),
        tx,
    })
}

/// Executes a queued proposal whose timelock delay has passed; the head moves.
pub async fn execute(
    chain: &Chain,
    dep: &Deployment,
    proposal: impl Into<ProposalRef>,
) -> Result<TxRecord> {
    chain.require_sender("execute")?;
    let (_, created) = find_ref(chain, dep, proposal.into()).await?;
    let id = created.proposalId;
    let p = chain.checked().await?;
    let governor = DatasetGovernor::new(dep.governor, p);
    let state = governor
        .state(id)
        .call()
        .await
        .map_err(|e| chain.contract_error("execute", e))?;
    if ProposalState::from_u8(state) == ProposalState::Queued {
        let eta: u64 = governor
            .proposalEta(id)
            .call()
            .await
            .map_err(|e| chain.contract_error("execute", e))?
            .saturating_to();
        let now = chain.latest_timestamp().await?;
        if now < eta {
            return Err(DaoError::NotYet {
                detail: format!(
                    "proposal {id} is queued but its timelock delay has not passed: it can be \
                     executed at {eta} (Unix time), the chain is at {now}; try again in {} s",
                    eta - now
                ),
            });
        }
    }
    let call = governor.execute(
        created.targets.clone(),
        created.values.clone(),
        created.calldatas.clone(),
        keccak256(created.description.as_bytes()),
    );
    chain.send("execute", call).await
}

/// All proposals of this dataset's governor, oldest first, with state, votes, quorum and deadlines.
pub async fn proposals(chain: &Chain, dep: &Deployment) -> Result<Vec<ProposalInfo>> {
    let created = all_created(chain, dep).await?;
    let mut out = Vec::with_capacity(created.len());
    for (block, ev) in created {
        out.push(info(chain, dep, block, ev).await?);
    }
    Ok(out)
}

/// One proposal, found by its full id (decimal or 0x-hex) or a unique leading part of its
/// decimal id (at least 4 digits), as a user types it.
pub async fn proposal(
    chain: &Chain,
    dep: &Deployment,
    proposal: impl Into<ProposalRef>,
) -> Result<ProposalInfo> {
    let (block, ev) = find_ref(chain, dep, proposal.into()).await?;
    info(chain, dep, block, ev).await
}

/// A proposal as the CLI names it: its full id, or what the user typed (see
/// [`resolve_proposal`]). `vote`, `queue`, `execute` and `proposal` take either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalRef {
    /// The full id.
    Id(U256),
    /// Typed by a user: a full id in decimal or 0x-hex, or a unique leading part (at least
    /// 4 digits) of a decimal id.
    Typed(String),
}

impl From<U256> for ProposalRef {
    fn from(id: U256) -> Self {
        Self::Id(id)
    }
}

impl From<&str> for ProposalRef {
    fn from(s: &str) -> Self {
        Self::Typed(s.to_owned())
    }
}

impl From<&String> for ProposalRef {
    fn from(s: &String) -> Self {
        Self::Typed(s.clone())
    }
}

impl From<String> for ProposalRef {
    fn from(s: String) -> Self {
        Self::Typed(s)
    }
}

async fn find_ref(
    chain: &Chain,
    dep: &Deployment,
    r: ProposalRef,
) -> Result<(u64, DatasetGovernor::ProposalCreated)> {
    let id = match r {
        ProposalRef::Id(id) => id,
        ProposalRef::Typed(q) => resolve_proposal(chain, dep, &q).await?,
    };
    find_created(chain, dep, id).await
}

/// The full proposal id for what a user typed: a full id (decimal or 0x-hex) or a unique
/// leading part (at least 4 digits) of a decimal id.
pub async fn resolve_proposal(chain: &Chain, dep: &Deployment, query: &str) -> Result<U256> {
    let q = query.trim();
    let unknown = || DaoError::UnknownProposal {
        query: q.to_owned(),
        governor: dep.governor,
    };
    if (q.len() >= 4 && q.bytes().all(|b| b.is_ascii_digit())) || q.starts_with("0x") {
        let exact = q.parse::<U256>().ok();
        let created = all_created(chain, dep).await?;
        if let Some(id) = exact
            && created.iter().any(|(_, c)| c.proposalId == id)
        {
            return Ok(id);
        }
        if q.starts_with("0x") {
            return Err(unknown());
        }
        let matches: Vec<U256> = created
            .iter()
            .map(|(_, c)| c.proposalId)
            .filter(|id| id.to_string().starts_with(q))
            .collect();
        return match matches.len() {
            0 => Err(unknown()),
            1 => Ok(matches[0]),
            n => Err(DaoError::AmbiguousProposal {
                query: q.to_owned(),
                matches: n,
            }),
        };
    }
    Err(unknown())
}

/// Everything `colony dao status` shows: chain position, anchored head, governance settings,
/// the sender's votes and every proposal.
pub async fn status(chain: &Chain, dep: &Deployment) -> Result<DaoStatus> {
    let p = chain.checked().await?;
    let governor = DatasetGovernor::new(dep.governor, p);
    let timelock = TimelockController::new(dep.timelock, p);
    let err = |e| chain.contract_error("reading the governance settings", e);
    let voting_delay = governor
        .votingDelay()
        .call()
        .await
        .map_err(err)?
        .saturating_to();
    let voting_period = governor
        .votingPeriod()
        .call()
        .await
        .map_err(err)?
        .saturating_to();
    let quorum_percent = governor
        .quorumNumerator_1()
        .call()
        .await
        .map_err(err)?
        .saturating_to();
    let timelock_delay = timelock
        .getMinDelay()
        .call()
        .await
        .map_err(err)?
        .saturating_to();
    let my_votes = match chain.sender() {
        Some(me) => Some(
            DatasetToken::new(dep.token, p)
                .getVotes(me)
                .call()
                .await
                .map_err(err)?,
        ),
        None => None,
    };
    let head = match registry::head(chain, dep.registry, dep.dataset_id).await {
        Ok(h) => Some(h),
        Err(DaoError::NoHead { .. }) => None,
        Err(e) => return Err(e),
    };
    let proposals = proposals(chain, dep).await?;
    Ok(DaoStatus {
        chain_id: chain.chain_id(),
        block: chain.block_number().await?,
        timestamp: chain.latest_timestamp().await?,
        head,
        voting_delay,
        voting_period,
        quorum_percent,
        timelock_delay,
        my_votes,
        proposals,
    })
}

fn set_head_calldata(dataset_id: u64, head: &HeadUpdate) -> Bytes {
    DatasetRegistry::setHeadCall {
        id: U256::from(dataset_id),
        root: head.root,
        commit: head.commit,
        locator: head.locator.clone(),
    }
    .abi_encode()
    .into()
}

async fn all_created(
    chain: &Chain,
    dep: &Deployment,
) -> Result<Vec<(u64, DatasetGovernor::ProposalCreated)>> {
    let to = chain.block_number().await?;
    let filter = Filter::new()
        .address(dep.governor)
        .event_signature(DatasetGovernor::ProposalCreated::SIGNATURE_HASH);
    let logs = chain
        .logs("listing proposals", &filter, dep.start_block, to)
        .await?;
    Ok(logs
        .iter()
        .filter_map(|l| {
            let block = l.block_number.unwrap_or_default();
            l.log_decode::<DatasetGovernor::ProposalCreated>()
                .ok()
                .map(|d| (block, d.inner.data))
        })
        .collect())
}

async fn find_created(
    chain: &Chain,
    dep: &Deployment,
    id: U256,
) -> Result<(u64, DatasetGovernor::ProposalCreated)> {
    all_created(chain, dep)
        .await?
        .into_iter()
        .find(|(_, c)| c.proposalId == id)
        .ok_or_else(|| DaoError::UnknownProposal {
            query: id.to_string(),
            governor: dep.governor,
        })
}

async fn info(
    chain: &Chain,
    dep: &Deployment,
    block: u64,
    ev: DatasetGovernor::ProposalCreated,
) -> Result<ProposalInfo> {
    let p = chain.checked().await?;
    let governor = DatasetGovernor::new(dep.governor, p);
    let err = |e| chain.contract_error("reading a proposal", e);
    let id = ev.proposalId;
    let state = ProposalState::from_u8(governor.state(id).call().await.map_err(err)?);
    let votes = governor.proposalVotes(id).call().await.map_err(err)?;
    let vote_start: u64 = ev.voteStart.saturating_to();
    // quorum() needs a past timepoint; before the snapshot, show the quorum as of now.
    let latest = p
        .get_block_number()
        .await
        .map_err(|e| chain.rpc_error("reading the block number", e))?;
    let at = U256::from(vote_start.min(latest.saturating_sub(1)));
    let quorum = governor.quorum(at).call().await.map_err(err)?;
    let eta: u64 = governor
        .proposalEta(id)
        .call()
        .await
        .map_err(err)?
        .saturating_to();
    let head = decode_head(dep, &ev);
    Ok(ProposalInfo {
        id,
        proposer: ev.proposer,
        description: ev.description,
        head,
        state,
        votes_for: votes.forVotes,
        votes_against: votes.againstVotes,
        votes_abstain: votes.abstainVotes,
        quorum,
        vote_start,
        vote_end: ev.voteEnd.saturating_to(),
        eta: (eta != 0).then_some(eta),
        proposed_block: block,
    })
}

fn decode_head(dep: &Deployment, ev: &DatasetGovernor::ProposalCreated) -> Option<HeadUpdate> {
    if ev.targets.len() != 1 || ev.targets[0] != dep.registry {
        return None;
    }
    let call = DatasetRegistry::setHeadCall::abi_decode(ev.calldatas.first()?).ok()?;
    (call.id == U256::from(dep.dataset_id)).then_some(HeadUpdate {
        root: call.root,
        commit: call.commit,
        locator: call.locator,
    })
}
