import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { OrchestratorActivities } from '../activities';
import { ZansocErrorType } from '../domain/errors';

/** The orchestrator's activities as every workflow calls them: one preset per kind of work. */

/** The read model (database): quick, retried until it answers. */
export const readModel = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds' },
});

/**
 * The job's row in the read model, written from inside the workflow task that moves it (a local activity): no
 * activity task to dispatch and no workflow task to wake afterwards, for a write of a few ms. The same upsert, run
 * again after a crash, writes the same row.
 */
export const localReadModel = proxyLocalActivities<Pick<OrchestratorActivities, 'recordJob'>>({
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
