// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/**
 * @title HostRegistry
 * @notice Where hosts stake ZSC. A host registers its address (its did:ethr identity) with a stake and a hash of its
 * metadata (capabilities, prices). The escrows lock part of that stake for each job or storage deal a host takes on,
 * and can slash only what they locked; the rest is free, and a host takes free stake out by requesting to unbond
 * and withdrawing once the unbonding delay has passed, so stake cannot leave faster than a fault can be proven.
 * @dev Only contracts holding ESCROW_ROLE (JobEscrow and StorageEscrow, granted at deployment) may lock, unlock and
 * slash. Locking and unlocking emit nothing here: the escrow that does it emits HostBonded and BondReleased, naming
 * the job or deal and the host, so each movement is logged once, where its reason is. Amounts are kept in 96 bits, far above the ZSC supply, so a host's stake figures share one storage slot.
 */
contract HostRegistry is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    struct Host {
        // Staked and not unbonding, locked included; locked <= staked always holds.
        uint96 staked;
        uint96 locked;
        bool registered;
        uint96 unbonding;
        uint64 withdrawableAt;
        bytes32 metadataHash;
    }

    /// @notice Role of the contracts that may lock, unlock and slash host stake: the escrows.
    bytes32 public constant ESCROW_ROLE = keccak256("ESCROW_ROLE");

    IERC20 private immutable _token;
    uint64 private immutable _unbondingDelay;

    mapping(address host => Host) private _hosts;

    /// @dev Emitted when `host` registers with `stake` and `metadataHash`.
    event HostRegistered(address indexed host, uint256 stake, bytes32 metadataHash);

    /// @dev Emitted when `host` adds `amount` to its stake, which is now `staked`.
    event StakeAdded(address indexed host, uint256 amount, uint256 staked);

    /// @dev Emitted when `host` publishes new metadata.
    event MetadataUpdated(address indexed host, bytes32 metadataHash);

    /// @dev Emitted when `host` starts unbonding `amount`; it has `unbonding` in total, withdrawable at `withdrawableAt`.
    event UnbondRequested(address indexed host, uint256 amount, uint256 unbonding, uint64 withdrawableAt);

    /// @dev Emitted when `host` withdraws `amount` of unbonded stake.
    event StakeWithdrawn(address indexed host, uint256 amount);

    /// @dev Emitted when `escrow` takes `amount` of `host`'s locked stake and sends it to `recipient`.
    event StakeSlashed(address indexed host, address indexed escrow, address indexed recipient, uint256 amount);

    /// @dev A constructor argument is the zero address.
    error HostRegistryZeroAddress();

    /// @dev An amount that must be positive is zero.
    error HostRegistryZeroAmount();

    /// @dev A host must publish a non-zero metadata hash.
    error HostRegistryZeroMetadata();

    /// @dev `host` is registered already.
    error HostRegistryAlreadyRegistered(address host);

    /// @dev `host` has not registered.
    error HostRegistryNotRegistered(address host);

    /// @dev `host` has only `free` stake that is neither locked nor unbonding, less than the `needed` amount.
    error HostRegistryInsufficientFreeStake(address host, uint256 free, uint256 needed);

    /// @dev `host` has only `locked` stake locked, less than the `needed` amount.
    error HostRegistryInsufficientLockedStake(address host, uint256 locked, uint256 needed);

    /// @dev `host` has nothing unbonding.
    error HostRegistryNothingToWithdraw(address host);

    /// @dev `host`'s unbonding stake cannot be withdrawn before `withdrawableAt`.
    error HostRegistryUnbondingNotDue(address host, uint64 withdrawableAt);

    /**
     * @param token_ The ZSC token hosts stake.
     * @param admin Holds DEFAULT_ADMIN_ROLE and grants ESCROW_ROLE to the escrows.
     * @param unbondingDelay_ Seconds between a request to unbond and the withdrawal it allows.
     */
    constructor(IERC20 token_, address admin, uint64 unbondingDelay_) {
        if (address(token_) == address(0) || admin == address(0)) revert HostRegistryZeroAddress();
        _token = token_;
        _unbondingDelay = unbondingDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /**
     * @notice Registers the caller as a host, staking `stake` ZSC and publishing `metadataHash`.
     * @dev The caller must have approved this contract for `stake` (or used the token's permit).
     * @param stake Stake to lock in the registry, in base units; must be positive.
     * @param metadataHash Hash of the host's metadata document (capabilities, prices); must be non-zero.
     */
    function register(uint256 stake, bytes32 metadataHash) external nonReentrant {
        Host storage host = _hosts[msg.sender];
        if (host.registered) revert HostRegistryAlreadyRegistered(msg.sender);
        if (stake == 0) revert HostRegistryZeroAmount();
        if (metadataHash == bytes32(0)) revert HostRegistryZeroMetadata();

        host.registered = true;
        host.staked = stake.toUint96();
        host.metadataHash = metadataHash;
        emit HostRegistered(msg.sender, stake, metadataHash);

        _token.safeTransferFrom(msg.sender, address(this), stake);
    }

    /**
     * @notice Adds `amount` ZSC to the caller's stake.
     * @param amount Stake to add, in base units; must be positive.
     */
    function addStake(uint256 amount) external nonReentrant {
        Host storage host = _requireRegistered(msg.sender);
        if (amount == 0) revert HostRegistryZeroAmount();

        uint256 staked = host.staked + amount;
        host.staked = staked.toUint96();
        emit StakeAdded(msg.sender, amount, staked);

        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /**
     * @notice Publishes a new metadata hash for the caller.
     * @param metadataHash Hash of the host's new metadata document; must be non-zero.
     */
    function updateMetadata(bytes32 metadataHash) external {
        Host storage host = _requireRegistered(msg.sender);
        if (metadataHash == bytes32(0)) revert HostRegistryZeroMetadata();

        host.metadataHash = metadataHash;
        emit MetadataUpdated(msg.sender, metadataHash);
    }

    /**
     * @notice Starts unbonding `amount` of the caller's free stake: it stops backing new jobs at once and can be
     * withdrawn after the unbonding delay. Unbonding more restarts the delay for everything unbonding.
     * @param amount Free stake (neither locked nor already unbonding) to unbond, in base units.
     */
    function requestUnbond(uint256 amount) external {
        Host storage host = _requireRegistered(msg.sender);
        if (amount == 0) revert HostRegistryZeroAmount();
        uint256 staked = host.staked;
        uint256 free;
        // locked <= staked is kept by every function that changes either.
        unchecked {
            free = staked - host.locked;
        }
        if (amount > free) revert HostRegistryInsufficientFreeStake(msg.sender, free, amount);

        uint256 unbonding = host.unbonding + amount;
        uint64 withdrawableAt = uint64(block.timestamp) + _unbondingDelay;
        // amount <= free <= staked, checked above.
        unchecked {
            host.staked = uint96(staked - amount);
        }
        host.unbonding = unbonding.toUint96();
        host.withdrawableAt = withdrawableAt;
        emit UnbondRequested(msg.sender, amount, unbonding, withdrawableAt);
    }

    /// @notice Sends the caller all of its unbonding stake, once the unbonding delay has passed.
    function withdraw() external nonReentrant {
        Host storage host = _hosts[msg.sender];
        uint256 amount = host.unbonding;
        if (amount == 0) revert HostRegistryNothingToWithdraw(msg.sender);
        uint64 withdrawableAt = host.withdrawableAt;
        if (block.timestamp < withdrawableAt) revert HostRegistryUnbondingNotDue(msg.sender, withdrawableAt);

        host.unbonding = 0;
        host.withdrawableAt = 0;
        emit StakeWithdrawn(msg.sender, amount);

        _token.safeTransfer(msg.sender, amount);
    }

    /**
     * @notice Locks `amount` of `host`'s free stake for a job or deal of the calling escrow.
     * @param host A registered host with at least `amount` free stake.
     * @param amount Stake to lock, in base units; must be positive.
     */
    function lockStake(address host, uint256 amount) external onlyRole(ESCROW_ROLE) {
        Host storage record = _hosts[host];
        if (amount == 0) revert HostRegistryZeroAmount();
        uint256 locked = record.locked;
        uint256 free;
        // locked <= staked is kept by every function that changes either.
        unchecked {
            free = record.staked - locked;
        }
        if (amount > free) revert HostRegistryInsufficientFreeStake(host, free, amount);

        // amount <= free, so locked + amount <= staked, which fits in 96 bits.
        unchecked {
            record.locked = uint96(locked + amount);
        }
    }

    /**
     * @notice Returns `amount` of `host`'s locked stake to its free stake, when a job or deal ends without fault.
     * @param host The host whose stake was locked.
     * @param amount Locked stake to unlock, in base units.
     */
    function unlockStake(address host, uint256 amount) external onlyRole(ESCROW_ROLE) {
        Host storage record = _hosts[host];
        uint256 locked = record.locked;
        if (amount > locked) revert HostRegistryInsufficientLockedStake(host, locked, amount);

        // amount <= locked, checked above.
        unchecked {
            record.locked = uint96(locked - amount);
        }
    }

    /**
     * @notice Takes `amount` of `host`'s locked stake and sends it to `recipient`: the penalty of a proven fault,
     * decided in the calling escrow's settlement.
     * @param host The host at fault.
     * @param amount Locked stake to take, in base units.
     * @param recipient Who receives it: a challenger, a replacement host, the client or the treasury.
     */
    function slashStake(address host, uint256 amount, address recipient) external onlyRole(ESCROW_ROLE) nonReentrant {
        Host storage record = _hosts[host];
        uint256 locked = record.locked;
        if (amount > locked) revert HostRegistryInsufficientLockedStake(host, locked, amount);

        // amount <= locked <= staked, checked above and kept by every function that changes either.
        unchecked {
            record.locked = uint96(locked - amount);
            record.staked -= uint96(amount);
        }
        emit StakeSlashed(host, msg.sender, recipient, amount);

        _token.safeTransfer(recipient, amount);
    }

    /**
     * @notice The stake record of `host`; all zero for an address that never registered.
     * @return registered Whether `host` registered.
     * @return staked Stake not unbonding, locked stake included.
     * @return locked Stake locked for open jobs and deals.
     * @return unbonding Stake waiting for the unbonding delay.
     * @return withdrawableAt Unix time from which `unbonding` can be withdrawn.
     * @return metadataHash Hash of the host's metadata document.
     */
    function hostOf(
        address host
    )
        external
        view
        returns (
            bool registered,
            uint256 staked,
            uint256 locked,
            uint256 unbonding,
            uint64 withdrawableAt,
            bytes32 metadataHash
        )
    {
        Host storage record = _hosts[host];
        return (
            record.registered,
            record.staked,
            record.locked,
            record.unbonding,
            record.withdrawableAt,
            record.metadataHash
        );
    }

    /// @notice Stake of `host` that can back a new job or deal: staked, neither locked nor unbonding.
    function freeStakeOf(address host) external view returns (uint256) {
        Host storage record = _hosts[host];
        return record.staked - record.locked;
    }

    /// @notice Seconds between a request to unbond and the withdrawal it allows.
    function unbondingDelay() external view returns (uint64) {
        return _unbondingDelay;
    }

    /// @notice The token hosts stake.
    function token() external view returns (IERC20) {
        return _token;
    }

    function _requireRegistered(address account) private view returns (Host storage host) {
        host = _hosts[account];
        if (!host.registered) revert HostRegistryNotRegistered(account);
    }
}
