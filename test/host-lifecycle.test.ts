import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { JOB_IMAGE } from '../scripts/build-images';
import { connectDocker } from '../scripts/docker-engine';
import { startDevnet, waitForJob, type Devnet } from '../scripts/devnet';

/** Hosts coming and going under running jobs: drain on SIGTERM, crash and restart. Jobs are never lost. */
const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

describe('host lifecycle on the devnet', () => {
  let dir: string;
  let devnet: Devnet;
  const lines: string[] = [];
  const docker = connectDocker();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-hosts-'));
    devnet = await startDevnet({ dir, hosts: 2, headless: true, spotCheckFraction: 0, hostEnv: { DRAIN_GRACE_SECONDS: '3', HEARTBEAT_SECONDS: '1' }, log: (l) => lines.push(l) });
  }, 300_000);
  afterAll(async () => {
    await devnet?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) console.log(lines.slice(-100).join('\n'));
  });

  async function runningHostOf(jobId: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const job = await devnet.api.jobs.get.query({ jobId });
      if (job.state === 'RUNNING' && job.hostId) return job.hostId;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${jobId} never ran`);
  }

  async function containersOf(jobId: string) {
    return docker.listContainers({ all: true, filters: { label: [`zansoc.job=${jobId}`] } });
  }

  it('lets a running job finish when its host drains, then the host leaves', async () => {
    const { job } = await devnet.api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', 'sleep 1.5; echo finished > /out/done'], resources: { cpu: 0.5, memoryMiB: 64 } },
    });
    const hostId = await runningHostOf(job.id);
    const host = devnet.processes.get(hostId)!;
    host.kill('SIGTERM');
    const done = await waitForJob(devnet.api, job.id);
    expect(done).toMatchObject({ state: 'SUCCEEDED', hostId });
    expect(await exited(host)).toBe(0);
    expect(await devnet.api.hosts.get.query({ hostId })).toMatchObject({ status: 'offline', online: false });

    // Gone hosts get no new work.
    const { job: next } = await devnet.api.jobs.submit.mutate({ spec: { image: JOB_IMAGE, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 } } });
    expect((await waitForJob(devnet.api, next.id)).hostId).not.toBe(hostId);
    await devnet.startRole(hostId);
  });

  it('hands a slot back when its host drains past the grace period, and the job completes elsewhere', async () => {
    const { job } = await devnet.api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', 'sleep 6; echo finished > /out/done'], resources: { cpu: 0.5, memoryMiB: 64 } },
    });
    const first = await runningHostOf(job.id);
    devnet.processes.get(first)!.kill('SIGTERM');
    const done = await waitForJob(devnet.api, job.id);
    expect(done.state).toBe('SUCCEEDED');
    expect(done.hostId).not.toBe(first);
    expect(await containersOf(job.id)).toEqual([]);
    await exited(devnet.processes.get(first)!);
    await devnet.startRole(first);
  });

  it('finds its running container again after a crash instead of starting a second one', async () => {
    const since = Math.floor(Date.now() / 1000);
    const { job } = await devnet.api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', 'sleep 8; echo survived > /out/done'], resources: { cpu: 0.5, memoryMiB: 64 } },
    });
    const hostId = await runningHostOf(job.id);
    for (let i = 0; i < 100 && !(await containersOf(job.id)).some((c) => c.State === 'running'); i++) await new Promise((r) => setTimeout(r, 100));
    const host = devnet.processes.get(hostId)!;
    host.kill('SIGKILL');
    await exited(host);
    expect((await containersOf(job.id)).map((c) => c.State)).toEqual(['running']);
    await devnet.startRole(hostId);

    const done = await waitForJob(devnet.api, job.id);
    expect(done).toMatchObject({ state: 'SUCCEEDED', hostId });
    const creates = await containerCreates(job.id, since);
    expect(creates).toBe(1);
  });

  async function containerCreates(jobId: string, since: number): Promise<number> {
    const stream = (await docker.getEvents({
      since, until: Math.floor(Date.now() / 1000) + 1,
      filters: { type: ['container'], event: ['create'], label: [`zansoc.job=${jobId}`] },
    })) as NodeJS.ReadableStream;
    let text = '';
    for await (const chunk of stream) text += chunk.toString();
    return text.split('\n').filter((l) => l.trim()).length;
  }
});
