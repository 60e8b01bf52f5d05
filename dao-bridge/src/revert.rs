//! Decoding of revert data into errors that say what happened and what to do.

use alloy::primitives::{B256, U256};
use alloy::sol_types::{Panic, Revert, SolError, SolInterface};

use crate::bindings::DatasetGovernor::DatasetGovernorErrors as Gov;
use crate::bindings::DatasetRegistry::DatasetRegistryErrors as Reg;
use crate::bindings::DatasetToken::DatasetTokenErrors as Tok;
use crate::bindings::TimelockController::TimelockControllerErrors as Tl;
use crate::bindings::TrainingMarket::TrainingMarketErrors as Mkt;
use crate::error::DaoError;
use crate::governance::ProposalState;

/// Decodes `data` (the revert data of a failed call) into a [`DaoError`] for `action`.
pub(crate) fn decode(action: &str, data: &[u8]) -> DaoError {
    if let Ok(Reg::NotDatasetGovernance(e)) = Reg::abi_decode(data) {
        return DaoError::NotDatasetGovernance {
            dataset_id: e.id,
            caller: e.caller,
            governance: e.governance,
        };
    }
    DaoError::Reverted {
        action: action.to_owned(),
        reason: reason(data),
    }
}

/// A human sentence for the revert data.
fn reason(data: &[u8]) -> String {
    if let Ok(e) = Reg::abi_decode(data) {
        return match e {
            Reg::NotDatasetGovernance(e) => format!(
                "{} is not the governance of dataset {} (its timelock {} is)",
                e.caller, e.id, e.governance
            ),
            Reg::UnknownDataset(e) => format!("the registry has no dataset {}", e.id),
            Reg::ZeroGovernance(_) => "the governance address must not be zero".to_owned(),
            Reg::EmptyRoot(_) => "the snapshot root must not be all zeros".to_owned(),
            Reg::TooManyDatasets(_) => "the registry is full; deploy a new one".to_owned(),
        };
    }
    if let Ok(e) = Mkt::abi_decode(data) {
        return market_reason(e);
    }
    if let Ok(e) = Gov::abi_decode(data) {
        return match e {
            Gov::GovernorUnexpectedProposalState(e) => {
                let expected = expected_states(e.expectedStates);
                format!(
                    "proposal {} is {}, but this needs it to be {}{}",
                    e.proposalId,
                    ProposalState::from_u8(e.current),
                    expected.join(" or "),
                    hint(ProposalState::from_u8(e.current), &expected)
                )
            }
            Gov::GovernorAlreadyCastVote(e) => {
                format!("{} has already voted on this proposal", e.voter)
            }
            Gov::GovernorNonexistentProposal(e) => {
                format!("the governor has no proposal {}", e.proposalId)
            }
            Gov::GovernorInsufficientProposerVotes(e) => format!(
                "{} has {} votes but proposing needs {}; delegate votes to it first",
                e.proposer, e.votes, e.threshold
            ),
            Gov::GovernorInvalidVoteType(_) => {
                "the vote must be for, against or abstain".to_owned()
            }
            Gov::GovernorOnlyExecutor(e) => {
                format!(
                    "{} is not the governor's executor (its timelock)",
                    e.account
                )
            }
            other => format!("{other:?}"),
        };
    }
    if let Ok(e) = Tl::abi_decode(data) {
        return match e {
            Tl::TimelockUnexpectedOperationState(e) => format!(
                "the timelock operation {} is not in state {} (its delay may not have passed yet; \
                 wait until the proposal's ETA)",
                e.operationId,
                timelock_states(e.expectedStates)
            ),
            Tl::TimelockInsufficientDelay(e) => format!(
                "a delay of {} s is below the timelock's minimum of {} s",
                e.delay, e.minDelay
            ),
            Tl::AccessControlUnauthorizedAccount(e) => format!(
                "{} lacks the timelock role {} (only the governor may queue proposals)",
                e.account, e.neededRole
            ),
            other => format!("{other:?}"),
        };
    }
    if let Ok(e) = Tok::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(r) = Revert::abi_decode(data) {
        return r.reason;
    }
    if let Ok(p) = Panic::abi_decode(data) {
        return format!("panic: {p}");
    }
    format!(
        "unrecognised revert data 0x{}",
        alloy::primitives::hex::encode(data)
    )
}

/// A human sentence for a `TrainingMarket` error (its `NotDatasetGovernance` shares the
/// registry's signature and is decoded above; `market::resolve_direct` rewords it).
fn market_reason(e: Mkt) -> String {
    let status = |s: u8| crate::market::ClaimStatus::name(s);
    let bounty_status = |s: u8| crate::market::BountyStatus::name(s);
    match e {
        Mkt::UnknownBounty(e) => format!("the market has no bounty {}", e.bountyId),
        Mkt::UnknownClaim(e) => format!("the market has no claim {}", e.claimId),
        Mkt::ZeroReward(_) => "a bounty needs a reward above zero".to_owned(),
        Mkt::AmountTooLarge(e) => format!("{} wei is more than the market handles", e.amount),
        Mkt::EmptyRoot(_) => "the snapshot root must not be all zeros".to_owned(),
        Mkt::InvalidWindow(e) => format!(
            "a challenge window of {} s is not allowed; it must be 1 to {} s",
            e.window, e.max
        ),
        Mkt::BountyNotOpen(e) => format!(
            "bounty {} is not open: it is {}",
            e.bountyId,
            bounty_status(e.status)
        ),
        Mkt::WrongStake(e) => format!(
            "bounty {} requires a stake of exactly {} wei, but {} wei was sent",
            e.bountyId, e.required, e.sent
        ),
        Mkt::EmptyClaim(_) => {
            "a claim needs non-zero record hash, weights hash and chain root, and at least one step"
                .to_owned()
        }
        Mkt::StepOutOfRange(e) => format!(
            "claim {} has steps 0 to {}; step {} is not one of them",
            e.claimId,
            e.steps.saturating_sub(U256::from(1)),
            e.step
        ),
        Mkt::ChallengeWindowClosed(e) => format!(
            "the challenge window of claim {} closed at {} (Unix time); the chain is at {}",
            e.claimId, e.deadline, e.now_
        ),
        Mkt::ChallengeWindowOpen(e) => format!(
            "claim {} is still open to challenge until {} (Unix time; the chain is at {}); \
             finalize it after that",
            e.claimId, e.deadline, e.now_
        ),
        Mkt::ClaimNotPending(e) => {
            format!("claim {} is {}, not pending", e.claimId, status(e.status))
        }
        Mkt::ClaimNotChallenged(e) => format!(
            "claim {} is {}; only a challenged claim can be resolved",
            e.claimId,
            status(e.status)
        ),
        Mkt::NotDatasetGovernance(e) => format!(
            "{} is not the governance of dataset {} (its timelock {} is)",
            e.caller, e.datasetId, e.governance
        ),
        Mkt::NotPoster(e) => format!(
            "only bounty {}'s poster {} may cancel it, not {}",
            e.bountyId, e.poster, e.caller
        ),
        Mkt::TransferFailed(e) => format!("paying {} wei to {} failed", e.amount, e.to),
    }
}

/// The Governor's `expectedStates` bitmap as state names.
fn expected_states(bits: B256) -> Vec<String> {
    let bits = U256::from_be_bytes(bits.0);
    (0u8..8)
        .filter(|i| bits.bit(*i as usize))
        .map(|i| ProposalState::from_u8(i).to_string())
        .collect()
}

/// The Timelock's `expectedStates` bitmap as state names.
fn timelock_states(bits: B256) -> String {
    let bits = U256::from_be_bytes(bits.0);
    let names = ["Unset", "Waiting", "Ready", "Done"];
    (0..4)
        .filter(|i| bits.bit(*i))
        .map(|i| names[i])
        .collect::<Vec<_>>()
        .join(" or ")
}

/// What to do when a proposal is in the wrong state.
fn hint(current: ProposalState, expected: &[String]) -> &'static str {
    let wants = |s: ProposalState| expected.iter().any(|e| *e == s.to_string());
    match current {
        ProposalState::Pending if wants(ProposalState::Active) => {
            "; the vote has not opened yet, wait for the voting delay to pass"
        }
        ProposalState::Active if wants(ProposalState::Succeeded) => {
            "; the vote is still open, wait for its deadline"
        }
        ProposalState::Defeated => {
            "; the proposal did not pass (not enough for votes or no quorum)"
        }
        ProposalState::Succeeded if wants(ProposalState::Queued) => "; queue it first",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;

    #[test]
    fn not_dataset_governance_names_both_addresses() {
        let caller = Address::repeat_byte(0x11);
        let gov = Address::repeat_byte(0x22);
        let data = crate::bindings::DatasetRegistry::NotDatasetGovernance {
            id: U256::from(7),
            caller,
            governance: gov,
        }
        .abi_encode();
        let msg = decode("set head", &data).to_string();
        assert!(msg.contains(&caller.to_string()), "{msg}");
        assert!(msg.contains(&gov.to_string()), "{msg}");
        assert!(msg.contains("dataset 7"), "{msg}");
    }

    #[test]
    fn unexpected_state_is_spelled_out() {
        let data = crate::bindings::DatasetGovernor::GovernorUnexpectedProposalState {
            proposalId: U256::from(5),
            current: 0,
            expectedStates: B256::from(U256::from(1u8) << 1),
        }
        .abi_encode();
        let msg = decode("vote", &data).to_string();
        assert!(
            msg.contains("Pending") && msg.contains("Active") && msg.contains("voting delay"),
            "{msg}"
        );
    }
}
