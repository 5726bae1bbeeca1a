import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createHostActivities } from '../activities/host';
import { createApiClient } from '../api/client';
import { hostTaskQueue } from '../domain/execution';
import { connectDocker } from '../scripts/docker-engine';
import { detectCapabilities } from './capabilities';
import { readHostEnv } from './env';
import { defaultHostId, didOf, loadOrCreateHostKey } from './identity';
import { installWorkerRuntime } from '../scripts/temporal-runtime';

/** One host: detect what it has, register, heartbeat, and run slots pinned to it until SIGTERM drains it. */
async function main(): Promise<void> {
  installWorkerRuntime();
  const env = readHostEnv();
  const dataDir = resolve(env.HOST_DATA_DIR);
  const workDir = join(dataDir, 'work');
  mkdirSync(workDir, { recursive: true });
  const key = loadOrCreateHostKey(dataDir);
  const hostId = env.HOST_ID ?? defaultHostId(key.address);
  const caps = await detectCapabilities(workDir);
  const maxSlots = env.MAX_SLOTS ?? caps.cpus;
  const api = createApiClient(env.API_URL);
  const registration = {
    hostId, address: key.address, did: didOf(env.CHAIN_ID, key.address), ...caps, maxSlots,
    pricePerCpuSecond: env.PRICE_PER_CPU_SECOND,
  };
  await api.hosts.register.mutate(registration);
  console.log(`host ${hostId} (${registration.did}) offers ${maxSlots} slots on ${caps.cpus} cpus, ${caps.memoryMiB} MiB, ` +
    `${caps.diskMiB} MiB disk, ${caps.gpus} gpus, arch ${caps.arch}, at ${env.PRICE_PER_CPU_SECOND} per cpu-second`);

  const heartbeat = setInterval(() => {
    api.hosts.heartbeat.mutate({ hostId }).catch(async (err: unknown) => {
      // The API may have lost the host (a fresh database): announce it again.
      console.warn(`heartbeat failed: ${(err as Error).message}`);
      await api.hosts.register.mutate(registration).catch(() => undefined);
    });
  }, env.HEARTBEAT_SECONDS * 1000);

  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: hostTaskQueue(hostId),
    activities: createHostActivities({ docker: connectDocker(), hostId, workDir }),
    maxConcurrentActivityTaskExecutions: maxSlots,
    shutdownGraceTime: '30 seconds',
  });
  let draining = false;
  const drain = () => {
    // Ctrl-C in a terminal signals every process of the devnet, and the devnet then sends SIGTERM too.
    if (draining) return;
    draining = true;
    console.log(`host ${hostId} draining`);
    clearInterval(heartbeat);
    worker.shutdown();
  };
  process.once('SIGINT', drain);
  process.once('SIGTERM', drain);
  console.log(`host ${hostId} polling ${hostTaskQueue(hostId)}`);
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
