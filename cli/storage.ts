import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { formatUnits } from 'ethers';
import { z } from 'zod';
import type { ApiClient } from '../api/client';
import { cidOf, isRawCid, MAX_DEAL_CHUNKS, SECONDS_PER_MONTH, STORAGE_CHUNK_BYTES, storageDealSpecSchema, type StorageChunk, type StorageDealSpecInput } from '../domain/storage';
import { decryptChunk, encryptChunk, newDataKey, unsealReplica } from '../runtime/storage-crypto';
import { downloadBlob, uploadBlob, type StagingAuth } from '../runtime/staging-client';
import { formatBytes, progressBar, table } from './format';

/** What AES-GCM adds to each chunk (`encryptChunk`: 12-byte nonce in front, 16-byte tag behind). */
export const CHUNK_OVERHEAD_BYTES = 12 + 16;
/** Plaintext per chunk, so that every encrypted chunk fits in STORAGE_CHUNK_BYTES. */
export const PLAIN_CHUNK_BYTES = STORAGE_CHUNK_BYTES - CHUNK_OVERHEAD_BYTES;
/** Chunks moved to or from staging at once. */
const PARALLEL_TRANSFERS = 4;
const DEFAULT_REPLICAS = 3;
const DEFAULT_DURATION_SECONDS = SECONDS_PER_MONTH;
const DEFAULT_PERIOD_SECONDS = 3600;
const DEFAULT_PRICE_PER_GIB_MONTH = '1000000000000000000';

// ---------------------------------------------------------------------------------------------------------------
// Encryption and chunking

export interface EncryptedFile {
  key: Buffer;
  /** In file order: what the deal spec lists. */
  chunks: StorageChunk[];
  /** The bytes each chunk's CID names, in the same order. */
  encrypted: Buffer[];
}

/** Encrypts data under a fresh key in pieces of PLAIN_CHUNK_BYTES and content-addresses each encrypted piece. */
export function encryptForStorage(plain: Buffer, key: Buffer = newDataKey()): EncryptedFile {
  if (plain.length === 0) throw new Error('there is nothing to store in an empty file');
  const encrypted: Buffer[] = [];
  for (let start = 0; start < plain.length; start += PLAIN_CHUNK_BYTES) {
    encrypted.push(encryptChunk(key, plain.subarray(start, start + PLAIN_CHUNK_BYTES)));
  }
  return { key, chunks: encrypted.map((bytes) => ({ cid: cidOf(bytes), bytes: bytes.length })), encrypted };
}

/** Names a set of chunks before the deal has an id: sha256 (hex) of the CIDs in order, one per line. */
export function manifestId(cids: readonly string[]): string {
  return createHash('sha256').update(cids.join('\n')).digest('hex');
}

const plainBytesOf = (chunk: StorageChunk) => chunk.bytes - CHUNK_OVERHEAD_BYTES;

// ---------------------------------------------------------------------------------------------------------------
// Key files: $ZANSOC_HOME/deals/<manifestId>.json until the deal exists, then <dealId>.json

const keyFileSchema = z.object({
  dealId: z.string().optional(),
  /** AES-256 data key, hex. */
  key: z.string().regex(/^[0-9a-f]{64}$/),
  fileName: z.string(),
  plaintextBytes: z.number().int().nonnegative(),
  chunks: z.array(z.object({ cid: z.string().refine(isRawCid), bytes: z.number().int().min(CHUNK_OVERHEAD_BYTES) })).min(1),
});
export type DealKeyFile = z.infer<typeof keyFileSchema>;

export const dealKeysDir = (home: string) => join(home, 'deals');

/** Writes a key file readable by its owner only (the folder too), replacing it atomically; returns its path. */
export function writeKeyFile(dir: string, id: string, keyFile: DealKeyFile): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = join(dir, `${id}.json`);
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, `${JSON.stringify(keyFile, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(partial, 0o600);
  renameSync(partial, path);
  return path;
}

/** Reads a key file written by `writeKeyFile`; undefined if there is none. */
export function readKeyFile(dir: string, id: string): DealKeyFile | undefined {
  const path = join(dir, `${id}.json`);
  if (!existsSync(path)) return undefined;
  const parsed = keyFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path} is not a deal key file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * The key for a deal, by its id or, if the machine stopped between creating the deal and renaming the key file, by the
 * manifest id of the deal's chunks. The key file must describe exactly the deal's chunks.
 */
export function findDealKey(dir: string, dealId: string, chunks: readonly StorageChunk[]): { path: string; keyFile: DealKeyFile } | undefined {
  for (const id of [dealId, manifestId(chunks.map((c) => c.cid))]) {
    const keyFile = readKeyFile(dir, id);
    if (!keyFile) continue;
    const path = join(dir, `${id}.json`);
    const same = keyFile.chunks.length === chunks.length && keyFile.chunks.every((c, i) => c.cid === chunks[i].cid && c.bytes === chunks[i].bytes);
    if (!same) throw new Error(`${path} describes other chunks than deal ${dealId}`);
    return { path, keyFile };
  }
  return undefined;
}

/** Files the key of a just-created deal under the deal id (adding the id to it); returns the path, or undefined if this machine has no key for it. */
export function fileKeyUnderDeal(dir: string, dealId: string, chunks: readonly StorageChunk[]): string | undefined {
  const found = findDealKey(dir, dealId, chunks);
  if (!found) return undefined;
  const path = writeKeyFile(dir, dealId, { ...found.keyFile, dealId });
  if (found.path !== path) rmSync(found.path);
  return path;
}

// ---------------------------------------------------------------------------------------------------------------
// Retrieval

/** A holder's sealed replica of one chunk. */
export interface ServedReplica {
  hostId: string;
  hostAddress: string;
  sealed: Buffer;
}

export interface RetrieveOptions {
  dealId: string;
  key: Buffer;
  chunks: readonly StorageChunk[];
  /** Has a holder serve one chunk; called again once if the replica does not unseal to the chunk's CID. */
  fetchReplica: (cid: string) => Promise<ServedReplica>;
  /** Receives each chunk's plaintext and its offset in the file; chunks arrive in any order. */
  write: (plain: Buffer, offset: number) => void | Promise<void>;
  concurrency?: number;
  onChunk?: (plainBytes: number) => void;
}

/** The plaintext size of a file stored as these chunks. */
export function plaintextBytes(chunks: readonly StorageChunk[]): number {
  return chunks.reduce((total, chunk) => total + plainBytesOf(chunk), 0);
}

/** Fetches, unseals, verifies and decrypts every chunk of a deal, a few at a time; returns the size and who served how many chunks. */
export async function retrieveChunks(opts: RetrieveOptions): Promise<{ bytes: number; servedBy: Record<string, number> }> {
  const { dealId, key, chunks, fetchReplica } = opts;
  const offsets: number[] = [];
  for (let i = 0, offset = 0; i < chunks.length; offset += plainBytesOf(chunks[i]), i++) offsets.push(offset);
  const servedBy: Record<string, number> = {};

  const fetchVerified = async (chunk: StorageChunk, index: number): Promise<Buffer> => {
    const refusedBy: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const served = await fetchReplica(chunk.cid);
      const unsealed = await unsealReplica({ dealId, hostAddress: served.hostAddress, chunkCid: chunk.cid }, served.sealed);
      if (cidOf(unsealed) === chunk.cid) {
        servedBy[served.hostId] = (servedBy[served.hostId] ?? 0) + 1;
        return unsealed;
      }
      refusedBy.push(served.hostId);
    }
    throw new Error(`chunk ${index} (${chunk.cid}) does not match its CID as served by ${refusedBy.join(', then by ')}`);
  };

  await inParallel(chunks.length, opts.concurrency ?? PARALLEL_TRANSFERS, async (index) => {
    const chunk = chunks[index];
    const plain = decryptChunk(key, await fetchVerified(chunk, index));
    if (plain.length !== plainBytesOf(chunk)) throw new Error(`chunk ${index} (${chunk.cid}) decrypted to ${plain.length} bytes, expected ${plainBytesOf(chunk)}`);
    await opts.write(plain, offsets[index]);
    opts.onChunk?.(plain.length);
  });
  return { bytes: plaintextBytes(chunks), servedBy };
}

/** Runs `task` for 0..count-1 with at most `limit` at once; the first failure stops new tasks and is thrown. */
async function inParallel(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < count) {
      const index = next++;
      try {
        await task(index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

const zsc = (baseUnits: string) => `${formatUnits(baseUnits, 18)} ZSC`;

// ---------------------------------------------------------------------------------------------------------------
// Commands

export const STORAGE_USAGE = `  zansoc storage put <file> [--replicas N] [--days D | --duration-seconds S] [--period-seconds P] [--price <base units>] [--name <text>] [--key <idempotency key>]
                                   encrypt the file here, upload its chunks and ask for a deal: N hosts (default ${DEFAULT_REPLICAS}) keep each
                                   chunk for the term (default 30 days), proving it every P seconds (default ${DEFAULT_PERIOD_SECONDS}); price in ZSC
                                   base units per GiB-month per replica (default ${DEFAULT_PRICE_PER_GIB_MONTH}, 1 ZSC). The data key is saved in
                                   $ZANSOC_HOME/deals and never leaves this machine: only this machine can read the data back.
                                   The file name stays here too; --name is sent to the network.
  zansoc storage status <dealId>   state, periods, money, repairs, every holder (proofs, faults, bond, slash), timeline
  zansoc storage ls                your deals
  zansoc storage get <dealId> [--out <file>]   download, verify and decrypt (default: the original file name)
  zansoc storage renew <dealId> (--days D | --duration-seconds S)   keep it longer: a new term is paid now, same hosts
  zansoc storage cancel <dealId> [--reason <text>]   end early: hosts keep pay for proven periods, the rest is refunded`;

export interface StorageOptions {
  replicas?: string;
  days?: string;
  'duration-seconds'?: string;
  'period-seconds'?: string;
  price?: string;
  name?: string;
  key?: string;
  out?: string;
  reason?: string;
  json?: boolean;
}

export interface StorageContext {
  api: ApiClient;
  /** API base URL, which is also the staging store's. */
  apiUrl: string;
  /** $ZANSOC_HOME. */
  home: string;
  /** The caller's key: staging reads and writes are signed with it. */
  staging?: StagingAuth;
}

/** What a command has to say (human text and --json data), or a usage problem. */
export type StorageOutcome = { human: string; data: unknown } | { usage: string };

class UsageProblem extends Error {}

/** Runs `zansoc storage <command> [arg]`; undefined for a command it does not know. Failures throw. */
export async function storageCommand(ctx: StorageContext, command: string | undefined, arg: string | undefined, opts: StorageOptions): Promise<StorageOutcome | undefined> {
  try {
    if (command === 'put' && arg) return await putFile(ctx, arg, opts);
    if (command === 'status' && arg) return await dealStatus(ctx, arg);
    if (command === 'ls') return await listDeals(ctx);
    if (command === 'get' && arg) return await getFile(ctx, arg, opts);
    if (command === 'renew' && arg) {
      if (opts.days === undefined && opts['duration-seconds'] === undefined) throw new UsageProblem('--days or --duration-seconds: say how much longer');
      const renewed = await ctx.api.storage.renew.mutate({ dealId: arg, durationSeconds: durationSeconds(opts) });
      return {
        human: `renewed deal ${arg}: ${renewed.periods} periods in all, until ${renewed.endsAt}; this term's deposit ${zsc(renewed.deposit)}`,
        data: renewed,
      };
    }
    if (command === 'cancel' && arg) {
      const result = await ctx.api.storage.cancel.mutate({ dealId: arg, reason: opts.reason });
      return { human: `cancelling deal ${arg}: hosts keep what they earned for proven periods, the rest is refunded`, data: result };
    }
    return undefined;
  } catch (err) {
    if (err instanceof UsageProblem) return { usage: err.message };
    throw err;
  }
}

function wholeNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new UsageProblem(`--${flag}: must be a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function durationSeconds(opts: StorageOptions): number {
  if (opts.days !== undefined && opts['duration-seconds'] !== undefined) throw new UsageProblem('--days and --duration-seconds: give one, not both');
  if (opts.days === undefined) return wholeNumber('duration-seconds', opts['duration-seconds'], DEFAULT_DURATION_SECONDS);
  const days = Number(opts.days);
  if (!/^\d+(\.\d+)?$/.test(opts.days) || days <= 0) throw new UsageProblem(`--days: must be a positive number, got ${JSON.stringify(opts.days)}`);
  return Math.round(days * 86_400);
}

const OPTION_OF: Record<string, string> = {
  replicas: '--replicas', durationSeconds: '--days/--duration-seconds', proofPeriodSeconds: '--period-seconds', pricePerGibMonth: '--price', name: '--name',
};

async function putFile(ctx: StorageContext, file: string, opts: StorageOptions): Promise<StorageOutcome> {
  const stat = statSync(file);
  if (!stat.isFile()) throw new Error(`${file} is not a file`);
  if (stat.size === 0) throw new Error(`${file} is empty: there is nothing to store`);
  const maxPlain = MAX_DEAL_CHUNKS * PLAIN_CHUNK_BYTES;
  if (stat.size > maxPlain) {
    throw new Error(`${file} is ${formatBytes(stat.size)}: one deal holds at most ${formatBytes(maxPlain)} (${MAX_DEAL_CHUNKS} chunks); split the file into several deals`);
  }
  const settings = {
    name: opts.name,
    replicas: wholeNumber('replicas', opts.replicas, DEFAULT_REPLICAS),
    durationSeconds: durationSeconds(opts),
    proofPeriodSeconds: wholeNumber('period-seconds', opts['period-seconds'], DEFAULT_PERIOD_SECONDS),
    pricePerGibMonth: opts.price ?? DEFAULT_PRICE_PER_GIB_MONTH,
  };
  // Settings are checked before anything is encrypted or uploaded; the chunks are filled in once they exist.
  const probe = storageDealSpecSchema.safeParse({ ...settings, sizeBytes: 1, chunks: [{ cid: cidOf(Buffer.alloc(0)), bytes: 1 }] });
  if (!probe.success) {
    throw new UsageProblem(probe.error.issues.map((i) => `${OPTION_OF[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`).join('\n'));
  }

  const plain = readFileSync(file);
  const { key, chunks, encrypted } = encryptForStorage(plain);
  const spec: StorageDealSpecInput = { ...settings, sizeBytes: chunks.reduce((total, c) => total + c.bytes, 0), chunks };
  const dir = dealKeysDir(ctx.home);
  // The key is saved before anything leaves the machine: an upload or a deal without it could never be read.
  const pendingKey = writeKeyFile(dir, manifestId(chunks.map((c) => c.cid)), {
    key: key.toString('hex'), fileName: basename(file), plaintextBytes: plain.length, chunks,
  });

  const progress = progressBar('upload', spec.sizeBytes, !opts.json);
  await inParallel(encrypted.length, PARALLEL_TRANSFERS, async (i) => {
    await uploadBlob(ctx.apiUrl, encrypted[i], { auth: ctx.staging });
    progress.add(encrypted[i].length);
  });
  progress.finish();

  const { deal, created } = await ctx.api.storage.create.mutate({ spec, idempotencyKey: opts.key });
  // An earlier run with the same --key may have made the deal from other chunks: its key, if this machine has it, is the one to keep.
  const keyFile = fileKeyUnderDeal(dir, deal.id, deal.spec.chunks);
  const ours = deal.spec.chunks.length === chunks.length && deal.spec.chunks.every((c, i) => c.cid === chunks[i].cid);
  if (!ours) rmSync(pendingKey, { force: true });
  const keyNote = keyFile
    ? `its key is in ${keyFile} and never leaves this machine`
    : `this machine has no key for it (no ${deal.id}.json in ${dir}): its data cannot be read back here`;
  const human = [
    `${created ? 'created' : 'already created'} deal ${deal.id} (${deal.state}): ${formatBytes(deal.sizeBytes)} in ${deal.spec.chunks.length} chunks, ` +
      `${deal.replicas} replicas, ${deal.periods} periods of ${deal.spec.proofPeriodSeconds} s`,
    `  deposit ${zsc(deal.deposit)}`,
    `  ${keyNote}`,
    ...(ours ? [] : [`  (the --key ${JSON.stringify(opts.key)} was already used for that deal: the chunks just uploaded are not part of it)`]),
  ].join('\n');
  return { human, data: { ...deal, created, keyFile: keyFile ?? null } };
}

async function dealStatus(ctx: StorageContext, dealId: string): Promise<StorageOutcome> {
  const deal = await ctx.api.storage.get.query({ dealId });
  // The workflow answers only while it runs (and for a while after); the stored deal is enough without it.
  const live = await ctx.api.storage.status.query({ dealId }).catch(() => null);
  const money = live ?? deal;
  const lines = [
    `deal ${deal.id}${deal.name ? ` "${deal.name}"` : ''}: ${live?.state ?? deal.state}${(live?.reason ?? deal.stateReason) ? ` (${live?.reason ?? deal.stateReason})` : ''}`,
    `  ${formatBytes(deal.sizeBytes)} in ${deal.spec.chunks.length} chunks, ${deal.replicas} replicas; created ${deal.createdAt}` +
      `${(live?.endsAt ?? deal.endsAt) ? `, ends ${live?.endsAt ?? deal.endsAt}` : ''}`,
    `  periods: ${live?.periodsReleased ?? deal.periodsReleased} of ${deal.periods} released (every ${deal.spec.proofPeriodSeconds} s)`,
    `  money: deposit ${zsc(money.deposit)}, paid to hosts ${zsc(money.paidToHosts)}, commission ${zsc(money.commission)}, ` +
      `refunded ${zsc(money.refunded)}, slashed ${zsc(money.slashed)}`,
  ];
  if (live) {
    lines.push(
      `  repairs: ${live.repairs}`,
      '  holders:',
      ...live.holders.map((h) => `    ${h.hostId} ${h.state}: proofs ${h.proofsOk} ok, ${h.proofsFailed} failed, ` +
        `${h.consecutiveFaults} faults in a row, bond ${zsc(h.bond)}, slashed ${zsc(h.slashed)}`),
      ...(live.holders.length ? [] : ['    none yet']),
      '  timeline:',
      ...live.timeline.map((t) => `    ${t.at.slice(11, 23)} ${t.step}`),
    );
  } else {
    lines.push(`  holders: ${deal.hostIds.join(', ') || 'none'} (the deal's workflow did not answer: no live detail)`);
  }
  return { human: lines.join('\n'), data: { ...deal, detail: live } };
}

async function listDeals(ctx: StorageContext): Promise<StorageOutcome> {
  const deals: Awaited<ReturnType<ApiClient['storage']['list']['query']>>['deals'] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.api.storage.list.query({ limit: 100, cursor });
    deals.push(...page.deals);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  const human = table(['DEAL', 'NAME', 'STATE', 'SIZE', 'REPLICAS', 'PERIODS', 'CREATED'], deals.map((d) => [
    d.id, d.name ?? '-', d.state, formatBytes(d.sizeBytes), String(d.replicas), `${d.periodsReleased}/${d.periods}`, d.createdAt,
  ]));
  return { human, data: deals };
}

async function getFile(ctx: StorageContext, dealId: string, opts: StorageOptions): Promise<StorageOutcome> {
  const deal = await ctx.api.storage.get.query({ dealId });
  const dir = dealKeysDir(ctx.home);
  const found = findDealKey(dir, deal.id, deal.spec.chunks);
  if (!found) throw new Error(`no key for deal ${deal.id} in ${dir}: only the machine that stored it can read it`);
  if (deal.state !== 'ACTIVE') throw new Error(`deal ${deal.id} is ${deal.state}: only an ACTIVE deal's chunks can be retrieved`);
  const out = opts.out ?? (found.keyFile.fileName ? basename(found.keyFile.fileName) : `${deal.id}.bin`);
  const partial = `${out}.partial`;
  const total = plaintextBytes(deal.spec.chunks);
  const progress = progressBar('download', total, !opts.json);
  const fd = openSync(partial, 'w');
  const result = await retrieveChunks({
    dealId: deal.id,
    key: Buffer.from(found.keyFile.key, 'hex'),
    chunks: deal.spec.chunks,
    fetchReplica: async (cid) => {
      const served = await ctx.api.storage.retrieve.mutate({ dealId: deal.id, cid });
      return { hostId: served.hostId, hostAddress: served.hostAddress, sealed: await downloadBlob(ctx.apiUrl, served.sealedSha256, { auth: ctx.staging }) };
    },
    write: (plain, offset) => {
      writeSync(fd, plain, 0, plain.length, offset);
    },
    onChunk: (bytes) => progress.add(bytes),
  }).finally(() => closeSync(fd)).catch((err: unknown) => {
    rmSync(partial, { force: true });
    throw err;
  });
  progress.finish();
  renameSync(partial, out);
  const hosts = Object.entries(result.servedBy).map(([hostId, n]) => `${hostId} (${n} chunk${n === 1 ? '' : 's'})`).join(', ');
  return {
    human: `wrote ${out}: ${result.bytes} bytes in ${deal.spec.chunks.length} chunks, each checked against its CID; served by ${hosts}`,
    data: { dealId: deal.id, file: out, bytes: result.bytes, chunks: deal.spec.chunks.length, servedBy: result.servedBy },
  };
}
