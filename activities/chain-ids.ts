import { id } from 'ethers';

/** The escrow id of a job on chain: derived from the job id, so a retried step can look up whether it already happened. */
export function chainJobId(jobId: string): string {
  return id(`job:${jobId}`);
}
