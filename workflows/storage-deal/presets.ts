import { proxyActivities } from '@temporalio/workflow';
import type { OrchestratorActivities } from '../../activities';
import type { StorageHostActivities } from '../../host-worker/activities/types';
import { ZansocErrorType } from '../../domain/errors';
import { PROOF_DEADLINE_MS } from '../../domain/storage';
import { onHost } from '../common';

/** The activities a storage deal calls beyond the shared presets: its checks of replicas, and its hosts' storage work. */

/** Checks of a replica against the staged data, on the orchestrator; a corrupt replica is not retried. */
export const checks = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [ZansocErrorType.ReplicaCorrupt] },
});

/**
 * Storage work pinned to one host, on its own queue. A host that does not answer soon is at fault; a proof has
 * PROOF_DEADLINE_MS from the moment the host takes the challenge, too little to seal a chunk again.
 */
export function storageHost(hostId: string, work: 'store' | 'prove' | 'serve' | 'delete') {
  return onHost<StorageHostActivities>(hostId, {
    scheduleToStartTimeout: '20 seconds',
    startToCloseTimeout: work === 'store' ? '30 minutes' : work === 'prove' ? PROOF_DEADLINE_MS : '1 minute',
    heartbeatTimeout: work === 'store' ? '30 seconds' : undefined,
    retry: { maximumAttempts: work === 'prove' ? 1 : 2, nonRetryableErrorTypes: [ZansocErrorType.ReplicaMissing] },
  });
}
