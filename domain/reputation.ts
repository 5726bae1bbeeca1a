import { BPS } from './money';

/** A host's track record as matching sees it. */
export interface TrackRecord {
  jobsDone: number;
  jobsFailed: number;
  timesSlashed: number;
}

/** Events a new host is assumed to have done well, so one early mishap does not bury it. */
const PRIOR_GOOD = 2;
/** How much one slash weighs against one failure (lost or failed slot). */
const SLASH_WEIGHT = 2;

/**
 * How much a host's record adds to its price in matching, in basis points of its price and of the floor price (added
 * on top, so a bad record weighs on a host at the floor too): with weight 1, a host that was slashed in half its jobs
 * ranks as if it asked twice its price plus the floor. `weight` 0 turns reputation off. New hosts start at 0.
 */
export function reputationPenaltyBps(record: TrackRecord, weight = 1): number {
  const bad = record.jobsFailed + SLASH_WEIGHT * record.timesSlashed;
  const all = record.jobsDone + record.jobsFailed + record.timesSlashed + PRIOR_GOOD;
  return Math.round((Number(BPS) * weight * bad) / all);
}

/**
 * done: its result counted and it was paid; failed: it vanished mid-slot; slashed: it cheated or lost a dispute;
 * neutral: it took part without a verdict on it (a cancelled job, a vote nobody won, a challenge upheld).
 */
export type SlotOutcome = 'done' | 'failed' | 'slashed' | 'neutral';

/** One job's mark on one host: summed into the host's record. */
export interface HostRecordEntry {
  hostId: string;
  outcome: SlotOutcome;
  /** ZSC base units before commission. */
  earned: string;
  slashed: string;
  slotMs: number | null;
}

/** Sums a host's records into its reputation and earnings. */
export function summarise(records: Pick<HostRecordEntry, 'outcome' | 'earned' | 'slashed' | 'slotMs'>[]) {
  const done = records.filter((r) => r.outcome === 'done');
  const timed = done.filter((r) => r.slotMs !== null);
  return {
    jobsDone: done.length,
    jobsFailed: records.filter((r) => r.outcome === 'failed').length,
    timesSlashed: records.filter((r) => r.outcome === 'slashed').length,
    earned: records.reduce((sum, r) => sum + BigInt(r.earned), 0n).toString(),
    slashed: records.reduce((sum, r) => sum + BigInt(r.slashed), 0n).toString(),
    meanSlotMs: timed.length ? Math.round(timed.reduce((sum, r) => sum + r.slotMs!, 0) / timed.length) : null,
  };
}
