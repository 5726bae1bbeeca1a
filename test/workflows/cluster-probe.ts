import { sleep, upsertSearchAttributes } from '@temporalio/workflow';
import { JOB_STATE } from '../../domain/search-attributes';

/** A workflow the cluster test runs: marks itself with a JobState, sleeps on a durable timer, and returns. */
export async function clusterProbe(input: { state: string; sleepMs: number }): Promise<string> {
  upsertSearchAttributes([{ key: JOB_STATE, value: input.state }]);
  if (input.sleepMs > 0) await sleep(input.sleepMs);
  return input.state;
}
