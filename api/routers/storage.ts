import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { z } from 'zod';
import { isUniqueViolation, type Prisma } from '../../db/client';
import { ORCHESTRATOR_TASK_QUEUE } from '../../domain/execution';
import { CLIENT_ID, DEAL_ID, DEAL_STATE } from '../../domain/search-attributes';
import {
  dealDeposit, dealPeriods, isFinalDealState, MAX_DEAL_SECONDS, ratePerHostPeriod, rawCidSchema, sha256OfCid, storageDealSpecSchema, type DealState, type StorageDealSpec,
} from '../../domain/storage';
import { firstDepositDeadlineSeconds, renewalDeadlineSeconds, renewalDurationError } from '../../domain/storage-deal';
import { cancelDealSignal, dealStatusQuery, renewUpdate, retrieveUpdate, type storageDeal } from '../../workflows';
import type { Caller, Context } from '../context';
import { queryLive, signalRunning } from '../live-status';
import { dealCancelView, dealCreatedView, dealPageView, dealStatusView, dealView, renewView, retrieveView } from '../views';
import { bindBlobs } from '../staging';
import { router, signedProcedure } from '../trpc';
import { checkDealOrder, quoteDealTerm, quoteView, signedDealOrderInput } from '../orders';

/** What a client sees of a deal: explicit, so nothing else in the row leaks. */
const dealSelect = {
  id: true, name: true, state: true, stateReason: true, spec: true, sizeBytes: true, replicas: true, periods: true, periodsReleased: true,
  hostIds: true, deposit: true, payer: true, paidToHosts: true, commission: true, refunded: true, slashed: true, createdAt: true, endsAt: true, finishedAt: true,
} as const;

type DealRow = Prisma.DealGetPayload<{ select: typeof dealSelect }>;

function present(row: DealRow) {
  const { spec, state, sizeBytes, hostIds, ...rest } = row;
  return { ...rest, state: state as DealState, sizeBytes: Number(sizeBytes), hostIds: JSON.parse(hostIds) as string[], spec: JSON.parse(spec) as StorageDealSpec };
}

async function findOwnDeal(ctx: Context & { caller: Caller }, dealId: string): Promise<DealRow> {
  const row = await ctx.db.deal.findFirst({ where: { id: dealId, clientId: ctx.caller.did }, select: dealSelect });
  if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `dealId: no deal ${dealId}` });
  return row;
}

const dealIdInput = z.object({ dealId: z.string().uuid() });

/** Hosts fetch a deal's chunks from staging: a deal whose chunks are not all there yet is refused, naming the first. */
async function requireStagedChunks(ctx: Context, spec: StorageDealSpec): Promise<void> {
  for (const [i, chunk] of spec.chunks.entries()) {
    if (!(await ctx.staging.has(sha256OfCid(chunk.cid)))) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `spec.chunks.${i}.cid: chunk ${chunk.cid} is not in the staging store; upload it first (PUT /blobs/${sha256OfCid(chunk.cid)})`,
      });
    }
  }
}

/** StorageEscrow keeps amounts in 96 bits and refuses a deal that pays nothing: refused here first, naming the field. */
const MAX_ESCROW = 2n ** 96n - 1n;
function requireEscrowable(rate: bigint, deposit: bigint): void {
  if (rate === 0n) throw new TRPCError({ code: 'BAD_REQUEST', message: 'spec.pricePerGibMonth: must be more than 0: hosts would be paid nothing' });
  if (deposit > MAX_ESCROW) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: `spec.pricePerGibMonth: the deposit (${deposit} base units) is more than the escrow can hold (${MAX_ESCROW})` });
  }
}

/**
 * A deal workflow's Update: a refusal (its validator's or its handler's message) is a CONFLICT naming why; a workflow
 * that is gone or does not answer is a CONFLICT with `otherwise`.
 */
async function refusedAsConflict<T>(update: Promise<T>, otherwise: string): Promise<T> {
  try {
    return await update;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new TRPCError({ code: 'CONFLICT', message: err.cause instanceof Error ? err.cause.message : err.message });
    }
    throw new TRPCError({ code: 'CONFLICT', message: otherwise, cause: err });
  }
}

/** A client has this long after its quote to sign and send a deal's first order. */
const QUOTE_SLACK_SECONDS = 24 * 3600;

/** The first term of a deal as its order must pay for it: the whole term, every replica, until it may be paid out. */
function firstTermOf(dealId: string, spec: StorageDealSpec, nowMs: number) {
  const periods = dealPeriods(spec.durationSeconds, spec.proofPeriodSeconds);
  const rate = ratePerHostPeriod({ sizeBytes: spec.sizeBytes, pricePerGibMonth: BigInt(spec.pricePerGibMonth), periodSeconds: spec.proofPeriodSeconds });
  requireEscrowable(rate, dealDeposit({ ratePerHostPeriod: rate, replicas: spec.replicas, periods }));
  const deadline = firstDepositDeadlineSeconds(nowMs, spec.durationSeconds);
  return { key: dealId, spec, ratePerHostPeriod: rate, replicas: spec.replicas, periods, deadline, earliestDeadline: deadline - QUOTE_SLACK_SECONDS };
}

/** The next term of an ACTIVE deal, `durationSeconds` long, from its live status: the term a renewal's order pays for. */
async function nextTermOf(ctx: Context & { caller: Caller }, deal: DealRow, durationSeconds: number) {
  const spec = JSON.parse(deal.spec) as StorageDealSpec;
  const durationError = renewalDurationError(durationSeconds, spec.proofPeriodSeconds);
  if (durationError) throw new TRPCError({ code: 'BAD_REQUEST', message: `durationSeconds: ${durationError}` });
  const status = await queryLive(ctx, 'dealId', () => ctx.temporal.workflow.getHandle(`deal-${deal.id}`).query(dealStatusQuery));
  if (status.state !== 'ACTIVE' || !status.endsAt) throw new TRPCError({ code: 'CONFLICT', message: `dealId: deal ${deal.id} is ${status.state}: only an ACTIVE deal can be renewed` });
  const periods = dealPeriods(durationSeconds, spec.proofPeriodSeconds);
  const deadline = renewalDeadlineSeconds(Date.parse(status.endsAt) + periods * spec.proofPeriodSeconds * 1000);
  return {
    key: `${deal.id}/term-${status.terms.length + 1}`, spec, ratePerHostPeriod: BigInt(status.ratePerHostPeriod), replicas: spec.replicas, periods, deadline,
    earliestDeadline: deadline,
  };
}

export const storageRouter = router({
  /**
   * What to sign for a deal: a fresh deal id, the order (EIP-712, for StorageEscrow) that deposits the whole first
   * term from the caller's own wallet, and a permit when the caller's allowance does not cover it yet.
   */
  quote: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/deals/quote', tags: ['storage'], summary: 'What to sign for a deal', protect: true, errorResponses: { 412: 'This API is not connected to a chain' } } })
    .output(z.object({ dealId: z.string().uuid(), quote: quoteView }))
    .input(z.object({ spec: storageDealSpecSchema }))
    .mutation(async ({ ctx, input }) => {
      const dealId = randomUUID();
      return { dealId, quote: await quoteDealTerm(ctx, firstTermOf(dealId, input.spec, Date.now())) };
    }),

  /**
   * Asks for a storage deal over chunks the client already encrypted and staged: the deposit for the whole term is
   * locked, hosts store replicas unique to them, and prove them every period. The same idempotency key returns the
   * same deal.
   */
  create: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/deals', tags: ['storage'], summary: 'Ask for a storage deal with its signed order', protect: true, errorResponses: { 402: 'The balance or allowance does not cover the order; nothing was created', 403: 'The order is another client\'s: sign it with the key you call with', 409: 'The deal id or its order was used already', 412: 'This API is not connected to a chain', 503: 'The deal could not be started; nothing was created, try again' } } }).output(dealCreatedView)
    .input(z.object({ spec: storageDealSpecSchema, idempotencyKey: z.string().min(1).max(128).optional(), dealId: z.string().uuid(), ...signedDealOrderInput }))
    .mutation(async ({ ctx, input }) => {
      const { spec, idempotencyKey, dealId } = input;
      if (idempotencyKey) {
        const existing = await ctx.db.deal.findUnique({ where: { clientId_idempotencyKey: { clientId: ctx.caller.did, idempotencyKey } }, select: dealSelect });
        if (existing) return { deal: present(existing), created: false };
      }
      const term = firstTermOf(dealId, spec, Date.now());
      const { periods, ratePerHostPeriod: rate } = term;
      await requireStagedChunks(ctx, spec);
      if (await ctx.db.deal.findUnique({ where: { id: dealId }, select: { id: true } })) {
        throw new TRPCError({ code: 'CONFLICT', message: `dealId: deal ${dealId} exists already; ask for a new quote` });
      }
      const payment = await checkDealOrder(ctx, term, input);
      let row: DealRow;
      try {
        // The staged chunks become the deal's in the same transaction: a refused deal binds nothing.
        row = await ctx.db.$transaction(async (tx) => {
          const created = await tx.deal.create({
            data: {
              id: dealId, clientId: ctx.caller.did, idempotencyKey, name: spec.name ?? null, spec: JSON.stringify(spec), state: 'ESCROW',
              sizeBytes: BigInt(spec.sizeBytes), replicas: spec.replicas, periods, deposit: dealDeposit({ ratePerHostPeriod: rate, replicas: spec.replicas, periods }).toString(),
              payer: payment.order.client,
            },
            select: dealSelect,
          });
          const chunks = spec.chunks.map((chunk, i) => ({ field: `spec.chunks.${i}.cid`, sha256: sha256OfCid(chunk.cid) }));
          const unstaged = await bindBlobs(tx, ctx.caller.address, { dealId }, 'chunk', chunks);
          if (unstaged) throw new TRPCError({ code: 'BAD_REQUEST', message: unstaged });
          return created;
        });
      } catch (err) {
        if (isUniqueViolation(err) && !idempotencyKey) throw new TRPCError({ code: 'CONFLICT', message: `dealId: deal ${dealId} exists already; ask for a new quote` });
        if (idempotencyKey && isUniqueViolation(err)) {
          const existing = await ctx.db.deal.findUniqueOrThrow({ where: { clientId_idempotencyKey: { clientId: ctx.caller.did, idempotencyKey } }, select: dealSelect });
          return { deal: present(existing), created: false };
        }
        throw err;
      }
      try {
        await ctx.temporal.workflow.start<typeof storageDeal>('storageDeal', {
          workflowId: `deal-${dealId}`,
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          args: [{ dealId, spec, payment, stagingUrl: ctx.publicUrl }],
          typedSearchAttributes: [{ key: DEAL_ID, value: dealId }, { key: CLIENT_ID, value: ctx.caller.did }, { key: DEAL_STATE, value: 'ESCROW' }],
          memo: { name: spec.name ?? null, sizeBytes: spec.sizeBytes, chunks: spec.chunks.length, replicas: spec.replicas, client: ctx.caller.did },
        });
      } catch (err) {
        // Nothing half-created: a deal without its workflow would never start.
        await ctx.db.$transaction([ctx.db.deal.delete({ where: { id: dealId } }), ctx.db.blob.deleteMany({ where: { scope: `deal:${dealId}` } })]);
        throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'could not start the deal, try again', cause: err });
      }
      return { deal: present(row), created: true };
    }),

  get: signedProcedure.meta({ openapi: { method: 'GET', path: '/deals/{dealId}', tags: ['storage'], summary: 'One of your deals', protect: true } })
    .output(dealView).input(dealIdInput).query(async ({ ctx, input }) => present(await findOwnDeal(ctx, input.dealId))),

  /** The caller's deals, newest first, a page at a time. */
  list: signedProcedure
    .meta({ openapi: { method: 'GET', path: '/deals', tags: ['storage'], summary: 'Your deals, newest first, a page at a time', protect: true } }).output(dealPageView)
    .input(z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), cursor: z.string().uuid().optional() }).default({}))
    .query(async ({ ctx, input }) => {
      const rows = await ctx.db.deal.findMany({
        where: { clientId: ctx.caller.did },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: input.limit + 1,
        ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
        select: dealSelect,
      });
      const page = rows.slice(0, input.limit);
      return { deals: page.map(present), nextCursor: rows.length > input.limit ? page[page.length - 1].id : null };
    }),

  /** Live detail from the deal's workflow: every holder (proofs, faults, bond, slash), periods paid, repairs, timeline. */
  status: signedProcedure.meta({ openapi: { method: 'GET', path: '/deals/{dealId}/status', tags: ['storage'], summary: 'Live holders, proofs, money and timeline', protect: true, errorResponses: { 503: 'The deal\'s workflow does not answer now (no orchestrator worker); try again' } } })
    .output(dealStatusView).input(dealIdInput).query(async ({ ctx, input }) => {
      const deal = await findOwnDeal(ctx, input.dealId);
      return queryLive(ctx, 'dealId', () => ctx.temporal.workflow.getHandle(`deal-${deal.id}`).query(dealStatusQuery));
    }),

  /** Ends the deal before its term: hosts keep what they earned for proven periods, the rest returns to the client. */
  cancel: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/deals/{dealId}/cancel', tags: ['storage'], summary: 'Cancel a deal', protect: true, errorResponses: { 409: 'The deal has ended or is ending already' } } }).output(dealCancelView)
    .input(dealIdInput.extend({ reason: z.string().max(500).optional() }))
    .mutation(async ({ ctx, input }) => {
      const deal = await findOwnDeal(ctx, input.dealId);
      if (isFinalDealState(deal.state) || deal.state === 'ENDING') {
        throw new TRPCError({ code: 'CONFLICT', message: `dealId: deal ${deal.id} is already ${deal.state} and cannot be cancelled` });
      }
      await signalRunning(
        () => ctx.temporal.workflow.getHandle(`deal-${deal.id}`).signal(cancelDealSignal, { reason: input.reason }),
        `dealId: deal ${deal.id} has ended and cannot be cancelled`,
      );
      return { dealId: deal.id, cancelling: true };
    }),

  /**
   * Keeps the data longer: a new term is deposited now and follows the current one with the same holders. Refused
   * unless the deal is ACTIVE, or when the deposit cannot be made.
   */
  renewQuote: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/deals/{dealId}/renew/quote', tags: ['storage'], summary: 'What to sign to renew a deal', protect: true, errorResponses: { 409: 'The deal cannot be renewed now (not ACTIVE)', 412: 'This API is not connected to a chain', 503: 'The deal\'s workflow does not answer now; try again' } } })
    .output(z.object({ dealId: z.string().uuid(), term: z.string(), quote: quoteView }))
    .input(dealIdInput.extend({ durationSeconds: z.number().int().min(1).max(MAX_DEAL_SECONDS) }))
    .mutation(async ({ ctx, input }) => {
      const term = await nextTermOf(ctx, await findOwnDeal(ctx, input.dealId), input.durationSeconds);
      return { dealId: input.dealId, term: term.key, quote: await quoteDealTerm(ctx, term) };
    }),

  renew: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/deals/{dealId}/renew', tags: ['storage'], summary: 'Renew a deal for longer with the signed order of its new term', protect: true, errorResponses: { 402: 'The balance or allowance does not cover the order', 403: 'The order is another client\'s: sign it with the key you call with', 409: 'The deal cannot be renewed now (not ACTIVE, or the deposit was refused)', 412: 'This API is not connected to a chain', 503: 'The deal\'s workflow does not answer now; try again' } } }).output(renewView)
    .input(dealIdInput.extend({ durationSeconds: z.number().int().min(1).max(MAX_DEAL_SECONDS), ...signedDealOrderInput }))
    .mutation(async ({ ctx, input }) => {
      const deal = await findOwnDeal(ctx, input.dealId);
      const payment = await checkDealOrder(ctx, await nextTermOf(ctx, deal, input.durationSeconds), input);
      return refusedAsConflict(
        ctx.temporal.workflow.getHandle(`deal-${deal.id}`).executeUpdate(renewUpdate, { args: [{ durationSeconds: input.durationSeconds, payment }] }),
        `dealId: deal ${deal.id} is ${deal.state}: it cannot be renewed now`,
      );
    }),

  /**
   * Retrieval of one chunk: a holder puts its sealed replica in staging; the client downloads it, unseals it with the
   * deal id, the holder's address and the CID, checks the CID, and decrypts it with its own key.
   */
  retrieve: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/deals/{dealId}/retrieve', tags: ['storage'], summary: 'Have a holder serve one chunk', protect: true, errorResponses: { 409: 'The chunk cannot be retrieved now' } } }).output(retrieveView)
    .input(dealIdInput.extend({ cid: rawCidSchema }))
    .mutation(async ({ ctx, input }) => {
      const deal = await findOwnDeal(ctx, input.dealId);
      return refusedAsConflict(
        ctx.temporal.workflow.getHandle(`deal-${deal.id}`).executeUpdate(retrieveUpdate, { args: [{ cid: input.cid }] }),
        `dealId: deal ${deal.id} is ${deal.state}: its chunks cannot be retrieved now`,
      );
    }),
});
