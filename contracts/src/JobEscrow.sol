// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Escrow} from "./Escrow.sol";
import {HostRegistry} from "./HostRegistry.sol";

/**
 * @title JobEscrow
 * @notice Holds a client's ZSC for one compute job until the orchestrator settles it: hosts are paid for the work
 * they did minus the network's commission, hosts at fault lose (part of) the stake they bonded to the job to the
 * challengers, replacements or treasury the settlement names, every other bond returns to its host, and the client
 * gets back whatever was not spent. Only hosts bonded to the job are paid, and slash shares go only to the
 * treasury and parties bonded to the job (challengers, arbiters, replacements all bond to it). A job that is never
 * settled can be reclaimed after its deadline plus a grace period by its client; a host bonded to it may take back
 * its own bond then, and the job stays open for the settlement or the client. So neither funds nor stake depend on
 * the orchestrator staying alive.
 * @dev Job ids are derived off chain from the orchestrator's job id, so a retried step can first read whether it
 * already happened. The escrow never pays out more than was locked for a job, so no host is paid more than that;
 * the price the client agreed per slot is not known on chain, so it cannot bound a single host's pay more tightly.
 */
contract JobEscrow is Escrow {
    using SafeCast for uint256;

    enum JobStatus {
        None,
        Open,
        Settled,
        Reclaimed
    }

    struct Job {
        address client;
        uint96 amount;
        // Second slot: everything bonding and settling touch.
        address bondHead;
        uint64 deadline;
        JobStatus status;
        uint8 bondCount;
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
        bytes32 jobId;
        Payout[] payouts;
        Slash[] slashes;
    }

    mapping(bytes32 jobId => Job) private _jobs;

    /// @dev Emitted when a client locks `amount` for `jobId`.
    event JobOpened(bytes32 indexed jobId, address indexed client, uint256 amount, uint64 deadline);

    /// @dev Emitted when `jobId` is settled. `paidToHosts` is net of `commission`; `refunded` went back to the client.
    event JobSettled(bytes32 indexed jobId, uint256 paidToHosts, uint256 commission, uint256 refunded);

    /// @dev Emitted when an unsettled `jobId` is reclaimed and its escrow returned to its client.
    event JobReclaimed(bytes32 indexed jobId, address indexed client, uint256 amount);

    /// @dev `jobId` was opened before; ids are never reused, even after settlement.
    error JobEscrowJobExists(bytes32 jobId);

    /// @dev `jobId` is not open (it is unknown, settled or reclaimed).
    error JobEscrowJobNotOpen(bytes32 jobId, JobStatus status);

    /// @dev The gross payouts of `jobId` add up to more than the `locked` escrow.
    error JobEscrowPayoutExceedsEscrow(bytes32 jobId, uint256 payouts, uint256 locked);

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
    ) Escrow(token_, treasury_, registry_, admin, governor, settler, reclaimGracePeriod_) {}

    /**
     * @notice Locks `amount` ZSC of the caller (the client) for `jobId` until it is settled or reclaimed.
     * @dev The caller must have approved this contract for `amount` (or used the token's permit).
     * @param jobId Identifier of the job, never used before.
     * @param amount The most the job may cost, in base units.
     * @param deadline Unix time after which, plus the grace period, an unsettled job may be reclaimed.
     */
    function openJob(bytes32 jobId, uint256 amount, uint64 deadline) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != JobStatus.None) revert JobEscrowJobExists(jobId);
        if (amount == 0) revert EscrowZeroAmount();
        if (deadline <= block.timestamp) revert EscrowDeadlineInPast(deadline);

        job.client = msg.sender;
        job.amount = amount.toUint96();
        job.deadline = deadline;
        job.status = JobStatus.Open;
        emit JobOpened(jobId, msg.sender, amount, deadline);

        _pull(msg.sender, amount);
    }

    /**
     * @notice Bonds `amount` of `host`'s free stake in the HostRegistry to open job `jobId`: it is returned at
     * settlement unless the settlement slashes it, and cannot be unbonded meanwhile.
     * @param jobId An open job.
     * @param host A registered host with enough free stake, not bonded to this job yet.
     * @param amount Stake to bond, in base units.
     */
    function bond(bytes32 jobId, address host, uint256 amount) external onlyRole(SETTLER_ROLE) nonReentrant {
        Job storage job = _requireOpen(jobId);
        uint256 count = job.bondCount;
        job.bondHead = _addBond(jobId, job.bondHead, count, host, amount);
        // _addBond refuses a count at MAX_BONDS, which fits in 8 bits.
        unchecked {
            job.bondCount = uint8(count + 1);
        }

        _lockStake(host, amount);
    }

    /**
     * @notice Settles an open job: pays each host its gross amount minus commission, sends the commission to the
     * treasury, slashes the bonds the settlement names, returns every other bond, and refunds the unspent rest to
     * the client. Empty payouts refund everything.
     * @param jobId The open job to settle.
     * @param payouts Gross pay per host, each bonded to the job; a host may appear more than once; the sum may not
     * exceed the escrow.
     * @param slashes Bond shares to take, each from a host bonded to the job, sent to its recipient (the treasury or
     * a party bonded to the job); a host may be slashed several times, to several recipients, up to its bond.
     */
    function settle(
        bytes32 jobId,
        Payout[] calldata payouts,
        Slash[] calldata slashes
    ) external onlyRole(SETTLER_ROLE) nonReentrant {
        Payments memory payments = _newPayments(payouts.length + 2);
        _settle(jobId, payouts, slashes, commissionBps(), payments);
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
        for (uint256 i = 0; i < settlements.length; ++i) {
            Settlement calldata settlement = settlements[i];
            _settle(settlement.jobId, settlement.payouts, settlement.slashes, bps, payments);
        }
        _payAll(payments);
    }

    /**
     * @notice Once the job's deadline plus the grace period has passed, returns the whole escrow of a job nobody
     * settled to its client, and every bond to its host, when the client calls; when a bonded host calls, returns
     * only that host's bond, and the job stays open. A host that took its bond back is still paid at settlement.
     * @param jobId The open job to reclaim; the caller must be its client or a host with a bond left in it.
     */
    function reclaim(bytes32 jobId) external nonReentrant {
        Job storage job = _requireOpen(jobId);
        address client = job.client;
        if (!_checkReclaim(jobId, client, job.deadline, msg.sender)) {
            _unlockStake(msg.sender, _takeBackBond(jobId, msg.sender));
            return;
        }

        uint256 amount = job.amount;
        address head = job.bondHead;
        job.status = JobStatus.Reclaimed;
        job.bondHead = address(0);
        job.bondCount = 0;
        emit JobReclaimed(jobId, client, amount);

        _releaseBonds(jobId, head);
        _pay(client, amount);
    }

    /**
     * @notice The escrow of `jobId`; all zero for an unknown job.
     * @return client Who opened the job and receives refunds.
     * @return amount What was locked, in base units (kept after settlement for the record).
     * @return deadline Unix time the reclaim grace period starts from.
     * @return status None, Open, Settled or Reclaimed.
     */
    function jobOf(
        bytes32 jobId
    ) external view returns (address client, uint256 amount, uint64 deadline, JobStatus status) {
        Job storage job = _jobs[jobId];
        return (job.client, job.amount, job.deadline, job.status);
    }

    /**
     * @notice The hosts bonded to open job `jobId` and their bonds, most recent first; empty once it is closed.
     * @return hosts The bonded hosts.
     * @return amounts Each host's bond, in base units; zero for a host that took its bond back at reclaim.
     */
    function bondsOf(bytes32 jobId) external view returns (address[] memory hosts, uint256[] memory amounts) {
        Job storage job = _jobs[jobId];
        return _bondsOf(jobId, job.bondHead, job.bondCount);
    }

    /// @dev Settles one job, adding what it pays to `payments`; the registry pays slashes to their recipients at once.
    function _settle(
        bytes32 jobId,
        Payout[] calldata payouts,
        Slash[] calldata slashes,
        uint256 bps,
        Payments memory payments
    ) private {
        Job storage job = _requireOpen(jobId);
        address head = job.bondHead;
        (uint256 gross, uint256 commission) = _creditPayouts(jobId, head, payouts, bps, payments);
        uint256 locked = job.amount;
        if (gross > locked) revert JobEscrowPayoutExceedsEscrow(jobId, gross, locked);
        uint256 refunded;
        uint256 paidToHosts;
        // gross <= locked, checked above; commission <= gross, as each fee <= its amount.
        unchecked {
            refunded = locked - gross;
            paidToHosts = gross - commission;
        }

        job.status = JobStatus.Settled;
        job.bondHead = address(0);
        job.bondCount = 0;
        emit JobSettled(jobId, paidToHosts, commission, refunded);

        _credit(payments, treasury(), commission);
        _credit(payments, job.client, refunded);
        _slash(jobId, head, slashes);
        _releaseBonds(jobId, head);
    }

    /**
     * @dev Adds each payout, net of commission, to `payments`; returns the gross total and the commission. Each
     * payee must be in the bond list of `jobId`, starting at `head`.
     */
    function _creditPayouts(
        bytes32 jobId,
        address head,
        Payout[] calldata payouts,
        uint256 bps,
        Payments memory payments
    ) private returns (uint256 gross, uint256 commission) {
        for (uint256 i = 0; i < payouts.length; ++i) {
            _requirePayee(jobId, head, payouts[i].host);
            uint256 amount = payouts[i].amount;
            uint256 fee = _commissionOf(amount, bps);
            gross += amount;
            commission += fee;
            // fee <= amount, since bps <= _BPS.
            unchecked {
                _credit(payments, payouts[i].host, amount - fee);
            }
        }
    }

    /// @dev Takes each slash from its host's bond for `jobId` (bond list from `head`), then has the registry pay them.
    function _slash(bytes32 jobId, address head, Slash[] calldata slashes) private {
        for (uint256 i = 0; i < slashes.length; ++i) {
            Slash calldata slash = slashes[i];
            _reduceBond(jobId, head, slash.host, slash.amount, slash.recipient);
        }
        for (uint256 i = 0; i < slashes.length; ++i) {
            Slash calldata slash = slashes[i];
            _slashStake(slash.host, slash.amount, slash.recipient);
        }
    }

    function _requireOpen(bytes32 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status != JobStatus.Open) revert JobEscrowJobNotOpen(jobId, job.status);
    }
}
