import {
  BaseContract,
  isCallException,
  type AddressLike,
  type BaseContractMethod,
  type BigNumberish,
  type BytesLike,
  type ContractRunner,
  type ContractTransactionResponse,
  type Interface,
} from 'ethers';

/*
 * Typed handles on the deployed contracts. The ABIs are written out here, rather than read from contracts/build, so
 * the orchestrator and host images run without a Solidity build; test/contracts checks they equal the compiled ones.
 */

type View<A extends unknown[], R> = BaseContractMethod<A, R, R>;
type Send<A extends unknown[]> = BaseContractMethod<A, void, ContractTransactionResponse>;

export const ZANSOC_TOKEN_ABI = [
  'error ECDSAInvalidSignature()',
  'error ECDSAInvalidSignatureLength(uint256 length)',
  'error ECDSAInvalidSignatureS(bytes32 s)',
  'error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)',
  'error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)',
  'error ERC20InvalidApprover(address approver)',
  'error ERC20InvalidReceiver(address receiver)',
  'error ERC20InvalidSender(address sender)',
  'error ERC20InvalidSpender(address spender)',
  'error ERC2612ExpiredSignature(uint256 deadline)',
  'error ERC2612InvalidSigner(address signer, address owner)',
  'error InvalidAccountNonce(address account, uint256 currentNonce)',
  'error InvalidShortString()',
  'error StringTooLong(string str)',
  'event Approval(address indexed owner, address indexed spender, uint256 value)',
  'event EIP712DomainChanged()',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
  'function DOMAIN_SEPARATOR() view returns (bytes32)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function approve(address spender, uint256 value) returns (bool)',
  'function balanceOf(address account) view returns (uint256)',
  'function decimals() view returns (uint8)',
  'function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)',
  'function name() view returns (string)',
  'function nonces(address owner) view returns (uint256)',
  'function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)',
  'function symbol() view returns (string)',
  'function totalSupply() view returns (uint256)',
  'function transfer(address to, uint256 value) returns (bool)',
  'function transferFrom(address from, address to, uint256 value) returns (bool)',
] as const;

/** AccessControl: in every Zansoc contract but the token. */
const ACCESS_CONTROL_ABI = [
  'error AccessControlBadConfirmation()',
  'error AccessControlUnauthorizedAccount(address account, bytes32 neededRole)',
  'event RoleAdminChanged(bytes32 indexed role, bytes32 indexed previousAdminRole, bytes32 indexed newAdminRole)',
  'event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender)',
  'event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender)',
  'function DEFAULT_ADMIN_ROLE() view returns (bytes32)',
  'function getRoleAdmin(bytes32 role) view returns (bytes32)',
  'function grantRole(bytes32 role, address account)',
  'function hasRole(bytes32 role, address account) view returns (bool)',
  'function renounceRole(bytes32 role, address callerConfirmation)',
  'function revokeRole(bytes32 role, address account)',
  'function supportsInterface(bytes4 interfaceId) view returns (bool)',
] as const;

/** AccessControl, the reentrancy guard, SafeCast and SafeERC20: in the registry and the escrows. */
const COMMON_ABI = [
  ...ACCESS_CONTROL_ABI,
  'error ReentrancyGuardReentrantCall()',
  'error SafeCastOverflowedUintDowncast(uint8 bits, uint256 value)',
  'error SafeERC20FailedOperation(address token)',
] as const;

export const HOST_REGISTRY_ABI = [
  ...COMMON_ABI,
  'error HostRegistryAlreadyRegistered(address host)',
  'error HostRegistryInsufficientFreeStake(address host, uint256 free, uint256 needed)',
  'error HostRegistryInsufficientLockedStake(address host, uint256 locked, uint256 needed)',
  'error HostRegistryNotRegistered(address host)',
  'error HostRegistryNothingToWithdraw(address host)',
  'error HostRegistryUnbondingNotDue(address host, uint64 withdrawableAt)',
  'error HostRegistryZeroAddress()',
  'error HostRegistryZeroAmount()',
  'error HostRegistryZeroMetadata()',
  'event HostRegistered(address indexed host, uint256 stake, bytes32 metadataHash)',
  'event MetadataUpdated(address indexed host, bytes32 metadataHash)',
  'event StakeAdded(address indexed host, uint256 amount, uint256 staked)',
  'event StakeSlashed(address indexed host, address indexed escrow, address indexed recipient, uint256 amount)',
  'event StakeWithdrawn(address indexed host, uint256 amount)',
  'event UnbondRequested(address indexed host, uint256 amount, uint256 unbonding, uint64 withdrawableAt)',
  'function ESCROW_ROLE() view returns (bytes32)',
  'function addStake(uint256 amount)',
  'function freeStakeOf(address host) view returns (uint256)',
  'function hostOf(address host) view returns (bool registered, uint256 staked, uint256 locked, uint256 unbonding, uint64 withdrawableAt, bytes32 metadataHash)',
  'function lockStake(address host, uint256 amount)',
  'function register(uint256 stake, bytes32 metadataHash)',
  'function requestUnbond(uint256 amount)',
  'function slashStake(address host, uint256 amount, address recipient)',
  'function token() view returns (address)',
  'function unbondingDelay() view returns (uint64)',
  'function unlockStake(address host, uint256 amount)',
  'function updateMetadata(bytes32 metadataHash)',
  'function withdraw()',
] as const;

/** What JobEscrow and StorageEscrow share (contracts/src/Escrow.sol), EIP-712 included. */
const ESCROW_ABI = [
  ...COMMON_ABI,
  'error EscrowBadSignature(address signer)',
  'error EscrowCommissionAboveCap(uint256 bps, uint256 cap)',
  'error EscrowConsentExpired(uint64 deadline)',
  'error EscrowDeadlineInPast(uint64 deadline)',
  'error EscrowHostAlreadyBonded(bytes32 id, address host)',
  'error EscrowNonceFloorNotRaised(uint256 nonce, uint256 minNonce)',
  'error EscrowNotBonded(bytes32 id, address host)',
  'error EscrowNotParty(bytes32 id, address caller)',
  'error EscrowOrderCancelled(address client, uint256 nonce, uint256 minNonce)',
  'error EscrowPayeeNotBonded(bytes32 id, address payee)',
  'error EscrowReclaimTooEarly(bytes32 id, uint256 reclaimableAt)',
  'error EscrowRecipientNotParty(bytes32 id, address recipient)',
  'error EscrowSlashExceedsBond(bytes32 id, address host, uint256 amount, uint256 bonded)',
  'error EscrowTooManyBonds(bytes32 id, uint256 max)',
  'error EscrowZeroAddress()',
  'error EscrowZeroAmount()',
  'error InvalidShortString()',
  'error StringTooLong(string str)',
  'event BondReleased(bytes32 indexed id, address indexed host, uint256 amount)',
  'event BondSlashed(bytes32 indexed id, address indexed host, address indexed recipient, uint256 amount)',
  'event CommissionChanged(uint256 previousBps, uint256 newBps)',
  'event EIP712DomainChanged()',
  'event HostBonded(bytes32 indexed id, address indexed host, uint256 amount)',
  'event OrdersCancelled(address indexed client, uint256 minNonce)',
  'function DOMAIN_NAME() view returns (string)',
  'function GOVERNOR_ROLE() view returns (bytes32)',
  'function MAX_BONDS() view returns (uint256)',
  'function MAX_COMMISSION_BPS() view returns (uint256)',
  'function SETTLER_ROLE() view returns (bytes32)',
  'function bond(bytes32 escrowId, address host, uint256 amount, uint64 consentDeadline, bytes hostSignature)',
  'function bondOf(bytes32 id, address host) view returns (uint256)',
  'function bondsOf(bytes32 escrowId) view returns (address[] hosts, uint256[] amounts)',
  'function cancelOrdersBelow(uint256 nonce)',
  'function commissionBps() view returns (uint256)',
  'function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)',
  'function escrowIdOf(address client, bytes32 id) pure returns (bytes32)',
  'function minNonceOf(address client) view returns (uint256)',
  'function reclaim(bytes32 escrowId)',
  'function reclaimGracePeriod() view returns (uint64)',
  'function registry() view returns (address)',
  'function setCommissionBps(uint256 bps)',
  'function token() view returns (address)',
  'function treasury() view returns (address)',
] as const;

const PERMIT_TUPLE = '(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) permit';

export const JOB_ESCROW_ABI = [
  ...ESCROW_ABI,
  'error JobEscrowJobExists(bytes32 escrowId)',
  'error JobEscrowJobNotOpen(bytes32 escrowId, uint8 status)',
  'error JobEscrowPayAboveSignedPrice(bytes32 escrowId, address host, uint256 paid, uint256 pricePerSlot)',
  'error JobEscrowCompensationAboveEscrow(bytes32 escrowId, uint256 compensation, uint256 locked)',
  'error JobEscrowPayoutExceedsEscrow(bytes32 escrowId, uint256 payouts, uint256 locked)',
  'error JobEscrowTooManySlots(uint256 slots, uint256 max)',
  'event JobOpened(bytes32 indexed escrowId, address indexed client, bytes32 indexed jobId, bytes32 specHash, uint256 amount, uint256 pricePerSlot, uint64 deadline)',
  'event JobReclaimed(bytes32 indexed escrowId, address indexed client, uint256 amount)',
  'event JobSettled(bytes32 indexed escrowId, uint256 paidToHosts, uint256 commission, uint256 refunded)',
  'function jobOf(bytes32 escrowId) view returns (address client, uint256 amount, uint256 pricePerSlot, uint64 deadline, uint8 status)',
  `function openJobFor((address client, bytes32 jobId, bytes32 specHash, uint256 pricePerSlot, uint8 slots, uint64 deadline, uint256 nonce) order, bytes signature, ${PERMIT_TUPLE}) returns (bytes32 escrowId)`,
  'function settle(bytes32 escrowId, (address host, uint256 amount)[] payouts, (address host, address recipient, uint256 amount)[] slashes)',
  'function settleBatch((bytes32 escrowId, (address host, uint256 amount)[] payouts, (address host, address recipient, uint256 amount)[] slashes)[] settlements)',
] as const;

export const STORAGE_ESCROW_ABI = [
  ...ESCROW_ABI,
  'error StorageEscrowDealExists(bytes32 escrowId)',
  'error StorageEscrowDealNotActive(bytes32 escrowId, uint8 status)',
  'error StorageEscrowFaultSlashed(bytes32 escrowId, bytes32 faultId)',
  'error StorageEscrowHostsNotAscending(bytes32 escrowId, uint256 index)',
  'error StorageEscrowPeriodNotNext(bytes32 escrowId, uint32 period, uint32 expected)',
  'error StorageEscrowTermOver(bytes32 escrowId, uint32 periods)',
  'error StorageEscrowTooManyHosts(bytes32 escrowId, uint256 hosts, uint16 replicas)',
  'event DealDeposited(bytes32 indexed escrowId, address indexed client, bytes32 indexed dealId, bytes32 specHash, uint256 amount, uint256 ratePerHostPeriod, uint16 replicas, uint32 periods, uint64 deadline)',
  'event DealEnded(bytes32 indexed escrowId, uint32 releasedPeriods, uint256 refunded)',
  'event DealReclaimed(bytes32 indexed escrowId, address indexed client, uint256 amount)',
  'event FaultSlashed(bytes32 indexed escrowId, bytes32 indexed faultId, address indexed host)',
  'event PeriodReleased(bytes32 indexed escrowId, uint32 indexed period, address[] hosts, uint256 paidToHosts, uint256 commission)',
  'function dealOf(bytes32 escrowId) view returns (address client, uint256 remaining, uint256 ratePerHostPeriod, uint16 replicas, uint32 periods, uint32 releasedPeriods, uint64 deadline, uint8 status)',
  `function depositFor((address client, bytes32 dealId, bytes32 specHash, uint256 ratePerHostPeriod, uint16 replicas, uint32 periods, uint64 deadline, uint256 nonce) order, bytes signature, ${PERMIT_TUPLE}) returns (bytes32 escrowId)`,
  'function endDeal(bytes32 escrowId)',
  'function isFaultSlashed(bytes32 escrowId, bytes32 faultId) view returns (bool)',
  'function releaseBond(bytes32 escrowId, address host)',
  'function releasePeriod(bytes32 escrowId, uint32 period, address[] hosts)',
  'function slash(bytes32 escrowId, bytes32 faultId, address host, uint256 amount, address recipient)',
] as const;

/** OpenZeppelin's TimelockController (contracts/src/Timelock.sol): the admin and governor of a production deployment. */
export const ZANSOC_TIMELOCK_ABI = [
  ...ACCESS_CONTROL_ABI,
  'error FailedCall()',
  'error TimelockInsufficientDelay(uint256 delay, uint256 minDelay)',
  'error TimelockInvalidOperationLength(uint256 targets, uint256 payloads, uint256 values)',
  'error TimelockUnauthorizedCaller(address caller)',
  'error TimelockUnexecutedPredecessor(bytes32 predecessorId)',
  'error TimelockUnexpectedOperationState(bytes32 operationId, bytes32 expectedStates)',
  'event CallExecuted(bytes32 indexed id, uint256 indexed index, address target, uint256 value, bytes data)',
  'event CallSalt(bytes32 indexed id, bytes32 salt)',
  'event CallScheduled(bytes32 indexed id, uint256 indexed index, address target, uint256 value, bytes data, bytes32 predecessor, uint256 delay)',
  'event Cancelled(bytes32 indexed id)',
  'event MinDelayChange(uint256 oldDuration, uint256 newDuration)',
  'function CANCELLER_ROLE() view returns (bytes32)',
  'function EXECUTOR_ROLE() view returns (bytes32)',
  'function PROPOSER_ROLE() view returns (bytes32)',
  'function cancel(bytes32 id)',
  'function execute(address target, uint256 value, bytes payload, bytes32 predecessor, bytes32 salt) payable',
  'function executeBatch(address[] targets, uint256[] values, bytes[] payloads, bytes32 predecessor, bytes32 salt) payable',
  'function getMinDelay() view returns (uint256)',
  'function getOperationState(bytes32 id) view returns (uint8)',
  'function getTimestamp(bytes32 id) view returns (uint256)',
  'function hashOperation(address target, uint256 value, bytes data, bytes32 predecessor, bytes32 salt) pure returns (bytes32)',
  'function hashOperationBatch(address[] targets, uint256[] values, bytes[] payloads, bytes32 predecessor, bytes32 salt) pure returns (bytes32)',
  'function isOperation(bytes32 id) view returns (bool)',
  'function isOperationDone(bytes32 id) view returns (bool)',
  'function isOperationPending(bytes32 id) view returns (bool)',
  'function isOperationReady(bytes32 id) view returns (bool)',
  'function onERC1155BatchReceived(address, address, uint256[], uint256[], bytes) returns (bytes4)',
  'function onERC1155Received(address, address, uint256, uint256, bytes) returns (bytes4)',
  'function onERC721Received(address, address, uint256, bytes) returns (bytes4)',
  'function schedule(address target, uint256 value, bytes data, bytes32 predecessor, bytes32 salt, uint256 delay)',
  'function scheduleBatch(address[] targets, uint256[] values, bytes[] payloads, bytes32 predecessor, bytes32 salt, uint256 delay)',
  'function updateDelay(uint256 newDelay)',
  'receive() payable',
] as const;

interface ZansocTokenMethods {
  name: View<[], string>;
  symbol: View<[], string>;
  decimals: View<[], bigint>;
  totalSupply: View<[], bigint>;
  balanceOf: View<[account: AddressLike], bigint>;
  allowance: View<[owner: AddressLike, spender: AddressLike], bigint>;
  nonces: View<[owner: AddressLike], bigint>;
  transfer: Send<[to: AddressLike, value: BigNumberish]>;
  approve: Send<[spender: AddressLike, value: BigNumberish]>;
  transferFrom: Send<[from: AddressLike, to: AddressLike, value: BigNumberish]>;
  permit: Send<[owner: AddressLike, spender: AddressLike, value: BigNumberish, deadline: BigNumberish, v: BigNumberish, r: BytesLike, s: BytesLike]>;
}

interface AccessControlMethods {
  DEFAULT_ADMIN_ROLE: View<[], string>;
  hasRole: View<[role: BytesLike, account: AddressLike], boolean>;
  getRoleAdmin: View<[role: BytesLike], string>;
  grantRole: Send<[role: BytesLike, account: AddressLike]>;
  revokeRole: Send<[role: BytesLike, account: AddressLike]>;
  renounceRole: Send<[role: BytesLike, callerConfirmation: AddressLike]>;
}

interface HostRegistryMethods extends AccessControlMethods {
  ESCROW_ROLE: View<[], string>;
  register: Send<[stake: BigNumberish, metadataHash: BytesLike]>;
  addStake: Send<[amount: BigNumberish]>;
  updateMetadata: Send<[metadataHash: BytesLike]>;
  requestUnbond: Send<[amount: BigNumberish]>;
  withdraw: Send<[]>;
  lockStake: Send<[host: AddressLike, amount: BigNumberish]>;
  unlockStake: Send<[host: AddressLike, amount: BigNumberish]>;
  slashStake: Send<[host: AddressLike, amount: BigNumberish, recipient: AddressLike]>;
  hostOf: View<
    [host: AddressLike],
    [registered: boolean, staked: bigint, locked: bigint, unbonding: bigint, withdrawableAt: bigint, metadataHash: string]
  >;
  freeStakeOf: View<[host: AddressLike], bigint>;
  unbondingDelay: View<[], bigint>;
  token: View<[], string>;
}

interface EscrowMethods extends AccessControlMethods {
  GOVERNOR_ROLE: View<[], string>;
  SETTLER_ROLE: View<[], string>;
  MAX_COMMISSION_BPS: View<[], bigint>;
  MAX_BONDS: View<[], bigint>;
  setCommissionBps: Send<[bps: BigNumberish]>;
  bond: Send<[escrowId: BytesLike, host: AddressLike, amount: BigNumberish, consentDeadline: BigNumberish, hostSignature: BytesLike]>;
  bondOf: View<[id: BytesLike, host: AddressLike], bigint>;
  bondsOf: View<[escrowId: BytesLike], [hosts: string[], amounts: bigint[]]>;
  reclaim: Send<[escrowId: BytesLike]>;
  cancelOrdersBelow: Send<[nonce: BigNumberish]>;
  minNonceOf: View<[client: AddressLike], bigint>;
  escrowIdOf: View<[client: AddressLike, id: BytesLike], string>;
  DOMAIN_NAME: View<[], string>;
  eip712Domain: View<
    [],
    [fields: string, name: string, version: string, chainId: bigint, verifyingContract: string, salt: string, extensions: bigint[]]
  >;
  commissionBps: View<[], bigint>;
  treasury: View<[], string>;
  token: View<[], string>;
  registry: View<[], string>;
  reclaimGracePeriod: View<[], bigint>;
}

/** JobEscrow.Payout: a host's gross pay, before commission. */
export interface PayoutStruct {
  host: AddressLike;
  amount: BigNumberish;
}

/** JobEscrow.Slash: a share of `host`'s bond sent to `recipient` at settlement. */
export interface SlashStruct {
  host: AddressLike;
  recipient: AddressLike;
  amount: BigNumberish;
}

/** JobEscrow.Settlement: one job of a `settleBatch`. */
export interface SettlementStruct {
  escrowId: BytesLike;
  payouts: PayoutStruct[];
  slashes: SlashStruct[];
}

/** Escrow.Permit: a client's EIP-2612 permit as the escrows take it (domain/orders.ts's PermitSignature). */
export interface PermitStruct {
  value: BigNumberish;
  deadline: BigNumberish;
  v: BigNumberish;
  r: BytesLike;
  s: BytesLike;
}

/** JobEscrow.JobOrder, as domain/orders.ts's JobOrder. */
export interface JobOrderStruct {
  client: AddressLike;
  jobId: BytesLike;
  specHash: BytesLike;
  pricePerSlot: BigNumberish;
  slots: BigNumberish;
  deadline: BigNumberish;
  nonce: BigNumberish;
}

/** StorageEscrow.DealOrder, as domain/orders.ts's DealOrder. */
export interface DealOrderStruct {
  client: AddressLike;
  dealId: BytesLike;
  specHash: BytesLike;
  ratePerHostPeriod: BigNumberish;
  replicas: BigNumberish;
  periods: BigNumberish;
  deadline: BigNumberish;
  nonce: BigNumberish;
}

interface JobEscrowMethods extends EscrowMethods {
  openJobFor: BaseContractMethod<[order: JobOrderStruct, signature: BytesLike, permit: PermitStruct], string, ContractTransactionResponse>;
  settle: Send<[escrowId: BytesLike, payouts: PayoutStruct[], slashes: SlashStruct[]]>;
  settleBatch: Send<[settlements: SettlementStruct[]]>;
  jobOf: View<[escrowId: BytesLike], [client: string, amount: bigint, pricePerSlot: bigint, deadline: bigint, status: bigint]>;
}

interface StorageEscrowMethods extends EscrowMethods {
  depositFor: BaseContractMethod<[order: DealOrderStruct, signature: BytesLike, permit: PermitStruct], string, ContractTransactionResponse>;
  releasePeriod: Send<[escrowId: BytesLike, period: BigNumberish, hosts: AddressLike[]]>;
  slash: Send<[escrowId: BytesLike, faultId: BytesLike, host: AddressLike, amount: BigNumberish, recipient: AddressLike]>;
  releaseBond: Send<[escrowId: BytesLike, host: AddressLike]>;
  endDeal: Send<[escrowId: BytesLike]>;
  dealOf: View<
    [escrowId: BytesLike],
    [
      client: string,
      remaining: bigint,
      ratePerHostPeriod: bigint,
      replicas: bigint,
      periods: bigint,
      releasedPeriods: bigint,
      deadline: bigint,
      status: bigint,
    ]
  >;
  isFaultSlashed: View<[escrowId: BytesLike, faultId: BytesLike], boolean>;
}

interface ZansocTimelockMethods extends AccessControlMethods {
  PROPOSER_ROLE: View<[], string>;
  EXECUTOR_ROLE: View<[], string>;
  CANCELLER_ROLE: View<[], string>;
  getMinDelay: View<[], bigint>;
  hashOperation: View<[target: AddressLike, value: BigNumberish, data: BytesLike, predecessor: BytesLike, salt: BytesLike], string>;
  isOperationReady: View<[id: BytesLike], boolean>;
  isOperationDone: View<[id: BytesLike], boolean>;
  schedule: Send<[target: AddressLike, value: BigNumberish, data: BytesLike, predecessor: BytesLike, salt: BytesLike, delay: BigNumberish]>;
  execute: Send<[target: AddressLike, value: BigNumberish, payload: BytesLike, predecessor: BytesLike, salt: BytesLike]>;
  cancel: Send<[id: BytesLike]>;
}

export type ZansocTokenContract = BaseContract & Omit<ZansocTokenMethods, keyof BaseContract>;
export type HostRegistryContract = BaseContract & Omit<HostRegistryMethods, keyof BaseContract>;
export type JobEscrowContract = BaseContract & Omit<JobEscrowMethods, keyof BaseContract>;
export type StorageEscrowContract = BaseContract & Omit<StorageEscrowMethods, keyof BaseContract>;
export type ZansocTimelockContract = BaseContract & Omit<ZansocTimelockMethods, keyof BaseContract>;

/** JobEscrow's JobStatus enum, as `jobOf` returns it. */
export enum EscrowStatus {
  None = 0,
  Open = 1,
  Settled = 2,
  Reclaimed = 3,
}

/** StorageEscrow's DealStatus enum, as `dealOf` returns it. */
export enum DealStatus {
  None = 0,
  Active = 1,
  Ended = 2,
  Reclaimed = 3,
}

export function connectZansocToken(address: string, runner: ContractRunner): ZansocTokenContract {
  return BaseContract.from<ZansocTokenMethods>(address, ZANSOC_TOKEN_ABI, runner);
}

export function connectHostRegistry(address: string, runner: ContractRunner): HostRegistryContract {
  return BaseContract.from<HostRegistryMethods>(address, HOST_REGISTRY_ABI, runner);
}

export function connectJobEscrow(address: string, runner: ContractRunner): JobEscrowContract {
  return BaseContract.from<JobEscrowMethods>(address, JOB_ESCROW_ABI, runner);
}

export function connectStorageEscrow(address: string, runner: ContractRunner): StorageEscrowContract {
  return BaseContract.from<StorageEscrowMethods>(address, STORAGE_ESCROW_ABI, runner);
}

export function connectZansocTimelock(address: string, runner: ContractRunner): ZansocTimelockContract {
  return BaseContract.from<ZansocTimelockMethods>(address, ZANSOC_TIMELOCK_ABI, runner);
}

/**
 * The custom error a call reverted with, decoded by the first interface that knows it. ethers leaves custom errors
 * of sent transactions undecoded; an escrow's revert data may also be one of the registry's or the token's errors,
 * bubbled up.
 */
export function decodeRevert(err: unknown, ...interfaces: Interface[]): { name: string; args: unknown[] } | null {
  if (!isCallException(err) || !err.data) return null;
  for (const iface of interfaces) {
    const decoded = iface.parseError(err.data);
    if (decoded) return { name: decoded.name, args: decoded.args.toArray() };
  }
  return null;
}
