// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Escrow} from "./Escrow.sol";
import {HostRegistry} from "./HostRegistry.sol";

/**
 * @title StorageEscrow
 * @notice Holds a client's ZSC for a storage deal's whole term and pays it out period by period. The client signs
 * an order for the term (its deal, its spec's hash, the rate, replicas and periods) and a permit; anyone may relay
 * them, and the escrow then takes exactly the order's amount from the client. Each proof period,
 * every host that proved its replica earns the deal's rate minus the network's commission. Hosts bond stake to the
 * deal; a proven fault slashes part of a host's bond. When the deal ends, at term or on cancellation, the unspent
 * rest returns to the client and the bonds to their hosts. Periods pay only hosts bonded to the deal, and slash
 * shares go only to the treasury and hosts bonded to it. A deal nobody ends can be reclaimed after its deadline plus
 * a grace period by its client; a host bonded to it may take back its own bond then, leaving the deal.
 * @dev Deal and fault ids are derived off chain from the orchestrator's ids, and escrow ids from the client and the
 * deal id, so a retried step can first read whether it already happened. A host that leaves a deal (released,
 * slashed to nothing, or taking its bond back) never bonds to it again. A deal pays at most `replicas` hosts per period, so it never pays out more than
 * was deposited.
 */
contract StorageEscrow is Escrow {
    using SafeCast for uint256;

    enum DealStatus {
        None,
        Active,
        Ended,
        Reclaimed
    }

    struct Deal {
        address client;
        // What the escrow still holds for the deal.
        uint96 remaining;
        address bondHead;
        uint64 deadline;
        DealStatus status;
        uint8 bondCount;
        uint16 replicas;
        uint96 ratePerHostPeriod;
        uint32 periods;
        uint32 releasedPeriods;
    }

    /**
     * @notice What a client signs to deposit a deal's term: `ratePerHostPeriod × replicas × periods`. `deadline` is
     * the last moment the order may be relayed and when, plus the grace period, the deal may be reclaimed; `nonce`
     * must be at least the client's `minNonceOf`.
     */
    struct DealOrder {
        address client;
        bytes32 dealId;
        bytes32 specHash;
        uint256 ratePerHostPeriod;
        uint16 replicas;
        uint32 periods;
        uint64 deadline;
        uint256 nonce;
    }

    /// @notice EIP-712 domain name of the orders and bond consents this escrow takes.
    string public constant DOMAIN_NAME = "Zansoc StorageEscrow";

    bytes32 private constant _DEAL_ORDER_TYPEHASH =
        keccak256(
            "DealOrder(address client,bytes32 dealId,bytes32 specHash,uint256 ratePerHostPeriod,uint16 replicas,uint32 periods,uint64 deadline,uint256 nonce)"
        );

    mapping(bytes32 escrowId => Deal) private _deals;
    mapping(bytes32 escrowId => mapping(bytes32 faultId => bool)) private _slashedFaults;

    /**
     * @dev Emitted when `client`'s order for `dealId` deposits `amount` in `escrowId`: `replicas` hosts paid
     * `ratePerHostPeriod` each for each of `periods` proof periods.
     */
    event DealDeposited(
        bytes32 indexed escrowId,
        address indexed client,
        bytes32 indexed dealId,
        bytes32 specHash,
        uint256 amount,
        uint256 ratePerHostPeriod,
        uint16 replicas,
        uint32 periods,
        uint64 deadline
    );

    /// @dev Emitted when `period` of `escrowId` pays `hosts`: `paidToHosts` in all, net of `commission`.
    event PeriodReleased(
        bytes32 indexed escrowId,
        uint32 indexed period,
        address[] hosts,
        uint256 paidToHosts,
        uint256 commission
    );

    /// @dev Emitted when `host` is penalised for fault `faultId` of `escrowId`; the slash itself is a BondSlashed.
    event FaultSlashed(bytes32 indexed escrowId, bytes32 indexed faultId, address indexed host);

    /// @dev Emitted when `escrowId` ends, at term or cancelled, and `refunded` returns to its client.
    event DealEnded(bytes32 indexed escrowId, uint32 releasedPeriods, uint256 refunded);

    /// @dev Emitted when an unended `escrowId` is reclaimed and `amount` returned to its client.
    event DealReclaimed(bytes32 indexed escrowId, address indexed client, uint256 amount);

    /// @dev `escrowId` was deposited before; ids are never reused.
    error StorageEscrowDealExists(bytes32 escrowId);

    /// @dev `escrowId` is not active (it is unknown, ended or reclaimed).
    error StorageEscrowDealNotActive(bytes32 escrowId, DealStatus status);

    /// @dev `period` of `escrowId` is not the next to release, `expected`: periods are released in order, once each.
    error StorageEscrowPeriodNotNext(bytes32 escrowId, uint32 period, uint32 expected);

    /// @dev `escrowId` has released all of its `periods` periods.
    error StorageEscrowTermOver(bytes32 escrowId, uint32 periods);

    /// @dev A period can pay at most `replicas` hosts, not `hosts`.
    error StorageEscrowTooManyHosts(bytes32 escrowId, uint256 hosts, uint16 replicas);

    /// @dev The hosts of a period must be listed in strictly ascending order, so none is paid twice.
    error StorageEscrowHostsNotAscending(bytes32 escrowId, uint256 index);

    /// @dev `faultId` of `escrowId` was slashed already.
    error StorageEscrowFaultSlashed(bytes32 escrowId, bytes32 faultId);

    /**
     * @param token_ The ZSC token every deal is paid in.
     * @param treasury_ Receives the commission.
     * @param registry_ Where hosts bond stake; must grant this contract ESCROW_ROLE.
     * @param admin Holds DEFAULT_ADMIN_ROLE and can grant and revoke the other roles.
     * @param governor Holds GOVERNOR_ROLE.
     * @param settler Holds SETTLER_ROLE.
     * @param reclaimGracePeriod_ Seconds after a deal's deadline before it may be reclaimed.
     */
    constructor(
        IERC20 token_,
        address treasury_,
        HostRegistry registry_,
        address admin,
        address governor,
        address settler,
        uint64 reclaimGracePeriod_
    ) Escrow(DOMAIN_NAME, token_, treasury_, registry_, admin, governor, settler, reclaimGracePeriod_) {}

    /**
     * @notice Deposits the whole term of a client's signed deal order: `ratePerHostPeriod` for each of `replicas`
     * hosts for each of `periods` proof periods. Anyone may relay the order; the escrow takes the money from the
     * order's client only.
     * @param order The client's order; its escrow, `escrowIdOf(order.client, order.dealId)`, must never have opened.
     * Its deadline is at or after the term's end.
     * @param signature The client's EIP-712 signature of `order` (ERC-1271 for a wallet contract).
     * @param permit The client's EIP-2612 permit for this escrow, or `v` 0 when its allowance covers the amount.
     * @return escrowId The deal's escrow id, which every other call of this escrow takes.
     */
    function depositFor(
        DealOrder calldata order,
        bytes calldata signature,
        Permit calldata permit
    ) external nonReentrant returns (bytes32 escrowId) {
        address client = order.client;
        escrowId = escrowIdOf(client, order.dealId);
        Deal storage deal = _deals[escrowId];
        if (deal.status != DealStatus.None) revert StorageEscrowDealExists(escrowId);
        uint256 rate = order.ratePerHostPeriod;
        if (rate == 0 || order.replicas == 0 || order.periods == 0) revert EscrowZeroAmount();
        uint96 amount = (rate * order.replicas * order.periods).toUint96();
        _checkOrder(client, keccak256(abi.encode(_DEAL_ORDER_TYPEHASH, order)), order.deadline, order.nonce, signature);

        deal.client = client;
        deal.remaining = amount;
        deal.deadline = order.deadline;
        deal.status = DealStatus.Active;
        deal.replicas = order.replicas;
        // rate <= amount, which fits in 96 bits, as replicas and periods are positive.
        deal.ratePerHostPeriod = uint96(rate);
        deal.periods = order.periods;
        _emitDeposited(escrowId, order, amount);

        _pullFrom(client, amount, permit);
    }

    /**
     * @notice Bonds `amount` of `host`'s free stake in the HostRegistry to active deal `escrowId`, with the host's
     * consent, until the deal ends or the host's bond is released or slashed away.
     * @param escrowId An active deal.
     * @param host A registered host with enough free stake, never bonded to this deal before.
     * @param amount Stake to bond, in base units.
     * @param consentDeadline The last moment the host's consent may be relayed.
     * @param hostSignature The host's EIP-712 signature of BondConsent(escrowId, host, amount, consentDeadline).
     */
    function bond(
        bytes32 escrowId,
        address host,
        uint256 amount,
        uint64 consentDeadline,
        bytes calldata hostSignature
    ) external onlyRole(SETTLER_ROLE) nonReentrant {
        Deal storage deal = _requireActive(escrowId);
        uint256 count = deal.bondCount;
        deal.bondHead = _addBond(escrowId, deal.bondHead, count, host, amount);
        // _addBond refuses a count at MAX_BONDS, which fits in 8 bits.
        unchecked {
            deal.bondCount = uint8(count + 1);
        }
        // After _addBond, so that a replayed consent is refused as the host bonded already.
        _checkConsent(escrowId, host, amount, consentDeadline, hostSignature);

        _lockStake(host, amount);
    }

    /**
     * @notice Pays proof period `period` of `escrowId`: each of `hosts` gets the deal's rate minus commission, the
     * treasury the commission. The shares of hosts that did not prove stay in the deal, refunded when it ends.
     * @param escrowId An active deal.
     * @param period The next period to release: periods are released in order, once each.
     * @param hosts The hosts that proved this period, each bonded to the deal, in strictly ascending order, at most
     * `replicas` of them.
     */
    function releasePeriod(
        bytes32 escrowId,
        uint32 period,
        address[] calldata hosts
    ) external onlyRole(SETTLER_ROLE) nonReentrant {
        Deal storage deal = _requireActive(escrowId);
        uint32 released = deal.releasedPeriods;
        if (released == deal.periods) revert StorageEscrowTermOver(escrowId, released);
        if (period != released) revert StorageEscrowPeriodNotNext(escrowId, period, released);
        if (hosts.length > deal.replicas) revert StorageEscrowTooManyHosts(escrowId, hosts.length, deal.replicas);
        for (uint256 i = 1; i < hosts.length; ++i) {
            if (hosts[i] <= hosts[i - 1]) revert StorageEscrowHostsNotAscending(escrowId, i);
        }
        for (uint256 i = 0; i < hosts.length; ++i) {
            _requirePayee(escrowId, hosts[i]);
        }

        uint256 rate = deal.ratePerHostPeriod;
        uint256 fee = _commissionOf(rate, commissionBps());
        uint256 net;
        // fee <= rate, since the commission is at most 100%.
        unchecked {
            net = rate - fee;
        }
        // At most `replicas` hosts for each period not yet released are still deposited, so this never underflows.
        deal.remaining -= uint96(rate * hosts.length);
        deal.releasedPeriods = released + 1;
        emit PeriodReleased(escrowId, period, hosts, net * hosts.length, fee * hosts.length);

        for (uint256 i = 0; i < hosts.length; ++i) {
            _pay(hosts[i], net);
        }
        _pay(treasury(), fee * hosts.length);
    }

    /**
     * @notice Penalises fault `faultId` of `escrowId` (a missed or wrong proof) by taking `amount` of `host`'s bond
     * for the deal and sending it to `recipient`. Each fault is slashed at most once; a bond slashed to zero is gone,
     * and its host leaves the deal.
     * @param escrowId An active deal.
     * @param faultId Identifier of the fault, never slashed before for this deal.
     * @param host The host at fault, bonded to the deal.
     * @param amount Part of the host's bond to take, in base units.
     * @param recipient Who receives it: the treasury or a host bonded to the deal (the one that repairs it).
     */
    function slash(
        bytes32 escrowId,
        bytes32 faultId,
        address host,
        uint256 amount,
        address recipient
    ) external onlyRole(SETTLER_ROLE) nonReentrant {
        Deal storage deal = _requireActive(escrowId);
        if (_slashedFaults[escrowId][faultId]) revert StorageEscrowFaultSlashed(escrowId, faultId);

        _slashedFaults[escrowId][faultId] = true;
        emit FaultSlashed(escrowId, faultId, host);
        // No client: a deal's client is refunded its unspent deposit, never paid from a bond.
        if (_reduceBond(escrowId, address(0), host, amount, recipient) == 0) {
            deal.bondHead = _unlink(escrowId, deal.bondHead, host);
            // The host was in the list, so there is at least one bond.
            unchecked {
                --deal.bondCount;
            }
        }

        _slashStake(host, amount, recipient);
    }

    /**
     * @notice Returns `host`'s bond for `escrowId` to its free stake before the deal ends, e.g. after its chunks were
     * repaired onto another host.
     * @param escrowId An active deal.
     * @param host A host bonded to the deal.
     */
    function releaseBond(bytes32 escrowId, address host) external onlyRole(SETTLER_ROLE) nonReentrant {
        _leaveDeal(_requireActive(escrowId), escrowId, host);
    }

    /**
     * @notice Ends an active deal, at the end of its term or when its client cancels it: the unspent rest returns
     * to the client and every bond to its host.
     * @param escrowId An active deal.
     */
    function endDeal(bytes32 escrowId) external onlyRole(SETTLER_ROLE) nonReentrant {
        Deal storage deal = _requireActive(escrowId);
        uint256 refunded = deal.remaining;
        address head = deal.bondHead;
        deal.status = DealStatus.Ended;
        deal.remaining = 0;
        deal.bondHead = address(0);
        deal.bondCount = 0;
        emit DealEnded(escrowId, deal.releasedPeriods, refunded);

        _releaseBonds(escrowId, head);
        _pay(deal.client, refunded);
    }

    /**
     * @notice Once the deal's deadline plus the grace period has passed, returns the unspent rest of a deal nobody
     * ended to its client, and every bond to its host, when the client calls; when a bonded host calls, returns only
     * that host's bond, and the host leaves the deal, which stays active.
     * @param escrowId An active deal; the caller must be its client or a host bonded to it.
     */
    function reclaim(bytes32 escrowId) external nonReentrant {
        Deal storage deal = _requireActive(escrowId);
        address client = deal.client;
        if (!_checkReclaim(escrowId, client, deal.deadline, msg.sender)) {
            _leaveDeal(deal, escrowId, msg.sender);
            return;
        }

        uint256 amount = deal.remaining;
        address head = deal.bondHead;
        deal.status = DealStatus.Reclaimed;
        deal.remaining = 0;
        deal.bondHead = address(0);
        deal.bondCount = 0;
        emit DealReclaimed(escrowId, client, amount);

        _releaseBonds(escrowId, head);
        _pay(client, amount);
    }

    /**
     * @notice The escrow of `escrowId`; all zero for an unknown deal.
     * @return client Who deposited and receives refunds.
     * @return remaining What the escrow still holds for the deal, in base units.
     * @return ratePerHostPeriod Gross pay of one host for one proven period.
     * @return replicas How many hosts each period pays at most.
     * @return periods How many periods the term has.
     * @return releasedPeriods How many periods were released; the next to release has this index.
     * @return deadline Unix time the reclaim grace period starts from.
     * @return status None, Active, Ended or Reclaimed.
     */
    function dealOf(
        bytes32 escrowId
    )
        external
        view
        returns (
            address client,
            uint256 remaining,
            uint256 ratePerHostPeriod,
            uint16 replicas,
            uint32 periods,
            uint32 releasedPeriods,
            uint64 deadline,
            DealStatus status
        )
    {
        Deal storage deal = _deals[escrowId];
        return (
            deal.client,
            deal.remaining,
            deal.ratePerHostPeriod,
            deal.replicas,
            deal.periods,
            deal.releasedPeriods,
            deal.deadline,
            deal.status
        );
    }

    /**
     * @notice The hosts bonded to active deal `escrowId` and their bonds, most recent first; empty once it is closed.
     * @return hosts The bonded hosts.
     * @return amounts Each host's bond, in base units.
     */
    function bondsOf(bytes32 escrowId) external view returns (address[] memory hosts, uint256[] memory amounts) {
        Deal storage deal = _deals[escrowId];
        return _bondsOf(escrowId, deal.bondHead, deal.bondCount);
    }

    /// @notice Whether fault `faultId` of `escrowId` was slashed.
    function isFaultSlashed(bytes32 escrowId, bytes32 faultId) external view returns (bool) {
        return _slashedFaults[escrowId][faultId];
    }

    /// @dev Removes `host`'s bond from `deal` and returns it to the host's free stake.
    function _leaveDeal(Deal storage deal, bytes32 escrowId, address host) private {
        (address head, uint256 amount) = _removeBond(escrowId, deal.bondHead, host);
        deal.bondHead = head;
        // _removeBond reverts unless the host was bonded, so there is at least one bond.
        unchecked {
            --deal.bondCount;
        }

        _unlockStake(host, amount);
    }

    /// @dev Emits DealDeposited for `order`; a function of its own, as the event's nine fields fill the stack.
    function _emitDeposited(bytes32 escrowId, DealOrder calldata order, uint256 amount) private {
        emit DealDeposited(
            escrowId,
            order.client,
            order.dealId,
            order.specHash,
            amount,
            order.ratePerHostPeriod,
            order.replicas,
            order.periods,
            order.deadline
        );
    }

    function _requireActive(bytes32 escrowId) private view returns (Deal storage deal) {
        deal = _deals[escrowId];
        if (deal.status != DealStatus.Active) revert StorageEscrowDealNotActive(escrowId, deal.status);
    }
}
