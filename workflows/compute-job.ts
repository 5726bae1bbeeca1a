import { ActivityFailure, ApplicationFailure, defineQuery, patched, proxyActivities, setHandler, sleep, log } from '@temporalio/workflow';
import type { OrchestratorActivities } from '../activities';
import type { HostActivities } from '../activities/host';
import { ZansocErrorType } from '../domain/errors';
import { hostTaskQueue, type SlotExecution, type SlotResult } from '../domain/execution';
import type { JobSpec } from '../domain/job-spec';
import type { JobState } from '../domain/job-state';
import { explainWait, rankHosts, type HostCandidate } from '../domain/matching';
import { hostBondFor, priceRun } from '../domain/money';

export interface ComputeJobInput {
  jobId: string;
  spec: JobSpec;
  /** Where hosts upload logs and output (the API's staging store). */
  stagingUrl: string;
}

export interface JobStatus {
  state: JobState;
  reason: string | null;
  hostId: string | null;
  result: SlotResult | null;
  escrowed: string;
  paidToHosts: string;
  commission: string;
  refunded: string;
}

export const jobStatusQuery = defineQuery<JobStatus>('jobStatus');

/** How long a job waits for a fitting host before it fails and is refunded. */
const QUEUE_TIMEOUT_MS = 10 * 60_000;
const MATCH_POLL = '2 seconds';
/** Hosts a slot may be tried on before the job fails (a host that vanishes loses the slot). */
const MAX_SLOT_ATTEMPTS = 3;
/** The client can take its escrow back on chain this long after the job would have ended, even with no orchestrator. */
const ESCROW_DEADLINE_SLACK_S = 24 * 3600;

const readModel = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds' },
});
const chain = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: [ZansocErrorType.InsufficientFunds] },
});

/** The slot's activity runs on the chosen host's own queue; a host that stops heartbeating loses it. */
function onHost(hostId: string, spec: JobSpec) {
  return proxyActivities<HostActivities>({
    taskQueue: hostTaskQueue(hostId),
    scheduleToStartTimeout: '1 minute',
    startToCloseTimeout: `${spec.timeoutSeconds + 120} seconds`,
    heartbeatTimeout: '10 seconds',
    retry: {
      maximumAttempts: 2,
      nonRetryableErrorTypes: [ZansocErrorType.ImageNotFound, ZansocErrorType.OutputTooLarge, ZansocErrorType.CapabilityMismatch, ZansocErrorType.HostDraining],
    },
  });
}

export async function computeJob({ jobId, spec, stagingUrl }: ComputeJobInput): Promise<JobStatus> {
  const status: JobStatus = {
    state: 'QUEUED', reason: null, hostId: null, result: null, escrowed: '0', paidToHosts: '0', commission: '0', refunded: '0',
  };
  setHandler(jobStatusQuery, () => status);

  async function moveTo(state: JobState, reason: string | null, extra: Partial<Parameters<OrchestratorActivities['recordJob']>[0]> = {}) {
    status.state = state;
    status.reason = reason;
    await readModel.recordJob({ jobId, state, stateReason: reason, ...extra });
  }

  await moveTo('QUEUED', 'locking escrow');
  const deadlineSeconds = Math.floor(Date.now() / 1000) + spec.timeoutSeconds + QUEUE_TIMEOUT_MS / 1000 + ESCROW_DEADLINE_SLACK_S;
  try {
    await chain.lockEscrow({ jobId, amount: spec.maxPrice, deadlineSeconds });
  } catch (err) {
    const reason = `escrow refused: ${failureMessage(err)}`;
    await moveTo('REJECTED', reason, { finishedAt: new Date().toISOString() });
    return status;
  }
  status.escrowed = spec.maxPrice;

  const tried: string[] = [];
  let outcome: { host: HostCandidate; result: SlotResult } | { error: string } = { error: 'no host was tried' };
  while (tried.length < MAX_SLOT_ATTEMPTS) {
    const host = await waitForHost(spec, tried, (reason) => moveTo('QUEUED', reason));
    if (!host) {
      outcome = { error: tried.length ? (outcome as { error: string }).error : 'no host fitted the job before the queue timeout' };
      break;
    }
    tried.push(host.id);
    // A host puts stake behind the slot before it runs; the bond comes back at settlement unless it is slashed.
    if (patched('bond-host-stake')) {
      try {
        await chain.bondHostStake({ jobId, host: host.address, amount: hostBondFor(spec.maxPrice) });
      } catch (err) {
        outcome = { error: `host ${host.id} could not bond stake: ${failureMessage(err)}` };
        log.warn('host could not bond, re-matching', { jobId, hostId: host.id, error: failureMessage(err) });
        continue;
      }
    }
    status.hostId = host.id;
    await moveTo('RUNNING', null, { hostId: host.id, startedAt: new Date().toISOString() });
    const slot: SlotExecution = {
      executionId: `job-${jobId}/slot-0/attempt-${tried.length}`,
      jobId, image: spec.image, command: spec.command, env: spec.env, resources: spec.resources,
      timeoutSeconds: spec.timeoutSeconds, stagingUrl,
    };
    try {
      outcome = { host, result: await onHost(host.id, spec).executeSlot(slot) };
      break;
    } catch (err) {
      outcome = { error: `host ${host.id}: ${failureMessage(err)}` };
      if (isJobFault(err)) break;
      log.warn('slot lost, re-matching', { jobId, hostId: host.id, error: failureMessage(err) });
    }
  }

  await moveTo('SETTLING', null);
  const payouts = 'result' in outcome
    ? [{ host: outcome.host.address, amount: priceRun({ ...outcome.host, ...spec.resources, durationMs: outcome.result.durationMs, maxPrice: spec.maxPrice }) }]
    : [];
  const settlement = await chain.settleJob({ jobId, payouts });
  Object.assign(status, { paidToHosts: settlement.paidToHosts, commission: settlement.commission, refunded: settlement.refunded });
  const money = { paidToHosts: settlement.paidToHosts, commission: settlement.commission, refunded: settlement.refunded };
  const finishedAt = new Date().toISOString();

  if ('error' in outcome) {
    await moveTo('FAILED', outcome.error, { ...money, finishedAt });
    return status;
  }
  const { result } = outcome;
  status.result = result;
  const reason = result.timedOut ? `killed after the ${spec.timeoutSeconds}s timeout`
    : result.oomKilled ? `killed: out of memory (limit ${spec.resources.memoryMiB} MiB)`
    : result.exitCode !== 0 ? `exited with code ${result.exitCode}` : null;
  await moveTo(reason ? 'FAILED' : 'SUCCEEDED', reason, {
    ...money, finishedAt, exitCode: result.exitCode, timedOut: result.timedOut,
    resultDigest: result.resultDigest, outputSha256: result.outputSha256, logsSha256: result.logsSha256,
  });
  return status;
}

/** Polls for the best fitting online host until one is free or the queue timeout passes, telling the client why it waits. */
async function waitForHost(spec: JobSpec, exclude: string[], tellWaiting: (reason: string) => Promise<void>): Promise<HostCandidate | null> {
  const giveUpAt = Date.now() + QUEUE_TIMEOUT_MS;
  let lastReason = '';
  for (;;) {
    const hosts = await readModel.listOnlineHosts();
    const [best] = rankHosts(hosts, spec.resources, exclude);
    if (best) return best;
    if (Date.now() >= giveUpAt) return null;
    const reason = explainWait(hosts, spec.resources, exclude);
    if (reason !== lastReason) await tellWaiting(reason);
    lastReason = reason;
    await sleep(MATCH_POLL);
  }
}

/** Failures that are the job's own (bad image, too much output): trying another host would not help. */
function isJobFault(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && (cause.type === ZansocErrorType.ImageNotFound || cause.type === ZansocErrorType.OutputTooLarge);
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
