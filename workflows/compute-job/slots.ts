import { ActivityCancellationType, ActivityFailure, ApplicationFailure, isCancellation, log, patched, TimeoutFailure } from '@temporalio/workflow';
import type { HostActivities } from '../../host-worker/activities/types';
import { ZansocErrorType } from '../../domain/errors';
import type { SlotExecution, SlotResult } from '../../domain/execution';
import { MAX_SLOT_ATTEMPTS, SLOT_RUN_ATTEMPTS, SLOT_SLACK_SECONDS, SLOT_START_SECONDS } from '../../domain/job-limits';
import type { SettledSlot } from '../../domain/job-settlement';
import type { JobSpec } from '../../domain/job-spec';
import type { HostCandidate } from '../../domain/matching';
import { hostBondFor } from '../../domain/money';
import { majorityVerdict, type Verdict } from '../../domain/verification';
import { consentOf, failureMessage, onHost, waitForHost } from '../common';
import { chain } from '../presets';
import type { ReplicaStatus } from './messages';
import type { JobRun } from './run-state';

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
}

/** The slot's activity runs on the chosen host's own queue; a host that stops heartbeating loses it. */
function slotOn(hostId: string, spec: JobSpec) {
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

/** Runs one slot: match, bond, execute; a host that fails or leaves loses it and it is re-matched. */
export async function runSlot(run: JobRun, role: ReplicaStatus['role']): Promise<Slot> {
  const { jobId, spec, status } = run;
  const replica = run.slots.length;
  const slot: Slot = {
    status: { replica, role, hostId: null, resultDigest: null, state: 'QUEUED', payout: '0', slashed: '0', lostBy: [], failedTestBy: [] },
    host: null, result: null, error: 'no host fitted the job before the queue timeout', runningSinceMs: null, ranMs: null, lost: [], caught: [], testMs: 0,
  };
  run.slots.push(slot);
  status.replicas.push(slot.status);
  let attempts = 0;
  while (attempts < MAX_SLOT_ATTEMPTS) {
    const host = await waitForHost({
      resources: spec.resources, giveUpAtMs: Date.now() + spec.queueTimeoutSeconds * 1000, exclude: run.used, excludeOperators: run.usedOperators,
      // Waiting for a later slot's host does not take a running or provisional job back to QUEUED.
      tellWaiting: (reason) => run.moveTo(status.state === 'RUNNING' || status.state === 'PROVISIONAL' ? status.state : 'QUEUED', reason),
    });
    if (!host) break;
    attempts++;
    // A host puts stake behind the slot before it runs; the bond comes back at settlement unless it is slashed.
    if (patched('bond-host-stake')) {
      try {
        const amount = hostBondFor(spec.maxPrice);
        const consent = await consentOf(host.id, { escrow: 'job', client: run.client, id: jobId, amount });
        await chain.bondHostStake({ jobId, client: run.client, host: host.address, amount, consent });
      } catch (err) {
        if (isCancellation(err)) throw err;
        slot.error = `host ${host.id} could not bond stake: ${failureMessage(err)}`;
        log.warn('host could not bond, re-matching', { jobId, hostId: host.id, error: failureMessage(err) });
        continue;
      }
    }
    slot.host = host;
    slot.runningSinceMs = Date.now();
    Object.assign(slot.status, { hostId: host.id, state: 'RUNNING' });
    run.note(`${role} ${replica} running on ${host.id}`);
    run.showHosts();
    // The job's host, as the read model shows it, is the first replica's.
    if (replica === 0 || status.hostId === null) status.hostId = host.id;
    if (role === 'replica') await run.moveTo('RUNNING', null, { hostId: status.hostId, startedAt: new Date().toISOString() });
    const execution: SlotExecution = {
      // The first replica keeps the name single-replica jobs always had.
      executionId: replica === 0 ? `job-${jobId}/slot-0/attempt-${attempts}`
        : role === 'arbiter' ? `job-${jobId}/arbiter-${replica}/attempt-${attempts}` : `job-${jobId}/replica-${replica}/attempt-${attempts}`,
      jobId, image: spec.image, command: spec.command, env: spec.env, resources: spec.resources,
      timeoutSeconds: spec.timeoutSeconds, stagingUrl: run.stagingUrl,
      ...(Object.keys(spec.inputs).length ? { inputs: spec.inputs } : {}),
      // Only in the activity's input, which replay does not compare: no patch needed.
      ...(run.recipientPublicKey ? { recipientPublicKey: run.recipientPublicKey } : {}),
    };
    try {
      const { result, failedTest } = await runOnHost(run, slot, host, execution, replica + attempts);
      if (!result) {
        // Caught cheating on a test input: the host is slashed at settlement and the slot goes to another host.
        slot.caught.push(host);
        slot.status.failedTestBy.push(host.id);
        slot.host = null;
        slot.runningSinceMs = null;
        slot.error = `host ${host.id} failed a test input: ${failedTest}`;
        run.note(`${role} ${replica}: ${host.id} failed a test input (${failedTest}), re-matching`);
        continue;
      }
      slot.result = result;
      slot.error = null;
      slot.ranMs = Date.now() - slot.runningSinceMs;
      slot.runningSinceMs = null;
      Object.assign(slot.status, { resultDigest: result.resultDigest, state: 'DONE' });
      run.note(`${role} ${replica} done on ${host.id}: digest ${result.resultDigest.slice(0, 12)}`);
      return slot;
    } catch (err) {
      if (isCancellation(err)) throw err;
      slot.error = `host ${host.id}: ${failureMessage(err)}`;
      slot.runningSinceMs = null;
      if (isJobFault(err)) break;
      // A host that went silent (no heartbeat, never picked the slot up) loses part of its bond; one that said
      // it was leaving (HostDraining) or failed openly just loses the slot.
      if (isHostLost(err)) {
        slot.lost.push(host);
        slot.status.lostBy.push(host.id);
      }
      slot.host = null;
      run.note(`${role} ${replica} lost by ${host.id}: ${failureMessage(err)}`);
      log.warn('slot lost, re-matching', { jobId, hostId: host.id, error: failureMessage(err) });
    }
  }
  slot.status.state = 'FAILED';
  return slot;
}

/**
 * Runs a slot on its host and, when the client gave test inputs, one test beside it, in an order the host cannot
 * predict. A wrong test digest comes back instead of the result.
 */
async function runOnHost(run: JobRun, slot: Slot, host: HostCandidate, execution: SlotExecution, pick: number): Promise<{ result: SlotResult | null; failedTest: string | null }> {
  const { spec } = run;
  const activities = slotOn(host.id, spec);
  if (spec.tests.length === 0) return { result: await activities.executeSlot(execution), failedTest: null };
  const test = spec.tests[pick % spec.tests.length];
  const testExecution: SlotExecution = { ...execution, executionId: `${execution.executionId}/test`, inputs: test.inputs };
  let result: SlotResult | null = null;
  for (const step of Math.random() < 0.5 ? ['test', 'job'] : ['job', 'test']) {
    if (step === 'job') {
      result = await activities.executeSlot(execution);
      continue;
    }
    const tested = await activities.executeSlot(testExecution);
    if (tested.resultDigest !== test.expectedDigest) {
      return { result: null, failedTest: `digest ${tested.resultDigest.slice(0, 12)}…, expected ${test.expectedDigest.slice(0, 12)}…` };
    }
    slot.testMs = tested.durationMs;
  }
  return { result, failedTest: null };
}

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

/** A slot as settlement sees it, at workflow time `nowMs`. */
export function settledSlot(slot: Slot, nowMs: number): SettledSlot {
  return {
    role: slot.status.role, host: slot.host, digest: slot.result?.resultDigest ?? null,
    workMs: slot.result ? slot.result.durationMs + slot.testMs : 0,
    runningMs: slot.runningSinceMs === null ? null : nowMs - slot.runningSinceMs,
    ranMs: slot.ranMs, lost: slot.lost, caught: slot.caught,
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

/** Failures that are the job's own (bad image, too much output): trying another host would not help. */
function isJobFault(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && (cause.type === ZansocErrorType.ImageNotFound || cause.type === ZansocErrorType.OutputTooLarge);
}

/** The host went silent: it stopped heartbeating, or never picked the slot up. */
function isHostLost(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof TimeoutFailure;
}
