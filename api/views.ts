import { z } from 'zod';
import { JOB_STATES } from '../domain/job-state';
import { jobSpecSchema } from '../domain/job-spec';
import { DEAL_STATES, storageDealSpecSchema } from '../domain/storage';

/**
 * What the API answers, as zod schemas: checked on the way out (nothing else in a row leaks) and published in the
 * OpenAPI document. Money is ZSC base units as decimal strings; times are ISO strings on the wire.
 */
const amount = z.string();
const time = z.date();

export const jobView = z.object({
  id: z.string(),
  state: z.enum(JOB_STATES),
  stateReason: z.string().nullable(),
  image: z.string(),
  spec: jobSpecSchema,
  hostId: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  timedOut: z.boolean(),
  resultDigest: z.string().nullable(),
  outputSha256: z.string().nullable(),
  logsSha256: z.string().nullable(),
  /** The staged blobs to fetch: output archive and logs sealed to the client's key (outputSha256, logsSha256 are their plaintext's). */
  sealedOutputSha256: z.string().nullable(),
  sealedLogsSha256: z.string().nullable(),
  escrowAmount: amount,
  /** Who signed the job's order and pays for it. */
  payer: z.string().nullable(),
  paidToHosts: amount.nullable(),
  commission: amount.nullable(),
  refunded: amount.nullable(),
  createdAt: time,
  startedAt: time.nullable(),
  finishedAt: time.nullable(),
});

export const submittedView = z.object({ job: jobView, created: z.boolean() });
/**
 * A job's logs. Logs sealed to the client's key come as `sealedLogs` (base64) for the client to open (createApiClient
 * does, with the caller's private key) and `logs` is empty; logs of a job without a sealing key come as `logs`.
 */
export const logsView = z.object({
  jobId: z.string(), state: z.string(), logs: z.string(), complete: z.boolean(), sealedLogs: z.string().nullable().optional(),
});
export const jobPageView = z.object({ jobs: z.array(jobView), nextCursor: z.string().nullable() });
export const cancelView = z.object({ jobId: z.string(), cancelling: z.boolean() });
export const challengeView = z.object({ verifierHostId: z.string(), stake: amount, challengeWindowEndsAt: z.string() });

const slotResult = z.object({
  exitCode: z.number().int(), timedOut: z.boolean(), oomKilled: z.boolean(), outputSha256: z.string(), outputBytes: z.number(),
  resultDigest: z.string(), logsSha256: z.string(), logsBytes: z.number(), logsTruncated: z.boolean(), durationMs: z.number(),
});

export const jobStatusView = z.object({
  state: z.enum(JOB_STATES),
  reason: z.string().nullable(),
  hostId: z.string().nullable(),
  result: slotResult.nullable(),
  escrowed: amount,
  paidToHosts: amount,
  commission: amount,
  refunded: amount,
  slashed: amount.default('0'),
  replicas: z.array(z.object({
    replica: z.number().int(),
    role: z.enum(['replica', 'verifier', 'arbiter']).default('replica'),
    hostId: z.string().nullable(),
    state: z.enum(['QUEUED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED']),
    resultDigest: z.string().nullable(),
    payout: amount.default('0'),
    slashed: amount.default('0'),
    lostBy: z.array(z.string()).default([]),
    failedTestBy: z.array(z.string()).default([]),
    forgedBy: z.array(z.string()).default([]),
    measuredMs: z.number().nullable().default(null),
  })),
  challengeWindowEndsAt: z.string().nullable().default(null),
  challenges: z.array(z.object({
    verifierHostId: z.string(), state: z.enum(['BONDING', 'PENDING', 'UPHELD', 'REJECTED', 'UNRESOLVED']), stake: amount, at: z.string(),
  })).default([]),
  timeline: z.array(z.object({ at: z.string(), step: z.string() })).default([]),
});

export const hostView = z.object({
  id: z.string(),
  address: z.string(),
  did: z.string(),
  arch: z.string(),
  cpus: z.number(),
  memoryMiB: z.number().int(),
  diskMiB: z.number().int(),
  gpus: z.number().int(),
  gpuModel: z.string().nullable(),
  maxSlots: z.number().int(),
  images: z.array(z.string()),
  operator: z.string().nullable(),
  stake: amount,
  pricePerCpuSecond: amount,
  pricePerGibSecond: amount,
  pricePerGpuSecond: amount,
  status: z.string(),
  online: z.boolean(),
  lastSeenAt: time,
  createdAt: time,
  jobsDone: z.number().int(),
  jobsFailed: z.number().int(),
  timesSlashed: z.number().int(),
  earned: amount,
  slashed: amount,
  meanSlotMs: z.number().int().nullable(),
});
export const hostStatusView = z.object({ hostId: z.string(), status: z.enum(['draining', 'offline']) });
export const heartbeatView = z.object({ ok: z.boolean() });
/** A host's Temporal client certificate; `tls: false` (the rest null) where the network's Temporal takes plaintext. */
export const hostCertificateView = z.object({
  tls: z.boolean(),
  certificate: z.string().nullable(),
  serverCa: z.string().nullable(),
  serverName: z.string().nullable(),
  notAfter: z.string().nullable(),
});

export const dealView = z.object({
  id: z.string(),
  name: z.string().nullable(),
  state: z.enum(DEAL_STATES),
  stateReason: z.string().nullable(),
  spec: storageDealSpecSchema,
  sizeBytes: z.number().int(),
  replicas: z.number().int(),
  periods: z.number().int(),
  periodsReleased: z.number().int(),
  hostIds: z.array(z.string()),
  deposit: amount,
  /** Who signed the deal's orders and pays for it. */
  payer: z.string().nullable(),
  paidToHosts: amount,
  commission: amount,
  refunded: amount,
  slashed: amount,
  createdAt: time,
  endsAt: time.nullable(),
  finishedAt: time.nullable(),
});

export const dealCreatedView = z.object({ deal: dealView, created: z.boolean() });
export const dealPageView = z.object({ deals: z.array(dealView), nextCursor: z.string().nullable() });
export const dealCancelView = z.object({ dealId: z.string(), cancelling: z.boolean() });
export const retrieveView = z.object({ cid: z.string(), hostId: z.string(), hostAddress: z.string(), sealedSha256: z.string() });

export const dealStatusView = z.object({
  state: z.enum(DEAL_STATES),
  reason: z.string().nullable(),
  sizeBytes: z.number(),
  replicas: z.number().int(),
  periodSeconds: z.number().int(),
  periods: z.number().int(),
  periodsReleased: z.number().int(),
  ratePerHostPeriod: amount,
  deposit: amount,
  paidToHosts: amount,
  commission: amount,
  refunded: amount,
  slashed: amount,
  repairs: z.number().int(),
  holders: z.array(z.object({
    hostId: z.string(),
    address: z.string(),
    state: z.enum(['STORING', 'ACTIVE', 'REMOVED']),
    proofsOk: z.number().int(),
    proofsFailed: z.number().int(),
    consecutiveFaults: z.number().int(),
    bond: amount,
    slashed: amount,
    roots: z.record(z.string()),
  })),
  endsAt: z.string().nullable(),
  terms: z.array(z.object({ chainKey: z.string(), firstPeriod: z.number().int(), periods: z.number().int(), deposit: amount, ended: z.boolean() })).default([]),
  timeline: z.array(z.object({ at: z.string(), step: z.string() })),
});
export const renewView = z.object({ periods: z.number().int(), endsAt: z.string(), deposit: amount });
