import { CancellationScope, isCancellation, setHandler, sleep } from '@temporalio/workflow';
import { escrowFor, extraReplicasFor } from '../../domain/job-spec';
import type { Verdict } from '../../domain/verification';
import { failureMessage } from '../common';
import { chain } from '../presets';
import { arbitrate, type Dispute } from './arbitration';
import { acceptChallenges } from './challenges';
import { cancelSignal, jobStatusQuery, type ComputeJobInput, type JobStatus } from './messages';
import { JobRun } from './run-state';
import { settle } from './settlement';
import { runRound } from './slots';
import { describeVotes, judge, resultFields, winnersOf } from './votes';

export * from './messages';

/**
 * One compute job, as DESIGN.md tells it: escrow → match → execute → verify → challenge window → arbitrate → settle →
 * reputation. A cancel (the client's signal, or Temporal's own) stops the work; settling always runs to the end.
 */
export async function computeJob(input: ComputeJobInput): Promise<JobStatus> {
  const run = new JobRun(input);
  const { jobId, spec, status } = run;
  setHandler(jobStatusQuery, () => run.visibleStatus());
  setHandler(cancelSignal, (request) => run.requestCancel(request));
  acceptChallenges(run);

  // 1. Escrow: no escrow, no work.
  const escrowed = await CancellationScope.nonCancellable(async () => {
    await run.moveTo('QUEUED', 'locking escrow');
    // The API checked that the order locks what the spec can cost, until after the job may still settle.
    const escrow = escrowFor(spec);
    try {
      await chain.lockEscrow({ jobId, payment: run.payment });
    } catch (err) {
      await run.moveTo('REJECTED', `escrow refused: ${failureMessage(err)}`, { finishedAt: new Date().toISOString() });
      return false;
    }
    status.escrowed = escrow;
    run.note(`escrow locked: ${escrow} from ${run.client}`);
    return true;
  });
  if (!escrowed) return status;

  // 2–6. Match, execute and verify every replica, spot-check, hold the challenge window: all of it cancellable.
  let verdict: Verdict = judge(run.replicas());
  // Single-replica jobs are spot-checked at the configured rate (workflow randomness: the same on replay).
  const spotChecked = spec.replicas === 1 && run.spotCheckFraction > 0 && Math.random() < run.spotCheckFraction;
  let spotCheckDisagreed = false;
  try {
    // A cancel that came while the escrow was being locked skips the work altogether.
    if (run.cancelReason === null) await run.work.run(async () => {
      await runRound(run, 'replica', spec.replicas);
      verdict = judge(run.replicas());
      // No strict majority: one more replica on a fresh host at a time, up to the cap the escrow covers.
      while (verdict.kind === 'no-majority' && run.replicas().length < spec.replicas + extraReplicasFor(spec.replicas)) {
        await runRound(run, 'replica', 1);
        verdict = judge(run.replicas());
      }
      if (verdict.kind !== 'majority') return;
      if (spotChecked) {
        const [check] = await runRound(run, 'verifier', 1);
        if (check.result && check.host && check.result.resultDigest !== verdict.digest) {
          spotCheckDisagreed = true;
          run.accusers.set(check.host.id, check.host.address);
          run.note(`spot check by ${check.host.id} disagrees: arbiters will decide`);
        }
      }
      if (spec.challengeWindowSeconds === 0) return;

      // The result is PROVISIONAL while verifiers may challenge it.
      const provisional = winnersOf(run.replicas(), verdict.digest)[0];
      run.windowEndsAtMs = Date.now() + spec.challengeWindowSeconds * 1000;
      status.challengeWindowEndsAt = new Date(run.windowEndsAtMs).toISOString();
      status.result = provisional.result;
      status.hostId = provisional.host!.id;
      await run.moveTo('PROVISIONAL', `open to challenge until ${status.challengeWindowEndsAt}`, resultFields(provisional));
      await sleep(run.windowEndsAtMs - Date.now());
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    run.cancelledThroughTemporal();
    // Slots cut short by the cancel stop here; their hosts are paid for the time they ran.
    for (const slot of run.slots) if (slot.status.state === 'RUNNING' || slot.status.state === 'QUEUED') slot.status.state = 'CANCELLED';
  }
  run.windowClosed = true;

  // 7–8. Arbitrate, settle, record reputation and the final state: never cut short, whoever cancels.
  return CancellationScope.nonCancellable(async () => {
    // Challenges and a failed spot check are decided by fresh arbiters, unless the client cancelled the work.
    let dispute: Dispute | null = null;
    if (verdict.kind === 'majority' && (status.state === 'PROVISIONAL' || (run.cancelReason === null && spotCheckDisagreed))) {
      dispute = await arbitrate(run, verdict.digest, spotCheckDisagreed);
    }
    const cancelledWork = run.cancelReason !== null && status.state !== 'PROVISIONAL';
    const outcome = await settle(run, verdict.kind === 'majority' ? verdict.digest : null, dispute, cancelledWork);
    const money = { paidToHosts: status.paidToHosts, commission: status.commission, refunded: status.refunded, finishedAt: new Date().toISOString() };

    if (cancelledWork) {
      await run.moveTo('CANCELLED', run.cancelReason, money);
      return status;
    }
    if (!outcome) {
      const all = run.replicas();
      const only = all.length === 1 ? all[0].error : null;
      await run.moveTo('FAILED', only ?? `no strict majority among ${all.length} replicas: ${describeVotes(all)}`, money);
      return status;
    }
    const result = outcome.result!;
    status.result = result;
    status.hostId = outcome.host!.id;
    const reason = spec.expectedDigest && result.resultDigest !== spec.expectedDigest
      ? `result digest ${result.resultDigest} is not the expectedDigest ${spec.expectedDigest}`
      : result.timedOut ? `killed after the ${spec.timeoutSeconds}s timeout`
      : result.oomKilled ? `killed: out of memory (limit ${spec.resources.memoryMiB} MiB)`
      : result.exitCode !== 0 ? `exited with code ${result.exitCode}` : null;
    await run.moveTo(reason ? 'FAILED' : 'SUCCEEDED', reason, { ...money, ...resultFields(outcome) });
    return status;
  });
}
