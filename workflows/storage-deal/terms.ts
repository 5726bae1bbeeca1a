import { ApplicationFailure, isCancellation, setHandler } from '@temporalio/workflow';
import { ZansocErrorType } from '../../domain/errors';
import type { SignedDealOrder } from '../../domain/orders';
import { dealPeriods } from '../../domain/storage';
import { renewalDurationError, renewalTerm, type DealTerm } from '../../domain/storage-deal';
import { consentOf, failureMessage } from '../common';
import { chain } from '../presets';
import { renewUpdate, type RenewAccepted, type RenewRequest } from './messages';
import type { DealRun } from './state';

/** The deal's paid terms: the first deposit, renewals deposited while it runs, and each term's start and end on chain. */

/**
 * Why a term's signed order does not pay for what the deal is (null: it does): its client's, the deal's rate, every
 * replica, the term's periods. The chain checks the signature, and that the order names the term's key.
 */
function termOrderError(deal: DealRun, payment: SignedDealOrder | undefined, periods: number): string | null {
  const order = payment?.order;
  if (!order) return 'payment: the client\'s signed order for this term is missing';
  if (deal.client && order.client.toLowerCase() !== deal.client.toLowerCase()) return `payment.order.client: ${order.client} is not the deal's client ${deal.client}`;
  if (order.ratePerHostPeriod !== deal.rate.toString()) return `payment.order.ratePerHostPeriod: ${order.ratePerHostPeriod} is not the deal's rate ${deal.rate}`;
  if (order.replicas !== deal.spec.replicas) return `payment.order.replicas: ${order.replicas} is not the deal's ${deal.spec.replicas} replicas`;
  if (order.periods !== periods) return `payment.order.periods: ${order.periods} is not the term's ${periods} periods`;
  return null;
}

/** Locks the deposit for the whole first term; false when the chain refused it (the deal is then REJECTED). */
export async function depositFirstTerm(deal: DealRun): Promise<boolean> {
  const { dealId, status } = deal;
  await deal.moveTo('ESCROW', 'locking the deposit');
  try {
    // Runs from before clients signed their orders have none to check.
    const orderError = deal.payment ? termOrderError(deal, deal.payment, status.periods) : null;
    if (orderError) throw new Error(orderError);
    await chain.depositStorageDeal({ dealId, payment: deal.payment });
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
  const refuseRenewal = ({ durationSeconds, payment }: RenewRequest) => {
    const durationError = renewalDurationError(durationSeconds, spec.proofPeriodSeconds);
    if (durationError) throw new Error(`durationSeconds: ${durationError}`);
    if (status.state !== 'ACTIVE' || deal.cancelReason !== null || deal.closing) throw new Error(`deal ${dealId} is ${deal.closing ? 'ending' : status.state}: only an ACTIVE deal can be renewed`);
    // Runs from before clients signed their orders renewed without one.
    const orderError = deal.payment ? termOrderError(deal, payment, dealPeriods(durationSeconds, spec.proofPeriodSeconds)) : null;
    if (orderError) throw new Error(orderError);
  };
  setHandler(renewUpdate, async ({ durationSeconds, payment }: RenewRequest): Promise<RenewAccepted> => {
    refuseRenewal({ durationSeconds, payment });
    deal.renewing++;
    try {
      const term = renewalTerm({ dealId, terms: status.terms, durationSeconds, periodSeconds: spec.proofPeriodSeconds, ratePerHostPeriod: deal.rate, replicas: spec.replicas });
      const endsAtMs = Date.parse(status.endsAt!) + term.periods * spec.proofPeriodSeconds * 1000;
      try {
        await chain.depositStorageDeal({ dealId: term.chainKey, payment });
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
  for (const holder of deal.active()) {
    const consent = await consentOf(holder.hostId, { escrow: 'storage', client: deal.client, id: term.chainKey, amount: holder.bond });
    await chain.bondStorageHost({ dealId: term.chainKey, client: deal.client, host: holder.address, amount: holder.bond, consent });
  }
  await endTerm(deal, previous);
  deal.note(`term ${deal.status.terms.indexOf(term) + 1} began: ${deal.active().length} holder(s) bonded to it`);
}

/** Ends a term on chain once: its bonds go back to their hosts, its unspent deposit to the client. */
export async function endTerm(deal: DealRun, term: DealTerm): Promise<void> {
  if (term.ended) return;
  const ended = await chain.endStorageDeal({ dealId: term.chainKey, client: deal.client });
  term.ended = true;
  deal.add('refunded', ended.refunded);
}
