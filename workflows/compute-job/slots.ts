import { ActivityFailure, ApplicationFailure, isCancellation, log, patched, TimeoutFailure, uuid4 } from '@temporalio/workflow';
import { ZansocErrorType } from '../../domain/errors';
import type { SlotExecution, SlotResult } from '../../domain/execution';
import { MAX_SLOT_ATTEMPTS } from '../../domain/job-limits';
import type { HostCandidate } from '../../domain/matching';
import { hostBondFor } from '../../domain/money';
import { consentOf, failureMessage, waitForHost } from '../common';
import { chain } from '../presets';
import type { ReplicaStatus } from './messages';
import type { JobRun } from './run-state';
import { commitOnHost, revealSlot } from './sealing';
import { loseSlot, slotOn, type Slot } from './slot-state';

export type { Slot } from './slot-state';

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
    jobMs: 0, forged: [], sealed: null, attempts: 0, busy: 0,
  };
  run.slots.push(slot);
  run.status.replicas.push(slot.status);
  await fillSlot(run, slot);
  return slot;
}

/**
 * Matches hosts to the slot until one gives a result (or, sealed, a commitment), or the attempts run out. A host that
 * was full when the slot reached it uses up no attempt: it is passed over for the job like any host tried, so the
 * slot meets each host at most once.
 */
async function fillSlot(run: JobRun, slot: Slot): Promise<void> {
  const { jobId, spec, status } = run;
  const { replica, role } = slot.status;
  while (slot.attempts - slot.busy < MAX_SLOT_ATTEMPTS) {
    const host = await waitForHost({
      resources: spec.resources, giveUpAtMs: Date.now() + spec.queueTimeoutSeconds * 1000, exclude: run.used, excludeOperators: run.usedOperators,
      image: spec.image, capacity: run.capacity,
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
      // Matched on a view of its room a moment old, and full by the time the slot came: nothing ran there. Runs from
      // before counted it as an attempt (a job failed under load when three hosts were full in turn).
      if (isHostBusy(err) && patched('host-busy-uses-no-attempt')) slot.busy += 1;
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

/** Failures that are the job's own (too much output): trying another host would not help. */
function isJobFault(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return false;
  // Hosts are matched only for images they advertise: one that then lacks it (or refuses it) failed, not the job.
  if (cause.type === ZansocErrorType.ImageNotFound) return !imageRefusalIsHostFault(cause);
  return cause.type === ZansocErrorType.OutputTooLarge;
}

/** The host had no room for the slot when it came (HostBusy, once its retry had no room either). */
function isHostBusy(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.type === ZansocErrorType.HostBusy;
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
