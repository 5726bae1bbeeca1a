import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import fastify, { type FastifyInstance } from 'fastify';
import { StagingStore } from '../../api/staging';
import { ZansocErrorType } from '../../domain/errors';
import type { ReplicaChunk, StoreReplicaResult } from '../../domain/replica';
import { cidOf, merkleRoot, segmentCount, segmentsOf, STORAGE_CHUNK_BYTES, verifyMerkleProof } from '../../domain/storage';
import { sealReplica, unsealReplica } from '../../runtime/storage-crypto';
import { ChunkStore } from '../chunk-store';
import { createHostMetrics } from '../../metrics/registry';
import { createStorageHostActivities } from './storage';
import type { StorageHostActivities } from './types';

// Sealing's full rounds cost about a second a chunk, and every test here seals several: what these tests check does
// not depend on the rounds (runtime/storage-crypto.test.ts checks the default).
process.env.ZANSOC_TEST_SEAL_ITERATIONS = '4096';

const HOST = '0x1111111111111111111111111111111111111111';
const OTHER_HOST = '0x2222222222222222222222222222222222222222';

let dir: string;
let staging: StagingStore;
let server: FastifyInstance;
let stagingUrl: string;
const big = randomBytes(STORAGE_CHUNK_BYTES);
const small = randomBytes(5000);
const chunks: ReplicaChunk[] = [
  { cid: cidOf(big), bytes: big.length },
  { cid: cidOf(small), bytes: small.length },
];
const dataOf = new Map([[chunks[0].cid, big], [chunks[1].cid, small]]);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zansoc-storage-host-'));
  staging = new StagingStore(join(dir, 'staging'));
  await staging.put(big);
  await staging.put(small);
  // The blob routes without their access checks (test/staging-access.test.ts tries those): a host's side is tested here.
  server = fastify();
  server.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: 4 * STORAGE_CHUNK_BYTES }, (_req, body, done) => done(null, body));
  server.put<{ Params: { sha256: string } }>('/blobs/:sha256', async (req, reply) => {
    const stored = await staging.put(req.body as Buffer);
    return reply.code(stored === req.params.sha256 ? 201 : 422).send({ sha256: stored });
  });
  server.get<{ Params: { sha256: string } }>('/blobs/:sha256', async (req, reply) => {
    const data = await staging.read(req.params.sha256);
    return data ? reply.type('application/octet-stream').send(data) : reply.code(404).send({ error: 'no blob' });
  });
  stagingUrl = await server.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A host with its own chunk folder. */
function host(address = HOST, folder = join(dir, `host-${randomUUID()}`)) {
  const store = new ChunkStore(folder);
  return { folder, store, activities: createStorageHostActivities({ store, hostAddress: address }) };
}

// Byte comparisons use Buffer.equals: jest's toEqual walks a MiB byte by byte, for seconds.

/** Failures are asserted on, so the SDK's warning for each one is only noise here. */
const activityEnvironment = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

function run<K extends keyof StorageHostActivities>(
  activities: StorageHostActivities, name: K, ...args: Parameters<StorageHostActivities[K]>
): ReturnType<StorageHostActivities[K]> {
  const fn = activities[name] as (...a: Parameters<StorageHostActivities[K]>) => ReturnType<StorageHostActivities[K]>;
  return activityEnvironment().run(fn, ...args) as ReturnType<StorageHostActivities[K]>;
}

async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

const expectedRoots = async (dealId: string, address: string): Promise<Record<string, string>> => Object.fromEntries(await Promise.all(
  chunks.map(async ({ cid }) => [cid, merkleRoot(segmentsOf(await sealReplica({ dealId, hostAddress: address, chunkCid: cid }, dataOf.get(cid)!)))])));

describe('storage host activities', () => {
  it('store every chunk sealed to the host and commit the Merkle root of each sealed replica', async () => {
    const { store, activities } = host();
    const dealId = randomUUID();
    const env = activityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const result = await env.run(activities.storeReplica, { dealId, chunks, stagingUrl });

    expect(result).toEqual({
      roots: await expectedRoots(dealId, HOST),
      bytes: big.length + small.length,
    });
    expect(beats).toEqual([{ stored: 1 }, { stored: 2 }]);
    expect(await store.bytesStored()).toBe(big.length + small.length);
    expect(await store.deals()).toEqual([dealId]);
    for (const { cid } of chunks) {
      const sealed = await store.read(dealId, cid);
      expect(sealed!.equals(dataOf.get(cid)!)).toBe(false);
      expect((await unsealReplica({ dealId, hostAddress: HOST, chunkCid: cid }, sealed!)).equals(dataOf.get(cid)!)).toBe(true);
    }
  });

  it('give another host different roots for the same deal', async () => {
    const dealId = randomUUID();
    const mine = await run(host(HOST).activities, 'storeReplica', { dealId, chunks, stagingUrl });
    const theirs = await run(host(OTHER_HOST).activities, 'storeReplica', { dealId, chunks, stagingUrl });
    expect(theirs.roots).toEqual(await expectedRoots(dealId, OTHER_HOST));
    for (const { cid } of chunks) expect(theirs.roots[cid]).not.toBe(mine.roots[cid]);
  });

  it('store idempotently: a retry answers the same without staging, a restarted store counts what it has', async () => {
    const { folder, store, activities } = host();
    const dealId = randomUUID();
    const first = await run(activities, 'storeReplica', { dealId, chunks, stagingUrl });
    const again = await run(activities, 'storeReplica', { dealId, chunks, stagingUrl: 'http://127.0.0.1:9' });
    expect(again).toEqual(first);
    expect(await store.bytesStored()).toBe(first.bytes);
    expect(readdirSync(join(folder, dealId)).sort()).toEqual(chunks.map(({ cid }) => cid).sort());

    // A crash mid-write leaves a temporary file: never counted, cleared on the next start.
    writeFileSync(join(folder, dealId, `${chunks[0].cid}.${randomUUID()}.partial`), 'half a replica');
    const restarted = new ChunkStore(folder);
    expect(await restarted.bytesStored()).toBe(first.bytes);
    expect(readdirSync(join(folder, dealId)).sort()).toEqual(chunks.map(({ cid }) => cid).sort());
  });

  it('replace a stored replica that no longer unseals to its CID', async () => {
    const { store, activities } = host();
    const dealId = randomUUID();
    const first = await run(activities, 'storeReplica', { dealId, chunks, stagingUrl });
    await store.put(dealId, chunks[1].cid, randomBytes(small.length));
    expect(await run(activities, 'storeReplica', { dealId, chunks, stagingUrl })).toEqual(first);
    expect(await store.bytesStored()).toBe(first.bytes);
  });

  it('prove random segments with Merkle paths that verify against the committed roots', async () => {
    const { activities } = host();
    const dealId = randomUUID();
    const { roots } = await run(activities, 'storeReplica', { dealId, chunks, stagingUrl });
    const leafCount = (cid: string) => segmentCount(dataOf.get(cid)!.length);
    const challenges = chunks.map(({ cid }) => ({
      cid,
      indexes: [0, leafCount(cid) - 1, ...Array.from({ length: 4 }, () => randomInt(leafCount(cid)))],
    }));
    const { proofs, missing } = await run(activities, 'proveReplica', { dealId, challenges });

    expect(missing).toEqual([]);
    expect(proofs.map(({ cid }) => cid)).toEqual(chunks.map(({ cid }) => cid));
    for (const [i, { cid, segments }] of proofs.entries()) {
      expect(segments.map(({ index }) => index)).toEqual(challenges[i].indexes);
      for (const { index, data, proof } of segments) {
        expect(verifyMerkleProof({ root: roots[cid], index, leafCount: leafCount(cid), segment: Buffer.from(data, 'hex'), proof })).toBe(true);
      }
    }
  });

  it('cannot prove a replica it lost or let rot', async () => {
    const { folder, activities } = host();
    const dealId = randomUUID();
    const { roots } = await run(activities, 'storeReplica', { dealId, chunks, stagingUrl });
    const [lost, rotten] = chunks;
    rmSync(join(folder, dealId, lost.cid));
    const leafCount = segmentCount(rotten.bytes);
    const index = leafCount - 1;
    await writeFile(join(folder, dealId, rotten.cid), randomBytes(rotten.bytes));

    const { proofs, missing } = await run(activities, 'proveReplica', {
      dealId, challenges: [{ cid: lost.cid, indexes: [0] }, { cid: rotten.cid, indexes: [index] }],
    });
    expect(missing).toEqual([lost.cid]);
    expect(proofs).toHaveLength(1);
    const [{ data, proof }] = proofs[0].segments;
    expect(verifyMerkleProof({ root: roots[rotten.cid], index, leafCount, segment: Buffer.from(data, 'hex'), proof })).toBe(false);

    const { missing: neverStored } = await run(activities, 'proveReplica', { dealId: randomUUID(), challenges: [{ cid: rotten.cid, indexes: [0] }] });
    expect(neverStored).toEqual([rotten.cid]);
  });

  it('refuse, for good, a segment index outside the replica', async () => {
    const { activities } = host();
    const dealId = randomUUID();
    await run(activities, 'storeReplica', { dealId, chunks, stagingUrl });
    const outside = segmentCount(small.length);
    const refused = await failure(run(activities, 'proveReplica', { dealId, challenges: [{ cid: chunks[1].cid, indexes: [0, outside] }] }));
    expect(refused.nonRetryable).toBe(true);
    expect(refused.type).toBe(ZansocErrorType.InvalidSpec);
    expect(refused.message).toContain(`segment index ${outside}`);
  });

  it('serve a sealed replica through staging that unseals to the chunk its CID names', async () => {
    const { activities } = host();
    const dealId = randomUUID();
    await run(activities, 'storeReplica', { dealId, chunks, stagingUrl });
    for (const { cid } of chunks) {
      const { sealedSha256, bytes } = await run(activities, 'serveReplica', { dealId, cid, stagingUrl });
      const sealed = await staging.read(sealedSha256);
      expect(sealed).not.toBeNull();
      expect(bytes).toBe(sealed!.length);
      const data = await unsealReplica({ dealId, hostAddress: HOST, chunkCid: cid }, sealed!);
      expect(cidOf(data)).toBe(cid);
    }
  });

  it('answer ReplicaMissing, for good, when asked to serve a replica it does not keep', async () => {
    const { activities } = host();
    const refused = await failure(run(activities, 'serveReplica', { dealId: randomUUID(), cid: chunks[0].cid, stagingUrl }));
    expect(refused.type).toBe(ZansocErrorType.ReplicaMissing);
    expect(refused.nonRetryable).toBe(true);
  });

  it('refuse, for good, a staged chunk whose length is not the one the deal says, and keep nothing of it', async () => {
    const { store, activities } = host();
    const dealId = randomUUID();
    const refused = await failure(run(activities, 'storeReplica', {
      dealId, chunks: [{ cid: chunks[1].cid, bytes: small.length + 1 }], stagingUrl,
    }));
    expect(refused.type).toBe(ZansocErrorType.InvalidSpec);
    expect(refused.nonRetryable).toBe(true);
    expect(refused.message).toContain(`${small.length} bytes in staging`);
    expect(await store.has(dealId, chunks[1].cid)).toBe(false);
    expect(await store.bytesStored()).toBe(0);
  });

  it('refuse, for good, a deal id or CID that is not one', async () => {
    const { activities } = host();
    const badDeal = await failure(run(activities, 'storeReplica', { dealId: '../../etc', chunks, stagingUrl }));
    expect(badDeal.nonRetryable).toBe(true);
    const badCid = await failure(run(activities, 'proveReplica', { dealId: randomUUID(), challenges: [{ cid: 'bafkreinotacid', indexes: [0] }] }));
    expect(badCid.nonRetryable).toBe(true);
    expect(badCid.message).toContain('bafkreinotacid');
  });

  it('delete every replica of a deal, idempotently, and report what is kept in zansoc_host_storage_bytes', async () => {
    const folder = join(dir, `host-${randomUUID()}`);
    const store = new ChunkStore(folder);
    const metrics = createHostMetrics();
    const activities = createStorageHostActivities({ store, hostAddress: HOST, metrics, hostId: 'host-a' });
    const gauge = async () => (await metrics.storageBytes.get()).values.find((v) => v.labels.host === 'host-a')?.value;
    const kept = randomUUID();
    const dropped = randomUUID();

    const stored: StoreReplicaResult = await run(activities, 'storeReplica', { dealId: kept, chunks: [chunks[1]], stagingUrl });
    await run(activities, 'storeReplica', { dealId: dropped, chunks, stagingUrl });
    expect(await gauge()).toBe(stored.bytes + big.length + small.length);

    await run(activities, 'deleteReplica', { dealId: dropped });
    await run(activities, 'deleteReplica', { dealId: dropped });
    expect(await store.deals()).toEqual([kept]);
    expect(await store.has(dropped, chunks[0].cid)).toBe(false);
    expect(readdirSync(folder)).toEqual([kept]);
    expect(await store.bytesStored()).toBe(stored.bytes);
    expect(await gauge()).toBe(stored.bytes);

    await run(activities, 'deleteReplica', { dealId: kept });
    expect(await store.bytesStored()).toBe(0);
    expect(await store.deals()).toEqual([]);
    expect(await gauge()).toBe(0);
    expect(await new ChunkStore(folder).bytesStored()).toBe(0);
  });
});

describe('ChunkStore', () => {
  const cid = cidOf(small);

  it('refuses a deal id or CID that could leave its folder, naming it', async () => {
    const store = new ChunkStore(join(dir, `store-${randomUUID()}`));
    await expect(store.put('../escape', cid, small)).rejects.toThrow('"../escape"');
    await expect(store.read('a/b', cid)).rejects.toThrow('"a/b"');
    await expect(store.has('', cid)).rejects.toThrow('not a deal id');
    await expect(store.removeDeal('..')).rejects.toThrow('".."');
    await expect(store.put(randomUUID(), '../../x', small)).rejects.toThrow('"../../x"');
    expect(readdirSync(dir).some((name) => name === 'escape' || name === 'x')).toBe(false);
  });

  it('keeps the count right when one replica is replaced and puts of a deal race', async () => {
    const folder = join(dir, `store-${randomUUID()}`);
    const store = new ChunkStore(folder);
    const dealId = randomUUID();
    await Promise.all([store.put(dealId, cid, small), store.put(dealId, cid, small), store.put(dealId, chunks[0].cid, big)]);
    expect(await store.bytesStored()).toBe(small.length + big.length);
    await store.put(dealId, cid, small.subarray(0, 10));
    expect(await store.bytesStored()).toBe(10 + big.length);
    expect(await store.cids(dealId)).toEqual([cid, chunks[0].cid].sort());
    await Promise.all([store.removeDeal(dealId), store.removeDeal(dealId)]);
    expect(await store.bytesStored()).toBe(0);
  });

  it('counts replicas an earlier run left, and lists no deal for an empty folder', async () => {
    const folder = join(dir, `store-${randomUUID()}`);
    const dealId = randomUUID();
    await mkdir(join(folder, dealId), { recursive: true });
    await mkdir(join(folder, randomUUID()), { recursive: true });
    await writeFile(join(folder, dealId, cid), small);
    const store = new ChunkStore(folder);
    expect(await store.bytesStored()).toBe(small.length);
    expect(await store.deals()).toEqual([dealId]);
    expect(await new ChunkStore(join(dir, 'no-such-folder')).bytesStored()).toBe(0);
  });
});
