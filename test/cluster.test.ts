import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Wallet } from 'ethers';
import type { JobSpecInput } from '../domain/job-spec';
import { JOB_IMAGE } from '../scripts/build-images';
import { DEVNET_KEYS, startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { castBalanceOf } from './support/cast';
import { printRolesOnFailure, settlementsOf, tearDownDevnet, untilJobState } from './support/devnet';

/**
 * The devnet on Temporal as production runs it: Zansoc's Temporal server as a cluster on PostgreSQL (each service its
 * own process), the read model on PostgreSQL, three orchestrator workers. Faults while one job runs and another is
 * PROVISIONAL: an orchestrator worker killed with -9, then the history service, then the frontend restarted. Every
 * job must end as it should, settled exactly once on chain, and a burst of jobs is shared by the workers.
 */
describe('the devnet on a Temporal cluster', () => {
  let dir: string;
  let devnet: Devnet;
  let temporal: Client;
  const lines: string[] = [];
  const client = new Wallet(DEVNET_KEYS.client).address;
  const job = (command: string[], extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
    image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB: 64 }, timeoutSeconds: 120, ...extra,
  });
  const settlements = (jobId: string) => settlementsOf(devnet, client, jobId);
  const untilState = (jobId: string, state: string) => untilJobState(devnet, jobId, state, 60_000);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-cluster-'));
    devnet = await startDevnet({ dir, hosts: 2, headless: true, spotCheckFraction: 0, cluster: true, orchestrators: 3, log: (line) => lines.push(line) });
    temporal = new Client({ connection: await Connection.connect({ address: devnet.temporalAddress }) });
  }, 300_000);

  afterAll(async () => {
    await tearDownDevnet({ temporal, devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('runs on PostgreSQL, with three orchestrator workers and the Web UI', async () => {
    expect(devnet.databaseUrl).toMatch(/^postgresql:/);
    expect(devnet.orchestratorRoles).toEqual(['orchestrator', 'orchestrator-2', 'orchestrator-3']);
    expect((await fetch(devnet.temporalUiUrl!)).status).toBe(200);
  });

  it('ends every job correctly, settled once, through a killed worker and restarted history and frontend services', async () => {
    const before = await castBalanceOf(devnet.rpcUrl, devnet.deployment.token, client);
    const { job: provisional } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'echo held > /out/a.txt'], { challengeWindowSeconds: 25 }) });
    await untilState(provisional.id, 'PROVISIONAL');
    const { job: running } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'sleep 10; echo survived > /out/a.txt']) });
    await untilState(running.id, 'RUNNING');

    const victim = devnet.processes.get('orchestrator')!;
    victim.kill('SIGKILL');
    await devnet.temporalCluster!.restartService('history', { signal: 'SIGKILL' });
    await devnet.temporalCluster!.restartService('frontend');

    const [held, survived] = await Promise.all([waitForJob(devnet.api, provisional.id, undefined, 180_000), waitForJob(devnet.api, running.id, undefined, 180_000)]);
    expect(held.state).toBe('SUCCEEDED');
    expect(survived.state).toBe('SUCCEEDED');
    expect(await settlements(provisional.id)).toBe(1);
    expect(await settlements(running.id)).toBe(1);
    // Read by cast: the client paid exactly what the two settlements say, nothing twice.
    const spent = [held, survived].reduce((sum, j) => sum + BigInt(j.paidToHosts!) + BigInt(j.commission!), 0n);
    expect(before - (await castBalanceOf(devnet.rpcUrl, devnet.deployment.token, client))).toBe(spent);
  }, 300_000);

  it('shares a burst of jobs across the orchestrator workers', async () => {
    await devnet.startRole('orchestrator').catch(() => undefined);
    const submitted = await Promise.all(Array.from({ length: 6 }, (_, i) => devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', `echo ${i} > /out/a.txt`]) })));
    const done = await Promise.all(submitted.map(({ job: j }) => waitForJob(devnet.api, j.id, undefined, 180_000)));
    expect(done.map((j) => j.state)).toEqual(Array(6).fill('SUCCEEDED'));
    const identities = new Set<string>();
    for (const { job: j } of submitted) {
      const history = await temporal.workflow.getHandle(`job-${j.id}`).fetchHistory();
      for (const event of history.events ?? []) {
        const identity = event.workflowTaskCompletedEventAttributes?.identity;
        if (identity) identities.add(identity);
      }
    }
    // Each worker's identity is <pid>@<host>: more than one of them completed workflow tasks of this burst.
    expect(identities.size).toBeGreaterThan(1);
  }, 300_000);
});
