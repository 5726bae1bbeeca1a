import type { Client } from '@temporalio/client';
import { Wallet } from 'ethers';
import fc from 'fast-check';
import type { ZodTypeAny } from 'zod';
import { ZodFastCheck } from 'zod-fast-check';
import { signJobQuote } from '../api/order-signing';
import { appRouter } from '../api/routers';
import { signRequest } from '../api/signing';
import type { JobSpecInput } from '../domain/job-spec';
import { cidOf, STORAGE_CHUNK_BYTES, storageDealSpecSchema } from '../domain/storage';
import type { Database } from '../db/client';
import { callerAs, CHAIN_ID, startApiServer, type ApiServer } from './support/api-server';

/**
 * Every procedure, called over real HTTP with inputs generated from its own zod schema (valid ones), and with
 * arbitrary JSON (mostly invalid), signed and unsigned: never a 500, and a refusal never leaves a row or a workflow.
 * A generated order is a random one (refused: its signature, its terms); so that valid submits get through too, some
 * generated jobs carry instead the order the API quotes for their spec, signed by the funded caller.
 */
type ProcedureDef = { _def: { type: 'query' | 'mutation'; inputs: ZodTypeAny[] } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, ProcedureDef>);

/** zod-fast-check cannot invent strings for regex checks: each such string schema gets fc.stringMatching of its pattern. */
function withPatterns(zfc: ReturnType<typeof ZodFastCheck>, schema: ZodTypeAny): ReturnType<typeof ZodFastCheck> {
  const seen = new Set<ZodTypeAny>();
  const walk = (node: ZodTypeAny | undefined): void => {
    if (!node || seen.has(node)) return;
    seen.add(node);
    const def = node._def as Record<string, unknown> & { typeName?: string; checks?: { kind: string; regex?: RegExp }[] };
    if (def.typeName === 'ZodString') {
      const regex = def.checks?.find((c) => c.kind === 'regex')?.regex;
      if (regex) zfc = zfc.override(node, fc.stringMatching(regex));
      return;
    }
    if (def.typeName === 'ZodObject') Object.values((node as unknown as { shape: Record<string, ZodTypeAny> }).shape).forEach(walk);
    for (const key of ['innerType', 'schema', 'type', 'keyType', 'valueType', 'in', 'out']) walk(def[key] as ZodTypeAny | undefined);
  };
  walk(schema);
  // A deal's chunk sizes must add up to its size: generated whole rather than found by chance.
  return zfc.override(storageDealSpecSchema, validDealSpec);
}

const validDealSpec = fc.record({
  chunks: fc.array(fc.record({ seed: fc.uint8Array({ minLength: 1, maxLength: 8 }), bytes: fc.integer({ min: 1, max: STORAGE_CHUNK_BYTES }) }), { minLength: 1, maxLength: 4 }),
  replicas: fc.integer({ min: 1, max: 7 }),
  durationSeconds: fc.integer({ min: 60, max: 86_400 }),
  pricePerGibMonth: fc.bigInt({ min: 0n, max: 10n ** 24n }).map(String),
}).map(({ chunks, ...rest }) => ({
  ...rest,
  proofPeriodSeconds: 10,
  chunks: chunks.map((c) => ({ cid: cidOf(c.seed), bytes: c.bytes })),
  sizeBytes: chunks.reduce((n, c) => n + c.bytes, 0),
}));

describe('API fuzz', () => {
  let server: ApiServer;
  let db: Database;
  let temporal: Client;
  let url: string;

  beforeAll(async () => {
    server = await startApiServer({ rateLimitPerMinute: 1_000_000 });
    ({ db, temporal, url } = server);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  /** Calls one procedure as tRPC over HTTP; returns the status and whether the call changed the row counts. */
  async function call(name: string, type: 'query' | 'mutation', input: unknown, signer: Wallet | null) {
    const before = [await db.job.count(), await db.host.count(), await db.deal.count()];
    const headers = signer ? await signRequest(signer, CHAIN_ID, name, input) : {};
    const res = type === 'query'
      ? await fetch(`${url}/trpc/${name}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`, { headers })
      : await fetch(`${url}/trpc/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(input ?? null) });
    const text = await res.text();
    const after = [await db.job.count(), await db.host.count(), await db.deal.count()];
    return { status: res.status, text, changed: after.some((n, i) => n !== before[i]) };
  }

  /** `input` with the order the API quotes for its spec, signed by `signer`; unchanged when its spec gets no quote. */
  async function withQuotedOrder(input: unknown, signer: Wallet): Promise<unknown> {
    const { spec } = (input ?? {}) as { spec: JobSpecInput };
    try {
      const { jobId, quote } = await callerAs(server.deps, signer).jobs.quote({ spec });
      return { ...(input as object), jobId, ...(await signJobQuote(signer, spec, quote)) };
    } catch {
      return input;
    }
  }

  it.each(procedures.map(([name, p]) => [name, p] as const))('%s: never a 500, and a refusal creates nothing', async (name, procedure) => {
    const schema = procedure._def.inputs[0];
    const valid = schema ? withPatterns(ZodFastCheck(), schema).inputOf(schema) : fc.constant(undefined);
    const signer = new Wallet(Wallet.createRandom().privateKey);
    if (name === 'jobs.submit') await server.fund(signer.address, '1000000');
    const workflowsBefore = (await temporal.workflow.count()).count;
    let accepted = 0;
    // Three signed jobs in four carry the quoted order; enough runs that some of them get through every time.
    const quoted = fc.integer({ min: 0, max: 3 }).map((n) => n > 0);
    await fc.assert(fc.asyncProperty(fc.oneof(valid, fc.jsonValue()), fc.boolean(), quoted, async (generated, signed, withQuote) => {
      const input = name === 'jobs.submit' && signed && withQuote ? await withQuotedOrder(generated, signer) : generated;
      const { status, text, changed } = await call(name, procedure._def.type, input, signed ? signer : null);
      if (status >= 500) throw new Error(`${name} answered ${status} to ${JSON.stringify(input)}: ${text}`);
      if (status >= 400 && changed) throw new Error(`${name} refused ${JSON.stringify(input)} with ${status} but changed the database`);
      if (status < 400 && name === 'jobs.submit') accepted++;
    }), { numRuns: name === 'jobs.submit' ? 100 : 40 });
    // Only accepted submits started workflows.
    expect((await temporal.workflow.count()).count - workflowsBefore).toBe(accepted);
    // The generated valid inputs really get through: the property is not only about refusals.
    if (name === 'jobs.submit') expect(accepted).toBeGreaterThan(0);
  }, 120_000);
});
