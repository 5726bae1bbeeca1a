import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Wallet } from 'ethers';
import { createApiClient } from '../api/client';
import { didOf } from '../api/signing';
import type { JobSpecInput } from '../domain/job-spec';
import { JOB_IMAGE } from '../scripts/build-images';
import { DEVNET_KEYS, startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { uiSession } from '../scripts/temporal-cluster';
import { castBalanceOf } from './support/cast';
import { eventually } from './support/eventually';
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
    // Host certificates live 36 s here, so the hosts renew them (from half their life) while the test runs.
    devnet = await startDevnet({ dir, hosts: 2, headless: true, spotCheckFraction: 0, cluster: true, orchestrators: 3, hostCertHours: 0.01, log: (line) => lines.push(line) });
    temporal = new Client({ connection: await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls }) });
  }, 300_000);

  afterAll(async () => {
    await tearDownDevnet({ temporal, devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('runs on PostgreSQL, with three orchestrator workers and the Web UI', async () => {
    expect(devnet.databaseUrl).toMatch(/^postgresql:/);
    expect(devnet.orchestratorRoles).toEqual(['orchestrator', 'orchestrator-2', 'orchestrator-3']);
    expect((await fetch(devnet.temporalUiUrl!, { headers: { cookie: await uiSession(devnet.temporalUiUrl!, devnet.temporalUiLogin!) } })).status).toBe(200);
  });

  it('runs every role on mTLS: each host on the certificate the API issued it at join; plaintext is refused', async () => {
    for (const hostId of devnet.hostIds) {
      expect(lines.some((line) => line.includes(`${hostId}`) && line.includes(`temporal: mTLS as zansoc-host:${hostId}`))).toBe(true);
    }
    const plain = Connection.connect({ address: devnet.temporalAddress, connectTimeout: 5_000 }).then(async (c) => {
      try { await c.workflowService.getSystemInfo({}); } finally { await c.close(); }
    });
    await expect(plain).rejects.toThrow();
  });

  it('certifies only a registered, staked host, for its own key and id', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    // A stranger's key registers a host of its own but has staked nothing.
    const stranger = Wallet.createRandom();
    const api = createApiClient(devnet.apiUrl, { signer: stranger, chainId: devnet.deployment.chainId });
    await api.hosts.register.mutate({
      hostId: 'stranger', address: stranger.address, did: didOf(devnet.deployment.chainId, stranger.address), arch: 'x86_64', cpus: 1, memoryMiB: 512,
      diskMiB: 1024, gpus: 0, maxSlots: 1, pricePerCpuSecond: '1000',
    });
    await expect(api.hosts.certificate.mutate({ hostId: 'stranger', publicKey: publicKeyPem })).rejects.toThrow(/no stake on HostRegistry/);
    // Nor may it ask for another host's certificate.
    await expect(api.hosts.certificate.mutate({ hostId: 'host-1', publicKey: publicKeyPem })).rejects.toThrow(/no host host-1/);
    const host1 = await devnet.apiAsHost('host-1');
    await expect(host1.hosts.certificate.mutate({ hostId: 'host-1', publicKey: 'not a key' })).rejects.toThrow(/publicKey: not a PEM public key/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    await expect(host1.hosts.certificate.mutate({ hostId: 'host-1', publicKey: rsa })).rejects.toThrow(/publicKey: must be an ECDSA P-256 key/);
  });

  it('confines a host holding the certificate it was issued: no orchestrator queue, no job\'s history, query or termination', async () => {
    const { job: submitted } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'echo mine > /out/a.txt']) });
    const done = await waitForJob(devnet.api, submitted.id, undefined, 120_000);
    expect(done.state).toBe('SUCCEEDED');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issued = await (await devnet.apiAsHost('host-1')).hosts.certificate.mutate({ hostId: 'host-1', publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string });
    expect(issued.tls).toBe(true);
    expect(new X509Certificate(issued.certificate!).subject).toMatch(/CN=zansoc-host:host-1/);
    const connection = await Connection.connect({ address: devnet.temporalAddress, tls: {
      serverRootCACertificate: Buffer.from(issued.serverCa!), serverNameOverride: issued.serverName!,
      clientCertPair: { crt: Buffer.from(issued.certificate!), key: Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string) },
    } });
    try {
      const host = new Client({ connection });
      const handle = host.workflow.getHandle(`job-${submitted.id}`);
      const denied = async (call: Promise<unknown>) => expect(await call.then(() => 'allowed', (err: Error) => `${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`)).toMatch(/unauthorized|PermissionDenied|permission/i);
      await denied(handle.describe());
      await denied(handle.fetchHistory());
      await denied(handle.query('jobStatus'));
      await denied(handle.terminate('a host ends a job'));
      await denied(connection.withDeadline(Date.now() + 10_000, () =>
        connection.workflowService.pollActivityTaskQueue({ namespace: 'default', taskQueue: { name: 'zansoc-orchestrator' }, identity: 'host-1' })));
      await denied(connection.withDeadline(Date.now() + 10_000, () =>
        connection.workflowService.pollActivityTaskQueue({ namespace: 'default', taskQueue: { name: 'host.host-2' }, identity: 'host-1' })));
    } finally {
      await connection.close();
    }
  }, 180_000);

  it('renews host certificates while the hosts heartbeat, and the hosts keep working on the new ones', async () => {
    await eventually(90_000, async () => (devnet.hostIds.every((id) => lines.some((line) => line.includes(`host ${id} polls on its renewed certificate`))) ? true : undefined));
    const { job: submitted } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'echo renewed > /out/a.txt']) });
    expect((await waitForJob(devnet.api, submitted.id, undefined, 120_000)).state).toBe('SUCCEEDED');
  }, 180_000);

  it('renews the certificate of a host that is busy: its running slot finishes on the old connection, new work comes on the new one', async () => {
    // Renewals come every 18 s here, so a 25 s slot always spans one.
    const seen = lines.length;
    const { job: long } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'sleep 25; echo outlived > /out/a.txt']) });
    const done = await waitForJob(devnet.api, long.id, undefined, 150_000);
    expect(done.state).toBe('SUCCEEDED');
    const since = lines.slice(seen);
    const host = done.hostId!;
    expect(since.some((line) => line.includes(`host ${host} polls on its renewed certificate (1 running slot(s) finish on the old connection)`))).toBe(true);
    await eventually(30_000, async () => (lines.slice(seen).some((line) => line.includes(`host ${host} closed its connection on the old certificate`)) ? true : undefined));
    const { job: after } = await devnet.api.jobs.submit.mutate({ spec: job(['sh', '-c', 'echo next > /out/a.txt']) });
    expect((await waitForJob(devnet.api, after.id, undefined, 120_000)).state).toBe('SUCCEEDED');
  }, 240_000);

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
