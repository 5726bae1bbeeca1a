import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Wallet } from 'ethers';
import { createApiClient } from '../api/client';
import { openDatabase, type Database } from '../db/client';
import { splitCommission } from '../domain/money';
import { cidOf, isFinalDealState, sha256OfCid, STORAGE_CHUNK_BYTES, type StorageDealSpecInput } from '../domain/storage';
import { decryptChunk, encryptChunk, newDataKey, unsealReplica } from '../runtime/storage-crypto';
import { ChunkStore } from '../host-worker/chunk-store';
import { downloadBlob, uploadBlob } from '../runtime/staging-client';
import { devnetClientStaging } from './support/staging';
import { eventually } from './support/eventually';
import { DEVNET_KEYS, startDevnet, type Devnet } from '../scripts/devnet';
import { chainReader, keepHistory, printRolesOnFailure, tearDownDevnet } from './support/devnet';

/**
 * Storage deals on the devnet, end to end: a client-encrypted file in chunks, replicas sealed per host, a proof per
 * host every period, payment per period on chain, retrieval through a holder, a lost replica slashed and repaired.
 */
const GCM_OVERHEAD = 28;
const PRICE_PER_GIB_MONTH = (10n ** 22n).toString();

describe('storage deals on the devnet', () => {
  let dir: string;
  let devnet: Devnet;
  let db: Database;
  let temporal: Client;
  const lines: string[] = [];
  const treasury = new Wallet(DEVNET_KEYS.treasury).address;
  const client = new Wallet(DEVNET_KEYS.client).address;
  const address = new Map<string, string>();
  const balanceOf = (address: string) => chainReader(devnet).balanceOf(address);
  const stakeOf = async (hostId: string) => (await chainReader(devnet).stakeOf(address.get(hostId)!)).staked;

  /** What the CLI does before asking for a deal: encrypt, chunk, content-address and stage. */
  async function stage(plain: Buffer) {
    const key = newDataKey();
    const encrypted: Buffer[] = [];
    for (let at = 0; at < plain.length; at += STORAGE_CHUNK_BYTES - GCM_OVERHEAD) {
      encrypted.push(encryptChunk(key, plain.subarray(at, at + STORAGE_CHUNK_BYTES - GCM_OVERHEAD)));
    }
    for (const chunk of encrypted) await uploadBlob(devnet.apiUrl, chunk, { auth: devnetClientStaging(devnet.deployment.chainId) });
    const chunks = encrypted.map((c) => ({ cid: cidOf(c), bytes: c.length }));
    return { key, chunks, sizeBytes: encrypted.reduce((n, c) => n + c.length, 0) };
  }

  async function untilDeal(dealId: string, done: (deal: Awaited<ReturnType<Devnet['api']['storage']['get']['query']>>) => boolean, timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const deal = await devnet.api.storage.get.query({ dealId });
      if (done(deal)) return deal;
      if (Date.now() > deadline) throw new Error(`deal ${dealId} still ${deal.state} (${deal.stateReason}) after ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  /** What `zansoc storage get` does: each chunk from a holder, unsealed, checked against its CID, decrypted. */
  async function retrieve(dealId: string, key: Buffer, chunks: { cid: string }[]) {
    const parts: Buffer[] = [];
    const servedBy = new Set<string>();
    for (const { cid } of chunks) {
      const served = await devnet.api.storage.retrieve.mutate({ dealId, cid });
      const sealed = await downloadBlob(devnet.apiUrl, served.sealedSha256, { auth: devnetClientStaging(devnet.deployment.chainId) });
      const replica = await unsealReplica({ dealId, hostAddress: served.hostAddress, chunkCid: cid }, sealed);
      expect(cidOf(replica)).toBe(cid);
      parts.push(decryptChunk(key, replica));
      servedBy.add(served.hostId);
    }
    return { data: Buffer.concat(parts), servedBy };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-storage-'));
    devnet = await startDevnet({ dir, hosts: 3, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line) });
    db = openDatabase(devnet.databaseUrl);
    for (const h of await db.host.findMany()) address.set(h.id, h.address);
    temporal = new Client({ connection: await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls }) });
  }, 300_000);

  afterAll(async () => {
    await tearDownDevnet({ temporal, db, devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('stores a file on two hosts, pays every proven period on chain, serves it back, renews, and refunds the rest at the end', async () => {
    const plain = randomBytes(Math.floor(2.5 * 1024 * 1024));
    const { key, chunks, sizeBytes } = await stage(plain);
    expect(chunks).toHaveLength(3);
    const before = { client: await balanceOf(client), treasury: await balanceOf(treasury), hosts: new Map<string, bigint>() };
    for (const id of devnet.hostIds) before.hosts.set(id, await balanceOf(address.get(id)!));

    const spec: StorageDealSpecInput = {
      name: 'photos.tar', sizeBytes, chunks, replicas: 2, durationSeconds: 60, proofPeriodSeconds: 10, pricePerGibMonth: PRICE_PER_GIB_MONTH,
    };
    // A short term for the test: 60 s is the shortest a client may ask; 10 s periods make 6 of them.
    const { deal, created } = await devnet.api.storage.create.mutate({ spec, idempotencyKey: 'photos' });
    expect(created).toBe(true);
    expect(deal).toMatchObject({ state: 'ESCROW', replicas: 2, periods: 6, sizeBytes });
    expect((await devnet.api.storage.create.mutate({ spec, idempotencyKey: 'photos' })).deal.id).toBe(deal.id);

    const active = await untilDeal(deal.id, (d) => d.state === 'ACTIVE');
    expect(active.hostIds.sort()).toEqual(['host-1', 'host-2']);
    // Every holder's placement is verified: the staged chunks are done with, and the sweeper deletes them.
    const stagedChunk = (cid: string) => join(dir, 'staging', sha256OfCid(cid).slice(0, 2), sha256OfCid(cid));
    await eventually(10_000, async () => ((await db.blob.count({ where: { dealId: deal.id, kind: 'chunk', endedAt: null } })) === 0 ? true : undefined));
    expect(await db.blob.count({ where: { dealId: deal.id, kind: 'chunk' } })).toBe(chunks.length);
    // Each holder keeps a replica unique to it: same chunks, different sealed bytes, different roots.
    const status = await devnet.api.storage.status.query({ dealId: deal.id });
    const [a, b] = status.holders;
    for (const { cid } of chunks) expect(a.roots[cid]).not.toBe(b.roots[cid]);
    for (const holder of status.holders) {
      const store = new ChunkStore(join(dir, holder.hostId, 'chunks'));
      expect(await store.cids(deal.id)).toEqual(chunks.map((c) => c.cid).sort());
    }

    const { data, servedBy } = await retrieve(deal.id, key, chunks);
    expect(data.equals(plain)).toBe(true);
    expect([...servedBy].every((h) => ['host-1', 'host-2'].includes(h))).toBe(true);

    // Two periods more, deposited now as a second term on chain.
    const renewed = await devnet.api.storage.renew.mutate({ dealId: deal.id, durationSeconds: 20 });
    expect(renewed.periods).toBe(8);
    expect((await devnet.api.storage.get.query({ dealId: deal.id })).periods).toBe(8);

    const ended = await untilDeal(deal.id, (d) => isFinalDealState(d.state), 180_000);
    expect(ended).toMatchObject({ state: 'ENDED', periodsReleased: 8, slashed: '0' });
    // The deal ran 80 s past placement, longer than the API's sweep interval (60 s): its chunks have left staging,
    // and what is left of it (the replicas served for retrieval) goes at the next sweep.
    for (const { cid } of chunks) expect(existsSync(stagedChunk(cid))).toBe(false);
    await eventually(10_000, async () => ((await db.blob.count({ where: { dealId: deal.id, endedAt: null } })) === 0 ? true : undefined));
    const final = await devnet.api.storage.status.query({ dealId: deal.id });
    expect(final.holders.map((h) => [h.hostId, h.proofsOk, h.proofsFailed]).sort()).toEqual([['host-1', 8, 0], ['host-2', 8, 0]]);
    expect(final.terms.map((t) => [t.periods, t.ended])).toEqual([[6, true], [2, true]]);

    // Money, read from the chain: each holder earned eight periods net of commission; the rest went back to the client.
    const rate = BigInt(final.ratePerHostPeriod);
    expect(BigInt(ended.paidToHosts) + BigInt(ended.commission)).toBe(rate * 2n * 8n);
    // Commission is taken from each host's pay for each period.
    const perPeriod = splitCommission(rate.toString());
    expect(BigInt(ended.commission)).toBe(16n * BigInt(perPeriod.commission));
    for (const id of ['host-1', 'host-2']) expect((await balanceOf(address.get(id)!)) - before.hosts.get(id)!).toBe(8n * BigInt(perPeriod.host));
    expect(await balanceOf(address.get('host-3')!)).toBe(before.hosts.get('host-3')!);
    expect((await balanceOf(treasury)) - before.treasury).toBe(BigInt(ended.commission));
    expect(before.client - (await balanceOf(client))).toBe(BigInt(ended.paidToHosts) + BigInt(ended.commission));
    expect(BigInt(ended.refunded)).toBe(BigInt(ended.deposit) - BigInt(ended.paidToHosts) - BigInt(ended.commission));
    // The hosts deleted their replicas.
    for (const id of ['host-1', 'host-2']) expect(await new ChunkStore(join(dir, id, 'chunks')).cids(deal.id)).toEqual([]);
    await keepHistory(devnet, `deal-${deal.id}`, 'storage-deal-ended');
  }, 300_000);

  it('slashes a host that lost its replica and repairs it onto a fresh host from a healthy replica', async () => {
    const plain = randomBytes(300 * 1024);
    const { key, chunks, sizeBytes } = await stage(plain);
    const { deal } = await devnet.api.storage.create.mutate({
      spec: { sizeBytes, chunks, replicas: 2, durationSeconds: 600, proofPeriodSeconds: 10, pricePerGibMonth: PRICE_PER_GIB_MONTH },
    });
    const active = await untilDeal(deal.id, (d) => d.state === 'ACTIVE');
    const [lost, kept] = active.hostIds.sort();
    const stakeBefore = await stakeOf(lost);

    // The host's disk loses the replica: its next proofs fail, and two in a row cost it its bond.
    await new ChunkStore(join(dir, lost, 'chunks')).removeDeal(deal.id);
    // Nor can it fetch the chunks back to reseal them and answer in time: a placed holder may not read them from
    // staging, even while the sweeper has not deleted them yet (the fetch is refused; sealing them again would miss the deadline anyway, test/storage-proofs.test.ts).
    const lazy = { signer: await devnet.hostKey(lost), chainId: devnet.deployment.chainId };
    for (const { cid } of chunks) await expect(downloadBlob(devnet.apiUrl, sha256OfCid(cid), { auth: lazy })).rejects.toThrow(/HTTP 404/);
    const repaired = await untilDeal(deal.id, (d) => d.slashed !== '0' && d.hostIds.length === 2, 120_000);
    const fresh = devnet.hostIds.find((h) => h !== lost && h !== kept)!;
    expect(repaired.hostIds.sort()).toEqual([kept, fresh].sort());
    const status = await devnet.api.storage.status.query({ dealId: deal.id });
    expect(status.repairs).toBe(1);
    const faulty = status.holders.find((h) => h.hostId === lost)!;
    expect(faulty).toMatchObject({ state: 'REMOVED', slashed: faulty.bond, proofsFailed: 2 });
    expect(stakeBefore - (await stakeOf(lost))).toBe(BigInt(faulty.bond));
    expect(status.timeline.some((t) => t.step.includes(`${lost} slashed after repeated faults`))).toBe(true);
    expect(await new ChunkStore(join(dir, fresh, 'chunks')).cids(deal.id)).toEqual(chunks.map((c) => c.cid).sort());

    // The data is whole, wherever it is served from now.
    expect((await retrieve(deal.id, key, chunks)).data.equals(plain)).toBe(true);

    await devnet.api.storage.cancel.mutate({ dealId: deal.id, reason: 'moving elsewhere' });
    const cancelled = await untilDeal(deal.id, (d) => isFinalDealState(d.state));
    expect(cancelled).toMatchObject({ state: 'CANCELLED', stateReason: 'moving elsewhere' });
    expect(BigInt(cancelled.refunded)).toBe(BigInt(cancelled.deposit) - BigInt(cancelled.paidToHosts) - BigInt(cancelled.commission));
    await keepHistory(devnet, `deal-${deal.id}`, 'storage-deal-repaired');
  }, 240_000);

  it('refuses a deal whose chunks are not staged, naming the field, creates nothing, and keeps other clients out', async () => {
    const unstaged = randomBytes(1000);
    const before = await db.deal.count();
    const spec: StorageDealSpecInput = {
      sizeBytes: 1000, chunks: [{ cid: cidOf(unstaged), bytes: 1000 }], replicas: 1, durationSeconds: 60, proofPeriodSeconds: 10, pricePerGibMonth: '1',
    };
    await expect(devnet.api.storage.create.mutate({ spec })).rejects.toThrow(`spec.chunks.0.cid: chunk ${cidOf(unstaged)} is not in the staging store`);
    await expect(devnet.api.storage.create.mutate({ spec: { ...spec, sizeBytes: 999 } })).rejects.toThrow(/chunks/);
    await expect(devnet.api.storage.create.mutate({ spec: { ...spec, pricePerGibMonth: '0' } })).rejects.toThrow('spec.pricePerGibMonth: must be more than 0');
    await expect(devnet.api.storage.create.mutate({ spec: { ...spec, pricePerGibMonth: (10n ** 40n).toString(), durationSeconds: 86_400 } }))
      .rejects.toThrow(/spec.pricePerGibMonth: the deposit \(\d+ base units\) is more than the escrow can hold/);
    expect(await db.deal.count()).toBe(before);

    const { chunks, sizeBytes } = await stage(randomBytes(5000));
    const { deal } = await devnet.api.storage.create.mutate({ spec: { ...spec, chunks, sizeBytes } });
    const stranger = createApiClient(devnet.apiUrl, { signer: Wallet.createRandom(), chainId: devnet.deployment.chainId });
    await expect(stranger.storage.get.query({ dealId: deal.id })).rejects.toThrow(`dealId: no deal ${deal.id}`);
    await expect(stranger.storage.cancel.mutate({ dealId: deal.id })).rejects.toThrow(`dealId: no deal ${deal.id}`);
    await expect(stranger.storage.retrieve.mutate({ dealId: deal.id, cid: chunks[0].cid })).rejects.toThrow(`dealId: no deal ${deal.id}`);
    await devnet.api.storage.cancel.mutate({ dealId: deal.id });
    expect((await untilDeal(deal.id, (d) => isFinalDealState(d.state))).state).toBe('CANCELLED');
    await expect(devnet.api.storage.renew.mutate({ dealId: deal.id, durationSeconds: 60 })).rejects.toThrow(/cannot be renewed now|only an ACTIVE deal can be renewed/);
  }, 120_000);
});
