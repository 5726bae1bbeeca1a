import { CancellationScope, condition, continueAsNew, isCancellation, setHandler, sleep } from '@temporalio/workflow';
import { endDeal } from './end';
import { cancelDealSignal, dealStatusQuery, type DealStatus, type StorageDealInput } from './messages';
import { placeReplicas } from './placement';
import { provePeriod } from './proofs';
import { slashAndRepair } from './repair';
import { handleRetrievals } from './retrieval';
import { DealRun } from './state';
import { depositFirstTerm, handleRenewals, startTerm } from './terms';

export * from './messages';

/**
 * A storage deal (workflow id `deal-<dealId>`), step by step as in DESIGN.md's storage deal lifecycle: the deposit
 * for the whole term, r replicas placed on distinct hosts, each holder proving every period, each period paid to
 * those that proved, repeated faults slashed and repaired, renewals taking the deal on, and the end refunding the
 * rest. A long deal continues as new so that its history stays small.
 */
export async function storageDeal(input: StorageDealInput): Promise<DealStatus> {
  const deal = new DealRun(input);
  const { status } = deal;
  setHandler(dealStatusQuery, () => status);
  const work = new CancellationScope();
  setHandler(cancelDealSignal, ({ reason } = {}) => {
    if (deal.requestCancel(reason)) work.cancel();
  });
  handleRetrievals(deal);
  handleRenewals(deal);

  try {
    await work.run(async () => {
      // A run that continued as new carries a deal whose deposit is locked and whose replicas are placed.
      if (!input.carried) {
        if (!(await depositFirstTerm(deal))) return;
        if (!(await placeReplicas(deal))) return;
      }

      for (let run = 0; status.periodsReleased < status.periods || deal.renewing > 0; run++) {
        // A renewal being deposited as the last term ends: its term comes next.
        await condition(() => deal.renewing === 0);
        if (status.periodsReleased >= status.periods) break;
        if (run === deal.periodsPerRun) {
          deal.note(`continuing as new after ${run} period(s)`);
          await continueAsNew<typeof storageDeal>(deal.continuation());
        }
        await sleep(deal.spec.proofPeriodSeconds * 1000);
        const period = status.periodsReleased;
        const term = deal.termOf(period);
        if (period === term.firstPeriod && term.chainKey !== deal.dealId) await startTerm(deal, term);
        // Each holder proves, those that proved are paid, and a holder with repeated faults is replaced.
        const faulty = await provePeriod(deal, term, period);
        for (const holder of faulty) await slashAndRepair(deal, holder, term, period);
        await deal.record();
      }
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
  }
  return endDeal(deal);
}
