import { ApplicationFailure } from '@temporalio/common';
import { getAddress, Interface, toBigInt, type BigNumberish, type Log } from 'ethers';
import { decodeRevert, HOST_REGISTRY_ABI, JOB_ESCROW_ABI, STORAGE_ESCROW_ABI, ZANSOC_TOKEN_ABI } from '../../contracts/bindings';
import { ZansocErrorType } from '../../domain/errors';
import { tokenAmount } from '../../domain/money';

/**
 * One chain step, safe to retry: it reads the step's state and, if the step already happened (an earlier attempt,
 * or one racing this), answers what happened instead of sending; otherwise it checks, then sends. A failed send is
 * read again, since it may have failed only because the step happened meanwhile; otherwise a revert is permanent.
 */
export async function sendOnce<State, Result>(step: {
  /** What the step does, for its error, e.g. `settling job 7`; a function of the state read before sending. */
  doing: string | ((state: State) => string);
  read: () => Promise<State>;
  /** The step's result if `state` shows that it happened already, else null. */
  already: (state: State) => Result | null | Promise<Result | null>;
  /** Refuses, before sending, a step the contract would revert. */
  check?: (state: State) => void | Promise<void>;
  send: (state: State) => Promise<Result>;
}): Promise<Result> {
  const before = await step.read();
  const done = await step.already(before);
  if (done !== null) return done;
  await step.check?.(before);
  try {
    return await step.send(before);
  } catch (err) {
    const after = await step.already(await step.read());
    if (after !== null) return after;
    throw explainRevert(err, typeof step.doing === 'string' ? step.doing : step.doing(before));
  }
}

const CONTRACT_INTERFACES = [JOB_ESCROW_ABI, STORAGE_ESCROW_ABI, HOST_REGISTRY_ABI, ZANSOC_TOKEN_ABI].map((abi) => new Interface(abi));

/** A contract revert is permanent, so it fails the activity for good; anything else (RPC trouble) is retried. */
export function explainRevert(err: unknown, doing: string): unknown {
  const revert = decodeRevert(err, ...CONTRACT_INTERFACES);
  if (!revert) return err;
  return ApplicationFailure.create({
    type: revert.name === 'ERC20InsufficientBalance' ? ZansocErrorType.InsufficientFunds : ZansocErrorType.EscrowFailed,
    nonRetryable: true,
    message: `${doing} reverted: ${revert.name}(${revert.args.map(String).join(', ')})`,
    cause: err instanceof Error ? err : undefined,
  });
}

/** The arguments of the first event `name` that the contract at `address` emitted in `logs` and `matches`, or null. */
export function eventIn(
  logs: readonly Log[],
  contract: { interface: Interface },
  address: string,
  name: string,
  matches: (args: unknown[]) => boolean,
): { args: unknown[]; txHash: string } | null {
  for (const log of logs) {
    if (log.address.toLowerCase() !== address.toLowerCase()) continue;
    const event = contract.interface.parseLog(log);
    if (event?.name !== name) continue;
    const args = event.args.toArray();
    if (matches(args)) return { args, txHash: log.transactionHash };
  }
  return null;
}

export function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ZansocErrorType.InvalidSpec, nonRetryable: true, message });
}

export function escrowFailed(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ZansocErrorType.EscrowFailed, nonRetryable: true, message });
}

export function decimal(value: unknown): string {
  return toBigInt(value as BigNumberish).toString();
}

export function parseDeadline(deadlineSeconds: number): void {
  if (!Number.isSafeInteger(deadlineSeconds) || deadlineSeconds <= 0) {
    throw invalid(`deadlineSeconds must be a positive whole number of Unix seconds, got ${deadlineSeconds}`);
  }
}

export function parseAmount(field: string, value: string): bigint {
  const parsed = tokenAmount.safeParse(value);
  if (!parsed.success) throw invalid(`${field}: ${parsed.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(value)})`);
  return BigInt(parsed.data);
}

export function parseAddress(field: string, value: string): string {
  try {
    return getAddress(value);
  } catch {
    throw invalid(`${field}: not an address (got ${JSON.stringify(value)})`);
  }
}
