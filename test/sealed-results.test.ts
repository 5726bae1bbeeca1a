import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { openDatabase, type Database } from '../db/client';
import { splitCommission } from '../domain/money';
import { JOB_IMAGE } from '../scripts/build-images';
import { DEVNET_KEYS, startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { castBalanceOf } from './support/cast';
import { chainReader, printRolesOnFailure, tearDownDevnet } from './support/devnet';

/**
 * Sealed results on the devnet: host-1, the cheaper host, runs with the test fixture that signs its commitments with a
 * key that is not its own (as a host passing off a copied result would). The workflow refuses the forged result,
 * re-matches the slot on honest host-2, and the settlement slashes host-1's bond to the treasury, read from the chain.
 */
const MAX_PRICE = 10n ** 18n;

describe('sealed results on the devnet', () => {
  let dir: string;
  let devnet: Devnet;
  let db: Database;
  const lines: string[] = [];
  const treasury = new Wallet(DEVNET_KEYS.treasury).address;
  const address = new Map<string, string>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-sealed-'));
    devnet = await startDevnet({
      dir, hosts: 2, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line),
      hostEnvs: { 'host-1': { ZANSOC_TEST_CHEAT: 'forge-signature' } },
    });
    db = openDatabase(devnet.databaseUrl);
    for (const h of await db.host.findMany()) address.set(h.id, h.address);
  }, 400_000);

  afterAll(async () => {
    await tearDownDevnet({ db, devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('refuses a result not signed by the host\'s key: the forger is slashed on chain, the slot runs on an honest host', async () => {
    const stakeOf = (id: string) => chainReader(devnet).stakeOf(address.get(id)!);
    const zscOf = (holder: string) => castBalanceOf(devnet.rpcUrl, devnet.deployment.token, holder);
    const before = { forger: await stakeOf('host-1'), honest: await zscOf(address.get('host-2')!), treasury: await zscOf(treasury) };

    const { job } = await devnet.api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', 'echo sealed > /out/s.txt'], resources: { cpu: 0.5, memoryMiB: 64 }, timeoutSeconds: 60, maxPrice: MAX_PRICE.toString() },
    });
    const done = await waitForJob(devnet.api, job.id);
    const status = await devnet.api.jobs.status.query({ jobId: job.id });

    expect(done).toMatchObject({ state: 'SUCCEEDED', hostId: 'host-2' });
    expect(status.replicas).toEqual([expect.objectContaining({ hostId: 'host-2', state: 'DONE', forgedBy: ['host-1'], slashed: '0' })]);
    expect(status.timeline.map((t) => t.step).join('\n')).toMatch(/host-1 forged a result: the commitment is signed by 0x[0-9a-f]{40}, not by the host's key/);
    // Paid for the time the workflow measured, which is what settlement priced.
    const replica = status.replicas[0];
    expect(replica.measuredMs).toBeGreaterThan(0);
    expect(replica.measuredMs).toBeLessThan(60_000);

    const after = { forger: await stakeOf('host-1'), honest: await zscOf(address.get('host-2')!), treasury: await zscOf(treasury) };
    expect(before.forger.staked - after.forger.staked).toBe(MAX_PRICE);
    expect(after.forger.locked).toBe(0n);
    expect(after.honest - before.honest).toBe(BigInt(splitCommission(replica.payout).host));
    expect(after.treasury - before.treasury).toBe(BigInt(done.commission!) + MAX_PRICE);
    const forger = await devnet.api.hosts.get.query({ hostId: 'host-1' });
    expect(forger).toMatchObject({ timesSlashed: 1, slashed: MAX_PRICE.toString(), jobsDone: 0 });
  }, 180_000);
});
