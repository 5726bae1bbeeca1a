import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { SigningKey, TypedDataEncoder } from 'ethers';
import { z } from 'zod';
import { isUniqueViolation, type Prisma } from '../../db/client';
import { ORCHESTRATOR_TASK_QUEUE } from '../../domain/execution';
import { escrowFor, jobSpecSchema, type JobSpec } from '../../domain/job-spec';
import { escrowDomain, JOB_ESCROW_DOMAIN_NAME, JOB_ORDER_TYPES, type SignedJobOrder } from '../../domain/orders';
import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { isFinalJobState, JOB_STATES, type JobState } from '../../domain/job-state';
import { CLIENT_ID, JOB_ID, JOB_STATE } from '../../domain/search-attributes';
import { cancelSignal, challengeUpdate, jobStatusQuery, type computeJob } from '../../workflows';
import type { Caller, Context } from '../context';
import { queryLive, signalRunning } from '../live-status';
import { cancelView, challengeView, jobPageView, jobStatusView, jobView, logsView, submittedView } from '../views';
import { router, signedProcedure } from '../trpc';
import { checkJobOrder, quoteJob, quoteView, signedJobOrderInput } from '../orders';
import { bindBlobs } from '../staging';
import { jobWatchOf } from '../job-watch';

/** The longest a client's wait on a job is held (jobs.wait). */
export const JOB_WAIT_MAX_SECONDS = 30;

/** What a client sees of a job: explicit, so nothing else in the row leaks. */
const jobSelect = {
  id: true, state: true, stateReason: true, image: true, spec: true, hostId: true, exitCode: true, timedOut: true,
  resultDigest: true, outputSha256: true, logsSha256: true, sealedOutputSha256: true, sealedLogsSha256: true, escrowAmount: true, payer: true, paidToHosts: true, commission: true,
  refunded: true, createdAt: true, startedAt: true, finishedAt: true,
} as const;

type JobRow = Prisma.JobGetPayload<{ select: typeof jobSelect }>;

function present(row: JobRow) {
  const { spec, state, ...rest } = row;
  return { ...rest, state: state as JobState, spec: JSON.parse(spec) as JobSpec };
}

export const LOGS_MAX_BYTES = 1024 * 1024;
/** What sealing adds to the logs (header, nonce, tag): a sealed box is opened whole or not at all. */
const SEALED_OVERHEAD_BYTES = 1024;

async function findOwnJob(ctx: Context & { caller: Caller }, jobId: string): Promise<JobRow> {
  const row = await ctx.db.job.findFirst({ where: { id: jobId, clientId: ctx.caller.did }, select: jobSelect });
  if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `jobId: no job ${jobId}` });
  return row;
}

const jobIdInput = z.object({ jobId: z.string().uuid() });

/** Every staged file a job reads, with the field that names it: its inputs and its tests' inputs. */
function stagedInputsOf(spec: JobSpec): { field: string; sha256: string }[] {
  return [
    ...Object.entries(spec.inputs).map(([path, sha256]) => ({ field: `spec.inputs.${path}`, sha256 })),
    ...spec.tests.flatMap((test, i) => Object.entries(test.inputs).map(([path, sha256]) => ({ field: `spec.tests.${i}.inputs.${path}`, sha256 }))),
  ];
}

/** Hosts read a job's input files from staging: a job whose files are not there yet is refused, naming the first. */
async function requireStagedInputs(ctx: Context, spec: JobSpec): Promise<void> {
  for (const { field, sha256 } of stagedInputsOf(spec)) {
    if (!(await ctx.staging.has(sha256))) {
      throw new TRPCError({ code: 'BAD_REQUEST', message: `${field}: no blob ${sha256} in the staging store; upload the file first (PUT /blobs/${sha256})` });
    }
  }
}

/**
 * The client's public key, recovered from its signature of the job's order (checked already): hosts seal the job's
 * output and logs to it, so only the client reads them.
 */
function recipientKeyOf(ctx: Context, payment: SignedJobOrder): string {
  const deployment = ctx.wallet!.deployment;
  const domain = escrowDomain(JOB_ESCROW_DOMAIN_NAME, deployment.chainId, deployment.jobEscrow);
  return SigningKey.recoverPublicKey(TypedDataEncoder.hash(domain, JOB_ORDER_TYPES, payment.order), payment.signature);
}

export const jobsRouter = router({
  /**
   * What to sign for a job: a fresh job id, the order (EIP-712, for JobEscrow) that locks the most the spec can cost
   * from the caller's own wallet, and a permit when the caller's allowance does not cover it yet. Nothing is created.
   */
  quote: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/jobs/quote', tags: ['jobs'], summary: 'What to sign for a job', protect: true, errorResponses: { 412: 'This API is not connected to a chain' } } })
    .output(z.object({ jobId: z.string().uuid(), quote: quoteView }))
    .input(z.object({ spec: jobSpecSchema }))
    .mutation(async ({ ctx, input }) => {
      const jobId = randomUUID();
      return { jobId, quote: await quoteJob(ctx, jobId, input.spec) };
    }),

  /**
   * Checks the client's signed order against the spec and the chain, then stores the job and starts its workflow,
   * which relays the order. The same idempotency key returns the same job.
   */
  submit: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/jobs', tags: ['jobs'], summary: 'Submit a job with its signed order', protect: true, errorResponses: { 402: 'The balance or allowance does not cover the order; nothing was created', 403: 'The order is another client\'s: sign it with the key you call with', 409: 'The job id or its order was used already', 412: 'This API is not connected to a chain', 503: 'The job could not be started; nothing was created, try again' } } }).output(submittedView)
    .input(z.object({ spec: jobSpecSchema, idempotencyKey: z.string().min(1).max(128).optional(), jobId: z.string().uuid(), ...signedJobOrderInput }))
    .mutation(async ({ ctx, input }) => {
      const { spec, idempotencyKey, jobId } = input;
      if (idempotencyKey) {
        const existing = await ctx.db.job.findUnique({
          where: { clientId_idempotencyKey: { clientId: ctx.caller.did, idempotencyKey } },
          select: jobSelect,
        });
        if (existing) return { job: present(existing), created: false };
      }
      await requireStagedInputs(ctx, spec);
      if (await ctx.db.job.findUnique({ where: { id: jobId }, select: { id: true } })) {
        throw new TRPCError({ code: 'CONFLICT', message: `jobId: job ${jobId} exists already; ask for a new quote` });
      }
      const payment = await checkJobOrder(ctx, jobId, spec, input);
      const recipientPublicKey = recipientKeyOf(ctx, payment);
      let row: JobRow;
      try {
        // The job's inputs become the job's, in the same transaction: a refused job binds nothing.
        row = await ctx.db.$transaction(async (tx) => {
          const created = await tx.job.create({
            data: {
              id: jobId, clientId: ctx.caller.did, idempotencyKey, image: spec.image, spec: JSON.stringify(spec),
              state: 'SUBMITTED', escrowAmount: escrowFor(spec), payer: payment.order.client,
            },
            select: jobSelect,
          });
          const unstaged = await bindBlobs(tx, ctx.caller.address, { jobId }, 'input', stagedInputsOf(spec));
          if (unstaged) throw new TRPCError({ code: 'BAD_REQUEST', message: unstaged });
          return created;
        });
      } catch (err) {
        if (isUniqueViolation(err) && !idempotencyKey) throw new TRPCError({ code: 'CONFLICT', message: `jobId: job ${jobId} exists already; ask for a new quote` });
        // Two submits with one key raced: the other one created the job, so this one returns it.
        if (idempotencyKey && isUniqueViolation(err)) {
          const existing = await ctx.db.job.findUniqueOrThrow({
            where: { clientId_idempotencyKey: { clientId: ctx.caller.did, idempotencyKey } },
            select: jobSelect,
          });
          return { job: present(existing), created: false };
        }
        throw err;
      }
      try {
        await ctx.temporal.workflow.start<typeof computeJob>('computeJob', {
          workflowId: `job-${jobId}`,
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          args: [{ jobId, spec, payment, stagingUrl: ctx.publicUrl, spotCheckFraction: ctx.spotCheckFraction ?? 0, chainId: ctx.chainId, recipientPublicKey }],
          typedSearchAttributes: [
            { key: JOB_ID, value: jobId }, { key: CLIENT_ID, value: ctx.caller.did }, { key: JOB_STATE, value: 'SUBMITTED' },
          ],
          // Shown with the workflow in the Temporal UI: what the job is, at a glance.
          memo: { image: spec.image, command: spec.command.join(' ').slice(0, 200), replicas: spec.replicas, maxPrice: spec.maxPrice, client: ctx.caller.did },
        });
      } catch (err) {
        // Nothing half-created: a job without its workflow would wait forever; its inputs are the client's again.
        await ctx.db.$transaction([
          ctx.db.job.delete({ where: { id: jobId } }),
          ctx.db.blob.deleteMany({ where: { scope: `job:${jobId}` } }),
        ]);
        throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'could not start the job, try again', cause: err });
      }
      ctx.metrics?.jobsSubmitted.inc();
      return { job: present(row), created: true };
    }),

  get: signedProcedure.meta({ openapi: { method: 'GET', path: '/jobs/{jobId}', tags: ['jobs'], summary: 'One of your jobs', protect: true } }).output(jobView).input(jobIdInput).query(async ({ ctx, input }) => present(await findOwnJob(ctx, input.jobId))),

  /**
   * The job once it has moved on from what the client saw (its state and reason), or as it is after
   * `timeoutSeconds`: a long poll, so a client follows a job at once without asking again and again. A job already
   * past what the client saw, or ended, is answered at once.
   */
  wait: signedProcedure
    .meta({ openapi: { method: 'GET', path: '/jobs/{jobId}/wait', tags: ['jobs'], summary: 'One of your jobs, once it moves on from the state you saw (a long poll)', protect: true } })
    .output(jobView)
    .input(z.object({
      jobId: z.string().uuid(),
      state: z.enum(JOB_STATES),
      stateReason: z.string().max(2000).optional(),
      // Coerced: over plain HTTP it arrives as a query string.
      timeoutSeconds: z.coerce.number().int().min(1).max(JOB_WAIT_MAX_SECONDS).default(20),
    }))
    .query(async ({ ctx, input }) => {
      const job = await findOwnJob(ctx, input.jobId);
      const seen = { state: input.state, stateReason: input.stateReason ?? null };
      if (isFinalJobState(job.state) || job.state !== seen.state || job.stateReason !== seen.stateReason) return present(job);
      await jobWatchOf(ctx.db).wait(job.id, seen, input.timeoutSeconds * 1000);
      return present(await findOwnJob(ctx, input.jobId));
    }),

  /**
   * The job's combined stdout/stderr as the host captured it (capped); empty until the job has run. Sealed to the
   * client's key, they come as `sealedLogs` (base64): the API cannot read them, the client opens them.
   */
  logs: signedProcedure.meta({ openapi: { method: 'GET', path: '/jobs/{jobId}/logs', tags: ['jobs'], summary: 'Its logs (sealed to your key)', protect: true } }).output(logsView).input(jobIdInput).query(async ({ ctx, input }) => {
    const job = await findOwnJob(ctx, input.jobId);
    if (!job.logsSha256) return { jobId: job.id, state: job.state, logs: '', complete: false, sealedLogs: null };
    if (job.sealedLogsSha256) {
      const sealed = await ctx.staging.read(job.sealedLogsSha256, LOGS_MAX_BYTES + SEALED_OVERHEAD_BYTES);
      return { jobId: job.id, state: job.state, logs: '', complete: sealed !== null, sealedLogs: sealed?.toString('base64') ?? null };
    }
    const data = await ctx.staging.read(job.logsSha256, LOGS_MAX_BYTES);
    return { jobId: job.id, state: job.state, logs: data?.toString('utf8') ?? '', complete: data !== null, sealedLogs: null };
  }),

  /** The caller's jobs, newest first, a page at a time. */
  list: signedProcedure
    .meta({ openapi: { method: 'GET', path: '/jobs', tags: ['jobs'], summary: 'Your jobs, newest first, a page at a time', protect: true } }).output(jobPageView)
    // Coerced: over plain HTTP the limit arrives as a query string.
    .input(z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), cursor: z.string().uuid().optional() }).default({}))
    .query(async ({ ctx, input }) => {
      const rows = await ctx.db.job.findMany({
        where: { clientId: ctx.caller.did },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: input.limit + 1,
        ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
        select: jobSelect,
      });
      const page = rows.slice(0, input.limit);
      return { jobs: page.map(present), nextCursor: rows.length > input.limit ? page[page.length - 1].id : null };
    }),

  /**
   * Live detail from the job's workflow: every slot (host, state, digest, payout, slash), the money locked, paid and
   * refunded, challenges, and a timeline of steps with their times.
   */
  status: signedProcedure.meta({ openapi: { method: 'GET', path: '/jobs/{jobId}/status', tags: ['jobs'], summary: 'Live slots, money, challenges and timeline', protect: true, errorResponses: { 503: 'The job\'s workflow does not answer now (no orchestrator worker); try again' } } }).output(jobStatusView).input(jobIdInput).query(async ({ ctx, input }) => {
    const job = await findOwnJob(ctx, input.jobId);
    return queryLive(ctx, 'jobId', () => ctx.temporal.workflow.getHandle(`job-${job.id}`).query(jobStatusQuery));
  }),

  /** Stops the job at whatever step it is: running containers stop, hosts are paid for work done, the rest refunded. */
  cancel: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/jobs/{jobId}/cancel', tags: ['jobs'], summary: 'Cancel a job', protect: true, errorResponses: { 409: 'The job has ended already' } } }).output(cancelView)
    .input(jobIdInput.extend({ reason: z.string().max(500).optional() }))
    .mutation(async ({ ctx, input }) => {
      const job = await findOwnJob(ctx, input.jobId);
      if (isFinalJobState(job.state)) {
        throw new TRPCError({ code: 'CONFLICT', message: `jobId: job ${job.id} is already ${job.state} and cannot be cancelled` });
      }
      await signalRunning(
        () => ctx.temporal.workflow.getHandle(`job-${job.id}`).signal(cancelSignal, { reason: input.reason }),
        `jobId: job ${job.id} has ended and cannot be cancelled`,
      );
      return { jobId: job.id, cancelling: true };
    }),

  /**
   * A registered verifier disputes a PROVISIONAL result; its stake is locked on the job, and fresh arbiter hosts
   * re-run the job when the window closes. Any job can be challenged, not only the caller's own.
   */
  challenge: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/jobs/{jobId}/challenge', tags: ['jobs'], summary: 'Challenge a provisional result', protect: true, errorResponses: { 403: 'The verifier host is not the signer\'s', 404: 'No such job, or no such verifier host', 408: 'The challenge is still being processed', 409: 'The result is not open to challenge (not PROVISIONAL, or refused)' } } }).output(challengeView)
    .input(jobIdInput.extend({ verifierHostId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a host id') }))
    .mutation(async ({ ctx, input }) => {
      const verifier = await ctx.db.host.findUnique({ where: { id: input.verifierHostId }, select: { address: true } });
      if (!verifier) throw new TRPCError({ code: 'NOT_FOUND', message: `verifierHostId: no registered host ${input.verifierHostId}` });
      if (verifier.address.toLowerCase() !== ctx.caller.address.toLowerCase()) {
        throw new TRPCError({ code: 'FORBIDDEN', message: `verifierHostId: host ${input.verifierHostId} is not yours: sign with its key` });
      }
      const job = await ctx.db.job.findUnique({ where: { id: input.jobId }, select: { id: true, state: true } });
      if (!job) throw new TRPCError({ code: 'NOT_FOUND', message: `jobId: no job ${input.jobId}` });
      if (job.state !== 'PROVISIONAL') {
        throw new TRPCError({ code: 'CONFLICT', message: `jobId: job ${job.id} is ${job.state}: only a PROVISIONAL result can be challenged` });
      }
      try {
        return await ctx.temporal.workflow.getHandle(`job-${job.id}`).executeUpdate(challengeUpdate, { args: [{ verifierHostId: input.verifierHostId }] });
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) {
          const message = err.cause instanceof Error ? err.cause.message : err.message;
          throw new TRPCError({ code: 'CONFLICT', message: message.replace(/^challenge refused: /, '') });
        }
        if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
          throw new TRPCError({ code: 'TIMEOUT', message: 'the challenge is still being processed; ask jobs.status for its state' });
        }
        // The workflow ended between the check and the update: the window is closed.
        throw new TRPCError({ code: 'CONFLICT', message: `jobId: job ${job.id} is no longer open to challenge`, cause: err });
      }
    }),
});
