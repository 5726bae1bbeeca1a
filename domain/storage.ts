import { sha256 } from '@noble/hashes/sha256';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils';
import { base32 } from 'multiformats/bases/base32';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { create as createDigest } from 'multiformats/hashes/digest';
import { z } from 'zod';
import { tokenAmount } from './money';

// Pure and free of node built-ins so storage deal workflows can import it: hashing comes from @noble/hashes, content
// addresses from multiformats (sha2-256 through @noble/hashes, not multiformats/hashes/sha2, which uses node:crypto).

/** The most a client puts in one chunk: each chunk is content-addressed, placed and proved on its own. */
export const STORAGE_CHUNK_BYTES = 1024 * 1024;
/** A chunk is proved in segments of this size (the last one may be short); a challenge asks for a few of them. */
export const PROOF_SEGMENT_BYTES = 1024;
/**
 * PBKDF2-SHA256 rounds that sealing one chunk takes, short or full (runtime/storage-crypto.ts): sequential, so one
 * core's speed bounds it. About 0.9 s on this project's CI machine; `npm run bench` measures it beside the deadline.
 */
export const SEAL_ITERATIONS_PER_CHUNK = 4 * 1024 * 1024;
/**
 * How long a host has to answer a proof from the moment it takes the challenge: far more than reading and hashing
 * what it keeps, far less than sealing a challenged chunk again, so a host that kept nothing cannot fetch the chunk
 * and answer in time (the margin is in `npm run bench`).
 */
export const PROOF_DEADLINE_MS = 400;
/** Chunks each proof challenges (a few segments of each): a host that kept nothing must seal them all again. */
export const CHUNKS_PER_PROOF = 2;
/** Consecutive missed or wrong proofs after which a host is slashed and its replica repaired onto another host. */
export const FAULTS_BEFORE_SLASH = 2;

export const GIB = 1024 ** 3;
/** Storage is priced per GiB-month; a month is 30 days. */
export const SECONDS_PER_MONTH = 30 * 86_400;
/**
 * A deal's chunk list is the workflow's input and each holder's roots are in its state: at 1024 chunks they are some
 * 90 KB and 130 KB a holder, well inside Temporal's 2 MB payload limit even with 7 holders. Larger files are several deals.
 */
export const MAX_DEAL_CHUNKS = 1024;
export const MAX_DEAL_BYTES = MAX_DEAL_CHUNKS * STORAGE_CHUNK_BYTES;
export const MAX_DEAL_REPLICAS = 7;
export const MAX_DEAL_SECONDS = 5 * 365 * 86_400;

/** SHA-256 of the parts laid end to end; copying into a fresh array also accepts byte arrays from another realm. */
function sha256Of(...parts: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return sha256(joined);
}

// ---------------------------------------------------------------------------------------------------------------
// Content addresses

const SHA2_256 = 0x12;
const SHA256_BYTES = 32;

const rawCidOfDigest = (digest: Uint8Array): string => CID.createV1(raw.code, createDigest(SHA2_256, digest)).toString(base32);

/**
 * The sha2-256 digest a raw CID names, or undefined if the string is not exactly such a CID. The digest must encode
 * back to the same string (CID.parse would hand back the string it was given), so upper case, padding or non-zero
 * trailing bits are refused and every CID has exactly one spelling.
 */
function digestOfRawCid(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined;
  let cid: CID;
  try {
    cid = CID.parse(text, base32);
  } catch {
    return undefined;
  }
  const { multihash } = cid;
  if (cid.version !== 1 || cid.code !== raw.code || multihash.code !== SHA2_256 || multihash.size !== SHA256_BYTES) return undefined;
  return rawCidOfDigest(multihash.digest) === text ? multihash.digest : undefined;
}

/**
 * The IPFS-compatible content address of a chunk: CIDv1, codec raw, sha2-256, base32 (`bafkrei…`), so any IPFS
 * tool computes the same address for the same bytes.
 */
export function cidOf(bytes: Uint8Array): string {
  return rawCidOfDigest(sha256Of(bytes));
}

/** Whether a value is a CID as `cidOf` writes it (raw, sha2-256, canonical lower-case base32). */
export function isRawCid(value: unknown): value is string {
  return digestOfRawCid(value) !== undefined;
}

/** The sha2-256 digest (64 lower-case hex characters) a raw CID names; throws on anything `cidOf` would not write. */
export function sha256OfCid(cid: string): string {
  const digest = digestOfRawCid(cid);
  if (!digest) {
    const shown = typeof cid === 'string' ? JSON.stringify(cid.length > 80 ? `${cid.slice(0, 80)}…` : cid) : typeof cid;
    throw new Error(`not a raw sha2-256 CIDv1 in base32 ("bafkrei…"): ${shown}`);
  }
  return bytesToHex(digest);
}

// ---------------------------------------------------------------------------------------------------------------
// Merkle commitments over a sealed replica

// Distinct prefixes for leaves and inner nodes, so a node can never be passed off as a leaf (second preimage).
const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);
const HASH_HEX = /^[0-9a-fA-F]{64}$/;

const hashLeaf = (segment: Uint8Array): Uint8Array => sha256Of(LEAF_PREFIX, segment);
const hashNode = (left: Uint8Array, right: Uint8Array): Uint8Array => sha256Of(NODE_PREFIX, left, right);

/** One level up: pairs are hashed together; an odd node out at the end is promoted unchanged. */
function parentLevel(level: Uint8Array[]): Uint8Array[] {
  const parents: Uint8Array[] = [];
  for (let i = 0; i < level.length; i += 2) parents.push(i + 1 < level.length ? hashNode(level[i], level[i + 1]) : level[i]);
  return parents;
}

function leavesOf(segments: readonly Uint8Array[]): Uint8Array[] {
  if (segments.length === 0) throw new Error('a Merkle tree needs at least one segment');
  return segments.map(hashLeaf);
}

/** How many proof segments a replica of this many bytes has (an empty replica still has one, empty, segment). */
export function segmentCount(byteLength: number): number {
  return Math.max(1, Math.ceil(byteLength / PROOF_SEGMENT_BYTES));
}

/** Cuts data into PROOF_SEGMENT_BYTES segments (views, not copies); the last may be short, empty data gives one empty segment. */
export function segmentsOf(data: Uint8Array): Uint8Array[] {
  const segments: Uint8Array[] = [];
  for (let start = 0; start < data.length; start += PROOF_SEGMENT_BYTES) segments.push(data.subarray(start, start + PROOF_SEGMENT_BYTES));
  return segments.length > 0 ? segments : [data.subarray(0, 0)];
}

/**
 * The root (hex) a host commits for its replica. Leaf = sha256(0x00 ‖ segment), node = sha256(0x01 ‖ left ‖ right);
 * a level with an odd number of nodes promotes its last node unchanged to the level above.
 */
export function merkleRoot(segments: readonly Uint8Array[]): string {
  let level = leavesOf(segments);
  while (level.length > 1) level = parentLevel(level);
  return bytesToHex(level[0]);
}

/** The sibling hashes (hex, bottom-up) that link segment `index` to the root; promoted levels contribute none. */
export function merkleProof(segments: readonly Uint8Array[], index: number): string[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= segments.length) {
    throw new RangeError(`segment index ${index} is outside 0..${segments.length - 1}`);
  }
  const proof: string[] = [];
  let level = leavesOf(segments);
  let position = index;
  while (level.length > 1) {
    const sibling = position % 2 === 0 ? position + 1 : position - 1;
    if (sibling < level.length) proof.push(bytesToHex(level[sibling]));
    level = parentLevel(level);
    position = Math.floor(position / 2);
  }
  return proof;
}

/** A host's answer to one challenged segment, checked against the root it committed. */
export interface MerkleProofClaim {
  root: string;
  index: number;
  leafCount: number;
  segment: Uint8Array;
  proof: readonly string[];
}

/**
 * Whether `segment` is leaf `index` of the `leafCount`-leaf tree committed as `root`. Answers come from hosts, so
 * any malformed claim (bad index, oversized segment, non-hex or surplus or missing hashes) is false, never a throw.
 */
export function verifyMerkleProof(claim: MerkleProofClaim): boolean {
  const { root, index, leafCount, segment, proof } = claim;
  if (!Number.isSafeInteger(leafCount) || leafCount < 1) return false;
  if (!Number.isSafeInteger(index) || index < 0 || index >= leafCount) return false;
  if (!ArrayBuffer.isView(segment) || segment.BYTES_PER_ELEMENT !== 1 || segment.length > PROOF_SEGMENT_BYTES) return false;
  if (typeof root !== 'string' || !HASH_HEX.test(root)) return false;
  if (!Array.isArray(proof) || !proof.every((hash) => typeof hash === 'string' && HASH_HEX.test(hash))) return false;

  let hash = hashLeaf(segment);
  let position = index;
  let width = leafCount;
  let used = 0;
  while (width > 1) {
    const sibling = position % 2 === 0 ? position + 1 : position - 1;
    if (sibling < width) {
      if (used >= proof.length) return false;
      const siblingHash = hexToBytes(proof[used++]);
      hash = position % 2 === 0 ? hashNode(hash, siblingHash) : hashNode(siblingHash, hash);
    }
    position = Math.floor(position / 2);
    width = Math.ceil(width / 2);
  }
  return used === proof.length && bytesToHex(hash) === root.toLowerCase();
}

// ---------------------------------------------------------------------------------------------------------------
// Proof challenges

const SEED_HEX = /^(?:0x)?((?:[0-9a-fA-F]{2})+)$/;

/**
 * The segments a host must produce this period, drawn from a fresh seed (hex, `0x` optional) so the host cannot
 * know them in advance, yet anyone can recompute them. Returns `count` distinct indexes below `leafCount`
 * (every index if `count >= leafCount`), sorted. Draws are sha256(seed ‖ counter) with rejection sampling, fed
 * to a partial Fisher–Yates shuffle, so each subset is equally likely and no draw is wasted on a repeat.
 */
export function challengeIndexes(seedHex: string, leafCount: number, count: number): number[] {
  const seedMatch = SEED_HEX.exec(seedHex);
  if (!seedMatch) throw new Error('challenge seed must be a non-empty hex string');
  if (!Number.isSafeInteger(leafCount) || leafCount < 1 || leafCount > 2 ** 32) {
    throw new RangeError(`leafCount must be an integer in 1..2^32, got ${leafCount}`);
  }
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  if (count >= leafCount) return Array.from({ length: leafCount }, (_, i) => i);

  const seed = hexToBytes(seedMatch[1]);
  const counterBytes = new Uint8Array(4);
  const counterView = new DataView(counterBytes.buffer);
  let counter = 0;
  const uniformBelow = (bound: number): number => {
    const unbiasedLimit = Math.floor(2 ** 32 / bound) * bound;
    for (;;) {
      counterView.setUint32(0, counter++);
      const hash = sha256Of(seed, counterBytes);
      const draw = new DataView(hash.buffer, hash.byteOffset, 4).getUint32(0);
      if (draw < unbiasedLimit) return draw % bound;
    }
  };

  // Sparse Fisher–Yates: `moved` holds only the positions a swap has touched.
  const moved = new Map<number, number>();
  const picked: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = i + uniformBelow(leafCount - i);
    picked.push(moved.get(j) ?? j);
    moved.set(j, moved.get(i) ?? i);
  }
  return picked.sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------------------------
// Payment

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

/** How many proof periods a deal lasts; a partial last period counts as a whole one. */
export function dealPeriods(durationSeconds: number, periodSeconds: number): number {
  requirePositiveInteger('durationSeconds', durationSeconds);
  requirePositiveInteger('periodSeconds', periodSeconds);
  return Math.ceil(durationSeconds / periodSeconds);
}

/**
 * What one host earns for keeping one replica of `sizeBytes` for one proved period, in base units:
 * ceil(pricePerGibMonth × sizeBytes × periodSeconds ÷ (GiB × 30 days)), rounded up so hosts are never short-changed.
 */
export function ratePerHostPeriod(deal: { sizeBytes: number; pricePerGibMonth: bigint; periodSeconds: number }): bigint {
  requirePositiveInteger('sizeBytes', deal.sizeBytes);
  requirePositiveInteger('periodSeconds', deal.periodSeconds);
  if (deal.pricePerGibMonth < 0n) throw new RangeError('pricePerGibMonth must not be negative');
  const numerator = deal.pricePerGibMonth * BigInt(deal.sizeBytes) * BigInt(deal.periodSeconds);
  const denominator = BigInt(GIB) * BigInt(SECONDS_PER_MONTH);
  return (numerator + denominator - 1n) / denominator;
}

/** What the client escrows for the whole term: every replica paid for every period. */
export function dealDeposit(deal: { ratePerHostPeriod: bigint; replicas: number; periods: number }): bigint {
  requirePositiveInteger('replicas', deal.replicas);
  requirePositiveInteger('periods', deal.periods);
  if (deal.ratePerHostPeriod < 0n) throw new RangeError('ratePerHostPeriod must not be negative');
  return deal.ratePerHostPeriod * BigInt(deal.replicas) * BigInt(deal.periods);
}

// ---------------------------------------------------------------------------------------------------------------
// What a client asks for

/** A raw sha2-256 CIDv1 in base32: its shape by pattern, then its exact encoding. */
export const rawCidSchema = z
  .string()
  .regex(/^bafkrei[a-z2-7]{52}$/, 'must be a raw sha2-256 CIDv1 in base32 ("bafkrei…")')
  .refine(isRawCid, 'must be a raw sha2-256 CIDv1 in base32 ("bafkrei…")');

const chunkSchema = z
  .object({
    /** Content address of the chunk as uploaded (already encrypted by the client). */
    cid: rawCidSchema,
    bytes: z.number().int().min(1).max(STORAGE_CHUNK_BYTES),
  })
  .strict();

export const storageDealSpecSchema = z
  .object({
    name: z.string().max(128).optional(),
    sizeBytes: z.number().int().min(1).max(MAX_DEAL_BYTES),
    chunks: z.array(chunkSchema).min(1).max(MAX_DEAL_CHUNKS),
    /** Each chunk is kept on this many distinct hosts. */
    replicas: z.number().int().min(1).max(MAX_DEAL_REPLICAS).default(3),
    durationSeconds: z.number().int().min(60).max(MAX_DEAL_SECONDS),
    /** How often each host must prove it still holds its replica; each proved period is paid. */
    proofPeriodSeconds: z.number().int().min(10).max(86_400).default(3600),
    /** Price per GiB-month per replica, in ZSC base units (18 decimals), as a decimal string. */
    pricePerGibMonth: tokenAmount,
  })
  .strict()
  .superRefine((spec, ctx) => {
    const chunkTotal = spec.chunks.reduce((total, chunk) => total + chunk.bytes, 0);
    if (chunkTotal !== spec.sizeBytes) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['chunks'],
        message: `chunk sizes add up to ${chunkTotal} bytes, not sizeBytes (${spec.sizeBytes})`,
      });
    }
    if (spec.durationSeconds < spec.proofPeriodSeconds) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['durationSeconds'],
        message: `must be at least one proof period (${spec.proofPeriodSeconds} s)`,
      });
    }
  });

export type StorageDealSpecInput = z.input<typeof storageDealSpecSchema>;
export type StorageDealSpec = z.output<typeof storageDealSpecSchema>;
export type StorageChunk = z.output<typeof chunkSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Faults

/**
 * A host's fault count after one proof period: a good proof clears it, a missed or wrong one adds to it, and at
 * FAULTS_BEFORE_SLASH in a row the host is slashed and its replica repaired elsewhere. The count is not reset on
 * slashing: the host is dropped from the chunk, and if it were kept, its next fault would slash it again.
 */
export function nextFaultState(previousConsecutiveFaults: number, proved: boolean): { consecutiveFaults: number; slashAndRepair: boolean } {
  if (!Number.isSafeInteger(previousConsecutiveFaults) || previousConsecutiveFaults < 0) {
    throw new RangeError(`previousConsecutiveFaults must be a non-negative integer, got ${previousConsecutiveFaults}`);
  }
  if (proved) return { consecutiveFaults: 0, slashAndRepair: false };
  const consecutiveFaults = previousConsecutiveFaults + 1;
  return { consecutiveFaults, slashAndRepair: consecutiveFaults >= FAULTS_BEFORE_SLASH };
}

/**
 * Where a storage deal stands: ESCROW while the deposit is locked, PLACING while hosts store their replicas, ACTIVE
 * through the proof periods, ENDING while the rest is refunded; then ENDED (term over), CANCELLED (by the client),
 * REJECTED (no deposit) or FAILED (not enough hosts would store it; refunded).
 */
export const DEAL_STATES = ['ESCROW', 'PLACING', 'ACTIVE', 'ENDING', 'ENDED', 'CANCELLED', 'REJECTED', 'FAILED'] as const;
export type DealState = (typeof DEAL_STATES)[number];
export const isFinalDealState = (state: string): boolean => ['ENDED', 'CANCELLED', 'REJECTED', 'FAILED'].includes(state);

/** Periods of pay a host bonds per deal: what it loses when slashed for repeated faults. */
export const BOND_PERIODS = 4n;

/** The stake a host bonds to hold a replica of a deal: a few periods of its pay, at least one base unit. */
export function storageHostBond(ratePerHostPeriod: bigint): bigint {
  const bond = ratePerHostPeriod * BOND_PERIODS;
  return bond > 0n ? bond : 1n;
}
