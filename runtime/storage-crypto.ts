import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { isRawCid, STORAGE_CHUNK_BYTES } from '../domain/storage';

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

const SEAL_KEY_MATERIAL = Buffer.from('zansoc-seal-v1', 'utf8');
// Each (deal, host, chunk) has its own key, so the same counter block never meets the same key twice: a fixed IV is safe.
const SEAL_IV = Buffer.alloc(16);

function sealKey({ dealId, hostAddress, chunkCid }: ReplicaIdentity): Buffer {
  if (!dealId || !hostAddress) throw new Error('sealing needs a dealId and a hostAddress');
  if (!isRawCid(chunkCid)) throw new Error(`sealing needs the chunk's raw CID, got ${JSON.stringify(chunkCid)}`);
  const info = `${hostAddress.toLowerCase()}:${chunkCid}`;
  return Buffer.from(hkdfSync('sha256', SEAL_KEY_MATERIAL, Buffer.from(dealId, 'utf8'), Buffer.from(info, 'utf8'), 32));
}

/**
 * Turns a chunk into the replica one host stores and proves: AES-256-CTR under a key derived with HKDF-SHA256 from
 * the deal, the host (lower-cased address) and the chunk CID, so every host keeps different bytes and commits a
 * different Merkle root, and one stored copy does not match two hosts' roots. Sealing needs no secret on purpose:
 * its job is to make replicas differ, not to hide them (the client already encrypted the data), and it lets anyone
 * holding the chunk recompute a host's expected root. The output is the same length as the input.
 */
export function sealReplica(replica: ReplicaIdentity, data: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-ctr', sealKey(replica), SEAL_IV);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** Recovers the chunk from a host's sealed replica (CTR is its own inverse), e.g. to repair it onto another host. */
export function unsealReplica(replica: ReplicaIdentity, sealed: Buffer): Buffer {
  return sealReplica(replica, sealed);
}

/** Cuts data into STORAGE_CHUNK_BYTES chunks (views, not copies); the last may be short, empty data gives one empty chunk. */
export function splitIntoChunks(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let start = 0; start < data.length; start += STORAGE_CHUNK_BYTES) chunks.push(data.subarray(start, start + STORAGE_CHUNK_BYTES));
  return chunks.length > 0 ? chunks : [data.subarray(0, 0)];
}
