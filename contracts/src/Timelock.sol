// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/**
 * @title ZansocTimelock
 * @notice OpenZeppelin's TimelockController, unchanged: in production it holds DEFAULT_ADMIN_ROLE on the registry
 * and the escrows and GOVERNOR_ROLE on the escrows, so every change of roles or commission is announced `minDelay`
 * seconds before it can take effect. It is declared here so that contracts/build.ts builds it with the rest.
 */
contract ZansocTimelock is TimelockController {
    /**
     * @param minDelay Seconds between scheduling an operation and executing it.
     * @param proposers Who may schedule (and cancel) operations.
     * @param executors Who may execute them once ready.
     * @param admin An optional administrator of the timelock's own roles; zero so that only the timelock itself is.
     */
    constructor(
        uint256 minDelay,
        address[] memory proposers,
        address[] memory executors,
        address admin
    ) TimelockController(minDelay, proposers, executors, admin) {}
}
