import { readFileSync } from 'node:fs';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Wallet } from 'ethers';
import { createApiClient, type ApiClient } from '../api/client';
import { didOf } from '../api/signing';
import { ZansocErrorType } from '../domain/errors';
import { HOST_ACTIVITY_POLLS, hostTaskQueue } from '../domain/execution';
import { certifyHost } from '../host-worker/temporal-identity';
import { installWorkerRuntime } from '../runtime/temporal';

/**
 * One process of the scale benchmark's simulated fleet (bench/scale.ts starts a few). Each of its hosts joins as a
 * real one does, short of running containers: registers its offer with the API under its own key (already staked on
 * HostRegistry by the benchmark), gets its own Temporal certificate from the API's host CA, polls `host.<id>` with a
 * Worker of its own, and heartbeats. Its offer advertises only FLEET_IMAGE, which no benchmark job runs: matching
 * weighs every fleet host and takes none, so the benchmark's real hosts run every job.
 *
 * Its configuration is a JSON file named by FLEET_CONFIG: { apiUrl, chainId, temporalAddress, namespace, keys }.
 * Prints "fleet ready <n>" once every host polls, and leaves on SIGTERM.
 */
export const FLEET_IMAGE = `zansoc/fleet-sim:1@sha256:${'0'.repeat(64)}`;
const HEARTBEAT_MS = 10_000;

interface FleetConfig { apiUrl: string; chainId: number; temporalAddress: string; namespace: string; keys: string[] }

async function joinOne(config: FleetConfig, key: string): Promise<{ api: ApiClient; hostId: string; connection: NativeConnection; worker: Worker; running: Promise<void> }> {
  const wallet = new Wallet(key);
  const hostId = `fleet-${wallet.address.slice(2, 12).toLowerCase()}`;
  const api = createApiClient(config.apiUrl, { signer: wallet, chainId: config.chainId });
  await api.hosts.register.mutate({
    hostId, address: wallet.address, did: didOf(config.chainId, wallet.address), arch: 'x86_64', cpus: 2, memoryMiB: 4096, diskMiB: 10_240,
    gpus: 0, gpuModel: null, maxSlots: 2, pricePerCpuSecond: '1000000000000', pricePerGibSecond: '0', pricePerGpuSecond: '0', operator: null,
    images: [FLEET_IMAGE],
  });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const temporalKey = {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string,
  };
  const identity = await certifyHost(api, hostId, temporalKey);
  // A connection carries one host's certificate, and the server lets it poll that host's queue only.
  const connection = await NativeConnection.connect({ address: config.temporalAddress, tls: identity.tls });
  const refuse = async (): Promise<never> => {
    throw ApplicationFailure.create({ type: ZansocErrorType.HostDraining, nonRetryable: true, message: `simulated host ${hostId} runs no work` });
  };
  const worker = await Worker.create({
    connection, namespace: config.namespace, taskQueue: hostTaskQueue(hostId),
    activities: { consentToBond: refuse, commitSlot: refuse, executeSlot: refuse },
    // As a real host: HOST_ACTIVITY_POLLS long polls on its queue (the SDK ignores maxConcurrentActivityTaskPolls).
    activityTaskPollerBehavior: { type: 'simple-maximum', maximum: HOST_ACTIVITY_POLLS },
  });
  return { api, hostId, connection, worker, running: worker.run() };
}

async function main(): Promise<void> {
  installWorkerRuntime();
  const config = JSON.parse(readFileSync(process.env.FLEET_CONFIG!, 'utf8')) as FleetConfig;
  const hosts: Awaited<ReturnType<typeof joinOne>>[] = [];
  // A few at a time: the API and the server see a fleet joining, not a thundering herd.
  // A host that cannot reach the API or Temporal tries again shortly, as a host worker restarted by its supervisor does.
  const join = async (key: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await joinOne(config, key);
      } catch (err) {
        if (attempt === 5) throw err;
        console.error(`fleet host could not join (attempt ${attempt}): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000 * attempt));
      }
    }
  };
  for (let i = 0; i < config.keys.length; i += 16) {
    hosts.push(...await Promise.all(config.keys.slice(i, i + 16).map(join)));
    console.log(`fleet joined ${hosts.length}`);
  }
  // Heartbeats spread over the interval, as independent machines' would be.
  const timers = hosts.map((host, i) => setTimeout(() => {
    const beat = () => void host.api.hosts.heartbeat.mutate({ hostId: host.hostId, freeSlots: 2 }).catch((err: Error) => console.error(`${host.hostId} heartbeat: ${err.message}`));
    beat();
    timers[i] = setInterval(beat, HEARTBEAT_MS);
  }, (i * HEARTBEAT_MS) / hosts.length));
  console.log(`fleet ready ${hosts.length}`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  for (const timer of timers) clearTimeout(timer);
  for (const host of hosts) host.worker.shutdown();
  await Promise.all(hosts.map(async (host) => {
    await host.running.catch(() => undefined);
    await host.connection.close();
  }));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  });
}
