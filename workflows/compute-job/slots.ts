import { ActivityCancellationType, ActivityFailure, ApplicationFailure, isCancellation, log, patched, TimeoutFailure, uuid4 } from '@temporalio/workflow';
import type { HostActivities } from '../../host-worker/activities/types';
import { ZansocErrorType } from '../../domain/errors';
import type { SlotExecution, SlotResult } from '../../domain/execution';
import { MAX_SLOT_ATTEMPTS, SLOT_RUN_ATTEMPTS, SLOT_SLACK_SECONDS, SLOT_START_SECONDS } from '../../domain/job-limits';
import type { SettledSlot } from '../../domain/job-settlement';
import type { JobSpec } from '../../domain/job-spec';
import type { HostCandidate } from '../../domain/matching';
import { hostBondFor } from '../../domain/money';
import { commitmentFault, revealFault, type SignedCommitment } from '../../domain/sealed-result';
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
  /** How long the finishing host's run of the job took, as the workflow measured it (sealed runs). */
  jobMs: number;
  /** Hosts that forged a result while holding this slot: slashed like those a test caught. */
  forged: HostCandidate[];
  /** The host's commitments, while they wait to be revealed: the job's run and, when the client gave tests, a test run. */
  sealed: { job: Sealed; test: (Sealed & { expectedDigest: string }) | null } | null;
  /** Hosts matched to this slot so far. */
  attempts: number;
}

interface Sealed {
  execution: SlotExecution;
  commitment: SignedCommitment;
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

/** Reveals take seconds: a host that does not answer within a minute is gone. */
function revealOn(hostId: string) {
  return onHost<HostActivities>(hostId, {
    scheduleToCloseTimeout: '1 minute',
    startToCloseTimeout: '20 seconds',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: [ZansocErrorType.NothingToReveal] },
  });
}

/**
 * Runs `count` slots of one role side by side. Sealed results: every slot's host commits first, and only once all of
 * them have committed is each asked to reveal, so that no host can see or copy another's digest; a slot whose host
 * does not open its commitment goes to another host, which commits and reveals in turn.
 */
export async function runRound(run: JobRun, role: ReplicaStatus['role'], count: number): Promise<Slot[]> {
  const slots = await Promise.all(Array.from({ length: count }, () => runSlot(run, role)));
  let committed = slots.filter((s) => s.sealed !== null);
  while (committed.length > 0) {
    const opened = await Promise.all(committed.map((slot) => revealSlot(run, slot)));
    const again = committed.filter((_, i) => !opened[i]);
    await Promise.all(again.map((slot) => fillSlot(run, slot)));
    committed = again.filter((s) => s.sealed !== null);
  }
  return slots;
}

/** Runs one slot: match, bond, execute (or commit); a host that fails or leaves loses it and it is re-matched. */
async function runSlot(run: JobRun, role: ReplicaStatus['role']): Promise<Slot> {
  const replica = run.slots.length;
  const slot: Slot = {
    status: { replica, role, hostId: null, resultDigest: null, state: 'QUEUED', payout: '0', slashed: '0', lostBy: [], failedTestBy: [], forgedBy: [], measuredMs: null },
    host: null, result: null, error: 'no host fitted the job before the queue timeout', runningSinceMs: null, ranMs: null, lost: [], caught: [], testMs: 0,
    jobMs: 0, forged: [], sealed: null, attempts: 0,
  };
  run.slots.push(slot);
  run.status.replicas.push(slot.status);
  await fillSlot(run, slot);
  return slot;
}

/** Matches hosts to the slot until one gives a result (or, sealed, a commitment), or the attempts run out. */
async function fillSlot(run: JobRun, slot: Slot): Promise<void> {
  const { jobId, spec, status } = run;
  const { replica, role } = slot.status;
  while (slot.attempts < MAX_SLOT_ATTEMPTS) {
    const host = await waitForHost({
      resources: spec.resources, giveUpAtMs: Date.now() + spec.queueTimeoutSeconds * 1000, exclude: run.used, excludeOperators: run.usedOperators,
      image: spec.image,
      // Waiting for a later slot's host does not take a running or provisional job back to QUEUED.
      tellWaiting: (reason) => run.moveTo(status.state === 'RUNNING' || status.state === 'PROVISIONAL' ? status.state : 'QUEUED', reason),
      // Checkers are drawn by stake: a cluster of cheap hosts would otherwise win every spot check and dispute.
      ...(role !== 'replica' && run.drawsCheckers ? { draw: Math.random } : {}),
    });
    if (!host) break;
    const attempts = ++slot.attempts;
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
      // Sealed: an opaque id, the same shape for the job's run and a test run; the first replica once kept the name
      // single-replica jobs always had.
      executionId: run.sealed ? uuid4() : replica === 0 ? `job-${jobId}/slot-0/attempt-${attempts}`
        : role === 'arbiter' ? `job-${jobId}/arbiter-${replica}/attempt-${attempts}` : `job-${jobId}/replica-${replica}/attempt-${attempts}`,
      jobId, image: spec.image, command: spec.command, env: spec.env, resources: spec.resources,
      timeoutSeconds: spec.timeoutSeconds, stagingUrl: run.stagingUrl,
      ...(run.sealed || Object.keys(spec.inputs).length ? { inputs: spec.inputs } : {}),
      // Only in the activity's input, which replay does not compare: no patch needed.
      ...(run.recipientPublicKey ? { recipientPublicKey: run.recipientPublicKey } : {}),
    };
    try {
      if (run.sealed) {
        const forgery = await commitOnHost(run, slot, host, execution, replica + attempts);
        if (forgery === null) {
          slot.ranMs = Date.now() - slot.runningSinceMs;
          slot.runningSinceMs = null;
          slot.error = null;
          run.note(`${role} ${replica} committed on ${host.id}`);
          return;
        }
        loseSlot(run, slot, 'forged', forgery);
        continue;
      }
      const { result, failedTest } = await runOnHost(run, slot, host, execution, replica + attempts);
      if (!result) {
        loseSlot(run, slot, 'caught', `failed a test input: ${failedTest}`);
        continue;
      }
      slot.result = result;
      slot.error = null;
      slot.ranMs = Date.now() - slot.runningSinceMs;
      slot.runningSinceMs = null;
      Object.assign(slot.status, { resultDigest: result.resultDigest, state: 'DONE' });
      run.note(`${role} ${replica} done on ${host.id}: digest ${result.resultDigest.slice(0, 12)}`);
      return;
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
      slot.sealed = null;
      run.note(`${role} ${replica} lost by ${host.id}: ${failureMessage(err)}`);
      log.warn('slot lost, re-matching', { jobId, hostId: host.id, error: failureMessage(err) });
    }
  }
  slot.status.state = 'FAILED';
}

/**
 * The slot's host is at fault and loses the slot to another host: `caught` by a test input, or `forged` (a result its
 * key did not sign, or a reveal that does not open its commitment). Either way its bond is slashed at settlement.
 */
function loseSlot(run: JobRun, slot: Slot, fault: 'caught' | 'forged', why: string): void {
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

/**
 * Runs the job and, when the client gave test inputs, one test beside it on the slot's host, in an order the host
 * cannot predict and under ids it cannot tell apart; each answers a signed commitment, checked against the host's
 * key, and the time each took as the workflow measured it. Why the host forged a commitment, or null.
 */
async function commitOnHost(run: JobRun, slot: Slot, host: HostCandidate, execution: SlotExecution, pick: number): Promise<string | null> {
  const { spec } = run;
  const activities = slotOn(host.id, spec);
  const test = spec.tests.length ? spec.tests[pick % spec.tests.length] : null;
  const testExecution: SlotExecution | null = test && { ...execution, executionId: uuid4(), inputs: test.inputs };
  const steps = !testExecution ? [execution] : Math.random() < 0.5 ? [testExecution, execution] : [execution, testExecution];
  const sealed: Slot['sealed'] = { job: null!, test: null };
  for (const exec of steps) {
    const startedMs = Date.now();
    const commitment = await activities.commitSlot(exec);
    const tookMs = Date.now() - startedMs;
    const forgery = commitmentFault(run.chainId, run.jobId, exec.executionId, host.address, commitment);
    // Which run was forged stays unsaid: it would tell the host which one was the test.
    if (forgery) return `forged a result: ${forgery}`;
    if (exec === execution) {
      sealed.job = { execution: exec, commitment };
      slot.jobMs = tookMs;
    } else {
      sealed.test = { execution: exec, commitment, expectedDigest: test!.expectedDigest };
      slot.testMs = tookMs;
    }
  }
  slot.sealed = sealed;
  return null;
}

/**
 * Asks the slot's host to open its commitments (the job's and a test's, in an order it cannot predict) and checks
 * each against its key and commitment, and a test's digest against the one the client expects. False when the host
 * lost the slot: it did not reveal (gone: like a host that vanished), revealed something else (forged), or failed the test.
 */
async function revealSlot(run: JobRun, slot: Slot): Promise<boolean> {
  const { jobId } = run;
  const host = slot.host!;
  const { job, test } = slot.sealed!;
  const { replica, role } = slot.status;
  const activities = revealOn(host.id);
  const steps = !test ? [job] : Math.random() < 0.5 ? [test, job] : [job, test];
  let result: SlotResult | null = null;
  for (const step of steps) {
    let reveal;
    try {
      reveal = await activities.revealSlot({ jobId, executionId: step.execution.executionId });
    } catch (err) {
      if (isCancellation(err)) throw err;
      slot.lost.push(host);
      slot.status.lostBy.push(host.id);
      Object.assign(slot, { host: null, sealed: null, jobMs: 0, testMs: 0, error: `host ${host.id} did not reveal its result: ${failureMessage(err)}` });
      run.note(`${role} ${replica}: ${host.id} did not reveal its result (${failureMessage(err)}), re-matching`);
      return false;
    }
    const forgery = revealFault(run.chainId, jobId, host.address, step.commitment, reveal);
    if (forgery) {
      loseSlot(run, slot, 'forged', `forged a result: ${forgery}`);
      return false;
    }
    if (step === test && reveal.result.resultDigest !== test.expectedDigest) {
      loseSlot(run, slot, 'caught', `failed a test input: digest ${reveal.result.resultDigest.slice(0, 12)}…, expected ${test.expectedDigest.slice(0, 12)}…`);
      return false;
    }
    if (step === job) result = reveal.result;
  }
  slot.result = result;
  slot.sealed = null;
  Object.assign(slot.status, { resultDigest: result!.resultDigest, state: 'DONE', measuredMs: measuredMs(run, slot) });
  run.note(`${role} ${replica} revealed by ${host.id}`);
  return true;
}

/** What the slot's host is paid for: the time the workflow measured for its run and its test run, each capped at the timeout. */
function measuredMs(run: JobRun, slot: Slot): number {
  const cap = run.spec.timeoutSeconds * 1000;
  return Math.min(slot.jobMs, cap) + Math.min(slot.testMs, cap);
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

/** Failures that are the job's own (too much output): trying another host would not help. */
function isJobFault(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return false;
  // Hosts are matched only for images they advertise: one that then lacks it (or refuses it) failed, not the job.
  if (cause.type === ZansocErrorType.ImageNotFound) return !imageRefusalIsHostFault(cause);
  return cause.type === ZansocErrorType.OutputTooLarge;
}

/** The host went silent (it stopped heartbeating, or never picked the slot up), or lacked an image it advertised. */
function isHostLost(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof TimeoutFailure || imageRefusalIsHostFault(cause);
}

function imageRefusalIsHostFault(cause: unknown): boolean {
  return cause instanceof ApplicationFailure && (cause.type === ZansocErrorType.ImageNotFound || cause.type === ZansocErrorType.ImageNotAllowed) &&
    patched('image-not-found-is-host-fault');
}
