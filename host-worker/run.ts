import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createApiClient } from '../api/client';
import { createHostMetrics, serveMetrics } from '../metrics/registry';
import { loadDeployment, type Deployment } from '../contracts/deployment';
import type { HostOffer } from '../domain/capabilities';
import { hostTaskQueue } from '../domain/execution';
import { connectDocker } from '../runtime/docker';
import { createHostRuntime } from './activities/compute';
import { createConsentActivities } from './activities/consent';
import { createStorageHostActivities } from './activities/storage';
import type { HostActivities } from './activities/types';
import { detectCapabilities } from './capabilities';
import { ChunkStore } from './chunk-store';
import { buildOffer, type HostEnv } from './env';
import { reconcileContainers, startReconciling } from './reconcile';
import { ensureHostStake } from './stake';
import { didOf } from '../api/signing';
import { defaultHostId, hostKeyPassphrase, loadOrCreateHostKey } from './identity';

/**
 * Room on the host's own queue for storage work beside its slots: proofs have deadlines and must not wait behind
 * long-running slots (the ledger, not this count, bounds how many slots run).
 */
const STORAGE_TASKS_BESIDE_SLOTS = 4;

export interface RunningHost {
  hostId: string;
  did: string;
  offer: HostOffer;
  /** The one queue it polls, `host.<id>`: everything a workflow asks of this host is pinned to it. */
  taskQueue: string;
  /** Stops taking work, lets running slots finish up to the grace period, hands the rest back, leaves. */
  drain(): Promise<void>;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
}

/**
 * Joins this machine to the network: opens (or creates) its key, detects what it has, registers its offer, and polls
 * its own queue `host.<id>`. `zansoc host join` and the host-worker process both run this.
 */
export async function joinNetwork(env: HostEnv, log: (line: string) => void = console.log): Promise<RunningHost> {
  const dataDir = resolve(env.HOST_DATA_DIR);
  const workDir = join(dataDir, 'work');
  mkdirSync(workDir, { recursive: true });
  const { wallet, created } = await loadOrCreateHostKey(dataDir, await hostKeyPassphrase());
  const hostId = env.HOST_ID ?? defaultHostId(wallet.address);
  const did = didOf(env.CHAIN_ID, wallet.address);
  const machine = await detectCapabilities(workDir);
  const offer = buildOffer(env, machine);
  const taskQueue = hostTaskQueue(hostId);

  log(`host ${hostId} ${created ? 'created its key' : 'opened its key'}: ${did}`);
  log(`  detected: ${machine.arch}, ${machine.cpus} cpus, ${machine.memoryMiB} MiB memory, ${machine.diskMiB} MiB free disk, ` +
    `${machine.gpus.length ? machine.gpus.map((g) => `${g.model} (${g.memoryMiB} MiB)`).join(', ') : 'no GPU'}`);
  log(`  offers:   ${offer.cpus} cpus, ${offer.memoryMiB} MiB memory, ${offer.diskMiB} MiB disk, ${offer.gpus} GPUs, ` +
    `${offer.maxSlots} slots; per second: ${offer.pricePerCpuSecond}/cpu, ${offer.pricePerGibSecond}/GiB, ${offer.pricePerGpuSecond}/GPU (ZSC base units)`);

  let deployment: Deployment | null = null;
  if (env.RPC_URL && env.DEPLOYMENT_FILE) {
    deployment = loadDeployment(env.DEPLOYMENT_FILE);
    const { staked, sent } = await ensureHostStake({ rpcUrl: env.RPC_URL, deployment, wallet, stake: BigInt(env.STAKE), offer });
    log(`  staked:   ${staked} ZSC base units on HostRegistry ${deployment.hostRegistry}${sent.length ? ` (${sent.length} transaction(s))` : ''}`);
  } else {
    log('  staked:   nothing (no RPC_URL and DEPLOYMENT_FILE: this host is not on a chain)');
  }

  const api = createApiClient(env.API_URL, { signer: wallet, chainId: env.CHAIN_ID });
  const { arch, cpus, memoryMiB, diskMiB, gpus, gpuModel, maxSlots, pricePerCpuSecond, pricePerGibSecond, pricePerGpuSecond } = offer;
  const registration = {
    hostId, address: wallet.address, did, arch, cpus, memoryMiB, diskMiB, gpus, gpuModel, maxSlots,
    pricePerCpuSecond, pricePerGibSecond, pricePerGpuSecond, operator: env.OPERATOR ?? null,
  };
  await api.hosts.register.mutate(registration).catch((err: Error) => {
    throw new Error(`could not register with the API at ${env.API_URL}: ${err.message}`);
  });

  const docker = connectDocker();
  const metrics = createHostMetrics();
  const staging = { signer: wallet, chainId: env.CHAIN_ID };
  const runtime = createHostRuntime({ docker, hostId, workDir, offer, metrics, staging });
  const { ledger } = runtime;

  let draining = false;
  const heartbeat = setInterval(() => {
    // The ledger holds every slot this host runs, adopted containers too: matching counts free slots from this.
    api.hosts.heartbeat.mutate({ hostId, freeSlots: ledger.free().slots }).catch(async (err: unknown) => {
      // The API may have lost the host (a fresh database): announce it again.
      log(`heartbeat failed: ${(err as Error).message}`);
      if (!draining) await api.hosts.register.mutate(registration).catch(() => undefined);
    });
  }, env.HEARTBEAT_SECONDS * 1000);

  const metricsServer = env.METRICS_ADDRESS ? await serveMetrics(metrics.registry, env.METRICS_ADDRESS) : null;
  const activities = env.ZANSOC_TEST_CHEAT ? cheating(runtime.activities, hostId) : runtime.activities;
  if (env.ZANSOC_TEST_CHEAT) log(`host ${hostId} CHEATS (${env.ZANSOC_TEST_CHEAT}): a test fixture`);
  const chunksDir = join(dataDir, 'chunks');
  const store = new ChunkStore(chunksDir);
  const storage = createStorageHostActivities({ store, hostAddress: wallet.address, metrics, hostId, staging });
  // Off chain there is nothing to bond to, so nothing to consent to.
  const consent = deployment
    ? createConsentActivities({ wallet, chainId: env.CHAIN_ID, escrows: deployment, maxBond: BigInt(env.MAX_BOND ?? env.STAKE), log: (line) => log(`host ${hostId} ${line}`) })
    : {};
  log(`  storage:  ${(await store.deals()).length} deal(s), ${await store.bytesStored()} sealed bytes in ${chunksDir}`);
  // Containers of a previous run: running ones wait for their retried activity to adopt them, stale ones go.
  const found = await reconcileContainers(docker, hostId, { ledger, workDir, log });
  if (found.running.length || found.removed.length) {
    log(`  found ${found.running.length} running container(s) to adopt, removed ${found.removed.length} stale one(s)`);
  }
  const reconciler = startReconciling(docker, hostId, { ledger, workDir, log });
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue,
    activities: { ...activities, ...storage, ...consent },
    maxConcurrentActivityTaskExecutions: offer.maxSlots + STORAGE_TASKS_BESIDE_SLOTS,
    shutdownGraceTime: `${env.DRAIN_GRACE_SECONDS} seconds`,
  });
  const done = worker.run().then(async () => {
    clearInterval(heartbeat);
    await reconciler.stop();
    await connection.close();
    metricsServer?.close();
  });
  log(`host ${hostId} polling ${taskQueue}`);

  return {
    hostId, did, offer, taskQueue, done,
    async drain() {
      if (draining) return done;
      draining = true;
      log(`host ${hostId} draining: no new work, ${env.DRAIN_GRACE_SECONDS}s for running slots`);
      await api.hosts.setStatus.mutate({ hostId, status: 'draining' }).catch((err: Error) => log(`could not tell the API: ${err.message}`));
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
      await api.hosts.setStatus.mutate({ hostId, status: 'offline' }).catch((err: Error) => log(`could not tell the API: ${err.message}`));
      log(`host ${hostId} left`);
    },
  };
}

/** The test fixture for cheaters: runs the job, then reports a digest of its own making (a different one per host). */
function cheating(activities: HostActivities, hostId: string): HostActivities {
  return {
    ...activities,
    async executeSlot(exec) {
      const result = await activities.executeSlot(exec);
      const forged = createHash('sha256').update(`forged by ${hostId}:${result.resultDigest}`).digest('hex');
      return { ...result, resultDigest: forged };
    },
  };
}
