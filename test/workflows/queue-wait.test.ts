import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { ORCHESTRATOR_TASK_QUEUE } from '../../domain/execution';
import { jobSpecSchema } from '../../domain/job-spec';
import { ALL_SEARCH_ATTRIBUTES } from '../../domain/search-attributes';
import { computeJob, type ComputeJobInput } from '../../workflows';
import { CAPACITY_RECHECK_MS } from '../../workflows/common';
import { workflowBundle } from '../support/workflow-bundle';
import { fakeOrchestrator, fakePayment, host } from './fakes';

/**
 * A job that waits a whole day for a host, on Temporal's time-skipping test server (scripts/install-test-server):
 * waiting is a timer and the API's wake-ups, not a poll, so its history stays small however long it waits.
 */
describe('a job queued for 24 hours', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const path = execFileSync(join(__dirname, '../../scripts/install-test-server'), { encoding: 'utf8' }).trim().split('\n').pop()!;
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
    // The test server knows no search attribute until told, as a fresh namespace.
    const { INDEXED_VALUE_TYPE_KEYWORD: keyword, INDEXED_VALUE_TYPE_KEYWORD_LIST: keywordList } = temporal.api.enums.v1.IndexedValueType;
    await env.connection.operatorService.addSearchAttributes({
      namespace: 'default',
      searchAttributes: Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((key) => [key.name, key.type === SearchAttributeType.KEYWORD_LIST ? keywordList : keyword])),
    });
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  });

  it('keeps a small history, and looks at the hosts only on its rechecks', async () => {
    let looks = 0;
    // The one host never has a free slot: the job waits its whole queue timeout, then fails unmatched.
    const listOnlineHosts = async () => {
      looks++;
      return [{ ...host('h1'), freeSlots: 0 }];
    };
    const worker = await Worker.create({
      connection: env.nativeConnection, taskQueue: ORCHESTRATOR_TASK_QUEUE, ...workflowBundle(), activities: fakeOrchestrator({ listOnlineHosts }),
    });
    const jobId = `queued-${Date.now()}`;
    const spec = jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 1 }, queueTimeoutSeconds: 86_400 });
    const input: ComputeJobInput = { jobId, spec, payment: fakePayment(jobId, spec.maxPrice), stagingUrl: 'http://staging.invalid' };
    const status = await worker.runUntil(env.client.workflow.execute(computeJob, { taskQueue: ORCHESTRATOR_TASK_QUEUE, workflowId: `job-${jobId}`, args: [input] }));
    expect(status.state).toBe('FAILED');
    expect(status.reason).toMatch(/no host/i);

    const events = (await env.client.workflow.getHandle(`job-${jobId}`).fetchHistory()).events ?? [];
    // A 2 s poll made 43,200 looks a day, some 350,000 events: past Temporal's limit of 51,200, which ends a workflow.
    const expectedLooks = 86_400_000 / CAPACITY_RECHECK_MS + 1;
    expect(looks).toBeLessThanOrEqual(expectedLooks + 1);
    expect(events.length).toBeLessThan(1_000);
    console.log(`a day queued: ${looks} looks at the hosts, ${events.length} history events`);
  }, 120_000);
});
