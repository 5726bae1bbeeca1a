// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SlotDerivation} from "@openzeppelin/contracts/utils/SlotDerivation.sol";
import {TransientSlot} from "@openzeppelin/contracts/utils/TransientSlot.sol";
import {HostRegistry} from "./HostRegistry.sol";

/**
 * @title Escrow
 * @notice What JobEscrow and StorageEscrow share: the token, the treasury and the host registry they work with,
 * the roles (GOVERNOR sets the commission, SETTLER settles), the commission rate, the client's reclaim rule, the
 * host bonds of each job or deal, and the signatures that let money and stake move: a client's EIP-712 order (and
 * EIP-2612 permit) for what the escrow takes from it, a host's EIP-712 consent for each bond of its stake.
 * @dev Every job or deal has an escrow id, `escrowIdOf(client, id)`, so nobody can take a client's id; an escrow id
 * opens once, ever, which spends the order that opened it. Orders are relayed by anyone (the orchestrator pays the
 * gas); the escrow pulls only from the order's client, never from the caller.
 *
 * A bond is stake a host locks in the HostRegistry for one escrow id (`id`). The bonds of an id form a linked list
 * whose head and length the inheriting contract keeps in its own record, in a slot it writes anyway, so bonding
 * costs one new storage slot and settlement can release every bond without being told which exist. The list ends in
 * `_END` rather than zero, so a host's own slot tells whether it is in the list: one read, however long the list.
 * The list is also who may be paid: payouts go only to hosts in it, slash shares only to the treasury and hosts in
 * it (and, for a job, to its client, up to what it locked). A bond in the list may be zero (taken back by its host at reclaim) and its host is still a party of `id`. A host
 * that leaves the list while `id` is open keeps `_LEFT` in its slot, so that no consent of it bonds it again.
 */
abstract contract Escrow is AccessControl, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SlotDerivation for bytes32;
    using TransientSlot for *;

    struct Bond {
        uint96 amount;
        address next;
    }

    /// @notice An EIP-2612 permit of the client for this escrow; `v` 0 means none, the allowance is there already.
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /**
     * @dev The recipients owed tokens during one call, each listed once. What each is owed is kept in transient
     * storage, a mapping from recipient to amount, so adding to it costs the same however many recipients there are.
     */
    struct Payments {
        address[] to;
        uint256 length;
    }

    /// @notice Role that may change the commission rate.
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    /// @notice Role that may bond, settle and slash: the orchestrator's key.
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");
    /// @notice Highest commission governance may set, in basis points.
    uint256 public constant MAX_COMMISSION_BPS = 2000;
    /// @notice Most hosts that may bond to one job or deal, which bounds the gas of releasing them all.
    uint256 public constant MAX_BONDS = 32;

    uint256 internal constant _BPS = 10_000;
    bytes32 private constant _BOND_CONSENT_TYPEHASH =
        keccak256("BondConsent(bytes32 escrowId,address host,uint256 amount,uint64 deadline)");
    // Neither can be a host: precompiles send no transactions, so they never register.
    address private constant _END = address(1);
    address private constant _LEFT = address(2);
    uint256 private constant _INITIAL_COMMISSION_BPS = 1000;
    // keccak256(abi.encode(uint256(keccak256("zansoc.transient.EscrowPayments")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _OWED_SLOT = 0xecaf0514c402a3a0f1131413d22df478bfe06054b381c6e3f86a0e2c31128e00;

    IERC20 private immutable _token;
    address private immutable _treasury;
    HostRegistry private immutable _registry;
    uint64 private immutable _reclaimGracePeriod;

    uint256 private _commissionBps;
    mapping(bytes32 id => mapping(address host => Bond)) private _bonds;
    mapping(address client => uint256) private _minNonces;

    /// @dev Emitted when the commission rate changes, including the initial rate at deployment.
    event CommissionChanged(uint256 previousBps, uint256 newBps);

    /// @dev Emitted when `host` locks `amount` of its stake for job or deal `id`.
    event HostBonded(bytes32 indexed id, address indexed host, uint256 amount);

    /// @dev Emitted when `amount` of `host`'s bond for `id` is taken and sent to `recipient`.
    event BondSlashed(bytes32 indexed id, address indexed host, address indexed recipient, uint256 amount);

    /// @dev Emitted when what is left of `host`'s bond for `id`, `amount`, returns to its free stake.
    event BondReleased(bytes32 indexed id, address indexed host, uint256 amount);

    /// @dev Emitted when `client` revokes every order it signed with a nonce below `minNonce`.
    event OrdersCancelled(address indexed client, uint256 minNonce);

    /// @dev A constructor or call argument is the zero address.
    error EscrowZeroAddress();

    /// @dev An amount that must be positive is zero.
    error EscrowZeroAmount();

    /// @dev A `deadline` that must be in the future is not.
    error EscrowDeadlineInPast(uint64 deadline);

    /// @dev The commission rate `bps` is above `cap`.
    error EscrowCommissionAboveCap(uint256 bps, uint256 cap);

    /// @dev `host` is or was bonded to `id`; a host bonds once per job or deal, ever.
    error EscrowHostAlreadyBonded(bytes32 id, address host);

    /// @dev `id` has `max` bonds already.
    error EscrowTooManyBonds(bytes32 id, uint256 max);

    /// @dev `host` holds no bond for `id`.
    error EscrowNotBonded(bytes32 id, address host);

    /// @dev Slashing `amount` of `host`'s bond for `id` exceeds the `bonded` amount left.
    error EscrowSlashExceedsBond(bytes32 id, address host, uint256 amount, uint256 bonded);

    /// @dev Only the client of `id` or a host with a bond left in it may reclaim (the host: only its own bond).
    error EscrowNotParty(bytes32 id, address caller);

    /// @dev `payee` is not a host bonded to `id`, and only those are paid for its work.
    error EscrowPayeeNotBonded(bytes32 id, address payee);

    /// @dev `recipient` is neither the treasury nor a party bonded to `id` (nor, for a job, its client): only those get its slash shares.
    error EscrowRecipientNotParty(bytes32 id, address recipient);

    /// @dev `id` cannot be reclaimed before `reclaimableAt` (its deadline plus the grace period).
    error EscrowReclaimTooEarly(bytes32 id, uint256 reclaimableAt);

    /// @dev The signature is not `signer`'s over the order or consent given (or `signer` is a wallet that refused it).
    error EscrowBadSignature(address signer);

    /// @dev `client` revoked its orders below `minNonce`, this one's `nonce` among them.
    error EscrowOrderCancelled(address client, uint256 nonce, uint256 minNonce);

    /// @dev A client's order floor only goes up: `nonce` is not above its `minNonce`.
    error EscrowNonceFloorNotRaised(uint256 nonce, uint256 minNonce);

    /// @dev The host's consent to a bond was relayable until `deadline`, which has passed.
    error EscrowConsentExpired(uint64 deadline);

    /**
     * @param domainName The EIP-712 domain name orders and consents are signed for (version "1").
     * @param token_ The ZSC token clients pay in and hosts stake.
     * @param treasury_ Receives the commission.
     * @param registry_ Where hosts' stake is locked, unlocked and slashed; must grant this contract ESCROW_ROLE.
     * @param admin Holds DEFAULT_ADMIN_ROLE and can grant and revoke the other roles.
     * @param governor Holds GOVERNOR_ROLE.
     * @param settler Holds SETTLER_ROLE.
     * @param reclaimGracePeriod_ Seconds after a deadline before an unsettled job or deal may be reclaimed.
     */
    constructor(
        string memory domainName,
        IERC20 token_,
        address treasury_,
        HostRegistry registry_,
        address admin,
        address governor,
        address settler,
        uint64 reclaimGracePeriod_
    ) EIP712(domainName, "1") {
        if (
            address(token_) == address(0) ||
            treasury_ == address(0) ||
            address(registry_) == address(0) ||
            admin == address(0) ||
            governor == address(0) ||
            settler == address(0)
        ) {
            revert EscrowZeroAddress();
        }
        _token = token_;
        _treasury = treasury_;
        _registry = registry_;
        _reclaimGracePeriod = reclaimGracePeriod_;
        _setCommissionBps(_INITIAL_COMMISSION_BPS);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNOR_ROLE, governor);
        _grantRole(SETTLER_ROLE, settler);
    }

    /**
     * @notice Sets the commission taken from every host payment, in basis points, up to MAX_COMMISSION_BPS.
     * @dev Applies to settlements from now on, including of jobs and deals opened before.
     * @param bps The new rate (1000 = 10%).
     */
    function setCommissionBps(uint256 bps) external onlyRole(GOVERNOR_ROLE) {
        _setCommissionBps(bps);
    }

    /**
     * @notice Revokes every order the caller signed with a nonce below `nonce`, relayed or not; orders whose
     * escrows opened already are unaffected.
     * @param nonce The caller's new floor, above its current one.
     */
    function cancelOrdersBelow(uint256 nonce) external {
        uint256 current = _minNonces[msg.sender];
        if (nonce <= current) revert EscrowNonceFloorNotRaised(nonce, current);
        _minNonces[msg.sender] = nonce;
        emit OrdersCancelled(msg.sender, nonce);
    }

    /// @notice The lowest nonce an order of `client` may have; orders below it are revoked.
    function minNonceOf(address client) external view returns (uint256) {
        return _minNonces[client];
    }

    /// @notice The escrow id of `client`'s job or deal `id`: keyed by the client, so no one else can take it.
    function escrowIdOf(address client, bytes32 id) public pure returns (bytes32) {
        return keccak256(abi.encode(client, id));
    }

    /// @notice How much of `host`'s stake is bonded to job or deal `id`; zero when none is.
    function bondOf(bytes32 id, address host) external view returns (uint256) {
        return _bonds[id][host].amount;
    }

    /// @notice The current commission rate in basis points.
    function commissionBps() public view returns (uint256) {
        return _commissionBps;
    }

    /// @notice Where commissions go.
    function treasury() public view returns (address) {
        return _treasury;
    }

    /// @notice The token jobs and deals are paid in.
    function token() public view returns (IERC20) {
        return _token;
    }

    /// @notice Where hosts' stake is bonded and slashed.
    function registry() public view returns (HostRegistry) {
        return _registry;
    }

    /// @notice Seconds after a deadline before an unsettled job or deal may be reclaimed.
    function reclaimGracePeriod() public view returns (uint64) {
        return _reclaimGracePeriod;
    }

    /**
     * @dev Records a bond of `amount` of `host`'s stake to `id`, whose list starts at `head` and has `count` bonds,
     * and returns the new head. The caller stores it and `count + 1`, then locks the stake with `_lockStake`.
     */
    function _addBond(
        bytes32 id,
        address head,
        uint256 count,
        address host,
        uint256 amount
    ) internal returns (address newHead) {
        if (host == address(0)) revert EscrowZeroAddress();
        if (amount == 0) revert EscrowZeroAmount();
        if (count >= MAX_BONDS) revert EscrowTooManyBonds(id, MAX_BONDS);
        Bond storage bond = _bonds[id][host];
        // In the list (its next is another host or _END) or left it (_LEFT): either way, bonded once already.
        if (bond.next != address(0)) revert EscrowHostAlreadyBonded(id, host);

        bond.amount = amount.toUint96();
        bond.next = head == address(0) ? _END : head;
        emit HostBonded(id, host, amount);
        return host;
    }

    /**
     * @dev Records that `amount` of `host`'s bond for `id` goes to `recipient` (the treasury, a party of `id`, or
     * `client`: the client of `id` where the caller lets it be compensated, else zero) and returns what is left of the
     * bond; the caller then moves the stake with `_slashStake`. A bond left at zero stays in the list until the caller
     * unlinks or releases it.
     */
    function _reduceBond(
        bytes32 id,
        address client,
        address host,
        uint256 amount,
        address recipient
    ) internal returns (uint256 left) {
        if (amount == 0) revert EscrowZeroAmount();
        if (recipient == address(0)) revert EscrowZeroAddress();
        Bond storage bond = _bonds[id][host];
        uint256 bonded = bond.amount;
        if (amount > bonded) revert EscrowSlashExceedsBond(id, host, amount, bonded);
        if (recipient != _treasury && recipient != client && !_isParty(id, recipient)) {
            revert EscrowRecipientNotParty(id, recipient);
        }

        // amount <= bonded, checked above.
        unchecked {
            left = bonded - amount;
        }
        bond.amount = uint96(left);
        emit BondSlashed(id, host, recipient, amount);
    }

    /**
     * @dev Forgets every bond of `id`, starting at `head`, and returns what is left of each to its host's free
     * stake. The caller has closed its record of `id` before, so this is its last step.
     */
    function _releaseBonds(bytes32 id, address head) internal {
        address host = head;
        while (_isHost(host)) {
            Bond storage bond = _bonds[id][host];
            uint256 amount = bond.amount;
            address next = bond.next;
            delete _bonds[id][host];
            if (amount != 0) {
                emit BondReleased(id, host, amount);
                _unlockStake(host, amount);
            }
            host = next;
        }
    }

    /**
     * @dev Removes `host`'s bond from the list of `id` starting at `head`; returns the new head and the amount
     * bonded. The caller stores the head and one bond fewer, then unlocks the amount with `_unlockStake`.
     */
    function _removeBond(bytes32 id, address head, address host) internal returns (address newHead, uint256 amount) {
        amount = _bonds[id][host].amount;
        if (amount == 0) revert EscrowNotBonded(id, host);
        newHead = _unlink(id, head, host);
        emit BondReleased(id, host, amount);
    }

    /**
     * @dev Zeroes `host`'s bond for `id`, which `_checkReclaim` found positive, and returns what it was; the host
     * stays in the list, a party of `id`. The caller unlocks the amount with `_unlockStake`.
     */
    function _takeBackBond(bytes32 id, address host) internal returns (uint256 amount) {
        Bond storage bond = _bonds[id][host];
        amount = bond.amount;
        bond.amount = 0;
        emit BondReleased(id, host, amount);
    }

    /// @dev Reverts unless `payee` is in the bond list of `id`.
    function _requirePayee(bytes32 id, address payee) internal view {
        if (!_isParty(id, payee)) revert EscrowPayeeNotBonded(id, payee);
    }

    /// @dev Locks `amount` of `host`'s free stake in the registry.
    function _lockStake(address host, uint256 amount) internal {
        _registry.lockStake(host, amount);
    }

    /// @dev Returns `amount` of `host`'s locked stake to its free stake.
    function _unlockStake(address host, uint256 amount) internal {
        _registry.unlockStake(host, amount);
    }

    /// @dev Sends `amount` of `host`'s locked stake to `recipient`.
    function _slashStake(address host, uint256 amount, address recipient) internal {
        _registry.slashStake(host, amount, recipient);
    }

    /**
     * @dev Removes `host`, which must be in the list of `id` starting at `head`, and returns the new head. The host
     * keeps `_LEFT` in its slot: it left `id`, and may not bond to it again.
     */
    function _unlink(bytes32 id, address head, address host) internal returns (address newHead) {
        address next = _bonds[id][host].next;
        _bonds[id][host] = Bond({amount: 0, next: _LEFT});
        if (head == host) return next;
        address previous = head;
        while (_bonds[id][previous].next != host) {
            previous = _bonds[id][previous].next;
        }
        _bonds[id][previous].next = next;
        return head;
    }

    /// @dev The hosts bonded to `id`, starting at `head`, and their bonds, most recent first.
    function _bondsOf(
        bytes32 id,
        address head,
        uint256 count
    ) internal view returns (address[] memory hosts, uint256[] memory amounts) {
        hosts = new address[](count);
        amounts = new uint256[](count);
        address host = head;
        for (uint256 i = 0; i < count; ++i) {
            Bond storage bond = _bonds[id][host];
            hosts[i] = host;
            amounts[i] = bond.amount;
            host = bond.next;
        }
    }

    /**
     * @dev Reverts unless `caller` is `client` or has a bond left in `id`, and `deadline` plus the grace period has
     * passed. Returns whether the caller is the client, who reclaims the whole escrow; a host reclaims only its bond,
     * so that no host can end a job or deal it is accused in, however late its settlement.
     */
    function _checkReclaim(
        bytes32 id,
        address client,
        uint64 deadline,
        address caller
    ) internal view returns (bool byClient) {
        byClient = caller == client;
        if (!byClient && _bonds[id][caller].amount == 0) revert EscrowNotParty(id, caller);
        uint256 reclaimableAt = uint256(deadline) + _reclaimGracePeriod;
        if (block.timestamp < reclaimableAt) revert EscrowReclaimTooEarly(id, reclaimableAt);
    }

    /**
     * @dev Reverts unless the order of `client` whose EIP-712 struct hash is `structHash` is signed by `client` (an
     * account, or a wallet contract that approves it by ERC-1271), can still be relayed (`deadline`) and was not
     * revoked (`nonce`).
     */
    function _checkOrder(
        address client,
        bytes32 structHash,
        uint64 deadline,
        uint256 nonce,
        bytes calldata signature
    ) internal view {
        if (deadline <= block.timestamp) revert EscrowDeadlineInPast(deadline);
        uint256 minNonce = _minNonces[client];
        if (nonce < minNonce) revert EscrowOrderCancelled(client, nonce, minNonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(client, _hashTypedDataV4(structHash), signature)) {
            revert EscrowBadSignature(client);
        }
    }

    /// @dev Reverts unless `host` consented, by `signature`, to bond `amount` to `id` until `deadline`, not yet past.
    function _checkConsent(
        bytes32 id,
        address host,
        uint256 amount,
        uint64 deadline,
        bytes calldata signature
    ) internal view {
        if (deadline <= block.timestamp) revert EscrowConsentExpired(deadline);
        bytes32 structHash = keccak256(abi.encode(_BOND_CONSENT_TYPEHASH, id, host, amount, deadline));
        if (!SignatureChecker.isValidSignatureNowCalldata(host, _hashTypedDataV4(structHash), signature)) {
            revert EscrowBadSignature(host);
        }
    }

    /**
     * @dev Pulls `amount` from `client`, after submitting its `permit` if it has one. A permit someone submitted to
     * the token first fails here, harmlessly: the allowance it set is there all the same, and the pull needs it.
     */
    function _pullFrom(address client, uint256 amount, Permit calldata permit) internal {
        if (permit.v != 0) {
            try
                IERC20Permit(address(_token)).permit(
                    client,
                    address(this),
                    permit.value,
                    permit.deadline,
                    permit.v,
                    permit.r,
                    permit.s
                )
            {} catch {}
        }
        _token.safeTransferFrom(client, address(this), amount);
    }

    /// @dev Sends `amount` to `to`, if there is anything to send.
    function _pay(address to, uint256 amount) internal {
        if (amount != 0) _token.safeTransfer(to, amount);
    }

    /// @dev Room for `capacity` different recipients.
    function _newPayments(uint256 capacity) internal pure returns (Payments memory payments) {
        payments.to = new address[](capacity);
    }

    /// @dev Adds `amount` to what `to` is owed.
    function _credit(Payments memory payments, address to, uint256 amount) internal {
        if (amount == 0) return;
        TransientSlot.Uint256Slot owed = _OWED_SLOT.deriveMapping(to).asUint256();
        uint256 before = owed.tload();
        if (before == 0) payments.to[payments.length++] = to;
        owed.tstore(before + amount);
    }

    /// @dev Pays every recipient what it is owed, and clears what was owed, so that nothing outlives this call.
    function _payAll(Payments memory payments) internal {
        for (uint256 i = 0; i < payments.length; ++i) {
            address to = payments.to[i];
            TransientSlot.Uint256Slot owed = _OWED_SLOT.deriveMapping(to).asUint256();
            uint256 amount = owed.tload();
            owed.tstore(0);
            _pay(to, amount);
        }
    }

    /// @dev Commission on a gross payment of `gross`, rounded down so the host never gets less than the exact rate.
    function _commissionOf(uint256 gross, uint256 bps) internal pure returns (uint256) {
        return (gross * bps) / _BPS;
    }

    /**
     * @dev Whether `account` is in the bond list of `id`: a host in it always has a next, another host or `_END`. The
     * read warms the slot that releasing the bond reads anyway.
     */
    function _isParty(bytes32 id, address account) private view returns (bool) {
        address next = _bonds[id][account].next;
        return next != address(0) && next != _LEFT;
    }

    /// @dev Whether `host`, read as a list's head or a bond's next, is a host rather than the end of the list.
    function _isHost(address host) private pure returns (bool) {
        return host != address(0) && host != _END;
    }

    function _setCommissionBps(uint256 bps) private {
        if (bps > MAX_COMMISSION_BPS) revert EscrowCommissionAboveCap(bps, MAX_COMMISSION_BPS);
        uint256 previous = _commissionBps;
        _commissionBps = bps;
        emit CommissionChanged(previous, bps);
    }
}
