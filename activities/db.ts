import type { Database } from '../db/client';
import type { OrchestratorMetrics } from '../metrics/registry';
import type { JobState } from '../domain/job-state';
import { advertisedImagesFrom } from '../domain/images';
import { isFinalJobState } from '../domain/job-state';
import { isFinalDealState, type DealState } from '../domain/storage';
import { matchAmong, type HostCandidate, type HostMatch, type HostQuery } from '../domain/matching';
import { reputationPenaltyBps, summarise, type HostRecordEntry, type SlotOutcome } from '../domain/reputation';

/** A change to a job's read model. Dates travel as ISO strings: Temporal payloads are JSON. */
export interface JobUpdate {
  jobId: string;
  state?: JobState;
  stateReason?: string | null;
  hostId?: string | null;
  exitCode?: number | null;
  timedOut?: boolean;
  resultDigest?: string | null;
  outputSha256?: string | null;
  logsSha256?: string | null;
  paidToHosts?: string;
  commission?: string;
  refunded?: string;
  startedAt?: string;
  finishedAt?: string;
}

/** A change to a storage deal's read model, plus what its last period counted (for /metrics). */
export interface DealUpdate {
  dealId: string;
  state?: DealState;
  stateReason?: string | null;
  hostIds?: string[];
  periodsReleased?: number;
  /** Periods paid for, all terms together, and what their deposits came to. */
  periods?: number;
  deposit?: string;
  paidToHosts?: string;
  commission?: string;
  refunded?: string;
  slashed?: string;
  endsAt?: string;
  finishedAt?: string;
  /** Proofs checked and repairs made since the last update. */
  counted?: { proofsOk: number; proofsFailed: number; repairs: number };
}

/**
 * The staged blob of a job's result as its client fetches it: the one sealed by the winning host (or, without its
 * claim, by any host) whose plaintext digest is the result's. Null when the host uploaded it unsealed.
 */
async function sealedBlobOf(db: Database, jobId: string, kind: 'output' | 'logs', plaintextSha256: string | null, winner: string | null): Promise<string | null> {
  if (!plaintextSha256) return null;
  const claims = await db.blob.findMany({ where: { jobId, kind, plaintextSha256 }, select: { sha256: true, owner: true }, orderBy: { createdAt: 'asc' } });
  const claim = claims.find((c) => c.owner === winner) ?? claims[0];
  return claim && claim.sha256 !== plaintextSha256 ? claim.sha256 : null;
}

/**
 * A job ended: its inputs, test inputs and the losing replicas' outputs and logs leave staging at the next sweep; the
 * result's output archive and logs (as the winning host staged them) stay for the retention period.
 */
async function endJobBlobs(db: Database, jobId: string, job: { outputSha256: string | null; logsSha256: string | null }, winner: string | null): Promise<void> {
  const now = new Date();
  const kept = (kind: 'output' | 'logs', plaintext: string | null) => plaintext
    ? { jobId, kind, plaintextSha256: plaintext, endedAt: null, ...(winner ? { owner: winner } : {}) }
    : null;
  for (const where of [kept('output', job.outputSha256), kept('logs', job.logsSha256)]) {
    if (where) await db.blob.updateMany({ where, data: { endedAt: now, retained: true } });
  }
  // The client's own unsealed-output fallback: a host without a sealing key staged the plaintext itself.
  await db.blob.updateMany({ where: { jobId, endedAt: null }, data: { endedAt: now, retained: false } });
}

/** Hosts whose last heartbeat is older than this are offline and never matched. */
export const HOST_OFFLINE_AFTER_MS = 30_000;

/**
 * The host columns matching reads, and only those: with 1,000 hosts online, Prisma building whole rows took twice the
 * time of these (12.6 against 6.8 ms a look, measured on 1,000 rows of SQLite).
 */
const CANDIDATE_COLUMNS = {
  id: true, address: true, arch: true, cpus: true, memoryMiB: true, diskMiB: true, gpus: true, freeSlots: true, maxSlots: true,
  pricePerCpuSecond: true, pricePerGibSecond: true, pricePerGpuSecond: true, jobsDone: true, jobsFailed: true, timesSlashed: true,
  operator: true, stake: true, images: true,
} as const;

export function createDbActivities({ db, reputationWeight = 1, metrics }: { db: Database; reputationWeight?: number; metrics?: OrchestratorMetrics }) {
  /**
   * Hosts that can be matched now. Free slots are what each host last reported: it knows what it runs, while a job
   * row left RUNNING would leak a slot. A host whose last heartbeat did not report them is counted by its RUNNING rows.
   */
  async function listOnlineHosts(): Promise<HostCandidate[]> {
    const since = new Date(Date.now() - HOST_OFFLINE_AFTER_MS);
    const [hosts, busy] = await Promise.all([
      db.host.findMany({ where: { status: 'online', lastSeenAt: { gte: since } }, orderBy: { id: 'asc' }, select: CANDIDATE_COLUMNS }),
      db.job.groupBy({ by: ['hostId'], where: { state: 'RUNNING', hostId: { not: null } }, _count: { _all: true } }),
    ]);
    const running = new Map(busy.map((b) => [b.hostId, b._count._all]));
    return hosts.map((h) => ({
      id: h.id,
      address: h.address,
      arch: h.arch,
      cpus: h.cpus,
      memoryMiB: h.memoryMiB,
      diskMiB: h.diskMiB,
      gpus: h.gpus,
      freeSlots: h.freeSlots === null ? Math.max(0, h.maxSlots - (running.get(h.id) ?? 0)) : Math.min(h.freeSlots, h.maxSlots),
      pricePerCpuSecond: h.pricePerCpuSecond,
      pricePerGibSecond: h.pricePerGibSecond,
      pricePerGpuSecond: h.pricePerGpuSecond,
      penaltyBps: reputationPenaltyBps(h, reputationWeight),
      operator: h.operator,
      stake: h.stake,
      images: advertisedImagesFrom(h.images),
    }));
  }

  return {
    /**
     * Records what a settled job did for or to each host and sums every host's record again. One row per (job, host):
     * a retry writes the same rows, so nothing counts twice.
     */
    async recordReputation({ jobId, entries, dispute }: {
      jobId: string; entries: HostRecordEntry[]; dispute?: 'upheld' | 'rejected' | 'unresolved';
    }): Promise<void> {
      const known = await db.hostRecord.count({ where: { jobId } });
      if (known === 0) {
        metrics?.disagreements.inc(entries.filter((e) => e.outcome === 'slashed').length);
        if (dispute) metrics?.challenges.inc({ outcome: dispute });
      }
      await db.$transaction(async (tx) => {
        for (const { hostId, outcome, earned, slashed, slotMs } of entries) {
          await tx.hostRecord.upsert({
            where: { jobId_hostId: { jobId, hostId } },
            create: { jobId, hostId, outcome, earned, slashed, slotMs },
            update: { outcome, earned, slashed, slotMs },
          });
          const records = await tx.hostRecord.findMany({ where: { hostId }, select: { outcome: true, earned: true, slashed: true, slotMs: true } });
          await tx.host.updateMany({ where: { id: hostId }, data: summarise(records.map((r) => ({ ...r, outcome: r.outcome as SlotOutcome }))) });
        }
      });
    },

    /** Writes the job's new state; setting the same fields twice leaves the same row, so retries are harmless. */
    async recordJob(update: JobUpdate): Promise<void> {
      const { jobId, startedAt, finishedAt, ...fields } = update;
      if (metrics && (startedAt || finishedAt)) {
        // Latencies are observed once: the first start, and the end (a retried write finds them already set).
        const before = await db.job.findUnique({ where: { id: jobId }, select: { createdAt: true, startedAt: true, finishedAt: true } });
        if (before && startedAt && !before.startedAt) metrics.submitToRunning.observe((Date.parse(startedAt) - before.createdAt.getTime()) / 1000);
        if (before && finishedAt && !before.finishedAt && update.state) {
          metrics.jobsFinished.inc({ state: update.state });
          metrics.jobDuration.observe({ state: update.state }, (Date.parse(finishedAt) - before.createdAt.getTime()) / 1000);
        }
      }
      const job = await db.job.update({
        where: { id: jobId },
        data: {
          ...fields,
          ...(startedAt ? { startedAt: new Date(startedAt) } : {}),
          ...(finishedAt ? { finishedAt: new Date(finishedAt) } : {}),
        },
        select: { hostId: true, outputSha256: true, logsSha256: true, state: true },
      });
      const winner = job.hostId ? (await db.host.findUnique({ where: { id: job.hostId }, select: { address: true } }))?.address ?? null : null;
      if (fields.outputSha256 !== undefined || fields.logsSha256 !== undefined) {
        await db.job.update({
          where: { id: jobId },
          data: {
            sealedOutputSha256: await sealedBlobOf(db, jobId, 'output', job.outputSha256, winner),
            sealedLogsSha256: await sealedBlobOf(db, jobId, 'logs', job.logsSha256, winner),
          },
        });
      }
      if (update.state && isFinalJobState(update.state)) await endJobBlobs(db, jobId, job, winner);
    },

    /** Writes the deal's new state; a retry writes the same row (its counts may be counted twice in /metrics). */
    async recordDeal(update: DealUpdate): Promise<void> {
      const { dealId, hostIds, endsAt, finishedAt, counted, ...fields } = update;
      if (metrics && counted) {
        if (counted.proofsOk) metrics.storageProofs.inc({ outcome: 'ok' }, counted.proofsOk);
        if (counted.proofsFailed) metrics.storageProofs.inc({ outcome: 'failed' }, counted.proofsFailed);
        if (counted.repairs) metrics.storageRepairs.inc(counted.repairs);
      }
      if (metrics && finishedAt && update.state) {
        const before = await db.deal.findUnique({ where: { id: dealId }, select: { finishedAt: true } });
        if (before && !before.finishedAt) metrics.dealsFinished.inc({ state: update.state });
      }
      const deal = await db.deal.update({
        where: { id: dealId },
        data: {
          ...fields,
          ...(hostIds ? { hostIds: JSON.stringify(hostIds) } : {}),
          ...(endsAt ? { endsAt: new Date(endsAt) } : {}),
          ...(finishedAt ? { finishedAt: new Date(finishedAt) } : {}),
        },
        select: { replicas: true },
      });
      const now = new Date();
      if (update.state && isFinalDealState(update.state)) {
        // The deal is over: nothing of it stays in staging.
        await db.blob.updateMany({ where: { dealId, endedAt: null }, data: { endedAt: now, retained: false } });
      } else if (update.state === 'ACTIVE' && hostIds && hostIds.length >= deal.replicas) {
        // Every replica is placed and its roots checked against the staged chunks: the chunks leave staging (a repair
        // restages one from a healthy replica, and it goes again once the new holder is placed).
        await db.blob.updateMany({ where: { dealId, kind: 'chunk', endedAt: null }, data: { endedAt: now, retained: false } });
      }
    },

    /** A registered host's address by id, or null: who a challenge's stake is locked from. */
    async findHost({ hostId }: { hostId: string }): Promise<{ id: string; address: string } | null> {
      return db.host.findUnique({ where: { id: hostId }, select: { id: true, address: true } });
    },

    listOnlineHosts,

    /**
     * A wait's look at the hosts: the one it takes (or why none fits), chosen here among every online host, so that
     * the workflow's history holds one host and one line whether ten hosts are online or ten thousand.
     */
    async matchHost(query: HostQuery): Promise<HostMatch> {
      return matchAmong(await listOnlineHosts(), query);
    },
  };
}
