import type { OrchestratorMetrics } from '../metrics/registry';
import { zsc } from '../metrics/registry';
import type { OrchestratorActivities } from '.';

/** Activities that step on the chain: their latency and failures are the chain's. */
const CHAIN_OPERATIONS = new Set([
  'lockEscrow', 'bondHostStake', 'settleJob', 'settleJobBatch', 'treasuryAddress', 'fundClient', 'depositStorageDeal',
  'bondStorageHost', 'releaseStoragePeriod', 'slashStorageHost', 'releaseStorageBond', 'endStorageDeal',
]);

/** Times every orchestrator activity and counts what settlements moved, for /metrics. */
export function metered(activities: OrchestratorActivities, metrics: OrchestratorMetrics): OrchestratorActivities {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = async (...args: unknown[]) => {
      const stopActivity = metrics.activityDuration.startTimer({ activity: name });
      const stopChain = CHAIN_OPERATIONS.has(name) ? metrics.chainDuration.startTimer({ operation: name }) : null;
      try {
        return await fn(...args);
      } catch (err) {
        metrics.activityFailures.inc({ activity: name });
        if (stopChain) metrics.chainFailures.inc({ operation: name });
        throw err;
      } finally {
        stopActivity();
        stopChain?.();
      }
    };
  }
  const metered = wrapped as OrchestratorActivities;
  const settle = metered.settleJob;
  metered.settleJob = async (input) => {
    const result = await settle(input);
    if (!result.alreadySettled) {
      metrics.payouts.inc(zsc(result.paidToHosts));
      metrics.commission.inc(zsc(result.commission));
      metrics.refunds.inc(zsc(result.refunded));
      for (const s of input.slashes ?? []) {
        metrics.slashes.inc();
        metrics.slashed.inc(zsc(s.amount));
      }
    }
    return result;
  };
  const release = metered.releaseStoragePeriod;
  metered.releaseStoragePeriod = async (input) => {
    const result = await release(input);
    if (!result.alreadyReleased) {
      metrics.payouts.inc(zsc(result.paidToHosts));
      metrics.commission.inc(zsc(result.commission));
    }
    return result;
  };
  const end = metered.endStorageDeal;
  metered.endStorageDeal = async (input) => {
    const result = await end(input);
    if (!result.alreadyEnded) metrics.refunds.inc(zsc(result.refunded));
    return result;
  };
  const slashStorage = metered.slashStorageHost;
  metered.slashStorageHost = async (input) => {
    const result = await slashStorage(input);
    if (!result.alreadySlashed) {
      metrics.slashes.inc();
      metrics.slashed.inc(zsc(input.amount));
    }
    return result;
  };
  return metered;
}
