import type { Resources } from './job-spec';

/** What the orchestrator asks one host to run: one slot of one job. Small: inputs and outputs travel over HTTP. */
export interface SlotExecution {
  /** Unique per slot and stable across retries, e.g. `job-<id>/slot-0`; names and labels the container. */
  executionId: string;
  jobId: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  resources: Resources;
  timeoutSeconds: number;
  /** Files mounted read-only under /in: path → sha256 of a staging blob. Absent in slots from before inputs. */
  inputs?: Record<string, string>;
  /** Base URL of the staging store the host uploads logs and output to (`PUT <url>/blobs/<sha256>`). */
  stagingUrl: string;
  /**
   * The client's secp256k1 public key (0x04…): the host seals the output archive and logs to it before uploading, so
   * only the client reads them. Digests stay those of the plaintext. Absent in slots from before sealing.
   */
  recipientPublicKey?: string;
}

/** What a host reports back. `resultDigest` is what replicas are compared by; logs and output are blobs in staging. */
export interface SlotResult {
  exitCode: number;
  timedOut: boolean;
  oomKilled: boolean;
  /** sha256 of the canonical tar archive of /out (sorted entries, fixed metadata). */
  outputSha256: string;
  outputBytes: number;
  /** sha256 over the output archive digest and the exit code: equal for honest replicas, byte for byte. */
  resultDigest: string;
  /** sha256 of the combined stdout/stderr (capped), stored in staging. */
  logsSha256: string;
  logsBytes: number;
  logsTruncated: boolean;
  durationMs: number;
}

/** The digest replicas agree on: output archive hash and exit code, nothing that depends on timing. */
export function resultDigestInput(outputSha256: string, exitCode: number): string {
  return `zansoc-result-v1\noutput=sha256:${outputSha256}\nexit=${exitCode}\n`;
}

/** Task queue of the work pinned to one host. */
export const hostTaskQueue = (hostId: string): string => `host.${hostId}`;

/**
 * Long polls a host worker holds on its queue at once. Zansoc's Temporal server sizes its limit on concurrent polls
 * (FRONTEND_LONG_POLLS in scripts/temporal-cluster.ts) by it.
 */
export const HOST_ACTIVITY_POLLS = 2;

export const ORCHESTRATOR_TASK_QUEUE = 'zansoc-orchestrator';
