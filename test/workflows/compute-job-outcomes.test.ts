import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import type { OrchestratorActivities } from '../../activities';
import type { HostActivities } from '../../host-worker/activities/types';
import { ZansocErrorType } from '../../domain/errors';
import { hostTaskQueue, ORCHESTRATOR_TASK_QUEUE, type SlotExecution, type SlotResult } from '../../domain/execution';
import { escrowFor, jobSpecSchema, type JobSpec } from '../../domain/job-spec';
import { isFinalJobState } from '../../domain/job-state';
import { workflowBundle } from '../support/workflow-bundle';
import { computeJob, type JobStatus } from '../../workflows';
import { fakeOrchestrator, fakePayment, host, hostActivities, okResult, runUntil, useWorkflowServer } from './fakes';

/**
 * Every combination of replicas, challenge window, spot check, test inputs and one misbehaving host ends in a final
 * state, settles once, and never pays a host for a result it did not give. All cases run at once on one server, each
 * with its own job id; the stand-in activities look the case up by job id.
 */
type Misbehaviour = 'none' | 'fails' | 'vanishes' | 'cheats';
interface Case {
  replicas: number;
  windowSeconds: number;
  spotCheck: boolean;
  tests: boolean;
  h1: Misbehaviour;
}

const cases: Case[] = [];
for (const replicas of [1, 2, 3]) {
  for (const windowSeconds of [0, 1]) {
    for (const spotCheck of replicas === 1 ? [false, true] : [false]) {
      for (const tests of [false, true]) {
        for (const h1 of ['none', 'fails', 'vanishes', 'cheats'] as const) cases.push({ replicas, windowSeconds, spotCheck, tests, h1 });
      }
    }
  }
}
const nameOf = (c: Case) => `replicas ${c.replicas}, window ${c.windowSeconds}s${c.spotCheck ? ', spot-checked' : ''}${c.tests ? ', test input' : ''}, h1 ${c.h1}`;

const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8', 'h9'];
// h1 is the cheapest, so it takes the first slot of every job.
const candidates = HOSTS.map((id, i) => host(id, String(1000 + i * 10)));
const TEST_DIGEST = 'e'.repeat(64);
const TEST_INPUT = 'd'.repeat(64);
const GOOD = okResult.resultDigest;
const BAD = 'f'.repeat(64);
/** How long a vanished host's slot takes to be given up: its heartbeat timeout, twice (the activity is retried once). */
const VANISHED_MS = 12_000;

describe('computeJob outcomes', () => {
  const server = useWorkflowServer();

  it(`ends every one of ${cases.length} combinations in a final state, settled once`, async () => {
    const stamp = Date.now();
    const caseOf = new Map<string, Case>(cases.map((c, i) => [`outcome-${stamp}-${i}`, c]));
    const settlements = new Map<string, Parameters<OrchestratorActivities['settleJob']>[0][]>();

    const executeSlotOn = (hostId: string): HostActivities['executeSlot'] => async (execution: SlotExecution): Promise<SlotResult> => {
      const c = caseOf.get(execution.jobId)!;
      // Runs are told apart only by what they compute from: the test's input (its id and container are like the job's).
      const isTest = execution.inputs?.['x.txt'] === TEST_INPUT;
      const honest = { ...okResult, resultDigest: isTest ? TEST_DIGEST : GOOD };
      if (hostId !== 'h1' || c.h1 === 'none') return honest;
      if (c.h1 === 'fails') {
        throw ApplicationFailure.create({ type: ZansocErrorType.ImageNotFound, nonRetryable: true, message: 'image nosuch/image:1 is not on this host' });
      }
      if (c.h1 === 'cheats') return { ...okResult, resultDigest: BAD };
      // Vanishes: never heartbeats again, so Temporal times the slot out.
      await Context.current().sleep(VANISHED_MS).catch(() => undefined);
      throw ApplicationFailure.create({ message: 'gone' });
    };
    const orchestrator = fakeOrchestrator({
      listOnlineHosts: async () => candidates,
      settleJob: async (settlement) => {
        settlements.set(settlement.jobId, [...(settlements.get(settlement.jobId) ?? []), settlement]);
        return { txHash: '0x2', alreadySettled: false, paidToHosts: settlement.payouts.reduce((s, p) => s + BigInt(p.amount), 0n).toString(), commission: '0', refunded: '0' };
      },
    });
    const connection = server().nativeConnection;
    const workers = [
      await Worker.create({ connection, taskQueue: ORCHESTRATOR_TASK_QUEUE, ...workflowBundle(), activities: orchestrator }),
      ...(await Promise.all(HOSTS.map((id) => Worker.create({ connection, taskQueue: hostTaskQueue(id), activities: hostActivities(id, executeSlotOn(id)) })))),
    ];

    const specOf = (c: Case): JobSpec => jobSpecSchema.parse({
      image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, replicas: c.replicas, challengeWindowSeconds: c.windowSeconds,
      queueTimeoutSeconds: 30,
      ...(c.tests ? { tests: [{ inputs: { 'x.txt': TEST_INPUT }, expectedDigest: TEST_DIGEST }] } : {}),
    });
    const outcomes = await runUntil(workers, Promise.all([...caseOf].map(async ([jobId, c]) => {
      const handle = await server().client.workflow.start(computeJob, {
        taskQueue: ORCHESTRATOR_TASK_QUEUE, workflowId: `job-${jobId}`,
        args: [{ jobId, spec: specOf(c), payment: fakePayment(jobId), stagingUrl: 'http://staging.invalid', spotCheckFraction: c.spotCheck ? 1 : 0 }],
      });
      // A job that never ends (its workflow task failing over and over) shows up here as a timeout, named.
      const status = await Promise.race([
        handle.result(),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 150_000)),
      ]);
      return { jobId, c, status };
    })));

    const problems: string[] = [];
    for (const { jobId, c, status } of outcomes) {
      const say = (problem: string) => problems.push(`${nameOf(c)}: ${problem}`);
      if (!status) {
        say('did not end');
        continue;
      }
      const s: JobStatus = status;
      if (!isFinalJobState(s.state)) say(`ended ${s.state}`);
      const settled = settlements.get(jobId) ?? [];
      if (settled.length !== 1) say(`settled ${settled.length} times`);
      const payouts = settled.flatMap((x) => x.payouts);
      const slashed = settled.flatMap((x) => x.slashes ?? []).filter((x) => x.host === host('h1').address);
      const paidH1 = payouts.some((p) => p.host === host('h1').address);
      if (BigInt(payouts.reduce((sum, p) => sum + BigInt(p.amount), 0n)) > BigInt(escrowFor(specOf(c)))) say('paid more than the escrow');
      // A lone replica's wrong digest with nothing to check it against is indistinguishable from a right one.
      const detectable = c.replicas > 1 || c.tests || c.spotCheck;
      if (c.h1 !== 'none' && (c.h1 !== 'cheats' || detectable) && paidH1) say('paid h1 for a result it did not give');
      if (c.h1 === 'none' && s.state !== 'SUCCEEDED') say(`ended ${s.state}: ${s.reason}`);
      if (c.h1 === 'vanishes' && (s.state !== 'SUCCEEDED' || slashed.length === 0)) say(`ended ${s.state} with h1 slashed ${slashed.length} times`);
      if (c.h1 === 'fails') {
        // h1 advertised the image and then lacked it: its fault, not the job's. It loses the slot (and part of its bond)
        // and another host runs it.
        if (s.state !== 'SUCCEEDED') say(`ended ${s.state} (${s.reason}), expected SUCCEEDED`);
        if (slashed.length === 0) say('h1 lacked an image it advertised and was not slashed');
      }
      if (c.h1 === 'cheats') {
        if (detectable && (s.state !== 'SUCCEEDED' || s.result?.resultDigest !== GOOD || slashed.length === 0)) {
          say(`ended ${s.state} with digest ${s.result?.resultDigest?.slice(0, 4)} and h1 slashed ${slashed.length} times`);
        }
      }
      if (s.state === 'SUCCEEDED' && c.h1 !== 'cheats' && s.result?.resultDigest !== GOOD) say('succeeded with a wrong digest');
      if (c.windowSeconds > 0 && s.state === 'SUCCEEDED' && !s.timeline.some((t) => t.step.startsWith('PROVISIONAL'))) say('skipped its challenge window');
    }
    expect(problems).toEqual([]);
  }, 300_000);
});
