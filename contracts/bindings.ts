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

export const JOB_ESCROW_ABI = [
  'error AccessControlBadConfirmation()',
  'error AccessControlUnauthorizedAccount(address account, bytes32 neededRole)',
  'error JobEscrowCommissionAboveCap(uint256 bps, uint256 cap)',
  'error JobEscrowDeadlineInPast(uint64 deadline)',
  'error JobEscrowJobExists(bytes32 jobId)',
  'error JobEscrowJobNotOpen(bytes32 jobId, uint8 status)',
  'error JobEscrowNotClient(bytes32 jobId, address caller)',
  'error JobEscrowPayoutExceedsEscrow(bytes32 jobId, uint256 payouts, uint256 locked)',
  'error JobEscrowPayoutsMismatch(uint256 hosts, uint256 amounts)',
  'error JobEscrowReclaimTooEarly(bytes32 jobId, uint256 reclaimableAt)',
  'error JobEscrowZeroAddress()',
  'error JobEscrowZeroAmount()',
  'error ReentrancyGuardReentrantCall()',
  'error SafeERC20FailedOperation(address token)',
  'event CommissionChanged(uint256 previousBps, uint256 newBps)',
  'event JobOpened(bytes32 indexed jobId, address indexed client, uint256 amount, uint64 deadline)',
  'event JobReclaimed(bytes32 indexed jobId, address indexed client, uint256 amount)',
  'event JobSettled(bytes32 indexed jobId, uint256 paidToHosts, uint256 commission, uint256 refunded)',
  'event RoleAdminChanged(bytes32 indexed role, bytes32 indexed previousAdminRole, bytes32 indexed newAdminRole)',
  'event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender)',
  'event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender)',
  'function DEFAULT_ADMIN_ROLE() view returns (bytes32)',
  'function GOVERNOR_ROLE() view returns (bytes32)',
  'function MAX_COMMISSION_BPS() view returns (uint256)',
  'function SETTLER_ROLE() view returns (bytes32)',
  'function commissionBps() view returns (uint256)',
  'function getRoleAdmin(bytes32 role) view returns (bytes32)',
  'function grantRole(bytes32 role, address account)',
  'function hasRole(bytes32 role, address account) view returns (bool)',
  'function jobOf(bytes32 jobId) view returns (address client, uint256 amount, uint64 deadline, uint8 status)',
  'function openJob(bytes32 jobId, uint256 amount, uint64 deadline)',
  'function reclaim(bytes32 jobId)',
  'function reclaimGracePeriod() view returns (uint64)',
  'function renounceRole(bytes32 role, address callerConfirmation)',
  'function revokeRole(bytes32 role, address account)',
  'function setCommissionBps(uint256 bps)',
  'function settle(bytes32 jobId, address[] hosts, uint256[] amounts)',
  'function supportsInterface(bytes4 interfaceId) view returns (bool)',
  'function token() view returns (address)',
  'function treasury() view returns (address)',
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

interface JobEscrowMethods {
  DEFAULT_ADMIN_ROLE: View<[], string>;
  GOVERNOR_ROLE: View<[], string>;
  SETTLER_ROLE: View<[], string>;
  MAX_COMMISSION_BPS: View<[], bigint>;
  hasRole: View<[role: BytesLike, account: AddressLike], boolean>;
  grantRole: Send<[role: BytesLike, account: AddressLike]>;
  revokeRole: Send<[role: BytesLike, account: AddressLike]>;
  openJob: Send<[jobId: BytesLike, amount: BigNumberish, deadline: BigNumberish]>;
  settle: Send<[jobId: BytesLike, hosts: AddressLike[], amounts: BigNumberish[]]>;
  reclaim: Send<[jobId: BytesLike]>;
  setCommissionBps: Send<[bps: BigNumberish]>;
  jobOf: View<[jobId: BytesLike], [client: string, amount: bigint, deadline: bigint, status: bigint]>;
  commissionBps: View<[], bigint>;
  treasury: View<[], string>;
  token: View<[], string>;
  reclaimGracePeriod: View<[], bigint>;
}

export type ZansocTokenContract = BaseContract & Omit<ZansocTokenMethods, keyof BaseContract>;
export type JobEscrowContract = BaseContract & Omit<JobEscrowMethods, keyof BaseContract>;

/** JobEscrow's JobStatus enum, as `jobOf` returns it. */
export enum EscrowStatus {
  None = 0,
  Open = 1,
  Settled = 2,
  Reclaimed = 3,
}

export function connectZansocToken(address: string, runner: ContractRunner): ZansocTokenContract {
  return BaseContract.from<ZansocTokenMethods>(address, ZANSOC_TOKEN_ABI, runner);
}

export function connectJobEscrow(address: string, runner: ContractRunner): JobEscrowContract {
  return BaseContract.from<JobEscrowMethods>(address, JOB_ESCROW_ABI, runner);
}

/**
 * The custom error a call reverted with, decoded by the first interface that knows it. ethers leaves custom errors
 * of sent transactions undecoded; the escrow's revert data may also be one of the token's errors, bubbled up.
 */
export function decodeRevert(err: unknown, ...interfaces: Interface[]): { name: string; args: unknown[] } | null {
  if (!isCallException(err) || !err.data) return null;
  for (const iface of interfaces) {
    const decoded = iface.parseError(err.data);
    if (decoded) return { name: decoded.name, args: decoded.args.toArray() };
  }
  return null;
}
