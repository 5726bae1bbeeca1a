import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { Wallet } from 'ethers';
import { createApiClient } from '../api/client';
import { createHostMetrics, serveMetrics } from '../metrics/registry';
import { loadDeployment, type Deployment } from '../contracts/deployment';
import type { HostOffer } from '../domain/capabilities';
import { ZansocErrorType } from '../domain/errors';
import { MAX_SLOT_ACTIVITY_SECONDS } from '../domain/job-limits';
import { HOST_ACTIVITY_POLLS, hostTaskQueue, type SlotExecution } from '../domain/execution';
import { connectDocker } from '../runtime/docker';
import { createHostRuntime, pruneSealedResults, sealResults, type ResultSealing } from './activities/compute';
import { createConsentActivities } from './activities/consent';
import { createStorageHostActivities } from './activities/storage';
import type { HostActivities } from './activities/types';
import { detectCapabilities } from './capabilities';
import { resolveAllowList } from './images';
import { prepareWorkDir, probeSlotDisks } from './slot-disk';
import { ChunkStore } from './chunk-store';
import { resealingOnChallenge } from './storage-cheat';
import { buildOffer, type HostEnv } from './env';
import { reconcileContainers, startReconciling } from './reconcile';
import { ensureHostStake } from './stake';
import { didOf } from '../api/signing';
import { defaultHostId, hostKeyPassphrase, loadOrCreateHostKey } from './identity';
import { certifyHost, loadOrCreateTemporalKey } from './temporal-identity';
import type { TemporalTls } from '../runtime/temporal';

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
  await prepareWorkDir(workDir);
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

  const docker = connectDocker();
  const allowList = await resolveAllowList(docker, env.ALLOWED_IMAGES);
  for (const missing of allowList.missing) log(`  WARNING:  the default job image ${missing} is not built here; set ALLOWED_IMAGES to the images this host runs`);
  log(`  runs:     ${allowList.images.length ? allowList.images.join(', ') : 'no image (no compute job will be matched here)'}`);
  const diskQuota = env.SLOT_DISK_QUOTA === 'loop';
  if (diskQuota) {
    log(`  disks:    each slot on a filesystem of its own (loop-mounted ext4; ${await probeSlotDisks(workDir)} ms to make one and throw it away)`);
  } else {
    log('  WARNING:  SLOT_DISK_QUOTA=off: job slots have NO disk quota; only a poll of /out stands between a job and this machine\'s disk');
  }

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
    pricePerCpuSecond, pricePerGibSecond, pricePerGpuSecond, operator: env.OPERATOR ?? null, images: allowList.images,
  };
  await api.hosts.register.mutate(registration).catch((err: Error) => {
    throw new Error(`could not register with the API at ${env.API_URL}: ${err.message}`);
  });

  const metrics = createHostMetrics();
  // Results are sealed with the host's own key: the workflow checks every commitment and reveal against its address.
  const seal: ResultSealing = { signer: wallet, chainId: env.CHAIN_ID, dir: join(dataDir, 'sealed') };
  const pruned = await pruneSealedResults(seal.dir);
  if (pruned) log(`  removed ${pruned} sealed result(s) older than any round`);
  // Its reads of inputs and writes of outputs in staging are signed with the same key.
  const staging = { signer: wallet, chainId: env.CHAIN_ID };
  // Fired when a draining host's grace runs out: what still runs is stopped and handed back to be re-matched.
  const leaving = new AbortController();
  const runtime = createHostRuntime({ docker, hostId, workDir, allowedImages: allowList.images, diskQuota, offer, metrics, seal, staging, leaving: leaving.signal });
  const { ledger } = runtime;

  let draining = false;
  let renewIdentity = async (): Promise<void> => undefined;
  const beat = () => {
    // The ledger holds every slot this host runs, adopted containers too: matching counts free slots from this.
    api.hosts.heartbeat.mutate({ hostId, freeSlots: ledger.free().slots }).catch(async (err: unknown) => {
      // The API may have lost the host (a fresh database): announce it again.
      log(`heartbeat failed: ${(err as Error).message}`);
      if (!draining) await api.hosts.register.mutate(registration).catch(() => undefined);
    });
  };
  const heartbeat = setInterval(() => {
    void renewIdentity();
    beat();
  }, env.HEARTBEAT_SECONDS * 1000);
  // A slot that ends is room at once: the API wakes the work waiting for a host on this beat, not the next.
  ledger.onFreed = () => {
    if (!draining) beat();
  };
  // A slot that starts is room taken at once: matching reads it before it sends the next job here.
  ledger.onReserved = () => {
    if (!draining) beat();
  };

  const metricsServer = env.METRICS_ADDRESS ? await serveMetrics(metrics.registry, env.METRICS_ADDRESS) : null;
  const activities = env.ZANSOC_TEST_CHEAT && env.ZANSOC_TEST_CHEAT !== 'reseal-on-challenge'
    ? cheating(runtime.activities, hostId, env.ZANSOC_TEST_CHEAT, seal) : runtime.activities;
  if (env.ZANSOC_TEST_CHEAT) log(`host ${hostId} CHEATS (${env.ZANSOC_TEST_CHEAT}): a test fixture`);
  const chunksDir = join(dataDir, 'chunks');
  const store = new ChunkStore(chunksDir);
  const honestStorage = createStorageHostActivities({ store, hostAddress: wallet.address, metrics, hostId, staging });
  const storage = env.ZANSOC_TEST_CHEAT === 'reseal-on-challenge'
    ? resealingOnChallenge(honestStorage, store, wallet.address, join(dataDir, 'cheat-chunks')) : honestStorage;
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
  // While the host drains it takes no new slot or bond (HostDraining: the workflow re-matches at once), but it still
  // answers the reveals of the slots it committed, so an honest host that leaves is not taken for one that vanished.
  const unrevealed = new Set<string>();
  const leavingError = (what: string) => ApplicationFailure.create({
    type: ZansocErrorType.HostDraining, nonRetryable: true, message: `host ${hostId} is leaving and takes no new ${what}`,
  });
  type Activities = Record<string, (...args: never[]) => Promise<unknown>>;
  const whileLeaving = (all: Activities): Activities => {
    const { consentToBond, commitSlot, revealSlot } = all as Partial<HostActivities> & { consentToBond?: (request: never) => Promise<unknown> };
    return {
      ...all,
      ...(consentToBond ? { consentToBond: async (request: never) => {
        if (draining) throw leavingError('bond');
        return consentToBond(request);
      } } : {}),
      ...(commitSlot ? { commitSlot: async (exec: SlotExecution) => {
        // A slot it already holds (one adopted after a restart) is still its to finish.
        if (draining && !ledger.holds(exec.executionId)) throw leavingError('slot');
        const committed = await commitSlot(exec);
        unrevealed.add(exec.executionId);
        return committed;
      } } : {}),
      ...(revealSlot ? { revealSlot: async (request: Parameters<HostActivities['revealSlot']>[0]) => {
        try {
          return await revealSlot(request);
        } finally {
          unrevealed.delete(request.executionId);
        }
      } } : {}),
    };
  };
  // Temporal: the host's own certificate from the API's host CA (none where the network's Temporal is plaintext).
  const temporalKey = loadOrCreateTemporalKey(dataDir);
  let identity = await certifyHost(api, hostId, temporalKey).catch((err: Error) => {
    throw new Error(`could not get a Temporal certificate from the API at ${env.API_URL}: ${err.message}`);
  });
  if (identity.tls) log(`  temporal: mTLS as zansoc-host:${hostId}, certificate valid until ${new Date(identity.notAfterMs!).toISOString()}`);
  const startPolling = async (tls: TemporalTls | undefined): Promise<Polling> => {
    const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS, tls });
    const worker = await Worker.create({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue,
      activities: whileLeaving({ ...activities, ...storage, ...consent }),
      maxConcurrentActivityTaskExecutions: offer.maxSlots + STORAGE_TASKS_BESIDE_SLOTS,
      // A host's queue carries its own few tasks: HOST_ACTIVITY_POLLS in flight take a burst one after the other in
      // milliseconds, where the SDK's default of up to 10 per host would hold 10,000 long polls open for 1,000 hosts.
      activityTaskPollerBehavior: { type: 'simple-maximum', maximum: HOST_ACTIVITY_POLLS },
      // A worker retired by a certificate renewal stops polling but lets every slot it runs finish, however long;
      // a drain cuts its own grace short through `leaving`.
      shutdownGraceTime: `${MAX_SLOT_ACTIVITY_SECONDS} seconds`,
    });
    return { connection, worker, running: worker.run(), replaced: false };
  };
  let polling = await startPolling(identity.tls);
  // A renewed certificate takes effect on a fresh connection: a worker on it takes over the polling at once, and the
  // one it replaces stops polling but finishes the slots it runs on the old connection (a connection stays up past
  // its certificate's expiry; only a reconnect needs the new one). So a host that is never idle still renews.
  const retiring = new Set<Promise<void>>();
  let rotating = false;
  renewIdentity = async () => {
    if (draining || rotating) return;
    if (identity.renewAtMs === null || Date.now() < identity.renewAtMs) return;
    rotating = true;
    try {
      const renewed = await certifyHost(api, hostId, temporalKey);
      log(`host ${hostId} renewed its Temporal certificate, valid until ${new Date(renewed.notAfterMs!).toISOString()}`);
      const next = await startPolling(renewed.tls);
      identity = renewed;
      const old = polling;
      old.replaced = true;
      polling = next;
      if (draining) next.worker.shutdown();
      old.worker.shutdown();
      const busy = ledger.usage().slots;
      const retired = old.running
        .then(() => old.connection.close())
        .then(() => { if (busy) log(`host ${hostId} closed its connection on the old certificate: its slots there ended`); })
        .catch((err: Error) => log(`host ${hostId}: the worker on its old certificate ended with ${err.message}`))
        .finally(() => retiring.delete(retired));
      retiring.add(retired);
      log(`host ${hostId} polls on its renewed certificate${busy ? ` (${busy} running slot(s) finish on the old connection)` : ''}`);
    } catch (err) {
      log(`host ${hostId} could not renew its Temporal certificate: ${(err as Error).message}`);
    } finally {
      rotating = false;
    }
  };
  const done = (async () => {
    // The current worker's end is the host's end, unless a renewal replaced it (its retirement closes it).
    for (;;) {
      const current = polling;
      await current.running;
      if (current.replaced) continue;
      await current.connection.close();
      break;
    }
    await Promise.all(retiring);
    clearInterval(heartbeat);
    await reconciler.stop();
    metricsServer?.close();
  })();
  log(`host ${hostId} polling ${taskQueue}`);

  return {
    hostId, did, offer, taskQueue, done,
    async drain() {
      if (draining) return done;
      draining = true;
      log(`host ${hostId} draining: no new work, ${env.DRAIN_GRACE_SECONDS}s for running slots`);
      await api.hosts.setStatus.mutate({ hostId, status: 'draining' }).catch((err: Error) => log(`could not tell the API: ${err.message}`));
      // Still polling: running slots finish and committed ones are revealed, for up to the grace period.
      const until = Date.now() + env.DRAIN_GRACE_SECONDS * 1000;
      while (Date.now() < until && (ledger.usage().slots > 0 || unrevealed.size > 0)) await new Promise((r) => setTimeout(r, 200));
      if (unrevealed.size > 0) log(`host ${hostId} leaves ${unrevealed.size} committed slot(s) unrevealed after ${env.DRAIN_GRACE_SECONDS}s`);
      // The grace is over: slots still running stop and go back to be re-matched.
      leaving.abort();
      if (polling.worker.getState() === 'RUNNING') polling.worker.shutdown();
      await done;
      await api.hosts.setStatus.mutate({ hostId, status: 'offline' }).catch((err: Error) => log(`could not tell the API: ${err.message}`));
      log(`host ${hostId} left`);
    },
  };
}

/** One worker on the host's queue and its connection; a certificate renewal replaces both. */
interface Polling {
  connection: NativeConnection;
  worker: Worker;
  running: Promise<void>;
  replaced: boolean;
}

/**
 * The test fixture for cheaters. corrupt-digest: runs the job, then reports (and commits to) a digest of its own making,
 * a different one per host. forge-signature: runs the job honestly but signs its commitment with a key that is not the
 * host's, as a host passing off another's result would.
 */
function cheating(activities: HostActivities, hostId: string, how: 'corrupt-digest' | 'forge-signature', seal: ResultSealing): HostActivities {
  if (how === 'forge-signature') return { ...activities, ...sealResults(activities.executeSlot, { ...seal, signer: Wallet.createRandom() }) };
  const executeSlot: HostActivities['executeSlot'] = async (exec) => {
    const result = await activities.executeSlot(exec);
    const forged = createHash('sha256').update(`forged by ${hostId}:${result.resultDigest}`).digest('hex');
    return { ...result, resultDigest: forged };
  };
  return { ...activities, executeSlot, ...sealResults(executeSlot, seal) };
}
