import { installWorkerRuntime } from '../runtime/temporal';
import { readHostEnv } from './env';
import { joinNetwork } from './run';

/** The host-worker process: join, then run until SIGTERM/SIGINT drains it; exits 0 after a clean drain. */
async function main(): Promise<void> {
  installWorkerRuntime();
  const host = await joinNetwork(readHostEnv());
  const drain = () => void host.drain().then(() => process.exit(0));
  process.once('SIGINT', drain);
  process.once('SIGTERM', drain);
  await host.done;
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
