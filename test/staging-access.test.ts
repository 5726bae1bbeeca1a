import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Wallet } from 'ethers';
import { createApiClient } from '../api/client';
import { createDbActivities } from '../activities/db';
import { didOf } from '../api/signing';
import { hostTaskQueue, ORCHESTRATOR_TASK_QUEUE, type SlotExecution } from '../domain/execution';
import { createHostRuntime, sealResults } from '../host-worker/activities/compute';
import { connectDocker } from '../runtime/docker';
import { isSealed, openSealed } from '../runtime/sealed-box';
import { blobHeaders, downloadBlob, putInput, uploadBlob, type StagingAuth } from '../runtime/staging-client';
import { buildJobImages, JOB_IMAGE } from '../scripts/build-images';
import { jobStatusQuery } from '../workflows';
import { callerAs, CHAIN_ID, startApiServer, type ApiServer } from './support/api-server';
import { eventually } from './support/eventually';
import { submitJobAs } from './support/orders';
import { jobImageAllowList, removeContainersOfJob } from './support/slots';
import { workflowBundle } from './support/workflow-bundle';
import { fakeConsent, fakeOrchestrator, host as candidate } from './workflows/fakes';

/**
 * The staging store's access rules, on the real API (HTTP, its database, Temporal, a chain): signed reads and writes,
 * reads only by a party of the blob's job, a quota per identity, streamed uploads, sealed results, and deletion when
 * the job no longer needs its blobs. The job runs its real workflow, and its slot runs on a real host runtime (Docker).
 */
const MIB = 1024 * 1024;
const QUOTA = 250 * MIB;
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const as = (signer: Wallet): StagingAuth => ({ signer, chainId: CHAIN_ID });

describe('the staging store', () => {
  let server: ApiServer;
  let connection: NativeConnection;
  let workers: Worker[] = [];
  let running: Promise<unknown>;
  let workDir: string;
  const client = new Wallet(Wallet.createRandom().privateKey);
  const stranger = new Wallet(Wallet.createRandom().privateKey);
  const hostA = new Wallet(Wallet.createRandom().privateKey);
  const hostB = new Wallet(Wallet.createRandom().privateKey);
  const input = Buffer.from(`private input ${randomUUID()}\n`);
  const jobIds: string[] = [];

  const get = async (sha: string, who?: Wallet) =>
    fetch(`${server.url}/blobs/${sha}`, { headers: await blobHeaders(who ? as(who) : undefined, 'blobs.get', { sha256: sha }) });

  beforeAll(async () => {
    const docker = connectDocker();
    await buildJobImages(docker);
    server = await startApiServer({ rateLimitPerMinute: 1_000_000, maxBlobBytes: 256 * MIB, staging: { quotaBytes: QUOTA, retentionHours: 1 } });
    await server.fund(client.address, '100');
    await server.fund(stranger.address, '100');
    const allowedImages = await jobImageAllowList(docker);
    for (const [id, wallet] of [['host-a', hostA], ['host-b', hostB]] as const) {
      await server.db.host.create({
        data: {
          id, address: wallet.address, did: didOf(CHAIN_ID, wallet.address), arch: 'x86_64', cpus: 2, memoryMiB: 1024, diskMiB: 1024, gpus: 0,
          maxSlots: 2, pricePerCpuSecond: '1000', lastSeenAt: new Date(), images: JSON.stringify(allowedImages), stake: '1',
        },
      });
    }
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zansoc-staging-host-'));
    const { activities: hostActivities } = createHostRuntime({
      docker, hostId: 'host-a', workDir, allowedImages, offer: { cpus: 2, memoryMiB: 1024, diskMiB: 1024, gpus: 0, maxSlots: 2 }, staging: as(hostA),
    });
    const db = createDbActivities({ db: server.db });
    connection = await NativeConnection.connect({ address: server.temporalAddress });
    workers = [
      await Worker.create({
        connection, taskQueue: ORCHESTRATOR_TASK_QUEUE, ...workflowBundle(),
        // The read model is the real one (its final-state hooks end the job's blobs); chain and matching are stand-ins.
        activities: fakeOrchestrator({
          recordJob: db.recordJob, listOnlineHosts: async () => [{ ...candidate('host-a'), address: hostA.address }],
          findHost: async ({ hostId }) => ({ id: hostId, address: hostA.address }),
        }),
      }),
      await Worker.create({
        connection, taskQueue: hostTaskQueue('host-a'),
        // The test's API listens on a free port, not on its publicUrl.
        // Results are sealed with host-a's key, as its worker seals them.
        activities: { ...fakeConsent, ...sealResults((exec: SlotExecution) => hostActivities.executeSlot({ ...exec, stagingUrl: server.url }),
          { signer: hostA, chainId: CHAIN_ID, dir: path.join(workDir, 'sealed') }) },
      }),
    ];
    running = Promise.all(workers.map((w) => w.run()));
  }, 180_000);

  afterAll(async () => {
    const docker = connectDocker();
    for (const jobId of jobIds) await removeContainersOfJob(docker, jobId).catch(() => undefined);
    workers.forEach((w) => w.shutdown());
    await running;
    await connection?.close();
    await server?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('refuses anonymous reads and writes with 401, and stores nothing', async () => {
    const blob = Buffer.from('anonymous');
    const put = await fetch(`${server.url}/blobs/${sha256(blob)}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob });
    expect(put.status).toBe(401);
    expect(await put.text()).toMatch(/this call must be signed/);
    expect(await server.deps.staging.has(sha256(blob))).toBe(false);
    expect(await server.db.blob.count({ where: { sha256: sha256(blob) } })).toBe(0);
    expect((await get(sha256(input))).status).toBe(401);
  });

  it('refuses a write whose signature is for another size or binding, or a replayed one', async () => {
    const blob = Buffer.from('signed for something else');
    const url = `${server.url}/blobs/${sha256(blob)}`;
    const headers = await blobHeaders(as(client), 'blobs.put', putInput(sha256(blob), blob.length + 1));
    const wrongSize = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...headers }, body: blob });
    expect(wrongSize.status).toBe(401);
    const good = await blobHeaders(as(client), 'blobs.put', putInput(sha256(blob), blob.length));
    expect((await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...good }, body: blob })).status).toBe(201);
    const replayed = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...good }, body: blob });
    expect(replayed.status).toBe(401);
    expect(await replayed.text()).toMatch(/replayed request/);
  });

  it('shows a blob to its uploader only: another client, and hosts of no job of it, get 404', async () => {
    await uploadBlob(server.url, input, { auth: as(client) });
    expect((await get(sha256(input), client)).status).toBe(200);
    for (const other of [stranger, hostA, hostB]) {
      const answer = await get(sha256(input), other);
      expect(answer.status).toBe(404);
      expect(await answer.text()).toMatch(/no blob [0-9a-f]{64} of yours/);
    }
  });

  it('refuses a job naming another client\'s upload, creating nothing', async () => {
    const before = await server.db.job.count();
    await expect(submitJobAs(callerAs(server.deps, stranger), stranger, {
      image: JOB_IMAGE, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 }, inputs: { 'in.txt': sha256(input) },
    })).rejects.toThrow(`spec.inputs.in.txt: no blob ${sha256(input)} of yours in the staging store`);
    expect(await server.db.job.count()).toBe(before);
  });

  it('lets the assigned host read the job\'s input while it runs, seals the result to the client, and deletes the blobs after', async () => {
    const { job } = await submitJobAs(callerAs(server.deps, client), client, {
      image: JOB_IMAGE, command: ['sh', '-c', 'cp /in/in.txt /out/copy; echo logged; sleep 8'], resources: { cpu: 0.5, memoryMiB: 64 },
      inputs: { 'in.txt': sha256(input) }, timeoutSeconds: 60,
    });
    jobIds.push(job.id);
    const handle = server.temporal.workflow.getHandle(`job-${job.id}`);
    await eventually(60_000, async () => {
      const status = await handle.query(jobStatusQuery);
      return status.replicas[0]?.hostId === 'host-a' && status.replicas[0].state === 'RUNNING' ? true : undefined;
    });
    // While host-a runs the slot: it reads the input, the other host does not, and it cannot write as the job's host.
    expect((await get(sha256(input), hostA)).status).toBe(200);
    expect((await get(sha256(input), hostB)).status).toBe(404);
    const forged = Buffer.from('not my job');
    await expect(uploadBlob(server.url, forged, { auth: as(hostB), bind: { jobId: job.id, kind: 'output', plaintextSha256: sha256(forged) } }))
      .rejects.toThrow(/HTTP 404 .*jobId: no job .* that you run/);

    const done = await eventually(90_000, async () => {
      const row = await server.db.job.findUniqueOrThrow({ where: { id: job.id } });
      return row.state === 'SUCCEEDED' || row.state === 'FAILED' ? row : undefined;
    });
    expect({ state: done.state, reason: done.stateReason }).toEqual({ state: 'SUCCEEDED', reason: null });
    // The output in staging is ciphertext (no tar header), which the client's key opens to the digest the job shows.
    expect(done.sealedOutputSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(done.sealedOutputSha256).not.toBe(done.outputSha256);
    const staged = await downloadBlob(server.url, done.sealedOutputSha256!, { auth: as(client) });
    expect(isSealed(staged)).toBe(true);
    expect(staged.subarray(257, 262).toString()).not.toBe('ustar');
    const archive = openSealed(client.privateKey, staged);
    expect(archive.subarray(257, 262).toString()).toBe('ustar');
    expect(sha256(archive)).toBe(done.outputSha256);
    expect(archive.includes(input)).toBe(true);
    expect(() => openSealed(hostA.privateKey, staged)).toThrow(/cannot open it with this key/);
    // The API cannot read the logs: the client's side of createApiClient opens them.
    const api = createApiClient(server.url, { signer: client, chainId: CHAIN_ID });
    expect((await api.jobs.logs.query({ jobId: job.id })).logs).toBe('logged\n');
    const raw = createApiClient(server.url, { signer: client, chainId: CHAIN_ID, decryptionKey: stranger.privateKey });
    await expect(raw.jobs.logs.query({ jobId: job.id })).rejects.toThrow(/cannot open it with this key/);
    // The host that ran it reads nothing more of the job; the stranger never sees the result.
    expect((await get(sha256(input), hostA)).status).toBe(404);
    expect((await get(done.sealedOutputSha256!, stranger)).status).toBe(404);

    // The job ended: its input goes at the next sweep, its result stays for the retention period, then goes too.
    const usage = () => server.deps.staging.usageOf(server.db, hostA.address);
    expect(await usage()).toBeGreaterThan(0n);
    const swept = await server.deps.staging.sweep(server.db);
    expect(swept).toContain(sha256(input));
    expect(await server.deps.staging.has(sha256(input))).toBe(false);
    expect((await get(done.sealedOutputSha256!, client)).status).toBe(200);
    const afterRetention = await server.deps.staging.sweep(server.db, Date.now() + 61 * 60_000);
    expect(afterRetention).toEqual(expect.arrayContaining([done.sealedOutputSha256, done.sealedLogsSha256]));
    expect((await get(done.sealedOutputSha256!, client)).status).toBe(404);
    expect(await usage()).toBe(0n);
  }, 240_000);

  it('keeps only the winning host\'s sealed result when a job ends: losing replicas\' outputs and the inputs go', async () => {
    const jobId = randomUUID();
    await server.db.job.create({ data: { id: jobId, clientId: didOf(CHAIN_ID, client.address), image: JOB_IMAGE, spec: '{}', state: 'RUNNING', escrowAmount: '1' } });
    const [winnerOut, winnerLogs, loserOut, input2] = ['winner output', 'winner logs', 'loser output', 'input'].map((t) => sha256(`${t} ${jobId}`));
    const plainOut = sha256(`plain output ${jobId}`);
    const plainLogs = sha256(`plain logs ${jobId}`);
    const claim = (sha: string, owner: string, kind: string, plaintextSha256?: string) =>
      server.db.blob.create({ data: { sha256: sha, owner, bytes: 10n, scope: `job:${jobId}`, jobId, kind, plaintextSha256 } });
    await claim(winnerOut, hostA.address, 'output', plainOut);
    await claim(winnerLogs, hostA.address, 'logs', plainLogs);
    await claim(loserOut, hostB.address, 'output', sha256('another output'));
    await claim(input2, client.address, 'input');
    const { recordJob } = createDbActivities({ db: server.db });
    await recordJob({ jobId, state: 'SUCCEEDED', hostId: 'host-a', outputSha256: plainOut, logsSha256: plainLogs, finishedAt: new Date().toISOString() });
    expect(await server.db.job.findUniqueOrThrow({ where: { id: jobId }, select: { sealedOutputSha256: true, sealedLogsSha256: true } }))
      .toEqual({ sealedOutputSha256: winnerOut, sealedLogsSha256: winnerLogs });
    const claims = await server.db.blob.findMany({ where: { jobId }, select: { sha256: true, endedAt: true, retained: true } });
    expect(claims.every((c) => c.endedAt !== null)).toBe(true);
    expect(claims.filter((c) => c.retained).map((c) => c.sha256).sort()).toEqual([winnerOut, winnerLogs].sort());
  });

  it('streams a 200 MiB upload to disk without holding it in memory, and refuses a write past the quota with 413', async () => {
    const uploader = new Wallet(Wallet.createRandom().privateKey);
    const size = 200 * MIB;
    // The body is made as it is sent, one 1 MiB block over and over, so any growth is the server's.
    const block = Buffer.alloc(MIB, 0x5a);
    const hash = createHash('sha256');
    for (let i = 0; i < size / MIB; i++) hash.update(block);
    const sha = hash.digest('hex');
    const stagingDir = (server.deps.staging as unknown as { dir: string }).dir;
    const partialBytes = () => fs.readdirSync(stagingDir).filter((f) => f.endsWith('.partial'))
      .reduce((n, f) => n + fs.statSync(path.join(stagingDir, f)).size, 0);
    let sent = 0;
    let halfwayOnDisk = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === size / 2) {
          // Half sent, the rest held back: a server that streams has written the first half to its partial file already.
          halfwayOnDisk = await eventually(30_000, async () => (partialBytes() >= size / 2 - 4 * MIB ? partialBytes() : undefined));
        }
        if (sent === size) return controller.close();
        controller.enqueue(block);
        sent += MIB;
      },
    }, { highWaterMark: 0 });
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    const headers = await blobHeaders(as(uploader), 'blobs.put', putInput(sha, size));
    const answer = await fetch(`${server.url}/blobs/${sha}`, {
      method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), ...headers }, body, duplex: 'half',
    } as RequestInit);
    clearInterval(sampler);
    expect(halfwayOnDisk).toBeGreaterThanOrEqual(size / 2 - 4 * MIB);
    console.log(`streamed ${size / MIB} MiB: ${halfwayOnDisk / MIB} MiB on disk at half-time; RSS peak +${((peak - before) / MIB).toFixed(1)} MiB`);
    expect(answer.status).toBe(201);
    expect(await server.deps.staging.has(sha)).toBe(true);
    // Buffered, the body alone would add 200 MiB; streamed, the process grows by its buffers (and garbage) only.
    expect((peak - before) / MIB).toBeLessThan(64);

    const more = Buffer.alloc(60 * MIB, 7);
    const refused = await fetch(`${server.url}/blobs/${sha256(more)}`, {
      method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...(await blobHeaders(as(uploader), 'blobs.put', putInput(sha256(more), more.length))) }, body: more,
    }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(Response);
    expect((refused as Response).status).toBe(413);
    expect(await (refused as Response).text())
      .toMatch(/quota: each identity may hold 0\.24 GiB \(262144000 bytes\) in staging \(STAGING_QUOTA_BYTES\); you hold 0\.20 GiB \(209715200 bytes\)/);
    expect(await server.deps.staging.has(sha256(more))).toBe(false);
    expect(await server.db.blob.count({ where: { owner: uploader.address } })).toBe(1);
  }, 120_000);
});
