import { ApplicationFailure, isCancellation, setHandler } from '@temporalio/workflow';
import { ZansocErrorType } from '../../domain/errors';
import { firstDepositDeadlineSeconds, renewalDeadlineSeconds, renewalDurationError, renewalTerm, type DealTerm } from '../../domain/storage-deal';
import { failureMessage } from '../common';
import { chain } from '../presets';
import { renewUpdate, type RenewAccepted, type RenewRequest } from './messages';
import type { DealRun } from './state';

/** The deal's paid terms: the first deposit, renewals deposited while it runs, and each term's start and end on chain. */

/** Locks the deposit for the whole first term; false when the chain refused it (the deal is then REJECTED). */
export async function depositFirstTerm(deal: DealRun): Promise<boolean> {
  const { dealId, spec, status } = deal;
  await deal.moveTo('ESCROW', 'locking the deposit');
  const deadlineSeconds = firstDepositDeadlineSeconds(Date.now(), spec.durationSeconds);
  try {
    await chain.depositStorageDeal({ dealId, ratePerHostPeriod: deal.rate.toString(), replicas: spec.replicas, periods: status.periods, deadlineSeconds });
  } catch (err) {
    if (isCancellation(err)) throw err;
    await deal.moveTo('REJECTED', `deposit refused: ${failureMessage(err)}`);
    return false;
  }
  deal.deposited = true;
  deal.note(`deposit locked: ${status.deposit}`);
  return true;
}

/** Takes renewals of an ACTIVE deal: each deposits a new term on chain now, which follows the last one. */
export function handleRenewals(deal: DealRun): void {
  const { dealId, spec, status } = deal;
  const refuseRenewal = ({ durationSeconds }: RenewRequest) => {
    const durationError = renewalDurationError(durationSeconds, spec.proofPeriodSeconds);
    if (durationError) throw new Error(`durationSeconds: ${durationError}`);
    if (status.state !== 'ACTIVE' || deal.cancelReason !== null || deal.closing) throw new Error(`deal ${dealId} is ${deal.closing ? 'ending' : status.state}: only an ACTIVE deal can be renewed`);
  };
  setHandler(renewUpdate, async ({ durationSeconds }: RenewRequest): Promise<RenewAccepted> => {
    refuseRenewal({ durationSeconds });
    deal.renewing++;
    try {
      const term = renewalTerm({ dealId, terms: status.terms, durationSeconds, periodSeconds: spec.proofPeriodSeconds, ratePerHostPeriod: deal.rate, replicas: spec.replicas });
      const endsAtMs = Date.parse(status.endsAt!) + term.periods * spec.proofPeriodSeconds * 1000;
      try {
        await chain.depositStorageDeal({
          dealId: term.chainKey, ratePerHostPeriod: deal.rate.toString(), replicas: spec.replicas, periods: term.periods, deadlineSeconds: renewalDeadlineSeconds(endsAtMs),
        });
      } catch (err) {
        throw ApplicationFailure.create({ type: ZansocErrorType.EscrowFailed, nonRetryable: true, message: `renewal refused: ${failureMessage(err)}` });
      }
      status.terms.push(term);
      status.periods += term.periods;
      status.deposit = (BigInt(status.deposit) + BigInt(term.deposit)).toString();
      status.endsAt = new Date(endsAtMs).toISOString();
      deal.note(`renewed for ${term.periods} more period(s) until ${status.endsAt}: deposit ${term.deposit}`);
      await deal.record();
      return { periods: status.periods, endsAt: status.endsAt, deposit: term.deposit };
    } finally {
      deal.renewing--;
    }
  }, { validator: refuseRenewal });
}

/** A renewed term begins: the holders bond to it, and the term before ends (its bonds back, anything unspent refunded). */
export async function startTerm(deal: DealRun, term: DealTerm): Promise<void> {
  const previous = deal.termOf(term.firstPeriod - 1);
  for (const holder of deal.active()) await chain.bondStorageHost({ dealId: term.chainKey, host: holder.address, amount: holder.bond });
  await endTerm(deal, previous);
  deal.note(`term ${deal.status.terms.indexOf(term) + 1} began: ${deal.active().length} holder(s) bonded to it`);
}

/** Ends a term on chain once: its bonds go back to their hosts, its unspent deposit to the client. */
export async function endTerm(deal: DealRun, term: DealTerm): Promise<void> {
  if (term.ended) return;
  const ended = await chain.endStorageDeal({ dealId: term.chainKey });
  term.ended = true;
  deal.add('refunded', ended.refunded);
}
