import { createCipheriv, createDecipheriv, createHash, hkdfSync, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { isRawCid, SEAL_ITERATIONS_PER_CHUNK, segmentCount, segmentsOf, STORAGE_CHUNK_BYTES } from '../domain/storage';

// Uses node:crypto, so it lives outside domain/: the CLI encrypts and unseals, hosts seal, the orchestrator re-seals to
// check hosts' roots. Workflows import domain/storage, never this file.

const DATA_KEY_BYTES = 32;
const GCM_NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;

function requireDataKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== DATA_KEY_BYTES) throw new Error(`a data key is ${DATA_KEY_BYTES} bytes`);
}

/** A fresh AES-256 key for a client's data; it never leaves the client. */
export function newDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

/**
 * Encrypts a chunk on the client with AES-256-GCM under a random 12-byte nonce. Output: nonce ‖ ciphertext ‖ 16-byte
 * tag, so a chunk carries all it needs to be decrypted with the key.
 */
export function encryptChunk(key: Buffer, plain: Buffer): Buffer {
  requireDataKey(key);
  const nonce = randomBytes(GCM_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]);
}

/** Decrypts what `encryptChunk` wrote; throws if the key is wrong or a single byte was changed. */
export function decryptChunk(key: Buffer, encrypted: Buffer): Buffer {
  requireDataKey(key);
  if (encrypted.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) {
    throw new Error(`encrypted chunk is ${encrypted.length} bytes, shorter than its nonce and tag`);
  }
  const nonce = encrypted.subarray(0, GCM_NONCE_BYTES);
  const ciphertext = encrypted.subarray(GCM_NONCE_BYTES, encrypted.length - GCM_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(encrypted.subarray(encrypted.length - GCM_TAG_BYTES));
  const plain = decipher.update(ciphertext);
  try {
    return Buffer.concat([plain, decipher.final()]);
  } catch {
    throw new Error('encrypted chunk failed authentication: wrong key or tampered data');
  }
}

/** Which replica is sealed: the deal, the host keeping it, and the chunk. */
export interface ReplicaIdentity {
  dealId: string;
  hostAddress: string;
  chunkCid: string;
}

const SEAL_KEY_MATERIAL = Buffer.from('zansoc-seal-v2', 'utf8');
// Each segment has its own key, so the same counter block never meets the same key twice: a fixed IV is safe.
const SEAL_IV = Buffer.alloc(16);
const pbkdf2Async = promisify(pbkdf2);

function replicaKey({ dealId, hostAddress, chunkCid }: ReplicaIdentity): Buffer {
  if (!dealId || !hostAddress) throw new Error('sealing needs a dealId and a hostAddress');
  if (!isRawCid(chunkCid)) throw new Error(`sealing needs the chunk's raw CID, got ${JSON.stringify(chunkCid)}`);
  const info = `${hostAddress.toLowerCase()}:${chunkCid}`;
  return Buffer.from(hkdfSync('sha256', SEAL_KEY_MATERIAL, Buffer.from(dealId, 'utf8'), Buffer.from(info, 'utf8'), 32));
}

/** Segment i's salt: its index and the hash of the sealed segment before it (zeros for the first). */
function segmentSalt(index: number, previousSealed: Uint8Array | null): Buffer {
  const salt = Buffer.alloc(36);
  salt.writeUInt32BE(index, 0);
  if (previousSealed) createHash('sha256').update(previousSealed).digest().copy(salt, 4);
  return salt;
}

function xorPad(segmentKey: Buffer, segment: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-ctr', segmentKey, SEAL_IV);
  return Buffer.concat([cipher.update(segment), cipher.final()]);
}

/**
 * SEAL_ITERATIONS_PER_CHUNK, or fewer for unit tests that seal many chunks (ZANSOC_TEST_SEAL_ITERATIONS, refused
 * unless NODE_ENV is `test`): every party must seal alike, so nothing else may change it.
 */
function iterationsPerChunk(): number {
  const override = process.env.ZANSOC_TEST_SEAL_ITERATIONS;
  if (!override) return SEAL_ITERATIONS_PER_CHUNK;
  if (process.env.NODE_ENV !== 'test') throw new Error('ZANSOC_TEST_SEAL_ITERATIONS: is a test fixture and only works with NODE_ENV=test');
  const n = Number(override);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`ZANSOC_TEST_SEAL_ITERATIONS: a positive integer, got ${JSON.stringify(override)}`);
  return n;
}

/** PBKDF2 rounds per segment, so that every chunk, short or full, costs its rounds per chunk to seal. */
export function sealIterationsPerSegment(byteLength: number, perChunk = iterationsPerChunk()): number {
  return Math.max(1, Math.ceil(perChunk / segmentCount(byteLength)));
}

/**
 * Turns a chunk into the replica one host stores and proves. Each PROOF_SEGMENT_BYTES segment is XORed with an
 * AES-256-CTR pad under its own key, PBKDF2-SHA256 of a key derived (HKDF) from the deal, the host (lower-cased
 * address) and the chunk CID, salted with the segment's index and the hash of the sealed segment before it. So:
 * - every host keeps different bytes and commits a different Merkle root, and one stored copy does not match two;
 * - sealing is sequential (a segment's key needs the sealed segment before it) and slow on purpose,
 *   SEAL_ITERATIONS_PER_CHUNK rounds of PBKDF2 whatever the chunk's size, which no number of cores shortens: a host
 *   that kept nothing and gets the chunk back when challenged cannot seal it again within PROOF_DEADLINE_MS;
 * - unsealing is parallel (every salt is in the sealed bytes), so clients and repairs pay the rounds across cores.
 * Sealing needs no secret on purpose: its job is to make replicas differ and cost time, not to hide them (the client
 * already encrypted the data), and it lets anyone holding the chunk recompute a host's expected root. The output is
 * the same length as the input. The rounds run on libuv's thread pool, never blocking the event loop.
 */
export async function sealReplica(replica: ReplicaIdentity, data: Buffer, opts: { iterationsPerChunk?: number } = {}): Promise<Buffer> {
  const key = replicaKey(replica);
  const rounds = sealIterationsPerSegment(data.length, opts.iterationsPerChunk);
  const segments = segmentsOf(data);
  const sealed: Buffer[] = [];
  for (const [i, segment] of segments.entries()) {
    const segmentKey = await pbkdf2Async(key, segmentSalt(i, i > 0 ? sealed[i - 1] : null), rounds, 32, 'sha256');
    sealed.push(xorPad(segmentKey, segment));
  }
  return Buffer.concat(sealed);
}

/** Recovers the chunk from a host's sealed replica, e.g. to repair it onto another host: every segment at once. */
export async function unsealReplica(replica: ReplicaIdentity, sealed: Buffer, opts: { iterationsPerChunk?: number } = {}): Promise<Buffer> {
  const key = replicaKey(replica);
  const rounds = sealIterationsPerSegment(sealed.length, opts.iterationsPerChunk);
  const segments = segmentsOf(sealed);
  const plain = await Promise.all(segments.map(async (segment, i) =>
    xorPad(await pbkdf2Async(key, segmentSalt(i, i > 0 ? segments[i - 1] : null), rounds, 32, 'sha256'), segment)));
  return Buffer.concat(plain);
}

/** Cuts data into STORAGE_CHUNK_BYTES chunks (views, not copies); the last may be short, empty data gives one empty chunk. */
export function splitIntoChunks(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let start = 0; start < data.length; start += STORAGE_CHUNK_BYTES) chunks.push(data.subarray(start, start + STORAGE_CHUNK_BYTES));
  return chunks.length > 0 ? chunks : [data.subarray(0, 0)];
}
