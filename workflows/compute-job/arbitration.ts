import { condition } from '@temporalio/workflow';
import { ARBITERS, MAX_ARBITERS } from '../../domain/job-limits';
import type { JobRun } from './run-state';
import { runRound, type Slot } from './slots';
import { judge } from './votes';

export interface Dispute {
  /** The arbiters' finding against the provisional result; null when they could not agree. */
  upheld: boolean | null;
  arbiters: Slot[];
}

/**
 * Decides the challenges and a spot check that disagreed by re-running the job on fresh arbiter hosts: the
 * Truebit-style game by re-execution. Null when nobody disputed the result.
 */
export async function arbitrate(run: JobRun, provisionalDigest: string, spotCheckDisagreed: boolean): Promise<Dispute | null> {
  await condition(() => run.bonding === 0);
  const pending = run.status.challenges.filter((c) => c.state === 'PENDING');
  if (pending.length === 0 && !spotCheckDisagreed) return null;
  const by = [...pending.map((c) => c.verifierHostId), ...(spotCheckDisagreed ? ['the spot check'] : [])];
  await run.moveTo(run.status.state, `disputed by ${by.join(', ')}: re-running on fresh arbiter hosts`);
  const arbiters: Slot[] = await runRound(run, 'arbiter', ARBITERS);
  let arbitration = judge(arbiters);
  while (arbitration.kind === 'no-majority' && arbiters.length < MAX_ARBITERS) {
    arbiters.push(...(await runRound(run, 'arbiter', 1)));
    arbitration = judge(arbiters);
  }
  arbiters.sort((x, y) => x.status.replica - y.status.replica);
  const upheld = arbitration.kind === 'majority' ? arbitration.digest !== provisionalDigest : null;
  for (const c of pending) c.state = upheld === null ? 'UNRESOLVED' : upheld ? 'UPHELD' : 'REJECTED';
  run.note(`dispute ${upheld === null ? 'unresolved: the arbiters did not agree' : upheld ? 'upheld' : 'rejected'}`);
  return { upheld, arbiters };
}
