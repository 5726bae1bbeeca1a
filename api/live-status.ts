import { WorkflowNotFoundError } from '@temporalio/client';
import { TRPCError } from '@trpc/server';
import type { Context } from './context';

/** How long a status call waits for the workflow to answer its query before saying it cannot now. */
export const STATUS_QUERY_TIMEOUT_MS = 8_000;

/**
 * Asks a workflow for its live state. Only a worker can answer a query: when none does in time (no orchestrator
 * worker, or one whose workflow task keeps failing), the call is SERVICE_UNAVAILABLE (503) naming the field, instead of
 * hanging on Temporal's own timeout and failing with a 500.
 */
export async function queryLive<T>(ctx: Context, field: string, query: () => Promise<T>): Promise<T> {
  try {
    return await ctx.temporal.connection.withDeadline(Date.now() + STATUS_QUERY_TIMEOUT_MS, query);
  } catch (err) {
    throw new TRPCError({
      code: 'SERVICE_UNAVAILABLE',
      message: `${field}: its workflow did not answer within ${STATUS_QUERY_TIMEOUT_MS / 1000}s (is an orchestrator worker running?); try again`,
      cause: err,
    });
  }
}

/**
 * Signals a workflow that the read model says still runs. One that has ended meanwhile (its last write not read yet,
 * or ended from Temporal) answers CONFLICT (409) with `ended`, not a 500.
 */
export async function signalRunning(signal: () => Promise<void>, ended: string): Promise<void> {
  try {
    await signal();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new TRPCError({ code: 'CONFLICT', message: ended, cause: err });
    throw err;
  }
}
