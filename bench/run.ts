import { ensureDockerEngine } from '../scripts/docker-engine';
import type { Benchmark } from './benchmark';
import { hostOverhead } from './host-overhead';
import { lifecycle } from './lifecycle';

/** Every benchmark `npm run bench` runs, in order; add a module's export here. */
const benchmarks: Benchmark[] = [hostOverhead, lifecycle];

async function main(): Promise<void> {
  // The benchmarks need a Docker engine: one is started (and stopped after) when none answers.
  const engine = await ensureDockerEngine();
  try {
    for (const benchmark of benchmarks) {
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
