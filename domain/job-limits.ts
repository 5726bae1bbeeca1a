import { extraReplicasFor, MAX_TIMEOUT_SECONDS, type JobSpec } from './job-spec';

/** How far a compute job may go, and so how long its escrow must stay out of the client's and hosts' reach. */

/** Hosts a slot may be tried on before it fails (a host that vanishes loses the slot). */
export const MAX_SLOT_ATTEMPTS = 3;
/** Fresh hosts that re-run a challenged job; one more when they disagree. */
export const ARBITERS = 2;
export const MAX_ARBITERS = 3;
/** How long a matched host has to pick its slot up, and how often a slot's run is tried on one host. */
export const SLOT_START_SECONDS = 20;
export const SLOT_RUN_ATTEMPTS = 2;
/** What a host may take beyond the job's timeout to start, upload and report (the activity's start-to-close slack). */
export const SLOT_SLACK_SECONDS = 120;
/** The longest one slot's activity can hold a host: starting, the longest timeout, then uploading and reporting. */
export const MAX_SLOT_ACTIVITY_SECONDS = SLOT_START_SECONDS + MAX_TIMEOUT_SECONDS + SLOT_SLACK_SECONDS;
/** Beyond the worst case: the orchestrator may be down a day and still settle before anyone can reclaim. */
export const ESCROW_DEADLINE_SLACK_SECONDS = 24 * 3600;

/**
 * The longest a job can run before it settles, in seconds: every slot on its last host after waiting the whole queue
 * timeout each time, its test runs, the extra replicas one after another, a spot check, the challenge window and the
 * arbitration after it. The escrow's reclaim deadline is past it, so that no client and no bonded host can take money
 * back while the job may still settle (an accused host reclaiming mid-window would make the settlement revert).
 */
export function worstCaseJobSeconds(spec: Pick<JobSpec, 'replicas' | 'timeoutSeconds' | 'queueTimeoutSeconds' | 'challengeWindowSeconds' | 'tests'>): number {
  const runsPerHost = spec.tests.length > 0 ? 2 : 1;
  const attempt = spec.queueTimeoutSeconds + runsPerHost * SLOT_RUN_ATTEMPTS * (SLOT_START_SECONDS + spec.timeoutSeconds + SLOT_SLACK_SECONDS);
  const slot = MAX_SLOT_ATTEMPTS * attempt;
  // Replicas run side by side; extra replicas, a spot check and the third arbiter each come after the one before.
  const slotsInTurn = 1 + extraReplicasFor(spec.replicas) + (spec.replicas === 1 ? 1 : 0) + (1 + MAX_ARBITERS - ARBITERS);
  return slotsInTurn * slot + spec.challengeWindowSeconds;
}

/** The escrow's deadline (Unix seconds) for a job opened at `nowMs`. */
export function jobEscrowDeadlineSeconds(spec: Parameters<typeof worstCaseJobSeconds>[0], nowMs: number): number {
  return Math.floor(nowMs / 1000) + worstCaseJobSeconds(spec) + ESCROW_DEADLINE_SLACK_SECONDS;
}
