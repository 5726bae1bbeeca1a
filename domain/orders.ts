import { AbiCoder, TypedDataEncoder, id, keccak256, toUtf8Bytes, type TypedDataDomain, type TypedDataField } from 'ethers';

/**
 * What a client signs so that the escrows take its money only as it agreed, and what a host signs so that its stake
 * is bonded only with its consent: EIP-712 typed data, the same here, in the contracts and in any wallet. The
 * orchestrator relays the signatures and pays the gas; it never holds a client's key.
 */

/** EIP-712 domain names of the two escrows; the domain also names the chain and the contract's address. */
export const JOB_ESCROW_DOMAIN_NAME = 'Zansoc JobEscrow';
export const STORAGE_ESCROW_DOMAIN_NAME = 'Zansoc StorageEscrow';
export const ESCROW_DOMAIN_VERSION = '1';

/**
 * A client's order for one compute job: JobEscrow locks `pricePerSlot × slots` from `client`, and pays no host more
 * than `pricePerSlot` for the job. `deadline` is both the last moment the order may be relayed and when, plus the
 * escrow's grace period, an unsettled escrow may be reclaimed. `nonce` must be at least the client's floor on the
 * escrow (`minNonceOf`): raising the floor revokes every order signed below it. An order is spent when its escrow
 * opens: the escrow of (client, jobId) opens once, ever.
 */
export interface JobOrder {
  client: string;
  /** bytes32: `chainJobId` of the job's id. */
  jobId: string;
  /** bytes32: `specHash` of the job's spec. */
  specHash: string;
  /** ZSC base units, decimal string: the job's maxPrice. */
  pricePerSlot: string;
  /** How many slots the escrow pays for at most: replicas plus the extra replicas a disagreement may add. */
  slots: number;
  /** Unix seconds. */
  deadline: number;
  /** Decimal string. */
  nonce: string;
}

export const JOB_ORDER_TYPES: Record<string, TypedDataField[]> = {
  JobOrder: [
    { name: 'client', type: 'address' },
    { name: 'jobId', type: 'bytes32' },
    { name: 'specHash', type: 'bytes32' },
    { name: 'pricePerSlot', type: 'uint256' },
    { name: 'slots', type: 'uint8' },
    { name: 'deadline', type: 'uint64' },
    { name: 'nonce', type: 'uint256' },
  ],
};

/** A client's order for one term of a storage deal: `ratePerHostPeriod × replicas × periods`, deposited whole. */
export interface DealOrder {
  client: string;
  /** bytes32: `chainDealId` of the term's key (the deal's id, or `<dealId>/term-<n>` for a renewal). */
  dealId: string;
  /** bytes32: `specHash` of the deal's spec. */
  specHash: string;
  ratePerHostPeriod: string;
  replicas: number;
  periods: number;
  deadline: number;
  nonce: string;
}

export const DEAL_ORDER_TYPES: Record<string, TypedDataField[]> = {
  DealOrder: [
    { name: 'client', type: 'address' },
    { name: 'dealId', type: 'bytes32' },
    { name: 'specHash', type: 'bytes32' },
    { name: 'ratePerHostPeriod', type: 'uint256' },
    { name: 'replicas', type: 'uint16' },
    { name: 'periods', type: 'uint32' },
    { name: 'deadline', type: 'uint64' },
    { name: 'nonce', type: 'uint256' },
  ],
};

/**
 * A host's consent to bond `amount` of its stake to one escrow (`escrowId`, a job or a deal's term), signed when it
 * accepts the work; relayable until `deadline`. A host bonds to an escrow at most once.
 */
export interface BondConsent {
  escrowId: string;
  host: string;
  amount: string;
  deadline: number;
}

export const BOND_CONSENT_TYPES: Record<string, TypedDataField[]> = {
  BondConsent: [
    { name: 'escrowId', type: 'bytes32' },
    { name: 'host', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'deadline', type: 'uint64' },
  ],
};

/** EIP-2612's Permit, as ZSC's domain (name "Zansoc", version "1") signs it. */
export const PERMIT_TYPES: Record<string, TypedDataField[]> = {
  Permit: [
    { name: 'owner', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
};

/**
 * A signed permit as the escrows take it: `value` is what the escrow may pull over the client's orders. `v` 0 means
 * no permit: the client's allowance covers the order already.
 */
export interface PermitSignature {
  value: string;
  deadline: number;
  v: number;
  r: string;
  s: string;
}

export const NO_PERMIT: PermitSignature = { value: '0', deadline: 0, v: 0, r: `0x${'0'.repeat(64)}`, s: `0x${'0'.repeat(64)}` };

export function escrowDomain(name: string, chainId: number, verifyingContract: string): TypedDataDomain {
  return { name, version: ESCROW_DOMAIN_VERSION, chainId, verifyingContract };
}

export function tokenDomain(chainId: number, verifyingContract: string): TypedDataDomain {
  return { name: 'Zansoc', version: '1', chainId, verifyingContract };
}

/** The escrow id on chain of a client's job or deal term: keyed by the client too, so nobody can take its id. */
export function escrowIdOf(client: string, id: string): string {
  return keccak256(AbiCoder.defaultAbiCoder().encode(['address', 'bytes32'], [client, id]));
}

/** The id a job's order names on chain: derived from the job id, so a retried step can look up whether it happened. */
export const chainJobId = (jobId: string): string => id(`job:${jobId}`);

/** The id a deal term's order names on chain (the deal's id, or a renewal's term key), derived like a job's. */
export const chainDealId = (dealId: string): string => id(`deal:${dealId}`);

/** A job's escrow on JobEscrow. */
export const jobEscrowId = (client: string, jobId: string): string => escrowIdOf(client, chainJobId(jobId));

/** A deal term's escrow on StorageEscrow. */
export const dealEscrowId = (client: string, dealId: string): string => escrowIdOf(client, chainDealId(dealId));

/**
 * keccak256 of the canonical JSON of a spec as the API parses it (object keys sorted, no whitespace, undefined
 * fields left out): what an order binds, so a spec changed after signing no longer matches its order.
 */
export function specHash(spec: unknown): string {
  return keccak256(toUtf8Bytes(canonicalJson(spec)));
}

/** JSON with object keys sorted (by code unit), no whitespace, undefined fields left out and undefined in arrays as null. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The EIP-712 digest of a job order, as JobEscrow computes it. */
export function jobOrderDigest(chainId: number, jobEscrow: string, order: JobOrder): string {
  return TypedDataEncoder.hash(escrowDomain(JOB_ESCROW_DOMAIN_NAME, chainId, jobEscrow), JOB_ORDER_TYPES, order);
}

/** What a job order locks: its price per slot times its slots. */
export const jobOrderAmount = (order: Pick<JobOrder, 'pricePerSlot' | 'slots'>): bigint => BigInt(order.pricePerSlot) * BigInt(order.slots);

/** What a deal order deposits: rate × replicas × periods. */
export const dealOrderAmount = (order: Pick<DealOrder, 'ratePerHostPeriod' | 'replicas' | 'periods'>): bigint =>
  BigInt(order.ratePerHostPeriod) * BigInt(order.replicas) * BigInt(order.periods);

/** A job order as the client signed it, with its permit: what the API hands the workflow to relay. */
export interface SignedJobOrder {
  order: JobOrder;
  signature: string;
  permit: PermitSignature;
}

/** A deal term's order as the client signed it, with its permit. */
export interface SignedDealOrder {
  order: DealOrder;
  signature: string;
  permit: PermitSignature;
}

/** A host's signed consent to one bond, as the escrows take it. */
export interface SignedBondConsent {
  deadline: number;
  signature: string;
}
