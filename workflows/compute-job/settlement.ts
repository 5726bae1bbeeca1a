import { patched } from '@temporalio/workflow';
import { jobReputation, planJobSettlement, type JobSettlementInput } from '../../domain/job-settlement';
import { escrowFor } from '../../domain/job-spec';
import { chain, readModel } from '../presets';
import type { Dispute } from './arbitration';
import type { JobRun } from './run-state';
import type { Slot } from './slot-state';
import { resultFields, settledSlot } from './votes';

/** Slashes name the treasury by this placeholder; its address is read only when a settlement slashes. */
const TREASURY = 'treasury';

/**
 * Pays and slashes as `planJobSettlement` decides, in one idempotent settlement on chain, then records what the job
 * did for or to each host. Returns the slot whose result the job ends with.
 */
export async function settle(run: JobRun, verdictDigest: string | null, dispute: Dispute | null, cancelledWork: boolean): Promise<Slot | null> {
  const { jobId, spec, status } = run;
  const planNow = () => {
    const now = Date.now();
    const input: JobSettlementInput = {
      slots: run.slots.map((s) => settledSlot(run, s, now)), resources: spec.resources, maxPrice: spec.maxPrice, escrow: escrowFor(spec),
      verdictDigest, dispute: dispute && { upheld: dispute.upheld, arbiters: dispute.arbiters.map((s) => run.slots.indexOf(s)) },
      accusers: [...run.accusers], cancelledWork, treasury: TREASURY,
    };
    return { input, plan: planJobSettlement(input) };
  };
  let input: JobSettlementInput;
  let plan: ReturnType<typeof planJobSettlement>;
  if (patched('result-readable-while-settling')) {
    // The verdict is in: the client reads the result and its logs while the money moves on chain.
    ({ input, plan } = planNow());
    const outcome = plan.outcome === null || cancelledWork ? null : run.slots[plan.outcome];
    if (outcome) Object.assign(status, { result: outcome.result, hostId: outcome.host!.id });
    await run.moveTo('SETTLING', outcome ? 'the result is ready; paying on chain' : null, outcome ? resultFields(outcome) : {});
  } else {
    await run.moveTo('SETTLING', null);
    ({ input, plan } = planNow());
  }
  run.slots.forEach((slot, i) => Object.assign(slot.status, { payout: plan.slotPayout[i], slashed: plan.slotSlashed[i] }));
  const { payouts, slashes } = plan;
  if (slashes.length) {
    const address = await chain.treasuryAddress();
    for (const s of slashes) if (s.recipient === TREASURY) s.recipient = address;
  }
  const settlement = await chain.settleJob(slashes.length ? { jobId, client: run.client, payouts, slashes } : { jobId, client: run.client, payouts });
  Object.assign(status, {
    paidToHosts: settlement.paidToHosts, commission: settlement.commission, refunded: settlement.refunded,
    slashed: slashes.reduce((s, t) => s + BigInt(t.amount), 0n).toString(),
  });
  if (settlement.reclaimed) {
    // The orchestrator was away past the escrow's deadline and grace: the client took its money back, nobody was paid.
    Object.assign(status, { paidToHosts: '0', commission: '0', slashed: '0' });
    run.slots.forEach((slot) => Object.assign(slot.status, { payout: '0', slashed: '0' }));
    run.note(`not settled: the client reclaimed the whole escrow (${settlement.refunded}) after its deadline`);
  } else {
    run.note(`settled: ${settlement.paidToHosts} to hosts, ${settlement.commission} commission, ${settlement.refunded} refunded, ${status.slashed} slashed`);
  }

  // Reputation: what this job did for or to each host, for the next match.
  if (patched('reputation')) {
    const entries = jobReputation(input, plan);
    const decided = dispute?.upheld === null ? 'unresolved' : dispute?.upheld ? 'upheld' : dispute ? 'rejected' : undefined;
    await readModel.recordReputation(decided ? { jobId, entries, dispute: decided } : { jobId, entries });
  }
  return plan.outcome === null ? null : run.slots[plan.outcome];
}
