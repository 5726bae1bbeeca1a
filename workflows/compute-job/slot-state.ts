import { ActivityCancellationType } from '@temporalio/workflow';
import type { HostActivities } from '../../host-worker/activities/types';
import { ZansocErrorType } from '../../domain/errors';
import type { SlotExecution, SlotResult } from '../../domain/execution';
import { SLOT_RUN_ATTEMPTS, SLOT_SLACK_SECONDS, SLOT_START_SECONDS } from '../../domain/job-limits';
import type { JobSpec } from '../../domain/job-spec';
import type { HostCandidate } from '../../domain/matching';
import type { SignedCommitment } from '../../domain/sealed-result';
import { onHost } from '../common';
import type { ReplicaStatus } from './messages';
import type { JobRun } from './run-state';

/*
 * One slot of a job as the workflow keeps it, shared by its phases: match and run (slots.ts), commit and reveal
 * (sealing.ts), vote and settle (votes.ts). Also the options of the work a slot puts on its host's queue.
 */

/** One slot as the workflow tracks it: the status clients see plus what settlement needs. */
export interface Slot {
  status: ReplicaStatus;
  host: HostCandidate | null;
  result: SlotResult | null;
  error: string | null;
  /** Workflow time the current host started, while it runs. */
  runningSinceMs: number | null;
  /** How long the slot took on the host that finished it, start to result, in milliseconds. */
  ranMs: number | null;
  /** Hosts that vanished while holding this slot. */
  lost: HostCandidate[];
  /** Hosts that failed the client's test while holding this slot. */
  caught: HostCandidate[];
  /** How long the finishing host's test run took: paid like the job's own run. */
  testMs: number;
  /** How long the finishing host's run of the job took, as the workflow measured it (sealed runs). */
  jobMs: number;
  /** Hosts that forged a result while holding this slot: slashed like those a test caught. */
  forged: HostCandidate[];
  /** The host's commitments, while they wait to be revealed: the job's run and, when the client gave tests, a test run. */
  sealed: { job: Sealed; test: (Sealed & { expectedDigest: string }) | null } | null;
  /** Hosts matched to this slot so far. */
  attempts: number;
  /** Hosts that were full when the slot reached them (HostBusy): tried, but no attempt used up. */
  busy: number;
}

export interface Sealed {
  execution: SlotExecution;
  commitment: SignedCommitment;
}

/** The slot's activity runs on the chosen host's own queue; a host that stops heartbeating loses it. */
export function slotOn(hostId: string, spec: JobSpec) {
  return onHost<HostActivities>(hostId, {
    // A matched host has a free slot: one that does not start the slot soon is gone.
    scheduleToStartTimeout: `${SLOT_START_SECONDS} seconds`,
    startToCloseTimeout: `${spec.timeoutSeconds + SLOT_SLACK_SECONDS} seconds`,
    heartbeatTimeout: '10 seconds',
    // A cancelled job waits for the host to stop and remove the container before it settles.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: SLOT_RUN_ATTEMPTS,
      nonRetryableErrorTypes: [ZansocErrorType.ImageNotFound, ZansocErrorType.OutputTooLarge, ZansocErrorType.CapabilityMismatch, ZansocErrorType.HostDraining],
    },
  });
}

/** Reveals take seconds: a host that does not answer within a minute is gone. */
export function revealOn(hostId: string) {
  return onHost<HostActivities>(hostId, {
    scheduleToCloseTimeout: '1 minute',
    startToCloseTimeout: '20 seconds',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: [ZansocErrorType.NothingToReveal] },
  });
}

/**
 * The slot's host is at fault and loses the slot to another host: `caught` by a test input, or `forged` (a result its
 * key did not sign, or a reveal that does not open its commitment). Either way its bond is slashed at settlement.
 */
export function loseSlot(run: JobRun, slot: Slot, fault: 'caught' | 'forged', why: string): void {
  const host = slot.host!;
  const { replica, role } = slot.status;
  if (fault === 'caught') {
    slot.caught.push(host);
    slot.status.failedTestBy.push(host.id);
  } else {
    slot.forged.push(host);
    slot.status.forgedBy.push(host.id);
  }
  Object.assign(slot, { host: null, runningSinceMs: null, sealed: null, result: null, jobMs: 0, testMs: 0, error: `host ${host.id} ${why}` });
  Object.assign(slot.status, { state: 'RUNNING', resultDigest: null });
  run.note(`${role} ${replica}: ${host.id} ${why}, re-matching`);
}

/** What the slot's host is paid for: the time the workflow measured for its run and its test run, each capped at the timeout. */
export function measuredMs(run: JobRun, slot: Slot): number {
  const cap = run.spec.timeoutSeconds * 1000;
  return Math.min(slot.jobMs, cap) + Math.min(slot.testMs, cap);
}
