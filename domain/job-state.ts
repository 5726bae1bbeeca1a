/** The states a compute job moves through, as the client sees them. */
export const JOB_STATES = ['SUBMITTED', 'QUEUED', 'RUNNING', 'PROVISIONAL', 'SETTLING', 'SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELLED'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINAL_JOB_STATES: readonly JobState[] = ['SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELLED'];
export const isFinalJobState = (state: string): boolean => (FINAL_JOB_STATES as readonly string[]).includes(state);
