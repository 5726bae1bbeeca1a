import { id } from 'ethers';

/** The escrow id of a job on chain: derived from the job id, so a retried step can look up whether it already happened. */
export function chainJobId(jobId: string): string {
  return id(`job:${jobId}`);
}

/** The escrow id of a storage deal on chain, derived from the deal id like a job's. */
export function chainDealId(dealId: string): string {
  return id(`deal:${dealId}`);
}

/** The on-chain id of one fault of a deal (e.g. `period-7/host-3`): a fault is slashed at most once. */
export function chainFaultId(faultKey: string): string {
  return id(`fault:${faultKey}`);
}
