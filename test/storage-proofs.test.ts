import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../db/client';
import { cidOf, PROOF_DEADLINE_MS, type StorageDealSpecInput } from '../domain/storage';
import { ChunkStore } from '../host-worker/chunk-store';
import { encryptChunk, newDataKey } from '../runtime/storage-crypto';
import { uploadBlob } from '../runtime/staging-client';
import { startDevnet, type Devnet } from '../scripts/devnet';
import { chainReader, keepHistory, printRolesOnFailure, tearDownDevnet } from './support/devnet';
import { devnetClientStaging } from './support/staging';
import { eventually } from './support/eventually';

/**
 * A host that keeps no replica and seals one again when challenged, from chunks it holds in plain (as a colluder
 * would hand them back, at no cost in time): sealing's rounds make it miss every proof deadline, and two misses in a
 * row cost it its bond. The honest holder beside it makes every deadline on the same machine.
 */
describe('storage proofs a host cannot answer by sealing again', () => {
  let dir: string;
  let devnet: Devnet;
  let db: Database;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-proofs-'));
    devnet = await startDevnet({
      dir, hosts: 2, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line),
      hostEnvs: { 'host-1': { ZANSOC_TEST_CHEAT: 'reseal-on-challenge', NODE_ENV: 'test' } },
    });
    db = openDatabase(devnet.databaseUrl);
  }, 300_000);

  afterAll(async () => {
    await tearDownDevnet({ db, devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('slashes the host that reseals on challenge, and pays the one that kept its replica', async () => {
    const auth = devnetClientStaging(devnet.deployment.chainId);
    const key = newDataKey();
    const encrypted = [encryptChunk(key, randomBytes(1024 * 1024 - 28)), encryptChunk(key, randomBytes(200 * 1024))];
    for (const chunk of encrypted) await uploadBlob(devnet.apiUrl, chunk, { auth });
    const chunks = encrypted.map((c) => ({ cid: cidOf(c), bytes: c.length }));
    const spec: StorageDealSpecInput = {
      sizeBytes: encrypted.reduce((n, c) => n + c.length, 0), chunks, replicas: 2, durationSeconds: 60, proofPeriodSeconds: 10,
      pricePerGibMonth: (10n ** 22n).toString(),
    };
    const cheatAddress = (await db.host.findUniqueOrThrow({ where: { id: 'host-1' } })).address;
    const stakeBefore = (await chainReader(devnet).stakeOf(cheatAddress)).staked;
    const { deal } = await devnet.api.storage.create.mutate({ spec });

    const deadline = Date.now() + 150_000;
    let status = await devnet.api.storage.status.query({ dealId: deal.id });
    while (!status.holders.some((h) => h.hostId === 'host-1' && h.state === 'REMOVED')) {
      if (Date.now() > deadline) throw new Error(`host-1 was not removed: ${JSON.stringify(status.holders)}`);
      await new Promise((r) => setTimeout(r, 500));
      status = await devnet.api.storage.status.query({ dealId: deal.id });
    }
    const cheat = status.holders.find((h) => h.hostId === 'host-1')!;
    const honest = status.holders.find((h) => h.hostId === 'host-2')!;
    // It committed the right roots at placement (it did seal then), and kept nothing afterwards.
    expect(cheat).toMatchObject({ state: 'REMOVED', proofsOk: 0, proofsFailed: 2, slashed: cheat.bond });
    expect(cheat.bond).not.toBe('0');
    expect(existsSync(join(dir, 'host-1', 'cheat-chunks'))).toBe(true);
    expect(readdirSync(join(dir, 'host-1', 'cheat-chunks')).length).toBeGreaterThan(0);
    // A late answer may still be sealing when the deadline has passed; once it ends the host keeps nothing again.
    await eventually(30_000, async () => ((await new ChunkStore(join(dir, 'host-1', 'chunks')).cids(deal.id)).length === 0 ? true : undefined));
    // Its answers came too late: the proof's deadline, not a wrong answer, failed it.
    const misses = status.timeline.filter((t) => t.step.includes('host-1 did not prove'));
    expect(misses.length).toBe(2);
    for (const miss of misses) expect(miss.step).toMatch(/timeout|timed out/i);
    expect(stakeBefore - (await chainReader(devnet).stakeOf(cheatAddress)).staked).toBe(BigInt(cheat.bond));
    // The honest holder answered every challenge within PROOF_DEADLINE_MS on the same, busy, machine.
    expect(honest).toMatchObject({ state: 'ACTIVE', proofsFailed: 0 });
    expect(honest.proofsOk).toBeGreaterThanOrEqual(2);
    expect(PROOF_DEADLINE_MS).toBeLessThan(1000);

    await devnet.api.storage.cancel.mutate({ dealId: deal.id, reason: 'done' });
    const deadlineEnd = Date.now() + 60_000;
    while (!['CANCELLED', 'ENDED'].includes((await devnet.api.storage.get.query({ dealId: deal.id })).state)) {
      if (Date.now() > deadlineEnd) throw new Error('the deal did not end after its cancel');
      await new Promise((r) => setTimeout(r, 500));
    }
    await keepHistory(devnet, `deal-${deal.id}`, 'storage-deal-proof-timed-out');
  }, 240_000);
});
