import type { Log } from 'ethers';
import { DealStatus } from '../../contracts/bindings';
import { chainDealId, dealEscrowId, dealOrderAmount, type SignedBondConsent, type SignedDealOrder } from '../../domain/orders';
import type { ChainClient } from './client';
import { chainFaultId } from './ids';
import { decimal, escrowFailed, eventIn, invalid, parseAddress, parseAmount, parseDeadline, sendOnce } from './common';
import { bondFreeStake, type BondResult } from './host-registry';
import { requireFunds } from './token';

/** Every step of a deal term names it by the term's key (the deal's id, or `<dealId>/term-<n>`) and its client. */
interface DealTermRef {
  dealId: string;
  client: string;
}

export interface DepositStorageDealInput {
  /** The term's key. */
  dealId: string;
  /** The client's order for this term (rate, replicas, periods, deadline) and its permit, signed by the client. */
  payment: SignedDealOrder;
}

export interface DepositStorageDealResult {
  /** The deposit transaction, or null when the deal was already deposited. */
  txHash: string | null;
  alreadyDeposited: boolean;
}

export interface BondStorageHostInput extends DealTermRef {
  host: string;
  amount: string;
  /** The host's signature of its consent to this bond (BondConsent); null: none. */
  consent: SignedBondConsent | null;
}

export interface ReleaseStoragePeriodInput extends DealTermRef {
  /** The next period of the deal, counting from 0. */
  period: number;
  /** The hosts that proved this period, in any order. */
  hosts: string[];
}

export interface ReleaseStoragePeriodResult {
  /** The releasePeriod transaction; for a period released before, the one that released it if it is found. */
  txHash: string | null;
  alreadyReleased: boolean;
  /** Net of commission. */
  paidToHosts: string;
  commission: string;
}

export interface SlashStorageHostInput extends DealTermRef {
  /** Names the fault within the deal, e.g. `period-7/<host>`: each fault is slashed at most once. */
  faultKey: string;
  host: string;
  amount: string;
  /** Who receives the slashed stake: the repairing host, the client or the treasury. */
  recipient: string;
}

export interface SlashStorageHostResult {
  /** The slash transaction, or null when the fault was slashed before. */
  txHash: string | null;
  alreadySlashed: boolean;
}

export interface ReleaseStorageBondInput extends DealTermRef {
  host: string;
}

export interface ReleaseStorageBondResult {
  /** The releaseBond transaction, or null when the host held no bond (released before, or never bonded). */
  txHash: string | null;
  /** ZSC base units returned to the host's free stake by this call. */
  released: string;
}

export type EndStorageDealInput = DealTermRef;

export interface EndStorageDealResult {
  /** The endDeal transaction; for a deal ended before, the one that ended it if it is found. */
  txHash: string | null;
  alreadyEnded: boolean;
  refunded: string;
}

/** StorageEscrow: a deal's whole term deposited by the client, paid out period by period, bonds and their slashes. */
export function createStorageEscrowActivities({ chain }: { chain: ChainClient }) {
  const { storageEscrow, settler, deployment } = chain;
  const escrowOf = ({ dealId, client }: DealTermRef) => dealEscrowId(parseAddress('client', client), dealId);

  async function readDeal(chainDeal: string) {
    const [owner, remaining, ratePerHostPeriod, replicas, periods, releasedPeriods, , status] = await storageEscrow.dealOf(chainDeal);
    return {
      client: owner,
      remaining,
      ratePerHostPeriod,
      replicas: Number(replicas),
      periods: Number(periods),
      releasedPeriods: Number(releasedPeriods),
      status: Number(status) as DealStatus,
    };
  }

  /** Relays the client's signed order for a deal's term (depositFor): the escrow pulls it from the client; once only. */
  async function depositStorageDeal({ dealId, payment }: DepositStorageDealInput): Promise<DepositStorageDealResult> {
    const { order, signature, permit } = payment;
    const client = parseAddress('payment.order.client', order.client);
    if (order.dealId !== chainDealId(dealId)) throw invalid(`payment.order.dealId: ${order.dealId} is not deal ${dealId}'s id on chain (${chainDealId(dealId)})`);
    const { replicas, periods } = order;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 0xffff) throw invalid(`replicas must be a whole number from 1 to 65535, got ${replicas}`);
    if (!Number.isInteger(periods) || periods < 1 || periods > 0xffffffff) throw invalid(`periods must be a whole number from 1 to 2^32 - 1, got ${periods}`);
    parseDeadline(order.deadline);
    const rate = parseAmount('ratePerHostPeriod', order.ratePerHostPeriod);
    const escrowId = dealEscrowId(client, dealId);
    const total = dealOrderAmount(order);

    return sendOnce({
      doing: `depositing deal ${dealId}`,
      read: () => readDeal(escrowId),
      already: (deal): DepositStorageDealResult | null => {
        if (deal.status === DealStatus.None) return null;
        if (deal.ratePerHostPeriod !== rate || deal.replicas !== replicas || deal.periods !== periods) {
          throw escrowFailed(
            `deal ${dealId} of ${client} is already deposited for ${deal.replicas} × ${deal.periods} × ${deal.ratePerHostPeriod}, ` +
              `not ${replicas} × ${periods} × ${rate}`,
          );
        }
        return { txHash: null, alreadyDeposited: true };
      },
      check: () => requireFunds(chain, client, deployment.storageEscrow, total, BigInt(permit.value), `deal ${dealId}`),
      send: async () => {
        const receipt = await settler.send(() => settler.storageEscrow.depositFor(order, signature, permit));
        return { txHash: receipt.hash, alreadyDeposited: false };
      },
    });
  }

  /** Bonds part of a host's free stake to an active storage deal; does nothing if it is bonded. */
  async function bondStorageHost({ dealId, client, host, amount, consent }: BondStorageHostInput): Promise<BondResult> {
    const chainDeal = escrowOf({ dealId, client });
    const isOpen = async () => (await readDeal(chainDeal)).status === DealStatus.Active;
    return bondFreeStake(chain, { escrow: 'storageEscrow', id: chainDeal, to: `deal ${dealId}`, isOpen, host, amount, consent });
  }

  /** Pays one proof period of a deal to the hosts that proved; for a period released before, reports that release. */
  async function releaseStoragePeriod({ dealId, client, period, hosts }: ReleaseStoragePeriodInput): Promise<ReleaseStoragePeriodResult> {
    const chainDeal = escrowOf({ dealId, client });
    if (!Number.isInteger(period) || period < 0 || period > 0xffffffff) throw invalid(`period must be a whole number from 0, got ${period}`);
    const addresses = hosts.map((h, i) => parseAddress(`hosts[${i}]`, h)).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    for (let i = 1; i < addresses.length; i++) {
      if (addresses[i] === addresses[i - 1]) throw invalid(`hosts: ${addresses[i]} appears more than once`);
    }

    return sendOnce({
      doing: `releasing period ${period} of deal ${dealId}`,
      read: () => readDeal(chainDeal),
      already: (deal) => (period < deal.releasedPeriods ? previousRelease(chainDeal, period) : null),
      check: (deal) => {
        if (deal.status !== DealStatus.Active) throw escrowFailed(`period ${period} of deal ${dealId} cannot be released: the deal is ${DealStatus[deal.status]}`);
        if (period >= deal.periods) throw escrowFailed(`deal ${dealId} has only ${deal.periods} periods, so no period ${period}`);
        if (period > deal.releasedPeriods) throw escrowFailed(`period ${period} of deal ${dealId} cannot be released before period ${deal.releasedPeriods}`);
        if (addresses.length > deal.replicas) throw escrowFailed(`period ${period} of deal ${dealId} can pay at most ${deal.replicas} hosts, not ${addresses.length}`);
      },
      send: async () => {
        const receipt = await settler.send(() => settler.storageEscrow.releasePeriod(chainDeal, period, addresses));
        const released = releaseIn(receipt.logs, chainDeal, period);
        if (!released) throw new Error(`releasePeriod transaction ${receipt.hash} of deal ${dealId} emitted no PeriodReleased`);
        return { ...released, txHash: receipt.hash, alreadyReleased: false };
      },
    });
  }

  function releaseIn(logs: readonly Log[], chainDeal: string, period: number) {
    const event = eventIn(logs, storageEscrow, deployment.storageEscrow, 'PeriodReleased', (args) => args[0] === chainDeal && Number(args[1]) === period);
    if (!event) return null;
    const [, , , paidToHosts, commission] = event.args;
    return { txHash: event.txHash, paidToHosts: decimal(paidToHosts), commission: decimal(commission) };
  }

  async function previousRelease(chainDeal: string, period: number): Promise<ReleaseStoragePeriodResult> {
    const logs = await storageEscrow.queryFilter(storageEscrow.filters.PeriodReleased(chainDeal, period), deployment.blockNumber);
    const found = releaseIn(logs, chainDeal, period);
    if (found) return { ...found, alreadyReleased: true };
    return { txHash: null, alreadyReleased: true, paidToHosts: '0', commission: '0' };
  }

  /** Slashes a host's bond for one fault of a deal; a fault already slashed is not slashed again. */
  async function slashStorageHost({ dealId, client, faultKey, host, amount, recipient }: SlashStorageHostInput): Promise<SlashStorageHostResult> {
    const chainDeal = escrowOf({ dealId, client });
    const faultId = chainFaultId(faultKey);
    const hostAddress = parseAddress('host', host);
    const to = parseAddress('recipient', recipient);
    const wanted = parseAmount('amount', amount);
    if (wanted === 0n) throw invalid('amount: a slash must take something');

    return sendOnce({
      doing: `slashing host ${hostAddress} for fault ${faultKey} of deal ${dealId}`,
      read: () => storageEscrow.isFaultSlashed(chainDeal, faultId),
      already: (slashed): SlashStorageHostResult | null => (slashed ? { txHash: null, alreadySlashed: true } : null),
      check: async () => {
        const deal = await readDeal(chainDeal);
        if (deal.status !== DealStatus.Active) throw escrowFailed(`fault ${faultKey} of deal ${dealId} cannot be slashed: the deal is ${DealStatus[deal.status]}`);
        const bonded = await storageEscrow.bondOf(chainDeal, hostAddress);
        if (wanted > bonded) throw escrowFailed(`cannot slash ${wanted} from host ${hostAddress} in deal ${dealId}: its bond is ${bonded}`);
      },
      send: async () => {
        const receipt = await settler.send(() => settler.storageEscrow.slash(chainDeal, faultId, hostAddress, wanted, to));
        return { txHash: receipt.hash, alreadySlashed: false };
      },
    });
  }

  /** Returns a host's bond for a deal before the deal ends (its chunks moved elsewhere); nothing if it holds none. */
  async function releaseStorageBond({ dealId, client, host }: ReleaseStorageBondInput): Promise<ReleaseStorageBondResult> {
    const chainDeal = escrowOf({ dealId, client });
    const hostAddress = parseAddress('host', host);
    return sendOnce({
      doing: `releasing the bond of host ${hostAddress} in deal ${dealId}`,
      read: () => storageEscrow.bondOf(chainDeal, hostAddress),
      already: (bonded): ReleaseStorageBondResult | null => (bonded === 0n ? { txHash: null, released: '0' } : null),
      send: async (bonded) => {
        const receipt = await settler.send(() => settler.storageEscrow.releaseBond(chainDeal, hostAddress));
        return { txHash: receipt.hash, released: bonded.toString() };
      },
    });
  }

  /** Ends a deal at term or on cancellation, refunding the unspent rest; for a deal ended before, reports that. */
  async function endStorageDeal({ dealId, client }: EndStorageDealInput): Promise<EndStorageDealResult> {
    const chainDeal = escrowOf({ dealId, client });
    return sendOnce({
      doing: `ending deal ${dealId}`,
      read: () => readDeal(chainDeal),
      already: (deal) => (deal.status === DealStatus.Ended ? previousEnd(chainDeal) : null),
      check: (deal) => {
        if (deal.status !== DealStatus.Active) throw escrowFailed(`deal ${dealId} cannot be ended: it is ${DealStatus[deal.status]}`);
      },
      send: async () => {
        const receipt = await settler.send(() => settler.storageEscrow.endDeal(chainDeal));
        const ended = dealEndedIn(receipt.logs, chainDeal);
        if (!ended) throw new Error(`endDeal transaction ${receipt.hash} of deal ${dealId} emitted no DealEnded`);
        return { txHash: receipt.hash, alreadyEnded: false, refunded: decimal(ended.args[2]) };
      },
    });
  }

  function dealEndedIn(logs: readonly Log[], chainDeal: string) {
    return eventIn(logs, storageEscrow, deployment.storageEscrow, 'DealEnded', (args) => args[0] === chainDeal);
  }

  async function previousEnd(chainDeal: string): Promise<EndStorageDealResult> {
    const logs = await storageEscrow.queryFilter(storageEscrow.filters.DealEnded(chainDeal), deployment.blockNumber);
    const ended = dealEndedIn(logs, chainDeal);
    return { txHash: ended?.txHash ?? null, alreadyEnded: true, refunded: ended ? decimal(ended.args[2]) : '0' };
  }

  return { depositStorageDeal, bondStorageHost, releaseStoragePeriod, slashStorageHost, releaseStorageBond, endStorageDeal };
}
