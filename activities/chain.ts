import { ApplicationFailure } from '@temporalio/common';
import { getAddress, toBigInt, type Log } from 'ethers';
import { EscrowStatus, decodeRevert } from '../contracts/bindings';
import { ZansocErrorType } from '../domain/errors';
import { tokenAmount } from '../domain/money';
import type { ChainClient } from './chain-client';
import { chainJobId } from './chain-ids';

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

export interface Payout {
  host: string;
  /** Gross ZSC base units, before commission. */
  amount: string;
}

export interface SettleJobInput {
  jobId: string;
  payouts: Payout[];
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

export interface FundClientInput {
  address: string;
  amount: string;
}

/**
 * Every write to the chain. Each is keyed by the job, reads whether its step already happened on chain before
 * sending, and so is safe to retry; money crosses in and out as decimal strings.
 */
export function createChainActivities({ chain }: { chain: ChainClient }) {
  const { escrow, token, client, settler, deployment } = chain;

  async function readEscrow(escrowId: string) {
    const [owner, amount, , status] = await escrow.jobOf(escrowId);
    return { client: owner, amount, status: Number(status) as EscrowStatus };
  }

  function settlementIn(log: Log): Settlement | null {
    if (log.address.toLowerCase() !== deployment.jobEscrow.toLowerCase()) return null;
    const event = escrow.interface.parseLog(log);
    if (event?.name !== 'JobSettled') return null;
    const [, paidToHosts, commission, refunded] = event.args.toArray();
    return {
      paidToHosts: toBigInt(paidToHosts).toString(),
      commission: toBigInt(commission).toString(),
      refunded: toBigInt(refunded).toString(),
    };
  }

  async function previousSettlement(escrowId: string): Promise<SettleJobResult> {
    const logs = await escrow.queryFilter(escrow.filters.JobSettled(escrowId), deployment.blockNumber);
    for (const log of logs) {
      const figures = settlementIn(log);
      if (figures) return { txHash: log.transactionHash, alreadySettled: true, ...figures };
    }
    return { txHash: null, alreadySettled: true, paidToHosts: '0', commission: '0', refunded: '0' };
  }

  /** Locks the job's maximum price from the client in the escrow; does nothing if it is locked already. */
  async function lockEscrow({ jobId, amount, deadlineSeconds }: LockEscrowInput): Promise<LockEscrowResult> {
    const escrowId = chainJobId(jobId);
    const wanted = parseAmount('amount', amount);
    if (!Number.isSafeInteger(deadlineSeconds) || deadlineSeconds <= 0) {
      throw invalid(`deadlineSeconds must be a positive whole number of Unix seconds, got ${deadlineSeconds}`);
    }
    // Exclusive: two jobs of one client checking and setting the allowance at once would overwrite each other's.
    return client.exclusive(async () => {
      const existing = await readEscrow(escrowId);
      if (existing.status !== EscrowStatus.None) return alreadyLocked(jobId, existing, wanted);

      const balance = await token.balanceOf(client.address);
      if (balance < wanted) {
        throw ApplicationFailure.create({
          type: ZansocErrorType.InsufficientFunds,
          nonRetryable: true,
          message: `client ${client.address} holds ${balance} ZSC base units but job ${jobId} needs ${wanted}`,
        });
      }
      try {
        if ((await token.allowance(client.address, deployment.jobEscrow)) < wanted) {
          await client.send(() => client.token.approve(deployment.jobEscrow, wanted));
        }
        const receipt = await client.send(() => client.escrow.openJob(escrowId, wanted, deadlineSeconds));
        return { txHash: receipt.hash, alreadyLocked: false };
      } catch (err) {
        const now = await readEscrow(escrowId);
        if (now.status !== EscrowStatus.None) return alreadyLocked(jobId, now, wanted);
        throw explainRevert(err, `locking escrow of job ${jobId}`);
      }
    });
  }

  function alreadyLocked(jobId: string, existing: { client: string; amount: bigint }, wanted: bigint): LockEscrowResult {
    if (existing.client !== client.address || existing.amount !== wanted) {
      throw ApplicationFailure.create({
        type: ZansocErrorType.EscrowFailed,
        nonRetryable: true,
        message: `job ${jobId} is already escrowed by ${existing.client} for ${existing.amount}, not by ${client.address} for ${wanted}`,
      });
    }
    return { txHash: null, alreadyLocked: true };
  }

  /**
   * Pays each host its gross amount minus commission, the commission to the treasury and the rest back to the
   * client, in one transaction; for a job settled before, returns that settlement instead.
   */
  async function settleJob({ jobId, payouts }: SettleJobInput): Promise<SettleJobResult> {
    const escrowId = chainJobId(jobId);
    const hosts = payouts.map((p, i) => parseAddress(`payouts[${i}].host`, p.host));
    const amounts = payouts.map((p, i) => parseAmount(`payouts[${i}].amount`, p.amount));

    const job = await readEscrow(escrowId);
    if (job.status === EscrowStatus.Settled) return previousSettlement(escrowId);
    if (job.status !== EscrowStatus.Open) {
      throw ApplicationFailure.create({
        type: ZansocErrorType.EscrowFailed,
        nonRetryable: true,
        message: `job ${jobId} cannot be settled: its escrow is ${EscrowStatus[job.status]}`,
      });
    }
    const gross = amounts.reduce((sum, a) => sum + a, 0n);
    if (gross > job.amount) {
      throw ApplicationFailure.create({
        type: ZansocErrorType.EscrowFailed,
        nonRetryable: true,
        message: `payouts of job ${jobId} add up to ${gross}, more than the ${job.amount} escrowed`,
      });
    }

    try {
      const receipt = await settler.send(() => settler.escrow.settle(escrowId, hosts, amounts));
      const figures = receipt.logs.map(settlementIn).find((f) => f !== null);
      if (!figures) throw new Error(`settle transaction ${receipt.hash} of job ${jobId} emitted no JobSettled`);
      return { txHash: receipt.hash, alreadySettled: false, ...figures };
    } catch (err) {
      if ((await readEscrow(escrowId)).status === EscrowStatus.Settled) return previousSettlement(escrowId);
      throw explainRevert(err, `settling job ${jobId}`);
    }
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

  /** A contract revert is permanent, so it fails the activity for good; anything else (RPC trouble) is retried. */
  function explainRevert(err: unknown, doing: string): unknown {
    const revert = decodeRevert(err, escrow.interface, token.interface);
    if (!revert) return err;
    return ApplicationFailure.create({
      type: revert.name === 'ERC20InsufficientBalance' ? ZansocErrorType.InsufficientFunds : ZansocErrorType.EscrowFailed,
      nonRetryable: true,
      message: `${doing} reverted: ${revert.name}(${revert.args.map(String).join(', ')})`,
      cause: err instanceof Error ? err : undefined,
    });
  }

  return { lockEscrow, settleJob, fundClient };
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ZansocErrorType.InvalidSpec, nonRetryable: true, message });
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
