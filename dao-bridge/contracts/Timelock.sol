// SPDX-License-Identifier: Apache-2.0 OR MIT
pragma solidity ^0.8.24;

// Pulls OpenZeppelin's TimelockController into the build so that its artifact is emitted;
// colony deploys it unchanged as each dataset's governance address.
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
