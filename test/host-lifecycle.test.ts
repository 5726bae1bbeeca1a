import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { hostTaskQueue } from '../domain/execution';
import { JOB_IMAGE } from '../scripts/build-images';
import { connectDocker } from '../runtime/docker';
import { startDevnet, waitForJob, type Devnet } from '../scripts/devnet';

/**
 * Hosts coming and going under running jobs: drain on SIGTERM, crash and restart. Jobs are never lost.
 * Each host gets DRAIN_GRACE seconds to finish its slots; the jobs are sized well inside it (or well past it) so a
 * loaded machine, where starting a container takes seconds, does not change the outcome.
 */
const DRAIN_GRACE = 8;
const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

describe('host lifecycle on the devnet', () => {
  let dir: string;
  let devnet: Devnet;
  const lines: string[] = [];
  const docker = connectDocker();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-hosts-'));
    devnet = await startDevnet({ dir, hosts: 2, headless: true, spotCheckFraction: 0, hostEnv: { DRAIN_GRACE_SECONDS: String(DRAIN_GRACE), HEARTBEAT_SECONDS: '1' }, log: (l) => lines.push(l) });
  }, 300_000);
  afterAll(async () => {
    await devnet?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
  afterEach(async () => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) console.log(lines.slice(-100).join('\n'));
    // A test that failed half-way may have left a host stopped or draining: the next test starts with every host up.
    for (const hostId of devnet.hostIds) {
      const host = devnet.processes.get(hostId)!;
      if (host.exitCode === null && host.signalCode === null && !host.killed) continue;
      await exited(host);
      await devnet.startRole(hostId);
    }
  }, 60_000);

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

  /** The host whose container runs the job, once that container is up (RUNNING comes a little before it). */
  async function runningContainerHostOf(jobId: string): Promise<string> {
    const hostId = await runningHostOf(jobId);
    for (let i = 0; i < 300; i++) {
      if ((await containersOf(jobId)).some((c) => c.State === 'running')) return hostId;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${jobId}'s container never started`);
  }

  it('polls only its own queue: no host waits on a capability queue that no workflow dispatches to', async () => {
    const connection = await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls });
    const pollersOf = async (name: string) => (await connection.workflowService.describeTaskQueue({
      namespace: 'default', taskQueue: { name }, taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    })).pollers ?? [];
    try {
      for (const hostId of devnet.hostIds) {
        const { arch } = await devnet.api.hosts.get.query({ hostId });
        expect((await pollersOf(hostTaskQueue(hostId))).length).toBeGreaterThan(0);
        expect((await pollersOf(`cap.${arch}.cpu`)).map((p) => p.identity)).toEqual([]);
      }
    } finally {
      await connection.close();
    }
  });

  it('lets a running job finish when its host drains, then the host leaves', async () => {
    const { job } = await devnet.api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', 'sleep 1; echo finished > /out/done'], resources: { cpu: 0.5, memoryMiB: 64 } },
    });
    const hostId = await runningContainerHostOf(job.id);
    const host = devnet.processes.get(hostId)!;
    host.kill('SIGTERM');
    const done = await waitForJob(devnet.api, job.id);
    expect(done).toMatchObject({ state: 'SUCCEEDED', hostId });
    expect(await exited(host)).toBe(0);
    expect(await devnet.api.hosts.get.query({ hostId })).toMatchObject({ status: 'offline', online: false });

    // Gone hosts get no new work.
    const { job: next } = await devnet.api.jobs.submit.mutate({ spec: { image: JOB_IMAGE, command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 } } });
    expect((await waitForJob(devnet.api, next.id)).hostId).not.toBe(hostId);
  });

  it('hands a slot back when its host drains past the grace period, and the job completes elsewhere', async () => {
    const { job } = await devnet.api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', `sleep ${DRAIN_GRACE * 2}; echo finished > /out/done`], resources: { cpu: 0.5, memoryMiB: 64 } },
    });
    const first = await runningContainerHostOf(job.id);
    devnet.processes.get(first)!.kill('SIGTERM');
    const done = await waitForJob(devnet.api, job.id);
    expect(done.state).toBe('SUCCEEDED');
    expect(done.hostId).not.toBe(first);
    expect(await containersOf(job.id)).toEqual([]);
    expect(await exited(devnet.processes.get(first)!)).toBe(0);
  });

  it('finds its running container again after a crash instead of starting a second one', async () => {
    const since = Math.floor(Date.now() / 1000);
    const { job } = await devnet.api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', 'sleep 8; echo survived > /out/done'], resources: { cpu: 0.5, memoryMiB: 64 } },
    });
    const hostId = await runningContainerHostOf(job.id);
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
