import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, readFile, rm, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Client } from '@temporalio/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isUniqueViolation, type Database } from '../db/client';
import { describeIssues } from '../domain/job-spec';
import { isFinalJobState } from '../domain/job-state';
import { isFinalDealState } from '../domain/storage';
import { dealStatusQuery, jobStatusQuery } from '../workflows';
import { didOf, verifyRequest } from './signing';

const SHA256_HEX = /^[a-f0-9]{64}$/;
const GIB = 1024 ** 3;

export const DEFAULT_QUOTA_BYTES = 2 * GIB;
export const DEFAULT_RETENTION_HOURS = 168;

/** What a staged blob is to its job or deal: it decides who may read it and when it goes. */
export type BlobKind = 'input' | 'output' | 'logs' | 'chunk' | 'replica';

/** The query parameters of `PUT /blobs/<sha256>`, signed with the hash and size. */
const bindingSchema = z.object({
  jobId: z.string().uuid().optional(),
  dealId: z.string().uuid().optional(),
  kind: z.enum(['output', 'logs', 'replica', 'chunk']).optional(),
  plaintextSha256: z.string().regex(SHA256_HEX, 'must be 64 lowercase hex characters').optional(),
}).strict().superRefine((b, ctx) => {
  if (b.jobId && b.dealId) ctx.addIssue({ code: 'custom', path: ['dealId'], message: 'a blob belongs to a job or a deal, not both' });
  if (b.jobId && b.kind !== 'output' && b.kind !== 'logs') ctx.addIssue({ code: 'custom', path: ['kind'], message: 'a job\'s blob written by its host is its output or logs' });
  if (b.dealId && b.kind !== 'replica' && b.kind !== 'chunk') ctx.addIssue({ code: 'custom', path: ['kind'], message: 'a deal\'s blob is a replica (its holder) or a chunk (the orchestrator)' });
  if (!b.jobId && !b.dealId && b.kind) ctx.addIssue({ code: 'custom', path: ['kind'], message: 'needs the jobId or dealId it belongs to' });
});
type Binding = z.infer<typeof bindingSchema>;

/** What a blob write is signed over: its name, its Content-Length and the query binding it to a job or deal. */
const putInput = (sha256: string, bytes: number, binding: Binding) => ({ sha256, bytes, ...binding });

/**
 * The procedure and input a staging request at `url` (under `prefix`) is signed over, as the store checks them: for
 * tools that sign requests made by others (test/support/request-signer.ts). Null for anything the store would refuse
 * before reading a signature.
 */
export function blobCallOf(method: string, prefix: string, url: string, bytes: number): { procedure: string; input: Record<string, unknown> } | null {
  const parsed = new URL(url, 'http://api.invalid');
  const match = /^\/blobs\/([^/]+)$/.exec(parsed.pathname.slice(prefix.length));
  if (!parsed.pathname.startsWith(prefix) || !match || !SHA256_HEX.test(match[1])) return null;
  const sha256 = match[1];
  if (method === 'GET') return { procedure: 'blobs.get', input: { sha256 } };
  if (method !== 'PUT') return null;
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(parsed.searchParams.keys())) {
    const values = parsed.searchParams.getAll(key);
    query[key] = values.length === 1 ? values[0] : values;
  }
  const binding = bindingSchema.safeParse(query);
  return binding.success ? { procedure: 'blobs.put', input: putInput(sha256, bytes, binding.data) } : null;
}

export interface StagingOptions {
  /** Bytes each identity may hold in staging at once, all its claims together. */
  quotaBytes?: number;
  /** How long a finished job's output and logs stay for its client, and unbound uploads wait for a job. */
  retentionHours?: number;
}

/** What the store's routes need of the API: the read model (claims, jobs, deals, hosts), Temporal (who holds a slot now). */
export interface StagingAccess {
  db: Database;
  temporal: Client;
  chainId: number;
  /** The orchestrator's key (the deployment's settler): it checks replicas against deal chunks and restages them. */
  orchestratorAddress?: string;
}

type Reply = FastifyReply;
const refuse = (reply: Reply, status: number, message: string) => reply.code(status).send({ error: message });

/**
 * The data plane's content-addressed blob store: logs, outputs, inputs and chunks move here over HTTP, never through
 * Temporal. A blob is named by its sha256, so an upload can only store the bytes its name promises. Every read and
 * write is signed by its caller's key. A write is counted against its writer's quota; a read is allowed only to the
 * parties of the blob's job or deal (its client, a host that holds it now), and to anyone else the blob does not exist.
 * Blobs go when their job or deal no longer needs them (the sweeper deletes what the read model marked ended).
 */
export class StagingStore {
  readonly quotaBytes: number;
  readonly retentionMs: number;

  constructor(private readonly dir: string, opts: StagingOptions = {}) {
    this.quotaBytes = opts.quotaBytes ?? DEFAULT_QUOTA_BYTES;
    this.retentionMs = (opts.retentionHours ?? DEFAULT_RETENTION_HOURS) * 3_600_000;
  }

  private pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256 hex digest: ${sha256}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /**
   * Writes a stream to a partial file, hashing as it goes, and renames it into place when its bytes hash to `sha256`;
   * more than `maxBytes` stops it. Readers never see a half-written blob.
   */
  async putStream(body: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer>, maxBytes: number, expectedSha256?: string): Promise<{ sha256: string; bytes: number }> {
    await mkdir(this.dir, { recursive: true });
    const partial = join(this.dir, `.${randomUUID()}.partial`);
    const out = createWriteStream(partial, { flags: 'wx' });
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      for await (const chunk of body) {
        bytes += chunk.length;
        if (bytes > maxBytes) throw new BlobTooLarge(maxBytes);
        hash.update(chunk);
        if (!out.write(chunk)) await new Promise<void>((resolve, reject) => { out.once('drain', resolve); out.once('error', reject); });
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      const sha256 = hash.digest('hex');
      if (expectedSha256 && sha256 !== expectedSha256) throw new BlobMismatch(sha256, expectedSha256);
      await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
      await rename(partial, this.pathOf(sha256));
      return { sha256, bytes };
    } catch (err) {
      out.destroy();
      await rm(partial, { force: true });
      throw err;
    }
  }

  /** Stores bytes in hand (tests, in-process callers); an upload over HTTP streams instead. */
  async put(data: Buffer): Promise<string> {
    return (await this.putStream([data], Infinity)).sha256;
  }

  async has(sha256: string): Promise<boolean> {
    return stat(this.pathOf(sha256)).then(() => true, () => false);
  }

  /** The first `maxBytes` of a blob, or null when there is none; reads no more than that from disk. */
  async read(sha256: string, maxBytes = Infinity): Promise<Buffer | null> {
    try {
      if (maxBytes === Infinity) return await readFile(this.pathOf(sha256));
      const file = await open(this.pathOf(sha256), 'r');
      try {
        const { size } = await file.stat();
        const buffer = Buffer.alloc(Math.min(size, maxBytes));
        await file.read(buffer, 0, buffer.length, 0);
        return buffer;
      } finally {
        await file.close();
      }
    } catch {
      return null;
    }
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  /** Bytes `owner` holds in staging now: every claim of its, bound or not, until the sweeper deletes it. */
  async usageOf(db: Database, owner: string): Promise<bigint> {
    const { _sum } = await db.blob.aggregate({ where: { owner }, _sum: { bytes: true } });
    return _sum.bytes ?? 0n;
  }

  /**
   * Deletes the claims that have ended — at once, or after the retention period for a finished job's output and logs,
   * and unbound uploads no job took within it — and the bytes no claim is left on. Returns the blobs deleted.
   */
  async sweep(db: Database, nowMs = Date.now()): Promise<string[]> {
    const now = new Date(nowMs);
    const retainedUntil = new Date(nowMs - this.retentionMs);
    const ended = await db.blob.findMany({
      where: {
        OR: [
          { retained: false, endedAt: { lte: now } },
          { retained: true, endedAt: { lte: retainedUntil } },
          { scope: '', createdAt: { lte: retainedUntil } },
        ],
      },
      select: { id: true, sha256: true },
    });
    if (ended.length === 0) return [];
    await db.blob.deleteMany({ where: { id: { in: ended.map((b) => b.id) } } });
    const shas = [...new Set(ended.map((b) => b.sha256))];
    const stillClaimed = new Set((await db.blob.findMany({ where: { sha256: { in: shas } }, select: { sha256: true } })).map((b) => b.sha256));
    const deleted = shas.filter((sha) => !stillClaimed.has(sha));
    for (const sha of deleted) await this.remove(sha);
    return deleted;
  }

  /** Runs the sweeper every `intervalMs` until the returned function is called. */
  startSweeper(db: Database, intervalMs: number): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.sweep(db).catch((err) => console.error('staging sweeper failed:', err)).finally(() => { running = false; });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * `PUT /blobs/<sha256>` stores a blob whose bytes hash to its name, signed by its writer (procedure `blobs.put`,
   * input `{ sha256, bytes, ...query }` with `bytes` the Content-Length); `GET /blobs/<sha256>` returns it to a party
   * of its job or deal (procedure `blobs.get`, input `{ sha256 }`). Served at each prefix given: the API serves them at
   * /blobs and under the OpenAPI document's base URL (/api/blobs), where they are its operations.
   */
  registerRoutes(server: FastifyInstance, maxBlobBytes: number, access: StagingAccess, prefixes: string[] = ['']): void {
    for (const prefix of prefixes) this.registerRoutesAt(server, `${prefix}/blobs/:sha256`, maxBlobBytes, access);
  }

  private registerRoutesAt(server: FastifyInstance, route: string, maxBlobBytes: number, access: StagingAccess): void {
    const { db } = access;
    server.register(async (scope) => {
      // The body stays a stream: it goes to disk as it arrives, never whole into memory.
      scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
      scope.put<{ Params: { sha256: string }; Querystring: Record<string, string> }>(route, async (req, reply) => {
        const { sha256 } = req.params;
        if (!SHA256_HEX.test(sha256)) return refuse(reply, 400, 'sha256: must be 64 lowercase hex characters');
        const parsed = bindingSchema.safeParse(req.query ?? {});
        if (!parsed.success) return refuse(reply, 400, describeIssues(parsed.error));
        const binding = parsed.data;
        if (!req.headers['content-type']?.startsWith('application/octet-stream')) return refuse(reply, 415, 'content-type: send the blob as application/octet-stream');
        const declared = req.headers['content-length'];
        if (!declared || !/^\d{1,15}$/.test(declared)) return refuse(reply, 411, 'content-length: say the blob\'s size (it is signed, and a body beyond it is refused)');
        const bytes = Number(declared);
        if (bytes > maxBlobBytes) return refuse(reply, 413, `content-length: ${bytes} bytes is over the largest blob, MAX_BLOB_BYTES ${maxBlobBytes}`);
        const writer = await this.verify(req, access, 'blobs.put', putInput(sha256, bytes, binding));
        if (typeof writer !== 'string') return refuse(reply, 401, writer.reason);
        const claim = await this.claimFor(access, writer, binding);
        if ('missing' in claim) return refuse(reply, 404, claim.missing);
        const usage = await this.usageOf(db, writer);
        const existing = await db.blob.findUnique({ where: { sha256_owner_scope: { sha256, owner: writer, scope: claim.scope } }, select: { id: true } });
        if (!existing && usage + BigInt(bytes) > BigInt(this.quotaBytes)) {
          reply.header('connection', 'close');
          return refuse(reply, 413, quotaMessage(this.quotaBytes, usage, bytes));
        }
        try {
          await this.putStream(req.body as Readable, bytes, sha256);
        } catch (err) {
          reply.header('connection', 'close');
          if (err instanceof BlobTooLarge) return refuse(reply, 413, `body: longer than its content-length, ${bytes} bytes`);
          if (err instanceof BlobMismatch) return refuse(reply, 422, `sha256: the body hashes to ${err.actual}, not ${sha256}`);
          throw err;
        }
        if (existing) {
          // Written again (a repair restaging a chunk, a retried upload): the claim is live again, not swept.
          await db.blob.update({ where: { id: existing.id }, data: { endedAt: null, retained: false } });
          return reply.code(201).send({ sha256, bytes });
        }
        // Two uploads of one writer may race past the check above: the one that lands past the quota is refused.
        const after = await this.usageOf(db, writer);
        if (after + BigInt(bytes) > BigInt(this.quotaBytes)) {
          if ((await db.blob.count({ where: { sha256 } })) === 0) await this.remove(sha256);
          return refuse(reply, 413, quotaMessage(this.quotaBytes, after, bytes));
        }
        try {
          await db.blob.create({
            data: { sha256, owner: writer, bytes: BigInt(bytes), scope: claim.scope, jobId: binding.jobId, dealId: binding.dealId, kind: claim.kind, plaintextSha256: binding.plaintextSha256 },
          });
        } catch (err) {
          // The same writer raced itself with the same blob: one claim is enough.
          if (!isUniqueViolation(err)) throw err;
        }
        return reply.code(201).send({ sha256, bytes });
      });
      scope.get<{ Params: { sha256: string } }>(route, async (req, reply) => {
        const { sha256 } = req.params;
        if (!SHA256_HEX.test(sha256)) return refuse(reply, 400, 'sha256: must be 64 lowercase hex characters');
        const reader = await this.verify(req, access, 'blobs.get', { sha256 });
        if (typeof reader !== 'string') return refuse(reply, 401, reader.reason);
        // Not 403: a blob the reader may not see does not exist for it.
        if (!(await this.mayRead(access, reader, sha256)) || !(await this.has(sha256))) return refuse(reply, 404, `no blob ${sha256} of yours`);
        // The length lets downloaders show progress and an ETA.
        const { size } = await stat(this.pathOf(sha256));
        return reply.type('application/octet-stream').header('content-length', size).send(createReadStream(this.pathOf(sha256)));
      });
    });
  }

  /** The signer of a blob request, its nonce spent; or why it is refused. */
  private async verify(req: FastifyRequest, access: StagingAccess, procedure: string, input: unknown): Promise<string | { reason: string }> {
    const verified = verifyRequest(req.headers, access.chainId, procedure, input);
    if (!verified.ok) return { reason: verified.reason };
    try {
      await access.db.usedNonce.create({ data: { address: verified.address, nonce: verified.nonce, expiresAt: new Date(verified.expiresAt * 1000) } });
    } catch (err) {
      if (isUniqueViolation(err)) return { reason: 'replayed request: this nonce was used already' };
      throw err;
    }
    return verified.address;
  }

  /** The claim a write makes: the writer's own, or its job's or deal's when it is a party allowed to write there. */
  private async claimFor(access: StagingAccess, writer: string, b: Binding): Promise<{ scope: string; kind: BlobKind } | { missing: string }> {
    if (b.jobId) {
      return (await hostOfJob(access, writer, b.jobId)) ? { scope: `job:${b.jobId}`, kind: b.kind! } : { missing: `jobId: no job ${b.jobId} that you run` };
    }
    if (b.dealId) {
      const allowed = b.kind === 'chunk' ? sameAddress(writer, access.orchestratorAddress) : await holderOfDeal(access, writer, b.dealId);
      return allowed ? { scope: `deal:${b.dealId}`, kind: b.kind! } : { missing: `dealId: no deal ${b.dealId} that you hold` };
    }
    return { scope: '', kind: 'input' };
  }

  /**
   * Whether some claim on the blob lets `reader` see it: its writer; its job's or deal's client; a host running a
   * slot of the job (its inputs only) or holding a replica of the deal (its chunks); the orchestrator (deal blobs).
   */
  private async mayRead(access: StagingAccess, reader: string, sha256: string): Promise<boolean> {
    const claims = await access.db.blob.findMany({ where: { sha256 }, select: { owner: true, jobId: true, dealId: true, kind: true } });
    const did = didOf(access.chainId, reader);
    for (const claim of claims) {
      if (claim.owner === reader) return true;
      if (claim.jobId) {
        const job = await access.db.job.findUnique({ where: { id: claim.jobId }, select: { clientId: true } });
        if (job?.clientId === did) return true;
        if (claim.kind === 'input' && (await hostOfJob(access, reader, claim.jobId))) return true;
      }
      if (claim.dealId) {
        if (sameAddress(reader, access.orchestratorAddress)) return true;
        const deal = await access.db.deal.findUnique({ where: { id: claim.dealId }, select: { clientId: true } });
        if (deal?.clientId === did) return true;
        // Only while it places its replica: a placed holder never reads the chunks again, so one that threw its
        // replica away cannot fetch them back to reseal and answer a proof.
        if (claim.kind === 'chunk' && (await holderOfDeal(access, reader, claim.dealId, 'placing'))) return true;
      }
    }
    return false;
  }
}

class BlobTooLarge extends Error {
  constructor(readonly limit: number) { super(`blob over ${limit} bytes`); }
}
class BlobMismatch extends Error {
  constructor(readonly actual: string, expected: string) { super(`blob hashes to ${actual}, not ${expected}`); }
}

const sameAddress = (a: string, b: string | undefined) => b !== undefined && a.toLowerCase() === b.toLowerCase();

const formatBytes = (n: number | bigint) => `${(Number(n) / GIB).toFixed(2)} GiB (${n} bytes)`;

export function quotaMessage(quota: number, usage: bigint, adding: number): string {
  return `quota: each identity may hold ${formatBytes(quota)} in staging (STAGING_QUOTA_BYTES); you hold ${formatBytes(usage)} ` +
    `and this blob of ${adding} bytes would take you over it. Blobs go when their job or deal ends`;
}

/** Whether `address` is a registered host running a slot of the job right now (the job's workflow says). */
async function hostOfJob(access: StagingAccess, address: string, jobId: string): Promise<boolean> {
  const host = await access.db.host.findUnique({ where: { address }, select: { id: true } });
  if (!host) return false;
  const job = await access.db.job.findUnique({ where: { id: jobId }, select: { state: true } });
  if (!job || isFinalJobState(job.state)) return false;
  const status = await access.temporal.workflow.getHandle(`job-${jobId}`).query(jobStatusQuery).catch(() => null);
  return status?.replicas.some((r) => r.hostId === host.id && r.state === 'RUNNING') ?? false;
}

/** Whether `address` is a registered host holding (or, `placing`, still storing) a replica of the deal right now. */
async function holderOfDeal(access: StagingAccess, address: string, dealId: string, only: 'placing' | 'any' = 'any'): Promise<boolean> {
  const host = await access.db.host.findUnique({ where: { address }, select: { id: true } });
  if (!host) return false;
  const deal = await access.db.deal.findUnique({ where: { id: dealId }, select: { state: true } });
  if (!deal || isFinalDealState(deal.state)) return false;
  const status = await access.temporal.workflow.getHandle(`deal-${dealId}`).query(dealStatusQuery).catch(() => null);
  return status?.holders.some((h) => h.hostId === host.id && (only === 'placing' ? h.state === 'STORING' : h.state !== 'REMOVED')) ?? false;
}

/**
 * Binds the caller's staged blobs to the job or deal that names them, in `tx` beside the job or deal row: each gets a
 * claim of that scope, and an unbound upload's claim moves there (counted once). Returns the first blob the caller has
 * no claim on, naming its field, or null. The caller checks that the bytes are still there.
 */
export async function bindBlobs(
  tx: Pick<Database, 'blob'>, owner: string, scope: { jobId: string } | { dealId: string }, kind: BlobKind, blobs: { field: string; sha256: string }[],
): Promise<string | null> {
  const scopeName = 'jobId' in scope ? `job:${scope.jobId}` : `deal:${scope.dealId}`;
  for (const { field, sha256 } of blobs) {
    // Any claim of the caller's on bytes still staged will do: an upload, or an input of an earlier job (which goes
    // at the next sweep, while this job's claim keeps the bytes).
    const own = await tx.blob.findFirst({ where: { sha256, owner }, orderBy: { scope: 'asc' } });
    if (!own) return `${field}: no blob ${sha256} of yours in the staging store; upload the file first (PUT /blobs/${sha256})`;
    const bound = await tx.blob.findUnique({ where: { sha256_owner_scope: { sha256, owner, scope: scopeName } }, select: { id: true } });
    if (bound) continue;
    if (own.scope === '') {
      await tx.blob.update({ where: { id: own.id }, data: { scope: scopeName, kind, ...scope } });
    } else {
      await tx.blob.create({ data: { sha256, owner, bytes: own.bytes, scope: scopeName, kind, ...scope } });
    }
  }
  return null;
}
