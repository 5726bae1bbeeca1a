import { ApplicationFailure } from '@temporalio/common';
import { getAddress, MaxUint256, toBigInt, type BigNumberish, type ContractTransactionReceipt, type Log } from 'ethers';
import { DealStatus, EscrowStatus, decodeRevert, type JobEscrowContract, type StorageEscrowContract } from '../contracts/bindings';
import { ZansocErrorType } from '../domain/errors';
import { tokenAmount } from '../domain/money';
import type { ChainAccount, ChainClient } from './chain-client';
import { chainDealId, chainFaultId, chainJobId } from './chain-ids';

export interface LockEscrowInput {
  jobId: string;
  /** ZSC base units, decimal string. */
  amount: string;
  /** Unix time in seconds; the client may reclaim an unsettled escrow a grace period after it. */
  deadlineSeconds: number;
}

export interface LockEscrowResult {
  /** The openJob transaction, or null when the escrow was already locked. */
  txHash: string | null;
  alreadyLocked: boolean;
}

export interface BondHostStakeInput {
  jobId: string;
  /** The host's address (its did:ethr identity); it must be registered with enough free stake. */
  host: string;
  /** ZSC base units, decimal string. */
  amount: string;
}

export interface BondResult {
  /** The bond transaction, or null when the host was already bonded. */
  txHash: string | null;
  alreadyBonded: boolean;
}

export interface Payout {
  host: string;
  /** Gross ZSC base units, before commission. */
  amount: string;
}

/** Part of a bonded host's stake taken at settlement, for a wrong result or a failed slot. */
export interface Slash {
  host: string;
  /** Who receives it: a challenger, a replacement host or the treasury. */
  recipient: string;
  /** ZSC base units, decimal string; a host's slashes add up to at most its bond. */
  amount: string;
}

export interface SettleJobInput {
  jobId: string;
  payouts: Payout[];
  /** Bonds to slash; every other bond, and the rest of a slashed one, returns to its host. */
  slashes?: Slash[];
}

export interface Settlement {
  /** Net of commission. */
  paidToHosts: string;
  commission: string;
  refunded: string;
}

export interface SettleJobResult extends Settlement {
  /** The settle transaction; for a job settled before, the one that settled it if it is found. */
  txHash: string | null;
  alreadySettled: boolean;
}

export interface SettleJobBatchInput {
  settlements: SettleJobInput[];
}

export interface SettleJobBatchResult {
  /** The settleBatch transaction, or null when every job was settled before. */
  txHash: string | null;
  /** One per input settlement, in input order. */
  settlements: (SettleJobResult & { jobId: string })[];
}

export interface DepositStorageDealInput {
  dealId: string;
  /** Gross pay of one host for one proven period, ZSC base units. */
  ratePerHostPeriod: string;
  /** How many hosts each period pays at most. */
  replicas: number;
  /** How many proof periods the term has. */
  periods: number;
  /** Unix time in seconds, at or after the term's end; the deal may be reclaimed a grace period after it. */
  deadlineSeconds: number;
}

export interface DepositStorageDealResult {
  /** The deposit transaction, or null when the deal was already deposited. */
  txHash: string | null;
  alreadyDeposited: boolean;
}

export interface BondStorageHostInput {
  dealId: string;
  host: string;
  amount: string;
}

export interface ReleaseStoragePeriodInput {
  dealId: string;
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

export interface SlashStorageHostInput {
  dealId: string;
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

export interface ReleaseStorageBondInput {
  dealId: string;
  host: string;
}

export interface ReleaseStorageBondResult {
  /** The releaseBond transaction, or null when the host held no bond (released before, or never bonded). */
  txHash: string | null;
  /** ZSC base units returned to the host's free stake by this call. */
  released: string;
}

export interface EndStorageDealInput {
  dealId: string;
}

export interface EndStorageDealResult {
  /** The endDeal transaction; for a deal ended before, the one that ended it if it is found. */
  txHash: string | null;
  alreadyEnded: boolean;
  refunded: string;
}

export interface FundClientInput {
  address: string;
  amount: string;
}

/**
 * Every write to the chain. Each is keyed by the job, deal or fault, reads whether its step already happened on
 * chain before sending, and so is safe to retry; money crosses in and out as decimal strings.
 */
export function createChainActivities({ chain }: { chain: ChainClient }) {
  const { escrow, storageEscrow, registry, token, client, settler, deployment } = chain;

  async function readEscrow(escrowId: string) {
    const [owner, amount, , status] = await escrow.jobOf(escrowId);
    return { client: owner, amount, status: Number(status) as EscrowStatus };
  }

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

  /** The arguments of the first event `name` that `contract` emitted in `logs`, or null. */
  function eventIn(logs: readonly Log[], contract: JobEscrowContract | StorageEscrowContract, address: string, name: string, id: string) {
    for (const log of logs) {
      if (log.address.toLowerCase() !== address.toLowerCase()) continue;
      const event = contract.interface.parseLog(log);
      if (event?.name === name && event.args[0] === id) return { args: event.args.toArray(), txHash: log.transactionHash };
    }
    return null;
  }

  function settlementIn(logs: readonly Log[], escrowId: string): (Settlement & { txHash: string }) | null {
    const event = eventIn(logs, escrow, deployment.jobEscrow, 'JobSettled', escrowId);
    if (!event) return null;
    const [, paidToHosts, commission, refunded] = event.args;
    return { txHash: event.txHash, paidToHosts: decimal(paidToHosts), commission: decimal(commission), refunded: decimal(refunded) };
  }

  async function previousSettlement(escrowId: string): Promise<SettleJobResult> {
    const logs = await escrow.queryFilter(escrow.filters.JobSettled(escrowId), deployment.blockNumber);
    const found = settlementIn(logs, escrowId);
    if (found) return { ...found, alreadySettled: true };
    return { txHash: null, alreadySettled: true, paidToHosts: '0', commission: '0', refunded: '0' };
  }

  /** Locks the job's maximum price from the client in the escrow; does nothing if it is locked already. */
  async function lockEscrow({ jobId, amount, deadlineSeconds }: LockEscrowInput): Promise<LockEscrowResult> {
    const escrowId = chainJobId(jobId);
    const wanted = parseAmount('amount', amount);
    parseDeadline(deadlineSeconds);
    const existing = await readEscrow(escrowId);
    if (existing.status !== EscrowStatus.None) return alreadyLocked(jobId, existing, wanted);

    await requireBalance(wanted, `job ${jobId}`);
    try {
      // JobEscrow only ever pulls from the caller of openJob, so the client keeps one standing allowance for it
      // (approved once) instead of an approve per job: jobs lock their escrow side by side, one transaction each.
      await client.exclusive(() => approveIfNeeded(deployment.jobEscrow, wanted, MaxUint256));
      const receipt = await client.send(() => client.escrow.openJob(escrowId, wanted, deadlineSeconds));
      return { txHash: receipt.hash, alreadyLocked: false };
    } catch (err) {
      const now = await readEscrow(escrowId);
      if (now.status !== EscrowStatus.None) return alreadyLocked(jobId, now, wanted);
      throw explainRevert(err, `locking escrow of job ${jobId}`);
    }
  }

  function alreadyLocked(jobId: string, existing: { client: string; amount: bigint }, wanted: bigint): LockEscrowResult {
    if (existing.client !== client.address || existing.amount !== wanted) {
      throw escrowFailed(`job ${jobId} is already escrowed by ${existing.client} for ${existing.amount}, not by ${client.address} for ${wanted}`);
    }
    return { txHash: null, alreadyLocked: true };
  }

  /** Bonds part of a host's free stake to an open job, so a wrong result can be slashed; does nothing if it is bonded. */
  async function bondHostStake({ jobId, host, amount }: BondHostStakeInput): Promise<BondResult> {
    const escrowId = chainJobId(jobId);
    const hostAddress = parseAddress('host', host);
    const wanted = parseAmount('amount', amount);
    return bond({
      what: `host ${hostAddress} to job ${jobId}`,
      contract: settler.escrow,
      readBond: () => escrow.bondOf(escrowId, hostAddress),
      isOpen: async () => (await readEscrow(escrowId)).status === EscrowStatus.Open,
      host: hostAddress,
      wanted,
      send: () => settler.escrow.bond(escrowId, hostAddress, wanted),
    });
  }

  /** Bonds part of a host's free stake to an active storage deal; does nothing if it is bonded. */
  async function bondStorageHost({ dealId, host, amount }: BondStorageHostInput): Promise<BondResult> {
    const chainDeal = chainDealId(dealId);
    const hostAddress = parseAddress('host', host);
    const wanted = parseAmount('amount', amount);
    return bond({
      what: `host ${hostAddress} to deal ${dealId}`,
      contract: settler.storageEscrow,
      readBond: () => storageEscrow.bondOf(chainDeal, hostAddress),
      isOpen: async () => (await readDeal(chainDeal)).status === DealStatus.Active,
      host: hostAddress,
      wanted,
      send: () => settler.storageEscrow.bond(chainDeal, hostAddress, wanted),
    });
  }

  async function bond(step: {
    what: string;
    contract: JobEscrowContract | StorageEscrowContract;
    readBond: () => Promise<bigint>;
    isOpen: () => Promise<boolean>;
    host: string;
    wanted: bigint;
    send: Parameters<ChainAccount['send']>[0];
  }): Promise<BondResult> {
    const done = (bonded: bigint): BondResult => {
      if (bonded !== step.wanted) throw escrowFailed(`${step.what} is already bonded for ${bonded}, not ${step.wanted}`);
      return { txHash: null, alreadyBonded: true };
    };
    const bonded = await step.readBond();
    if (bonded !== 0n) return done(bonded);
    if (!(await step.isOpen())) throw escrowFailed(`cannot bond ${step.what}: it is not open`);
    const free = await registry.freeStakeOf(step.host);
    if (free < step.wanted) throw escrowFailed(`cannot bond ${step.what}: the host has ${free} ZSC base units of free stake, ${step.wanted} needed`);

    try {
      const receipt = await settler.send(step.send);
      return { txHash: receipt.hash, alreadyBonded: false };
    } catch (err) {
      const now = await step.readBond();
      if (now !== 0n) return done(now);
      throw explainRevert(err, `bonding ${step.what}`);
    }
  }

  /**
   * Pays each host its gross amount minus commission, the commission to the treasury, slashes the given bonds,
   * returns the other bonds and refunds the rest to the client, in one transaction; for a job settled before,
   * returns that settlement instead.
   */
  async function settleJob(input: SettleJobInput): Promise<SettleJobResult> {
    const { escrowId, args } = parseSettlement(input, 'settlement');
    const job = await readEscrow(escrowId);
    if (job.status === EscrowStatus.Settled) return previousSettlement(escrowId);
    await checkSettlement(input.jobId, escrowId, job, args);

    try {
      const receipt = await settler.send(() => settler.escrow.settle(escrowId, args.payouts, args.slashes));
      return { ...settledIn(receipt, input.jobId, escrowId), alreadySettled: false };
    } catch (err) {
      if ((await readEscrow(escrowId)).status === EscrowStatus.Settled) return previousSettlement(escrowId);
      throw explainRevert(err, `settling job ${input.jobId}`);
    }
  }

  /**
   * Settles many jobs in one transaction (micro-payments): each exactly as `settleJob` would. Jobs settled before
   * are reported, not settled again; if every job was, nothing is sent.
   */
  async function settleJobBatch({ settlements }: SettleJobBatchInput): Promise<SettleJobBatchResult> {
    const parsed = settlements.map((s, i) => ({ jobId: s.jobId, ...parseSettlement(s, `settlements[${i}]`) }));
    const seen = new Set<string>();
    for (const { jobId } of parsed) {
      if (seen.has(jobId)) throw invalid(`settlements: job ${jobId} appears more than once`);
      seen.add(jobId);
    }

    const results = new Map<string, SettleJobResult>();
    const pending: typeof parsed = [];
    for (const s of parsed) {
      const job = await readEscrow(s.escrowId);
      if (job.status === EscrowStatus.Settled) {
        results.set(s.jobId, await previousSettlement(s.escrowId));
      } else {
        await checkSettlement(s.jobId, s.escrowId, job, s.args);
        pending.push(s);
      }
    }

    let txHash: string | null = null;
    if (pending.length > 0) {
      const batch = pending.map((s) => ({ jobId: s.escrowId, ...s.args }));
      try {
        const receipt = await settler.send(() => settler.escrow.settleBatch(batch));
        txHash = receipt.hash;
        for (const s of pending) results.set(s.jobId, { ...settledIn(receipt, s.jobId, s.escrowId), alreadySettled: false });
      } catch (err) {
        const statuses = await Promise.all(pending.map(async (s) => (await readEscrow(s.escrowId)).status));
        if (!statuses.every((status) => status === EscrowStatus.Settled)) throw explainRevert(err, `settling ${pending.length} jobs in a batch`);
        for (const s of pending) results.set(s.jobId, await previousSettlement(s.escrowId));
      }
    }
    return {
      txHash,
      settlements: parsed.map(({ jobId }) => {
        const result = results.get(jobId);
        if (!result) throw new Error(`no settlement of job ${jobId}`);
        return { jobId, ...result };
      }),
    };
  }

  function parseSettlement({ jobId, payouts, slashes = [] }: SettleJobInput, field: string) {
    const args = {
      payouts: payouts.map((p, i) => ({ host: parseAddress(`${field}.payouts[${i}].host`, p.host), amount: parseAmount(`${field}.payouts[${i}].amount`, p.amount) })),
      slashes: slashes.map((s, i) => ({
        host: parseAddress(`${field}.slashes[${i}].host`, s.host),
        recipient: parseAddress(`${field}.slashes[${i}].recipient`, s.recipient),
        amount: parseAmount(`${field}.slashes[${i}].amount`, s.amount),
      })),
    };
    return { escrowId: chainJobId(jobId), args };
  }

  /** Refuses, before sending, a settlement the escrow would revert: not open, over-paid, or slashing more than bonded. */
  async function checkSettlement(
    jobId: string,
    escrowId: string,
    job: { amount: bigint; status: EscrowStatus },
    args: ReturnType<typeof parseSettlement>['args'],
  ): Promise<void> {
    if (job.status !== EscrowStatus.Open) throw escrowFailed(`job ${jobId} cannot be settled: its escrow is ${EscrowStatus[job.status]}`);
    const gross = args.payouts.reduce((sum, p) => sum + p.amount, 0n);
    if (gross > job.amount) throw escrowFailed(`payouts of job ${jobId} add up to ${gross}, more than the ${job.amount} escrowed`);
    const slashedPerHost = new Map<string, bigint>();
    for (const s of args.slashes) {
      if (s.amount === 0n) throw invalid(`slashes of job ${jobId}: a slash of host ${s.host} is zero`);
      slashedPerHost.set(s.host, (slashedPerHost.get(s.host) ?? 0n) + s.amount);
    }
    for (const [host, slashed] of slashedPerHost) {
      const bonded = await escrow.bondOf(escrowId, host);
      if (slashed > bonded) throw escrowFailed(`slashes of host ${host} in job ${jobId} add up to ${slashed}, more than its bond of ${bonded}`);
    }
  }

  function settledIn(receipt: ContractTransactionReceipt, jobId: string, escrowId: string): Omit<SettleJobResult, 'alreadySettled'> {
    const found = settlementIn(receipt.logs, escrowId);
    if (!found) throw new Error(`settle transaction ${receipt.hash} of job ${jobId} emitted no JobSettled`);
    return { ...found, txHash: receipt.hash };
  }

  /** Deposits a storage deal's whole term from the client; does nothing if it is deposited already. */
  async function depositStorageDeal(input: DepositStorageDealInput): Promise<DepositStorageDealResult> {
    const { dealId, replicas, periods, deadlineSeconds } = input;
    const chainDeal = chainDealId(dealId);
    const rate = parseAmount('ratePerHostPeriod', input.ratePerHostPeriod);
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 0xffff) throw invalid(`replicas must be a whole number from 1 to 65535, got ${replicas}`);
    if (!Number.isInteger(periods) || periods < 1 || periods > 0xffffffff) throw invalid(`periods must be a whole number from 1 to 2^32 - 1, got ${periods}`);
    parseDeadline(deadlineSeconds);
    const total = rate * BigInt(replicas) * BigInt(periods);

    const alreadyDeposited = (deal: Awaited<ReturnType<typeof readDeal>>): DepositStorageDealResult => {
      if (deal.client !== client.address || deal.ratePerHostPeriod !== rate || deal.replicas !== replicas || deal.periods !== periods) {
        throw escrowFailed(
          `deal ${dealId} is already deposited by ${deal.client} for ${deal.replicas} × ${deal.periods} × ${deal.ratePerHostPeriod}, ` +
            `not by ${client.address} for ${replicas} × ${periods} × ${rate}`,
        );
      }
      return { txHash: null, alreadyDeposited: true };
    };
    return client.exclusive(async () => {
      const existing = await readDeal(chainDeal);
      if (existing.status !== DealStatus.None) return alreadyDeposited(existing);

      await requireBalance(total, `deal ${dealId}`);
      try {
        await approveIfNeeded(deployment.storageEscrow, total);
        const receipt = await client.send(() => client.storageEscrow.deposit(chainDeal, rate, replicas, periods, deadlineSeconds));
        return { txHash: receipt.hash, alreadyDeposited: false };
      } catch (err) {
        const now = await readDeal(chainDeal);
        if (now.status !== DealStatus.None) return alreadyDeposited(now);
        throw explainRevert(err, `depositing deal ${dealId}`);
      }
    });
  }

  /** Pays one proof period of a deal to the hosts that proved; for a period released before, reports that release. */
  async function releaseStoragePeriod({ dealId, period, hosts }: ReleaseStoragePeriodInput): Promise<ReleaseStoragePeriodResult> {
    const chainDeal = chainDealId(dealId);
    if (!Number.isInteger(period) || period < 0 || period > 0xffffffff) throw invalid(`period must be a whole number from 0, got ${period}`);
    const addresses = hosts.map((h, i) => parseAddress(`hosts[${i}]`, h)).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    for (let i = 1; i < addresses.length; i++) {
      if (addresses[i] === addresses[i - 1]) throw invalid(`hosts: ${addresses[i]} appears more than once`);
    }

    const deal = await readDeal(chainDeal);
    if (period < deal.releasedPeriods) return previousRelease(chainDeal, period);
    if (deal.status !== DealStatus.Active) throw escrowFailed(`period ${period} of deal ${dealId} cannot be released: the deal is ${DealStatus[deal.status]}`);
    if (period >= deal.periods) throw escrowFailed(`deal ${dealId} has only ${deal.periods} periods, so no period ${period}`);
    if (period > deal.releasedPeriods) throw escrowFailed(`period ${period} of deal ${dealId} cannot be released before period ${deal.releasedPeriods}`);
    if (addresses.length > deal.replicas) throw escrowFailed(`period ${period} of deal ${dealId} can pay at most ${deal.replicas} hosts, not ${addresses.length}`);

    try {
      const receipt = await settler.send(() => settler.storageEscrow.releasePeriod(chainDeal, period, addresses));
      const released = releaseIn(receipt.logs, chainDeal, period);
      if (!released) throw new Error(`releasePeriod transaction ${receipt.hash} of deal ${dealId} emitted no PeriodReleased`);
      return { ...released, txHash: receipt.hash, alreadyReleased: false };
    } catch (err) {
      if (period < (await readDeal(chainDeal)).releasedPeriods) return previousRelease(chainDeal, period);
      throw explainRevert(err, `releasing period ${period} of deal ${dealId}`);
    }
  }

  function releaseIn(logs: readonly Log[], chainDeal: string, period: number) {
    for (const log of logs) {
      if (log.address.toLowerCase() !== deployment.storageEscrow.toLowerCase()) continue;
      const event = storageEscrow.interface.parseLog(log);
      if (event?.name !== 'PeriodReleased' || event.args[0] !== chainDeal || Number(event.args[1]) !== period) continue;
      const [, , , paidToHosts, commission] = event.args.toArray();
      return { txHash: log.transactionHash, paidToHosts: decimal(paidToHosts), commission: decimal(commission) };
    }
    return null;
  }

  async function previousRelease(chainDeal: string, period: number): Promise<ReleaseStoragePeriodResult> {
    const logs = await storageEscrow.queryFilter(storageEscrow.filters.PeriodReleased(chainDeal, period), deployment.blockNumber);
    const found = releaseIn(logs, chainDeal, period);
    if (found) return { ...found, alreadyReleased: true };
    return { txHash: null, alreadyReleased: true, paidToHosts: '0', commission: '0' };
  }

  /** Slashes a host's bond for one fault of a deal; a fault already slashed is not slashed again. */
  async function slashStorageHost({ dealId, faultKey, host, amount, recipient }: SlashStorageHostInput): Promise<SlashStorageHostResult> {
    const chainDeal = chainDealId(dealId);
    const faultId = chainFaultId(faultKey);
    const hostAddress = parseAddress('host', host);
    const to = parseAddress('recipient', recipient);
    const wanted = parseAmount('amount', amount);
    if (wanted === 0n) throw invalid('amount: a slash must take something');

    if (await storageEscrow.isFaultSlashed(chainDeal, faultId)) return { txHash: null, alreadySlashed: true };
    const deal = await readDeal(chainDeal);
    if (deal.status !== DealStatus.Active) throw escrowFailed(`fault ${faultKey} of deal ${dealId} cannot be slashed: the deal is ${DealStatus[deal.status]}`);
    const bonded = await storageEscrow.bondOf(chainDeal, hostAddress);
    if (wanted > bonded) throw escrowFailed(`cannot slash ${wanted} from host ${hostAddress} in deal ${dealId}: its bond is ${bonded}`);

    try {
      const receipt = await settler.send(() => settler.storageEscrow.slash(chainDeal, faultId, hostAddress, wanted, to));
      return { txHash: receipt.hash, alreadySlashed: false };
    } catch (err) {
      if (await storageEscrow.isFaultSlashed(chainDeal, faultId)) return { txHash: null, alreadySlashed: true };
      throw explainRevert(err, `slashing host ${hostAddress} for fault ${faultKey} of deal ${dealId}`);
    }
  }

  /** Returns a host's bond for a deal before the deal ends (its chunks moved elsewhere); nothing if it holds none. */
  async function releaseStorageBond({ dealId, host }: ReleaseStorageBondInput): Promise<ReleaseStorageBondResult> {
    const chainDeal = chainDealId(dealId);
    const hostAddress = parseAddress('host', host);
    const bonded = await storageEscrow.bondOf(chainDeal, hostAddress);
    if (bonded === 0n) return { txHash: null, released: '0' };

    try {
      const receipt = await settler.send(() => settler.storageEscrow.releaseBond(chainDeal, hostAddress));
      return { txHash: receipt.hash, released: bonded.toString() };
    } catch (err) {
      if ((await storageEscrow.bondOf(chainDeal, hostAddress)) === 0n) return { txHash: null, released: '0' };
      throw explainRevert(err, `releasing the bond of host ${hostAddress} in deal ${dealId}`);
    }
  }

  /** Ends a deal at term or on cancellation, refunding the unspent rest; for a deal ended before, reports that. */
  async function endStorageDeal({ dealId }: EndStorageDealInput): Promise<EndStorageDealResult> {
    const chainDeal = chainDealId(dealId);
    const deal = await readDeal(chainDeal);
    if (deal.status === DealStatus.Ended) return previousEnd(chainDeal);
    if (deal.status !== DealStatus.Active) throw escrowFailed(`deal ${dealId} cannot be ended: it is ${DealStatus[deal.status]}`);

    try {
      const receipt = await settler.send(() => settler.storageEscrow.endDeal(chainDeal));
      const ended = eventIn(receipt.logs, storageEscrow, deployment.storageEscrow, 'DealEnded', chainDeal);
      if (!ended) throw new Error(`endDeal transaction ${receipt.hash} of deal ${dealId} emitted no DealEnded`);
      return { txHash: receipt.hash, alreadyEnded: false, refunded: decimal(ended.args[2]) };
    } catch (err) {
      if ((await readDeal(chainDeal)).status === DealStatus.Ended) return previousEnd(chainDeal);
      throw explainRevert(err, `ending deal ${dealId}`);
    }
  }

  async function previousEnd(chainDeal: string): Promise<EndStorageDealResult> {
    const logs = await storageEscrow.queryFilter(storageEscrow.filters.DealEnded(chainDeal), deployment.blockNumber);
    const ended = eventIn(logs, storageEscrow, deployment.storageEscrow, 'DealEnded', chainDeal);
    return { txHash: ended?.txHash ?? null, alreadyEnded: true, refunded: ended ? decimal(ended.args[2]) : '0' };
  }

  /** Devnet faucet: sends ZSC from the treasury. Sends once per call; calling it twice pays twice. */
  async function fundClient({ address, amount }: FundClientInput): Promise<{ txHash: string }> {
    const treasury = chain.treasury;
    if (!treasury) throw new Error('fundClient needs the treasury key: pass treasuryKey to connectChain');
    const to = parseAddress('address', address);
    const value = parseAmount('amount', amount);
    try {
      const receipt = await treasury.send(() => treasury.token.transfer(to, value));
      return { txHash: receipt.hash };
    } catch (err) {
      throw explainRevert(err, `funding ${to} with ${value}`);
    }
  }

  async function requireBalance(wanted: bigint, purpose: string): Promise<void> {
    const balance = await token.balanceOf(client.address);
    if (balance < wanted) {
      throw ApplicationFailure.create({
        type: ZansocErrorType.InsufficientFunds,
        nonRetryable: true,
        message: `client ${client.address} holds ${balance} ZSC base units but ${purpose} needs ${wanted}`,
      });
    }
  }

  /** Approves `spender` for `amount` (default: just what is wanted) when the allowance is short of `wanted`. */
  async function approveIfNeeded(spender: string, wanted: bigint, amount: bigint = wanted): Promise<void> {
    if ((await token.allowance(client.address, spender)) < wanted) {
      await client.send(() => client.token.approve(spender, amount));
    }
  }

  /** A contract revert is permanent, so it fails the activity for good; anything else (RPC trouble) is retried. */
  function explainRevert(err: unknown, doing: string): unknown {
    const revert = decodeRevert(err, escrow.interface, storageEscrow.interface, registry.interface, token.interface);
    if (!revert) return err;
    return ApplicationFailure.create({
      type: revert.name === 'ERC20InsufficientBalance' ? ZansocErrorType.InsufficientFunds : ZansocErrorType.EscrowFailed,
      nonRetryable: true,
      message: `${doing} reverted: ${revert.name}(${revert.args.map(String).join(', ')})`,
      cause: err instanceof Error ? err : undefined,
    });
  }

  /** Where slashed bonds of dishonest hosts go when nobody else earned them. */
  async function treasuryAddress(): Promise<string> {
    return deployment.treasury;
  }

  return {
    lockEscrow,
    bondHostStake,
    treasuryAddress,
    settleJob,
    settleJobBatch,
    depositStorageDeal,
    bondStorageHost,
    releaseStoragePeriod,
    slashStorageHost,
    releaseStorageBond,
    endStorageDeal,
    fundClient,
  };
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ZansocErrorType.InvalidSpec, nonRetryable: true, message });
}

function escrowFailed(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ZansocErrorType.EscrowFailed, nonRetryable: true, message });
}

function decimal(value: unknown): string {
  return toBigInt(value as BigNumberish).toString();
}

function parseDeadline(deadlineSeconds: number): void {
  if (!Number.isSafeInteger(deadlineSeconds) || deadlineSeconds <= 0) {
    throw invalid(`deadlineSeconds must be a positive whole number of Unix seconds, got ${deadlineSeconds}`);
  }
}

function parseAmount(field: string, value: string): bigint {
  const parsed = tokenAmount.safeParse(value);
  if (!parsed.success) throw invalid(`${field}: ${parsed.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(value)})`);
  return BigInt(parsed.data);
}

function parseAddress(field: string, value: string): string {
  try {
    return getAddress(value);
  } catch {
    throw invalid(`${field}: not an address (got ${JSON.stringify(value)})`);
  }
}
