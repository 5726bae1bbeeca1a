import { decryptChunk, encryptChunk, newDataKey, sealIterationsPerSegment, sealReplica, splitIntoChunks, unsealReplica } from './storage-crypto';
import { cidOf, merkleRoot, PROOF_SEGMENT_BYTES, SEAL_ITERATIONS_PER_CHUNK, segmentCount, segmentsOf, STORAGE_CHUNK_BYTES } from '../domain/storage';

describe('client-side chunk encryption', () => {
  const plain = Buffer.from('the quarterly numbers, before anyone else sees them');

  it('round-trips, with a fresh nonce every time', () => {
    const key = newDataKey();
    expect(key).toHaveLength(32);
    const encrypted = encryptChunk(key, plain);
    expect(encrypted).toHaveLength(12 + plain.length + 16);
    expect(decryptChunk(key, encrypted)).toEqual(plain);
    expect(encryptChunk(key, plain)).not.toEqual(encrypted);
    expect(decryptChunk(key, encryptChunk(key, Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
  });

  it('detects tampering anywhere and a wrong key', () => {
    const key = newDataKey();
    const encrypted = encryptChunk(key, plain);
    for (const position of [0, 12, encrypted.length - 1]) {
      const tampered = Buffer.from(encrypted);
      tampered[position] ^= 0x01;
      expect(() => decryptChunk(key, tampered)).toThrow(/failed authentication/);
    }
    expect(() => decryptChunk(newDataKey(), encrypted)).toThrow(/failed authentication/);
    expect(() => decryptChunk(key, encrypted.subarray(0, 27))).toThrow(/shorter than its nonce and tag/);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => encryptChunk(Buffer.alloc(16), plain)).toThrow(/32 bytes/);
  });
});

describe('replica sealing', () => {
  const chunk = encryptChunk(newDataKey(), Buffer.alloc(3 * 4096 + 17, 7));
  const chunkCid = cidOf(chunk);
  const alice = { dealId: 'deal-1', hostAddress: '0x1111111111111111111111111111111111111111', chunkCid };
  const bob = { ...alice, hostAddress: '0x2222222222222222222222222222222222222222' };
  // Few rounds: what is checked here does not depend on their number.
  const quick = { iterationsPerChunk: 1000 };

  it('gives each host and each deal different bytes of the same length', async () => {
    const sealed = await sealReplica(alice, chunk, quick);
    expect(sealed).toHaveLength(chunk.length);
    expect(sealed).not.toEqual(chunk);
    expect(await sealReplica(bob, chunk, quick)).not.toEqual(sealed);
    expect(await sealReplica({ ...alice, dealId: 'deal-2' }, chunk, quick)).not.toEqual(sealed);
  });

  it('is deterministic, ignores address case, and unseals back to the chunk', async () => {
    const sealed = await sealReplica(alice, chunk, quick);
    expect(await sealReplica({ ...alice, hostAddress: alice.hostAddress.toUpperCase() }, chunk, quick)).toEqual(sealed);
    expect(await unsealReplica(alice, sealed, quick)).toEqual(chunk);
    expect(await unsealReplica(bob, sealed, quick)).not.toEqual(chunk);
    // The rounds are part of the seal: a replica sealed with others does not unseal.
    expect(await unsealReplica(alice, sealed, { iterationsPerChunk: 1001 * 13 })).not.toEqual(chunk);
  });

  it('chains its segments: a changed segment changes every sealed segment after it, and only those', async () => {
    const changed = Buffer.from(chunk);
    changed[PROOF_SEGMENT_BYTES * 5 + 3] ^= 0x01;
    const [a, b] = [segmentsOf(await sealReplica(alice, chunk, quick)), segmentsOf(await sealReplica(alice, changed, quick))];
    a.forEach((segment, i) => expect(Buffer.from(segment).equals(Buffer.from(b[i]))).toBe(i < 5));
  });

  it("gives two hosts' replicas different Merkle roots", async () => {
    const aliceRoot = merkleRoot(segmentsOf(await sealReplica(alice, chunk, quick)));
    const bobRoot = merkleRoot(segmentsOf(await sealReplica(bob, chunk, quick)));
    expect(aliceRoot).not.toBe(bobRoot);
  });

  it('costs every chunk the same rounds, short or full, and seals with SEAL_ITERATIONS_PER_CHUNK by default', async () => {
    expect(sealIterationsPerSegment(STORAGE_CHUNK_BYTES) * segmentCount(STORAGE_CHUNK_BYTES)).toBe(SEAL_ITERATIONS_PER_CHUNK);
    expect(sealIterationsPerSegment(100)).toBe(SEAL_ITERATIONS_PER_CHUNK);
    const tiny = encryptChunk(newDataKey(), Buffer.from('x'));
    const identity = { ...alice, chunkCid: cidOf(tiny) };
    const sealed = await sealReplica(identity, tiny);
    expect(sealed).toEqual(await sealReplica(identity, tiny, { iterationsPerChunk: SEAL_ITERATIONS_PER_CHUNK }));
    expect(await unsealReplica(identity, sealed)).toEqual(tiny);
  });

  it('needs the chunk CID, a deal and a host', async () => {
    await expect(sealReplica({ ...alice, chunkCid: 'not-a-cid' }, chunk)).rejects.toThrow(/raw CID/);
    await expect(sealReplica({ ...alice, dealId: '' }, chunk)).rejects.toThrow(/dealId/);
  });

  it('takes fewer rounds only in tests', () => {
    const env = { ...process.env };
    try {
      process.env.ZANSOC_TEST_SEAL_ITERATIONS = '10';
      expect(sealIterationsPerSegment(100)).toBe(10);
      process.env.NODE_ENV = 'production';
      expect(() => sealIterationsPerSegment(100)).toThrow(/ZANSOC_TEST_SEAL_ITERATIONS: is a test fixture/);
    } finally {
      process.env = env;
    }
  });
});

describe('splitIntoChunks', () => {
  it('cuts at STORAGE_CHUNK_BYTES and keeps every byte', () => {
    const data = Buffer.alloc(2 * STORAGE_CHUNK_BYTES + 1, 3);
    const chunks = splitIntoChunks(data);
    expect(chunks.map((c) => c.length)).toEqual([STORAGE_CHUNK_BYTES, STORAGE_CHUNK_BYTES, 1]);
    expect(Buffer.concat(chunks)).toEqual(data);
    expect(splitIntoChunks(Buffer.alloc(STORAGE_CHUNK_BYTES))).toHaveLength(1);
  });

  it('gives empty data one empty chunk', () => {
    expect(splitIntoChunks(Buffer.alloc(0)).map((c) => c.length)).toEqual([0]);
  });
});
