// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SlotDerivation} from "@openzeppelin/contracts/utils/SlotDerivation.sol";
import {TransientSlot} from "@openzeppelin/contracts/utils/TransientSlot.sol";
import {Escrow} from "./Escrow.sol";
import {HostRegistry} from "./HostRegistry.sol";

/**
 * @title JobEscrow
 * @notice Holds a client's ZSC for one compute job until the orchestrator settles it. The client signs an order
 * (its job, its spec's hash, the price per slot and how many slots) and a permit; anyone may relay them, and the
 * escrow then takes exactly the order's amount from the client. At settlement, hosts are paid for the work
 * they did minus the network's commission, hosts at fault lose (part of) the stake they bonded to the job to the
 * challengers, replacements or treasury the settlement names, every other bond returns to its host, and the client
 * gets back whatever was not spent. Only hosts bonded to the job are paid, and slash shares go only to the
 * treasury, parties bonded to the job (challengers, arbiters, replacements all bond to it) and the client, which a
 * settlement may compensate from the bonds of hosts at fault up to what it locked, never more: so no client, nor a
 * settler that signs orders of its own, profits from slashing a host of its job. A job that is never
 * settled can be reclaimed after its deadline plus a grace period by its client; a host bonded to it may take back
 * its own bond then, and the job stays open for the settlement or the client. So neither funds nor stake depend on
 * the orchestrator staying alive.
 * @dev Job ids are derived off chain from the orchestrator's job id, and escrow ids from the client and the job id,
 * so a retried step can first read whether it already happened. A settlement pays no host more than the price per
 * slot the client signed, and all hosts together no more than was locked.
 */
contract JobEscrow is Escrow {
    using SafeCast for uint256;
    using SlotDerivation for bytes32;
    using TransientSlot for *;

    enum JobStatus {
        None,
        Open,
        Settled,
        Reclaimed
    }

    /**
     * @dev A job's record in two slots. The first, what the client signed for, is kept forever: it marks the escrow
     * id as used. The second, everything bonding and reclaiming touch, lives only while the job is open: settlement
     * deletes it, which refunds most of what writing it cost. So a record whose second slot is empty and whose
     * first is not is a settled job; a reclaimed job keeps its second slot with the status Reclaimed.
     */
    struct Job {
        address client;
        uint88 pricePerSlot;
        uint8 slots;
        OpenJob open;
    }

    struct OpenJob {
        address bondHead;
        uint64 deadline;
        JobStatus status;
        uint8 bondCount;
    }

    /**
     * @notice What a client signs to open a job: `pricePerSlot × slots` is locked, and no host is paid more than
     * `pricePerSlot`. `deadline` is the last moment the order may be relayed and when, plus the grace period, the
     * job may be reclaimed; `nonce` must be at least the client's `minNonceOf`.
     */
    struct JobOrder {
        address client;
        bytes32 jobId;
        bytes32 specHash;
        uint256 pricePerSlot;
        uint8 slots;
        uint64 deadline;
        uint256 nonce;
    }

    /// @notice A host's gross pay for a job, before commission.
    struct Payout {
        address host;
        uint256 amount;
    }

    /// @notice A share of a host's bond taken at settlement and sent to `recipient`.
    struct Slash {
        address host;
        address recipient;
        uint256 amount;
    }

    /// @notice One job's settlement, as `settleBatch` takes it.
    struct Settlement {
        bytes32 escrowId;
        Payout[] payouts;
        Slash[] slashes;
    }

    /// @notice EIP-712 domain name of the orders and bond consents this escrow takes.
    string public constant DOMAIN_NAME = "Zansoc JobEscrow";

    bytes32 private constant _JOB_ORDER_TYPEHASH =
        keccak256(
            "JobOrder(address client,bytes32 jobId,bytes32 specHash,uint256 pricePerSlot,uint8 slots,uint64 deadline,uint256 nonce)"
        );
    // keccak256(abi.encode(uint256(keccak256("zansoc.transient.JobEscrowPaid")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _PAID_SLOT = 0xaaf9d454da5d9380e5ee7c4595107a438a49c0570817babe462a968300a36600;

    mapping(bytes32 escrowId => Job) private _jobs;

    /// @dev Emitted when `client`'s order for `jobId` locks `amount` in `escrowId`.
    event JobOpened(
        bytes32 indexed escrowId,
        address indexed client,
        bytes32 indexed jobId,
        bytes32 specHash,
        uint256 amount,
        uint256 pricePerSlot,
        uint64 deadline
    );

    /// @dev Emitted when `escrowId` is settled. `paidToHosts` is net of `commission`; `refunded` went to the client.
    event JobSettled(bytes32 indexed escrowId, uint256 paidToHosts, uint256 commission, uint256 refunded);

    /// @dev Emitted when an unsettled `escrowId` is reclaimed and its escrow returned to its client.
    event JobReclaimed(bytes32 indexed escrowId, address indexed client, uint256 amount);

    /// @dev `escrowId` was opened before; ids are never reused, even after settlement.
    error JobEscrowJobExists(bytes32 escrowId);

    /// @dev `escrowId` is not open (it is unknown, settled or reclaimed).
    error JobEscrowJobNotOpen(bytes32 escrowId, JobStatus status);

    /// @dev The gross payouts of `escrowId` add up to more than the `locked` escrow.
    error JobEscrowPayoutExceedsEscrow(bytes32 escrowId, uint256 payouts, uint256 locked);

    /// @dev `host` would be paid `paid` gross for `escrowId`, more than the `pricePerSlot` its client signed.
    error JobEscrowPayAboveSignedPrice(bytes32 escrowId, address host, uint256 paid, uint256 pricePerSlot);

    /// @dev Slash shares of `escrowId` to its client add up to `compensation`, more than the `locked` escrow.
    error JobEscrowCompensationAboveEscrow(bytes32 escrowId, uint256 compensation, uint256 locked);

    /// @dev An order's `slots` must be at most `max`, the most hosts that may bond to one job.
    error JobEscrowTooManySlots(uint256 slots, uint256 max);

    /**
     * @param token_ The ZSC token every job is paid in.
     * @param treasury_ Receives the commission.
     * @param registry_ Where hosts bond stake; must grant this contract ESCROW_ROLE.
     * @param admin Holds DEFAULT_ADMIN_ROLE and can grant and revoke the other roles.
     * @param governor Holds GOVERNOR_ROLE.
     * @param settler Holds SETTLER_ROLE.
     * @param reclaimGracePeriod_ Seconds after a job's deadline before it may be reclaimed.
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
     * @notice Opens the job of a client's signed order, locking `pricePerSlot × slots` of the client's ZSC until it
     * is settled or reclaimed. Anyone may relay the order; the escrow takes the money from the order's client only.
     * @param order The client's order; its escrow, `escrowIdOf(order.client, order.jobId)`, must never have opened.
     * @param signature The client's EIP-712 signature of `order` (ERC-1271 for a wallet contract).
     * @param permit The client's EIP-2612 permit for this escrow, or `v` 0 when its allowance covers the amount.
     * @return escrowId The job's escrow id, which every other call of this escrow takes.
     */
    function openJobFor(
        JobOrder calldata order,
        bytes calldata signature,
        Permit calldata permit
    ) external nonReentrant returns (bytes32 escrowId) {
        address client = order.client;
        escrowId = escrowIdOf(client, order.jobId);
        Job storage job = _jobs[escrowId];
        if (job.client != address(0)) revert JobEscrowJobExists(escrowId);
        uint256 slots = order.slots;
        if (order.pricePerSlot == 0 || slots == 0) revert EscrowZeroAmount();
        if (slots > MAX_BONDS) revert JobEscrowTooManySlots(slots, MAX_BONDS);
        uint96 amount = (order.pricePerSlot * slots).toUint96();
        _checkOrder(client, keccak256(abi.encode(_JOB_ORDER_TYPEHASH, order)), order.deadline, order.nonce, signature);

        job.client = client;
        job.pricePerSlot = order.pricePerSlot.toUint88();
        job.slots = uint8(slots);
        job.open = OpenJob({bondHead: address(0), deadline: order.deadline, status: JobStatus.Open, bondCount: 0});
        emit JobOpened(escrowId, client, order.jobId, order.specHash, amount, order.pricePerSlot, order.deadline);

        _pullFrom(client, amount, permit);
    }

    /**
     * @notice Bonds `amount` of `host`'s free stake in the HostRegistry to open job `escrowId`, with the host's
     * consent: it is returned at settlement unless the settlement slashes it, and cannot be unbonded meanwhile.
     * @param escrowId An open job.
     * @param host A registered host with enough free stake, never bonded to this job before.
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
        OpenJob storage open = _requireOpen(escrowId).open;
        uint256 count = open.bondCount;
        open.bondHead = _addBond(escrowId, open.bondHead, count, host, amount);
        // _addBond refuses a count at MAX_BONDS, which fits in 8 bits.
        unchecked {
            open.bondCount = uint8(count + 1);
        }
        // After _addBond, so that a replayed consent is refused as the host bonded already.
        _checkConsent(escrowId, host, amount, consentDeadline, hostSignature);

        _lockStake(host, amount);
    }

    /**
     * @notice Settles an open job: pays each host its gross amount minus commission, sends the commission to the
     * treasury, slashes the bonds the settlement names, returns every other bond, and refunds the unspent rest to
     * the client. Empty payouts refund everything.
     * @param escrowId The open job to settle.
     * @param payouts Gross pay per host, each bonded to the job; a host may appear more than once, and is paid at
     * most the job's price per slot in all; the sum may not exceed the escrow.
     * @param slashes Bond shares to take, each from a host bonded to the job, sent to its recipient (the treasury,
     * a party bonded to the job, or the client, at most what it locked in all); a host may be slashed several times, to several recipients, up to its bond.
     */
    function settle(
        bytes32 escrowId,
        Payout[] calldata payouts,
        Slash[] calldata slashes
    ) external onlyRole(SETTLER_ROLE) nonReentrant {
        Payments memory payments = _newPayments(payouts.length + 2);
        uint256 commission = _settle(escrowId, payouts, slashes, commissionBps(), payments);
        _credit(payments, treasury(), commission);
        _payAll(payments);
    }

    /**
     * @notice Settles many open jobs in one transaction, each exactly as `settle` would. Payments to one recipient
     * across the batch are added up and sent once. If any settlement is invalid, none happens.
     * @param settlements One entry per job; a job may appear only once.
     */
    function settleBatch(Settlement[] calldata settlements) external onlyRole(SETTLER_ROLE) nonReentrant {
        // Each job pays its hosts and its client; all pay the treasury.
        uint256 capacity = 1;
        for (uint256 i = 0; i < settlements.length; ++i) {
            capacity += settlements[i].payouts.length + 1;
        }
        Payments memory payments = _newPayments(capacity);
        uint256 bps = commissionBps();
        // Credited once for the whole batch: the treasury is owed every job's commission.
        uint256 commission;
        for (uint256 i = 0; i < settlements.length; ++i) {
            Settlement calldata settlement = settlements[i];
            commission += _settle(settlement.escrowId, settlement.payouts, settlement.slashes, bps, payments);
        }
        _credit(payments, treasury(), commission);
        _payAll(payments);
    }

    /**
     * @notice Once the job's deadline plus the grace period has passed, returns the whole escrow of a job nobody
     * settled to its client, and every bond to its host, when the client calls; when a bonded host calls, returns
     * only that host's bond, and the job stays open. A host that took its bond back is still paid at settlement.
     * @param escrowId The open job to reclaim; the caller must be its client or a host with a bond left in it.
     */
    function reclaim(bytes32 escrowId) external nonReentrant {
        Job storage job = _requireOpen(escrowId);
        address client = job.client;
        if (!_checkReclaim(escrowId, client, job.open.deadline, msg.sender)) {
            _unlockStake(msg.sender, _takeBackBond(escrowId, msg.sender));
            return;
        }

        uint256 amount = _amountOf(job);
        address head = job.open.bondHead;
        job.open = OpenJob({bondHead: address(0), deadline: job.open.deadline, status: JobStatus.Reclaimed, bondCount: 0});
        emit JobReclaimed(escrowId, client, amount);

        _releaseBonds(escrowId, head);
        _pay(client, amount);
    }

    /**
     * @notice The escrow of `escrowId`; all zero for an unknown job.
     * @return client Who signed the job's order and receives refunds.
     * @return amount What was locked, price per slot × slots, in base units (kept after settlement for the record).
     * @return pricePerSlot The most one host may be paid for the job, as the client signed it.
     * @return deadline Unix time the reclaim grace period starts from; zero once the job is settled.
     * @return status None, Open, Settled or Reclaimed.
     */
    function jobOf(
        bytes32 escrowId
    )
        external
        view
        returns (address client, uint256 amount, uint256 pricePerSlot, uint64 deadline, JobStatus status)
    {
        Job storage job = _jobs[escrowId];
        return (job.client, _amountOf(job), job.pricePerSlot, job.open.deadline, _statusOf(job));
    }

    /**
     * @notice The hosts bonded to open job `escrowId` and their bonds, most recent first; empty once it is closed.
     * @return hosts The bonded hosts.
     * @return amounts Each host's bond, in base units; zero for a host that took its bond back at reclaim.
     */
    function bondsOf(bytes32 escrowId) external view returns (address[] memory hosts, uint256[] memory amounts) {
        OpenJob storage open = _jobs[escrowId].open;
        return _bondsOf(escrowId, open.bondHead, open.bondCount);
    }

    /**
     * @dev Settles one job, adding what it pays its hosts and client to `payments`, and returns its commission, which
     * the caller credits to the treasury; the registry pays slashes to their recipients at once.
     */
    function _settle(
        bytes32 escrowId,
        Payout[] calldata payouts,
        Slash[] calldata slashes,
        uint256 bps,
        Payments memory payments
    ) private returns (uint256 commission) {
        Job storage job = _requireOpen(escrowId);
        address head = job.open.bondHead;
        uint256 price = job.pricePerSlot;
        uint256 gross;
        (gross, commission) = _creditPayouts(escrowId, price, payouts, bps, payments);
        uint256 locked;
        // price × slots was checked to fit in 96 bits when the job opened.
        unchecked {
            locked = price * job.slots;
        }
        if (gross > locked) revert JobEscrowPayoutExceedsEscrow(escrowId, gross, locked);
        uint256 refunded;
        uint256 paidToHosts;
        // gross <= locked, checked above; commission <= gross, as each fee <= its amount.
        unchecked {
            refunded = locked - gross;
            paidToHosts = gross - commission;
        }

        delete job.open;
        emit JobSettled(escrowId, paidToHosts, commission, refunded);

        _credit(payments, job.client, refunded);
        if (slashes.length != 0) _slash(escrowId, job.client, locked, slashes);
        _releaseBonds(escrowId, head);
    }

    /**
     * @dev Adds each payout, net of commission, to `payments`; returns the gross total and the commission. Each
     * payee must be bonded to `escrowId`, and is paid at most `price` gross in all, counted in transient storage:
     * a job is settled once, so its count never carries over from another settlement.
     */
    function _creditPayouts(
        bytes32 escrowId,
        uint256 price,
        Payout[] calldata payouts,
        uint256 bps,
        Payments memory payments
    ) private returns (uint256 gross, uint256 commission) {
        for (uint256 i = 0; i < payouts.length; ++i) {
            address host = payouts[i].host;
            uint256 amount = payouts[i].amount;
            _requirePayee(escrowId, host);
            TransientSlot.Uint256Slot paidSlot = _PAID_SLOT.deriveMapping(escrowId).deriveMapping(host).asUint256();
            uint256 paid = paidSlot.tload() + amount;
            if (paid > price) revert JobEscrowPayAboveSignedPrice(escrowId, host, paid, price);
            paidSlot.tstore(paid);
            uint256 fee = _commissionOf(amount, bps);
            gross += amount;
            commission += fee;
            // fee <= amount, since bps <= _BPS.
            unchecked {
                _credit(payments, host, amount - fee);
            }
        }
    }

    /**
     * @dev Takes each slash from its host's bond for `escrowId`, then has the registry pay them. Shares to the job's
     * `client` compensate it: together they may not exceed what it `locked`.
     */
    function _slash(bytes32 escrowId, address client, uint256 locked, Slash[] calldata slashes) private {
        uint256 toClient;
        for (uint256 i = 0; i < slashes.length; ++i) {
            Slash calldata slash = slashes[i];
            _reduceBond(escrowId, client, slash.host, slash.amount, slash.recipient);
            if (slash.recipient == client) {
                toClient += slash.amount;
                if (toClient > locked) revert JobEscrowCompensationAboveEscrow(escrowId, toClient, locked);
            }
        }
        for (uint256 i = 0; i < slashes.length; ++i) {
            Slash calldata slash = slashes[i];
            _slashStake(slash.host, slash.amount, slash.recipient);
        }
    }

    function _requireOpen(bytes32 escrowId) private view returns (Job storage job) {
        job = _jobs[escrowId];
        if (job.open.status != JobStatus.Open) revert JobEscrowJobNotOpen(escrowId, _statusOf(job));
    }

    /// @dev Open or Reclaimed as its open record says; Settled when that record is gone, None when there is none.
    function _statusOf(Job storage job) private view returns (JobStatus) {
        JobStatus status = job.open.status;
        if (status == JobStatus.None && job.client != address(0)) return JobStatus.Settled;
        return status;
    }

    /// @dev What `job` locked: its price per slot times its slots.
    function _amountOf(Job storage job) private view returns (uint256) {
        return uint256(job.pricePerSlot) * job.slots;
    }
}
