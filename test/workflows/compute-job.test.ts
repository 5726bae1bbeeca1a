import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import type { OrchestratorActivities } from '../../activities';
import type { JobUpdate } from '../../activities/db';
import type { ConsentActivities, HostActivities } from '../../host-worker/activities/types';
import { ZansocErrorType } from '../../domain/errors';
import { hostTaskQueue, ORCHESTRATOR_TASK_QUEUE, type SlotExecution, type SlotResult } from '../../domain/execution';
import { jobSpecSchema } from '../../domain/job-spec';
import type { HostRecordEntry } from '../../domain/reputation';
import { workflowBundle } from '../support/workflow-bundle';
import { cancelSignal, challengeUpdate, computeJob, jobStatusQuery, type ComputeJobInput, type JobStatus } from '../../workflows';
import { priceRun } from '../../domain/money';
import type { HostCandidate } from '../../domain/matching';
import { CLIENT, fakeConsent, fakeOrchestrator, fakePayment, host, hostActivities, okResult, runUntil, useWorkflowServer, TREASURY, walletOf } from './fakes';
import { HOST_WAIT } from '../../domain/search-attributes';
import { capacitySignal } from '../../workflows/common';
import { eventually } from '../support/eventually';

/**
 * The workflow's decisions, on a real Temporal server, with its activities replaced by typed stand-ins: escrow
 * refused, a host lost and the slot re-matched, a job fault that must not be retried elsewhere, waiting for a host.
 * The end-to-end run with real activities is test/compute-job.test.ts.
 */
const HISTORY_FILE = join(__dirname, '../histories/compute-job-rematch.json');
const HISTORIES = join(__dirname, '../histories');

/** Keeps a run's history for the replay tests: written when missing or when RECORD_HISTORIES=1. */
async function keepHistory(name: string, handle: WorkflowHandle<typeof computeJob>) {
  const file = join(HISTORIES, `${name}.json`);
  if (process.env.RECORD_HISTORIES === '1' || !existsSync(file)) writeFileSync(file, historyToJSON(await handle.fetchHistory()));
}

type Fakes = {
  orchestrator: Partial<OrchestratorActivities>;
  /** Per host: how it runs a slot (sealed with its own key), or all its activities. */
  hosts: Record<string, HostActivities['executeSlot'] | (HostActivities & ConsentActivities)>;
};

/** What a host at `h`'s price earns for `ms` of a job of `spec`'s resources (1 cpu unless said). */
const paidFor = (h: HostCandidate, ms: number | null, spec = jobSpecSchema.parse({ image: 'x', command: ['x'], resources: { cpu: 1 } })) =>
  priceRun({ ...h, ...spec.resources, durationMs: ms ?? 0, maxPrice: spec.maxPrice });

describe('computeJob workflow', () => {
  const server = useWorkflowServer();
  let run = 0;

  /** Runs one job with the given stand-ins; `during` acts on the running workflow (signals, updates) before its end. */
  async function runJob(
    fakes: Fakes,
    spec = jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 } }),
    during?: (handle: WorkflowHandle<typeof computeJob>) => Promise<void>,
    extra: Partial<ComputeJobInput> = {},
  ) {
    const jobId = `wf-test-${++run}-${Date.now()}`;
    const updates: JobUpdate[] = [];
    const reputation: HostRecordEntry[] = [];
    const orchestrator = fakeOrchestrator({
      recordJob: async (u) => void updates.push(u),
      recordReputation: async ({ entries }) => void reputation.push(...entries),
      ...fakes.orchestrator,
    });
    const base: Pick<WorkerOptions, 'connection'> = { connection: server().nativeConnection };
    const workers = [
      await Worker.create({ ...base, taskQueue: ORCHESTRATOR_TASK_QUEUE, ...workflowBundle(), activities: orchestrator }),
      ...(await Promise.all(Object.entries(fakes.hosts).map(([id, activities]) =>
        Worker.create({ ...base, taskQueue: hostTaskQueue(id), activities: typeof activities === 'function' ? hostActivities(id, activities) : activities })))),
      // The verifier that challenges in these tests: it runs nothing, it only consents to its stake's bond.
      await Worker.create({ ...base, taskQueue: hostTaskQueue('v9'), activities: fakeConsent }),
    ];
    const input: ComputeJobInput = { jobId, spec, payment: fakePayment(jobId, spec.maxPrice), stagingUrl: 'http://staging.invalid', ...extra };
    const handle = await server().client.workflow.start(computeJob, { taskQueue: ORCHESTRATOR_TASK_QUEUE, workflowId: `job-${jobId}`, args: [input] });
    const status = await runUntil(workers, (async () => {
      await during?.(handle);
      return handle.result();
    })());
    return { status, updates, handle, reputation };
  }

  it('ends REJECTED with the reason when the escrow is refused, and runs nothing', async () => {
    const executeSlot = jest.fn(async () => okResult);
    const settleJob = jest.fn();
    const { status, updates } = await runJob({
      orchestrator: {
        lockEscrow: async () => {
          throw ApplicationFailure.create({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true, message: 'client holds 0' });
        },
        settleJob,
      },
      hosts: { h1: executeSlot },
    });
    expect(status.state).toBe('REJECTED');
    expect(status.reason).toBe('escrow refused: client holds 0');
    expect(updates.at(-1)).toMatchObject({ state: 'REJECTED', stateReason: 'escrow refused: client holds 0' });
    expect(executeSlot).not.toHaveBeenCalled();
    expect(settleJob).not.toHaveBeenCalled();
  });

  it('re-matches a slot whose host fails, and pays only the host that ran it', async () => {
    const onH1 = jest.fn(async (_: SlotExecution): Promise<SlotResult> => {
      throw ApplicationFailure.create({ message: 'docker engine gone' });
    });
    const onH2 = jest.fn(async (_: SlotExecution) => okResult);
    const settleJob = jest.fn(async ({ payouts }: { payouts: { host: string; amount: string }[] }) => ({
      txHash: '0x2', alreadySettled: false, paidToHosts: payouts[0].amount, commission: '0', refunded: '0',
    }));
    const { status, updates, handle } = await runJob({ orchestrator: { settleJob }, hosts: { h1: onH1, h2: onH2 } });

    expect(status).toMatchObject({ state: 'SUCCEEDED', hostId: 'h2', result: okResult });
    expect(onH1).toHaveBeenCalledTimes(2); // the activity's own retry, then the slot moves
    expect(onH2).toHaveBeenCalledTimes(1);
    expect(onH1.mock.calls[0][0].executionId).not.toBe(onH2.mock.calls[0][0].executionId);
    // 1 cpu at h2's 2000 per cpu-second for the time the workflow measured, not the 2 s the host reported.
    const { measuredMs } = status.replicas[0];
    expect(measuredMs).toBeGreaterThan(0);
    expect(measuredMs).toBeLessThan(okResult.durationMs);
    expect(settleJob).toHaveBeenCalledWith({ jobId: expect.any(String), client: CLIENT, payouts: [{ host: host('h2').address, amount: paidFor(host('h2', '2000'), measuredMs) }] });
    expect(updates.filter((u) => u.state === 'RUNNING').map((u) => u.hostId)).toEqual(['h1', 'h2']);

    if (process.env.RECORD_HISTORIES === '1' || !existsSync(HISTORY_FILE)) {
      writeFileSync(HISTORY_FILE, historyToJSON(await handle.fetchHistory()));
    }
  });

  it('writes the job\'s read-model row from inside its workflow task (local activities), in order, none as an activity task', async () => {
    const onH1 = jest.fn(async (_: SlotExecution) => okResult);
    const { status, updates, handle } = await runJob({ orchestrator: {}, hosts: { h1: onH1 } });
    expect(status.state).toBe('SUCCEEDED');
    expect(updates.map((u) => u.state)).toEqual(['QUEUED', 'RUNNING', 'SETTLING', 'SUCCEEDED']);
    const { events } = await handle.fetchHistory();
    const scheduled = (events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    expect(scheduled).not.toContain('recordJob');
    const markers = (events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    expect(markers.length).toBe(updates.length);
    await keepHistory('compute-job-read-model-local', handle);
  });

  it('lets the client read the verified result and its logs at SETTLING, before the money moves; a job with no result shows none there', async () => {
    const atSettle: JobUpdate[] = [];
    let seenBySettle: JobUpdate[] = [];
    const settleJob = jest.fn(async ({ payouts }: { payouts: { host: string; amount: string }[] }) => {
      seenBySettle = [...atSettle];
      return { txHash: '0x2', alreadySettled: false, paidToHosts: payouts[0]?.amount ?? '0', commission: '0', refunded: '0' };
    });
    const { status, handle } = await runJob({
      orchestrator: { settleJob, recordJob: async (u) => void atSettle.push(u) }, hosts: { h1: async () => okResult },
    });
    expect(status.state).toBe('SUCCEEDED');
    // The row the client reads was SETTLING with the result's digests before the settlement transaction was sent.
    const settling = seenBySettle.at(-1);
    expect(settling).toMatchObject({
      state: 'SETTLING', stateReason: 'the result is ready; paying on chain', hostId: 'h1',
      resultDigest: okResult.resultDigest, logsSha256: okResult.logsSha256, outputSha256: okResult.outputSha256, exitCode: 0,
    });
    expect(atSettle.at(-1)).toMatchObject({ state: 'SUCCEEDED', resultDigest: okResult.resultDigest });
    await keepHistory('compute-job-result-readable-while-settling', handle);

    // No verdict, nothing to read: the only replica's output was refused.
    const failedUpdates: JobUpdate[] = [];
    const tooLarge = async (): Promise<SlotResult> => {
      throw ApplicationFailure.create({ type: ZansocErrorType.OutputTooLarge, nonRetryable: true, message: 'the job\'s /out archive is too large' });
    };
    const failed = await runJob({ orchestrator: { recordJob: async (u) => void failedUpdates.push(u) }, hosts: { h1: tooLarge } });
    expect(failed.status.state).toBe('FAILED');
    const failedSettling = failedUpdates.find((u) => u.state === 'SETTLING')!;
    expect(failedSettling).toMatchObject({ stateReason: null });
    expect(failedSettling).not.toHaveProperty('resultDigest');
  });

  it('keeps a job\'s history the same size with 1,000 hosts online as with 2: the match runs in an activity, and a wait says why in one short line', async () => {
    const crowd = (n: number) => [host('h1'), ...Array.from({ length: n - 1 }, (_, i) => host(`far-${i}`, '9000'))];
    const sizeWith = async (n: number) => {
      const hosts = crowd(n);
      const { status, handle } = await runJob({ orchestrator: { listOnlineHosts: async () => hosts }, hosts: { h1: async () => okResult } });
      expect(status).toMatchObject({ state: 'SUCCEEDED', hostId: 'h1' });
      const history = await handle.fetchHistory();
      return { bytes: historyToJSON(history).length, handle };
    };
    const two = await sizeWith(2);
    const many = await sizeWith(1_000);
    // Reading every host into the history made it grow by ~300 bytes a host.
    expect(Math.abs(many.bytes - two.bytes)).toBeLessThan(two.bytes * 0.01);
    await keepHistory('compute-job-match-in-activity', many.handle);

    // 1,000 hosts and none free: the job's reason counts them instead of naming each.
    const full = crowd(1_000).map((h) => ({ ...h, freeSlots: 0 }));
    const updates: JobUpdate[] = [];
    const spec = jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, queueTimeoutSeconds: 1 });
    const { status } = await runJob({ orchestrator: { listOnlineHosts: async () => full, recordJob: async (u) => void updates.push(u) }, hosts: {} }, spec);
    expect(status.state).toBe('FAILED');
    const waiting = updates.find((u) => u.state === 'QUEUED' && u.stateReason?.startsWith('waiting'));
    expect(waiting?.stateReason).toBe('waiting for a host that fits among 1000 online (1000 hosts: no free slot)');
  });

  describe('sealed results', () => {
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const TEST_INPUT = 'd'.repeat(64);
    const TEST_DIGEST = 'e'.repeat(64);
    /** An honest host: what it reports follows from what it ran on, nothing else. */
    const honest = (reportedMs = okResult.durationMs) => async (exec: SlotExecution): Promise<SlotResult> =>
      ({ ...okResult, durationMs: reportedMs, resultDigest: exec.inputs?.['x.txt'] === TEST_INPUT ? TEST_DIGEST : okResult.resultDigest });

    it('accepts a signed result: the host commits, then reveals; test and job runs look alike; pay follows the time measured', async () => {
      const seen: SlotExecution[] = [];
      // The host claims an hour for a run that took well under a second.
      const onH1 = jest.fn(async (exec: SlotExecution) => {
        seen.push(exec);
        return honest(3_600_000)(exec);
      });
      const settleJob = jest.fn(async (_: Parameters<OrchestratorActivities['settleJob']>[0]) => ({ txHash: '0x2', alreadySettled: false, paidToHosts: '0', commission: '0', refunded: '0' }));
      const spec = jobSpecSchema.parse({
        image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, inputs: { 'x.txt': 'a'.repeat(64) },
        tests: [{ inputs: { 'x.txt': TEST_INPUT }, expectedDigest: TEST_DIGEST }],
      });
      const { status, handle } = await runJob({ orchestrator: { settleJob }, hosts: { h1: onH1 } }, spec);
      expect(status).toMatchObject({ state: 'SUCCEEDED', hostId: 'h1', result: { resultDigest: okResult.resultDigest } });
      // The job's run and the test run: opaque ids of one shape, the same fields, only the inputs' contents differ.
      expect(seen).toHaveLength(2);
      for (const exec of seen) expect(exec.executionId).toMatch(UUID);
      expect(seen[0].executionId).not.toBe(seen[1].executionId);
      const strip = ({ executionId: _, inputs, ...rest }: SlotExecution) => ({ ...rest, inputPaths: Object.keys(inputs ?? {}) });
      expect(strip(seen[0])).toEqual(strip(seen[1]));
      const measured = status.replicas[0].measuredMs!;
      expect(measured).toBeGreaterThan(0);
      expect(measured).toBeLessThan(10_000);
      expect(settleJob.mock.calls[0][0].payouts).toEqual([{ host: host('h1').address, amount: paidFor(host('h1'), measured) }]);
      expect(BigInt(paidFor(host('h1'), measured))).toBeLessThan(BigInt(paidFor(host('h1'), 3_600_000 * 2)));
      expect(status.timeline.map((t) => t.step)).toEqual(expect.arrayContaining(['replica 0 committed on h1', 'replica 0 revealed by h1']));
      await keepHistory('compute-job-sealed-accepted', handle);
    });

    it('refuses a result the host\'s key did not sign: the host is slashed and the slot goes to another host', async () => {
      const onH1 = jest.fn(honest());
      const settleJob = jest.fn(async (_: Parameters<OrchestratorActivities['settleJob']>[0]) => ({ txHash: '0x2', alreadySettled: false, paidToHosts: '0', commission: '0', refunded: '0' }));
      const { status, handle, reputation } = await runJob({
        orchestrator: { settleJob },
        // h1 passes off a result signed by another key (a copied one, say) as its own.
        hosts: { h1: hostActivities('h1', onH1, walletOf('someone-else')), h2: honest() },
      });
      expect(onH1).toHaveBeenCalledTimes(1);
      expect(status).toMatchObject({ state: 'SUCCEEDED', hostId: 'h2' });
      expect(status.replicas[0]).toMatchObject({ hostId: 'h2', forgedBy: ['h1'], state: 'DONE' });
      expect(status.timeline.map((t) => t.step).join('\n')).toMatch(/h1 forged a result: the commitment is signed by 0x[0-9a-f]{40}, not by the host's key/);
      const [{ payouts, slashes }] = settleJob.mock.calls[0];
      expect(payouts.map((p) => p.host)).toEqual([host('h2').address]);
      const maxPrice = jobSpecSchema.parse({ image: 'x', command: ['x'] }).maxPrice;
      expect(slashes).toEqual([{ host: host('h1').address, recipient: TREASURY, amount: maxPrice }]);
      expect(reputation.find((r) => r.hostId === 'h1')).toMatchObject({ outcome: 'slashed', slashed: maxPrice });
      await keepHistory('compute-job-forged-caught', handle);
    });

    it('commit-reveal with 2 replicas: no digest shows before all have revealed; a reveal that does not open its commitment is forged', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      // h2 runs until the test lets it finish, heartbeating.
      const slowH2 = async (exec: SlotExecution) => {
        const ctx = Context.current();
        let open = false;
        void gate.then(() => (open = true));
        while (!open) {
          ctx.heartbeat();
          await ctx.sleep(100);
        }
        return honest()(exec);
      };
      // h1 commits to the right digest but reveals another one, signed with its own key.
      const h1 = hostActivities('h1', honest());
      const lyingH1: HostActivities & ConsentActivities = {
        ...h1,
        async revealSlot(request) {
          const reveal = await h1.revealSlot(request);
          return { ...reveal, result: { ...reveal.result, resultDigest: 'f'.repeat(64) } };
        },
      };
      const settleJob = jest.fn(async (_: Parameters<OrchestratorActivities['settleJob']>[0]) => ({ txHash: '0x2', alreadySettled: false, paidToHosts: '0', commission: '0', refunded: '0' }));
      const replicated = jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, replicas: 2 });
      const hidden: JobStatus[] = [];
      const { status, handle } = await runJob({
        orchestrator: { settleJob, listOnlineHosts: async () => [host('h1'), host('h2', '2000'), host('h3', '3000')] },
        // h3 takes over h1's slot once h2 has revealed: while h3 runs, h2's digest is known to the workflow but not shown.
        hosts: {
          h1: lyingH1, h2: slowH2,
          h3: async (exec) => {
            hidden.push(await server().client.workflow.getHandle(`job-${exec.jobId}`).query(jobStatusQuery));
            return honest()(exec);
          },
        },
      }, replicated, async (job) => {
        // h1 has committed, h2 still runs: nothing in the status tells h1's digest.
        hidden.push(await until(job, (s) => s.timeline.some((t) => / committed on h1$/.test(t.step))));
        await new Promise((r) => setTimeout(r, 500));
        hidden.push(await job.query(jobStatusQuery));
        release();
      });
      expect(hidden).toHaveLength(3);
      expect(hidden[2].replicas.find((r) => r.hostId === 'h2')?.state).toBe('DONE');
      for (const seen of hidden) {
        expect(seen.replicas.map((r) => r.resultDigest)).toEqual([null, null]);
        expect(JSON.stringify(seen)).not.toContain(okResult.resultDigest);
        expect(JSON.stringify(seen)).not.toContain(okResult.outputSha256);
      }
      expect(status).toMatchObject({ state: 'SUCCEEDED', result: { resultDigest: okResult.resultDigest } });
      expect(status.replicas.map((r) => [r.hostId, r.forgedBy]).sort()).toEqual([['h2', []], ['h3', ['h1']]]);
      expect(status.timeline.map((t) => t.step).join('\n')).toMatch(/h1 forged a result: the revealed digest and salt do not open the commitment/);
      const [{ payouts, slashes }] = settleJob.mock.calls[0];
      expect(payouts.map((p) => p.host).sort()).toEqual([host('h2').address, host('h3').address].sort());
      expect(slashes).toEqual([{ host: host('h1').address, recipient: TREASURY, amount: replicated.maxPrice }]);
      await keepHistory('compute-job-commit-reveal-2-replicas', handle);
    });
  });

  it('bonds the chosen host\'s stake before running, and moves on when a host cannot bond', async () => {
    const bonded: string[] = [];
    const bondHostStake = async ({ host: address }: { jobId: string; host: string; amount: string }) => {
      if (address === host('h1').address) {
        throw ApplicationFailure.create({ type: ZansocErrorType.EscrowFailed, nonRetryable: true, message: 'free stake 0 < 1' });
      }
      bonded.push(address);
      return { txHash: '0x5', alreadyBonded: false };
    };
    const onH1 = jest.fn(async () => okResult);
    const { status } = await runJob({ orchestrator: { bondHostStake }, hosts: { h1: onH1, h2: async () => okResult } });
    expect(status).toMatchObject({ state: 'SUCCEEDED', hostId: 'h2' });
    expect(onH1).not.toHaveBeenCalled();
    expect(bonded).toEqual([host('h2').address]);
  });

  it('moves a slot on from hosts that were full when it came (HostBusy) without using up its attempts', async () => {
    // Matched on a view of their room a moment old: three hosts in turn have filled up by the time the slot reaches them.
    const full = (id: string) => jest.fn(async (exec: SlotExecution): Promise<SlotResult> => {
      throw ApplicationFailure.create({ type: ZansocErrorType.HostBusy, message: `host ${id} has no room for slot ${exec.executionId} right now: slots 1 wanted, 0 available` });
    });
    const [onH1, onH2, onH3] = [full('h1'), full('h2'), full('h3')];
    const onH4 = jest.fn(async () => okResult);
    const settleJob = jest.fn(async (_: Settle) => settled);
    const listOnlineHosts = async () => [host('h1', '1000'), host('h2', '1100'), host('h3', '1200'), host('h4', '1300')];
    const { status, handle } = await runJob({ orchestrator: { listOnlineHosts, settleJob }, hosts: { h1: onH1, h2: onH2, h3: onH3, h4: onH4 } });
    expect(status).toMatchObject({ state: 'SUCCEEDED', hostId: 'h4' });
    // Each full host was asked twice (the activity's own retry), none is counted lost or slashed, and only h4 is paid.
    expect([onH1, onH2, onH3, onH4].map((f) => f.mock.calls.length)).toEqual([2, 2, 2, 1]);
    expect(status.replicas[0].lostBy).toEqual([]);
    const [{ payouts, slashes }] = settleJob.mock.calls[0];
    expect(payouts.map((p) => p.host)).toEqual([host('h4').address]);
    expect(slashes ?? []).toEqual([]);
    await keepHistory('compute-job-host-busy-rematch', handle);
  }, 60_000);

  describe('with replicas', () => {
    const replicated = jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, replicas: 3 });
    const digestOf = (d: string) => async (): Promise<SlotResult> => ({ ...okResult, resultDigest: d.repeat(64) });
    const settlement = { txHash: '0x2', alreadySettled: false, paidToHosts: '0', commission: '0', refunded: '0' };

    it('pays the majority, slashes the host whose digest lost, each replica on its own host', async () => {
      const settleJob = jest.fn(async (_: Parameters<OrchestratorActivities['settleJob']>[0]) => settlement);
      const { status } = await runJob({
        orchestrator: { settleJob, listOnlineHosts: async () => [host('h1'), host('h2'), host('h3')] },
        hosts: { h1: digestOf('a'), h2: digestOf('f'), h3: digestOf('a') },
      }, replicated);
      expect(status).toMatchObject({ state: 'SUCCEEDED', result: { resultDigest: 'a'.repeat(64) } });
      expect(status.replicas.map((r) => r.hostId).sort()).toEqual(['h1', 'h2', 'h3']);
      const { payouts, slashes } = settleJob.mock.calls[0][0];
      expect(payouts.map((p) => p.host).sort()).toEqual([host('h1').address, host('h3').address].sort());
      expect(slashes).toEqual([{ host: host('h2').address, recipient: TREASURY, amount: replicated.maxPrice }]);
    });

    it('adds replicas on fresh hosts until a strict majority agrees, never paying a wrong digest', async () => {
      const settleJob = jest.fn(async (_: Parameters<OrchestratorActivities['settleJob']>[0]) => settlement);
      const hosts = ['h1', 'h2', 'h3', 'h4', 'h5'].map((id) => host(id));
      const { status } = await runJob({
        orchestrator: { settleJob, listOnlineHosts: async () => hosts },
        hosts: { h1: digestOf('a'), h2: digestOf('b'), h3: digestOf('c'), h4: digestOf('a'), h5: digestOf('a') },
      }, replicated);
      expect(status.state).toBe('SUCCEEDED');
      expect(status.replicas).toHaveLength(5);
      const { payouts, slashes } = settleJob.mock.calls[0][0];
      expect(payouts.map((p) => p.host).sort()).toEqual([host('h1'), host('h4'), host('h5')].map((h) => h.address).sort());
      expect(slashes!.map((s) => s.host).sort()).toEqual([host('h2').address, host('h3').address].sort());
    });
  });

  /** Resolves when the job's status satisfies `ready` (polled through the query). */
  async function until(handle: WorkflowHandle<typeof computeJob>, ready: (s: JobStatus) => boolean): Promise<JobStatus> {
    for (;;) {
      const status = await handle.query(jobStatusQuery);
      if (ready(status)) return status;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  type Settle = Parameters<OrchestratorActivities['settleJob']>[0];
  const settled = { txHash: '0x2', alreadySettled: false, paidToHosts: '0', commission: '0', refunded: '0' };

  it('cancels a running job: the host stops its slot, is paid for the time it ran, the rest is refunded', async () => {
    let stopped = false;
    const forever = async (): Promise<SlotResult> => {
      const ctx = Context.current();
      try {
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(100);
        }
      } finally {
        stopped = true;
      }
    };
    const settleJob = jest.fn(async (_: Settle) => settled);
    const { status, updates, handle: job } = await runJob({ orchestrator: { settleJob }, hosts: { h1: forever } }, undefined, async (handle) => {
      await until(handle, (s) => s.replicas[0]?.state === 'RUNNING');
      await new Promise((r) => setTimeout(r, 1500));
      await handle.signal(cancelSignal, { reason: 'changed my mind' });
    });
    expect(status).toMatchObject({ state: 'CANCELLED', reason: 'changed my mind' });
    expect(status.replicas[0].state).toBe('CANCELLED');
    expect(stopped).toBe(true);
    const [{ payouts }] = settleJob.mock.calls[0];
    expect(payouts).toHaveLength(1);
    expect(payouts[0].host).toBe(host('h1').address);
    // 1 cpu at 1000 per cpu-second for at least the 1.5 s it ran.
    expect(Number(payouts[0].amount)).toBeGreaterThanOrEqual(1500);
    expect(updates.at(-1)).toMatchObject({ state: 'CANCELLED', stateReason: 'changed my mind' });
    expect(status.timeline.map((t) => t.step)).toContain('cancel requested: changed my mind');
    await keepHistory('compute-job-cancel', job);
  });

  it('settles a job cancelled from Temporal (UI or `temporal workflow cancel`) for the work done, like a client cancel', async () => {
    const forever = async (): Promise<SlotResult> => {
      const ctx = Context.current();
      for (;;) {
        ctx.heartbeat();
        await ctx.sleep(100);
      }
    };
    const settleJob = jest.fn(async (_: Settle) => settled);
    const { status, updates, handle: job } = await runJob({ orchestrator: { settleJob }, hosts: { h1: forever } }, undefined, async (handle) => {
      await until(handle, (s) => s.replicas[0]?.state === 'RUNNING');
      await new Promise((r) => setTimeout(r, 1000));
      await handle.cancel();
    });
    expect(status).toMatchObject({ state: 'CANCELLED', reason: 'cancelled through Temporal' });
    expect(settleJob).toHaveBeenCalledTimes(1);
    const [{ payouts }] = settleJob.mock.calls[0];
    expect(payouts.map((p) => p.host)).toEqual([host('h1').address]);
    expect(Number(payouts[0].amount)).toBeGreaterThanOrEqual(1000);
    expect(updates.at(-1)).toMatchObject({ state: 'CANCELLED', stateReason: 'cancelled through Temporal' });
    await keepHistory('compute-job-cancelled-through-temporal', job);
  });

  it('settles a job cancelled from Temporal while it waits for a host: nothing ran, all refunded', async () => {
    const settleJob = jest.fn(async (_: Settle) => settled);
    const { status } = await runJob({ orchestrator: { settleJob, listOnlineHosts: async () => [] }, hosts: {} }, undefined, async (handle) => {
      await until(handle, (s) => s.reason === 'no host is online');
      await handle.cancel();
    });
    expect(status).toMatchObject({ state: 'CANCELLED', reason: 'cancelled through Temporal' });
    expect(settleJob).toHaveBeenCalledWith({ jobId: expect.any(String), client: CLIENT, payouts: [] });
  });

  describe('challenges', () => {
    const windowed = jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, challengeWindowSeconds: 3 });
    const digestOf = (d: string) => async (): Promise<SlotResult> => ({ ...okResult, resultDigest: d.repeat(64) });
    const three = async () => [host('h1'), host('h2', '2000'), host('h3', '3000')];

    it('upholds a challenge the arbiters agree with: the cheat is slashed to pay arbiters and challenger, not paid', async () => {
      const settleJob = jest.fn(async (_: Settle) => settled);
      const refusals: string[] = [];
      const { status, handle: job, reputation } = await runJob({
        orchestrator: { settleJob, listOnlineHosts: three },
        hosts: { h1: digestOf('f'), h2: digestOf('a'), h3: digestOf('a') },
      }, windowed, async (handle) => {
        await until(handle, (s) => s.state === 'PROVISIONAL');
        const accepted = await handle.executeUpdate(challengeUpdate, { args: [{ verifierHostId: 'v9' }] });
        expect(accepted).toMatchObject({ verifierHostId: 'v9', stake: windowed.maxPrice });
        for (const verifierHostId of ['v9', 'h1', 'Bad Id']) {
          await handle.executeUpdate(challengeUpdate, { args: [{ verifierHostId }] }).catch((err: Error) => refusals.push((err.cause as Error | undefined)?.message ?? err.message));
        }
      });
      expect(refusals).toEqual([
        'verifier v9 already challenged this job',
        'host h1 ran this job and cannot challenge it',
        'verifierHostId: must be a host id (lowercase letters, digits and dashes)',
      ]);
      // The job ends with an arbiter's result (whichever arbiter slot came first).
      expect(status).toMatchObject({ state: 'SUCCEEDED', result: { resultDigest: 'a'.repeat(64) } });
      expect(['h2', 'h3']).toContain(status.hostId);
      expect(status.challenges).toEqual([expect.objectContaining({ verifierHostId: 'v9', state: 'UPHELD' })]);
      expect(status.replicas.map((r) => `${r.role}:${r.hostId}`).sort()).toEqual(['arbiter:h2', 'arbiter:h3', 'replica:h1']);
      const [{ payouts, slashes }] = settleJob.mock.calls[0];
      expect(payouts).toEqual([]);
      const from = (who: string) => slashes!.filter((x) => x.host === host(who).address);
      expect(from('h1').reduce((sum, x) => sum + BigInt(x.amount), 0n)).toBe(BigInt(windowed.maxPrice));
      // Arbiters get their price first (1 cpu at 2000 and 3000 per cpu-second for the time measured), then the challenger, then the treasury.
      const paid = Object.fromEntries(from('h1').map((x) => [x.recipient, x.amount]));
      const measured = Object.fromEntries(status.replicas.map((r) => [r.hostId, r.measuredMs]));
      expect(from('h1').map((x) => x.recipient).slice(2)).toEqual([host('v9').address, TREASURY]);
      expect([paid[host('h2').address], paid[host('h3').address]]).toEqual([paidFor(host('h2', '2000'), measured.h2), paidFor(host('h3', '3000'), measured.h3)]);
      // Reputation: the cheat is marked slashed, the arbiters done with what they earned, the challenger rewarded.
      const mark = Object.fromEntries(reputation.map((r) => [r.hostId, r]));
      expect(mark.h1).toMatchObject({ outcome: 'slashed', earned: '0', slashed: windowed.maxPrice });
      expect(mark.h2).toMatchObject({ outcome: 'done', earned: paidFor(host('h2', '2000'), measured.h2), slashed: '0' });
      expect(mark.v9.outcome).toBe('neutral');
      expect(BigInt(mark.v9.earned)).toBeGreaterThan(0n);
      await keepHistory('compute-job-challenge-upheld', job);
    });

    it('rejects a frivolous challenge: the challenger\'s stake pays the arbiters and the accused host, the host is paid', async () => {
      const settleJob = jest.fn(async (_: Settle) => settled);
      const { status } = await runJob({
        orchestrator: { settleJob, listOnlineHosts: three },
        hosts: { h1: digestOf('a'), h2: digestOf('a'), h3: digestOf('a') },
      }, windowed, async (handle) => {
        await until(handle, (s) => s.state === 'PROVISIONAL');
        await handle.executeUpdate(challengeUpdate, { args: [{ verifierHostId: 'v9' }] });
      });
      expect(status).toMatchObject({ state: 'SUCCEEDED', hostId: 'h1' });
      expect(status.challenges[0].state).toBe('REJECTED');
      const [{ payouts, slashes }] = settleJob.mock.calls[0];
      expect(payouts).toEqual([{ host: host('h1').address, amount: paidFor(host('h1'), status.replicas[0].measuredMs) }]);
      expect(slashes!.every((x) => x.host === host('v9').address)).toBe(true);
      expect(slashes!.map((x) => x.recipient).slice(2)).toEqual([host('h1').address, TREASURY]);
      expect(slashes!.map((x) => x.recipient).slice(0, 2).sort()).toEqual([host('h2').address, host('h3').address].sort());
    });

    it('spot-checks a single-replica job on a verifier host and pays it from the escrow when it agrees', async () => {
      const settleJob = jest.fn(async (_: Settle) => settled);
      // The verifier is drawn by stake: h2 holds all of it.
      const staked = async () => [host('h1'), { ...host('h2', '2000'), stake: '1' }, { ...host('h3', '3000'), stake: '0' }];
      const { status } = await runJob({
        orchestrator: { settleJob, listOnlineHosts: staked },
        hosts: { h1: digestOf('a'), h2: digestOf('a') },
      }, undefined, undefined, { spotCheckFraction: 1 });
      expect(status.state).toBe('SUCCEEDED');
      expect(status.replicas.map((r) => `${r.role}:${r.hostId}:${r.state}`)).toEqual(['replica:h1:DONE', 'verifier:h2:DONE']);
      const [{ payouts, slashes }] = settleJob.mock.calls[0];
      expect(payouts).toEqual([
        { host: host('h1').address, amount: paidFor(host('h1'), status.replicas[0].measuredMs) },
        { host: host('h2').address, amount: paidFor(host('h2', '2000'), status.replicas[1].measuredMs) },
      ]);
      expect(slashes).toBeUndefined();
    });

    it('sends a spot check that disagrees to arbiters, who catch the cheat', async () => {
      const settleJob = jest.fn(async (_: Settle) => settled);
      // The verifier is drawn by stake (h2 holds all of it), the arbiters from the rest (none: each as likely).
      const four = async () => [host('h1'), { ...host('h2', '2000'), stake: '1' }, host('h3', '3000'), host('h4', '4000')];
      const { status, handle: job } = await runJob({
        orchestrator: { settleJob, listOnlineHosts: four },
        hosts: { h1: digestOf('f'), h2: digestOf('a'), h3: digestOf('a'), h4: digestOf('a') },
      }, undefined, undefined, { spotCheckFraction: 1 });
      expect(status).toMatchObject({ state: 'SUCCEEDED', result: { resultDigest: 'a'.repeat(64) } });
      expect(status.replicas.map((r) => r.role)).toEqual(['replica', 'verifier', 'arbiter', 'arbiter']);
      const [{ payouts, slashes }] = settleJob.mock.calls[0];
      expect(payouts).toEqual([]);
      // The cheat's bond: the arbiters' price, half the rest to the verifier that caught it, the remainder to the treasury.
      expect(slashes!.every((x) => x.host === host('h1').address)).toBe(true);
      expect(slashes!.map((x) => x.recipient).slice(2)).toEqual([host('h2').address, TREASURY]);
      expect(status.replicas[0].slashed).toBe(jobSpecSchema.parse({ image: 'x', command: ['x'] }).maxPrice);
      await keepHistory('compute-job-spot-check', job);
    });

    it('refuses a challenge once the window has closed', async () => {
      const { status, handle } = await runJob({ orchestrator: {}, hosts: { h1: digestOf('a') } }, { ...windowed, challengeWindowSeconds: 1 });
      expect(status.state).toBe('SUCCEEDED');
      await expect(handle.executeUpdate(challengeUpdate, { args: [{ verifierHostId: 'v9' }] })).rejects.toThrow();
      expect(status.challenges).toEqual([]);
    });
  });

  it('puts replicas on hosts of distinct operators', async () => {
    const operator = '0x00000000000000000000000000000000000000f1';
    const listOnlineHosts = async () => [{ ...host('h1'), operator }, { ...host('h2'), operator }, host('h3', '5000')];
    const replicated = jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, replicas: 2 });
    const { status } = await runJob({ orchestrator: { listOnlineHosts }, hosts: { h1: async () => okResult, h3: async () => okResult } }, replicated);
    expect(status.state).toBe('SUCCEEDED');
    expect(status.replicas.map((r) => r.hostId).sort()).toEqual(['h1', 'h3']);
  });

  it('takes the slot from a host that advertised the image but lacks it, counts it lost, and runs the slot elsewhere', async () => {
    const onH1 = jest.fn(async (): Promise<SlotResult> => {
      throw ApplicationFailure.create({ type: ZansocErrorType.ImageNotFound, nonRetryable: true, message: 'image zansoc/busybox:1 is not present on this host' });
    });
    const onH2 = jest.fn(async () => okResult);
    const settleJob = jest.fn(async (_: Settle) => settled);
    const { status, handle } = await runJob({ orchestrator: { settleJob }, hosts: { h1: onH1, h2: onH2 } });
    expect(status).toMatchObject({ state: 'SUCCEEDED', hostId: 'h2' });
    expect(status.replicas[0].lostBy).toEqual(['h1']);
    expect(onH1).toHaveBeenCalledTimes(1);
    expect(onH2).toHaveBeenCalledTimes(1);
    const [{ payouts, slashes }] = settleJob.mock.calls[0];
    expect(payouts.map((p) => p.host)).toEqual([host('h2').address]);
    // Its bond pays the host that took over and the treasury, as a vanished host's does.
    expect([...new Set(slashes?.map((x) => x.host))]).toEqual([host('h1').address]);
    await keepHistory('compute-job-image-not-found-host-fault', handle);
  });

  it('keeps a job whose image no host runs QUEUED, naming the image, and runs nothing', async () => {
    const executeSlot = jest.fn(async () => okResult);
    const spec = jobSpecSchema.parse({ image: 'nosuch/image:1', command: ['true'], resources: { cpu: 1 }, queueTimeoutSeconds: 3 });
    const { status, updates } = await runJob({ orchestrator: {}, hosts: { h1: executeSlot, h2: executeSlot } }, spec);
    expect(updates.map((u) => u.stateReason)).toContain('waiting for a host that runs image nosuch/image:1: no online host has it on its allow-list');
    expect(updates.find((u) => u.stateReason?.includes('nosuch/image:1'))?.state).toBe('QUEUED');
    expect(status.state).toBe('FAILED');
    expect(executeSlot).not.toHaveBeenCalled();
  });

  it('fails a job whose output is too large without trying other hosts, and refunds it', async () => {
    const onH1 = jest.fn(async (): Promise<SlotResult> => {
      throw ApplicationFailure.create({ type: ZansocErrorType.OutputTooLarge, nonRetryable: true, message: 'the job\'s /out archive is 99 bytes, over this host\'s limit' });
    });
    const onH2 = jest.fn(async () => okResult);
    const settleJob = jest.fn(async () => ({ txHash: '0x2', alreadySettled: false, paidToHosts: '0', commission: '0', refunded: '1' }));
    const { status } = await runJob({ orchestrator: { settleJob }, hosts: { h1: onH1, h2: onH2 } });
    expect(status).toMatchObject({ state: 'FAILED', reason: 'host h1: the job\'s /out archive is 99 bytes, over this host\'s limit' });
    expect(onH1).toHaveBeenCalledTimes(1);
    expect(onH2).not.toHaveBeenCalled();
    expect(settleJob).toHaveBeenCalledWith({ jobId: expect.any(String), client: CLIENT, payouts: [] });
  });

  it('fails a single-replica job whose slot gave no result, even with a challenge window, and refunds it', async () => {
    const tooLarge = async (): Promise<SlotResult> => {
      throw ApplicationFailure.create({ type: ZansocErrorType.OutputTooLarge, nonRetryable: true, message: 'the job\'s /out archive is too large' });
    };
    const settleJob = jest.fn(async (_: Settle) => settled);
    const windowed = jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, challengeWindowSeconds: 20 });
    const { status } = await runJob({ orchestrator: { settleJob }, hosts: { h1: tooLarge } }, windowed);
    expect(status).toMatchObject({ state: 'FAILED', reason: 'host h1: the job\'s /out archive is too large', challengeWindowEndsAt: null });
    expect(settleJob).toHaveBeenCalledWith({ jobId: expect.any(String), client: CLIENT, payouts: [] });
  });

  it('waits QUEUED, saying why, looking at nothing until the API wakes it, then takes the host that came free', async () => {
    let free = false;
    let polls = 0;
    const listOnlineHosts = async () => {
      polls++;
      return [{ ...host('h1'), freeSlots: free ? 2 : 0 }];
    };
    const { status, updates, handle } = await runJob({ orchestrator: { listOnlineHosts }, hosts: { h1: async () => okResult } }, undefined, async (job) => {
      const waiting = async () => (await job.describe()).typedSearchAttributes.get(HOST_WAIT);
      await eventually(10_000, async () => ((await waiting()) === 'waiting' ? true : undefined));
      // While it waits nothing runs: no look at the hosts, however long.
      const seen = polls;
      await new Promise((r) => setTimeout(r, 3000));
      expect(polls).toBe(seen);
      // A wake-up while nothing changed: it looks once and waits again.
      await job.signal(capacitySignal);
      await eventually(10_000, async () => (polls === seen + 1 ? true : undefined));
      expect(await waiting()).toBe('waiting');
      free = true;
      await job.signal(capacitySignal);
    });
    expect(status.state).toBe('SUCCEEDED');
    expect(updates.map((u) => u.stateReason)).toContain('waiting for a host that fits (h1: no free slot)');
    expect(polls).toBe(3);
    // Matched, it no longer counts as waiting.
    expect((await handle.describe()).typedSearchAttributes.get(HOST_WAIT)).toBeUndefined();
    await keepHistory('compute-job-woken-by-capacity', handle);
  });
});

describe('workflow replay', () => {
  const recorded = readdirSync(HISTORIES).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();

  // Every committed history: the runs above, and real devnet runs (test/crash.test.ts, test/verification.test.ts,
  // test/storage.test.ts), crashes and all.
  // One bundle of the workflows replays them all.
  const failures = new Map<string, Error | undefined>();
  beforeAll(async () => {
    const histories = recorded.map((name) => ({ workflowId: name, history: JSON.parse(readFileSync(join(HISTORIES, `${name}.json`), 'utf8')) }));
    for await (const { workflowId, error } of Worker.runReplayHistories(workflowBundle(), histories)) {
      failures.set(workflowId, error as Error | undefined);
    }
  }, 120_000);

  it.each(recorded)('replays the committed history %s', (name) => {
    expect(failures.has(name)).toBe(true);
    expect(failures.get(name)).toBeUndefined();
  });

  it('detects a change of workflow logic that is not behind patched()', async () => {
    const history = JSON.parse(readFileSync(HISTORY_FILE, 'utf8'));
    await expect(
      Worker.runReplayHistory({ workflowsPath: require.resolve('./reordered-compute-job') }, history, 'job-replay-bad'),
    ).rejects.toThrow(/Nondeterminism|determinism/i);
  });
});
