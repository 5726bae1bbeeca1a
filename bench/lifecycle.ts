import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { openDatabase } from '../db/client';
import type { JobSpecInput } from '../domain/job-spec';
import { JOB_IMAGE } from '../scripts/build-images';
import { connectDocker } from '../runtime/docker';
import { startDevnet, type Devnet } from '../scripts/devnet';
import { isFinalJobState } from '../domain/job-state';
import type { Benchmark } from './benchmark';
import { describeBreakdown } from './breakdown';
import { cpuPerUnit, snapshotCpu } from './cpu';
import { COMMAND, rawRun } from './host-overhead';

const HOSTS = Number(process.env.BENCH_HOSTS ?? 20);
const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 15);
const THROUGHPUT_SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const GOALS = { resultRatio: 1.5, settledRatio: 2.5, submitToRunningP50Ms: 2000, submitToRunningP99Ms: 5000, throughputRatio: 0.7 };

/** The trivial job of every figure: one replica, no challenge window. */
const TRIVIAL: JobSpecInput = {
  image: JOB_IMAGE, command: COMMAND, resources: { cpu: 0.1, memoryMiB: 32, diskMiB: 8 }, timeoutSeconds: 60, replicas: 1, challengeWindowSeconds: 0,
};

/**
 * The whole compute lifecycle on the devnet — API, Temporal, escrow and settlement on anvil, matching, a host worker
 * running the container, the read model — against raw `docker run --rm` of the same image and command on the same
 * engine, confined as a slot is (the fair floor; plain `docker run --rm` is printed beside it), in one run:
 *  - latency: end-to-end time of one trivial job at a time ÷ one fair-floor run at a time (p50);
 *  - submit→running: from the API accepting the job to the workflow marking it RUNNING (the read model's createdAt
 *    and startedAt), p50 and p99 over every job of the run, with HOSTS host workers;
 *  - throughput: jobs/s completed for THROUGHPUT_SECONDS with CONCURRENCY in flight (every one must succeed) ÷
 *    fair-floor containers/s at the same concurrency for the same time;
 *  - breakdown: where the median latency job's time went, per step, from its workflow history's timestamps.
 */
export const lifecycle: Benchmark = {
  name: `compute job lifecycle (${HOSTS} host workers, ${COMMAND.join(' ')}, r=1, window 0)`,
  async run(log) {
    const dir = mkdtempSync(join(tmpdir(), 'zansoc-bench-devnet-'));
    const started = Date.now();
    const devnet = await startDevnet({
      dir, hosts: HOSTS, headless: true, log: () => undefined, hostEnv: { MAX_SLOTS: '2' }, spotCheckFraction: 0, rateLimitPerMinute: 1_000_000,
    });
    log(`  devnet with ${HOSTS} host workers up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const db = openDatabase(devnet.databaseUrl);
    const docker = connectDocker();
    try {
      // Warm-up: the first job pays for Temporal's and the workers' first-use costs.
      for (let i = 0; i < 3; i++) await runJob(devnet);
      await rawRun(docker);

      const e2e: number[] = [];
      const toResult: number[] = [];
      const raw: number[] = [];
      const fair: number[] = [];
      const ids: string[] = [];
      for (let i = 0; i < LATENCY_RUNS; i++) {
        const run = await runJob(devnet);
        ids.push(run.id);
        e2e.push(run.settledMs);
        toResult.push(run.resultMs);
        let t = performance.now();
        await rawRun(docker);
        raw.push(performance.now() - t);
        t = performance.now();
        await rawRun(docker, 'fair');
        fair.push(performance.now() - t);
      }
      // Judged by the fair floor: docker run --rm confined as a slot is (no network, caps, user, read-only root, limits).
      const floor = percentile(fair, 50);
      const resultRatio = percentile(toResult, 50) / floor;
      const settledRatio = percentile(e2e, 50) / floor;
      log(`  latency, one job at a time (${LATENCY_RUNS} runs): floors: docker run --rm p50 ${ms(percentile(raw, 50))}, ` +
        `with the slot's isolation (fair) p50 ${ms(floor)}`);
      log(`    submit → the verified result and its logs readable: p50 ${ms(percentile(toResult, 50))} (p99 ${ms(percentile(toResult, 99))}), ` +
        `${resultRatio.toFixed(2)}× the fair floor (${(percentile(toResult, 50) / percentile(raw, 50)).toFixed(2)}× the plain one)`);
      log(`    submit → SUCCEEDED, paid on chain: p50 ${ms(percentile(e2e, 50))} (p99 ${ms(percentile(e2e, 99))}), ` +
        `${settledRatio.toFixed(2)}× the fair floor (${(percentile(e2e, 50) / percentile(raw, 50)).toFixed(2)}× the plain one)`);

      // The job whose end-to-end time is the median's: its history says where that time went.
      const median = ids[e2e.indexOf(percentile(e2e, 50))];
      const connection = await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls });
      try {
        const history = await new Client({ connection }).workflow.getHandle(`job-${median}`).fetchHistory();
        log(`  where the median job's time goes (job-${median}, ${ms(e2e[ids.indexOf(median)])} end to end, from its history; the rest is the API, Temporal's start and the client's wait (jobs.wait)):`);
        for (const line of describeBreakdown(history)) log(`    ${line}`);
      } finally {
        await connection.close();
      }

      const roles = new Map([...devnet.processes].map(([name, child]) => [child.pid!, name]));
      let cpu = snapshotCpu(roles);
      const jobs = await saturate(THROUGHPUT_SECONDS, CONCURRENCY, () => runJob(devnet, false));
      const jobsCpu = cpuPerUnit(cpu, snapshotCpu(roles), Math.max(1, jobs.done));
      cpu = snapshotCpu(roles);
      const containers = await saturate(THROUGHPUT_SECONDS, CONCURRENCY, () => rawRun(docker, 'fair'));
      const containersCpu = cpuPerUnit(cpu, snapshotCpu(roles), Math.max(1, containers.done));
      const jobRate = jobs.done / jobs.seconds;
      const rawRate = containers.done / containers.seconds;
      log(`  throughput at ${CONCURRENCY} in flight for ${THROUGHPUT_SECONDS} s: ${jobs.done} jobs succeeded (${jobRate.toFixed(2)}/s, ` +
        `${jobs.failed} failed or lost), the fair floor ${containers.done} containers (${rawRate.toFixed(2)}/s); ratio ${(jobRate / rawRate).toFixed(2)}`);
      // A lost job is a reliability bug, not a figure: say which and why.
      for (const reason of jobs.why.slice(0, 5)) log(`    failed or lost: ${reason}`);
      // Why the ratio is what it is: the CPU each job costs the machine, by process, against a floor container's.
      log(`  CPU per job while saturated, by process (the cores could carry at most ${jobsCpu.ceilingPerSecond.toFixed(2)} jobs/s at this cost):`);
      for (const line of jobsCpu.lines) log(`    ${line}`);
      log(`  CPU per fair-floor container while saturated (at most ${containersCpu.ceilingPerSecond.toFixed(2)} containers/s):`);
      for (const line of containersCpu.lines) log(`    ${line}`);

      const rows = await db.job.findMany({ where: { startedAt: { not: null } }, select: { createdAt: true, startedAt: true } });
      const waits = rows.map((r) => r.startedAt!.getTime() - r.createdAt.getTime());
      log(`  submit→running over ${waits.length} jobs: p50 ${ms(percentile(waits, 50))}, p99 ${ms(percentile(waits, 99))}`);

      const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
      log(`  goal latency to the result ≤ ${GOALS.resultRatio}×: ${verdict(resultRatio <= GOALS.resultRatio)} (${resultRatio.toFixed(2)}×)`);
      log(`  goal latency to settled ≤ ${GOALS.settledRatio}×: ${verdict(settledRatio <= GOALS.settledRatio)} (${settledRatio.toFixed(2)}×)`);
      log(`  goal submit→running p50 < ${GOALS.submitToRunningP50Ms / 1000} s: ${verdict(percentile(waits, 50) < GOALS.submitToRunningP50Ms)} (${ms(percentile(waits, 50))})`);
      log(`  goal submit→running p99 < ${GOALS.submitToRunningP99Ms / 1000} s: ${verdict(percentile(waits, 99) < GOALS.submitToRunningP99Ms)} (${ms(percentile(waits, 99))})`);
      log(`  goal throughput ratio ≥ ${GOALS.throughputRatio} with none lost: ${verdict(jobRate / rawRate >= GOALS.throughputRatio && jobs.failed === 0)} ` +
        `(${(jobRate / rawRate).toFixed(2)}, ${jobs.failed} lost)`);
    } finally {
      await db.$disconnect();
      await devnet.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/**
 * Submits the trivial job and waits for it to succeed, following it as a client would (jobs.wait): its id, when the
 * client could first read the verified result and all of its logs (with `readResult`; the job SETTLING or done, its
 * digests set, `jobs.logs` complete), and when it was SUCCEEDED with the money on chain, both from the submit.
 */
export async function runJob(devnet: Devnet, readResult = true): Promise<{ id: string; resultMs: number; settledMs: number }> {
  const start = performance.now();
  const { job } = await devnet.api.jobs.submit.mutate({ spec: TRIVIAL });
  let resultMs = NaN;
  // Followed as a client follows a job: each wait answers once the job moves on from the state last seen.
  let seen = job;
  for (const deadline = start + 120_000; ;) {
    seen = await devnet.api.jobs.wait.query({ jobId: job.id, state: seen.state, stateReason: seen.stateReason ?? undefined, timeoutSeconds: 5 });
    if (readResult && Number.isNaN(resultMs) && seen.resultDigest && seen.logsSha256 && (seen.state === 'SETTLING' || isFinalJobState(seen.state))) {
      if ((await devnet.api.jobs.logs.query({ jobId: job.id })).complete) resultMs = performance.now() - start;
    }
    if (isFinalJobState(seen.state)) {
      if (seen.state !== 'SUCCEEDED') throw new Error(`job ${job.id} ended ${seen.state}: ${seen.stateReason}`);
      return { id: job.id, resultMs, settledMs: performance.now() - start };
    }
    if (performance.now() > deadline) throw new Error(`job ${job.id} still ${seen.state} after 120 s${seen.stateReason ? `: ${seen.stateReason}` : ''}`);
  }
}

/** Runs `task` with `concurrency` in flight until `seconds` pass; counts what finished and what failed, and why. */
export async function saturate(seconds: number, concurrency: number, task: () => Promise<unknown>) {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  const why: string[] = [];
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      try {
        await task();
        done++;
      } catch (err) {
        failed++;
        why.push((err as Error).message);
      }
    }
  }));
  return { done, failed, why, seconds: (performance.now() - start) / 1000 };
}

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const ms = (value: number): string => `${value.toFixed(0)} ms`;
