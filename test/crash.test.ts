import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Wallet } from 'ethers';
import { connectHostRegistry, connectJobEscrow } from '../contracts/bindings';
import { createProvider } from '../contracts/provider';
import { openDatabase, type Database } from '../db/client';
import type { JobSpecInput } from '../domain/job-spec';
import { jobEscrowId } from '../domain/orders';
import { JOB_IMAGE } from '../scripts/build-images';
import { DEVNET_KEYS, startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { castBalanceOf } from './support/cast';
import { chainReader, keepHistory, printRolesOnFailure, settlementsOf, tearDownDevnet, untilJobState } from './support/devnet';

/**
 * Crashes on the devnet, with kill -9: the orchestrator worker while a slot runs, the orchestrator right after the
 * settlement transaction is mined (a test fixture crashes it there, before Temporal hears of it), and a host worker
 * mid-run. Each job must complete, and money must move exactly once.
 */

describe('crashes', () => {
  let dir: string;
  let devnet: Devnet;
  let db: Database;
  const lines: string[] = [];
  const client = new Wallet(DEVNET_KEYS.client).address;
  const balanceOf = (address: string) => chainReader(devnet).balanceOf(address);
  const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
  const settlements = (jobId: string) => settlementsOf(devnet, client, jobId);
  const job = (command: string[]): JobSpecInput => ({ image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB: 64 }, timeoutSeconds: 120 });
  const untilState = (jobId: string, state: string) => untilJobState(devnet, jobId, state);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-crash-'));
    devnet = await startDevnet({
      dir, hosts: 2, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line), orchestratorEnv: { ZANSOC_TEST_CRASH: 'after-settle' },
    });
    db = openDatabase(devnet.databaseUrl);
  }, 300_000);

  afterAll(async () => {
    await tearDownDevnet({ db, devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('survives the orchestrator dying right after the settlement is mined: settled once, job completes', async () => {
    const before = await balanceOf(client);
    const orchestrator = devnet.processes.get('orchestrator')!;
    const { job: submitted } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'echo settle-crash > /out/a.txt']) });
    await exited(orchestrator);
    expect(orchestrator.signalCode).toBe('SIGKILL');
    expect(lines.some((l) => l.includes(`CRASHES after settling job ${submitted.id}`))).toBe(true);
    expect(await settlements(submitted.id)).toBe(1);

    await devnet.startRole('orchestrator'); // without the fixture
    const done = await waitForJob(devnet.api, submitted.id);
    expect(done.state).toBe('SUCCEEDED');
    expect(await settlements(submitted.id)).toBe(1);
    const gross = BigInt(done.paidToHosts!) + BigInt(done.commission!);
    expect(gross).toBeGreaterThan(0n);
    expect(before - (await balanceOf(client))).toBe(gross);
    await keepHistory(devnet, `job-${submitted.id}`, 'compute-job-crash-after-settle');
  }, 180_000);

  it('survives the orchestrator being killed while a slot runs', async () => {
    const before = await balanceOf(client);
    const { job: submitted } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'sleep 4; echo done > /out/a.txt']) });
    await untilState(submitted.id, 'RUNNING');
    const orchestrator = devnet.processes.get('orchestrator')!;
    orchestrator.kill('SIGKILL');
    await exited(orchestrator);
    await new Promise((r) => setTimeout(r, 2000));
    await devnet.startRole('orchestrator');

    const done = await waitForJob(devnet.api, submitted.id);
    expect(done.state).toBe('SUCCEEDED');
    expect(await settlements(submitted.id)).toBe(1);
    expect(before - (await balanceOf(client))).toBe(BigInt(done.paidToHosts!) + BigInt(done.commission!));
    // The slot ran once: one container create on the host.
    const status = await devnet.api.jobs.status.query({ jobId: submitted.id });
    expect(status.replicas).toHaveLength(1);
    expect(status.replicas[0].lostBy).toEqual([]);
    await keepHistory(devnet, `job-${submitted.id}`, 'compute-job-crash-mid-slot');
  }, 180_000);

  it('re-matches the slot of a host worker killed mid-run, and slashes part of its bond to the host that took over', async () => {
    const registry = connectHostRegistry(devnet.deployment.hostRegistry, createProvider(devnet.rpcUrl));
    const hosts = new Map((await db.host.findMany()).map((h) => [h.id, h.address]));
    const [, stakeBefore] = await registry.hostOf(hosts.get('host-1')!);
    const host2Before = await balanceOf(hosts.get('host-2')!);

    const { job: submitted } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'sleep 6; echo survived > /out/a.txt']) });
    await untilState(submitted.id, 'RUNNING');
    expect((await devnet.api.jobs.get.query({ jobId: submitted.id })).hostId).toBe('host-1');
    const host1 = devnet.processes.get('host-1')!;
    host1.kill('SIGKILL');
    await exited(host1);

    const done = await waitForJob(devnet.api, submitted.id, undefined, 150_000);
    expect(done).toMatchObject({ state: 'SUCCEEDED', hostId: 'host-2' });
    const status = await devnet.api.jobs.status.query({ jobId: submitted.id });
    expect(status.replicas[0].lostBy).toEqual(['host-1']);
    expect(await settlements(submitted.id)).toBe(1);
    // A quarter of host-1's bond (the job's max price) is slashed: half to host-2, half to the treasury.
    const bond = BigInt(done.spec.maxPrice);
    const [, stakeAfter] = await registry.hostOf(hosts.get('host-1')!);
    expect(stakeBefore - stakeAfter).toBe(bond / 4n);
    expect((await balanceOf(hosts.get('host-2')!)) - host2Before).toBe(BigInt(done.paidToHosts!) + bond / 8n);
    await keepHistory(devnet, `job-${submitted.id}`, 'compute-job-host-killed');

    // The host comes back; nothing of the lost slot runs on it any more (a stopped container waits, as every
    // uncollected one does, for the reconciler's max age before it is removed).
    await devnet.startRole('host-1');
    const docker = (await import('../runtime/docker')).connectDocker();
    const left = await docker.listContainers({ all: true, filters: { label: [`zansoc.job=${submitted.id}`] } });
    expect(left.filter((c) => c.State === 'running')).toEqual([]);
  }, 200_000);

  // Last in this file: it moves the chain's clock days ahead.
  it('gives the client back all of an unsettled escrow by itself, with the orchestrator down, after deadline and grace', async () => {
    const before = await castBalanceOf(devnet.rpcUrl, devnet.deployment.token, client);
    // No host has 64 cpus: the job waits in the queue with its escrow open.
    const { job: queued } = await devnet.api.jobs.submit.mutate({ spec: { ...job(['true']), resources: { cpu: 64, memoryMiB: 64 } } });
    const provider = createProvider(devnet.rpcUrl);
    const escrow = connectJobEscrow(devnet.deployment.jobEscrow, provider);
    const escrowId = jobEscrowId(client, queued.id);
    for (let i = 0; (await escrow.jobOf(escrowId))[4] !== 1n; i++) {
      if (i > 300) throw new Error('the escrow never opened');
      await new Promise((r) => setTimeout(r, 100));
    }
    const [, locked, , deadline] = await escrow.jobOf(escrowId);
    expect(before - (await castBalanceOf(devnet.rpcUrl, devnet.deployment.token, client))).toBe(locked);

    await devnet.stopRole('orchestrator');
    const mine = new Wallet(DEVNET_KEYS.client, provider);
    const early = await connectJobEscrow(devnet.deployment.jobEscrow, mine).reclaim.staticCall(escrowId).then(() => null, (err: Error) => err.message);
    expect(early).toMatch(/EscrowReclaimTooEarly|execution reverted/);
    const latest = await provider.getBlock('latest');
    await provider.send('evm_increaseTime', [Number(deadline) - latest!.timestamp + Number(await escrow.reclaimGracePeriod()) + 1]);
    await provider.send('evm_mine', []);
    await (await connectJobEscrow(devnet.deployment.jobEscrow, mine).reclaim(escrowId)).wait();
    expect(await castBalanceOf(devnet.rpcUrl, devnet.deployment.token, client)).toBe(before);
    expect((await escrow.jobOf(escrowId))[4]).toBe(3n);

    // When the orchestrator comes back, the job ends without paying anyone: the client has its money already.
    await devnet.startRole('orchestrator');
    await devnet.api.jobs.cancel.mutate({ jobId: queued.id });
    const done = await waitForJob(devnet.api, queued.id, undefined, 60_000);
    expect(done).toMatchObject({ state: 'CANCELLED', paidToHosts: '0', commission: '0', refunded: locked.toString() });
    expect(await castBalanceOf(devnet.rpcUrl, devnet.deployment.token, client)).toBe(before);
    provider.destroy();
  }, 120_000);
});
