import type { Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { POLLER_MAX_AGE_MS, readinessProblems } from '../api/readiness';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/execution';
import { startApiServer, type ApiServer } from './support/api-server';

/**
 * /readyz of the API alone (a real Temporal server and database, no worker of its own): it is ready only while an
 * orchestrator worker polls the orchestrator task queue, for workflow tasks and for activity tasks.
 */
describe('readiness', () => {
  let api: ApiServer;
  let connection: NativeConnection;
  const workers: { worker: Worker; running: Promise<void> }[] = [];

  beforeAll(async () => {
    api = await startApiServer({ rateLimitPerMinute: 1000 });
    // startApiServer connects its client with a Connection, whose options name the server's address.
    connection = await NativeConnection.connect({ address: (api.temporal.connection as Connection).options.address });
  }, 120_000);

  afterAll(async () => {
    for (const { worker } of workers) worker.shutdown();
    await Promise.all(workers.map(({ running }) => running));
    await connection?.close();
    await api?.stop();
  }, 60_000);

  const readyz = async () => {
    const res = await fetch(`${api.url}/readyz`);
    return { status: res.status, body: (await res.json()) as { ready: boolean; problems: string[] } };
  };
  /** /readyz once it stops answering what it answered before (a new poller shows up within a second or two). */
  const untilChanged = async (from: { status: number; body: unknown }) => {
    for (let i = 0; i < 60; i++) {
      const now = await readyz();
      if (JSON.stringify(now) !== JSON.stringify(from)) return now;
      await new Promise((r) => setTimeout(r, 500));
    }
    return readyz();
  };
  /** A worker on the orchestrator task queue that polls for one kind of task only. */
  const startWorker = async (kind: 'activities' | 'workflows') => {
    const worker = await Worker.create({
      connection,
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      ...(kind === 'activities' ? { activities: { async noop() {} } } : { workflowsPath: require.resolve('../workflows') }),
    });
    workers.push({ worker, running: worker.run() });
  };

  it('is not ready while no orchestrator worker polls its task queue, and says so', async () => {
    expect(await readyz()).toEqual({
      status: 503,
      body: {
        ready: false,
        problems: [
          `orchestrator worker: nothing polls task queue ${ORCHESTRATOR_TASK_QUEUE} for workflow tasks`,
          `orchestrator worker: nothing polls task queue ${ORCHESTRATOR_TASK_QUEUE} for activity tasks`,
        ],
      },
    });
  });

  it('names the kind of task nothing polls for', async () => {
    const before = await readyz();
    await startWorker('activities');
    expect(await untilChanged(before)).toEqual({
      status: 503,
      body: { ready: false, problems: [`orchestrator worker: nothing polls task queue ${ORCHESTRATOR_TASK_QUEUE} for workflow tasks`] },
    });
  });

  it('is ready once workers poll for both', async () => {
    const before = await readyz();
    await startWorker('workflows');
    expect(await untilChanged(before)).toEqual({ status: 200, body: { ready: true, problems: [] } });
  }, 120_000);

  it('counts a poller gone once its last poll is older than POLLER_MAX_AGE_MS, naming it', async () => {
    expect(await readinessProblems(api, Date.now() + 5_000)).toEqual([]);
    const problems = await readinessProblems(api, Date.now() + POLLER_MAX_AGE_MS + 60_000);
    expect(problems).toEqual(['workflow', 'activity'].map((kind) => expect.stringMatching(
      new RegExp(`^orchestrator worker: nothing polls task queue ${ORCHESTRATOR_TASK_QUEUE} for ${kind} tasks \\(last poll (\\d+) s ago, by \\d+@`),
    )));
    for (const problem of problems) expect(Number(/last poll (\d+) s ago/.exec(problem)![1])).toBeGreaterThan(POLLER_MAX_AGE_MS / 1000);
  });
});
