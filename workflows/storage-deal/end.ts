import { CancellationScope, condition } from '@temporalio/workflow';
import { dealOutcome } from '../../domain/storage-deal';
import type { DealStatus } from './messages';
import { deleteReplica } from './placement';
import type { DealRun } from './state';
import { endTerm } from './terms';

/**
 * The end, however the deal got there: the unspent deposit back to the client, bonds back to the hosts, replicas
 * deleted. It runs whatever is cancelled, so that a cancel settles for the periods proved.
 */
export async function endDeal(deal: DealRun): Promise<DealStatus> {
  const { status } = deal;
  if (status.state === 'REJECTED' || !deal.deposited) {
    // Nothing was locked: nothing to refund.
    if (status.state !== 'REJECTED') Object.assign(status, { state: 'CANCELLED', reason: deal.cancelReason });
    deal.note(status.state);
    await deal.record({ finishedAt: new Date().toISOString() });
    return status;
  }
  const outcome = dealOutcome({ cancelReason: deal.cancelReason, state: status.state, reason: status.reason, periodsReleased: status.periodsReleased });
  await CancellationScope.nonCancellable(async () => {
    deal.closing = true;
    await deal.moveTo('ENDING', outcome.reason);
    await condition(() => deal.renewing === 0);
    // The current term and any renewal not begun yet: their unspent deposits go back.
    for (const term of status.terms) await endTerm(deal, term);
    deal.note(`ended: ${status.paidToHosts} paid to hosts, ${status.commission} commission, ${status.refunded} refunded, ${status.slashed} slashed`);
    for (const holder of status.holders.filter((h) => h.state !== 'REMOVED')) {
      holder.state = 'REMOVED';
      await deleteReplica(deal, holder);
    }
    status.state = outcome.state;
    status.reason = outcome.reason;
    deal.note(outcome.state);
    await deal.record({ finishedAt: new Date().toISOString() });
  });
  return status;
}
