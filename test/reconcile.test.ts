import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createHostRuntime } from '../host-worker/activities/compute';
import type { HostActivities } from '../host-worker/activities/types';
import type { SlotExecution, SlotResult } from '../domain/execution';
import { ResourceLedger } from '../host-worker/ledger';
import { reconcileContainers } from '../host-worker/reconcile';
import { containerName, LABEL_EXECUTION } from '../host-worker/sandbox';
import { buildJobImages } from '../scripts/build-images';
import { connectDocker } from '../runtime/docker';
import { jobImageAllowList, removeContainersOfJob, removeWorkDir, slotMaker } from './support/slots';

const jobId = `reconcile-test-${randomUUID().slice(0, 8)}`;
const hostId = `reconcile-host-${randomUUID().slice(0, 8)}`;
const MINUTE = 60_000;

let docker: Dockerode;
let workDir: string;
let allowedImages: string[];
let staging: http.Server;
let stagingUrl: string;

beforeAll(async () => {
  docker = connectDocker();
  await buildJobImages(docker);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zansoc-reconcile-'));
  allowedImages = await jobImageAllowList(docker);
  // Accepts every blob: this file is about containers, not staging.
  staging = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(201).end()));
  await new Promise<void>((resolve) => staging.listen(0, '127.0.0.1', resolve));
  stagingUrl = `http://127.0.0.1:${(staging.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await removeContainersOfJob(docker, jobId);
  await removeWorkDir(workDir);
  await new Promise((resolve) => staging.close(resolve));
});

function slot(name: string, script: string, overrides: Partial<SlotExecution> = {}): SlotExecution {
  return slotMaker(jobId, { stagingUrl, timeoutSeconds: 86_400, resources: { cpu: 0.5, memoryMiB: 32, diskMiB: 8, gpu: 0 } })(
    name, ['sh', '-c', script], overrides,
  );
}

async function containersOf(exec: SlotExecution): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_EXECUTION}=${exec.executionId}`] } });
}

async function waitUntilState(exec: SlotExecution, state: 'running' | 'exited'): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await containersOf(exec)).some((c) => c.State === state)) {
    if (Date.now() > deadline) throw new Error(`${exec.executionId} never reached ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A host process starts these slots, then dies without any chance to clean up: what a restarted host finds. */
async function startSlotsThenKillHost(slots: Array<{ exec: SlotExecution; host: string }>): Promise<void> {
  const calls = slots.map(({ exec, host }) => `runSandboxed(docker, ${JSON.stringify(exec)},
    { hostId: ${JSON.stringify(host)}, workDir: ${JSON.stringify(workDir)}, allowedImages: ${JSON.stringify(allowedImages)}, logLimitBytes: 65536, outputLimitBytes: 1048576 })`);
  const script = `const { runSandboxed } = require('./host-worker/sandbox');
    const docker = require('./runtime/docker').connectDocker();
    ${calls.join(';\n')}`;
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: path.resolve(__dirname, '..'), stdio: 'inherit' });
  await Promise.all(slots.map(({ exec }) => waitUntilState(exec, 'running')));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
}

const quiet = () => undefined;

test('a restarted host leaves running containers to be adopted, kills the overdue, and removes what nobody collected', async () => {
  const adoptable = slot('adoptable', 'sleep 4; echo done > /out/done');
  const finished = slot('finished', 'sleep 1; echo bye > /out/bye');
  const overdue = slot('overdue', 'sleep 600', { timeoutSeconds: 15 });
  const otherHosts = slot('other-host', 'sleep 600');
  await startSlotsThenKillHost([
    { exec: adoptable, host: hostId },
    { exec: finished, host: hostId },
    { exec: overdue, host: hostId },
    { exec: otherHosts, host: `${hostId}-other` },
  ]);
  await waitUntilState(finished, 'exited');
  const finishedOut = path.join(workDir, containerName(finished.executionId));
  expect(fs.existsSync(finishedOut)).toBe(true);
  const stray = path.join(workDir, 'zansoc-stray-from-a-crash');
  fs.mkdirSync(stray);
  const lastHour = new Date(Date.now() - 60 * MINUTE);
  fs.utimesSync(stray, lastHour, lastHour);
  const freshStray = path.join(workDir, 'zansoc-just-made');
  fs.mkdirSync(freshStray);

  const ledger = new ResourceLedger({ cpus: 2, memoryMiB: 256, diskMiB: 64, gpus: 0, maxSlots: 4 });
  const lines: string[] = [];
  const atStart = await reconcileContainers(docker, hostId, { ledger, workDir, log: (line) => lines.push(line) });

  expect(atStart).toEqual({
    running: expect.arrayContaining([adoptable.executionId, overdue.executionId]),
    killed: [],
    kept: [finished.executionId],
    removed: [],
    removedFolders: ['zansoc-stray-from-a-crash'],
  });
  expect(atStart.running).toHaveLength(2);
  expect(lines.join('\n')).toContain(`${adoptable.executionId} is still running`);
  // The running containers hold their share of the machine until their activities come back for them.
  expect(ledger.usage()).toEqual({ slots: 2, cpu: 1, memoryMiB: 64, diskMiB: 16, gpu: 0 });
  expect(fs.existsSync(stray)).toBe(false);
  expect(fs.existsSync(freshStray)).toBe(true);

  // Later (as seen by a clock 11 minutes ahead): the overdue one is killed, the finished one was never collected.
  const inElevenMinutes = () => Date.now() + 11 * MINUTE;
  const later = await reconcileContainers(docker, hostId, { ledger, workDir, now: inElevenMinutes, log: quiet });
  expect(later).toMatchObject({ running: [adoptable.executionId], killed: [overdue.executionId], kept: [], removed: [finished.executionId] });
  expect(await containersOf(finished)).toHaveLength(0);
  expect(fs.existsSync(finishedOut)).toBe(false);
  expect(ledger.usage()).toMatchObject({ slots: 1, memoryMiB: 32 });
  await waitUntilState(overdue, 'exited');
  expect(await reconcileContainers(docker, hostId, { ledger, now: inElevenMinutes, log: quiet })).toMatchObject({ removed: [overdue.executionId] });
  expect(fs.existsSync(path.join(workDir, containerName(overdue.executionId)))).toBe(false);

  // Another host's container is none of this host's business.
  expect((await containersOf(otherHosts))[0].State).toBe('running');

  // The retried activity adopts the running container and takes the reservation over; nothing is booked twice.
  const { activities } = createHostRuntime({ docker, hostId, workDir, allowedImages, offer: ledger.offer, ledger });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const result = await env.run<[SlotExecution], SlotResult, HostActivities['executeSlot']>(activities.executeSlot, adoptable);
  expect(result.exitCode).toBe(0);
  expect(ledger.usage()).toEqual({ slots: 0, cpu: 0, memoryMiB: 0, diskMiB: 0, gpu: 0 });
  expect(await containersOf(adoptable)).toHaveLength(0);
});

test('an execution this process is running is never touched', async () => {
  const exec = slot('in-flight', 'sleep 2; echo ok', { timeoutSeconds: 5 });
  const { activities } = createHostRuntime({ docker, hostId, workDir, allowedImages, offer: { cpus: 1, memoryMiB: 64, diskMiB: 16, gpus: 0, maxSlots: 1 } });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const running = env.run<[SlotExecution], SlotResult, HostActivities['executeSlot']>(activities.executeSlot, exec);
  await waitUntilState(exec, 'running');

  // Seen from a clock an hour ahead, it is overdue and long stopped: a pass must still leave it to its activity.
  const summary = await reconcileContainers(docker, hostId, { maxAgeMs: 0, now: () => Date.now() + 60 * MINUTE, log: quiet });
  expect([...summary.running, ...summary.killed, ...summary.removed]).not.toContain(exec.executionId);
  expect(await running).toMatchObject({ exitCode: 0, timedOut: false });
});
