import {
  ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, condition, defineQuery, defineSignal, defineUpdate,
  isCancellation, log, patched, proxyActivities, setHandler, sleep, TimeoutFailure, upsertSearchAttributes,
} from '@temporalio/workflow';
import type { OrchestratorActivities } from '../activities';
import { chain, readModel } from './presets';
import type { HostActivities } from '../activities/host';
import { ZansocErrorType } from '../domain/errors';
import { hostTaskQueue, type SlotExecution, type SlotResult } from '../domain/execution';
import { escrowFor, extraReplicasFor, type JobSpec } from '../domain/job-spec';
import type { JobState } from '../domain/job-state';
import { explainWait, operatorOf, rankHosts, type HostCandidate } from '../domain/matching';
import { hostBondFor, priceRun } from '../domain/money';
import { HOST_IDS, JOB_STATE } from '../domain/search-attributes';
import { disputeSlashes, lostSlotSlashes, type Slash } from '../domain/settlement';
import type { HostRecordEntry, SlotOutcome } from '../domain/reputation';
import { majorityVerdict } from '../domain/verification';

export interface ComputeJobInput {
  jobId: string;
  spec: JobSpec;
  /** Where hosts upload logs and output (the API's staging store). */
  stagingUrl: string;
  /** The share (0–1) of single-replica jobs re-run on a verifier host to check the result; the API's SPOT_CHECK_FRACTION. */
  spotCheckFraction?: number;
}

export interface ReplicaStatus {
  replica: number;
  /**
   * `replica` runs the job as asked; `verifier` re-runs a single-replica job as a spot check; `arbiter` re-runs it on a
   * fresh host to settle a challenge or a failed spot check.
   */
  role: 'replica' | 'verifier' | 'arbiter';
  hostId: string | null;
  state: 'QUEUED' | 'RUNNING' | 'DONE' | 'FAILED' | 'CANCELLED';
  resultDigest: string | null;
  /** What settlement assigned this slot's host before commission, in ZSC base units ('0' when it lost or failed). */
  payout: string;
  /** Stake this slot's host lost (a digest that lost the vote, or a lost dispute). */
  slashed: string;
  /** Hosts that held this slot and vanished (stopped heartbeating) before it finished. */
  lostBy: string[];
  /** Hosts that held this slot and gave a wrong digest for one of the client's test inputs: caught and slashed. */
  failedTestBy: string[];
}

export interface ChallengeStatus {
  verifierHostId: string;
  /** BONDING while its stake is locked; PENDING until arbiters decide; then UPHELD, REJECTED or UNRESOLVED. */
  state: 'BONDING' | 'PENDING' | 'UPHELD' | 'REJECTED' | 'UNRESOLVED';
  stake: string;
  at: string;
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
  /** Stake taken from hosts and challengers at settlement. */
  slashed: string;
  /** Per slot: where it ran, how it stands, what it reported, what it earned or lost. */
  replicas: ReplicaStatus[];
  /** When the challenge window closes (ISO), once the result is PROVISIONAL. */
  challengeWindowEndsAt: string | null;
  challenges: ChallengeStatus[];
  /** Every step with its time, oldest first. */
  timeline: { at: string; step: string }[];
}

export interface CancelRequest {
  reason?: string;
}

export interface ChallengeRequest {
  /** The registered host that challenges; its stake is locked on the job until the dispute is decided. */
  verifierHostId: string;
}

export interface ChallengeAccepted {
  verifierHostId: string;
  stake: string;
  challengeWindowEndsAt: string;
}

export const jobStatusQuery = defineQuery<JobStatus>('jobStatus');
/** Stops the job at any step: running containers are stopped, hosts are paid for the work done, the rest refunded. */
export const cancelSignal = defineSignal<[CancelRequest]>('cancel');
/** A registered verifier disputes the PROVISIONAL result, putting stake behind it. */
export const challengeUpdate = defineUpdate<ChallengeAccepted, [ChallengeRequest]>('challenge');

const MATCH_POLL = '2 seconds';
/** Hosts a slot may be tried on before the job fails (a host that vanishes loses the slot). */
const MAX_SLOT_ATTEMPTS = 3;
/** Fresh hosts that re-run a challenged job; one more when they disagree. */
const ARBITERS = 2;
const MAX_ARBITERS = 3;
/** The client can take its escrow back on chain this long after the job would have ended, even with no orchestrator. */
const ESCROW_DEADLINE_SLACK_S = 24 * 3600;


/** The slot's activity runs on the chosen host's own queue; a host that stops heartbeating loses it. */
function onHost(hostId: string, spec: JobSpec) {
  return proxyActivities<HostActivities>({
    taskQueue: hostTaskQueue(hostId),
    // A matched host has a free slot: one that does not start the slot soon is gone.
    scheduleToStartTimeout: '20 seconds',
    startToCloseTimeout: `${spec.timeoutSeconds + 120} seconds`,
    heartbeatTimeout: '10 seconds',
    // A cancelled job waits for the host to stop and remove the container before it settles.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: 2,
      nonRetryableErrorTypes: [ZansocErrorType.ImageNotFound, ZansocErrorType.OutputTooLarge, ZansocErrorType.CapabilityMismatch, ZansocErrorType.HostDraining],
    },
  });
}

/** One slot as the workflow tracks it: the status clients see plus what settlement needs. */
interface Slot {
  status: ReplicaStatus;
  host: HostCandidate | null;
  result: SlotResult | null;
  error: string | null;
  /** Workflow time the current host started, while it runs. */
  runningSinceMs: number | null;
  /** How long the slot took on the host that finished it, start to result, in milliseconds. */
  ranMs: number | null;
  /** Hosts that vanished while holding this slot. */
  lost: HostCandidate[];
  /** Hosts that failed the client's test while holding this slot. */
  caught: HostCandidate[];
  /** How long the finishing host's test run took: paid like the job's own run. */
  testMs: number;
}

export async function computeJob({ jobId, spec: submitted, stagingUrl, spotCheckFraction = 0 }: ComputeJobInput): Promise<JobStatus> {
  // Specs from before a field existed get its default.
  const spec: JobSpec = {
    ...submitted,
    replicas: submitted.replicas ?? 1,
    queueTimeoutSeconds: submitted.queueTimeoutSeconds ?? 600,
    challengeWindowSeconds: submitted.challengeWindowSeconds ?? 0,
    inputs: submitted.inputs ?? {},
    tests: submitted.tests ?? [],
  };
  const status: JobStatus = {
    state: 'QUEUED', reason: null, hostId: null, result: null, escrowed: '0', paidToHosts: '0', commission: '0', refunded: '0',
    slashed: '0', replicas: [], challengeWindowEndsAt: null, challenges: [], timeline: [],
  };
  const slots: Slot[] = [];
  // Every host that has held a slot of this job, or challenged it: slots always run on distinct, uninvolved hosts.
  const used: string[] = [];
  // Operators of the hosts that held a slot: replicas go to distinct operators too.
  const usedOperators: string[] = [];
  const searchable = patched('search-attributes');
  setHandler(jobStatusQuery, () => status);

  const note = (step: string) => status.timeline.push({ at: new Date().toISOString(), step });
  async function moveTo(state: JobState, reason: string | null, extra: Partial<Parameters<OrchestratorActivities['recordJob']>[0]> = {}) {
    if (state !== status.state) note(`${state}${reason ? `: ${reason}` : ''}`);
    status.state = state;
    status.reason = reason;
    if (searchable) upsertSearchAttributes([{ key: JOB_STATE, value: state }]);
    await readModel.recordJob({ jobId, state, stateReason: reason, ...extra });
  }

  // Cancel: everything from matching to the end of the challenge window runs in this scope.
  const work = new CancellationScope();
  let cancelReason: string | null = null;
  setHandler(cancelSignal, ({ reason }: CancelRequest = {}) => {
    if (cancelReason !== null || status.state === 'SETTLING' || ['SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELLED'].includes(status.state)) return;
    cancelReason = reason?.trim() ? reason.trim().slice(0, 500) : 'cancelled by the client';
    note(`cancel requested: ${cancelReason}`);
    work.cancel();
  });

  // Challenges: accepted while the result is PROVISIONAL, decided once the window closes.
  let windowEndsAtMs: number | null = null;
  let windowClosed = false;
  let bonding = 0;
  const refuseChallenge = ({ verifierHostId }: ChallengeRequest) => {
    if (typeof verifierHostId !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(verifierHostId)) {
      throw new Error('verifierHostId: must be a host id (lowercase letters, digits and dashes)');
    }
    if (status.state !== 'PROVISIONAL' || windowEndsAtMs === null) {
      throw new Error(`job ${jobId} is ${status.state}: only a PROVISIONAL result can be challenged`);
    }
    if (windowClosed || Date.now() >= windowEndsAtMs) throw new Error(`the challenge window closed at ${status.challengeWindowEndsAt}`);
    if (status.challenges.some((c) => c.verifierHostId === verifierHostId)) throw new Error(`verifier ${verifierHostId} already challenged this job`);
    if (used.includes(verifierHostId)) throw new Error(`host ${verifierHostId} ran this job and cannot challenge it`);
  };
  // Who disputes the result: challengers, and a spot check's verifier that disagreed. Host id → address.
  const accusers = new Map<string, string>();
  setHandler(challengeUpdate, async (request: ChallengeRequest): Promise<ChallengeAccepted> => {
    refuseChallenge(request);
    const { verifierHostId } = request;
    const stake = hostBondFor(spec.maxPrice);
    const challenge: ChallengeStatus = { verifierHostId, state: 'BONDING', stake, at: new Date().toISOString() };
    status.challenges.push(challenge);
    used.push(verifierHostId);
    bonding++;
    try {
      const verifier = await readModel.findHost({ hostId: verifierHostId });
      if (!verifier) throw new Error(`verifierHostId: no registered host ${verifierHostId}`);
      await chain.bondHostStake({ jobId, host: verifier.address, amount: stake });
      accusers.set(verifierHostId, verifier.address);
      challenge.state = 'PENDING';
      note(`challenged by ${verifierHostId} (stake ${stake})`);
      return { verifierHostId, stake, challengeWindowEndsAt: status.challengeWindowEndsAt! };
    } catch (err) {
      status.challenges.splice(status.challenges.indexOf(challenge), 1);
      used.splice(used.indexOf(verifierHostId), 1);
      throw ApplicationFailure.create({ type: ZansocErrorType.ChallengeRefused, nonRetryable: true, message: `challenge refused: ${failureMessage(err)}` });
    } finally {
      bonding--;
    }
  }, { validator: refuseChallenge });

  await moveTo('QUEUED', 'locking escrow');
  const escrow = escrowFor(spec);
  const deadlineSeconds = Math.floor(Date.now() / 1000) + spec.timeoutSeconds + spec.queueTimeoutSeconds + ESCROW_DEADLINE_SLACK_S;
  try {
    await chain.lockEscrow({ jobId, amount: escrow, deadlineSeconds });
  } catch (err) {
    const reason = `escrow refused: ${failureMessage(err)}`;
    await moveTo('REJECTED', reason, { finishedAt: new Date().toISOString() });
    return status;
  }
  status.escrowed = escrow;
  note(`escrow locked: ${escrow}`);

  /** Runs one slot: match, bond, execute; a host that fails or leaves loses it and it is re-matched. */
  async function runSlot(role: ReplicaStatus['role']): Promise<Slot> {
    const replica = slots.length;
    const slot: Slot = {
      status: { replica, role, hostId: null, resultDigest: null, state: 'QUEUED', payout: '0', slashed: '0', lostBy: [], failedTestBy: [] },
      host: null, result: null, error: 'no host fitted the job before the queue timeout', runningSinceMs: null, ranMs: null, lost: [], caught: [], testMs: 0,
    };
    slots.push(slot);
    status.replicas.push(slot.status);
    let attempts = 0;
    while (attempts < MAX_SLOT_ATTEMPTS) {
      // Waiting for a later slot's host does not take a running or provisional job back to QUEUED.
      const host = await waitForHost(spec, used, usedOperators, (reason) => moveTo(status.state === 'RUNNING' || status.state === 'PROVISIONAL' ? status.state : 'QUEUED', reason));
      if (!host) break;
      attempts++;
      // A host puts stake behind the slot before it runs; the bond comes back at settlement unless it is slashed.
      if (patched('bond-host-stake')) {
        try {
          await chain.bondHostStake({ jobId, host: host.address, amount: hostBondFor(spec.maxPrice) });
        } catch (err) {
          if (isCancellation(err)) throw err;
          slot.error = `host ${host.id} could not bond stake: ${failureMessage(err)}`;
          log.warn('host could not bond, re-matching', { jobId, hostId: host.id, error: failureMessage(err) });
          continue;
        }
      }
      slot.host = host;
      slot.runningSinceMs = Date.now();
      Object.assign(slot.status, { hostId: host.id, state: 'RUNNING' });
      note(`${role} ${replica} running on ${host.id}`);
      if (searchable) upsertSearchAttributes([{ key: HOST_IDS, value: [...new Set(slots.flatMap((s) => (s.host ? [s.host.id] : [])))] }]);
      // The job's host, as the read model shows it, is the first replica's.
      if (replica === 0 || status.hostId === null) status.hostId = host.id;
      if (role === 'replica') await moveTo('RUNNING', null, { hostId: status.hostId, startedAt: new Date().toISOString() });
      const execution: SlotExecution = {
        // The first replica keeps the name single-replica jobs always had.
        executionId: replica === 0 ? `job-${jobId}/slot-0/attempt-${attempts}`
          : role === 'arbiter' ? `job-${jobId}/arbiter-${replica}/attempt-${attempts}` : `job-${jobId}/replica-${replica}/attempt-${attempts}`,
        jobId, image: spec.image, command: spec.command, env: spec.env, resources: spec.resources,
        timeoutSeconds: spec.timeoutSeconds, stagingUrl,
        ...(Object.keys(spec.inputs).length ? { inputs: spec.inputs } : {}),
      };
      try {
        const { result, failedTest } = await runOnHost(slot, host, execution, replica + attempts);
        if (!result) {
          // Caught cheating on a test input: the host is slashed at settlement and the slot goes to another host.
          slot.caught.push(host);
          slot.status.failedTestBy.push(host.id);
          slot.host = null;
          slot.runningSinceMs = null;
          slot.error = `host ${host.id} failed a test input: ${failedTest}`;
          note(`${role} ${replica}: ${host.id} failed a test input (${failedTest}), re-matching`);
          continue;
        }
        slot.result = result;
        slot.error = null;
        slot.ranMs = Date.now() - slot.runningSinceMs;
        slot.runningSinceMs = null;
        Object.assign(slot.status, { resultDigest: result.resultDigest, state: 'DONE' });
        note(`${role} ${replica} done on ${host.id}: digest ${result.resultDigest.slice(0, 12)}`);
        return slot;
      } catch (err) {
        if (isCancellation(err)) throw err;
        slot.error = `host ${host.id}: ${failureMessage(err)}`;
        slot.runningSinceMs = null;
        if (isJobFault(err)) break;
        // A host that went silent (no heartbeat, never picked the slot up) loses part of its bond; one that said
        // it was leaving (HostDraining) or failed openly just loses the slot.
        if (isHostLost(err)) {
          slot.lost.push(host);
          slot.status.lostBy.push(host.id);
        }
        slot.host = null;
        note(`${role} ${replica} lost by ${host.id}: ${failureMessage(err)}`);
        log.warn('slot lost, re-matching', { jobId, hostId: host.id, error: failureMessage(err) });
      }
    }
    slot.status.state = 'FAILED';
    return slot;
  }

  /**
   * Runs a slot on its host and, when the client gave test inputs, one test beside it, in an order the host cannot
   * predict. A wrong test digest comes back instead of the result.
   */
  async function runOnHost(slot: Slot, host: HostCandidate, execution: SlotExecution, pick: number): Promise<{ result: SlotResult | null; failedTest: string | null }> {
    const activities = onHost(host.id, spec);
    if (spec.tests.length === 0) return { result: await activities.executeSlot(execution), failedTest: null };
    const test = spec.tests[pick % spec.tests.length];
    const testExecution: SlotExecution = { ...execution, executionId: `${execution.executionId}/test`, inputs: test.inputs };
    let result: SlotResult | null = null;
    for (const run of Math.random() < 0.5 ? ['test', 'job'] : ['job', 'test']) {
      if (run === 'job') {
        result = await activities.executeSlot(execution);
        continue;
      }
      const tested = await activities.executeSlot(testExecution);
      if (tested.resultDigest !== test.expectedDigest) {
        return { result: null, failedTest: `digest ${tested.resultDigest.slice(0, 12)}…, expected ${test.expectedDigest.slice(0, 12)}…` };
      }
      slot.testMs = tested.durationMs;
    }
    return { result, failedTest: null };
  }

  const replicas = (): Slot[] => slots.filter((s) => s.status.role === 'replica');
  let verdict = judge(replicas());
  let dispute: { upheld: boolean | null; arbiters: Slot[] } | null = null;
  // Single-replica jobs are spot-checked at the configured rate (workflow randomness: the same on replay).
  const spotChecked = spec.replicas === 1 && spotCheckFraction > 0 && Math.random() < spotCheckFraction;
  let spotCheckDisagreed = false;
  try {
    // A cancel that came while the escrow was being locked skips the work altogether.
    if (cancelReason === null) await work.run(async () => {
      await Promise.all(Array.from({ length: spec.replicas }, () => runSlot('replica')));
      verdict = judge(replicas());
      // No strict majority: one more replica on a fresh host at a time, up to the cap the escrow covers.
      while (verdict.kind === 'no-majority' && replicas().length < spec.replicas + extraReplicasFor(spec.replicas)) {
        await runSlot('replica');
        verdict = judge(replicas());
      }
      if (verdict.kind !== 'majority') return;
      if (spotChecked) {
        const check = await runSlot('verifier');
        if (check.result && check.host && check.result.resultDigest !== verdict.digest) {
          spotCheckDisagreed = true;
          accusers.set(check.host.id, check.host.address);
          note(`spot check by ${check.host.id} disagrees: arbiters will decide`);
        }
      }
      if (spec.challengeWindowSeconds === 0) return;

      // The result is PROVISIONAL while verifiers may challenge it.
      const provisional = winnersOf(replicas(), verdict.digest)[0];
      windowEndsAtMs = Date.now() + spec.challengeWindowSeconds * 1000;
      status.challengeWindowEndsAt = new Date(windowEndsAtMs).toISOString();
      status.result = provisional.result;
      status.hostId = provisional.host!.id;
      await moveTo('PROVISIONAL', `open to challenge until ${status.challengeWindowEndsAt}`, resultFields(provisional));
      await sleep(windowEndsAtMs - Date.now());
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Slots cut short by the cancel stop here; their hosts are paid for the time they ran.
    for (const slot of slots) if (slot.status.state === 'RUNNING' || slot.status.state === 'QUEUED') slot.status.state = 'CANCELLED';
  }
  windowClosed = true;

  // Challenges and a failed spot check are decided by fresh arbiters, unless the client cancelled the work.
  if (verdict.kind === 'majority' && (status.state === 'PROVISIONAL' || (cancelReason === null && spotCheckDisagreed))) {
    await condition(() => bonding === 0);
    const pending = status.challenges.filter((c) => c.state === 'PENDING');
    if (pending.length > 0 || spotCheckDisagreed) {
      const by = [...pending.map((c) => c.verifierHostId), ...(spotCheckDisagreed ? ['the spot check'] : [])];
      await moveTo(status.state, `disputed by ${by.join(', ')}: re-running on fresh arbiter hosts`);
      const arbiters: Slot[] = [];
      await Promise.all(Array.from({ length: ARBITERS }, async () => arbiters.push(await runSlot('arbiter'))));
      let arbitration = judge(arbiters);
      while (arbitration.kind === 'no-majority' && arbiters.length < MAX_ARBITERS) {
        arbiters.push(await runSlot('arbiter'));
        arbitration = judge(arbiters);
      }
      arbiters.sort((x, y) => x.status.replica - y.status.replica);
      const upheld = arbitration.kind === 'majority' ? arbitration.digest !== verdict.digest : null;
      dispute = { upheld, arbiters };
      for (const c of pending) c.state = upheld === null ? 'UNRESOLVED' : upheld ? 'UPHELD' : 'REJECTED';
      note(`dispute ${upheld === null ? 'unresolved: the arbiters did not agree' : upheld ? 'upheld' : 'rejected'}`);
    }
  }

  const cancelledWork = cancelReason !== null && status.state !== 'PROVISIONAL';
  await moveTo('SETTLING', null);
  // Slashes name the treasury by this placeholder; its address is read only when a settlement slashes.
  const treasury = 'treasury';
  const bond = hostBondFor(spec.maxPrice);
  const payouts: { host: string; amount: string }[] = [];
  const slashes: Slash[] = [];
  const pay = (slot: Slot, durationMs: number) => {
    slot.status.payout = priceRun({ ...slot.host!, ...spec.resources, durationMs, maxPrice: spec.maxPrice });
    if (slot.status.payout !== '0') payouts.push({ host: slot.host!.address, amount: slot.status.payout });
  };
  const slash = (slot: Slot, taken: Slash[]) => {
    slot.status.slashed = (BigInt(slot.status.slashed) + taken.reduce((s, t) => s + BigInt(t.amount), 0n)).toString();
    slashes.push(...taken);
  };
  let outcome: Slot | null = null; // the slot whose result the job ends with

  if (cancelledWork) {
    // Work done is paid: finished slots for their run, slots cut short for the time they ran.
    const now = Date.now();
    for (const slot of slots) {
      if (slot.result && slot.host) pay(slot, workMs(slot));
      else if (slot.host && slot.runningSinceMs !== null) pay(slot, now - slot.runningSinceMs);
    }
  } else if (verdict.kind === 'majority') {
    const digest = verdict.digest;
    const ran = replicas().filter((s) => s.result);
    const winners = winnersOf(ran, digest);
    const cheaters = ran.filter((s) => s.result!.resultDigest !== digest);
    // A host whose digest lost the vote loses its bond to the treasury.
    for (const slot of cheaters) slash(slot, [{ host: slot.host!.address, recipient: treasury, amount: bond }]);
    if (dispute && dispute.upheld !== null) {
      const arbitersRan = dispute.arbiters.filter((s) => s.result);
      const decided = judge(dispute.arbiters);
      const arbiterDigest = decided.kind === 'majority' ? decided.digest : digest;
      // Arbiters in their own minority are cheaters too.
      for (const slot of arbitersRan.filter((s) => s.result!.resultDigest !== arbiterDigest)) {
        slash(slot, [{ host: slot.host!.address, recipient: treasury, amount: bond }]);
      }
      const honestArbiters = arbitersRan.filter((s) => s.result!.resultDigest === arbiterDigest);
      const arbiterPrices = honestArbiters.map((s) => ({
        host: s.host!.address,
        price: priceRun({ ...s.host!, ...spec.resources, durationMs: workMs(s), maxPrice: spec.maxPrice }),
      }));
      honestArbiters.forEach((s, i) => (s.status.payout = arbiterPrices[i].price));
      // A spot check's verifier whose own digest the arbiters did not confirm is a cheater as well.
      const verifiers = slots.filter((s) => s.status.role === 'verifier' && s.result && s.host && accusers.has(s.host.id));
      const wrongVerifiers = verifiers.filter((s) => s.result!.resultDigest !== arbiterDigest);
      const rightAccusers = [...accusers.entries()]
        .filter(([id]) => !wrongVerifiers.some((s) => s.host!.id === id))
        .map(([, address]) => address);
      if (dispute.upheld) {
        // The provisional winners cheated: their bonds pay the arbiters, the accusers and the treasury; no pay.
        const taken = disputeSlashes({
          losers: winners.map((s) => ({ host: s.host!.address, bond })), arbiters: arbiterPrices, winners: rightAccusers, treasury,
        });
        for (const slot of winners) slash(slot, taken.filter((t) => t.host === slot.host!.address));
        for (const slot of wrongVerifiers) slash(slot, [{ host: slot.host!.address, recipient: treasury, amount: bond }]);
        outcome = honestArbiters[0];
      } else {
        // A frivolous dispute: the accusers' stakes pay the arbiters, the accused hosts and the treasury.
        const taken = disputeSlashes({
          losers: [...accusers.values()].map((address) => ({ host: address, bond })), arbiters: arbiterPrices,
          winners: winners.map((s) => s.host!.address), treasury,
        });
        slashes.push(...taken);
        for (const slot of verifiers) slot.status.slashed = taken.filter((t) => t.host === slot.host!.address).reduce((n, t) => n + BigInt(t.amount), 0n).toString();
        for (const slot of winners) pay(slot, workMs(slot));
        outcome = winners[0];
      }
    } else {
      for (const slot of winners) pay(slot, workMs(slot));
      outcome = winners[0];
      // A spot check that agreed, and arbiters that could not agree, are paid from what the escrow has left; the
      // challengers get their stake back.
      let left = BigInt(escrow) - payouts.reduce((sum, p) => sum + BigInt(p.amount), 0n);
      const extraWork = slots.filter((s) => s.status.role !== 'replica' && s.result && s.host && s.status.slashed === '0');
      for (const slot of extraWork) {
        const price = BigInt(priceRun({ ...slot.host!, ...spec.resources, durationMs: workMs(slot), maxPrice: spec.maxPrice }));
        const paid = price < left ? price : left;
        left -= paid;
        slot.status.payout = paid.toString();
        if (paid > 0n) payouts.push({ host: slot.host!.address, amount: slot.status.payout });
      }
    }
  }
  // Hosts that vanished mid-slot lose part of their bond, half of it to whoever finished the slot; hosts caught by a
  // test input lose all of it to the treasury.
  for (const slot of slots) {
    for (const lost of slot.lost) {
      slashes.push(...lostSlotSlashes({ host: lost.address, bond }, slot.result && slot.host ? slot.host.address : null, treasury));
    }
    for (const caught of slot.caught) slashes.push({ host: caught.address, recipient: treasury, amount: bond });
  }

  if (slashes.length) {
    const address = await chain.treasuryAddress();
    for (const s of slashes) if (s.recipient === treasury) s.recipient = address;
  }
  const settlement = await chain.settleJob(slashes.length ? { jobId, payouts, slashes } : { jobId, payouts });
  const money = { paidToHosts: settlement.paidToHosts, commission: settlement.commission, refunded: settlement.refunded };
  Object.assign(status, money, { slashed: slashes.reduce((s, t) => s + BigInt(t.amount), 0n).toString() });
  note(`settled: ${settlement.paidToHosts} to hosts, ${settlement.commission} commission, ${settlement.refunded} refunded, ${status.slashed} slashed`);
  const finishedAt = new Date().toISOString();

  // Reputation: what this job did for or to each host, for the next match.
  if (patched('reputation')) {
    const sum = (xs: { amount: string }[]) => xs.reduce((total, x) => total + BigInt(x.amount), 0n);
    const entries: HostRecordEntry[] = [];
    const add = (hostId: string, address: string, outcome: SlotOutcome, slotMs: number | null) => entries.push({
      hostId, outcome, slotMs,
      earned: (sum(payouts.filter((p) => p.host === address)) + sum(slashes.filter((x) => x.recipient === address))).toString(),
      slashed: sum(slashes.filter((x) => x.host === address)).toString(),
    });
    for (const slot of slots) {
      for (const lost of slot.lost) add(lost.id, lost.address, 'failed', null);
      for (const caught of slot.caught) add(caught.id, caught.address, 'slashed', null);
      if (!slot.host) continue;
      const outcome = slot.status.slashed !== '0' ? 'slashed' : slot.result && slot.status.payout !== '0' && !cancelledWork ? 'done' : 'neutral';
      add(slot.host.id, slot.host.address, outcome, slot.ranMs);
    }
    for (const [hostId, address] of accusers) {
      if (slots.some((s) => s.host?.id === hostId)) continue; // a verifier: counted with its slot
      add(hostId, address, sum(slashes.filter((x) => x.host === address)) > 0n ? 'slashed' : 'neutral', null);
    }
    const decided = dispute?.upheld === null ? 'unresolved' : dispute?.upheld ? 'upheld' : dispute ? 'rejected' : undefined;
    await readModel.recordReputation(decided ? { jobId, entries, dispute: decided } : { jobId, entries });
  }

  if (cancelledWork) {
    await moveTo('CANCELLED', cancelReason, { ...money, finishedAt });
    return status;
  }
  if (!outcome) {
    const all = replicas();
    const only = all.length === 1 ? all[0].error : null;
    await moveTo('FAILED', only ?? `no strict majority among ${all.length} replicas: ${describeVotes(all)}`, { ...money, finishedAt });
    return status;
  }
  const result = outcome.result!;
  status.result = result;
  status.hostId = outcome.host!.id;
  const reason = spec.expectedDigest && result.resultDigest !== spec.expectedDigest
    ? `result digest ${result.resultDigest} is not the expectedDigest ${spec.expectedDigest}`
    : result.timedOut ? `killed after the ${spec.timeoutSeconds}s timeout`
    : result.oomKilled ? `killed: out of memory (limit ${spec.resources.memoryMiB} MiB)`
    : result.exitCode !== 0 ? `exited with code ${result.exitCode}` : null;
  await moveTo(reason ? 'FAILED' : 'SUCCEEDED', reason, { ...money, finishedAt, ...resultFields(outcome) });
  return status;
}

function resultFields(slot: Slot) {
  const result = slot.result!;
  return {
    hostId: slot.host!.id, exitCode: result.exitCode, timedOut: result.timedOut,
    resultDigest: result.resultDigest, outputSha256: result.outputSha256, logsSha256: result.logsSha256,
  };
}

/** The time a slot's host is paid for: its run of the job plus its test run, if any. */
function workMs(slot: Slot): number {
  return slot.result!.durationMs + slot.testMs;
}

function winnersOf(slots: Slot[], digest: string): Slot[] {
  return slots.filter((s) => s.result?.resultDigest === digest);
}

/** The vote over every slot asked for: one that never ran counts as a vote for nothing. */
function judge(slots: Slot[]) {
  return majorityVerdict(slots.map((s, i) => ({
    hostId: s.host?.id ?? `slot-${i}`,
    resultDigest: s.result?.resultDigest ?? `none:${i}`,
  })));
}

function describeVotes(slots: Slot[]): string {
  return slots.map((s) => (s.result && s.host ? `${s.host.id}=${s.result.resultDigest.slice(0, 12)}` : s.error)).join(', ');
}

/**
 * Polls for the best fitting online host not in `exclude` until one is free or the queue timeout passes, telling the
 * client why it waits; the host found is added to `exclude`.
 */
async function waitForHost(
  spec: JobSpec, exclude: string[], excludeOperators: string[], tellWaiting: (reason: string) => Promise<void>,
): Promise<HostCandidate | null> {
  const giveUpAt = Date.now() + spec.queueTimeoutSeconds * 1000;
  let lastReason = '';
  for (;;) {
    const hosts = await readModel.listOnlineHosts();
    const [best] = rankHosts(hosts, spec.resources, exclude, excludeOperators);
    if (best) {
      // Claimed before anything else runs: slots matching at the same time must not pick the same host or operator.
      exclude.push(best.id);
      excludeOperators.push(operatorOf(best));
      return best;
    }
    if (Date.now() >= giveUpAt) return null;
    const reason = explainWait(hosts, spec.resources, exclude, excludeOperators);
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

/** The host went silent: it stopped heartbeating, or never picked the slot up. */
function isHostLost(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof TimeoutFailure;
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
