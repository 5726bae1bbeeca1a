import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Wallet } from 'ethers';
import { encryptForStorage, retrieveChunks } from '../cli/storage';
import { CHUNKS_PER_PROOF, cidOf, isFinalDealState, PROOF_DEADLINE_MS, STORAGE_CHUNK_BYTES } from '../domain/storage';
import { sealReplica } from '../runtime/storage-crypto';
import { downloadBlob, uploadBlob } from '../runtime/staging-client';
import { DEVNET_KEYS, startDevnet, type Devnet } from '../scripts/devnet';
import type { Benchmark } from './benchmark';

const FILE_MIB = Number(process.env.BENCH_STORAGE_MIB ?? 32);
const REPLICAS = 2;
const PERIOD_SECONDS = 10;
/** The shortest term a client may ask for is 60 s. */
const PERIODS = Number(process.env.BENCH_STORAGE_PERIODS ?? 6);
/** A run of the deal workflow continues as new after this many periods (workflows/storage-deal/state.ts). */
const PERIODS_PER_RUN = 50;
/** Temporal warns about a workflow history past 10 MB. */
const HISTORY_WARN_BYTES = 10 * 1024 * 1024;

/**
 * The storage deal lifecycle on a 3-host devnet, in one run: how fast a file goes up (encrypt, chunk, stage), how
 * long placement takes (every holder fetches, seals and commits roots; the orchestrator checks them), how fast it
 * comes back (retrieve, unseal, verify, decrypt, 4 chunks at a time), and what each proof period adds to the deal's
 * Temporal history, projected to a whole run. No goals are set for storage: the figures are printed as measured.
 */
export const storage: Benchmark = {
  name: `storage deal lifecycle (${FILE_MIB} MiB, r=${REPLICAS}, ${PERIODS} periods of ${PERIOD_SECONDS} s)`,
  async run(log) {
    const dir = mkdtempSync(join(tmpdir(), 'zansoc-bench-storage-'));
    const devnet = await startDevnet({ dir, hosts: 3, headless: true, log: () => undefined, spotCheckFraction: 0, rateLimitPerMinute: 1_000_000 });
    const client = new Client({ connection: await Connection.connect({ address: devnet.temporalAddress, tls: devnet.temporalTls }) });
    try {
      const plain = randomBytes(FILE_MIB * 1024 * 1024);
      let t = performance.now();
      const file = encryptForStorage(plain);
      const encryptMs = performance.now() - t;
      t = performance.now();
      for (const chunk of file.encrypted) await uploadBlob(devnet.apiUrl, chunk, { auth: { signer: new Wallet(DEVNET_KEYS.client), chainId: devnet.deployment.chainId } });
      const uploadMs = performance.now() - t;
      log(`  up:        encrypt ${rate(plain.length, encryptMs)}, upload to staging ${rate(plain.length, uploadMs)} (${file.chunks.length} chunks)`);

      t = performance.now();
      const { deal } = await devnet.api.storage.create.mutate({
        spec: {
          sizeBytes: file.chunks.reduce((n, c) => n + c.bytes, 0), chunks: file.chunks, replicas: REPLICAS,
          durationSeconds: PERIODS * PERIOD_SECONDS, proofPeriodSeconds: PERIOD_SECONDS, pricePerGibMonth: (10n ** 18n).toString(),
        },
      });
      await until(devnet, deal.id, (state) => state === 'ACTIVE' || isFinalDealState(state));
      const placeMs = performance.now() - t;
      log(`  placement: ${seconds(placeMs)} from the request to ACTIVE (${REPLICAS} holders each fetch, seal and commit ${file.chunks.length} roots), ` +
        `${rate(plain.length * REPLICAS, placeMs)} sealed`);

      t = performance.now();
      const back = Buffer.alloc(plain.length);
      await retrieveChunks({
        dealId: deal.id, key: file.key, chunks: file.chunks,
        fetchReplica: async (cid) => {
          const served = await devnet.api.storage.retrieve.mutate({ dealId: deal.id, cid });
          return { hostId: served.hostId, hostAddress: served.hostAddress, sealed: await downloadBlob(devnet.apiUrl, served.sealedSha256, { auth: { signer: new Wallet(DEVNET_KEYS.client), chainId: devnet.deployment.chainId } }) };
        },
        write: (piece, offset) => void piece.copy(back, offset),
      });
      const retrieveMs = performance.now() - t;
      if (!back.equals(plain)) throw new Error('the retrieved file differs from the stored one');
      log(`  down:      ${rate(plain.length, retrieveMs)} retrieved, unsealed, checked against every CID and decrypted (identical)`);

      const handle = client.workflow.getHandle(`deal-${deal.id}`);
      const atActive = await historyBytes(handle);
      const ended = await until(devnet, deal.id, isFinalDealState);
      const atEnd = await historyBytes(handle);
      const perPeriod = (atEnd - atActive) / Math.max(1, ended.periodsReleased);
      const perRunThreeHolders = (perPeriod * 3) / REPLICAS * PERIODS_PER_RUN;
      log(`  history:   ${kib(atActive)} through placement and retrieval; ${kib(perPeriod)} per period with ${REPLICAS} holders ` +
        `(${ended.periodsReleased} periods, ${ended.state})`);
      log(`             a run of ${PERIODS_PER_RUN} periods with 3 holders: about ${kib(perRunThreeHolders)} ` +
        `(${perRunThreeHolders < HISTORY_WARN_BYTES ? 'under' : 'OVER'} Temporal's 10 MB warning)`);
      await proofMargin(await handle.fetchHistory(), log);
    } finally {
      await client.connection.close();
      await devnet.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/**
 * The proof deadline against both sides of it: how long honest holders took to answer (from taking the challenge to
 * its completion, as the server times it: the deadline's own clock), and how long a host that kept nothing needs to
 * seal the challenged chunks again with the chunks already in hand (no fetch), all of them at once on this machine.
 */
async function proofMargin(history: temporal.api.history.v1.IHistory, log: (line: string) => void): Promise<void> {
  const events = history.events ?? [];
  const scheduled = new Map<string, string>();
  const started = new Map<string, number>();
  const answers: number[] = [];
  const at = (e: temporal.api.history.v1.IHistoryEvent) => Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    const start = e.activityTaskStartedEventAttributes;
    if (start && scheduled.get(String(start.scheduledEventId)) === 'proveReplica') started.set(String(start.scheduledEventId), at(e));
    const done = e.activityTaskCompletedEventAttributes;
    if (done && started.has(String(done.scheduledEventId))) answers.push(at(e) - started.get(String(done.scheduledEventId))!);
  }
  answers.sort((x, y) => x - y);
  const pick = (q: number) => answers[Math.min(answers.length - 1, Math.floor(q * answers.length))];
  const chunk = randomBytes(STORAGE_CHUNK_BYTES);
  const cid = cidOf(chunk);
  const t = performance.now();
  await Promise.all(Array.from({ length: CHUNKS_PER_PROOF }, (_, i) =>
    sealReplica({ dealId: `bench-${i}`, hostAddress: '0x1111111111111111111111111111111111111111', chunkCid: cid }, chunk)));
  const resealMs = performance.now() - t;
  log(`  proofs:    deadline ${PROOF_DEADLINE_MS} ms; honest answers p50 ${pick(0.5)} ms, p99 ${pick(0.99)} ms, max ${answers.at(-1)} ms ` +
    `(${answers.length} proofs, server clock)`);
  log(`             sealing ${CHUNKS_PER_PROOF} challenged chunks again, chunks in hand, in parallel: ${resealMs.toFixed(0)} ms ` +
    `= ${(resealMs / PROOF_DEADLINE_MS).toFixed(1)}× the deadline`);
  log(`  goal: a host that kept nothing misses the deadline by 2× or more: ${resealMs >= 2 * PROOF_DEADLINE_MS ? 'met' : 'NOT met'} ` +
    `(${(resealMs / PROOF_DEADLINE_MS).toFixed(1)}×)`);
  log(`  goal: honest answers p99 within half the deadline: ${pick(0.99) <= PROOF_DEADLINE_MS / 2 ? 'met' : 'NOT met'} ` +
    `(${pick(0.99)} ms of ${PROOF_DEADLINE_MS / 2} ms)`);
}

async function until(devnet: Devnet, dealId: string, done: (state: string) => boolean) {
  for (;;) {
    const deal = await devnet.api.storage.get.query({ dealId });
    if (done(deal.state)) return deal;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The history as the server keeps it: its protobuf encoding. */
async function historyBytes(handle: ReturnType<Client['workflow']['getHandle']>): Promise<number> {
  return temporal.api.history.v1.History.encode(await handle.fetchHistory()).finish().length;
}

const rate = (bytes: number, ms: number) => `${(bytes / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
