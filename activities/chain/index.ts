import type { ChainClient } from './client';
import { createJobEscrowActivities } from './job-escrow';
import { createStorageEscrowActivities } from './storage-escrow';
import { createTokenActivities } from './token';

export type * from './host-registry';
export type * from './job-escrow';
export type * from './storage-escrow';
export type * from './token';

/**
 * Every write to the chain, one module per contract. Each is keyed by the job, deal or fault, reads whether its step
 * already happened on chain before sending (`sendOnce`), and so is safe to retry; money crosses in and out as
 * decimal strings. Workflows' histories record these activity names: they must not change.
 */
export function createChainActivities({ chain }: { chain: ChainClient }) {
  return {
    ...createJobEscrowActivities({ chain }),
    ...createTokenActivities({ chain }),
    ...createStorageEscrowActivities({ chain }),
  };
}
