import { Context } from '@temporalio/activity';
import type Dockerode from 'dockerode';
import type { SlotExecution, SlotResult } from '../domain/execution';
import { runSandboxed } from '../host-worker/sandbox';
import { uploadBlob } from '../host-worker/staging-client';

export const DEFAULT_LOG_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;

export interface HostActivityDeps {
  docker: Dockerode;
  hostId: string;
  /** Parent of the per-execution /out folders. */
  workDir: string;
  logLimitBytes?: number;
  outputLimitBytes?: number;
}

/** Activities a host worker runs on its own task queue. */
export function createHostActivities({
  docker,
  hostId,
  workDir,
  logLimitBytes = DEFAULT_LOG_LIMIT_BYTES,
  outputLimitBytes = DEFAULT_OUTPUT_LIMIT_BYTES,
}: HostActivityDeps) {
  return {
    /**
     * Runs one slot in the sandbox and stores its logs and output archive in staging; only their digests go back
     * through Temporal. A retry finds the container of an earlier attempt instead of starting the job again.
     */
    async executeSlot(exec: SlotExecution): Promise<SlotResult> {
      const context = Context.current();
      const signal = context.cancellationSignal;
      const { result, logs, outputArchive } = await runSandboxed(docker, exec, {
        hostId,
        workDir,
        logLimitBytes,
        outputLimitBytes,
        signal,
        onProgress: (progress) => context.heartbeat(progress),
      });
      await Promise.all([uploadBlob(exec.stagingUrl, logs, signal), uploadBlob(exec.stagingUrl, outputArchive, signal)]);
      return result;
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;
