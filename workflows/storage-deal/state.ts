import { upsertSearchAttributes } from '@temporalio/workflow';
import { watchCapacity, type CapacityWatch } from '../common';
import type { ReplicaChunk } from '../../domain/replica';
import { DEAL_STATE, HOST_IDS } from '../../domain/search-attributes';
import { dealDeposit, dealPeriods, ratePerHostPeriod, storageHostBond, type DealState, type StorageDealSpec } from '../../domain/storage';
import { cancelReasonOf, firstTerm, termOfPeriod } from '../../domain/storage-deal';
import { readModel } from '../presets';
import type { SignedDealOrder } from '../../domain/orders';
import type { DealStatus, DealTerm, HolderStatus, StorageDealInput } from './messages';

/** A run continues as new after this many periods, so its history stays small. */
const PERIODS_PER_RUN = 50;

/**
 * One run of a deal: its status (what queries see and the next run carries), what the client asked for, and what
 * the phases share while this run lasts.
 */
export class DealRun {
  readonly dealId: string;
  readonly spec: StorageDealSpec;
  /** The first term's signed order; its client pays every term and names each term's escrow with its key. */
  readonly payment: SignedDealOrder;
  readonly client: string;
  readonly stagingUrl: string;
  /** Wake-ups from the API while a replica waits for a host. */
  readonly capacity: CapacityWatch;
  readonly periodsPerRun: number;
  /** What a holder earns per proved period, and what it bonds to hold its replica. */
  readonly rate: bigint;
  readonly bond: bigint;
  readonly status: DealStatus;
  readonly chunks: ReplicaChunk[];
  /** Hosts of this deal, ever: replicas always go to distinct hosts and operators, and a faulty host never comes back. */
  readonly used: string[];
  readonly usedOperators: string[] = [];
  /** Whether the first deposit is locked on chain: only then is anything refunded at the end. */
  deposited: boolean;
  cancelReason: string | null = null;
  /** Renewals being deposited now: the deal neither ends nor moves to the next term meanwhile. */
  renewing = 0;
  /** Set once the deal is ending: no renewal is taken any more. */
  closing = false;
  /** Proofs and repairs since the last write to the read model, which adds them to the hosts' counters. */
  private counted = { proofsOk: 0, proofsFailed: 0, repairs: 0 };

  constructor({ dealId, spec, payment, stagingUrl, carried, periodsPerRun = PERIODS_PER_RUN }: StorageDealInput) {
    this.capacity = watchCapacity();
    this.dealId = dealId;
    this.spec = spec;
    this.payment = payment;
    // Runs from before clients signed their orders had a custodial payer, which no escrow names any more.
    this.client = payment?.order.client ?? '';
    this.stagingUrl = stagingUrl;
    this.periodsPerRun = periodsPerRun;
    this.rate = ratePerHostPeriod({ sizeBytes: spec.sizeBytes, pricePerGibMonth: BigInt(spec.pricePerGibMonth), periodSeconds: spec.proofPeriodSeconds });
    this.bond = storageHostBond(this.rate);
    const periods = dealPeriods(spec.durationSeconds, spec.proofPeriodSeconds);
    this.status = carried ?? {
      state: 'ESCROW', reason: null, sizeBytes: spec.sizeBytes, replicas: spec.replicas, periodSeconds: spec.proofPeriodSeconds, periods,
      periodsReleased: 0, ratePerHostPeriod: this.rate.toString(), deposit: dealDeposit({ ratePerHostPeriod: this.rate, replicas: spec.replicas, periods }).toString(),
      paidToHosts: '0', commission: '0', refunded: '0', slashed: '0', repairs: 0, holders: [], endsAt: null, terms: [], timeline: [],
    };
    // Runs from before renewals carry no terms: their one term is the deal's own deposit.
    if (this.status.terms === undefined || this.status.terms.length === 0) this.status.terms = [firstTerm(dealId, this.status.periods, this.status.deposit)];
    this.chunks = spec.chunks.map(({ cid, bytes }) => ({ cid, bytes }));
    this.used = this.status.holders.map((h) => h.hostId);
    this.deposited = carried !== undefined;
  }

  active(): HolderStatus[] {
    return this.status.holders.filter((h) => h.state === 'ACTIVE');
  }

  termOf(period: number): DealTerm {
    return termOfPeriod(this.status.terms, period);
  }

  add(field: 'paidToHosts' | 'commission' | 'refunded' | 'slashed', amount: string): void {
    this.status[field] = (BigInt(this.status[field]) + BigInt(amount)).toString();
  }

  note(step: string): void {
    this.status.timeline.push({ at: new Date().toISOString(), step });
  }

  countProof(proved: boolean): void {
    if (proved) this.counted.proofsOk++;
    else this.counted.proofsFailed++;
  }

  countRepair(): void {
    this.status.repairs++;
    this.counted.repairs++;
  }

  /** Writes the status to the search attributes and the read model. */
  async record(extra: { finishedAt?: string } = {}): Promise<void> {
    const { status } = this;
    upsertSearchAttributes([{ key: DEAL_STATE, value: status.state }, { key: HOST_IDS, value: this.active().map((h) => h.hostId) }]);
    await readModel.recordDeal({
      dealId: this.dealId, state: status.state, stateReason: status.reason, hostIds: this.active().map((h) => h.hostId), periodsReleased: status.periodsReleased,
      periods: status.periods, deposit: status.deposit,
      paidToHosts: status.paidToHosts, commission: status.commission, refunded: status.refunded, slashed: status.slashed,
      ...(status.endsAt ? { endsAt: status.endsAt } : {}), ...extra, counted: this.counted,
    });
    this.counted = { proofsOk: 0, proofsFailed: 0, repairs: 0 };
  }

  async moveTo(state: DealState, reason: string | null): Promise<void> {
    if (state !== this.status.state || reason !== this.status.reason) this.note(`${state}${reason ? `: ${reason}` : ''}`);
    this.status.state = state;
    this.status.reason = reason;
    await this.record();
  }

  /** Takes the client's cancel while the deal still runs; false when it is ending already or was cancelled before. */
  requestCancel(reason: string | undefined): boolean {
    if (this.cancelReason !== null || !['ESCROW', 'PLACING', 'ACTIVE'].includes(this.status.state)) return false;
    this.cancelReason = cancelReasonOf(reason);
    this.note(`cancel requested: ${this.cancelReason}`);
    return true;
  }

  /** The next run's input: this deal, its status carried (with the latest of its timeline). */
  continuation(): StorageDealInput {
    const { dealId, spec, payment, stagingUrl, periodsPerRun, status } = this;
    return { dealId, spec, payment, stagingUrl, periodsPerRun, carried: { ...status, timeline: status.timeline.slice(-100) } };
  }
}
