import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TRPCClientError } from '@trpc/client';
import { Wallet } from 'ethers';
import { extract } from 'tar-stream';
import { signRequest } from '../api/signing';
import { connectHostRegistry, connectJobEscrow } from '../contracts/bindings';
import { createProvider } from '../contracts/provider';
import { openDatabase, type Database } from '../db/client';
import { resultDigestInput } from '../domain/execution';
import type { JobSpecInput } from '../domain/job-spec';
import { jobEscrowId } from '../domain/orders';
import { splitCommission } from '../domain/money';
import { uploadBlob } from '../runtime/staging-client';
import { devnetClientStaging, outputOf } from './support/staging';
import { JOB_IMAGE } from '../scripts/build-images';
import { DEVNET_KEYS, startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { castBalanceOf, castEthBalance } from './support/cast';
import { chainReader, printRolesOnFailure, tearDownDevnet } from './support/devnet';
import { eventually } from './support/eventually';
import { HOST_WAIT } from '../domain/search-attributes';

/** The walking skeleton, end to end on real services: Temporal, anvil, Docker, SQLite, and the roles as processes. */
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function untar(archive: Buffer): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') files[header.name] = Buffer.concat(chunks).toString('utf8');
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(archive);
  await done;
  return files;
}

describe('compute job on the devnet', () => {
  let dir: string;
  let devnet: Devnet;
  let db: Database;
  let temporal: Client;
  const lines: string[] = [];
  const balanceOf = (address: string) => chainReader(devnet).balanceOf(address);
  const submit = (spec: JobSpecInput, idempotencyKey?: string) => devnet.api.jobs.submit.mutate({ spec, idempotencyKey });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-devnet-'));
    devnet = await startDevnet({ dir, hosts: 2, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line) });
    db = openDatabase(devnet.databaseUrl);
    temporal = new Client({ connection: await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls }) });
  }, 300_000);

  afterAll(async () => {
    await tearDownDevnet({ temporal, db, devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines, 80);

  it('runs a job through Temporal on a host worker, with the right digest, logs and payment', async () => {
    const treasury = new Wallet(DEVNET_KEYS.treasury).address;
    const client = new Wallet(DEVNET_KEYS.client).address;
    const [treasuryBefore, clientBefore] = await Promise.all([balanceOf(treasury), balanceOf(client)]);
    const hostsBefore = new Map<string, bigint>();
    for (const h of await db.host.findMany()) hostsBefore.set(h.id, await balanceOf(h.address));

    const { job, created } = await submit({
      image: JOB_IMAGE,
      command: ['sh', '-c', 'echo "line one"; printf 42 > /out/answer.txt; mkdir /out/sub; echo nested > /out/sub/b.txt'],
      resources: { cpu: 0.5, memoryMiB: 64 },
      timeoutSeconds: 60,
    });
    expect(created).toBe(true);
    const done = await waitForJob(devnet.api, job.id);

    expect(done).toMatchObject({ state: 'SUCCEEDED', exitCode: 0, timedOut: false, stateReason: null });
    expect(devnet.hostIds).toContain(done.hostId);
    // host-1 is the cheaper of two idle hosts: the scheduler picks it.
    expect(done.hostId).toBe('host-1');

    // Staged sealed to the client: what staging holds is no tar, and only the client's key opens it to the digest shown.
    const { archive, staged } = await outputOf(devnet.apiUrl, done, new Wallet(DEVNET_KEYS.client));
    expect(done.sealedOutputSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(staged.subarray(0, 4).toString()).toBe('ZSB1');
    expect(sha256(staged)).not.toBe(done.outputSha256);
    expect(sha256(archive)).toBe(done.outputSha256);
    expect(await untar(archive)).toEqual({ 'answer.txt': '42', 'sub/b.txt': 'nested\n' });
    expect(done.resultDigest).toBe(sha256(resultDigestInput(done.outputSha256!, 0)));

    const { logs } = await devnet.api.jobs.logs.query({ jobId: job.id });
    expect(logs).toBe('line one\n');

    // Money, read from the chain: the host got 90% of its pay, the treasury 10%, the client the rest back.
    const host = await db.host.findUniqueOrThrow({ where: { id: done.hostId! } });
    const gross = BigInt(done.paidToHosts!) + BigInt(done.commission!);
    expect(gross).toBeGreaterThan(0n);
    expect(splitCommission(gross.toString())).toEqual({ host: done.paidToHosts, commission: done.commission });
    expect((await balanceOf(host.address)) - hostsBefore.get(host.id)!).toBe(BigInt(done.paidToHosts!));
    expect((await balanceOf(treasury)) - treasuryBefore).toBe(BigInt(done.commission!));
    expect(clientBefore - (await balanceOf(client))).toBe(gross);
    expect(BigInt(done.refunded!)).toBe(BigInt(done.escrowAmount) - gross);

    // The host bonded stake to the job while it ran, and got it back at settlement.
    const registry = connectHostRegistry(devnet.deployment.hostRegistry, createProvider(devnet.rpcUrl));
    const escrow = connectJobEscrow(devnet.deployment.jobEscrow, createProvider(devnet.rpcUrl));
    const bonds = await escrow.queryFilter(escrow.filters.HostBonded(jobEscrowId(client, job.id), host.address));
    expect(bonds).toHaveLength(1);
    const [, , locked] = await registry.hostOf(host.address);
    expect(locked).toBe(0n);

    // The workflow is a real Temporal execution named after the job.
    const described = await temporal.workflow.getHandle(`job-${job.id}`).describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(described.type).toBe('computeJob');
  });

  it('has every host staked on HostRegistry with its offer committed', async () => {
    const registry = connectHostRegistry(devnet.deployment.hostRegistry, createProvider(devnet.rpcUrl));
    for (const hostId of devnet.hostIds) {
      const host = await devnet.api.hosts.get.query({ hostId });
      const [registered, staked, , , , metadataHash] = await registry.hostOf(host.address);
      expect(registered).toBe(true);
      expect(staked).toBe(100n * 10n ** 18n);
      // The API read the stake from the chain at registration: matching ranks by it.
      expect(host.stake).toBe(staked.toString());
      expect(metadataHash).toMatch(/^0x[0-9a-f]{64}$/);
    }
  });

  it('ends a job whose container exits non-zero as FAILED with its exit code', async () => {
    const { job } = await submit({ image: JOB_IMAGE, command: ['sh', '-c', 'echo failing >&2; exit 3'], resources: { cpu: 0.5, memoryMiB: 64 } });
    const done = await waitForJob(devnet.api, job.id);
    expect(done).toMatchObject({ state: 'FAILED', exitCode: 3, stateReason: 'exited with code 3' });
    expect((await devnet.api.jobs.logs.query({ jobId: job.id })).logs).toBe('failing\n');
  });

  it('kills a job that runs past its timeout', async () => {
    const started = Date.now();
    const { job } = await submit({ image: JOB_IMAGE, command: ['sleep', '300'], resources: { cpu: 0.5, memoryMiB: 64 }, timeoutSeconds: 2 });
    const done = await waitForJob(devnet.api, job.id);
    expect(done).toMatchObject({ state: 'FAILED', timedOut: true, stateReason: 'killed after the 2s timeout' });
    expect(Date.now() - started).toBeLessThan(60_000);
    const containers = await (await import('../runtime/docker')).connectDocker().listContainers({
      all: true, filters: { label: [`zansoc.job=${job.id}`] },
    });
    expect(containers).toEqual([]);
  });

  it('refuses a bad spec naming the field, and creates nothing', async () => {
    const rowsBefore = await db.job.count();
    const workflowsBefore = (await temporal.workflow.count()).count;
    const err = await submit({ image: JOB_IMAGE, command: ['true'], resources: { memoryMiB: 1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect((err as TRPCClientError<never>).message).toBe('spec.resources.memoryMiB: Number must be greater than or equal to 16');
    expect((err as TRPCClientError<never>).data).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });

    // The same over plain HTTP, signed: a 400 naming the field, never a 500; unsigned: a 401 saying what is missing.
    const input = { spec: { image: 'BAD IMAGE', command: ['x'] } };
    const signed = await signRequest(new Wallet(DEVNET_KEYS.client), devnet.deployment.chainId, 'jobs.submit', input);
    const res = await fetch(`${devnet.apiUrl}/trpc/jobs.submit`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...signed }, body: JSON.stringify(input),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('spec.image: must be an image name');
    const unsigned = await fetch(`${devnet.apiUrl}/trpc/jobs.submit`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ spec: { image: JOB_IMAGE, command: ['true'] } }),
    });
    expect(unsigned.status).toBe(401);
    expect(JSON.stringify(await unsigned.json())).toContain('this call must be signed');

    expect(await db.job.count()).toBe(rowsBefore);
    expect((await temporal.workflow.count()).count).toBe(workflowsBefore);
  });

  it('answers NOT_FOUND for an unknown job', async () => {
    const err = await devnet.api.jobs.get.query({ jobId: '00000000-0000-4000-8000-000000000000' }).catch((e: unknown) => e);
    expect((err as TRPCClientError<never>).data).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
    expect((err as Error).message).toBe('jobId: no job 00000000-0000-4000-8000-000000000000');
  });

  it('returns the same job for the same idempotency key', async () => {
    const spec = { image: JOB_IMAGE, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 } };
    const [a, b] = await Promise.all([submit(spec, 'same-key'), submit(spec, 'same-key')]);
    expect(a.job.id).toBe(b.job.id);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(await db.job.count({ where: { idempotencyKey: 'same-key' } })).toBe(1);
    await waitForJob(devnet.api, a.job.id);
  });

  it('keeps a job no host can fit QUEUED and says why', async () => {
    const { job } = await submit({ image: JOB_IMAGE, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64, gpu: 1 } });
    let seen = await devnet.api.jobs.get.query({ jobId: job.id });
    for (let i = 0; i < 50 && !seen.stateReason?.startsWith('waiting'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      seen = await devnet.api.jobs.get.query({ jobId: job.id });
    }
    expect(seen.state).toBe('QUEUED');
    expect(seen.stateReason).toMatch(/^waiting for a host that fits \(host-1: gpu 0 < 1; host-2: gpu 0 < 1\)$/);
    // The client gives up waiting: nothing ran, so all of the escrow comes back.
    await devnet.api.jobs.cancel.mutate({ jobId: job.id, reason: 'no GPU host today' });
    const done = await waitForJob(devnet.api, job.id);
    expect(done).toMatchObject({ state: 'CANCELLED', stateReason: 'no GPU host today', paidToHosts: '0', refunded: done.escrowAmount });
  });

  it('cancels a running job: its container is gone, the host is paid for the time it ran, the rest refunded on chain', async () => {
    const client = new Wallet(DEVNET_KEYS.client).address;
    const clientBefore = await balanceOf(client);
    const { job } = await submit({ image: JOB_IMAGE, command: ['sleep', '300'], resources: { cpu: 0.5, memoryMiB: 64 }, timeoutSeconds: 600 });
    const docker = (await import('../runtime/docker')).connectDocker();
    const containers = () => docker.listContainers({ all: true, filters: { label: [`zansoc.job=${job.id}`] } });
    for (let i = 0; i < 100 && (await containers()).length === 0; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await containers()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1000));

    expect(await devnet.api.jobs.cancel.mutate({ jobId: job.id })).toEqual({ jobId: job.id, cancelling: true });
    const done = await waitForJob(devnet.api, job.id);
    expect(done).toMatchObject({ state: 'CANCELLED', stateReason: 'cancelled by the client' });
    expect(await containers()).toEqual([]);
    const status = await devnet.api.jobs.status.query({ jobId: job.id });
    expect(status.replicas[0]).toMatchObject({ state: 'CANCELLED', hostId: 'host-1' });
    expect(BigInt(status.replicas[0].payout)).toBeGreaterThan(0n);
    expect(status.timeline.map((t) => t.step)).toEqual(expect.arrayContaining(['cancel requested: cancelled by the client']));
    const gross = BigInt(done.paidToHosts!) + BigInt(done.commission!);
    expect(gross).toBe(BigInt(status.replicas[0].payout));
    expect(clientBefore - (await balanceOf(client))).toBe(gross);
    expect(BigInt(done.refunded!)).toBe(BigInt(done.escrowAmount) - gross);

    // A finished job cannot be cancelled; someone else's job is not found.
    await expect(devnet.api.jobs.cancel.mutate({ jobId: job.id })).rejects.toThrow(`jobId: job ${job.id} is already CANCELLED and cannot be cancelled`);
    const stranger = (await import('../api/client')).createApiClient(devnet.apiUrl, { signer: Wallet.createRandom(), chainId: devnet.deployment.chainId });
    await expect(stranger.jobs.cancel.mutate({ jobId: job.id })).rejects.toThrow(`jobId: no job ${job.id}`);
  });

  it('fails a job whose verified result is not the client\'s expectedDigest, paying the hosts for their work', async () => {
    const command = ['sh', '-c', 'printf 42 > /out/answer.txt'];
    const { job: first } = await submit({ image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB: 64 } });
    const right = (await waitForJob(devnet.api, first.id)).resultDigest!;
    const { job: checked } = await submit({ image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB: 64 }, expectedDigest: right });
    expect((await waitForJob(devnet.api, checked.id)).state).toBe('SUCCEEDED');

    const wrong = 'f'.repeat(64);
    const { job } = await submit({ image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB: 64 }, expectedDigest: wrong });
    const done = await waitForJob(devnet.api, job.id);
    expect(done).toMatchObject({ state: 'FAILED', stateReason: `result digest ${right} is not the expectedDigest ${wrong}` });
    expect(BigInt(done.paidToHosts!)).toBeGreaterThan(0n);
  });

  it('mounts input files read-only under /in, and refuses a job whose inputs are not staged, naming the field', async () => {
    const data = Buffer.from('line one\nline two\n');
    const staged = await uploadBlob(devnet.apiUrl, data, { auth: devnetClientStaging(devnet.deployment.chainId) });
    const command = ['sh', '-c', 'cat /in/data/in.txt; wc -l < /in/data/in.txt > /out/lines; (echo x >> /in/data/in.txt) 2>/dev/null && echo writable || echo read-only'];
    const { job } = await submit({ image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB: 64 }, inputs: { 'data/in.txt': staged } });
    const done = await waitForJob(devnet.api, job.id);
    expect(done.state).toBe('SUCCEEDED');
    expect((await devnet.api.jobs.logs.query({ jobId: job.id })).logs).toBe('line one\nline two\nread-only\n');
    const { archive } = await outputOf(devnet.apiUrl, done, new Wallet(DEVNET_KEYS.client));
    expect((await untar(archive)).lines.trim()).toBe('2');

    const missing = sha256('never uploaded');
    const before = await db.job.count();
    await expect(submit({ image: JOB_IMAGE, command: ['true'], inputs: { 'x.bin': missing } }))
      .rejects.toThrow(`spec.inputs.x.bin: no blob ${missing} in the staging store; upload the file first (PUT /blobs/${missing})`);
    expect(await db.job.count()).toBe(before);
  });

  it('runs the client\'s test input beside every replica and pays for both runs when the host passes it', async () => {
    const command = ['sh', '-c', 'tr a-z A-Z < /in/words > /out/upper'];
    const testInput = await uploadBlob(devnet.apiUrl, Buffer.from('known answer\n'), { auth: devnetClientStaging(devnet.deployment.chainId) });
    const realInput = await uploadBlob(devnet.apiUrl, Buffer.from('real work\n'), { auth: devnetClientStaging(devnet.deployment.chainId) });
    // The client learns the test's right digest once, e.g. from a run it trusts.
    const { job: reference } = await submit({ image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB: 64 }, inputs: { words: testInput } });
    const expectedDigest = (await waitForJob(devnet.api, reference.id)).resultDigest!;

    const { job } = await submit({
      image: JOB_IMAGE, command, resources: { cpu: 0.5, memoryMiB: 64 }, replicas: 2,
      inputs: { words: realInput }, tests: [{ inputs: { words: testInput }, expectedDigest }],
    });
    const done = await waitForJob(devnet.api, job.id);
    expect(done.state).toBe('SUCCEEDED');
    expect(done.resultDigest).not.toBe(expectedDigest);
    const { archive } = await outputOf(devnet.apiUrl, done, new Wallet(DEVNET_KEYS.client));
    expect((await untar(archive)).upper).toBe('REAL WORK\n');
    const status = await devnet.api.jobs.status.query({ jobId: job.id });
    expect(status.replicas.map((r) => r.failedTestBy)).toEqual([[], []]);
    expect(status.replicas.every((r) => BigInt(r.payout) > 0n)).toBe(true);
  });

  it('runs nothing while a job waits for a host, and takes the host the moment it comes back', async () => {
    await Promise.all(devnet.hostIds.map((id) => devnet.stopRole(id)));
    try {
      const { job } = await submit({ image: JOB_IMAGE, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 } });
      const handle = temporal.workflow.getHandle(`job-${job.id}`);
      await eventually(30_000, async () => ((await handle.describe()).typedSearchAttributes.get(HOST_WAIT) === 'waiting' ? true : undefined));
      const looks = async () => ((await handle.fetchHistory()).events ?? [])
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'matchHost').length;
      const waitingLooks = await looks();
      expect(waitingLooks).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 5000));
      // 5 s of waiting: no look at the hosts (a 2 s poll made two or three).
      expect(await looks()).toBe(waitingLooks);
      await devnet.startRole('host-1');
      const done = await waitForJob(devnet.api, job.id, undefined, 60_000);
      expect(done).toMatchObject({ state: 'SUCCEEDED', hostId: 'host-1' });
      const events = (await handle.fetchHistory()).events ?? [];
      // The API woke it when host-1 registered.
      expect(events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'capacityChanged')).toBe(true);
      expect((await handle.describe()).typedSearchAttributes.get(HOST_WAIT)).toBeUndefined();
    } finally {
      await Promise.all(devnet.hostIds.filter((id) => id !== 'host-1').map((id) => devnet.startRole(id)));
      if (devnet.processes.get('host-1')?.exitCode !== null) await devnet.startRole('host-1');
    }
  }, 120_000);

  it('tags every job workflow with search attributes operators can filter by', async () => {
    const { job } = await submit({ image: JOB_IMAGE, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 } });
    await waitForJob(devnet.api, job.id);
    // The read model says SUCCEEDED inside the workflow's last task: its search attributes are set as that task ends.
    const handle = temporal.workflow.getHandle(`job-${job.id}`);
    await handle.result();
    const described = await handle.describe();
    expect(described.searchAttributes).toMatchObject({ JobId: [job.id], JobState: ['SUCCEEDED'], HostIds: ['host-1'] });
    expect(described.searchAttributes.ClientId).toHaveLength(1);
    expect(described.memo).toMatchObject({ image: JOB_IMAGE, command: 'true', replicas: 1 });
  });

  it('works from the zansoc CLI: login, submit --follow, status, result with its digest checked, ls; errors point at the line', async () => {
    const home = mkdtempSync(join(tmpdir(), 'zansoc-cli-'));
    const cli = (...args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(__dirname, '../cli/bin.js'), ...args], {
        cwd: home, env: { ...process.env, ZANSOC_HOME: home, ZANSOC_PASSPHRASE: 'cli-test-passphrase', ZANSOC_API_URL: devnet.apiUrl, ZANSOC_KEY: '' },
      }, (err, stdout, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr }));
    });
    try {
      const login = await cli('login');
      expect(login).toMatchObject({ code: 0 });
      const did = /created (did:ethr:31337:0x[0-9a-f]{40})/.exec(login.stdout)![1];
      expect((await cli('whoami')).stdout).toContain(did);
      const address = /did:ethr:31337:(0x[0-9a-f]{40})/.exec(did)![1];
      expect((await cli('wallet', 'balance')).stdout).toContain(': 0.0 ZSC free (0 base units)');
      // The user pays from its own wallet: with nothing in it, the job is refused before anything is created.
      writeFileSync(join(home, 'spec.yaml'), `image: ${JOB_IMAGE}\ncommand: [sh, -c, "echo from the cli; echo 7 > /out/seven"]\nresources:\n  cpu: 0.5\n  memoryMiB: 64\n`);
      const broke = await cli('job', 'submit', 'spec.yaml');
      expect(broke.code).toBe(1);
      expect(broke.stderr).toContain('balance 0.0 ZSC < 1.0 ZSC needed for this job (maxPrice 1.0 ZSC × 1 slot)');
      expect(JSON.parse((await cli('job', 'ls', '--json')).stdout)).toEqual([]);

      expect((await cli('wallet', 'faucet')).stdout).toMatch(/^the faucet sent 100\.0 ZSC to 0x/);
      expect((await cli('wallet', 'balance')).stdout).toContain(': 100.0 ZSC free (100000000000000000000 base units)');
      const again = await cli('wallet', 'faucet');
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('the faucet gave');

      const run = await cli('job', 'submit', 'spec.yaml', '--follow');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe('from the cli\n');
      // The amount is shown before the order is signed.
      expect(run.stderr).toContain('signing an order for 1.0 ZSC (maxPrice 1.0 ZSC × 1 slot) from your balance of 100.0 ZSC');
      const jobId = /job ([0-9a-f-]{36}) submitted/.exec(run.stderr)![1];
      expect(run.stderr).toContain('SUCCEEDED');

      const status = JSON.parse((await cli('job', 'status', jobId, '--json')).stdout) as {
        outputSha256: string; payer: string; paidToHosts: string; commission: string; refunded: string; detail: { timeline: unknown[] };
      };
      expect(status.detail.timeline.length).toBeGreaterThan(3);
      expect(status.payer.toLowerCase()).toBe(address);
      expect((await cli('job', 'status', jobId)).stdout).toContain(`paid for by ${status.payer}`);
      // Read by cast: the user's own ZSC paid exactly the hosts' pay and the commission, the rest came back.
      const spent = BigInt(status.paidToHosts) + BigInt(status.commission);
      expect(spent + BigInt(status.refunded)).toBe(10n ** 18n);
      expect(await castBalanceOf(devnet.rpcUrl, devnet.deployment.token, address)).toBe(100n * 10n ** 18n - spent);
      expect(await castEthBalance(devnet.rpcUrl, address)).toBe(0n);
      const result = await cli('job', 'result', jobId, '--out', 'out.tar');
      expect(result.code).toBe(0);
      expect(sha256(readFileSync(join(home, 'out.tar')))).toBe(status.outputSha256);
      expect(await untar(readFileSync(join(home, 'out.tar')))).toEqual({ seven: '7\n' });
      expect((await cli('job', 'ls', '--json')).stdout).toContain(jobId);

      writeFileSync(join(home, 'bad.yaml'), `image: ${JOB_IMAGE}\ncommand: [true]\nresources:\n  memoryMiB: 1\n`);
      const bad = await cli('job', 'submit', 'bad.yaml');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('bad.yaml:4: resources.memoryMiB: Number must be greater than or equal to 16');

      // Someone else's job does not exist for this key.
      const { job: theirs } = await submit({ image: JOB_IMAGE, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 } });
      const stranger = await cli('job', 'status', theirs.id);
      expect(stranger).toMatchObject({ code: 1 });
      expect(stranger.stderr).toContain(`jobId: no job ${theirs.id}`);
      await waitForJob(devnet.api, theirs.id);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);
});
