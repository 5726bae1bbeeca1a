import { proxyActivities } from '@temporalio/workflow';
import type { OrchestratorActivities } from '../../activities';
import type { ComputeJobInput } from '../../workflows';

/** computeJob with its first two steps swapped: the replay test expects Temporal to refuse it. */
const acts = proxyActivities<OrchestratorActivities>({ startToCloseTimeout: '30 seconds' });

export async function computeJob({ jobId, payment }: ComputeJobInput): Promise<void> {
  await acts.lockEscrow({ jobId, payment });
  await acts.recordJob({ jobId, state: 'QUEUED', stateReason: 'locking escrow' });
}
