import type { Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { Database } from '../db/client';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/execution';

/**
 * How long after its last poll a poller still counts as there. An idle worker's long poll lasts up to a minute
 * before it polls again, and Temporal lists a poller that is gone (killed, or every slot busy) for five minutes,
 * with its last poll's time: so a poller is gone once that time is older than a minute and some slack.
 */
export const POLLER_MAX_AGE_MS = 75_000;

const TASK_KINDS = [
  { type: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, name: 'workflow tasks' },
  { type: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, name: 'activity tasks' },
];

/**
 * What keeps the API from serving its calls, each naming the part: the database, Temporal, and an orchestrator
 * worker polling the orchestrator task queue for workflow and for activity tasks. Empty when ready.
 */
export async function readinessProblems(deps: { db: Database; temporal: Client }, now = Date.now()): Promise<string[]> {
  const problems: string[] = [];
  await deps.db.$queryRawUnsafe('SELECT 1').catch((err: Error) => problems.push(`database: ${err.message}`));
  const service = deps.temporal.connection.workflowService;
  const temporalUp = await service.getSystemInfo({}).then(() => true, (err: Error) => {
    problems.push(`temporal: ${err.message}`);
    return false;
  });
  if (!temporalUp) return problems;
  for (const kind of TASK_KINDS) {
    const described = await service
      .describeTaskQueue({ namespace: deps.temporal.options.namespace, taskQueue: { name: ORCHESTRATOR_TASK_QUEUE }, taskQueueType: kind.type })
      .catch((err: Error) => err);
    if (described instanceof Error) {
      problems.push(`temporal: describing task queue ${ORCHESTRATOR_TASK_QUEUE}: ${described.message}`);
      continue;
    }
    const pollers = described.pollers.map((p) => ({ identity: p.identity ?? '?', at: optionalTsToMs(p.lastAccessTime) ?? 0 }));
    if (pollers.some((p) => now - p.at <= POLLER_MAX_AGE_MS)) continue;
    const last = pollers.sort((a, b) => b.at - a.at)[0];
    problems.push(
      `orchestrator worker: nothing polls task queue ${ORCHESTRATOR_TASK_QUEUE} for ${kind.name}` +
        (last ? ` (last poll ${Math.round((now - last.at) / 1000)} s ago, by ${last.identity})` : ''),
    );
  }
  return problems;
}
