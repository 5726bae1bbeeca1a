import { secp256k1 } from '@noble/curves/secp256k1';
import { isCancellation, uuid4 } from '@temporalio/workflow';
import type { SlotExecution, SlotResult } from '../../domain/execution';
import type { HostCandidate } from '../../domain/matching';
import { commitmentFault, revealFault } from '../../domain/sealed-result';
import { failureMessage } from '../common';
import type { JobRun } from './run-state';
import { loseSlot, measuredMs, revealOn, slotOn, type Slot } from './slot-state';

/*
 * Sealed results: a slot's host first commits to its result (a signed keccak of digest, address and salt), and
 * reveals it only once every slot of its round has committed, so no host can see or copy another's digest.
 */

// Temporal's sandbox evaluates a run's modules afresh, so the curve's base-point table is built again for the first
// signature each run checks: with the library's 8-bit window that took ~20 ms of a job's workflow task (measured in
// plain Node: 18-26 ms for the first recovery, 2-4 ms after), with a 2-bit window ~3 ms. It changes no result.
secp256k1.ProjectivePoint.BASE._setWindowSize(2);

/**
 * Runs the job and, when the client gave test inputs, one test beside it on the slot's host, in an order the host
 * cannot predict and under ids it cannot tell apart; each answers a signed commitment, checked against the host's
 * key, and the time each took as the workflow measured it. Why the host forged a commitment, or null.
 */
export async function commitOnHost(run: JobRun, slot: Slot, host: HostCandidate, execution: SlotExecution, pick: number): Promise<string | null> {
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
export async function revealSlot(run: JobRun, slot: Slot): Promise<boolean> {
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
