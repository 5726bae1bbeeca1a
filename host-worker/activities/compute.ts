import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type Dockerode from 'dockerode';
import { uncoveredResource } from '../../domain/capabilities';
import { ZansocErrorType } from '../../domain/errors';
import type { SlotExecution, SlotResult } from '../../domain/execution';
import { describeShortfalls, ResourceLedger, type ResourceOffer } from '../ledger';
import { runSandboxed, type SandboxProgress } from '../sandbox';
import { sealTo } from '../../runtime/sealed-box';
import { downloadBlob, uploadBlob, type StagingAuth } from '../../runtime/staging-client';
import type { HostMetrics } from '../../metrics/registry';
import { COMMITMENT_TYPES, commitmentOf, RESULT_TYPES, resultDomain, resultMessage, type SignedCommitment, type SlotReveal } from '../../domain/sealed-result';
import type { HostActivities } from './types';

export const DEFAULT_LOG_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;

export interface HostActivityDeps {
  docker: Dockerode;
  hostId: string;
  /** Parent of the per-execution slot folders. */
  workDir: string;
  /** The images this host runs, as it advertises them (`name@sha256:<digest>`, host-worker/images.ts). */
  allowedImages: readonly string[];
  /** Slot folders on filesystems of their own (true unless set; SLOT_DISK_QUOTA=off). */
  diskQuota?: boolean;
  /** What the operator shares: no slot may ask for more, and all running slots together hold at most this. */
  offer: ResourceOffer;
  /** The host's ledger of what running slots hold; one is made from `offer` when none is given. */
  ledger?: ResourceLedger;
  logLimitBytes?: number;
  outputLimitBytes?: number;
  /** Where the host counts its slots and capacity (served at /metrics). */
  metrics?: HostMetrics;
  /** The host's key: its reads of inputs and writes of outputs in staging are signed with it. */
  staging?: StagingAuth;
  /** How the host seals its results (its key); a host without it answers only executeSlot. */
  seal?: ResultSealing;
  /** Fires when a draining host's grace runs out: the slots still running are stopped and handed back. */
  leaving?: AbortSignal;
}

/** How often a slot heartbeats, from its start to its end (the workflow allows 10 s between beats). */
const SLOT_KEEPALIVE_MS = 2_000;

/** The host's key as sealing needs it: an ethers Wallet is one. */
export interface ResultSigner {
  readonly address: string;
  signTypedData(domain: ReturnType<typeof resultDomain>, types: Record<string, { name: string; type: string }[]>, value: Record<string, unknown>): Promise<string>;
}

export interface ResultSealing {
  signer: ResultSigner;
  chainId: number;
  /** Where sealed results wait for their reveal: they outlive a restart of the host, as the slot's workflow does. */
  dir: string;
}

export interface HostRuntime {
  activities: HostActivities;
  /** What the running slots hold and what is left of the offer, e.g. for heartbeats; reconcile counts adopted containers in it. */
  ledger: ResourceLedger;
}

/** The host's activities and the ledger they book resources in. */
export function createHostRuntime(deps: HostActivityDeps): HostRuntime {
  const ledger = deps.ledger ?? new ResourceLedger(deps.offer);
  const { metrics, hostId, offer } = deps;
  if (metrics) {
    const capacity = { cpu: offer.cpus, memory_mib: offer.memoryMiB, disk_mib: offer.diskMiB, gpu: offer.gpus, slots: offer.maxSlots };
    for (const [resource, value] of Object.entries(capacity)) metrics.capacity.set({ host: hostId, resource }, value);
    metrics.readUsageFrom(() => {
      const u = ledger.usage();
      return { host: hostId, values: { cpu: u.cpu, memory_mib: u.memoryMiB, disk_mib: u.diskMiB, gpu: u.gpu, slots: u.slots } };
    });
  }
  return { activities: createHostActivities({ ...deps, ledger }), ledger };
}

interface SealedRecord {
  jobId: string;
  result: SlotResult;
  salt: string;
  commitment: string;
}

/**
 * How long a sealed result waits for its reveal before the host throws it away: longer than any round of a job can
 * take (a queue timeout and the slot's attempts, each at most a day), with room to spare.
 */
export const SEALED_RESULT_MAX_AGE_MS = 14 * 24 * 3600_000;

/** Removes sealed results older than `maxAgeMs` from `dir` (a host does this at start); returns how many went. */
export async function pruneSealedResults(dir: string, maxAgeMs = SEALED_RESULT_MAX_AGE_MS, nowMs = Date.now()): Promise<number> {
  const names = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  let removed = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    const { mtimeMs } = await fs.stat(file);
    if (nowMs - mtimeMs > maxAgeMs) {
      await fs.rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}

/**
 * Commit and reveal around a way to run a slot: the run's result and a fresh salt are kept on the host's disk, only the
 * signed commitment goes back; the reveal reads them back and signs the result. A retried commit finds the sealed
 * result of the first one instead of running the slot again.
 */
export function sealResults(execute: HostActivities['executeSlot'], { signer, chainId, dir }: ResultSealing): Pick<HostActivities, 'commitSlot' | 'revealSlot'> {
  const fileOf = (executionId: string) => path.join(dir, `${createHash('sha256').update(executionId).digest('hex')}.json`);
  const read = async (executionId: string): Promise<SealedRecord | null> => {
    try {
      return JSON.parse(await fs.readFile(fileOf(executionId), 'utf8')) as SealedRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  };
  const signCommitment = async (executionId: string, record: SealedRecord): Promise<SignedCommitment> => ({
    executionId, commitment: record.commitment,
    signature: await signer.signTypedData(resultDomain(chainId), COMMITMENT_TYPES, { jobId: record.jobId, executionId, commitment: record.commitment }),
  });
  return {
    async commitSlot(exec) {
      const sealed = await read(exec.executionId);
      if (sealed) return signCommitment(exec.executionId, sealed);
      const result = await execute(exec);
      const salt = `0x${randomBytes(32).toString('hex')}`;
      const record: SealedRecord = { jobId: exec.jobId, result, salt, commitment: commitmentOf(result.resultDigest, signer.address, salt) };
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      // Written whole or not at all: a crash mid-write leaves no half record to reveal.
      const file = fileOf(exec.executionId);
      await fs.writeFile(`${file}.tmp`, JSON.stringify(record), { mode: 0o600 });
      await fs.rename(`${file}.tmp`, file);
      return signCommitment(exec.executionId, record);
    },
    async revealSlot({ jobId, executionId }): Promise<SlotReveal> {
      const sealed = await read(executionId);
      if (!sealed || sealed.jobId !== jobId) {
        throw ApplicationFailure.create({ type: ZansocErrorType.NothingToReveal, nonRetryable: true, message: `no sealed result of execution ${executionId} of job ${jobId} on this host` });
      }
      const signature = await signer.signTypedData(resultDomain(chainId), RESULT_TYPES, resultMessage(jobId, executionId, sealed.commitment, sealed.result));
      return { result: sealed.result, salt: sealed.salt, signature };
    },
  };
}

/**
 * Uploads a slot's logs or output archive for its job, sealed to the client's key when the slot names one: staging
 * holds ciphertext only the client opens, and the digest voted on stays the plaintext's.
 */
async function stageResult(
  exec: SlotExecution, kind: 'output' | 'logs', plaintext: Buffer, plaintextSha256: string, auth: StagingAuth | undefined, signal: AbortSignal,
): Promise<void> {
  const data = exec.recipientPublicKey ? sealTo(exec.recipientPublicKey, plaintext) : plaintext;
  await uploadBlob(exec.stagingUrl, data, { auth, signal, bind: auth ? { jobId: exec.jobId, kind, plaintextSha256 } : undefined });
}

/** The compute activities a host worker runs on its own task queue. */
export function createHostActivities({
  docker,
  hostId,
  workDir,
  allowedImages,
  diskQuota,
  offer,
  ledger = new ResourceLedger(offer),
  logLimitBytes = DEFAULT_LOG_LIMIT_BYTES,
  outputLimitBytes = DEFAULT_OUTPUT_LIMIT_BYTES,
  metrics,
  seal,
  staging,
  leaving,
}: HostActivityDeps): HostActivities {
  const run: Pick<HostActivities, 'executeSlot'> = {
    /**
     * Runs one slot in the sandbox and stores its logs and output archive in staging; only their digests go back
     * through Temporal. A retry finds the container of an earlier attempt instead of starting the job again.
     * Work the offer does not cover is refused for good before any container exists; work that does not fit beside
     * the slots already running is refused for now (HostBusy, retried).
     */
    async executeSlot(exec: SlotExecution): Promise<SlotResult> {
      const uncovered = uncoveredResource(exec.resources, offer);
      if (uncovered) {
        throw ApplicationFailure.create({
          type: ZansocErrorType.CapabilityMismatch,
          message: `host ${hostId} does not offer what slot ${exec.executionId} needs: ${uncovered}`,
          nonRetryable: true,
        });
      }
      // Keyed by execution: a retry adopting its container shares the reservation instead of booking the slot twice.
      const reservation = ledger.reserve(exec.executionId, exec.resources);
      if (!reservation.granted) {
        throw ApplicationFailure.create({
          type: ZansocErrorType.HostBusy,
          message: `host ${hostId} has no room for slot ${exec.executionId} right now: ${describeShortfalls(reservation.short)}`,
          nonRetryable: false,
        });
      }
      const context = Context.current();
      // Alive for the whole slot, not only while the container runs: fetching inputs, creating the container and
      // staging the result can take longer than the heartbeat timeout on a loaded host or API, and a slot that
      // stops heartbeating is lost and re-matched (seen with 1,000 hosts heartbeating to one API).
      let progress: SandboxProgress | undefined;
      const keepAlive = setInterval(() => context.heartbeat(progress), SLOT_KEEPALIVE_MS);
      try {
        const signal = leaving ? AbortSignal.any([context.cancellationSignal, leaving]) : context.cancellationSignal;
        const { result, logs, outputArchive } = await runSandboxed(docker, exec, {
          hostId,
          workDir,
          allowedImages,
          diskQuota,
          logLimitBytes,
          outputLimitBytes,
          signal,
          reserveInputs: (bytes, adopted) => {
            const short = ledger.reserveInputs(exec.executionId, bytes, adopted);
            if (short.length > 0) {
              throw ApplicationFailure.create({
                type: ZansocErrorType.HostBusy,
                message: `host ${hostId} has no room for the input files of slot ${exec.executionId} right now: ${describeShortfalls(short)}`,
                nonRetryable: false,
              });
            }
          },
          fetchInput: (sha256) => downloadBlob(exec.stagingUrl, sha256, { auth: staging, signal }),
          onProgress: (latest) => {
            progress = latest;
            context.heartbeat(latest);
          },
        });
        await Promise.all([
          stageResult(exec, 'logs', logs, result.logsSha256, staging, signal),
          stageResult(exec, 'output', outputArchive, result.outputSha256, staging, signal),
        ]);
        metrics?.slots.inc({ host: hostId, outcome: result.timedOut ? 'timed_out' : result.exitCode === 0 ? 'succeeded' : 'failed' });
        metrics?.slotDuration.observe({ host: hostId }, result.durationMs / 1000);
        return result;
      } catch (err) {
        // A draining host's grace period ran out (or its worker's): hand the slot back so it is re-matched now, not retried here.
        const reason: unknown = Context.current().cancellationSignal.reason;
        if (leaving?.aborted || (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN')) {
          throw ApplicationFailure.create({
            type: ZansocErrorType.HostDraining,
            nonRetryable: true,
            message: `host ${hostId} is leaving; slot ${exec.executionId} goes back to be re-matched`,
          });
        }
        throw err;
      } finally {
        clearInterval(keepAlive);
        reservation.release();
      }
    },
  };
  const unsealed = async (): Promise<never> => {
    throw ApplicationFailure.create({ type: ZansocErrorType.CapabilityMismatch, nonRetryable: true, message: `host ${hostId} has no key to seal results with` });
  };
  return { ...run, ...(seal ? sealResults(run.executeSlot, seal) : { commitSlot: unsealed, revealSlot: unsealed }) };
}
