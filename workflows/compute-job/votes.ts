import { patched } from '@temporalio/workflow';
import type { SettledSlot } from '../../domain/job-settlement';
import { majorityVerdict, type Verdict } from '../../domain/verification';
import type { JobRun } from './run-state';
import { measuredMs, type Slot } from './slot-state';

/* Verification: the vote over a round's slots, and what settlement and the read model take from a slot. */

/** The vote over every slot asked for: one that never ran counts as a vote for nothing. */
export function judge(slots: Slot[]): Verdict {
  const verdict = majorityVerdict(slots.map((s, i) => ({
    hostId: s.host?.id ?? `slot-${i}`,
    resultDigest: s.result?.resultDigest ?? `none:${i}`,
  })));
  // A lone slot that gave no result once "won" its own vote; a majority must hold a result.
  if (verdict.kind === 'majority' && verdict.digest.startsWith('none:') && patched('majority-holds-a-result')) {
    return { kind: 'no-majority', counts: {} };
  }
  return verdict;
}

export function winnersOf(slots: Slot[], digest: string): Slot[] {
  return slots.filter((s) => s.result?.resultDigest === digest);
}

export function describeVotes(slots: Slot[]): string {
  return slots.map((s) => (s.result && s.host ? `${s.host.id}=${s.result.resultDigest.slice(0, 12)}` : s.error)).join(', ');
}

/**
 * A slot as settlement sees it, at workflow time `nowMs`. Sealed runs are paid for the time the workflow measured (a
 * slot cut short while it waited to reveal, for the runs it finished); runs from before, for what the host reported.
 * A forged result is slashed like a failed test.
 */
export function settledSlot(run: JobRun, slot: Slot, nowMs: number): SettledSlot {
  const workMs = !slot.result ? 0 : run.sealed ? measuredMs(run, slot) : slot.result.durationMs + slot.testMs;
  return {
    role: slot.status.role, host: slot.host, digest: slot.result?.resultDigest ?? null, workMs,
    runningMs: slot.sealed ? measuredMs(run, slot) : slot.runningSinceMs === null ? null : nowMs - slot.runningSinceMs,
    ranMs: slot.ranMs, lost: slot.lost, caught: [...slot.caught, ...slot.forged],
  };
}

/** The read model's fields of the result a slot gave. */
export function resultFields(slot: Slot) {
  const result = slot.result!;
  return {
    hostId: slot.host!.id, exitCode: result.exitCode, timedOut: result.timedOut,
    resultDigest: result.resultDigest, outputSha256: result.outputSha256, logsSha256: result.logsSha256,
  };
}
