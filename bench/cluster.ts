import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevnet } from '../scripts/devnet';
import type { Benchmark } from './benchmark';
import { ms, percentile, runJob } from './lifecycle';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);

/** End-to-end time of one trivial job at a time on a 2-host devnet, after 3 warm-up jobs: p50 over RUNS jobs. */
async function jobLatencyP50(cluster: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), `zansoc-bench-${cluster ? 'cluster' : 'dev'}-`));
  const devnet = await startDevnet({ dir, hosts: 2, headless: true, log: () => undefined, spotCheckFraction: 0, rateLimitPerMinute: 1_000_000, cluster });
  try {
    for (let i = 0; i < 3; i++) await runJob(devnet, false);
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await runJob(devnet, false);
      samples.push(performance.now() - t);
    }
    return percentile(samples, 50);
  } finally {
    await devnet.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The same trivial job end to end on Zansoc's Temporal server embedded (one process, SQLite) and on a cluster of Zansoc's Temporal server on
 * PostgreSQL (each service its own process, the read model on PostgreSQL, two orchestrator workers), in one run. No
 * goal is set: the figure says what running as production does costs a job.
 */
export const cluster: Benchmark = {
  name: 'a job end to end on a Temporal cluster on PostgreSQL ÷ embedded (one process, SQLite)',
  async run(log) {
    const dev = await jobLatencyP50(false);
    log(`  embedded (one process, SQLite): job end to end p50 ${ms(dev)} over ${RUNS} jobs`);
    const onCluster = await jobLatencyP50(true);
    log(`  cluster (PostgreSQL, 4 service processes, 2 orchestrator workers): p50 ${ms(onCluster)} over ${RUNS} jobs`);
    log(`  ratio cluster ÷ embedded: ${(onCluster / dev).toFixed(2)}×`);
  },
};
