// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/**
 * @title JobEscrow
 * @notice Holds a client's ZSC for one compute job until the orchestrator settles it: hosts are paid for the work
 * they did minus the network's commission, and the client gets back whatever was not spent. A job that is never
 * settled can be reclaimed by its client after its deadline plus a grace period, so funds never depend on the
 * orchestrator staying alive.
 * @dev Job ids are derived off chain from the orchestrator's job id, so a retried step can first read whether it
 * already happened. The escrow never pays out more than was locked for a job.
 */
contract JobEscrow is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum JobStatus {
        None,
        Open,
        Settled,
        Reclaimed
    }

    struct Job {
        address client;
        uint64 deadline;
        JobStatus status;
        uint256 amount;
    }

    /// @notice Role that may change the commission rate.
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    /// @notice Role that may settle jobs: the orchestrator's key.
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");
    /// @notice Highest commission governance may set, in basis points.
    uint256 public constant MAX_COMMISSION_BPS = 2000;

    uint256 private constant _BPS = 10_000;
    uint256 private constant _INITIAL_COMMISSION_BPS = 1000;

    IERC20 private immutable _token;
    address private immutable _treasury;
    uint64 private immutable _reclaimGracePeriod;

    uint256 private _commissionBps;
    mapping(bytes32 jobId => Job) private _jobs;

    /// @dev Emitted when a client locks `amount` for `jobId`.
    event JobOpened(bytes32 indexed jobId, address indexed client, uint256 amount, uint64 deadline);

    /// @dev Emitted when `jobId` is settled. `paidToHosts` is net of `commission`; `refunded` went back to the client.
    event JobSettled(bytes32 indexed jobId, uint256 paidToHosts, uint256 commission, uint256 refunded);

    /// @dev Emitted when the client of an unsettled `jobId` takes its escrow back.
    event JobReclaimed(bytes32 indexed jobId, address indexed client, uint256 amount);

    /// @dev Emitted when the commission rate changes, including the initial rate at deployment.
    event CommissionChanged(uint256 previousBps, uint256 newBps);

    /// @dev A constructor argument is the zero address.
    error JobEscrowZeroAddress();

    /// @dev `jobId` was opened before; ids are never reused, even after settlement.
    error JobEscrowJobExists(bytes32 jobId);

    /// @dev A job must lock a positive amount.
    error JobEscrowZeroAmount();

    /// @dev The job's `deadline` is not in the future.
    error JobEscrowDeadlineInPast(uint64 deadline);

    /// @dev `jobId` is not open (it is unknown, settled or reclaimed).
    error JobEscrowJobNotOpen(bytes32 jobId, JobStatus status);

    /// @dev Settlement got `hosts` host addresses but `amounts` amounts.
    error JobEscrowPayoutsMismatch(uint256 hosts, uint256 amounts);

    /// @dev The gross payouts of `jobId` add up to more than the `locked` escrow.
    error JobEscrowPayoutExceedsEscrow(bytes32 jobId, uint256 payouts, uint256 locked);

    /// @dev The commission rate `bps` is above `cap`.
    error JobEscrowCommissionAboveCap(uint256 bps, uint256 cap);

    /// @dev Only the client that opened `jobId` may reclaim it.
    error JobEscrowNotClient(bytes32 jobId, address caller);

    /// @dev `jobId` cannot be reclaimed before `reclaimableAt` (deadline plus grace period).
    error JobEscrowReclaimTooEarly(bytes32 jobId, uint256 reclaimableAt);

    /**
     * @param token_ The ZSC token every job is paid in.
     * @param treasury_ Receives the commission.
     * @param admin Holds DEFAULT_ADMIN_ROLE and can grant and revoke the other roles.
     * @param governor Holds GOVERNOR_ROLE.
     * @param settler Holds SETTLER_ROLE.
     * @param reclaimGracePeriod_ Seconds after a job's deadline before its client may reclaim it.
     */
    constructor(
        IERC20 token_,
        address treasury_,
        address admin,
        address governor,
        address settler,
        uint64 reclaimGracePeriod_
    ) {
        if (
            address(token_) == address(0) ||
            treasury_ == address(0) ||
            admin == address(0) ||
            governor == address(0) ||
            settler == address(0)
        ) {
            revert JobEscrowZeroAddress();
        }
        _token = token_;
        _treasury = treasury_;
        _reclaimGracePeriod = reclaimGracePeriod_;
        _setCommissionBps(_INITIAL_COMMISSION_BPS);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNOR_ROLE, governor);
        _grantRole(SETTLER_ROLE, settler);
    }

    /**
     * @notice Locks `amount` ZSC of the caller (the client) for `jobId` until it is settled or reclaimed.
     * @dev The caller must have approved this contract for `amount` (or used the token's permit).
     * @param jobId Identifier of the job, never used before.
     * @param amount The most the job may cost, in base units.
     * @param deadline Unix time after which, plus the grace period, the client may reclaim an unsettled job.
     */
    function openJob(bytes32 jobId, uint256 amount, uint64 deadline) external nonReentrant {
        if (_jobs[jobId].status != JobStatus.None) revert JobEscrowJobExists(jobId);
        if (amount == 0) revert JobEscrowZeroAmount();
        if (deadline <= block.timestamp) revert JobEscrowDeadlineInPast(deadline);

        _jobs[jobId] = Job({client: msg.sender, deadline: deadline, status: JobStatus.Open, amount: amount});
        emit JobOpened(jobId, msg.sender, amount, deadline);

        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /**
     * @notice Settles an open job: pays each host its gross amount minus commission, sends the commission to the
     * treasury and refunds the unspent rest to the client. Empty payouts refund everything.
     * @param jobId The open job to settle.
     * @param hosts Host addresses to pay; a host may appear more than once.
     * @param amounts Gross payout of each host, in base units; their sum may not exceed the locked amount.
     */
    function settle(
        bytes32 jobId,
        address[] calldata hosts,
        uint256[] calldata amounts
    ) external onlyRole(SETTLER_ROLE) nonReentrant {
        if (hosts.length != amounts.length) revert JobEscrowPayoutsMismatch(hosts.length, amounts.length);
        Job storage job = _requireOpen(jobId);
        uint256 bps = _commissionBps;

        uint256 gross = 0;
        uint256 commission = 0;
        for (uint256 i = 0; i < amounts.length; ++i) {
            gross += amounts[i];
            commission += _commissionOf(amounts[i], bps);
        }
        uint256 locked = job.amount;
        if (gross > locked) revert JobEscrowPayoutExceedsEscrow(jobId, gross, locked);
        uint256 refunded = locked - gross;

        job.status = JobStatus.Settled;
        emit JobSettled(jobId, gross - commission, commission, refunded);

        for (uint256 i = 0; i < hosts.length; ++i) {
            _token.safeTransfer(hosts[i], amounts[i] - _commissionOf(amounts[i], bps));
        }
        if (commission != 0) _token.safeTransfer(_treasury, commission);
        if (refunded != 0) _token.safeTransfer(job.client, refunded);
    }

    /**
     * @notice Lets the client take back the whole escrow of a job nobody settled, once its deadline plus the grace
     * period has passed.
     * @param jobId The open job to reclaim; the caller must be the client that opened it.
     */
    function reclaim(bytes32 jobId) external nonReentrant {
        Job storage job = _requireOpen(jobId);
        if (msg.sender != job.client) revert JobEscrowNotClient(jobId, msg.sender);
        uint256 reclaimableAt = uint256(job.deadline) + _reclaimGracePeriod;
        if (block.timestamp < reclaimableAt) revert JobEscrowReclaimTooEarly(jobId, reclaimableAt);

        job.status = JobStatus.Reclaimed;
        emit JobReclaimed(jobId, msg.sender, job.amount);

        _token.safeTransfer(msg.sender, job.amount);
    }

    /**
     * @notice Sets the commission taken from every host payout, in basis points, up to MAX_COMMISSION_BPS.
     * @dev Applies to settlements from now on, including of jobs opened before.
     * @param bps The new rate (1000 = 10%).
     */
    function setCommissionBps(uint256 bps) external onlyRole(GOVERNOR_ROLE) {
        _setCommissionBps(bps);
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

    /// @notice The current commission rate in basis points.
    function commissionBps() external view returns (uint256) {
        return _commissionBps;
    }

    /// @notice Where commissions go.
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @notice The token jobs are paid in.
    function token() external view returns (IERC20) {
        return _token;
    }

    /// @notice Seconds after a job's deadline before its client may reclaim it.
    function reclaimGracePeriod() external view returns (uint64) {
        return _reclaimGracePeriod;
    }

    function _requireOpen(bytes32 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status != JobStatus.Open) revert JobEscrowJobNotOpen(jobId, job.status);
    }

    function _setCommissionBps(uint256 bps) private {
        if (bps > MAX_COMMISSION_BPS) revert JobEscrowCommissionAboveCap(bps, MAX_COMMISSION_BPS);
        uint256 previous = _commissionBps;
        _commissionBps = bps;
        emit CommissionChanged(previous, bps);
    }

    /// @dev Rounds down, per payout, so the host never receives less than its gross minus the exact rate.
    function _commissionOf(uint256 gross, uint256 bps) private pure returns (uint256) {
        return (gross * bps) / _BPS;
    }
}
