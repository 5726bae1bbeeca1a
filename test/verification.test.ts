import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Wallet } from 'ethers';
import { openDatabase, type Database } from '../db/client';
import { escrowFor, type JobSpecInput } from '../domain/job-spec';
import { splitCommission } from '../domain/money';
import { uploadBlob } from '../runtime/staging-client';
import { devnetClientStaging } from './support/staging';
import { JOB_IMAGE } from '../scripts/build-images';
import type { ApiClient } from '../api/client';
import { DEVNET_KEYS, startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { jobStatusQuery, type JobStatus } from '../workflows/compute-job';
import { chainReader, keepHistory, printRolesOnFailure, tearDownDevnet } from './support/devnet';

/**
 * Redundant verification on the devnet with real cheaters: host-1 and host-2 run with the test fixture that forges
 * their result digests. Which hosts a job lands on is steered by memory: host-1 shares 128 MiB, host-2 256 MiB, the
 * honest host-3 … host-5 all they have; hosts are ranked cheapest first (host-1 is the cheapest).
 */
const MAX_PRICE = 10n ** 18n;

describe('redundant verification with cheating hosts', () => {
  let dir: string;
  let devnet: Devnet;
  let db: Database;
  let temporal: Client;
  const lines: string[] = [];
  const treasury = new Wallet(DEVNET_KEYS.treasury).address;
  const client = new Wallet(DEVNET_KEYS.client).address;
  const address = new Map<string, string>();

  const balanceOf = (address: string) => chainReader(devnet).balanceOf(address);
  const stakeOf = (hostId: string) => chainReader(devnet).stakeOf(address.get(hostId)!);
  /** Every balance a job can move, read from the chain. */
  const snapshot = async () => {
    const hosts = new Map<string, { balance: bigint; staked: bigint }>();
    for (const id of devnet.hostIds) hosts.set(id, { balance: await balanceOf(address.get(id)!), staked: (await stakeOf(id)).staked });
    return { treasury: await balanceOf(treasury), client: await balanceOf(client), hosts };
  };
  const runJob = async (memoryMiB: number) => {
    const spec: JobSpecInput = {
      image: JOB_IMAGE,
      command: ['sh', '-c', 'echo verified > /out/v.txt; echo ok'],
      resources: { cpu: 0.5, memoryMiB },
      timeoutSeconds: 60,
      replicas: 3,
      maxPrice: MAX_PRICE.toString(),
    };
    const { job } = await devnet.api.jobs.submit.mutate({ spec });
    const done = await waitForJob(devnet.api, job.id);
    const status = await temporal.workflow.getHandle(`job-${job.id}`).query(jobStatusQuery);
    return { done, status };
  };
  const hostsOf = (status: JobStatus, pick: (r: JobStatus['replicas'][number]) => boolean) =>
    status.replicas.filter(pick).map((r) => r.hostId).sort();

  /** Each host's own API client (its key signs), opened once: opening a keystore takes a while. */
  const hostClients = new Map<string, ApiClient>();
  const asHost = async (hostId: string) => {
    if (!hostClients.has(hostId)) hostClients.set(hostId, await devnet.apiAsHost(hostId));
    return hostClients.get(hostId)!;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-verify-'));
    devnet = await startDevnet({
      dir, hosts: 5, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line),
      // Which hosts each job lands on is steered by price and memory; reputation would move cheaters back (its own test).
      orchestratorEnv: { REPUTATION_WEIGHT: '0' },
      hostEnvs: {
        'host-1': { ZANSOC_TEST_CHEAT: 'corrupt-digest', SHARE_MEMORY_MIB: '128' },
        'host-2': { ZANSOC_TEST_CHEAT: 'corrupt-digest', SHARE_MEMORY_MIB: '256' },
      },
    });
    db = openDatabase(devnet.databaseUrl);
    for (const h of await db.host.findMany()) address.set(h.id, h.address);
    temporal = new Client({ connection: await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls }) });
    for (const id of ['host-1', 'host-2', 'host-5']) await asHost(id);
  }, 400_000);

  afterAll(async () => {
    await tearDownDevnet({ temporal, db, devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('pays three honest replicas exactly: 90% to each host for its work, 10% to the treasury, the rest refunded', async () => {
    const before = await snapshot();
    const { done, status } = await runJob(512);

    expect(done.state).toBe('SUCCEEDED');
    expect(hostsOf(status, (r) => r.state === 'DONE')).toEqual(['host-3', 'host-4', 'host-5']);
    expect(new Set(status.replicas.map((r) => r.resultDigest)).size).toBe(1);
    const after = await snapshot();
    let gross = 0n;
    for (const replica of status.replicas) {
      const id = replica.hostId!;
      expect(BigInt(replica.payout)).toBeGreaterThan(0n);
      gross += BigInt(replica.payout);
      expect(after.hosts.get(id)!.balance - before.hosts.get(id)!.balance).toBe(BigInt(splitCommission(replica.payout).host));
      expect(after.hosts.get(id)!.staked).toBe(before.hosts.get(id)!.staked);
    }
    expect(after.client - before.client).toBe(-gross);
    expect(BigInt(done.paidToHosts!) + BigInt(done.commission!)).toBe(gross);
    expect(after.treasury - before.treasury).toBe(BigInt(done.commission!));
    expect(BigInt(done.refunded!)).toBe(BigInt(escrowFor({ maxPrice: MAX_PRICE.toString(), replicas: 3 })) - gross);
    for (const id of devnet.hostIds) expect((await stakeOf(id)).locked).toBe(0n);
  });

  it('catches one cheater among three: its bond goes to the treasury, the honest two are paid', async () => {
    const before = await snapshot();
    const { done, status } = await runJob(256);

    expect(done.state).toBe('SUCCEEDED');
    expect(hostsOf(status, () => true)).toEqual(['host-2', 'host-3', 'host-4']);
    const cheat = status.replicas.find((r) => r.hostId === 'host-2')!;
    expect(cheat).toMatchObject({ payout: '0', slashed: MAX_PRICE.toString() });
    expect(done.resultDigest).not.toBe(cheat.resultDigest);
    const after = await snapshot();
    expect(before.hosts.get('host-2')!.staked - after.hosts.get('host-2')!.staked).toBe(MAX_PRICE);
    expect(after.hosts.get('host-2')!.balance).toBe(before.hosts.get('host-2')!.balance);
    for (const id of ['host-3', 'host-4']) {
      const replica = status.replicas.find((r) => r.hostId === id)!;
      expect(replica.resultDigest).toBe(done.resultDigest);
      expect(after.hosts.get(id)!.balance - before.hosts.get(id)!.balance).toBe(BigInt(splitCommission(replica.payout).host));
    }
    expect(after.treasury - before.treasury).toBe(BigInt(done.commission!) + MAX_PRICE);
  });

  it('with two cheaters among three finds no majority, runs extra replicas on fresh hosts, and never pays a wrong digest', async () => {
    const before = await snapshot();
    const { done, status } = await runJob(64);

    expect(done.state).toBe('SUCCEEDED');
    // The three asked for land on the three cheapest (in whichever order their matches finish), the extras after.
    expect(status.replicas.slice(0, 3).map((r) => r.hostId).sort()).toEqual(['host-1', 'host-2', 'host-3']);
    expect(status.replicas.slice(3).map((r) => r.hostId)).toEqual(['host-4', 'host-5']);
    expect(hostsOf(status, (r) => r.payout !== '0')).toEqual(['host-3', 'host-4', 'host-5']);
    expect(hostsOf(status, (r) => r.slashed !== '0')).toEqual(['host-1', 'host-2']);
    const after = await snapshot();
    for (const id of ['host-1', 'host-2']) {
      expect(after.hosts.get(id)!.balance).toBe(before.hosts.get(id)!.balance);
      expect(before.hosts.get(id)!.staked - after.hosts.get(id)!.staked).toBe(MAX_PRICE);
    }
    expect(after.treasury - before.treasury).toBe(BigInt(done.commission!) + 2n * MAX_PRICE);
    const gross = BigInt(done.paidToHosts!) + BigInt(done.commission!);
    expect(before.client - after.client).toBe(gross);
  });

  it('catches cheaters with the client\'s test input: each loses its bond and the slot moves on to an honest host', async () => {
    const command = ['sh', '-c', 'sort /in/list > /out/sorted'];
    const testInput = await uploadBlob(devnet.apiUrl, Buffer.from('b\na\n'), { auth: devnetClientStaging(devnet.deployment.chainId) });
    const realInput = await uploadBlob(devnet.apiUrl, Buffer.from('z\ny\n'), { auth: devnetClientStaging(devnet.deployment.chainId) });
    const spec = (memoryMiB: number): JobSpecInput => ({
      image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB }, timeoutSeconds: 60, maxPrice: MAX_PRICE.toString(), inputs: { list: realInput },
    });
    // The test's right digest, learnt from honest hosts only (neither cheater shares 512 MiB).
    const { job: reference } = await devnet.api.jobs.submit.mutate({ spec: { ...spec(512), inputs: { list: testInput } } });
    const expectedDigest = (await waitForJob(devnet.api, reference.id)).resultDigest!;

    const before = await snapshot();
    // 64 MiB fits every host: the two cheapest, both cheaters, get the slot first.
    const { job } = await devnet.api.jobs.submit.mutate({ spec: { ...spec(64), tests: [{ inputs: { list: testInput }, expectedDigest }] } });
    const done = await waitForJob(devnet.api, job.id);
    const status = await devnet.api.jobs.status.query({ jobId: job.id });

    expect(done.state).toBe('SUCCEEDED');
    expect(status.replicas).toEqual([expect.objectContaining({ hostId: 'host-3', state: 'DONE', failedTestBy: ['host-1', 'host-2'] })]);
    const after = await snapshot();
    for (const id of ['host-1', 'host-2']) {
      expect(before.hosts.get(id)!.staked - after.hosts.get(id)!.staked).toBe(MAX_PRICE);
      expect(after.hosts.get(id)!.balance).toBe(before.hosts.get(id)!.balance);
    }
    expect(after.hosts.get('host-3')!.balance - before.hosts.get('host-3')!.balance).toBe(BigInt(splitCommission(status.replicas[0].payout).host));
    expect(after.treasury - before.treasury).toBe(BigInt(done.commission!) + 2n * MAX_PRICE);
    await keepHistory(devnet, `job-${job.id}`, 'compute-job-test-input-caught');
  });

  describe('challenges (window of 8 s)', () => {
    /** Submits a single-replica job with a challenge window and waits for its PROVISIONAL result. */
    const provisionalJob = async (memoryMiB: number) => {
      const { job } = await devnet.api.jobs.submit.mutate({
        spec: {
          image: JOB_IMAGE, command: ['sh', '-c', 'echo challenged > /out/c.txt'], resources: { cpu: 0.5, memoryMiB },
          timeoutSeconds: 60, maxPrice: MAX_PRICE.toString(), challengeWindowSeconds: 8,
        },
      });
      for (;;) {
        const seen = await devnet.api.jobs.get.query({ jobId: job.id });
        if (seen.state === 'PROVISIONAL') return seen;
        if (['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'].includes(seen.state)) throw new Error(`job ended ${seen.state} before its window`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    it('upholds a challenge against a cheater: arbiters re-run it, the cheater is slashed and unpaid, the challenger rewarded', async () => {
      const before = await snapshot();
      const provisional = await provisionalJob(256); // host-2, a cheater, is the cheapest host with 256 MiB
      expect(provisional.hostId).toBe('host-2');
      const accepted = await (await asHost('host-5')).jobs.challenge.mutate({ jobId: provisional.id, verifierHostId: 'host-5' });
      expect(accepted).toMatchObject({ verifierHostId: 'host-5', stake: MAX_PRICE.toString() });
      expect((await stakeOf('host-5')).locked).toBe(MAX_PRICE);
      await expect((await asHost('host-5')).jobs.challenge.mutate({ jobId: provisional.id, verifierHostId: 'host-5' }))
        .rejects.toThrow('verifier host-5 already challenged this job');
      await expect((await asHost('host-2')).jobs.challenge.mutate({ jobId: provisional.id, verifierHostId: 'host-2' }))
        .rejects.toThrow('host host-2 ran this job and cannot challenge it');
      await expect(devnet.api.jobs.challenge.mutate({ jobId: provisional.id, verifierHostId: 'nobody' }))
        .rejects.toThrow('verifierHostId: no registered host nobody');

      const done = await waitForJob(devnet.api, provisional.id);
      const status = await devnet.api.jobs.status.query({ jobId: provisional.id });
      expect(done.state).toBe('SUCCEEDED');
      expect(status.challenges).toEqual([expect.objectContaining({ verifierHostId: 'host-5', state: 'UPHELD' })]);
      expect(status.replicas.filter((r) => r.role === 'arbiter').map((r) => r.hostId).sort()).toEqual(['host-3', 'host-4']);
      expect(['host-3', 'host-4']).toContain(done.hostId);
      expect(done.resultDigest).not.toBe(provisional.resultDigest);

      const after = await snapshot();
      // The cheater loses its whole bond and earns nothing; the client pays nothing for a wrong result.
      expect(before.hosts.get('host-2')!.staked - after.hosts.get('host-2')!.staked).toBe(MAX_PRICE);
      expect(after.hosts.get('host-2')!.balance).toBe(before.hosts.get('host-2')!.balance);
      expect(after.client).toBe(before.client);
      // Out of that bond: the arbiters their price, the challenger half the rest, the treasury the remainder.
      const arbiters = status.replicas.filter((r) => r.role === 'arbiter');
      let toArbiters = 0n;
      for (const a of arbiters) {
        toArbiters += BigInt(a.payout);
        expect(after.hosts.get(a.hostId!)!.balance - before.hosts.get(a.hostId!)!.balance).toBe(BigInt(a.payout));
      }
      const challengerShare = (MAX_PRICE - toArbiters) / 2n;
      expect(after.hosts.get('host-5')!.balance - before.hosts.get('host-5')!.balance).toBe(challengerShare);
      expect(after.hosts.get('host-5')!.staked).toBe(before.hosts.get('host-5')!.staked);
      expect(after.treasury - before.treasury).toBe(MAX_PRICE - toArbiters - challengerShare);
      for (const id of devnet.hostIds) expect((await stakeOf(id)).locked).toBe(0n);

      // The window is over: no more challenges.
      await expect((await asHost('host-1')).jobs.challenge.mutate({ jobId: provisional.id, verifierHostId: 'host-1' }))
        .rejects.toThrow(/is SUCCEEDED: only a PROVISIONAL result can be challenged/);
    }, 120_000);

    it('rejects a frivolous challenge: the challenger is slashed, the honest host paid and rewarded', async () => {
      const before = await snapshot();
      const provisional = await provisionalJob(512); // host-3, honest
      expect(provisional.hostId).toBe('host-3');
      await (await asHost('host-1')).jobs.challenge.mutate({ jobId: provisional.id, verifierHostId: 'host-1' });

      const done = await waitForJob(devnet.api, provisional.id);
      const status = await devnet.api.jobs.status.query({ jobId: provisional.id });
      expect(done).toMatchObject({ state: 'SUCCEEDED', hostId: 'host-3', resultDigest: provisional.resultDigest });
      expect(status.challenges[0].state).toBe('REJECTED');
      expect(status.replicas.filter((r) => r.role === 'arbiter').map((r) => r.hostId).sort()).toEqual(['host-4', 'host-5']);

      const after = await snapshot();
      expect(before.hosts.get('host-1')!.staked - after.hosts.get('host-1')!.staked).toBe(MAX_PRICE);
      const toArbiters = status.replicas.filter((r) => r.role === 'arbiter').reduce((sum, a) => sum + BigInt(a.payout), 0n);
      const accusedShare = (MAX_PRICE - toArbiters) / 2n;
      const pay = status.replicas.find((r) => r.role === 'replica')!.payout;
      expect(after.hosts.get('host-3')!.balance - before.hosts.get('host-3')!.balance).toBe(BigInt(splitCommission(pay).host) + accusedShare);
      expect(before.client - after.client).toBe(BigInt(pay));
      expect(after.treasury - before.treasury).toBe(BigInt(done.commission!) + MAX_PRICE - toArbiters - accusedShare);
    }, 120_000);
    });

  it('spot-checks single-replica jobs when the API is told to: a cheat caught by the check is judged by arbiters', async () => {
    const api = devnet.processes.get('api')!;
    api.kill('SIGTERM');
    await new Promise((resolve) => api.once('exit', resolve));
    await devnet.startRole('api', { SPOT_CHECK_FRACTION: '1' });
    // Verifiers and arbiters are drawn at random by stake: with the other cheat out of matching (draining in the read
    // model, its process left running so that it does not restake at start), every one drawn is honest.
    await db.host.update({ where: { id: 'host-2' }, data: { status: 'draining' } });
    try {
      const before = await snapshot();
      const { job } = await devnet.api.jobs.submit.mutate({
        spec: { image: JOB_IMAGE, command: ['sh', '-c', 'echo spot > /out/s.txt'], resources: { cpu: 0.5, memoryMiB: 64 }, timeoutSeconds: 60, maxPrice: MAX_PRICE.toString() },
      });
      const done = await waitForJob(devnet.api, job.id);
      const status = await devnet.api.jobs.status.query({ jobId: job.id });

      // host-1 (a cheat, the cheapest) ran it; an honest host checked it and disagreed; the other two arbitrated.
      expect(status.replicas[0]).toMatchObject({ role: 'replica', hostId: 'host-1' });
      const verifier = status.replicas[1];
      expect(verifier.role).toBe('verifier');
      expect(['host-3', 'host-4', 'host-5']).toContain(verifier.hostId);
      const arbiters = status.replicas.slice(2);
      expect(arbiters.map((r) => `${r.role}:${r.hostId}`).sort())
        .toEqual(['host-3', 'host-4', 'host-5'].filter((id) => id !== verifier.hostId).map((id) => `arbiter:${id}`));
      expect(done.state).toBe('SUCCEEDED');
      expect(arbiters.map((r) => r.hostId)).toContain(done.hostId);
      const after = await snapshot();
      expect(before.hosts.get('host-1')!.staked - after.hosts.get('host-1')!.staked).toBe(MAX_PRICE);
      expect(after.client).toBe(before.client); // nobody is paid from escrow for a wrong result
      for (const a of arbiters) {
        expect(after.hosts.get(a.hostId!)!.balance - before.hosts.get(a.hostId!)!.balance).toBe(BigInt(a.payout));
      }
      expect(after.hosts.get(verifier.hostId!)!.staked).toBe(before.hosts.get(verifier.hostId!)!.staked);
      expect(status.timeline.some((t) => t.step === `spot check by ${verifier.hostId} disagrees: arbiters will decide`)).toBe(true);
    } finally {
      await db.host.update({ where: { id: 'host-2' }, data: { status: 'online' } });
    }

    // Back to no spot checks for whatever runs next.
    const spotting = devnet.processes.get('api')!;
    spotting.kill('SIGTERM');
    await new Promise((resolve) => spotting.once('exit', resolve));
    await devnet.startRole('api');
  }, 120_000);

  it('keeps each host\'s reputation and earnings in step with the chain', async () => {
    for (const id of devnet.hostIds) {
      const host = await devnet.api.hosts.get.query({ hostId: id });
      const { staked } = await stakeOf(id);
      expect(BigInt(host.slashed)).toBe(100n * 10n ** 18n - staked);
    }
    const cheat = await devnet.api.hosts.get.query({ hostId: 'host-2' });
    // One vote lost, outvoted once more, caught by a test input, one challenge upheld (it sat out the spot check).
    expect(cheat.timesSlashed).toBe(4);
    expect(cheat.jobsDone).toBe(0);
    const honest = await devnet.api.hosts.get.query({ hostId: 'host-3' });
    expect(honest).toMatchObject({ timesSlashed: 0, slashed: '0' });
    expect(honest.jobsDone).toBeGreaterThanOrEqual(4);
    expect(BigInt(honest.earned)).toBeGreaterThan(0n);
    expect(honest.meanSlotMs).toBeGreaterThan(0);
  });
});
