import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createHostRuntime } from '../host-worker/activities/compute';
import type { HostActivities } from '../host-worker/activities/types';
import { ZansocErrorType } from '../domain/errors';
import type { SlotExecution, SlotResult } from '../domain/execution';
import type { ResourceLedger } from '../host-worker/ledger';
import { LABEL_EXECUTION } from '../host-worker/sandbox';
import { buildJobImages } from '../scripts/build-images';
import { connectDocker } from '../runtime/docker';
import { jobImageAllowList, removeContainersOfJob, removeWorkDir, slotMaker } from './support/slots';

const jobId = `host-activities-test-${randomUUID().slice(0, 8)}`;
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

let docker: Dockerode;
let workDir: string;
let activities: HostActivities;
let ledger: ResourceLedger;
let allowedImages: string[];
const offer = { cpus: 2, memoryMiB: 512, diskMiB: 256, gpus: 0, maxSlots: 4 };
const nothingHeld = { slots: 0, cpu: 0, memoryMiB: 0, diskMiB: 0, gpu: 0 };
let staging: http.Server;
let stagingUrl: string;
const blobs = new Map<string, Buffer>();

/** When the slow staging store (`/slow`) received each upload it then holds for SLOW_STAGING_MS. */
const slowUploads: number[] = [];
const SLOW_STAGING_MS = 5_000;

/**
 * Stands in for the API's staging store: keeps blobs whose bytes hash to their name; `/full` refuses everything, and
 * `/slow` answers each upload after SLOW_STAGING_MS, as a loaded API does.
 */
function startStaging(): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.url?.startsWith('/slow/')) {
      slowUploads.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, SLOW_STAGING_MS));
    }
    const match = /^(?:\/slow)?\/blobs\/([0-9a-f]{64})$/.exec(req.url ?? '');
    if (req.method !== 'PUT' || !match) return res.writeHead(507).end('disk full');
    if (sha256(body) !== match[1]) return res.writeHead(422).end('hash mismatch');
    blobs.set(match[1], body);
    res.writeHead(201).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  docker = connectDocker();
  await buildJobImages(docker);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zansoc-host-'));
  allowedImages = await jobImageAllowList(docker);
  ({ activities, ledger } = createHostRuntime({ docker, hostId: 'test-host', workDir, allowedImages, offer }));
  staging = await startStaging();
  stagingUrl = `http://127.0.0.1:${(staging.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await removeContainersOfJob(docker, jobId);
  await removeWorkDir(workDir);
  await new Promise((resolve) => staging.close(resolve));
});

function slot(name: string, script: string, overrides: Partial<SlotExecution> = {}): SlotExecution {
  return slotMaker(jobId, { stagingUrl, timeoutSeconds: 60 })(name, ['sh', '-c', script], overrides);
}

/** Failures are asserted on, so the SDK's warning for each one is only noise here. */
const activityEnvironment = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

function executeSlot(exec: SlotExecution, env = activityEnvironment(), on: HostActivities = activities): Promise<SlotResult> {
  return env.run<[SlotExecution], SlotResult, HostActivities['executeSlot']>(on.executeSlot, exec);
}

async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

async function containersOf(exec: SlotExecution): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_EXECUTION}=${exec.executionId}`] } });
}

/** Counts the engine's create events for an execution: what a duplicate container would leave behind. */
async function creations(exec: SlotExecution, sinceMs: number): Promise<number> {
  const events = await docker.getEvents({
    since: Math.floor(sinceMs / 1000) - 1,
    until: Math.ceil(Date.now() / 1000),
    filters: { type: ['container'], event: ['create'], label: [`${LABEL_EXECUTION}=${exec.executionId}`] },
  });
  let text = '';
  for await (const chunk of events) text += chunk.toString();
  return text.split('\n').filter((line) => line.trim()).length;
}

async function waitUntilState(exec: SlotExecution, state: 'running' | 'exited'): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await containersOf(exec)).some((c) => c.State === state)) {
    if (Date.now() > deadline) throw new Error(`${exec.executionId} never reached ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('stores logs and output in staging, heartbeats progress and returns only digests', async () => {
  const env = activityEnvironment();
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (details) => heartbeats.push(details));
  const exec = slot('staged', 'for i in 1 2 3; do echo tick $i; sleep 1; done; echo result > /out/result');

  const result = await executeSlot(exec, env);

  expect(result).toMatchObject({ exitCode: 0, timedOut: false, logsBytes: 21 });
  expect(blobs.get(result.logsSha256)?.toString()).toBe('tick 1\ntick 2\ntick 3\n');
  expect(sha256(blobs.get(result.outputSha256) ?? '')).toBe(result.outputSha256);
  expect(blobs.get(result.outputSha256)?.toString('latin1')).toContain('result\n');
  expect(JSON.stringify(result).length).toBeLessThan(1024);
  // Beats before the container starts carry no progress yet; those while it runs say how far it got.
  const progress = heartbeats.filter((details) => details !== undefined);
  expect(progress.length).toBeGreaterThanOrEqual(1);
  expect(progress[0]).toEqual({ elapsedMs: expect.any(Number), logBytes: expect.any(Number) });
  expect(ledger.usage()).toEqual(nothingHeld);
});

test('two concurrent attempts of one execution share one container', async () => {
  const since = Date.now();
  const exec = slot('concurrent', 'sleep 1; echo once >> /out/runs');
  const attempts = Promise.all([executeSlot(exec), executeSlot(exec)]);
  // One reservation for the execution, however many attempts share it.
  await waitUntilState(exec, 'running');
  expect(ledger.usage()).toEqual({ slots: 1, cpu: 1, memoryMiB: 64, diskMiB: 16, gpu: 0 });
  const [first, second] = await attempts;
  expect(ledger.usage()).toEqual(nothingHeld);
  expect(second).toEqual(first);
  expect(blobs.get(first.outputSha256)?.toString('latin1')).toContain('once\n\0');
  expect(await creations(exec, since)).toBe(1);
});

/** A first host process starts the slot, then dies without any chance to clean up. */
async function startSlotThenKillHost(exec: SlotExecution): Promise<void> {
  const sandboxCall = `require('./host-worker/sandbox').runSandboxed(require('./runtime/docker').connectDocker(),
    ${JSON.stringify(exec)}, { hostId: 'test-host', workDir: ${JSON.stringify(workDir)}, allowedImages: ${JSON.stringify(allowedImages)}, logLimitBytes: 65536, outputLimitBytes: 1048576 })`;
  const host = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', sandboxCall], { cwd: path.resolve(__dirname, '..'), stdio: 'inherit' });
  await waitUntilState(exec, 'running');
  host.kill('SIGKILL');
}

test('a restarted host adopts the running container instead of starting another', async () => {
  const since = Date.now();
  const exec = slot('restart-running', 'echo before; sleep 3; echo after; echo done >> /out/done');
  await startSlotThenKillHost(exec);

  const result = await executeSlot(exec);

  expect(result.exitCode).toBe(0);
  expect(blobs.get(result.logsSha256)?.toString()).toBe('before\nafter\n');
  expect(blobs.get(result.outputSha256)?.toString('latin1')).toContain('done\n\0');
  expect(await creations(exec, since)).toBe(1);
  expect(await containersOf(exec)).toHaveLength(0);
});

test('a restarted host collects a container that finished while it was down', async () => {
  const since = Date.now();
  const exec = slot('restart-exited', 'sleep 1; echo finished; exit 4', { timeoutSeconds: 2 });
  await startSlotThenKillHost(exec);
  await waitUntilState(exec, 'exited');
  // Past the slot's deadline by now: an exit before it must not be mistaken for a timeout.
  await new Promise((resolve) => setTimeout(resolve, 1500));

  const result = await executeSlot(exec);

  expect(result).toMatchObject({ exitCode: 4, timedOut: false });
  expect(blobs.get(result.logsSha256)?.toString()).toBe('finished\n');
  expect(await creations(exec, since)).toBe(1);
  expect(await containersOf(exec)).toHaveLength(0);
});

test('cancelling the activity kills and removes the container', async () => {
  const env = activityEnvironment();
  const exec = slot('cancel', 'sleep 60');
  const running = executeSlot(exec, env);
  await waitUntilState(exec, 'running');
  env.cancel();
  await expect(running).rejects.toBeInstanceOf(CancelledFailure);
  expect(await containersOf(exec)).toHaveLength(0);
  expect(fs.readdirSync(workDir)).toEqual([]);
  expect(ledger.usage()).toEqual(nothingHeld);
});

test('a slot heartbeats while its result is staged, not only while its container runs', async () => {
  // The workflow gives a slot 10 s between heartbeats; an API slow to take the result must not cost the slot.
  const env = activityEnvironment();
  const beats: number[] = [];
  env.on('heartbeat', () => beats.push(Date.now()));
  const exec = slot('staging-slow', 'echo hi', { stagingUrl: `${stagingUrl}/slow` });

  const result = await executeSlot(exec, env);

  expect(result).toMatchObject({ exitCode: 0 });
  const staged = Math.min(...slowUploads);
  expect(beats.filter((at) => at > staged).length).toBeGreaterThanOrEqual(2);
  expect(ledger.usage()).toEqual(nothingHeld);
}, 30_000);

test('a refusal from staging fails the activity, naming the status', async () => {
  const exec = slot('staging-full', 'echo hi', { stagingUrl: `${stagingUrl}/full` });
  await expect(executeSlot(exec)).rejects.toThrow(/HTTP 507 disk full/);
  expect(ledger.usage()).toEqual(nothingHeld);
});

describe('work the offer does not cover is refused for good before any container exists', () => {
  test.each([
    ['a GPU on a host without one', { gpu: 1 }, /gpu: wanted 1, offered 0/],
    ['more memory than offered', { memoryMiB: 1024 }, /memoryMiB: wanted 1024, offered 512/],
    ['more cpu than offered', { cpu: 4 }, /cpu: wanted 4, offered 2/],
    ['more disk than offered', { diskMiB: 1024 }, /diskMiB: wanted 1024, offered 256/],
  ])('%s', async (name, resources, message) => {
    const since = Date.now();
    const exec = slot(`uncovered-${name.replace(/\W+/g, '-')}`, 'echo should never run > /out/ran', {
      resources: { cpu: 1, memoryMiB: 64, diskMiB: 16, gpu: 0, ...resources },
    });
    const error = await refusal(executeSlot(exec));
    expect(error.type).toBe(ZansocErrorType.CapabilityMismatch);
    expect(error.nonRetryable).toBe(true);
    expect(error.message).toMatch(message);
    expect(await creations(exec, since)).toBe(0);
    expect(ledger.usage()).toEqual(nothingHeld);
  });
});

test('a slot that does not fit beside the running ones is refused for now, naming what is short', async () => {
  const small = createHostRuntime({ docker, hostId: 'test-host', workDir, allowedImages, offer: { cpus: 2, memoryMiB: 128, diskMiB: 64, gpus: 0, maxSlots: 2 } });
  const since = Date.now();
  const first = slot('busy-first', 'sleep 2; echo first > /out/first', { resources: { cpu: 1, memoryMiB: 100, diskMiB: 16, gpu: 0 } });
  const second = slot('busy-second', 'echo second', { resources: { cpu: 1, memoryMiB: 64, diskMiB: 16, gpu: 0 } });
  const running = executeSlot(first, activityEnvironment(), small.activities);
  await waitUntilState(first, 'running');

  const error = await refusal(executeSlot(second, activityEnvironment(), small.activities));
  expect(error.type).toBe(ZansocErrorType.HostBusy);
  expect(error.nonRetryable).toBe(false);
  expect(error.message).toMatch(/memoryMiB 64 wanted, 28 available/);
  expect(await creations(second, since)).toBe(0);

  expect((await running).exitCode).toBe(0);
  expect(small.ledger.usage()).toEqual(nothingHeld);
  // Its retry, once the first slot is done, runs.
  expect((await executeSlot(second, activityEnvironment(), small.activities)).exitCode).toBe(0);
});
