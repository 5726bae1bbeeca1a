import { proxyActivities } from '@temporalio/workflow';
import type { OrchestratorActivities } from '../activities';
import { ZansocErrorType } from '../domain/errors';

/** The orchestrator's activities as every workflow calls them: one preset per kind of work. */

/** The read model (database): quick, retried until it answers. */
export const readModel = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds' },
});

/** The chain: slower; a client short of ZSC is not retried. */
export const chain = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '2 minutes',
  // The orchestrator's activities heartbeat while they run: a worker that died mid-transaction is noticed in seconds.
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: [ZansocErrorType.InsufficientFunds] },
});
