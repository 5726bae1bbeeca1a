import { type ContractTransactionReceipt, type Log } from 'ethers';
import { EscrowStatus } from '../../contracts/bindings';
import { chainJobId, jobEscrowId, jobOrderAmount, type SignedBondConsent, type SignedJobOrder } from '../../domain/orders';
import type { Slash } from '../../domain/settlement';
import type { ChainClient } from './client';
import { decimal, escrowFailed, eventIn, invalid, parseAddress, parseAmount, parseDeadline, sendOnce } from './common';
import { bondFreeStake, type BondResult } from './host-registry';
import { requireFunds } from './token';

export interface LockEscrowInput {
  jobId: string;
  /** The client's order for this job and its permit, signed by the client; the settler only relays them. */
  payment: SignedJobOrder;
}

export interface LockEscrowResult {
  /** The openJob transaction, or null when the escrow was already locked. */
  txHash: string | null;
  alreadyLocked: boolean;
}

export interface BondHostStakeInput {
  jobId: string;
  /** The job's client: with the job id, it names the escrow. */
  client: string;
  /** The host's address (its did:ethr identity); it must be registered with enough free stake. */
  host: string;
  /** ZSC base units, decimal string. */
  amount: string;
  /** The host's signature of its consent to this bond (BondConsent), made when it accepted the slot; null: none. */
  consent: SignedBondConsent | null;
}

export interface Payout {
  host: string;
  /** Gross ZSC base units, before commission. */
  amount: string;
}

export interface SettleJobInput {
  jobId: string;
  client: string;
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
  /**
   * The client took the whole escrow back itself (reclaim, after the deadline and grace): nothing was settled, no
   * bond was slashed, and `refunded` is all of it.
   */
  reclaimed?: boolean;
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

interface EscrowState {
  client: string;
  amount: bigint;
  pricePerSlot: bigint;
  status: EscrowStatus;
}

/** JobEscrow: a job's maximum price locked from the client, hosts' stake bonded to it, and its settlement. */
export function createJobEscrowActivities({ chain }: { chain: ChainClient }) {
  const { escrow, settler, deployment } = chain;

  async function readEscrow(escrowId: string): Promise<EscrowState> {
    const [owner, amount, pricePerSlot, , status] = await escrow.jobOf(escrowId);
    return { client: owner, amount, pricePerSlot, status: Number(status) as EscrowStatus };
  }

  function settlementIn(logs: readonly Log[], escrowId: string): (Settlement & { txHash: string }) | null {
    const event = eventIn(logs, escrow, deployment.jobEscrow, 'JobSettled', (args) => args[0] === escrowId);
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

  /**
   * Relays the client's signed order and permit (openJobFor): the escrow pulls the job's maximum price from the
   * client, never from the settler, which only pays the gas. Does nothing if the escrow is open already.
   */
  async function lockEscrow({ jobId, payment }: LockEscrowInput): Promise<LockEscrowResult> {
    const { order, signature, permit } = payment;
    const client = parseAddress('payment.order.client', order.client);
    if (order.jobId !== chainJobId(jobId)) throw invalid(`payment.order.jobId: ${order.jobId} is not job ${jobId}'s id on chain (${chainJobId(jobId)})`);
    parseDeadline(order.deadline);
    const escrowId = jobEscrowId(client, jobId);
    const wanted = jobOrderAmount(order);
    return sendOnce({
      doing: `locking escrow of job ${jobId}`,
      read: () => readEscrow(escrowId),
      already: (existing): LockEscrowResult | null => {
        if (existing.status === EscrowStatus.None) return null;
        if (existing.amount !== wanted || existing.pricePerSlot !== BigInt(order.pricePerSlot)) {
          throw escrowFailed(`job ${jobId} of ${client} is already escrowed for ${existing.amount} at ${existing.pricePerSlot} a slot, not ${wanted} at ${order.pricePerSlot}`);
        }
        return { txHash: null, alreadyLocked: true };
      },
      check: () => requireFunds(chain, client, deployment.jobEscrow, wanted, BigInt(permit.value), `job ${jobId}`),
      send: async () => {
        const receipt = await settler.send(() => settler.escrow.openJobFor(order, signature, permit));
        return { txHash: receipt.hash, alreadyLocked: false };
      },
    });
  }

  /** Bonds part of a host's free stake to an open job, so a wrong result can be slashed; does nothing if it is bonded. */
  async function bondHostStake({ jobId, client, host, amount, consent }: BondHostStakeInput): Promise<BondResult> {
    const escrowId = jobEscrowId(parseAddress('client', client), jobId);
    const isOpen = async () => (await readEscrow(escrowId)).status === EscrowStatus.Open;
    return bondFreeStake(chain, { escrow: 'escrow', id: escrowId, to: `job ${jobId}`, isOpen, host, amount, consent });
  }

  /**
   * Pays each host its gross amount minus commission, the commission to the treasury, slashes the given bonds,
   * returns the other bonds and refunds the rest to the client, in one transaction; for a job settled before,
   * returns that settlement instead.
   */
  async function settleJob(input: SettleJobInput): Promise<SettleJobResult> {
    const { escrowId, args } = parseSettlement(input, 'settlement');
    return sendOnce({
      doing: `settling job ${input.jobId}`,
      read: () => readEscrow(escrowId),
      already: (job) => {
        if (job.status === EscrowStatus.Reclaimed) return { txHash: null, alreadySettled: true, reclaimed: true, paidToHosts: '0', commission: '0', refunded: job.amount.toString() };
        return job.status === EscrowStatus.Settled ? previousSettlement(escrowId) : null;
      },
      check: (job) => checkSettlement(input.jobId, escrowId, job, args),
      send: async () => {
        const receipt = await settler.send(() => settler.escrow.settle(escrowId, args.payouts, args.slashes));
        return { ...settledIn(receipt, input.jobId, escrowId), alreadySettled: false };
      },
    });
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
    const isSettled = (job: EscrowState) => job.status === EscrowStatus.Settled;
    const pendingOf = (jobs: EscrowState[]) => parsed.filter((_, i) => !isSettled(jobs[i]));
    /** In input order: the settlements `fresh` holds, and for every other job its earlier settlement. */
    const reported = (fresh: Map<string, SettleJobResult>) =>
      Promise.all(parsed.map(async (s) => ({ jobId: s.jobId, ...(fresh.get(s.jobId) ?? (await previousSettlement(s.escrowId))) })));

    return sendOnce({
      doing: (jobs) => `settling ${pendingOf(jobs).length} jobs in a batch`,
      read: async () => {
        const jobs: EscrowState[] = [];
        for (const s of parsed) jobs.push(await readEscrow(s.escrowId));
        return jobs;
      },
      already: async (jobs): Promise<SettleJobBatchResult | null> => (jobs.every(isSettled) ? { txHash: null, settlements: await reported(new Map()) } : null),
      check: async (jobs) => {
        for (const [i, s] of parsed.entries()) {
          if (!isSettled(jobs[i])) await checkSettlement(s.jobId, s.escrowId, jobs[i], s.args);
        }
      },
      send: async (jobs) => {
        const pending = pendingOf(jobs);
        const receipt = await settler.send(() => settler.escrow.settleBatch(pending.map((s) => ({ escrowId: s.escrowId, ...s.args }))));
        const fresh = new Map(pending.map((s) => [s.jobId, { ...settledIn(receipt, s.jobId, s.escrowId), alreadySettled: false }]));
        return { txHash: receipt.hash, settlements: await reported(fresh) };
      },
    });
  }

  /** Refuses, before sending, a settlement the escrow would revert: not open, over-paid, or slashing more than bonded. */
  async function checkSettlement(jobId: string, escrowId: string, job: EscrowState, args: ReturnType<typeof parseSettlement>['args']): Promise<void> {
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

  return { lockEscrow, bondHostStake, settleJob, settleJobBatch };
}

function parseSettlement({ jobId, client, payouts, slashes = [] }: SettleJobInput, field: string) {
  const args = {
    payouts: payouts.map((p, i) => ({ host: parseAddress(`${field}.payouts[${i}].host`, p.host), amount: parseAmount(`${field}.payouts[${i}].amount`, p.amount) })),
    slashes: slashes.map((s, i) => ({
      host: parseAddress(`${field}.slashes[${i}].host`, s.host),
      recipient: parseAddress(`${field}.slashes[${i}].recipient`, s.recipient),
      amount: parseAmount(`${field}.slashes[${i}].amount`, s.amount),
    })),
  };
  return { escrowId: jobEscrowId(parseAddress(`${field}.client`, client), jobId), args };
}
