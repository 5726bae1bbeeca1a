import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NonceManager, Wallet, id as keccakOf } from 'ethers';
import { createDbActivities } from '../activities/db';
import { connectZansocToken } from '../contracts/bindings';
import { confirmTransaction, createProvider } from '../contracts/provider';
import { openDatabase, type Database } from '../db/client';
import { ensureHostStake } from '../host-worker/stake';
import { DEVNET_KEYS, startDevnet, type Devnet } from '../scripts/devnet';
import type { Benchmark } from './benchmark';
import { describeTail, stepsOf } from './breakdown';
import { ms, percentile, runJob, saturate } from './lifecycle';

const REAL_HOSTS = Number(process.env.BENCH_SCALE_REAL_HOSTS ?? 4);
const TOTAL_HOSTS = Number(process.env.BENCH_SCALE_HOSTS ?? 1000);
const PROCESSES = Number(process.env.BENCH_SCALE_PROCESSES ?? 4);
const JOBS = Number(process.env.BENCH_SCALE_JOBS ?? 10);
const MATCHES = 200;
const THROUGHPUT_SECONDS = Number(process.env.BENCH_SCALE_SECONDS ?? 30);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const STAKE = 100n * 10n ** 18n;
const GOALS = { matchP99Ms: 50 };

/**
 * Zansoc with 1,000 registered hosts, simulated on this machine: REAL_HOSTS real host workers run every job, and the
 * rest are a fleet of hosts (bench/fleet.ts) in PROCESSES processes, each host staked on chain with its own key,
 * registered with the API, polling `host.<id>` on Temporal with its own certificate, and heartbeating; their offer
 * names an image no job here runs, so matching weighs each of them and takes none. Measured with the real hosts
 * alone, then with the fleet joined:
 *  - matching: `matchHost` (the activity a wait runs) called directly on the read model, p50 and p99 over MATCHES;
 *    and in the jobs' histories, scheduled → completed;
 *  - the history of each job: its event count and size, the same with 4 hosts as with 1,000;
 *  - submit → running and jobs/s with 1,000 hosts, CONCURRENCY in flight for THROUGHPUT_SECONDS.
 */
export const scale: Benchmark = {
  name: `scale (${TOTAL_HOSTS} registered hosts: ${REAL_HOSTS} real, ${TOTAL_HOSTS - REAL_HOSTS} simulated in ${PROCESSES} processes)`,
  async run(log) {
    const dir = mkdtempSync(join(tmpdir(), 'zansoc-bench-scale-'));
    const devnet = await startDevnet({
      // BENCH_DEVNET_LOG=<file> keeps what the devnet's roles said, for a run that went wrong.
      dir, hosts: REAL_HOSTS, headless: true, log: process.env.BENCH_DEVNET_LOG ? (line) => appendFileSync(process.env.BENCH_DEVNET_LOG!, `${line}\n`) : () => undefined, hostEnv: { MAX_SLOTS: '2' }, spotCheckFraction: 0, rateLimitPerMinute: 1_000_000,
    });
    const db = openDatabase(devnet.databaseUrl);
    const fleet: ChildProcess[] = [];
    try {
      for (let i = 0; i < 3; i++) await runJob(devnet, false);
      const few = await measure(devnet, db, `${REAL_HOSTS} hosts`, log);

      let t = performance.now();
      const keys = Array.from({ length: TOTAL_HOSTS - REAL_HOSTS }, (_, i) => keccakOf(`zansoc bench fleet host ${i}`));
      await stakeFleet(devnet, keys);
      log(`  ${keys.length} fleet hosts funded and staked on HostRegistry in ${((performance.now() - t) / 1000).toFixed(0)} s`);
      t = performance.now();
      const per = Math.ceil(keys.length / PROCESSES);
      for (let p = 0; p < PROCESSES; p++) {
        const slice = keys.slice(p * per, (p + 1) * per);
        if (slice.length === 0) continue;
        const file = join(dir, `fleet-${p}.json`);
        writeFileSync(file, JSON.stringify({
          apiUrl: devnet.apiUrl, chainId: devnet.deployment.chainId, temporalAddress: devnet.temporalAddress, namespace: 'default', keys: slice,
        }));
        fleet.push(await startFleetProcess(file));
      }
      const online = await db.host.count({ where: { status: 'online' } });
      log(`  fleet joined in ${((performance.now() - t) / 1000).toFixed(0)} s: ${online} hosts online, ${keys.length} of them polling with their own certificate ` +
        `and connection (${PROCESSES} processes, ${per} Workers each)`);

      const many = await measure(devnet, db, `${online} hosts`, log);
      const jobs = await saturate(THROUGHPUT_SECONDS, CONCURRENCY, () => runJob(devnet, false));
      const since = new Date(Date.now() - jobs.seconds * 1000);
      const rows = await db.job.findMany({ where: { createdAt: { gte: since }, startedAt: { not: null } }, select: { createdAt: true, startedAt: true } });
      const waits = rows.map((r) => r.startedAt!.getTime() - r.createdAt.getTime());
      log(`  with ${online} hosts, ${CONCURRENCY} in flight for ${THROUGHPUT_SECONDS} s: ${jobs.done} jobs succeeded (${(jobs.done / jobs.seconds).toFixed(2)}/s, ` +
        `${jobs.failed} failed or lost); submit→running p50 ${ms(percentile(waits, 50))}, p99 ${ms(percentile(waits, 99))}`);
      for (const reason of jobs.why.slice(0, 5)) log(`    failed or lost: ${reason}`);
      if (jobs.why[0]) await logTail(devnet, jobs.why[0], log);

      const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
      log(`  goal matching p99 < ${GOALS.matchP99Ms} ms with ${online} hosts: ${verdict(many.matchP99 < GOALS.matchP99Ms)} (${ms(many.matchP99)}; ${ms(few.matchP99)} with ${REAL_HOSTS})`);
      log(`  goal per-job history independent of the host count: ${verdict(many.maxEvents === few.maxEvents && many.maxBytes <= few.maxBytes * 1.01)} ` +
        `(${few.maxEvents} events, ${few.maxBytes} bytes with ${REAL_HOSTS} hosts; ${many.maxEvents} events, ${many.maxBytes} bytes with ${online})`);
      log('  not simulated: Workers sharing one NativeConnection. A connection carries one host\'s certificate and Zansoc\'s Temporal server ' +
        'lets it poll only that host\'s queue, so each simulated host has its own, as a real host does');
    } finally {
      for (const child of fleet) child.kill('SIGTERM');
      await Promise.all(fleet.map((child) => new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)))));
      await db.$disconnect();
      await devnet.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Matching at this many hosts, and the histories of JOBS jobs run one at a time. */
async function measure(devnet: Devnet, db: Database, label: string, log: (line: string) => void) {
  const real = await db.host.findFirstOrThrow({ where: { id: devnet.hostIds[0] }, select: { images: true } });
  const image = (JSON.parse(real.images) as string[])[0];
  const { matchHost } = createDbActivities({ db });
  const query = { resources: { cpu: 0.1, memoryMiB: 32, diskMiB: 8, gpu: 0 }, exclude: [], excludeOperators: [], image, explain: true };
  const direct: number[] = [];
  for (let i = 0; i < MATCHES; i++) {
    const t = performance.now();
    const match = await matchHost(query);
    direct.push(performance.now() - t);
    if (!match.host || !devnet.hostIds.includes(match.host.id)) throw new Error(`matching took ${match.host?.id ?? 'no host'}: ${match.waitReason}`);
  }
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    try {
      ids.push((await runJob(devnet, false)).id);
    } catch (err) {
      await logTail(devnet, (err as Error).message, log);
      throw err;
    }
  }
  const connection = await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls });
  const events: number[] = [];
  const bytes: number[] = [];
  const inHistory: number[] = [];
  try {
    const client = new Client({ connection });
    for (const jobId of ids) {
      const history = await client.workflow.getHandle(`job-${jobId}`).fetchHistory();
      events.push(history.events?.length ?? 0);
      bytes.push(JSON.stringify(history).length);
      for (const step of stepsOf(history).steps) if (step.name === 'matchHost') inHistory.push(step.queuedMs + step.ranMs);
    }
  } finally {
    await connection.close();
  }
  const matchP99 = percentile(direct, 99);
  log(`  ${label}: matchHost on the read model p50 ${ms(percentile(direct, 50))}, p99 ${ms(matchP99)} (${MATCHES} calls); ` +
    `in the jobs' histories, scheduled → completed p50 ${ms(percentile(inHistory, 50))}, p99 ${ms(percentile(inHistory, 99))}`);
  log(`    ${JOBS} jobs' histories: ${Math.min(...events)}–${Math.max(...events)} events, ${Math.min(...bytes)}–${Math.max(...bytes)} bytes as JSON`);
  return { matchP99, maxEvents: Math.max(...events), maxBytes: Math.max(...bytes) };
}

/** The end of the history of the job a failure names: where a lost job stopped. */
async function logTail(devnet: Devnet, failure: string, log: (line: string) => void): Promise<void> {
  const lost = /job ([0-9a-f-]{36})/.exec(failure)?.[1];
  if (!lost) return;
  const connection = await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls });
  try {
    log(`    the end of job-${lost}'s history:`);
    for (const line of describeTail(await new Client({ connection }).workflow.getHandle(`job-${lost}`).fetchHistory(), 16)) log(`      ${line}`);
  } finally {
    await connection.close();
  }
}

/** Gas and ZSC for every fleet host from the treasury, then each stakes with its own key, as a host worker does at join. */
async function stakeFleet(devnet: Devnet, keys: string[]): Promise<void> {
  const provider = createProvider(devnet.rpcUrl);
  try {
    const treasury = new NonceManager(new Wallet(DEVNET_KEYS.treasury, provider));
    const token = connectZansocToken(devnet.deployment.token, treasury);
    const sent = [];
    for (const key of keys) {
      const address = new Wallet(key).address;
      await provider.send('anvil_setBalance', [address, '0x' + (10n ** 20n).toString(16)]);
      sent.push(await token.transfer(address, STAKE));
    }
    await Promise.all(sent.map((tx) => confirmTransaction(provider, tx.hash)));
    const offer = { arch: 'x86_64', cpus: 2, memoryMiB: 4096, diskMiB: 10_240, gpus: 0, gpuModel: null, maxSlots: 2, pricePerCpuSecond: '1000000000000', pricePerGibSecond: '0', pricePerGpuSecond: '0' };
    for (let i = 0; i < keys.length; i += 32) {
      await Promise.all(keys.slice(i, i + 32).map((key) => ensureHostStake({ rpcUrl: devnet.rpcUrl, deployment: devnet.deployment, wallet: new Wallet(key), stake: STAKE, offer })));
    }
  } finally {
    provider.destroy();
  }
}

/** One fleet process, resolved once it says every one of its hosts polls. */
function startFleetProcess(configFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(__dirname, 'fleet.ts')], {
    env: { ...process.env, FLEET_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    errors = (errors + chunk.toString()).slice(-4000);
  });
  return new Promise((resolvePromise, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (/fleet ready \d+/.test(chunk.toString())) resolvePromise(child);
    });
    child.once('exit', (code) => reject(new Error(`a fleet process exited ${code} before it was ready: ${errors}`)));
  });
}
