import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import type { SlotExecution } from '../domain/execution';
import { resolveAllowList } from '../host-worker/images';
import { runSandboxed, slotIsolation } from '../host-worker/sandbox';
import { buildJobImages, JOB_IMAGE } from '../scripts/build-images';
import { connectDocker } from '../runtime/docker';
import type { Benchmark } from './benchmark';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const WARMUP_RUNS = 3;
export const COMMAND = ['sh', '-c', 'echo hello'];
const GOAL_RATIO = 1.2;

type Variant = 'sandbox' | 'sandboxNoQuota' | 'raw' | 'rawNoNetwork' | 'floor' | 'cli';

/** The resources and output cap of the slot measured here, and of the fair floor's container. */
export const BENCH_RESOURCES = { cpu: 1, memoryMiB: 256, diskMiB: 64, gpu: 0 };
export const BENCH_OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Host-side cost of one slot — runSandboxed: look for an earlier container, create the hardened container and its
 * /out folder, start, wait while reading logs, inspect, pack /out, remove — against the same image and command run
 * the way `docker run --rm` does it (create with auto-remove, attach, start, wait until removed), through the same
 * dockerode client, and through the docker CLI when it talks to this engine. Staging uploads are left out: they are
 * HTTP to the API, not container work. Variants take turns in every round so drift on the machine hits all alike.
 */
export const hostOverhead: Benchmark = {
  name: `host overhead per slot (${COMMAND.join(' ')}, ${RUNS} runs each after ${WARMUP_RUNS} warm-up)`,
  async run(log) {
    const docker = connectDocker();
    await buildJobImages(docker);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zansoc-bench-'));
    const cli = await dockerCli();
    const { images: allowedImages } = await resolveAllowList(docker, [JOB_IMAGE]);
    const variants: Variant[] = ['sandbox', 'sandboxNoQuota', 'raw', 'rawNoNetwork', 'floor', ...(cli ? ['cli' as const] : [])];
    const timings: Record<Variant, number[]> = { sandbox: [], sandboxNoQuota: [], raw: [], rawNoNetwork: [], floor: [], cli: [] };
    const runOnce: Record<Variant, (round: number) => Promise<void>> = {
      sandbox: (round) => sandboxRun(docker, workDir, allowedImages, round, true),
      sandboxNoQuota: (round) => sandboxRun(docker, workDir, allowedImages, round, false),
      raw: () => rawRun(docker),
      rawNoNetwork: () => rawRun(docker, 'none'),
      floor: () => rawRun(docker, 'fair'),
      cli: () => cliRun(cli ?? 'docker'),
    };
    try {
      for (let round = 0; round < WARMUP_RUNS + RUNS; round += 1) {
        for (let i = 0; i < variants.length; i += 1) {
          const variant = variants[(round + i) % variants.length];
          const started = process.hrtime.bigint();
          await runOnce[variant](round);
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          if (round >= WARMUP_RUNS) timings[variant].push(ms);
        }
      }
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }

    const sandbox = summarize(timings.sandbox);
    const raw = summarize(timings.raw);
    const rawNoNetwork = summarize(timings.rawNoNetwork);
    const floor = summarize(timings.floor);
    const row = (label: string, t: Summary) => log(`  ${label.padEnd(48)} p50 ${ms(t.p50)}  mean ${ms(t.mean)}  min ${ms(t.min)}  max ${ms(t.max)}`);
    row('runSandboxed (hardened, excl. staging upload)', sandbox);
    row('runSandboxed, SLOT_DISK_QUOTA=off (no slot disk)', summarize(timings.sandboxNoQuota));
    log(`  the slot disk (mkfs.ext4 + loop mount + unmount) adds: p50 ${ms(sandbox.p50 - summarize(timings.sandboxNoQuota).p50)}`);
    row('docker run --rm via dockerode', raw);
    row('docker run --rm --network none via dockerode', rawNoNetwork);
    row('the fair floor: docker run --rm, the slot\'s isolation', floor);
    if (cli) row('docker run --rm via the docker CLI', summarize(timings.cli));
    else log('  (the docker CLI does not answer against this engine: no CLI baseline)');
    log(`  ratio to docker run --rm (dockerode):                 p50 ${ratio(sandbox.p50, raw.p50)}  mean ${ratio(sandbox.mean, raw.mean)}`);
    log(`  ratio to docker run --rm --network none (dockerode):  p50 ${ratio(sandbox.p50, rawNoNetwork.p50)}  mean ${ratio(sandbox.mean, rawNoNetwork.mean)}`);
    if (cli) {
      const viaCli = summarize(timings.cli);
      log(`  ratio to docker run --rm (CLI):                       p50 ${ratio(sandbox.p50, viaCli.p50)}  mean ${ratio(sandbox.mean, viaCli.mean)}`);
    }
    log(`  ratio to the fair floor (the slot's isolation and limits): p50 ${ratio(sandbox.p50, floor.p50)}  mean ${ratio(sandbox.mean, floor.mean)}`);
    log(`  goal ≤ ${GOAL_RATIO}× (p50) against the fair floor: ${sandbox.p50 / floor.p50 <= GOAL_RATIO ? 'met' : 'NOT met'} (${ratio(sandbox.p50, floor.p50)}; ` +
      `against plain docker run --rm ${ratio(sandbox.p50, raw.p50)}, for context)`);
  },
};

async function sandboxRun(docker: Dockerode, workDir: string, allowedImages: string[], round: number, diskQuota: boolean): Promise<void> {
  const exec: SlotExecution = {
    executionId: `bench-${process.pid}-${round}-${diskQuota ? 'quota' : 'plain'}`,
    jobId: 'bench',
    image: JOB_IMAGE,
    command: COMMAND,
    env: {},
    resources: BENCH_RESOURCES,
    timeoutSeconds: 60,
    stagingUrl: 'http://staging.invalid',
  };
  const { result, logs } = await runSandboxed(docker, exec, { hostId: 'bench', workDir, allowedImages, diskQuota, logLimitBytes: 1024 * 1024, outputLimitBytes: BENCH_OUTPUT_LIMIT_BYTES });
  if (result.exitCode !== 0 || logs.toString() !== 'hello\n') throw new Error(`sandboxed run failed: exit ${result.exitCode}, logs ${logs.toString()}`);
}

/**
 * What `docker run --rm` does through the API: create with auto-remove, attach, start, wait until removed. With
 * `none`, on no network; with `fair`, with everything a slot is confined by (slotIsolation): the fair floor.
 */
export async function rawRun(docker: Dockerode, isolation?: 'none' | 'fair'): Promise<void> {
  const fair = isolation === 'fair' ? slotIsolation(BENCH_RESOURCES, BENCH_OUTPUT_LIMIT_BYTES) : undefined;
  const container = await docker.createContainer({
    Image: JOB_IMAGE,
    Cmd: COMMAND,
    AttachStdout: true,
    AttachStderr: true,
    ...(fair ? { User: fair.User } : {}),
    HostConfig: { AutoRemove: true, ...(isolation === 'none' ? { NetworkMode: 'none' } : {}), ...fair?.HostConfig },
  });
  const stream = await container.attach({ stream: true, stdout: true, stderr: true });
  const removed = container.wait({ condition: 'removed' }) as Promise<{ StatusCode: number }>;
  const output = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  })();
  await container.start();
  const [{ StatusCode }, logs] = await Promise.all([removed, output]);
  if (StatusCode !== 0 || !logs.includes('hello\n')) throw new Error(`raw run failed: exit ${StatusCode}`);
}

async function cliRun(cli: string): Promise<void> {
  const { stdout } = await promisify(execFile)(cli, ['run', '--rm', JOB_IMAGE, ...COMMAND]);
  if (stdout !== 'hello\n') throw new Error(`docker CLI run printed ${JSON.stringify(stdout)}`);
}

/** The docker CLI, if there is one that talks to this engine. */
async function dockerCli(): Promise<string | undefined> {
  for (const candidate of ['/usr/local/bin/docker', 'docker']) {
    try {
      await promisify(execFile)(candidate, ['version', '--format', '{{.Server.Version}}']);
      return candidate;
    } catch {
      // Try the next one.
    }
  }
  return undefined;
}

interface Summary {
  p50: number;
  mean: number;
  min: number;
  max: number;
}

function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const p50 = sorted.length % 2 ? sorted[Math.floor(middle)] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { p50, mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, min: sorted[0], max: sorted[sorted.length - 1] };
}

const ms = (value: number): string => `${value.toFixed(1).padStart(7)} ms`;
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
