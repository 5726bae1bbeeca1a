import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Wallet } from 'ethers';
import { connectChain } from '../activities/chain/client';
import { createChainActivities } from '../activities/chain';
import { createApiClient, type ApiClient } from '../api/client';
import { buildContracts } from '../contracts/build';
import { deployContracts } from '../contracts/deploy';
import { saveDeployment, type Deployment } from '../contracts/deployment';
import { migrateDatabase } from '../db/client';
import { loadOrCreateHostKey } from '../host-worker/identity';
import { isFinalJobState } from '../domain/job-state';
import type { JobSpecInput } from '../domain/job-spec';
import { ANVIL_KEYS, startAnvil } from './anvil';
import { unmountSlotDisksUnder } from '../host-worker/slot-disk';
import { buildJobImages, JOB_IMAGE } from './build-images';
import { ensureDockerEngine } from './docker-engine';
import { freePort } from './free-port';
import { startPrometheus } from './prometheus';
import { startPostgres } from './postgres';
import { startTemporalCluster, type TemporalCluster, type UiLogin } from './temporal-cluster';
import type { TemporalTls } from '../runtime/temporal';

/**
 * The embedded default, in one call: Zansoc's Temporal server in one process (SQLite, mTLS, its authorizer, the Web
 * UI), anvil with the contracts deployed,
 * SQLite via Prisma, the API, the orchestrator worker and a few host workers on the local Docker engine. The roles
 * run as separate processes, as they would on separate machines. `npm start` runs it; integration tests use it too.
 */
export interface DevnetOptions {
  /** Folder for all state; wiped at start (the devnet's chain starts empty each time, so the rest must too). */
  dir: string;
  hosts?: number;
  apiPort?: number;
  temporalPort?: number;
  temporalUiPort?: number;
  anvilPort?: number;
  headless?: boolean;
  databaseUrl?: string;
  /** Extra environment for every host worker (e.g. DRAIN_GRACE_SECONDS). */
  hostEnv?: Record<string, string>;
  /** The share of single-replica jobs the API has spot-checked (its SPOT_CHECK_FRACTION); tests that count payouts use 0. */
  spotCheckFraction?: number;
  /** The API's RATE_LIMIT_PER_MINUTE (per identity); benchmarks that poll hard raise it. */
  rateLimitPerMinute?: number;
  /** Extra environment for the orchestrator worker at its first start. */
  orchestratorEnv?: Record<string, string>;
  /** Extra environment for one host worker, by host id (host-1 …); it wins over `hostEnv`. */
  hostEnvs?: Record<string, Record<string, string>>;
  /** Receives every line the roles print, prefixed with the role's name. */
  log?: (line: string) => void;
  /** When a role that died is started again (defaults: RESTART_POLICY). */
  restart?: Partial<RestartPolicy>;
  /**
   * Runs Temporal as production does instead of in one process: a cluster of Zansoc's Temporal server on
   * PostgreSQL (scripts/temporal-cluster.ts), and the read model on PostgreSQL too (unless `databaseUrl` is given).
   */
  cluster?: boolean;
  /** How many orchestrator workers run (`orchestrator`, `orchestrator-2` …): 1, or 2 on a cluster. */
  orchestrators?: number;
  /** On a cluster: how long the host certificates the API issues live (its HOST_CERT_HOURS). */
  hostCertHours?: number;
}

/**
 * The devnet restarts a role that dies on its own (a crash, a non-zero exit, `kill -9` from a shell) after a delay
 * that doubles while it keeps dying, up to a cap, and starts over once it has stayed up a while. A role the devnet
 * stopped (stopRole, stop, or a signal sent through its handle in `processes`) or that exited with code 0 (it was
 * told to stop, e.g. by `kill -TERM`) stays stopped.
 */
export interface RestartPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** A role that stayed up this long before it died is restarted after `firstDelayMs` again. */
  resetAfterMs: number;
}

export const RESTART_POLICY: RestartPolicy = { firstDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 60_000 };

/** The delay before restarting a role that died after `uptimeMs` up; `previousMs` is the delay of its previous restart. */
export function restartDelayMs(policy: RestartPolicy, previousMs: number | null, uptimeMs: number): number {
  if (previousMs === null || uptimeMs >= policy.resetAfterMs) return policy.firstDelayMs;
  return Math.min(previousMs * 2, policy.maxDelayMs);
}

export interface Devnet {
  apiUrl: string;
  temporalAddress: string;
  temporalUiUrl: string | null;
  /** The operator's login to the Temporal UI (which acts as the operator); null when headless. */
  temporalUiLogin: UiLogin | null;
  /** The Temporal cluster when the devnet runs on one (`cluster`), to restart its services; null when embedded. */
  temporalCluster: TemporalCluster | null;
  /**
   * Every Temporal connection is mTLS: this is the operator's (`zansoc-operator:cluster`), for tests and tools to
   * connect with (Connection.connect({ address: temporalAddress, tls })).
   */
  temporalTls: TemporalTls;
  /** The temporal CLI's flags for the same identity. */
  temporalCliFlags: string[];
  /** The orchestrator workers' role names. */
  orchestratorRoles: string[];
  rpcUrl: string;
  deployment: Deployment;
  databaseUrl: string;
  hostIds: string[];
  /** The API as the devnet's client (its calls signed with the client key). */
  api: ApiClient;
  /** The API as one host (its calls signed with that host's key), e.g. to challenge as a verifier. */
  apiAsHost(hostId: string): Promise<ApiClient>;
  /** One host's key, e.g. to sign its staging reads in a test. */
  hostKey(hostId: string): Promise<Wallet>;
  /** Every /metrics URL by scrape job: api, orchestrator, orchestrator-temporal (the SDK's own), host-1 … */
  metricsUrls: Record<string, string>;
  /**
   * The roles' processes by name (api, orchestrator, host-1 …), the latest of each, for tests that crash one: a
   * signal sent through the handle is a deliberate stop, which the devnet does not undo (RestartPolicy).
   */
  processes: Map<string, ChildProcess>;
  /** Starts one role's process, with `env` over its usual environment, once its running one (if any) has stopped. */
  startRole(name: string, env?: Record<string, string>): Promise<ChildProcess>;
  /** Stops one role on purpose (SIGTERM, SIGKILL after 40 s): it stays stopped until startRole. */
  stopRole(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Anvil's well-known dev accounts, each with one role on the devnet: no key holds two (contracts:deploy refuses it).
 * `client` is the devnet's demo user: a wallet funded at start that signs its own orders, as any client's does.
 */
export const DEVNET_KEYS = {
  deployer: ANVIL_KEYS[0], settler: ANVIL_KEYS[1], treasury: ANVIL_KEYS[2], client: ANVIL_KEYS[3], governor: ANVIL_KEYS[4], faucet: ANVIL_KEYS[5],
};
const CLIENT_FUNDING = 1_000_000n * 10n ** 18n;
/** What the faucet's own wallet starts with: the faucet gives from it, never from the treasury's key. */
const FAUCET_FUNDING = 100_000n * 10n ** 18n;
const HOST_FUNDING = 1_000n * 10n ** 18n;
const DEVNET_HOST_PASSPHRASE = 'devnet-host-passphrase';
const ROOT = resolve(__dirname, '..');

export async function startDevnet(opts: DevnetOptions): Promise<Devnet> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const dir = resolve(opts.dir);
  refuseIfRunning(dir);
  // A previous run's hosts may have left slot disks mounted in it.
  await unmountSlotDisksUnder(dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'devnet.pid'), `${process.pid}\n`);
  const cleanups: (() => Promise<void>)[] = [];
  const processes = new Map<string, ChildProcess>();
  const supervised = new Map<string, Supervision>();
  let stopping = false;
  const stop = async () => {
    stopping = true;
    for (const state of supervised.values()) if (state.restartTimer) clearTimeout(state.restartTimer);
    // Hosts first, so they can still tell the API they left; then the API and the orchestrator.
    const hosts = [...processes.entries()].filter(([name]) => name.startsWith('host-')).map(([, child]) => child);
    for (const child of hosts) child.kill('SIGTERM');
    await Promise.all(hosts.map(exitOf));
    for (const child of processes.values()) child.kill('SIGTERM');
    await Promise.all([...processes.values()].map(exitOf));
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => log(`devnet: cleanup failed: ${err}`));
    rmSync(join(dir, 'devnet.pid'), { force: true });
  };

  try {
    const engine = await ensureDockerEngine();
    cleanups.push(() => engine.stop());
    const image = await buildJobImages(engine.docker);
    log(`devnet: job image ${image.reference} ready`);

    // Zansoc's Temporal server either way, with mTLS and its authorizer: embedded in one process on SQLite, or as
    // a cluster of four services on PostgreSQL.
    const temporal = await startTemporalCluster(opts.cluster ? { tls: true } : {
      embedded: { dir: join(dir, 'temporal'), port: opts.temporalPort, uiPort: opts.temporalUiPort, headless: opts.headless },
    });
    const cluster = opts.cluster ? temporal : null;
    cleanups.push(() => temporal.stop());
    log(`devnet: Temporal ${temporalKind(cluster !== null)} on ${temporal.address}${temporal.uiUrl ? `, Web UI ${temporal.uiUrl}` : ''}`);

    const anvil = await startAnvil({ port: opts.anvilPort });
    cleanups.push(() => anvil.stop());
    await buildContracts();
    const address = (key: string) => new Wallet(key).address;
    const deployment = await deployContracts({
      rpcUrl: anvil.url, deployerKey: DEVNET_KEYS.deployer, treasury: address(DEVNET_KEYS.treasury), settler: address(DEVNET_KEYS.settler),
      governor: address(DEVNET_KEYS.governor),
    });
    const deploymentFile = saveDeployment(deployment, join(dir, 'deployments'));
    const chain = await connectChain({
      rpcUrl: anvil.url, deployment, settlerKey: DEVNET_KEYS.settler, treasuryKey: DEVNET_KEYS.treasury,
    });
    await createChainActivities({ chain }).fundClient({ address: address(DEVNET_KEYS.client), amount: CLIENT_FUNDING.toString() });
    await createChainActivities({ chain }).fundClient({ address: address(DEVNET_KEYS.faucet), amount: FAUCET_FUNDING.toString() });
    log(`devnet: chain ${anvil.url} (id ${deployment.chainId}), ZSC ${deployment.token}, JobEscrow ${deployment.jobEscrow}`);

    let databaseUrl = opts.databaseUrl ?? `file:${join(dir, 'zansoc.db')}`;
    if (cluster && !opts.databaseUrl) {
      const pg = await startPostgres();
      cleanups.push(() => pg.stop());
      databaseUrl = pg.url;
      log(`devnet: read model on PostgreSQL ${pg.url}`);
    }
    await migrateDatabase(databaseUrl);

    const apiPort = opts.apiPort ?? (await freePort());
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const common = { TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: databaseUrl };
    // Each role presents its own identity: the API and the orchestrator certificates of the Temporal server's
    // CA, and hosts the ones the API's host CA issues them at join.
    const tls = temporal.tls!;
    const tlsEnv = (commonName: string): Record<string, string> => {
      const cert = tls.issueClientCertificate(commonName);
      return { TEMPORAL_TLS_CA_FILE: tls.caFile, TEMPORAL_TLS_CERT_FILE: cert.certFile, TEMPORAL_TLS_KEY_FILE: cert.keyFile, TEMPORAL_TLS_SERVER_NAME: 'localhost' };
    };
    const hostCount = opts.hosts ?? 2;
    const hostIds = Array.from({ length: hostCount }, (_, i) => `host-${i + 1}`);
    const orchestratorRoles = Array.from({ length: opts.orchestrators ?? (opts.cluster ? 2 : 1) }, (_, i) => (i === 0 ? 'orchestrator' : `orchestrator-${i + 1}`));
    const metricsPorts: Record<string, number> = {};
    for (const role of [...orchestratorRoles.flatMap((o) => [o, `${o}-temporal`]), ...hostIds]) metricsPorts[role] = await freePort();
    const metricsUrls: Record<string, string> = {
      api: `${apiUrl}/metrics`,
      ...Object.fromEntries(Object.entries(metricsPorts).map(([role, port]) => [role, `http://127.0.0.1:${port}/metrics`])),
    };
    const roles: Record<string, { entry: string; env: Record<string, string>; ready: RegExp }> = {
      api: {
        entry: 'api/main.ts',
        env: {
          ...common, ...tlsEnv('zansoc-api:api'), API_PORT: String(apiPort), STAGING_DIR: join(dir, 'staging'), CHAIN_ID: String(deployment.chainId),
          HOST_CA_CERT_FILE: tls.hostCa.certFile, HOST_CA_KEY_FILE: tls.hostCa.keyFile,
          ...(opts.hostCertHours !== undefined ? { HOST_CERT_HOURS: String(opts.hostCertHours) } : {}),
          RPC_URL: anvil.url, DEPLOYMENT_FILE: deploymentFile, FAUCET_KEY: DEVNET_KEYS.faucet,
          ...(opts.spotCheckFraction !== undefined ? { SPOT_CHECK_FRACTION: String(opts.spotCheckFraction) } : {}),
          ...(opts.rateLimitPerMinute !== undefined ? { RATE_LIMIT_PER_MINUTE: String(opts.rateLimitPerMinute) } : {}),
        },
        ready: /api listening/,
      },
      ...Object.fromEntries(orchestratorRoles.map((role) => [role, {
        entry: 'orchestrator/main.ts',
        env: {
          ...common, ...tlsEnv('zansoc-orchestrator'), RPC_URL: anvil.url, DEPLOYMENT_FILE: deploymentFile, SETTLER_KEY: DEVNET_KEYS.settler,
          METRICS_ADDRESS: `127.0.0.1:${metricsPorts[role]}`, TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${metricsPorts[`${role}-temporal`]}`,
        },
        ready: /orchestrator worker polling/,
      }])),
    };
    // Host keys are made here first so each host can be given gas and ZSC to stake before it joins.
    for (const hostId of hostIds) {
      const { wallet } = await loadOrCreateHostKey(join(dir, hostId), DEVNET_HOST_PASSPHRASE);
      await chain.provider.send('anvil_setBalance', [wallet.address, '0x' + (10n ** 20n).toString(16)]);
      await createChainActivities({ chain }).fundClient({ address: wallet.address, amount: HOST_FUNDING.toString() });
    }
    hostIds.forEach((hostId, i) => {
      roles[hostId] = {
        entry: 'host-worker/main.ts',
        env: {
          TEMPORAL_ADDRESS: temporal.address, API_URL: apiUrl, HOST_ID: hostId, HOST_DATA_DIR: join(dir, hostId),
          CHAIN_ID: String(deployment.chainId), MAX_SLOTS: '2', HOST_KEY_PASSPHRASE: DEVNET_HOST_PASSPHRASE,
          RPC_URL: anvil.url, DEPLOYMENT_FILE: deploymentFile,
          DRAIN_GRACE_SECONDS: '10',
          METRICS_ADDRESS: `127.0.0.1:${metricsPorts[hostId]}`,
          ...opts.hostEnv,
          // Different prices, so matching has something to choose by.
          PRICE_PER_CPU_SECOND: String(1_000_000_000_000n * BigInt(i + 1)),
          ...opts.hostEnvs?.[hostId],
        },
        ready: /polling host\./,
      };
    });
    const policy: RestartPolicy = { ...RESTART_POLICY, ...opts.restart };
    const launch = (name: string, state: Supervision) => {
      const role = roles[name];
      const { child, ready } = spawnRole(name, role.entry, { ...role.env, ...state.env }, role.ready, log);
      processes.set(name, child);
      state.startedAt = Date.now();
      child.once('exit', (code, signal) => onExit(name, state, child, signal ? `signal ${signal}` : `exit code ${code}`));
      return { child, ready };
    };
    const onExit = (name: string, state: Supervision, child: ChildProcess, how: string) => {
      if (stopping || child.killed) return log(`devnet: ${name} stopped (${how})`);
      if (state.starting) return log(`devnet: ${name} exited before it was ready (${how})`);
      if (child.exitCode === 0) return log(`devnet: ${name} exited on its own (${how}), as a role told to stop does; it stays stopped`);
      const uptimeMs = Date.now() - state.startedAt;
      state.lastDelayMs = restartDelayMs(policy, state.lastDelayMs, uptimeMs);
      state.restarts += 1;
      log(`devnet: ${name} (pid ${child.pid}) died (${how}) after ${seconds(uptimeMs)} up; restarting it in ${seconds(state.lastDelayMs)} (restart ${state.restarts})`);
      state.restartTimer = setTimeout(() => restart(name, state), state.lastDelayMs);
    };
    const restart = (name: string, state: Supervision) => {
      state.restartTimer = null;
      if (stopping) return;
      const { child, ready } = launch(name, state);
      ready.then(() => log(`devnet: ${name} restarted (pid ${child.pid})`), (err: Error) => {
        // One that exited was already handled by onExit; one that never got ready is killed past its handle, so
        // that its exit counts as a death and is retried with backoff.
        if (child.exitCode !== null || child.signalCode !== null) return;
        log(`devnet: ${name} restart failed (${err.message}); killing it`);
        process.kill(child.pid!, 'SIGKILL');
      });
    };
    const stopRole = async (name: string) => {
      if (!roles[name]) throw new Error(`no devnet role ${name}`);
      const state = supervised.get(name);
      if (state?.restartTimer) clearTimeout(state.restartTimer);
      const child = processes.get(name);
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exitOf(child);
      }
    };
    const startRole = async (name: string, env: Record<string, string> = {}) => {
      await stopRole(name);
      const state: Supervision = { env, starting: true, startedAt: 0, lastDelayMs: null, restarts: 0, restartTimer: null };
      supervised.set(name, state);
      const { child, ready } = launch(name, state);
      try {
        await ready;
      } catch (err) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        throw err;
      } finally {
        state.starting = false;
      }
      return child;
    };
    await startRole('api');
    await Promise.all([
      startRole('orchestrator', opts.orchestratorEnv), ...orchestratorRoles.slice(1).map((role) => startRole(role)), ...hostIds.map((id) => startRole(id)),
    ]);

    return {
      apiUrl, temporalAddress: temporal.address, temporalUiUrl: temporal.uiUrl, temporalUiLogin: temporal.uiLogin, temporalCluster: cluster, orchestratorRoles,
      temporalTls: tls.connectionTls(tls.operator), temporalCliFlags: tls.cliFlags(tls.operator), rpcUrl: anvil.url, deployment, databaseUrl,
      hostIds, metricsUrls, api: createApiClient(apiUrl, { signer: new Wallet(DEVNET_KEYS.client), chainId: deployment.chainId }), processes,
      startRole, stopRole, stop,
      async hostKey(hostId: string) {
        return (await loadOrCreateHostKey(join(dir, hostId), DEVNET_HOST_PASSPHRASE)).wallet;
      },
      async apiAsHost(hostId: string) {
        const { wallet } = await loadOrCreateHostKey(join(dir, hostId), DEVNET_HOST_PASSPHRASE);
        return createApiClient(apiUrl, { signer: wallet, chainId: deployment.chainId });
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What the devnet keeps of one role to start it again: its environment, and its restarts so far. */
interface Supervision {
  env: Record<string, string>;
  /** While a start the caller waits for is under way: its failure is the caller's, not restarted. */
  starting: boolean;
  startedAt: number;
  lastDelayMs: number | null;
  restarts: number;
  restartTimer: NodeJS.Timeout | null;
}

const temporalKind = (cluster: boolean) => cluster
  ? "Zansoc's Temporal server as a cluster: frontend, history, matching, worker on PostgreSQL"
  : "Zansoc's Temporal server, embedded: one process on SQLite";

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/** Starting over a running devnet would wipe the files its processes hold open. */
function refuseIfRunning(dir: string): void {
  const pidFile = join(dir, 'devnet.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(pid, 0);
  } catch {
    return; // left behind by a devnet that is gone
  }
  throw new Error(`a devnet (pid ${pid}) is already running in ${dir}: stop it (Ctrl-C) before starting another`);
}

/** Runs one role as its own Node process (TypeScript through tsx); `ready` settles on the line that says it is ready. */
function spawnRole(
  name: string, entry: string, env: Record<string, string>, ready: RegExp, log: (line: string) => void,
): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', join(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // What it said last: a role that fails to start says why in the error, not only in a log nobody printed.
  const tail: string[] = [];
  const said = () => (tail.length ? `; its last lines:\n${tail.join('\n')}` : '');
  const readyPromise = new Promise<void>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not become ready within 120s${said()}`)), 120_000);
    const onLine = (line: string) => {
      log(`${name}: ${line}`);
      tail.push(line);
      if (tail.length > 15) tail.shift();
      if (ready.test(line)) {
        clearTimeout(timer);
        resolvePromise();
      }
    };
    for (const stream of [child.stdout!, child.stderr!]) {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        lines.forEach(onLine);
      });
    }
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (${signal ?? code})${said()}`));
    });
  });
  return { child, ready: readyPromise };
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolvePromise();
    });
  });
}

/** The job the quick start runs: it writes a file to /out and says hello on stdout. */
export const SAMPLE_JOB: JobSpecInput = {
  image: JOB_IMAGE,
  command: ['sh', '-c', 'echo "hello from a Zansoc host"; echo "6 x 7 = $((6 * 7))" > /out/answer.txt; cat /out/answer.txt'],
  resources: { cpu: 0.5, memoryMiB: 64 },
  timeoutSeconds: 60,
};

/**
 * Waits until a job reaches a final state, calling `onChange` on each new state. It follows the job with jobs.wait
 * (an answer as soon as it moves on, no polling), and rides out the API being away (a restart) by asking again.
 */
export async function waitForJob(api: ApiClient, jobId: string, onChange?: (state: string, reason: string | null) => void, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  type JobView = Awaited<ReturnType<ApiClient['jobs']['get']['query']>>;
  let job = null as JobView | null;
  for (;;) {
    try {
      const timeoutSeconds = Math.max(1, Math.min(20, Math.ceil((deadline - Date.now()) / 1000)));
      const before: JobView | null = job;
      job = before ? await api.jobs.wait.query({ jobId, state: before.state, stateReason: before.stateReason ?? undefined, timeoutSeconds }) : await api.jobs.get.query({ jobId });
      if (!before || before.state !== job.state || before.stateReason !== job.stateReason) onChange?.(job.state, job.stateReason);
    } catch (err) {
      if (!isUnreachable(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 300));
      continue;
    }
    if (isFinalJobState(job.state)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.state} after ${timeoutMs / 1000}s`);
  }
}

/** The API did not answer at all (refused, reset, gone mid-request), as against answering with an error. */
function isUnreachable(err: unknown): boolean {
  const cause = (err as { cause?: { message?: string; name?: string } }).cause;
  return !(err as { data?: unknown }).data && (cause?.name === 'TypeError' || /fetch failed|ECONNRE|socket/i.test(String(cause?.message ?? (err as Error).message)));
}

async function main(): Promise<void> {
  // `npm run cluster` (--cluster): Temporal as a cluster of Zansoc's server on PostgreSQL, two orchestrator workers.
  const cluster = process.argv.includes('--cluster');
  const devnet = await startDevnet({ dir: join(ROOT, '.devnet'), apiPort: 3000, temporalPort: 7233, temporalUiPort: 8233, anvilPort: 8545, cluster });
  // Prometheus (Debian's, installed by scripts/setup) scraping every role, when it is there.
  const prometheus = await startPrometheus(join(ROOT, '.devnet', 'prometheus'), devnet.metricsUrls, 9090).catch((err: Error) => {
    console.log(`(no Prometheus: ${err.message.split('\n')[0]})`);
    return null;
  });
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the devnet…');
    // The devnet first, so that the roles the terminal's Ctrl-C also reached are not restarted.
    Promise.all([devnet.stop(), prometheus?.stop()]).then(() => process.exit(0), (err) => {
      console.error(err);
      process.exit(1);
    });
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  console.log(`\nsubmitting the sample job: ${SAMPLE_JOB.command.join(' ')}`);
  const demoUser = new Wallet(DEVNET_KEYS.client).address;
  const balanceBefore = (await devnet.api.wallet.balance.query()).zsc;
  const { job } = await devnet.api.jobs.submit.mutate({ spec: SAMPLE_JOB });
  const done = await waitForJob(devnet.api, job.id, (state, reason) => console.log(`  job ${job.id}: ${state}${reason ? ` (${reason})` : ''}`));
  const { logs } = await devnet.api.jobs.logs.query({ jobId: job.id });
  console.log([
    '',
    `job ${done.id} ${done.state} on ${done.hostId}, exit code ${done.exitCode}`,
    `  result digest ${done.resultDigest}`,
    `  paid to host ${done.paidToHosts} ZSC base units, commission ${done.commission}, refunded ${done.refunded}`,
    `  paid by the demo user ${demoUser} from its own wallet, by its own signed order (the orchestrator only relayed it):`,
    `    ${balanceBefore} before, ${(await devnet.api.wallet.balance.query()).zsc} after (ZSC base units)`,
    '  logs:',
    ...logs.trimEnd().split('\n').map((l) => `    ${l}`),
    '',
    `Zansoc devnet is up (Ctrl-C stops everything):`,
    `  API          ${devnet.apiUrl}/trpc   (staging store ${devnet.apiUrl}/blobs)`,
    `  Temporal UI  ${devnet.temporalUiUrl}/namespaces/default/workflows/job-${done.id}`,
    `               log in as ${devnet.temporalUiLogin?.user}, password in ${devnet.temporalUiLogin?.file}`,
    `  Temporal     ${devnet.temporalAddress} (${temporalKind(devnet.temporalCluster !== null)}; mTLS: a client certificate is needed)`,
    `  temporal CLI as the operator: temporal workflow list --address ${devnet.temporalAddress} ${devnet.temporalCliFlags.join(' ')}`,
    `  orchestrator ${devnet.orchestratorRoles.length} worker(s): ${devnet.orchestratorRoles.join(', ')}`,
    `  chain RPC    ${devnet.rpcUrl} (chain id ${devnet.deployment.chainId})`,
    `  hosts        ${devnet.hostIds.join(', ')}`,
    `  Swagger UI   ${devnet.apiUrl}/docs   (OpenAPI ${devnet.apiUrl}/openapi.json)`,
    `  Prometheus   ${prometheus ? prometheus.url : '(not installed)'}   scraping ${Object.values(devnet.metricsUrls).join(' ')}`,
  ].join('\n'));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
