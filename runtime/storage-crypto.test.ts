import { decryptChunk, encryptChunk, newDataKey, sealReplica, splitIntoChunks, unsealReplica } from './storage-crypto';
import { cidOf, merkleRoot, segmentsOf, STORAGE_CHUNK_BYTES } from '../domain/storage';

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

  it('gives each host and each deal different bytes of the same length', () => {
    const sealed = sealReplica(alice, chunk);
    expect(sealed).toHaveLength(chunk.length);
    expect(sealed).not.toEqual(chunk);
    expect(sealReplica(bob, chunk)).not.toEqual(sealed);
    expect(sealReplica({ ...alice, dealId: 'deal-2' }, chunk)).not.toEqual(sealed);
  });

  it('is deterministic, ignores address case, and unseals back to the chunk', () => {
    const sealed = sealReplica(alice, chunk);
    expect(sealReplica({ ...alice, hostAddress: alice.hostAddress.toUpperCase() }, chunk)).toEqual(sealed);
    expect(unsealReplica(alice, sealed)).toEqual(chunk);
    expect(unsealReplica(bob, sealed)).not.toEqual(chunk);
  });

  it("gives two hosts' replicas different Merkle roots", () => {
    const aliceRoot = merkleRoot(segmentsOf(sealReplica(alice, chunk)));
    const bobRoot = merkleRoot(segmentsOf(sealReplica(bob, chunk)));
    expect(aliceRoot).not.toBe(bobRoot);
  });

  it('needs the chunk CID, a deal and a host', () => {
    expect(() => sealReplica({ ...alice, chunkCid: 'not-a-cid' }, chunk)).toThrow(/raw CID/);
    expect(() => sealReplica({ ...alice, dealId: '' }, chunk)).toThrow(/dealId/);
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
