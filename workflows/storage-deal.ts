import {
  ActivityFailure, ApplicationFailure, CancellationScope, condition, continueAsNew, defineQuery, defineSignal, defineUpdate,
  isCancellation, log, proxyActivities, setHandler, sleep, upsertSearchAttributes, uuid4,
} from '@temporalio/workflow';
import { hexToBytes } from '@noble/hashes/utils';
import type { OrchestratorActivities } from '../activities';
import { chain, readModel } from './presets';
import type { StorageHostActivities } from '../activities/storage-host';
import { ZansocErrorType } from '../domain/errors';
import { hostTaskQueue } from '../domain/execution';
import { operatorOf, rankHosts } from '../domain/matching';
import type { ProveReplicaResult, ReplicaChunk } from '../domain/replica';
import { DEAL_STATE, HOST_IDS } from '../domain/search-attributes';
import {
  challengeIndexes, dealDeposit, dealPeriods, MAX_DEAL_SECONDS, nextFaultState, ratePerHostPeriod, segmentCount, storageHostBond, verifyMerkleProof,
  type DealState, type StorageDealSpec,
} from '../domain/storage';

export interface StorageDealInput {
  dealId: string;
  spec: StorageDealSpec;
  /** Where hosts fetch the client's chunks and put the replicas they serve (the API's staging store). */
  stagingUrl: string;
  /** What a run that continued as new carries over; absent on the first run. */
  carried?: DealCarry;
  /** Periods a run handles before it continues as new (100 unless set, e.g. by a test). */
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

/**
 * One paid term of a deal, as deposited on chain: the first under the deal's own id, each renewal under
 * `<dealId>/term-<n>`. Terms follow each other: a term's periods come right after the previous term's.
 */
export interface DealTerm {
  chainKey: string;
  firstPeriod: number;
  periods: number;
  deposit: string;
  /** Ended on chain: its bonds returned and its unspent deposit refunded. */
  ended: boolean;
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

/** The client may reclaim its deposit on chain this long after the term, even with no orchestrator. */
const DEADLINE_SLACK_S = 7 * 86_400;
/** How long placing the replicas may wait for hosts before the deal fails and is refunded. */
const PLACEMENT_TIMEOUT_MS = 10 * 60_000;
const MATCH_POLL = '2 seconds';
/** Hosts each replica may be tried on while placing or repairing. */
const MAX_PLACEMENT_ATTEMPTS = 3;
/**
 * Chunks and segments a host must produce per proof. Every answer goes into the history (about 2.7 KB a segment with
 * its path): with 3 holders a period adds some 35 KB, so a run of PERIODS_PER_RUN stays under 2 MB.
 */
const CHUNKS_PER_PROOF = 2;
const SEGMENTS_PER_CHUNK = 2;
/** A run continues as new after this many periods, so its history stays small. */
const PERIODS_PER_RUN = 50;

const checks = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [ZansocErrorType.ReplicaCorrupt] },
});

/** Storage work pinned to one host, on its own queue. A host that does not answer soon is at fault. */
function onHost(hostId: string, work: 'store' | 'prove' | 'serve' | 'delete') {
  return proxyActivities<StorageHostActivities>({
    taskQueue: hostTaskQueue(hostId),
    scheduleToStartTimeout: '20 seconds',
    startToCloseTimeout: work === 'store' ? '30 minutes' : '1 minute',
    heartbeatTimeout: work === 'store' ? '30 seconds' : undefined,
    retry: { maximumAttempts: work === 'prove' ? 1 : 2, nonRetryableErrorTypes: [ZansocErrorType.ReplicaMissing] },
  });
}

export async function storageDeal({ dealId, spec, stagingUrl, carried, periodsPerRun = PERIODS_PER_RUN }: StorageDealInput): Promise<DealStatus> {
  const rate = ratePerHostPeriod({ sizeBytes: spec.sizeBytes, pricePerGibMonth: BigInt(spec.pricePerGibMonth), periodSeconds: spec.proofPeriodSeconds });
  const periods = dealPeriods(spec.durationSeconds, spec.proofPeriodSeconds);
  const bond = storageHostBond(rate);
  const status: DealStatus = carried ?? {
    state: 'ESCROW', reason: null, sizeBytes: spec.sizeBytes, replicas: spec.replicas, periodSeconds: spec.proofPeriodSeconds, periods,
    periodsReleased: 0, ratePerHostPeriod: rate.toString(), deposit: dealDeposit({ ratePerHostPeriod: rate, replicas: spec.replicas, periods }).toString(),
    paidToHosts: '0', commission: '0', refunded: '0', slashed: '0', repairs: 0, holders: [], endsAt: null, terms: [], timeline: [],
  };
  // The first term is the deal's own deposit, under its own id (runs from before renewals carry no terms).
  if (status.terms === undefined || status.terms.length === 0) {
    status.terms = [{ chainKey: dealId, firstPeriod: 0, periods: status.periods, deposit: status.deposit, ended: false }];
  }
  /** The term a period is paid from. */
  const termOf = (period: number): DealTerm => status.terms.find((t) => period >= t.firstPeriod && period < t.firstPeriod + t.periods) ?? status.terms.at(-1)!;
  const chunks: ReplicaChunk[] = spec.chunks.map(({ cid, bytes }) => ({ cid, bytes }));
  const active = () => status.holders.filter((h) => h.state === 'ACTIVE');
  const add = (field: 'paidToHosts' | 'commission' | 'refunded' | 'slashed', amount: string) => {
    status[field] = (BigInt(status[field]) + BigInt(amount)).toString();
  };
  setHandler(dealStatusQuery, () => status);

  const note = (step: string) => status.timeline.push({ at: new Date().toISOString(), step });
  let counted = { proofsOk: 0, proofsFailed: 0, repairs: 0 };
  async function record(extra: { finishedAt?: string } = {}) {
    upsertSearchAttributes([{ key: DEAL_STATE, value: status.state }, { key: HOST_IDS, value: active().map((h) => h.hostId) }]);
    await readModel.recordDeal({
      dealId, state: status.state, stateReason: status.reason, hostIds: active().map((h) => h.hostId), periodsReleased: status.periodsReleased,
      periods: status.periods, deposit: status.deposit,
      paidToHosts: status.paidToHosts, commission: status.commission, refunded: status.refunded, slashed: status.slashed,
      ...(status.endsAt ? { endsAt: status.endsAt } : {}), ...extra, counted,
    });
    counted = { proofsOk: 0, proofsFailed: 0, repairs: 0 };
  }
  async function moveTo(state: DealState, reason: string | null) {
    if (state !== status.state || reason !== status.reason) note(`${state}${reason ? `: ${reason}` : ''}`);
    status.state = state;
    status.reason = reason;
    await record();
  }

  let cancelReason: string | null = null;
  const work = new CancellationScope();
  setHandler(cancelDealSignal, ({ reason } = {}) => {
    if (cancelReason !== null || !['ESCROW', 'PLACING', 'ACTIVE'].includes(status.state)) return;
    cancelReason = reason?.trim() ? reason.trim().slice(0, 500) : 'cancelled by the client';
    note(`cancel requested: ${cancelReason}`);
    work.cancel();
  });

  setHandler(retrieveUpdate, async ({ cid }: RetrieveRequest): Promise<RetrieveAnswer> => {
    // Healthiest holders first: fewest faults.
    const holders = [...active()].sort((a, b) => a.consecutiveFaults - b.consecutiveFaults || a.proofsFailed - b.proofsFailed);
    const tried: string[] = [];
    for (const holder of holders) {
      try {
        const served = await onHost(holder.hostId, 'serve').serveReplica({ dealId, cid, stagingUrl });
        return { cid, hostId: holder.hostId, hostAddress: holder.address, sealedSha256: served.sealedSha256 };
      } catch (err) {
        tried.push(`${holder.hostId}: ${failureMessage(err)}`);
      }
    }
    throw ApplicationFailure.create({ type: ZansocErrorType.RetrievalFailed, nonRetryable: true, message: `no holder served ${cid}: ${tried.join('; ') || 'none is active'}` });
  }, {
    validator: ({ cid }: RetrieveRequest) => {
      if (!chunks.some((c) => c.cid === cid)) throw new Error(`cid: deal ${dealId} has no chunk ${cid}`);
      if (status.state !== 'ACTIVE') throw new Error(`deal ${dealId} is ${status.state}: only an ACTIVE deal's chunks can be retrieved`);
    },
  });

  let renewing = 0;
  let closing = false;
  const refuseRenewal = ({ durationSeconds }: RenewRequest) => {
    if (!Number.isInteger(durationSeconds) || durationSeconds < spec.proofPeriodSeconds || durationSeconds > MAX_DEAL_SECONDS) {
      throw new Error(`durationSeconds: must be a whole number of seconds from ${spec.proofPeriodSeconds} (one period) to ${MAX_DEAL_SECONDS}`);
    }
    if (status.state !== 'ACTIVE' || cancelReason !== null || closing) throw new Error(`deal ${dealId} is ${closing ? 'ending' : status.state}: only an ACTIVE deal can be renewed`);
  };
  setHandler(renewUpdate, async ({ durationSeconds }: RenewRequest): Promise<RenewAccepted> => {
    refuseRenewal({ durationSeconds });
    renewing++;
    try {
      const last = status.terms.at(-1)!;
      const periods = dealPeriods(durationSeconds, spec.proofPeriodSeconds);
      const term: DealTerm = {
        chainKey: `${dealId}/term-${status.terms.length + 1}`, firstPeriod: last.firstPeriod + last.periods, periods,
        deposit: dealDeposit({ ratePerHostPeriod: rate, replicas: spec.replicas, periods }).toString(), ended: false,
      };
      const endsAtMs = Date.parse(status.endsAt!) + periods * spec.proofPeriodSeconds * 1000;
      const deadlineSeconds = Math.floor(endsAtMs / 1000) + DEADLINE_SLACK_S;
      try {
        await chain.depositStorageDeal({ dealId: term.chainKey, ratePerHostPeriod: rate.toString(), replicas: spec.replicas, periods, deadlineSeconds });
      } catch (err) {
        throw ApplicationFailure.create({ type: ZansocErrorType.EscrowFailed, nonRetryable: true, message: `renewal refused: ${failureMessage(err)}` });
      }
      status.terms.push(term);
      status.periods += periods;
      status.deposit = (BigInt(status.deposit) + BigInt(term.deposit)).toString();
      status.endsAt = new Date(endsAtMs).toISOString();
      note(`renewed for ${periods} more period(s) until ${status.endsAt}: deposit ${term.deposit}`);
      await record();
      return { periods: status.periods, endsAt: status.endsAt, deposit: term.deposit };
    } finally {
      renewing--;
    }
  }, { validator: refuseRenewal });

  /**
   * Finds a host for one replica, bonds it, has it store and seal every chunk, and checks its roots against the
   * staged data. A host whose roots are wrong loses its bond; one that fails or vanishes loses the attempt.
   */
  async function placeReplica(exclude: string[], excludeOperators: string[], term: DealTerm): Promise<HolderStatus | null> {
    const giveUpAt = Date.now() + PLACEMENT_TIMEOUT_MS;
    for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS;) {
      const hosts = await readModel.listOnlineHosts();
      const diskMiB = Math.max(1, Math.ceil(spec.sizeBytes / (1024 * 1024)));
      const [host] = rankHosts(hosts, { cpu: 0.1, memoryMiB: 16, diskMiB, gpu: 0 }, exclude, excludeOperators);
      if (!host) {
        if (Date.now() >= giveUpAt) return null;
        await sleep(MATCH_POLL);
        continue;
      }
      attempt++;
      exclude.push(host.id);
      excludeOperators.push(operatorOf(host));
      const holder: HolderStatus = {
        hostId: host.id, address: host.address, state: 'STORING', proofsOk: 0, proofsFailed: 0, consecutiveFaults: 0, bond: '0', slashed: '0', roots: {},
      };
      try {
        await chain.bondStorageHost({ dealId: term.chainKey, host: host.address, amount: bond.toString() });
      } catch (err) {
        if (isCancellation(err)) throw err;
        note(`${host.id} could not bond: ${failureMessage(err)}`);
        continue;
      }
      holder.bond = bond.toString();
      status.holders.push(holder);
      note(`${host.id} storing ${chunks.length} chunk(s)`);
      try {
        const [stored, expected] = await Promise.all([
          onHost(host.id, 'store').storeReplica({ dealId, chunks, stagingUrl }),
          checks.expectedReplicaRoots({ dealId, hostAddress: host.address, chunks, stagingUrl }),
        ]);
        const wrong = chunks.filter((c) => stored.roots[c.cid] !== expected[c.cid]);
        if (wrong.length === 0) {
          holder.roots = stored.roots;
          holder.state = 'ACTIVE';
          note(`${host.id} holds a replica (${stored.bytes} bytes sealed)`);
          return holder;
        }
        note(`${host.id} committed wrong roots for ${wrong.length} chunk(s): slashed`);
        await slashHolder(holder, `placement/${host.id}`, term);
      } catch (err) {
        if (isCancellation(err)) throw err;
        note(`${host.id} could not store the replica: ${failureMessage(err)}`);
        await removeHolder(holder, term);
      }
    }
    return null;
  }

  /** Takes a faulty host's whole bond (held in `term`) to the treasury and lets it go. */
  async function slashHolder(holder: HolderStatus, faultKey: string, term: DealTerm) {
    const treasury = await chain.treasuryAddress();
    const taken = await chain.slashStorageHost({ dealId: term.chainKey, faultKey, host: holder.address, amount: holder.bond, recipient: treasury });
    if (!taken.alreadySlashed || holder.slashed === '0') {
      holder.slashed = holder.bond;
      add('slashed', holder.bond);
    }
    await removeHolder(holder, term);
  }

  /** Stops paying a holder: its bond (what is left of it) goes back, its replica is deleted if it still answers. */
  async function removeHolder(holder: HolderStatus, term: DealTerm) {
    holder.state = 'REMOVED';
    // Its roots are never checked again: the status (queried, carried into the next run) stays small.
    holder.roots = {};
    await chain.releaseStorageBond({ dealId: term.chainKey, host: holder.address });
    await onHost(holder.hostId, 'delete').deleteReplica({ dealId }).catch((err) => log.warn('could not delete a replica', { dealId, hostId: holder.hostId, error: failureMessage(err) }));
  }

  /** Checks one holder for one period: random chunks, random segments, each against the root it committed. */
  async function prove(holder: HolderStatus): Promise<boolean> {
    const seed = uuid4().replace(/-/g, '');
    const picked = [...chunks].sort(() => Math.random() - 0.5).slice(0, CHUNKS_PER_PROOF);
    const challenges = picked.map((c, i) => ({ cid: c.cid, indexes: challengeIndexes(`${seed}${i.toString(16).padStart(2, '0')}`, segmentCount(c.bytes), SEGMENTS_PER_CHUNK) }));
    let answer: ProveReplicaResult;
    try {
      answer = await onHost(holder.hostId, 'prove').proveReplica({ dealId, challenges });
    } catch (err) {
      if (isCancellation(err)) throw err;
      note(`${holder.hostId} did not prove: ${failureMessage(err)}`);
      return false;
    }
    if (answer.missing.length) return false;
    return challenges.every(({ cid, indexes }) => {
      const given = answer.proofs.find((p) => p.cid === cid);
      const chunk = chunks.find((c) => c.cid === cid)!;
      return given !== undefined && indexes.every((index) => {
        const segment = given.segments.find((s) => s.index === index);
        return segment !== undefined && /^([0-9a-f]{2})*$/.test(segment.data) && verifyMerkleProof({
          root: holder.roots[cid], index, leafCount: segmentCount(chunk.bytes), segment: hexToBytes(segment.data), proof: segment.proof,
        });
      });
    });
  }

  /** Copies the chunks from a healthy holder's replica back into staging, then places a new replica from there. */
  async function repair(exclude: string[], excludeOperators: string[], term: DealTerm): Promise<boolean> {
    const source = active()[0];
    if (source) {
      for (const { cid } of chunks) {
        const served = await onHost(source.hostId, 'serve').serveReplica({ dealId, cid, stagingUrl });
        await checks.restageFromReplica({ dealId, hostAddress: source.address, cid, sealedSha256: served.sealedSha256, stagingUrl });
      }
    }
    const placed = await placeReplica(exclude, excludeOperators, term);
    if (placed) {
      status.repairs++;
      counted.repairs++;
    }
    return placed !== null;
  }

  /** Ends a term on chain once: its bonds go back to their hosts, its unspent deposit to the client. */
  async function endTerm(term: DealTerm) {
    if (term.ended) return;
    const ended = await chain.endStorageDeal({ dealId: term.chainKey });
    term.ended = true;
    add('refunded', ended.refunded);
  }

  /** A renewed term begins: the holders bond to it, and the term before ends (its bonds back, anything unspent refunded). */
  async function startTerm(term: DealTerm) {
    const previous = termOf(term.firstPeriod - 1);
    for (const holder of active()) await chain.bondStorageHost({ dealId: term.chainKey, host: holder.address, amount: holder.bond });
    await endTerm(previous);
    note(`term ${status.terms.indexOf(term) + 1} began: ${active().length} holder(s) bonded to it`);
  }

  // Hosts of this deal, ever: replicas always go to distinct hosts and operators, and a faulty host never comes back.
  const used = status.holders.map((h) => h.hostId);
  const usedOperators: string[] = [];
  let deposited = carried !== undefined;
  try {
    await work.run(async () => {
      if (!carried) {
        await moveTo('ESCROW', 'locking the deposit');
        const deadlineSeconds = Math.floor(Date.now() / 1000) + spec.durationSeconds + DEADLINE_SLACK_S + PLACEMENT_TIMEOUT_MS / 1000;
        try {
          await chain.depositStorageDeal({ dealId, ratePerHostPeriod: rate.toString(), replicas: spec.replicas, periods, deadlineSeconds });
        } catch (err) {
          if (isCancellation(err)) throw err;
          await moveTo('REJECTED', `deposit refused: ${failureMessage(err)}`);
          return;
        }
        deposited = true;
        note(`deposit locked: ${status.deposit}`);
        await moveTo('PLACING', `placing ${spec.replicas} replica(s)`);
        const placed = await Promise.all(Array.from({ length: spec.replicas }, () => placeReplica(used, usedOperators, status.terms[0])));
        if (placed.some((p) => p === null)) {
          status.reason = `only ${placed.filter(Boolean).length} of ${spec.replicas} replicas could be placed`;
          status.state = 'FAILED';
          return;
        }
        status.endsAt = new Date(Date.now() + periods * spec.proofPeriodSeconds * 1000).toISOString();
        await moveTo('ACTIVE', null);
      }

      for (let run = 0; status.periodsReleased < status.periods || renewing > 0; run++) {
        // A renewal being deposited as the last term ends: its term comes next.
        await condition(() => renewing === 0);
        if (status.periodsReleased >= status.periods) break;
        if (run === periodsPerRun) {
          note(`continuing as new after ${run} period(s)`);
          await continueAsNew<typeof storageDeal>({ dealId, spec, stagingUrl, periodsPerRun, carried: { ...status, timeline: status.timeline.slice(-100) } });
        }
        await sleep(spec.proofPeriodSeconds * 1000);
        const period = status.periodsReleased;
        const term = termOf(period);
        if (period === term.firstPeriod && term.chainKey !== dealId) await startTerm(term);
        const holders = active();
        const proved = await Promise.all(holders.map(prove));
        const faulty: HolderStatus[] = [];
        holders.forEach((holder, i) => {
          const fault = nextFaultState(holder.consecutiveFaults, proved[i]);
          holder.consecutiveFaults = fault.consecutiveFaults;
          if (proved[i]) {
            holder.proofsOk++;
            counted.proofsOk++;
          } else {
            holder.proofsFailed++;
            counted.proofsFailed++;
            note(`period ${period}: ${holder.hostId} failed its proof (${fault.consecutiveFaults} in a row)`);
          }
          if (fault.slashAndRepair) faulty.push(holder);
        });
        const released = await chain.releaseStoragePeriod({
          dealId: term.chainKey, period: period - term.firstPeriod, hosts: holders.filter((_, i) => proved[i]).map((h) => h.address),
        });
        add('paidToHosts', released.paidToHosts);
        add('commission', released.commission);
        status.periodsReleased = period + 1;
        for (const holder of faulty) {
          await slashHolder(holder, `period-${period}/${holder.hostId}`, term);
          note(`${holder.hostId} slashed after repeated faults; repairing its replica`);
          if (!(await repair(used, usedOperators, term))) note('no host could take the repaired replica: the deal runs with fewer');
        }
        await record();
      }
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
  }

  // The end: unspent deposit back to the client, bonds back to the hosts, replicas deleted.
  if (status.state === 'REJECTED' || !deposited) {
    // Nothing was locked: nothing to refund.
    if (status.state !== 'REJECTED') Object.assign(status, { state: 'CANCELLED', reason: cancelReason });
    note(status.state);
    await record({ finishedAt: new Date().toISOString() });
    return status;
  }
  const finalState: DealState = cancelReason !== null ? 'CANCELLED' : status.state === 'FAILED' ? 'FAILED' : 'ENDED';
  const finalReason = cancelReason ?? (finalState === 'FAILED' ? status.reason : `term over after ${status.periodsReleased} period(s)`);
  await CancellationScope.nonCancellable(async () => {
    closing = true;
    await moveTo('ENDING', finalReason);
    await condition(() => renewing === 0);
    // The current term and any renewal not begun yet: their unspent deposits go back.
    for (const term of status.terms) await endTerm(term);
    note(`ended: ${status.paidToHosts} paid to hosts, ${status.commission} commission, ${status.refunded} refunded, ${status.slashed} slashed`);
    for (const holder of status.holders.filter((h) => h.state !== 'REMOVED')) {
      holder.state = 'REMOVED';
      await onHost(holder.hostId, 'delete').deleteReplica({ dealId }).catch((err) => log.warn('could not delete a replica', { dealId, hostId: holder.hostId, error: failureMessage(err) }));
    }
    status.state = finalState;
    status.reason = finalReason;
    note(finalState);
    await record({ finishedAt: new Date().toISOString() });
  });
  return status;
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
