// SPDX-License-Identifier: Apache-2.0 OR MIT
pragma solidity ^0.8.24;

import {DatasetRegistry} from "./DatasetRegistry.sol";

/// @title TrainingMarket
/// @notice Rewards for training a model on a pinned snapshot of a dataset, paid against a
/// staked, challengeable claim.
///
/// The flow:
/// 1. Anyone posts a bounty: ETH escrowed (`msg.value`) for a (dataset, snapshot root, model
///    spec) triple, with a challenge window and the stake a claimant (and a challenger) must
///    put up.
/// 2. A trainer claims it with the hash of its run record, the hash of the final weights,
///    the root of the per-step hash chain and the number of steps, staking exactly the
///    bounty's stake. A bounty carries **one claim at a time**: while a claim is pending or
///    disputed the bounty takes no other claim, so there is never a race for the reward.
/// 3. During the window (counted from the claim) anyone may challenge the claim, naming the
///    step they say is wrong (0-based, below the claimed step count) and counter-staking the
///    same amount. Each claim can be challenged once; the first challenger is the one the
///    dataset's governance judges against.
/// 4. Unchallenged, the claim is final once the window has passed: `finalize` (callable by
///    anyone) pays the claimant the reward plus its stake back.
/// 5. Challenged, the dataset's governance (its timelock in the `DatasetRegistry`, read at
///    the time of the call, so a governance hand-over is followed) decides after re-executing
///    the disputed step: `resolve(claimId, challengerWins)`. The loser's stake is slashed to
///    the winner. An upheld claimant gets the reward, its stake and the challenger's stake; a
///    winning challenger gets both stakes and the bounty reopens for the next claim.
///
/// A poster may cancel a bounty that has no claim pending and take the reward back.
///
/// Trust and limits: a disputed claim waits for the dataset's governance; while it waits,
/// the reward and both stakes stay escrowed (there is no timeout, since the DAO is the
/// judge of last resort). A stake of zero is allowed but makes challenges free, so any
/// claim can then be pushed to a DAO vote at no cost; posters should ask for a stake.
/// Amounts are at most 2^96 - 1 wei.
/// @dev Gas: a bounty takes four storage slots, a claim five; model specs live in events.
/// ETH is pushed to recipients after all state is written (checks-effects-interactions); a
/// recipient that refuses ETH only blocks its own payment.
contract TrainingMarket {
    /// @notice A bounty's state.
    enum BountyStatus {
        None,
        Open,
        Claimed,
        Paid,
        Cancelled
    }

    /// @notice A claim's state.
    enum ClaimStatus {
        None,
        Pending,
        Challenged,
        Finalized,
        Upheld,
        Rejected
    }

    /// @dev Four slots.
    struct Bounty {
        // slot 0
        address poster;
        uint48 datasetId;
        uint32 window; // seconds a claim stays open to challenge
        BountyStatus status;
        // slot 1
        bytes32 snapshotRoot;
        // slot 2
        bytes32 modelSpecHash;
        // slot 3
        uint96 reward;
        uint96 stake;
        uint48 activeClaim; // 0 when none
    }

    /// @dev Five slots.
    struct Claim {
        // slot 0
        address claimant;
        uint48 bountyId;
        uint40 deadline; // end of the challenge window (unix seconds)
        ClaimStatus status;
        // slot 1..3
        bytes32 recordHash;
        bytes32 weightsHash;
        bytes32 chainRoot;
        // slot 4
        address challenger;
        uint48 steps;
        uint48 disputedStep;
    }

    /// @notice The longest challenge window a bounty may ask for (one year).
    uint32 public constant MAX_WINDOW = 365 days;

    /// @notice The registry whose datasets bounties are posted for, and whose governance
    /// (each dataset's timelock) resolves disputes.
    DatasetRegistry public immutable registry;

    /// @notice Bounties posted so far; ids run from 1 to `bountyCount`.
    uint256 public bountyCount;
    /// @notice Claims made so far; ids run from 1 to `claimCount`.
    uint256 public claimCount;

    mapping(uint256 => Bounty) private _bounties;
    mapping(uint256 => Claim) private _claims;

    /// @notice No bounty has this id.
    error UnknownBounty(uint256 bountyId);
    /// @notice No claim has this id.
    error UnknownClaim(uint256 claimId);
    /// @notice A bounty was posted with no reward.
    error ZeroReward();
    /// @notice An amount does not fit the market's 96-bit amounts.
    error AmountTooLarge(uint256 amount);
    /// @notice The snapshot root of a bounty was all zeros.
    error EmptyRoot();
    /// @notice A challenge window of zero or above `MAX_WINDOW` seconds was asked for.
    error InvalidWindow(uint256 window, uint256 max);
    /// @notice The bounty takes no claim now (it has one pending, was paid or cancelled).
    error BountyNotOpen(uint256 bountyId, BountyStatus status);
    /// @notice The ETH sent is not the stake this bounty requires.
    error WrongStake(uint256 bountyId, uint256 required, uint256 sent);
    /// @notice A claim with a zero record hash, weights hash or chain root, or no steps.
    error EmptyClaim();
    /// @notice The step named in a challenge is not one of the claim's steps (0 to steps - 1).
    error StepOutOfRange(uint256 claimId, uint256 step, uint256 steps);
    /// @notice The claim's challenge window has closed.
    error ChallengeWindowClosed(uint256 claimId, uint256 deadline, uint256 now_);
    /// @notice The claim's challenge window is still open; it cannot be finalized yet.
    error ChallengeWindowOpen(uint256 claimId, uint256 deadline, uint256 now_);
    /// @notice The claim is not pending (it was challenged, finalized or resolved).
    error ClaimNotPending(uint256 claimId, ClaimStatus status);
    /// @notice The claim is not under challenge, so there is nothing to resolve.
    error ClaimNotChallenged(uint256 claimId, ClaimStatus status);
    /// @notice The caller is not the dataset's governance (its timelock in the registry).
    error NotDatasetGovernance(uint256 datasetId, address caller, address governance);
    /// @notice Only the bounty's poster may cancel it.
    error NotPoster(uint256 bountyId, address caller, address poster);
    /// @notice Sending ETH to a recipient failed.
    error TransferFailed(address to, uint256 amount);

    /// @notice A bounty was posted.
    event BountyPosted(
        uint256 indexed bountyId,
        uint256 indexed datasetId,
        address indexed poster,
        bytes32 snapshotRoot,
        bytes32 modelSpecHash,
        string modelSpec,
        uint256 reward,
        uint256 stake,
        uint256 window
    );
    /// @notice A bounty was cancelled by its poster and its reward refunded.
    event BountyCancelled(uint256 indexed bountyId, address indexed poster, uint256 refund);
    /// @notice A bounty takes claims again after its claim was rejected.
    event BountyReopened(uint256 indexed bountyId, uint256 indexed rejectedClaim);
    /// @notice A claim was made on a bounty.
    event Claimed(
        uint256 indexed claimId,
        uint256 indexed bountyId,
        address indexed claimant,
        bytes32 recordHash,
        bytes32 weightsHash,
        bytes32 chainRoot,
        uint256 steps,
        uint256 deadline
    );
    /// @notice A claim was challenged at `step`.
    event Challenged(
        uint256 indexed claimId, uint256 indexed bountyId, address indexed challenger, uint256 step
    );
    /// @notice An unchallenged claim was paid after its window.
    event Finalized(uint256 indexed claimId, uint256 indexed bountyId, address indexed claimant, uint256 paid);
    /// @notice The dataset's governance resolved a disputed claim; `winner` was paid `paid`.
    event Resolved(
        uint256 indexed claimId,
        uint256 indexed bountyId,
        address indexed winner,
        bool challengerWins,
        uint256 paid,
        uint256 slashed
    );

    /// @param registry_ the `DatasetRegistry` whose datasets this market serves
    constructor(DatasetRegistry registry_) {
        registry = registry_;
    }

    /// @notice Posts a bounty for training `modelSpec` on snapshot `snapshotRoot` of dataset
    /// `datasetId`, escrowing `msg.value` as the reward. Claims and challenges must stake
    /// `stake` wei; each claim stays open to challenge for `window` seconds.
    /// @param modelSpec the model specification (kept in the event); its keccak256 is stored
    /// @return bountyId the new bounty's id
    function postBounty(
        uint256 datasetId,
        bytes32 snapshotRoot,
        string calldata modelSpec,
        uint256 stake,
        uint256 window
    ) external payable returns (uint256 bountyId) {
        if (msg.value == 0) revert ZeroReward();
        if (msg.value > type(uint96).max) revert AmountTooLarge(msg.value);
        if (stake > type(uint96).max) revert AmountTooLarge(stake);
        if (snapshotRoot == bytes32(0)) revert EmptyRoot();
        if (window == 0 || window > MAX_WINDOW) revert InvalidWindow(window, MAX_WINDOW);
        registry.dataset(datasetId); // reverts UnknownDataset(datasetId)
        bountyId = ++bountyCount;
        bytes32 specHash = keccak256(bytes(modelSpec));
        _bounties[bountyId] = Bounty({
            poster: msg.sender,
            datasetId: uint48(datasetId),
            window: uint32(window),
            status: BountyStatus.Open,
            snapshotRoot: snapshotRoot,
            modelSpecHash: specHash,
            reward: uint96(msg.value),
            stake: uint96(stake),
            activeClaim: 0
        });
        emit BountyPosted(
            bountyId, datasetId, msg.sender, snapshotRoot, specHash, modelSpec, msg.value, stake, window
        );
    }

    /// @notice Cancels an open bounty (no claim pending) and refunds its reward to the poster.
    function cancelBounty(uint256 bountyId) external {
        Bounty storage b = _bounty(bountyId);
        if (msg.sender != b.poster) revert NotPoster(bountyId, msg.sender, b.poster);
        if (b.status != BountyStatus.Open) revert BountyNotOpen(bountyId, b.status);
        b.status = BountyStatus.Cancelled;
        uint256 refund = b.reward;
        emit BountyCancelled(bountyId, msg.sender, refund);
        _pay(msg.sender, refund);
    }

    /// @notice Claims bounty `bountyId` with a training run: the hash of its run record, the
    /// hash of its final weights, the root of its per-step hash chain and its step count.
    /// `msg.value` must equal the bounty's stake. The bounty takes no other claim until this
    /// one is finalized or rejected.
    /// @return claimId the new claim's id
    function claim(uint256 bountyId, bytes32 recordHash, bytes32 weightsHash, bytes32 chainRoot, uint256 steps)
        external
        payable
        returns (uint256 claimId)
    {
        Bounty storage b = _bounty(bountyId);
        if (b.status != BountyStatus.Open) revert BountyNotOpen(bountyId, b.status);
        if (msg.value != b.stake) revert WrongStake(bountyId, b.stake, msg.value);
        if (recordHash == bytes32(0) || weightsHash == bytes32(0) || chainRoot == bytes32(0)) {
            revert EmptyClaim();
        }
        if (steps == 0 || steps > type(uint48).max) revert EmptyClaim();
        claimId = ++claimCount;
        uint256 deadline = block.timestamp + b.window;
        _claims[claimId] = Claim({
            claimant: msg.sender,
            bountyId: uint48(bountyId),
            deadline: uint40(deadline),
            status: ClaimStatus.Pending,
            recordHash: recordHash,
            weightsHash: weightsHash,
            chainRoot: chainRoot,
            challenger: address(0),
            steps: uint48(steps),
            disputedStep: 0
        });
        b.status = BountyStatus.Claimed;
        b.activeClaim = uint48(claimId);
        emit Claimed(claimId, bountyId, msg.sender, recordHash, weightsHash, chainRoot, steps, deadline);
    }

    /// @notice Challenges pending claim `claimId` at `step` (0-based) before its window
    /// closes, counter-staking the bounty's stake (`msg.value`).
    function challenge(uint256 claimId, uint256 step) external payable {
        Claim storage c = _claim(claimId);
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(claimId, c.status);
        if (block.timestamp >= c.deadline) revert ChallengeWindowClosed(claimId, c.deadline, block.timestamp);
        Bounty storage b = _bounties[c.bountyId];
        if (msg.value != b.stake) revert WrongStake(c.bountyId, b.stake, msg.value);
        if (step >= c.steps) revert StepOutOfRange(claimId, step, c.steps);
        c.status = ClaimStatus.Challenged;
        c.challenger = msg.sender;
        c.disputedStep = uint48(step);
        emit Challenged(claimId, c.bountyId, msg.sender, step);
    }

    /// @notice Pays an unchallenged claim once its window has passed: the reward and the
    /// claimant's stake go to the claimant. Anyone may call it.
    function finalize(uint256 claimId) external {
        Claim storage c = _claim(claimId);
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(claimId, c.status);
        if (block.timestamp < c.deadline) revert ChallengeWindowOpen(claimId, c.deadline, block.timestamp);
        Bounty storage b = _bounties[c.bountyId];
        c.status = ClaimStatus.Finalized;
        b.status = BountyStatus.Paid;
        uint256 paid = uint256(b.reward) + b.stake;
        address claimant = c.claimant;
        emit Finalized(claimId, c.bountyId, claimant, paid);
        _pay(claimant, paid);
    }

    /// @notice Resolves disputed claim `claimId`. Only the dataset's governance (its timelock
    /// in the registry) may call this, normally by executing a passed Governor proposal.
    /// The loser's stake is slashed to the winner: a winning challenger gets both stakes and
    /// the bounty reopens; an upheld claimant gets the reward and both stakes.
    function resolve(uint256 claimId, bool challengerWins) external {
        Claim storage c = _claim(claimId);
        if (c.status != ClaimStatus.Challenged) revert ClaimNotChallenged(claimId, c.status);
        uint256 bountyId = c.bountyId;
        Bounty storage b = _bounties[bountyId];
        (address gov,,,,) = registry.dataset(b.datasetId);
        if (msg.sender != gov) revert NotDatasetGovernance(b.datasetId, msg.sender, gov);
        uint256 slashed = b.stake;
        address winner;
        uint256 paid;
        if (challengerWins) {
            c.status = ClaimStatus.Rejected;
            b.status = BountyStatus.Open;
            b.activeClaim = 0;
            winner = c.challenger;
            paid = 2 * uint256(slashed);
            emit BountyReopened(bountyId, claimId);
        } else {
            c.status = ClaimStatus.Upheld;
            b.status = BountyStatus.Paid;
            winner = c.claimant;
            paid = uint256(b.reward) + 2 * uint256(slashed);
        }
        emit Resolved(claimId, bountyId, winner, challengerWins, paid, slashed);
        _pay(winner, paid);
    }

    /// @notice Bounty `bountyId` as stored.
    function bounty(uint256 bountyId)
        external
        view
        returns (
            address poster,
            uint256 datasetId,
            bytes32 snapshotRoot,
            bytes32 modelSpecHash,
            uint256 reward,
            uint256 stake,
            uint256 window,
            BountyStatus status,
            uint256 activeClaim
        )
    {
        Bounty storage b = _bounty(bountyId);
        return (b.poster, b.datasetId, b.snapshotRoot, b.modelSpecHash, b.reward, b.stake, b.window, b.status, b.activeClaim);
    }

    /// @notice Claim `claimId` as stored. `challenger` is zero and `disputedStep`
    /// meaningless unless the claim was challenged.
    function claimInfo(uint256 claimId)
        external
        view
        returns (
            uint256 bountyId,
            address claimant,
            bytes32 recordHash,
            bytes32 weightsHash,
            bytes32 chainRoot,
            uint256 steps,
            uint256 deadline,
            ClaimStatus status,
            address challenger,
            uint256 disputedStep
        )
    {
        Claim storage c = _claim(claimId);
        return (
            c.bountyId,
            c.claimant,
            c.recordHash,
            c.weightsHash,
            c.chainRoot,
            c.steps,
            c.deadline,
            c.status,
            c.challenger,
            c.disputedStep
        );
    }

    function _bounty(uint256 bountyId) private view returns (Bounty storage b) {
        b = _bounties[bountyId];
        if (b.status == BountyStatus.None) revert UnknownBounty(bountyId);
    }

    function _claim(uint256 claimId) private view returns (Claim storage c) {
        c = _claims[claimId];
        if (c.status == ClaimStatus.None) revert UnknownClaim(claimId);
    }

    function _pay(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
