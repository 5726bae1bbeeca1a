import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STORAGE_CHUNK_BYTES, storageDealSpecSchema, type StorageChunk } from '../domain/storage';
import { sealReplica } from '../runtime/storage-crypto';
import {
  encryptForStorage, fileKeyUnderDeal, findDealKey, manifestId, PLAIN_CHUNK_BYTES, plaintextBytes, readKeyFile, retrieveChunks, writeKeyFile,
  type EncryptedFile, type ServedReplica,
} from './storage';

// Fewer sealing rounds than the default: these tests seal and unseal many chunks, and check nothing that depends on the rounds.
process.env.ZANSOC_TEST_SEAL_ITERATIONS = '4096';

const DEAL_ID = '6f1c2a8e-4b7d-4e3a-9c51-0d2f8b6a7e10';
const HOST = { hostId: 'host-a', hostAddress: '0x8ba1f109551bD432803012645Ac136ddd64DBA72' };

/** A holder that serves its sealed replica of each chunk; `tamper` decides which answers get a flipped byte. */
function fakeHolder(file: EncryptedFile, tamper: (cid: string, call: number) => boolean = () => false) {
  const calls = new Map<string, number>();
  const fetchReplica = async (cid: string): Promise<ServedReplica> => {
    const call = (calls.get(cid) ?? 0) + 1;
    calls.set(cid, call);
    const index = file.chunks.findIndex((c) => c.cid === cid);
    const sealed = await sealReplica({ dealId: DEAL_ID, hostAddress: HOST.hostAddress, chunkCid: cid }, file.encrypted[index]);
    if (tamper(cid, call)) sealed[sealed.length >> 1] ^= 0x01;
    return { ...HOST, sealed };
  };
  return { fetchReplica, calls };
}

async function reassemble(file: EncryptedFile, fetchReplica: (cid: string) => Promise<ServedReplica>) {
  const out = Buffer.alloc(plaintextBytes(file.chunks));
  const result = await retrieveChunks({
    dealId: DEAL_ID, key: file.key, chunks: file.chunks, fetchReplica, write: (plain, offset) => void plain.copy(out, offset),
  });
  return { out, ...result };
}

describe('storage put and get, without a server', () => {
  const original = randomBytes(2.5 * 1024 * 1024);
  const file = encryptForStorage(original);

  it('chunks fit the deal limits and add up to a sizeBytes the spec schema accepts', () => {
    expect(file.chunks).toHaveLength(3);
    for (const [i, chunk] of file.chunks.entries()) {
      expect(chunk.bytes).toBeLessThanOrEqual(STORAGE_CHUNK_BYTES);
      expect(chunk.bytes).toBe(file.encrypted[i].length);
    }
    const sizeBytes = file.chunks.reduce((total, c) => total + c.bytes, 0);
    const spec = storageDealSpecSchema.parse({ sizeBytes, chunks: file.chunks, durationSeconds: 86_400, pricePerGibMonth: '1000' });
    expect(spec.sizeBytes).toBe(original.length + 3 * 28);
  });

  it('fills whole chunks to exactly STORAGE_CHUNK_BYTES once encrypted', () => {
    const { chunks } = encryptForStorage(randomBytes(2 * PLAIN_CHUNK_BYTES));
    expect(chunks.map((c) => c.bytes)).toEqual([STORAGE_CHUNK_BYTES, STORAGE_CHUNK_BYTES]);
  });

  it('refuses empty data', () => {
    expect(() => encryptForStorage(Buffer.alloc(0))).toThrow(/empty/);
  });

  it('round-trips through sealed replicas back to the original bytes', async () => {
    const holder = fakeHolder(file);
    const { out, bytes, servedBy } = await reassemble(file, holder.fetchReplica);
    expect(bytes).toBe(original.length);
    expect(out.equals(original)).toBe(true);
    expect(servedBy).toEqual({ 'host-a': 3 });
  });

  it('asks again once when a replica does not match its CID', async () => {
    const holder = fakeHolder(file, (cid, call) => cid === file.chunks[1].cid && call === 1);
    const { out } = await reassemble(file, holder.fetchReplica);
    expect(out.equals(original)).toBe(true);
    expect(holder.calls.get(file.chunks[1].cid)).toBe(2);
  });

  it('fails naming the host when a tampered replica comes back twice', async () => {
    const holder = fakeHolder(file, (cid) => cid === file.chunks[2].cid);
    await expect(reassemble(file, holder.fetchReplica)).rejects.toThrow(`chunk 2 (${file.chunks[2].cid}) does not match its CID as served by host-a, then by host-a`);
    expect(holder.calls.get(file.chunks[2].cid)).toBe(2);
  });

  it('cannot decrypt with another key', async () => {
    const holder = fakeHolder(file);
    await expect(retrieveChunks({
      dealId: DEAL_ID, key: randomBytes(32), chunks: file.chunks, fetchReplica: holder.fetchReplica, write: () => undefined,
    })).rejects.toThrow(/failed authentication/);
  });
});

describe('deal key files', () => {
  const small = encryptForStorage(randomBytes(1000));
  const keyFile = { key: small.key.toString('hex'), fileName: 'notes.txt', plaintextBytes: 1000, chunks: small.chunks };

  it('are written owner-only and read back', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'zansoc-keys-')), 'deals');
    const path = writeKeyFile(dir, 'a-deal', keyFile);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readKeyFile(dir, 'a-deal')).toEqual(keyFile);
    expect(readKeyFile(dir, 'another-deal')).toBeUndefined();
  });

  it('move from the manifest id to the deal id once the deal exists, and are found by either', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'zansoc-keys-')), 'deals');
    const manifest = manifestId(small.chunks.map((c) => c.cid));
    writeKeyFile(dir, manifest, keyFile);
    expect(findDealKey(dir, DEAL_ID, small.chunks)?.keyFile).toEqual(keyFile);

    const path = fileKeyUnderDeal(dir, DEAL_ID, small.chunks);
    expect(path).toBe(join(dir, `${DEAL_ID}.json`));
    expect(readdirSync(dir)).toEqual([`${DEAL_ID}.json`]);
    expect(statSync(path!).mode & 0o777).toBe(0o600);
    expect(readKeyFile(dir, DEAL_ID)).toEqual({ ...keyFile, dealId: DEAL_ID });
  });

  it('are not taken for a deal over other chunks', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'zansoc-keys-')), 'deals');
    writeKeyFile(dir, DEAL_ID, keyFile);
    const other: StorageChunk[] = encryptForStorage(randomBytes(1000)).chunks;
    expect(() => findDealKey(dir, DEAL_ID, other)).toThrow(/describes other chunks/);
    expect(fileKeyUnderDeal(join(dir, 'empty'), DEAL_ID, other)).toBeUndefined();
  });
});
