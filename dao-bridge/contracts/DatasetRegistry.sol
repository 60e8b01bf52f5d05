// SPDX-License-Identifier: Apache-2.0 OR MIT
pragma solidity ^0.8.24;

/// @title DatasetRegistry
/// @notice Anchors the heads of colony datasets on chain. A dataset's head is the BLAKE3
/// snapshot root of its data (bytes32) plus the colony commit id (bytes20); where to fetch
/// the data (a locator such as an iroh ticket) travels in the `HeadSet` event only.
/// Only a dataset's own governance (its timelock) can move its head. Anyone can register a
/// dataset or a fork of one, each with a governance of its own.
/// @dev Gas: history lives in events, never in storage arrays. A head move writes two
/// storage slots; names and locators are event data only.
contract DatasetRegistry {
    /// @dev Packed into at most five slots. Registering writes one slot (two more for a fork's
    /// fork point); moving the head rewrites two.
    struct Dataset {
        // slot 0: current head root; zero until the first head is set (a fork then reports
        // its fork point as its head)
        bytes32 headRoot;
        // slot 1
        bytes20 headCommit;
        uint64 headBlock; // block of the latest HeadSet event for this dataset
        uint32 headCount; // heads set so far (for a fork, its fork point counts as the first)
        // slot 2
        address governance;
        uint48 parentId; // 0 = an original dataset
        uint48 createdBlock;
        // slot 3 (forks only)
        bytes32 forkRoot;
        // slot 4 (forks only)
        bytes20 forkCommit;
    }

    /// @notice The caller is not the dataset's governance (timelock).
    /// @param id the dataset
    /// @param caller who called
    /// @param governance who is allowed to call
    error NotDatasetGovernance(uint256 id, address caller, address governance);
    /// @notice No dataset has this id.
    error UnknownDataset(uint256 id);
    /// @notice A governance address of zero was given.
    error ZeroGovernance();
    /// @notice A head or fork point with an all-zero snapshot root was given.
    error EmptyRoot();
    /// @notice The registry is full (2^48 - 1 datasets).
    error TooManyDatasets();

    /// @notice A dataset (or a fork, when `parentId` is non-zero) was registered.
    event DatasetRegistered(
        uint256 indexed id,
        uint256 indexed parentId,
        address indexed governance,
        string name,
        bytes32 forkRoot,
        bytes20 forkCommit,
        address registrant
    );
    /// @notice A dataset's head moved (or, for a fork, started at its fork point).
    event HeadSet(uint256 indexed id, bytes32 indexed root, bytes20 commit, string locator, uint256 seq);
    /// @notice A dataset's governance handed itself over to a new address.
    event GovernanceChanged(uint256 indexed id, address indexed previous, address indexed next);

    /// @notice The number of datasets registered; ids run from 1 to `count`.
    uint256 public count;
    mapping(uint256 => Dataset) private _datasets;

    /// @notice Registers an original dataset with `governance` (its timelock) and no head yet.
    /// @return id the new dataset's id
    function register(string calldata name, address governance) external returns (uint256 id) {
        if (governance == address(0)) revert ZeroGovernance();
        id = _next();
        Dataset storage d = _datasets[id];
        d.governance = governance;
        d.createdBlock = uint48(block.number);
        emit DatasetRegistered(id, 0, governance, name, bytes32(0), bytes20(0), msg.sender);
    }

    /// @notice Registers a fork of `parentId` taken at (`forkRoot`, `forkCommit`), governed by
    /// `governance`. The fork's head starts at its fork point.
    /// @return id the new dataset's id
    function registerFork(
        uint256 parentId,
        string calldata name,
        address governance,
        bytes32 forkRoot,
        bytes20 forkCommit,
        string calldata locator
    ) external returns (uint256 id) {
        if (governance == address(0)) revert ZeroGovernance();
        if (forkRoot == bytes32(0)) revert EmptyRoot();
        if (parentId == 0 || parentId > count) revert UnknownDataset(parentId);
        id = _next();
        Dataset storage d = _datasets[id];
        d.governance = governance;
        d.parentId = uint48(parentId);
        d.createdBlock = uint48(block.number);
        d.forkRoot = forkRoot;
        d.forkCommit = forkCommit;
        emit DatasetRegistered(id, parentId, governance, name, forkRoot, forkCommit, msg.sender);
        emit HeadSet(id, forkRoot, forkCommit, locator, 0);
    }

    /// @notice Moves dataset `id`'s head. Only the dataset's governance may call this.
    function setHead(uint256 id, bytes32 root, bytes20 commit, string calldata locator) external {
        Dataset storage d = _datasets[id];
        address gov = d.governance;
        if (gov == address(0)) revert UnknownDataset(id);
        if (msg.sender != gov) revert NotDatasetGovernance(id, msg.sender, gov);
        if (root == bytes32(0)) revert EmptyRoot();
        uint32 seq = d.headCount;
        if (seq == 0 && d.parentId != 0) seq = 1; // the fork point was the fork's head 0
        d.headRoot = root;
        d.headCommit = commit;
        d.headBlock = uint64(block.number);
        d.headCount = seq + 1;
        emit HeadSet(id, root, commit, locator, seq);
    }

    /// @notice Hands dataset `id` over to a new governance. Only the current governance may call this.
    function setGovernance(uint256 id, address next) external {
        Dataset storage d = _datasets[id];
        address gov = d.governance;
        if (gov == address(0)) revert UnknownDataset(id);
        if (msg.sender != gov) revert NotDatasetGovernance(id, msg.sender, gov);
        if (next == address(0)) revert ZeroGovernance();
        d.governance = next;
        emit GovernanceChanged(id, gov, next);
    }

    /// @notice The current head of dataset `id`. `root` is zero when no head was set yet.
    /// For a fork that has not moved yet this is its fork point. `headBlock` is the block
    /// whose `HeadSet` event carries the head's locator; `heads` counts heads set so far.
    function head(uint256 id)
        external
        view
        returns (bytes32 root, bytes20 commit, uint64 headBlock, uint32 heads)
    {
        Dataset storage d = _datasets[id];
        if (d.governance == address(0)) revert UnknownDataset(id);
        if (d.headRoot == bytes32(0) && d.parentId != 0) {
            return (d.forkRoot, d.forkCommit, d.createdBlock, 1);
        }
        return (d.headRoot, d.headCommit, d.headBlock, d.headCount);
    }

    function _next() private returns (uint256 id) {
        id = ++count;
        if (id > type(uint48).max) revert TooManyDatasets();
    }

    /// @notice Governance, lineage and registration block of dataset `id`.
    function dataset(uint256 id)
        external
        view
        returns (address governance, uint256 parentId, bytes32 forkRoot, bytes20 forkCommit, uint64 createdBlock)
    {
        Dataset storage d = _datasets[id];
        if (d.governance == address(0)) revert UnknownDataset(id);
        return (d.governance, d.parentId, d.forkRoot, d.forkCommit, d.createdBlock);
    }
}
