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
import { cancelDealSignal, dealStatusQuery, renewUpdate, retrieveUpdate, type storageDeal } from '../../workflows';
import type { Caller, Context } from '../context';
import { queryLive, signalRunning } from '../live-status';
import { dealCancelView, dealCreatedView, dealPageView, dealStatusView, dealView, renewView, retrieveView } from '../views';
import { router, signedProcedure } from '../trpc';

/** What a client sees of a deal: explicit, so nothing else in the row leaks. */
const dealSelect = {
  id: true, name: true, state: true, stateReason: true, spec: true, sizeBytes: true, replicas: true, periods: true, periodsReleased: true,
  hostIds: true, deposit: true, paidToHosts: true, commission: true, refunded: true, slashed: true, createdAt: true, endsAt: true, finishedAt: true,
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

export const storageRouter = router({
  /**
   * Asks for a storage deal over chunks the client already encrypted and staged: the deposit for the whole term is
   * locked, hosts store replicas unique to them, and prove them every period. The same idempotency key returns the
   * same deal.
   */
  create: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/deals', tags: ['storage'], summary: 'Ask for a storage deal', protect: true, errorResponses: { 503: 'The deal could not be started; nothing was created, try again' } } }).output(dealCreatedView)
    .input(z.object({ spec: storageDealSpecSchema, idempotencyKey: z.string().min(1).max(128).optional() }))
    .mutation(async ({ ctx, input }) => {
      const { spec, idempotencyKey } = input;
      if (idempotencyKey) {
        const existing = await ctx.db.deal.findUnique({ where: { clientId_idempotencyKey: { clientId: ctx.caller.did, idempotencyKey } }, select: dealSelect });
        if (existing) return { deal: present(existing), created: false };
      }
      const periods = dealPeriods(spec.durationSeconds, spec.proofPeriodSeconds);
      const rate = ratePerHostPeriod({ sizeBytes: spec.sizeBytes, pricePerGibMonth: BigInt(spec.pricePerGibMonth), periodSeconds: spec.proofPeriodSeconds });
      requireEscrowable(rate, dealDeposit({ ratePerHostPeriod: rate, replicas: spec.replicas, periods }));
      await requireStagedChunks(ctx, spec);
      const dealId = randomUUID();
      let row: DealRow;
      try {
        row = await ctx.db.deal.create({
          data: {
            id: dealId, clientId: ctx.caller.did, idempotencyKey, name: spec.name ?? null, spec: JSON.stringify(spec), state: 'ESCROW',
            sizeBytes: BigInt(spec.sizeBytes), replicas: spec.replicas, periods, deposit: dealDeposit({ ratePerHostPeriod: rate, replicas: spec.replicas, periods }).toString(),
          },
          select: dealSelect,
        });
      } catch (err) {
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
          args: [{ dealId, spec, stagingUrl: ctx.publicUrl }],
          typedSearchAttributes: [{ key: DEAL_ID, value: dealId }, { key: CLIENT_ID, value: ctx.caller.did }, { key: DEAL_STATE, value: 'ESCROW' }],
          memo: { name: spec.name ?? null, sizeBytes: spec.sizeBytes, chunks: spec.chunks.length, replicas: spec.replicas, client: ctx.caller.did },
        });
      } catch (err) {
        // Nothing half-created: a deal without its workflow would never start.
        await ctx.db.deal.delete({ where: { id: dealId } });
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
  renew: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/deals/{dealId}/renew', tags: ['storage'], summary: 'Renew a deal for longer', protect: true, errorResponses: { 409: 'The deal cannot be renewed now (not ACTIVE, or the deposit was refused)' } } }).output(renewView)
    .input(dealIdInput.extend({ durationSeconds: z.number().int().min(1).max(MAX_DEAL_SECONDS) }))
    .mutation(async ({ ctx, input }) => {
      const deal = await findOwnDeal(ctx, input.dealId);
      return refusedAsConflict(
        ctx.temporal.workflow.getHandle(`deal-${deal.id}`).executeUpdate(renewUpdate, { args: [{ durationSeconds: input.durationSeconds }] }),
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
