// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/**
 * @title ZansocToken (ZSC)
 * @notice The token clients pay with and hosts stake and earn. The whole supply is minted once, at deployment, to the
 * treasury; there is no other mint, so the supply can only be what the deployment transaction says.
 * @dev EIP-2612 permit lets a client approve the escrow with a signature instead of a separate transaction.
 */
contract ZansocToken is ERC20, ERC20Permit {
    /**
     * @param treasury Receives the whole supply.
     * @param supply Total supply in base units (18 decimals).
     */
    constructor(address treasury, uint256 supply) ERC20("Zansoc", "ZSC") ERC20Permit("Zansoc") {
        _mint(treasury, supply);
    }
}
