import { ensureDockerEngine } from '../scripts/docker-engine';
import type { Benchmark } from './benchmark';
import { cluster } from './cluster';
import { scale } from './scale';
import { hostOverhead } from './host-overhead';
import { lifecycle } from './lifecycle';
import { storage } from './storage';

/** Every benchmark `npm run bench` runs, in order; add a module's export here. */
const benchmarks: Benchmark[] = [hostOverhead, lifecycle, storage, cluster, scale];

async function main(): Promise<void> {
  // The benchmarks need a Docker engine: one is started (and stopped after) when none answers.
  const engine = await ensureDockerEngine();
  try {
    // BENCH_ONLY=<word> runs only the benchmarks whose name contains it, e.g. BENCH_ONLY=storage.
    const only = process.env.BENCH_ONLY;
    for (const benchmark of benchmarks.filter((b) => !only || b.name.includes(only))) {
      console.log(`== ${benchmark.name}`);
      await benchmark.run((line) => console.log(line));
    }
  } finally {
    await engine.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
