import { hexToBytes } from '@noble/hashes/utils';
import type { ProveReplicaInput, ProveReplicaResult, ReplicaChunk } from './replica';
import { challengeIndexes, dealDeposit, dealPeriods, MAX_DEAL_SECONDS, segmentCount, verifyMerkleProof, type DealState } from './storage';

/** The decisions of a storage deal's lifecycle (workflow `storageDeal`), pure so that they are tested on their own. */

/** The client may reclaim its deposit on chain this long after the term, even with no orchestrator. */
export const RECLAIM_SLACK_S = 7 * 86_400;
/** How long placing the replicas may wait for hosts before the deal fails and is refunded. */
export const PLACEMENT_TIMEOUT_MS = 10 * 60_000;

/**
 * One paid term of a deal, as deposited on chain: the first under the deal's own id, each renewal under
 * `<dealId>/term-<n>`. Terms follow each other: a term's periods come right after the previous term's.
 */
export interface DealTerm {
  chainKey: string;
  firstPeriod: number;
  periods: number;
  deposit: string;
  /** Ended on chain: its bonds returned and its unspent deposit refunded. */
  ended: boolean;
}

/** The deal's own deposit, under its own id. */
export function firstTerm(dealId: string, periods: number, deposit: string): DealTerm {
  return { chainKey: dealId, firstPeriod: 0, periods, deposit, ended: false };
}

/** The term a period is paid from; a period past every term belongs to the last. */
export function termOfPeriod(terms: readonly DealTerm[], period: number): DealTerm {
  return terms.find((t) => period >= t.firstPeriod && period < t.firstPeriod + t.periods) ?? terms.at(-1)!;
}

/** What a renewal deposits: whole periods of `durationSeconds`, every replica paid, right after the last term. */
export function renewalTerm(renewal: {
  dealId: string; terms: readonly DealTerm[]; durationSeconds: number; periodSeconds: number; ratePerHostPeriod: bigint; replicas: number;
}): DealTerm {
  const last = renewal.terms.at(-1)!;
  const periods = dealPeriods(renewal.durationSeconds, renewal.periodSeconds);
  return {
    chainKey: `${renewal.dealId}/term-${renewal.terms.length + 1}`, firstPeriod: last.firstPeriod + last.periods, periods,
    deposit: dealDeposit({ ratePerHostPeriod: renewal.ratePerHostPeriod, replicas: renewal.replicas, periods }).toString(), ended: false,
  };
}

/** Why a renewal of `durationSeconds` is refused (the field's rule), or null: one period at least, a deal's longest at most. */
export function renewalDurationError(durationSeconds: number, periodSeconds: number): string | null {
  if (Number.isInteger(durationSeconds) && durationSeconds >= periodSeconds && durationSeconds <= MAX_DEAL_SECONDS) return null;
  return `must be a whole number of seconds from ${periodSeconds} (one period) to ${MAX_DEAL_SECONDS}`;
}

/** When the client may reclaim the first deposit: after the longest placement, the whole term and the slack. */
export function firstDepositDeadlineSeconds(nowMs: number, durationSeconds: number): number {
  return Math.floor(nowMs / 1000) + durationSeconds + RECLAIM_SLACK_S + PLACEMENT_TIMEOUT_MS / 1000;
}

/** When the client may reclaim a renewal's deposit: the slack after the renewed term ends. */
export function renewalDeadlineSeconds(endsAtMs: number): number {
  return Math.floor(endsAtMs / 1000) + RECLAIM_SLACK_S;
}

/** The client's reason for cancelling, trimmed and bounded, or a default when it gave none. */
export function cancelReasonOf(reason: string | undefined): string {
  return reason?.trim() ? reason.trim().slice(0, 500) : 'cancelled by the client';
}

/** Holders in the order retrieval tries them: fewest faults in a row first, then fewest failed proofs. */
export function healthiestFirst<H extends { consecutiveFaults: number; proofsFailed: number }>(holders: readonly H[]): H[] {
  return [...holders].sort((a, b) => a.consecutiveFaults - b.consecutiveFaults || a.proofsFailed - b.proofsFailed);
}

/** The chunks whose root a host committed differs from the root of the staged data sealed for it. */
export function chunksWithWrongRoots(chunks: readonly ReplicaChunk[], committed: Record<string, string>, expected: Record<string, string>): ReplicaChunk[] {
  return chunks.filter((c) => committed[c.cid] !== expected[c.cid]);
}

export type ProofChallenges = ProveReplicaInput['challenges'];

/**
 * One period's challenge of a holder: `chunkCount` chunks shuffled by `random` (the workflow's replay-safe
 * Math.random), and for each `segmentsPerChunk` segments drawn from the fresh seed (hex) and the chunk's place.
 */
export function drawChallenges(draw: {
  seedHex: string; chunks: readonly ReplicaChunk[]; chunkCount: number; segmentsPerChunk: number; random: () => number;
}): ProofChallenges {
  const picked = [...draw.chunks].sort(() => draw.random() - 0.5).slice(0, draw.chunkCount);
  return picked.map((c, i) => ({
    cid: c.cid, indexes: challengeIndexes(`${draw.seedHex}${i.toString(16).padStart(2, '0')}`, segmentCount(c.bytes), draw.segmentsPerChunk),
  }));
}

/**
 * Whether a holder's answer proves every challenged segment against the roots it committed. The answer comes from
 * the host: a missing chunk, segment or proof, or a segment that is not hex, fails the proof.
 */
export function proofHolds(check: {
  challenges: ProofChallenges; answer: ProveReplicaResult; chunks: readonly ReplicaChunk[]; roots: Record<string, string>;
}): boolean {
  const { challenges, answer, chunks, roots } = check;
  if (answer.missing.length) return false;
  return challenges.every(({ cid, indexes }) => {
    const given = answer.proofs.find((p) => p.cid === cid);
    const chunk = chunks.find((c) => c.cid === cid)!;
    return given !== undefined && indexes.every((index) => {
      const segment = given.segments.find((s) => s.index === index);
      return segment !== undefined && /^([0-9a-f]{2})*$/.test(segment.data) && verifyMerkleProof({
        root: roots[cid], index, leafCount: segmentCount(chunk.bytes), segment: hexToBytes(segment.data), proof: segment.proof,
      });
    });
  });
}

/**
 * How a deal that had a deposit ends: CANCELLED when the client asked, FAILED when its replicas could not be placed
 * (with that reason), otherwise ENDED with its term over.
 */
export function dealOutcome(deal: { cancelReason: string | null; state: DealState; reason: string | null; periodsReleased: number }): {
  state: DealState; reason: string | null;
} {
  if (deal.cancelReason !== null) return { state: 'CANCELLED', reason: deal.cancelReason };
  if (deal.state === 'FAILED') return { state: 'FAILED', reason: deal.reason };
  return { state: 'ENDED', reason: `term over after ${deal.periodsReleased} period(s)` };
}
