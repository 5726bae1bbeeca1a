import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DealTerm } from '../../domain/storage-deal';
import type { DealState, StorageDealSpec } from '../../domain/storage';
import type { SignedDealOrder } from '../../domain/orders';

/** What the storage deal workflow takes, answers and is told: its input, status, signals, queries and updates. */

export type { DealTerm } from '../../domain/storage-deal';

export interface StorageDealInput {
  dealId: string;
  spec: StorageDealSpec;
  /** The client's signed order and permit for the first term: the deposit comes from the client's own wallet. */
  payment: SignedDealOrder;
  /** Where hosts fetch the client's chunks and put the replicas they serve (the API's staging store). */
  stagingUrl: string;
  /** What a run that continued as new carries over; absent on the first run. */
  carried?: DealCarry;
  /** Periods a run handles before it continues as new (50 unless set, e.g. by a test). */
  periodsPerRun?: number;
}

export interface HolderStatus {
  hostId: string;
  address: string;
  /** STORING while it fetches and seals; ACTIVE while it proves; REMOVED after repeated faults (or at the end). */
  state: 'STORING' | 'ACTIVE' | 'REMOVED';
  proofsOk: number;
  proofsFailed: number;
  consecutiveFaults: number;
  bond: string;
  slashed: string;
  /** Per chunk CID: the Merkle root of this host's sealed replica, checked against the staged data. */
  roots: Record<string, string>;
}

export interface DealStatus {
  state: DealState;
  reason: string | null;
  sizeBytes: number;
  replicas: number;
  periodSeconds: number;
  periods: number;
  periodsReleased: number;
  ratePerHostPeriod: string;
  deposit: string;
  paidToHosts: string;
  commission: string;
  refunded: string;
  slashed: string;
  repairs: number;
  holders: HolderStatus[];
  /** When the last term ends (ISO), once the replicas are placed. */
  endsAt: string | null;
  /** The deposits: the first term and each renewal. */
  terms: DealTerm[];
  timeline: { at: string; step: string }[];
}

/** What a run hands to the next when it continues as new: everything the status holds. */
export type DealCarry = DealStatus;

export interface RenewRequest {
  /** How much longer to keep the data, after the current end; paid now, in whole periods. */
  durationSeconds: number;
  /** The client's signed order for the new term (`<dealId>/term-<n>`) and its permit. */
  payment: SignedDealOrder;
}

export interface RenewAccepted {
  periods: number;
  endsAt: string;
  /** What this renewal deposited. */
  deposit: string;
}

export interface RetrieveRequest {
  cid: string;
}

export interface RetrieveAnswer {
  cid: string;
  hostId: string;
  /** The holder's address: with the deal id and the CID it unseals the replica. */
  hostAddress: string;
  /** The sealed replica, put in staging by its holder. */
  sealedSha256: string;
}

export const dealStatusQuery = defineQuery<DealStatus>('dealStatus');
/** Ends the deal before its term: hosts are paid for the periods they proved, the rest goes back to the client. */
export const cancelDealSignal = defineSignal<[{ reason?: string }]>('cancelDeal');
/** Keeps the data longer: a new term is deposited on chain now and follows the current one, same holders. */
export const renewUpdate = defineUpdate<RenewAccepted, [RenewRequest]>('renew');
/** Retrieval: a holder of the chunk puts its replica in staging for the client. */
export const retrieveUpdate = defineUpdate<RetrieveAnswer, [RetrieveRequest]>('retrieve');
