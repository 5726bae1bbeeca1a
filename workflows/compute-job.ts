import { ActivityFailure, ApplicationFailure, defineQuery, patched, proxyActivities, setHandler, sleep, log } from '@temporalio/workflow';
import type { OrchestratorActivities } from '../activities';
import type { HostActivities } from '../activities/host';
import { ZansocErrorType } from '../domain/errors';
import { hostTaskQueue, type SlotExecution, type SlotResult } from '../domain/execution';
import { escrowFor, extraReplicasFor, type JobSpec } from '../domain/job-spec';
import type { JobState } from '../domain/job-state';
import { explainWait, rankHosts, type HostCandidate } from '../domain/matching';
import { hostBondFor, priceRun } from '../domain/money';
import { majorityVerdict } from '../domain/verification';

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
  /** Per replica: where it ran, how it stands, what it reported. */
  replicas: ReplicaStatus[];
}

export interface ReplicaStatus {
  replica: number;
  hostId: string | null;
  state: 'QUEUED' | 'RUNNING' | 'DONE' | 'FAILED';
  resultDigest: string | null;
  /** What settlement assigned this replica's host before commission, in ZSC base units ('0' when it lost or failed). */
  payout: string;
  /** Stake this replica's host lost for a digest that lost the vote. */
  slashed: string;
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

/** One replica's end: the host that ran it and its result, or why no host could. */
type ReplicaOutcome = { host: HostCandidate; result: SlotResult } | { error: string };

export async function computeJob({ jobId, spec: submitted, stagingUrl }: ComputeJobInput): Promise<JobStatus> {
  // Jobs started before specs had `replicas` ran one replica.
  const spec: JobSpec = { ...submitted, replicas: submitted.replicas ?? 1 };
  const status: JobStatus = {
    state: 'QUEUED', reason: null, hostId: null, result: null, escrowed: '0', paidToHosts: '0', commission: '0', refunded: '0',
    replicas: [],
  };
  setHandler(jobStatusQuery, () => status);

  async function moveTo(state: JobState, reason: string | null, extra: Partial<Parameters<OrchestratorActivities['recordJob']>[0]> = {}) {
    status.state = state;
    status.reason = reason;
    await readModel.recordJob({ jobId, state, stateReason: reason, ...extra });
  }

  await moveTo('QUEUED', 'locking escrow');
  const escrow = escrowFor(spec);
  const deadlineSeconds = Math.floor(Date.now() / 1000) + spec.timeoutSeconds + QUEUE_TIMEOUT_MS / 1000 + ESCROW_DEADLINE_SLACK_S;
  try {
    await chain.lockEscrow({ jobId, amount: escrow, deadlineSeconds });
  } catch (err) {
    const reason = `escrow refused: ${failureMessage(err)}`;
    await moveTo('REJECTED', reason, { finishedAt: new Date().toISOString() });
    return status;
  }
  status.escrowed = escrow;

  // Every host that has held a replica of this job: replicas always run on distinct hosts.
  const used: string[] = [];

  /** Runs one replica: match, bond, execute; a host that fails or leaves loses it and it is re-matched. */
  async function runReplica(replica: number): Promise<ReplicaOutcome> {
    const slot: ReplicaStatus = { replica, hostId: null, resultDigest: null, state: 'QUEUED', payout: '0', slashed: '0' };
    status.replicas.push(slot);
    let attempts = 0;
    let outcome: ReplicaOutcome = { error: 'no host fitted the job before the queue timeout' };
    while (attempts < MAX_SLOT_ATTEMPTS) {
      const host = await waitForHost(spec, used, (reason) => moveTo('QUEUED', reason));
      if (!host) break;
      attempts++;
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
      Object.assign(slot, { hostId: host.id, state: 'RUNNING' });
      // The job's host, as the read model shows it, is the first replica's.
      if (replica === 0 || status.hostId === null) status.hostId = host.id;
      await moveTo('RUNNING', null, { hostId: status.hostId, startedAt: new Date().toISOString() });
      const execution: SlotExecution = {
        // The first replica keeps the name single-replica jobs always had.
        executionId: replica === 0 ? `job-${jobId}/slot-0/attempt-${attempts}` : `job-${jobId}/replica-${replica}/attempt-${attempts}`,
        jobId, image: spec.image, command: spec.command, env: spec.env, resources: spec.resources,
        timeoutSeconds: spec.timeoutSeconds, stagingUrl,
      };
      try {
        const result = await onHost(host.id, spec).executeSlot(execution);
        Object.assign(slot, { resultDigest: result.resultDigest, state: 'DONE' });
        return { host, result };
      } catch (err) {
        outcome = { error: `host ${host.id}: ${failureMessage(err)}` };
        if (isJobFault(err)) break;
        log.warn('slot lost, re-matching', { jobId, hostId: host.id, error: failureMessage(err) });
      }
    }
    slot.state = 'FAILED';
    return outcome;
  }

  const outcomes = await Promise.all(Array.from({ length: spec.replicas }, (_, i) => runReplica(i)));
  let verdict = judge(outcomes);
  // No strict majority: one more replica on a fresh host at a time, up to the cap the escrow covers.
  while (verdict.kind === 'no-majority' && outcomes.length < spec.replicas + extraReplicasFor(spec.replicas)) {
    outcomes.push(await runReplica(outcomes.length));
    verdict = judge(outcomes);
  }

  await moveTo('SETTLING', null);
  const ran = outcomes
    .map((o, i) => ({ ...o, slot: status.replicas[i] }))
    .filter((o): o is { host: HostCandidate; result: SlotResult; slot: ReplicaStatus } => 'result' in o);
  const winners = verdict.kind === 'majority' ? ran.filter((o) => o.result.resultDigest === verdict.digest) : [];
  const cheaters = verdict.kind === 'majority' ? ran.filter((o) => o.result.resultDigest !== verdict.digest) : [];
  const payouts = winners.map(({ host, result, slot }) => {
    slot.payout = priceRun({ ...host, ...spec.resources, durationMs: result.durationMs, maxPrice: spec.maxPrice });
    return { host: host.address, amount: slot.payout };
  });
  // A host whose digest lost the vote loses its bond to the treasury.
  const treasury = cheaters.length ? await chain.treasuryAddress() : '';
  const slashes = cheaters.map(({ host, slot }) => {
    slot.slashed = hostBondFor(spec.maxPrice);
    return { host: host.address, recipient: treasury, amount: slot.slashed };
  });
  const settlement = await chain.settleJob(slashes.length ? { jobId, payouts, slashes } : { jobId, payouts });
  Object.assign(status, { paidToHosts: settlement.paidToHosts, commission: settlement.commission, refunded: settlement.refunded });
  const money = { paidToHosts: settlement.paidToHosts, commission: settlement.commission, refunded: settlement.refunded };
  const finishedAt = new Date().toISOString();

  if (winners.length === 0) {
    const only = outcomes.length === 1 && 'error' in outcomes[0] ? outcomes[0].error : null;
    await moveTo('FAILED', only ?? `no strict majority among ${outcomes.length} replicas: ${describeVotes(outcomes)}`, { ...money, finishedAt });
    return status;
  }
  const [{ host, result }] = winners;
  status.result = result;
  status.hostId = host.id;
  const reason = result.timedOut ? `killed after the ${spec.timeoutSeconds}s timeout`
    : result.oomKilled ? `killed: out of memory (limit ${spec.resources.memoryMiB} MiB)`
    : result.exitCode !== 0 ? `exited with code ${result.exitCode}` : null;
  await moveTo(reason ? 'FAILED' : 'SUCCEEDED', reason, {
    ...money, finishedAt, hostId: host.id, exitCode: result.exitCode, timedOut: result.timedOut,
    resultDigest: result.resultDigest, outputSha256: result.outputSha256, logsSha256: result.logsSha256,
  });
  return status;
}

/** The vote over every replica asked for: one that never ran counts as a vote for nothing. */
function judge(outcomes: ReplicaOutcome[]) {
  return majorityVerdict(outcomes.map((o, i) => ({
    hostId: 'host' in o ? o.host.id : `replica-${i}`,
    resultDigest: 'result' in o ? o.result.resultDigest : `none:${i}`,
  })));
}

function describeVotes(outcomes: ReplicaOutcome[]): string {
  return outcomes.map((o) => ('result' in o ? `${o.host.id}=${o.result.resultDigest.slice(0, 12)}` : o.error)).join(', ');
}

/**
 * Polls for the best fitting online host not in `exclude` until one is free or the queue timeout passes, telling the
 * client why it waits; the host found is added to `exclude`.
 */
async function waitForHost(spec: JobSpec, exclude: string[], tellWaiting: (reason: string) => Promise<void>): Promise<HostCandidate | null> {
  const giveUpAt = Date.now() + QUEUE_TIMEOUT_MS;
  let lastReason = '';
  for (;;) {
    const hosts = await readModel.listOnlineHosts();
    const [best] = rankHosts(hosts, spec.resources, exclude);
    if (best) {
      // Claimed before anything else runs: replicas matching at the same time must not pick the same host.
      exclude.push(best.id);
      return best;
    }
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
