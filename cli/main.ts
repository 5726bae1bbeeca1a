import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TRPCClientError } from '@trpc/client';
import { formatUnits, Wallet } from 'ethers';
import type { OrderQuote } from '../api/order-signing';
import { createApiClient, type ApiClient } from '../api/client';
import { didOf } from '../api/signing';
import { isFinalJobState } from '../domain/job-state';
import { readHostEnv } from '../host-worker/env';
import { hostKeyPassphrase, loadOrCreateHostKey } from '../host-worker/identity';
import { joinNetwork } from '../host-worker/run';
import { openSealed } from '../runtime/sealed-box';
import { blobHeaders, uploadBlob } from '../runtime/staging-client';
import { installWorkerRuntime } from '../runtime/temporal';
import { download } from './download';
import { table } from './format';
import { readSpecFile, type LocalInput } from './spec-file';
import { STORAGE_USAGE, storageCommand } from './storage';

const USAGE = `zansoc — a client and host of the Zansoc peer-to-peer cloud

  zansoc login                     create your key (or import $ZANSOC_KEY) in an encrypted keystore; prints your did
  zansoc whoami                    your did:ethr
  zansoc wallet balance            your ZSC
  zansoc wallet faucet             devnet: get some ZSC (once an hour)
  zansoc job submit <spec.yaml|spec.json> [--follow] [--key <idempotency key>]
  zansoc job status <jobId>        state, money, every slot (host, digest, payout, slash), challenges, timeline
  zansoc job logs <jobId>
  zansoc job result <jobId> [--out <file>]   download the output archive of /out (default <jobId>.tar), checked against its digest
  zansoc job cancel <jobId> [--reason <text>]
  zansoc job challenge <jobId> --verifier <hostId>   dispute a PROVISIONAL result, staking the verifier's ZSC
  zansoc job ls
${STORAGE_USAGE}
  zansoc host join                 join this machine as a host (configured by the host-worker variables, see README)
  zansoc host ls
  zansoc host status <hostId>      offer, reputation and earnings
  zansoc host earnings <hostId>    earnings and slashes

Calls are signed with your key: $ZANSOC_KEY (a hex private key, for scripts) or the keystore \`zansoc login\` made in
$ZANSOC_HOME (~/.zansoc), opened with $ZANSOC_PASSPHRASE or a prompt.

options: --api <url> (default $ZANSOC_API_URL or http://127.0.0.1:3000), --chain-id <id> (default $ZANSOC_CHAIN_ID or 31337), --json`;

const KEYSTORE = 'client-keystore.json';
const zansocHome = () => process.env.ZANSOC_HOME ?? join(homedir(), '.zansoc');

/** The caller's key: $ZANSOC_KEY, or the keystore `zansoc login` wrote. */
async function clientKey(create = false): Promise<{ wallet: Wallet; created: boolean }> {
  const imported = process.env.ZANSOC_KEY;
  if (imported && !create) {
    try {
      return { wallet: new Wallet(imported), created: false };
    } catch {
      throw new Error('ZANSOC_KEY: must be a 0x-prefixed 32-byte hex private key');
    }
  }
  if (!create && !existsSync(join(zansocHome(), KEYSTORE))) throw new Error('no key yet: run `zansoc login` (or set ZANSOC_KEY)');
  const passphrase = await hostKeyPassphrase(process.env, 'ZANSOC_PASSPHRASE', 'your Zansoc key');
  return loadOrCreateHostKey(zansocHome(), passphrase, { file: KEYSTORE, variable: 'ZANSOC_PASSPHRASE', importKey: imported });
}

/**
 * Downloads a job's output archive to `out`: the sealed blob, checked against its hash, opened with the client's key
 * and checked against the digest the job shows (the one replicas voted on); an unsealed one is checked directly.
 */
async function downloadOutput(
  apiUrl: string, job: { id: string; outputSha256: string | null; sealedOutputSha256: string | null }, out: string, wallet: Wallet, chainId: number, progress: boolean,
): Promise<number> {
  const fetched = job.sealedOutputSha256 ?? job.outputSha256!;
  const url = `${apiUrl.replace(/\/$/, '')}/blobs/${fetched}`;
  const headers = await blobHeaders({ signer: wallet, chainId }, 'blobs.get', { sha256: fetched });
  if (!job.sealedOutputSha256) return download(url, out, fetched, progress, headers);
  const sealedFile = `${out}.sealed`;
  try {
    await download(url, sealedFile, fetched, progress, headers);
    const archive = openSealed(wallet.privateKey, readFileSync(sealedFile));
    const digest = createHash('sha256').update(archive).digest('hex');
    if (digest !== job.outputSha256) throw new Error(`the output of job ${job.id} opens to sha256 ${digest}, not the result's ${job.outputSha256}`);
    writeFileSync(out, archive);
    return archive.length;
  } finally {
    rmSync(sealedFile, { force: true });
  }
}

/** Exit codes scripts can rely on. */
const EXIT = { ok: 0, failed: 1, usage: 2, jobFailed: 3 } as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      api: { type: 'string' }, 'chain-id': { type: 'string' }, json: { type: 'boolean' }, follow: { type: 'boolean' },
      key: { type: 'string' }, out: { type: 'string' }, reason: { type: 'string' }, verifier: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      replicas: { type: 'string' }, days: { type: 'string' }, 'duration-seconds': { type: 'string' }, 'period-seconds': { type: 'string' },
      price: { type: 'string' }, name: { type: 'string' },
    },
  });
  const [area, command, arg] = positionals;
  if (values.help || !area) return usage();
  const print = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data, null, 2) : human);
  const chainId = Number(values['chain-id'] ?? process.env.ZANSOC_CHAIN_ID ?? 31337);
  if (!Number.isInteger(chainId) || chainId <= 0) throw new Error('--chain-id: must be a positive whole number');
  const apiUrl = values.api ?? process.env.ZANSOC_API_URL ?? 'http://127.0.0.1:3000';
  if (area === 'login' || area === 'whoami') {
    const { wallet, created } = await clientKey(area === 'login');
    print(`${created ? 'created' : 'your key is'} ${didOf(chainId, wallet.address)}${created ? ` in ${join(zansocHome(), KEYSTORE)}` : ''}`,
      { did: didOf(chainId, wallet.address), address: wallet.address, created });
    return EXIT.ok;
  }
  const publicOnly = area === 'host' && ['ls', 'status', 'earnings', 'join'].includes(command ?? '');
  // Every order is shown before it is signed: what it locks from the user's wallet, and why.
  const beforeSigning = (quote: OrderQuote) => {
    console.error(`signing an order for ${formatUnits(quote.amount, 18)} ZSC (${quote.explanation}) from your balance of ${formatUnits(quote.balance, 18)} ZSC` +
      (quote.permit ? `; and a permit letting ${quote.permit.message.spender} take ZSC for the orders you sign` : ''));
  };
  const wallet = publicOnly ? null : (await clientKey()).wallet;
  const api = createApiClient(apiUrl, wallet ? { signer: wallet, chainId, beforeSigning } : {});
  const staging = wallet ? { signer: wallet, chainId } : undefined;

  if (area === 'job' && command === 'submit' && arg) {
    const files: LocalInput[] = [];
    const spec = readSpecFile(arg, files);
    // Input files go to the staging store first: the API refuses a job whose inputs are not there.
    for (const input of files) {
      await uploadBlob(apiUrl, readFileSync(input.file), { auth: staging });
      console.error(`uploaded ${input.file} (${input.bytes} bytes, sha256 ${input.sha256.slice(0, 12)}…)`);
    }
    const { job, created } = await api.jobs.submit.mutate({ spec, idempotencyKey: values.key });
    if (!values.follow) {
      print(`${created ? 'submitted' : 'already submitted'} job ${job.id} (${job.state})`, job);
      return EXIT.ok;
    }
    console.error(`job ${job.id} submitted; following (Ctrl-C stops following, not the job)`);
    return follow(api, job.id, Boolean(values.json));
  }
  if (area === 'job' && command === 'status' && arg) {
    const job = await api.jobs.get.query({ jobId: arg });
    const detail = await api.jobs.status.query({ jobId: arg }).catch(() => null);
    print([describeJob(job), ...(detail ? describeDetail(detail) : [])].join('\n'), { ...job, detail });
    return EXIT.ok;
  }
  if (area === 'storage') {
    const outcome = await storageCommand({ api, apiUrl, home: zansocHome(), staging }, command, arg, values);
    if (!outcome) return usage();
    if ('usage' in outcome) {
      console.error(`zansoc storage ${command}: ${outcome.usage}`);
      return EXIT.usage;
    }
    print(outcome.human, outcome.data);
    return EXIT.ok;
  }
  if (area === 'wallet' && command === 'balance') {
    const balance = await api.wallet.balance.query();
    const locked = [...balance.locked.jobs, ...balance.locked.deals];
    print([
      `${balance.did}: ${formatUnits(balance.zsc, 18)} ZSC free (${balance.zsc} base units)`,
      `locked in ${locked.length} open job(s) and deal(s): ${formatUnits(balance.locked.total, 18)} ZSC`,
      ...balance.locked.jobs.map((j) => `  job  ${j.jobId}  ${formatUnits(j.amount, 18)} ZSC  ${j.state}`),
      ...balance.locked.deals.map((d) => `  deal ${d.dealId}  ${formatUnits(d.amount, 18)} ZSC  ${d.state}`),
    ].join('\n'), balance);
    return EXIT.ok;
  }
  if (area === 'wallet' && command === 'faucet') {
    const given = await api.wallet.faucet.mutate();
    print(`the faucet sent ${formatUnits(given.amount, 18)} ZSC to ${given.address} (transaction ${given.txHash})`, given);
    return EXIT.ok;
  }
  if (area === 'job' && command === 'result' && arg) {
    const job = await api.jobs.get.query({ jobId: arg });
    if (!job.outputSha256) {
      console.error(`job ${job.id} is ${job.state}: it has no output yet`);
      return EXIT.failed;
    }
    const out = values.out ?? `${job.id}.tar`;
    const bytes = await downloadOutput(apiUrl, job, out, wallet!, chainId, !values.json);
    print(`wrote ${out}: ${bytes} bytes, sha256 ${job.outputSha256} (a tar of /out)`, { jobId: job.id, file: out, bytes, sha256: job.outputSha256 });
    return EXIT.ok;
  }
  if (area === 'job' && command === 'cancel' && arg) {
    const result = await api.jobs.cancel.mutate({ jobId: arg, reason: values.reason });
    print(`cancelling job ${arg}: running containers stop, hosts are paid for work done, the rest is refunded`, result);
    return EXIT.ok;
  }
  if (area === 'job' && command === 'challenge' && arg) {
    if (!values.verifier) {
      console.error('--verifier <hostId>: the registered host whose stake backs the challenge');
      return EXIT.usage;
    }
    const accepted = await api.jobs.challenge.mutate({ jobId: arg, verifierHostId: values.verifier });
    print(`challenge accepted: ${accepted.stake} ZSC base units of ${accepted.verifierHostId}'s stake locked; ` +
      `arbiters re-run the job when the window closes at ${accepted.challengeWindowEndsAt}`, accepted);
    return EXIT.ok;
  }
  if (area === 'job' && command === 'logs' && arg) {
    const { logs } = await api.jobs.logs.query({ jobId: arg });
    process.stdout.write(logs);
    return EXIT.ok;
  }
  if (area === 'job' && command === 'ls') {
    const { jobs } = await api.jobs.list.query({ limit: 50 });
    print(table(['JOB', 'STATE', 'HOST', 'EXIT', 'CREATED'], jobs.map((j) => [j.id, j.state, j.hostId ?? '-', String(j.exitCode ?? '-'), String(j.createdAt)])), jobs);
    return EXIT.ok;
  }
  if (area === 'host' && command === 'join') {
    installWorkerRuntime();
    const host = await joinNetwork(readHostEnv());
    const drain = () => void host.drain().then(() => process.exit(EXIT.ok));
    process.once('SIGINT', drain);
    process.once('SIGTERM', drain);
    await host.done;
    return EXIT.ok;
  }
  if (area === 'host' && command === 'ls') {
    const hosts = await api.hosts.list.query();
    print(table(['HOST', 'ONLINE', 'STATUS', 'CPUS', 'MEMORY MiB', 'GPUS', 'SLOTS', 'PRICE/CPU-S'],
      hosts.map((h) => [h.id, h.online ? 'yes' : 'no', h.status, String(h.cpus), String(h.memoryMiB), String(h.gpus), String(h.maxSlots), h.pricePerCpuSecond])), hosts);
    return EXIT.ok;
  }
  if (area === 'host' && command === 'earnings' && arg) {
    const host = await api.hosts.get.query({ hostId: arg });
    print(`${host.id}: earned ${host.earned} (before commission), slashed ${host.slashed} (ZSC base units); ` +
      `${host.jobsDone} jobs done, ${host.jobsFailed} failed, ${host.timesSlashed} slashed`,
    { hostId: host.id, earned: host.earned, slashed: host.slashed, jobsDone: host.jobsDone, jobsFailed: host.jobsFailed, timesSlashed: host.timesSlashed });
    return EXIT.ok;
  }
  if (area === 'host' && command === 'status' && arg) {
    const host = await api.hosts.get.query({ hostId: arg });
    print([
      `${host.id} ${host.online ? 'online' : 'offline'} (${host.status}), ${host.did}, ${host.cpus} cpus, ${host.memoryMiB} MiB, ${host.gpus} GPUs, last seen ${host.lastSeenAt}`,
      `  record:   ${host.jobsDone} done, ${host.jobsFailed} failed, ${host.timesSlashed} slashed; mean slot ${host.meanSlotMs ?? '-'} ms`,
      `  earnings: ${host.earned} earned (before commission), ${host.slashed} slashed (ZSC base units)`,
    ].join('\n'), host);
    return EXIT.ok;
  }
  return usage();
}

function usage(): number {
  console.error(USAGE);
  return EXIT.usage;
}

type Job = Awaited<ReturnType<ApiClient['jobs']['get']['query']>>;
type JobDetail = Awaited<ReturnType<ApiClient['jobs']['status']['query']>>;

/** The workflow's live view: slots, money, challenges and the timeline. */
function describeDetail(detail: JobDetail): string[] {
  return [
    `  escrowed ${detail.escrowed}, slashed ${detail.slashed}` +
      (detail.challengeWindowEndsAt ? `, challenge window until ${detail.challengeWindowEndsAt}` : ''),
    '  slots:',
    ...detail.replicas.map((r) => `    ${r.role} ${r.replica}: ${r.state} on ${r.hostId ?? '-'}` +
      `${r.resultDigest ? `, digest ${r.resultDigest.slice(0, 12)}…` : ''}${r.payout !== '0' ? `, payout ${r.payout}` : ''}` +
      `${r.slashed !== '0' ? `, slashed ${r.slashed}` : ''}${r.lostBy.length ? `, lost by ${r.lostBy.join(', ')}` : ''}` +
      `${r.failedTestBy.length ? `, failed a test: ${r.failedTestBy.join(', ')}` : ''}`),
    ...(detail.challenges.length ? ['  challenges:', ...detail.challenges.map((c) => `    ${c.verifierHostId}: ${c.state} (stake ${c.stake}, ${c.at})`)] : []),
    '  timeline:',
    ...detail.timeline.map((t) => `    ${t.at.slice(11, 23)} ${t.step}`),
  ];
}

function describeJob(job: Job): string {
  return [
    `job ${job.id}: ${job.state}${job.stateReason ? ` (${job.stateReason})` : ''}`,
    job.payer ? `  paid for by ${job.payer}: ${formatUnits(job.escrowAmount, 18)} ZSC locked at most` : null,
    job.hostId ? `  host ${job.hostId}, exit code ${job.exitCode ?? '-'}` : null,
    job.resultDigest ? `  result ${job.resultDigest}, output ${job.outputSha256}` : null,
    job.paidToHosts ? `  paid ${job.paidToHosts}, commission ${job.commission}, refunded ${job.refunded} (ZSC base units)` : null,
  ].filter(Boolean).join('\n');
}

/** Streams state changes until the job ends, then prints its logs; the exit code says whether it succeeded. */
async function follow(api: ApiClient, jobId: string, json: boolean): Promise<number> {
  let last = '';
  // Each wait returns once the job moves on from what was printed (or after 20 s as it is): no polling.
  for (let job = await api.jobs.get.query({ jobId }); ; job = await api.jobs.wait.query({ jobId, state: job.state, stateReason: job.stateReason ?? undefined })) {
    const now = `${job.state} ${job.stateReason ?? ''}`;
    if (now !== last && !json) console.error(`  ${new Date().toISOString().slice(11, 19)} ${job.state}${job.stateReason ? ` (${job.stateReason})` : ''}`);
    last = now;
    if (isFinalJobState(job.state)) {
      const { logs } = await api.jobs.logs.query({ jobId });
      if (json) console.log(JSON.stringify({ ...job, logs }, null, 2));
      else {
        process.stdout.write(logs);
        console.error(describeJob(job));
      }
      return job.state === 'SUCCEEDED' ? EXIT.ok : EXIT.jobFailed;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`zansoc: ${err instanceof TRPCClientError || err instanceof Error ? err.message : String(err)}`);
    process.exitCode = EXIT.failed;
  },
);
