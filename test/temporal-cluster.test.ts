import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { JOB_STATE } from '../domain/search-attributes';
import { HOST_ACTIVITY_POLLS } from '../domain/execution';
import { FRONTEND_LONG_POLLS, startTemporalCluster, uiSession, type TemporalCluster } from '../scripts/temporal-cluster';
import { clusterProbe } from './workflows/cluster-probe';
import { eventually } from './support/eventually';

/**
 * Zansoc's Temporal server as a cluster on PostgreSQL, each service in its own process: a workflow's search
 * attribute is found through visibility, a durable timer survives the history service being killed, clients and
 * workers reconnect to a restarted frontend, and the Web UI answers.
 */
jest.setTimeout(120_000);

const TASK_QUEUE = 'cluster-probe';
let cluster: TemporalCluster;
let client: Client;
let clientConnection: Connection;
let workerConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  cluster = await startTemporalCluster();
  clientConnection = await Connection.connect({ address: cluster.address });
  client = new Client({ connection: clientConnection, namespace: cluster.namespace });
  workerConnection = await NativeConnection.connect({ address: cluster.address });
  worker = await Worker.create({
    connection: workerConnection, namespace: cluster.namespace, taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('./workflows/cluster-probe')
  });
  workerRun = worker.run();
}, 180_000);

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await workerConnection?.close();
  await clientConnection?.close();
  await cluster?.stop();
});

const probe = (state: string, sleepMs = 0): Promise<WorkflowHandle<typeof clusterProbe>> =>
  client.workflow.start(clusterProbe, { taskQueue: TASK_QUEUE, workflowId: `probe-${randomUUID()}`, args: [{ state, sleepMs }] });


it('lists a workflow by the JobState it upserted, through PostgreSQL visibility', async () => {
  const state = `PROBE_${randomUUID().slice(0, 8)}`;
  const handle = await probe(state);
  expect(await handle.result()).toBe(state);
  const listed = await eventually(15_000, async () => {
    const ids: string[] = [];
    for await (const execution of client.workflow.list({ query: `${JOB_STATE.name} = "${state}"` })) ids.push(execution.workflowId);
    return ids.length ? ids : undefined;
  });
  expect(listed).toEqual([handle.workflowId]);
});

it('completes a workflow whose timer was pending when the history service was killed', async () => {
  const handle = await probe('TIMER', 6_000);
  await eventually(15_000, async () => {
    const { events } = await handle.fetchHistory();
    return events?.some((e) => e.timerStartedEventAttributes) || undefined;
  });
  const before = cluster.pids();
  await cluster.restartService('history', { signal: 'SIGKILL' });
  expect(cluster.pids()).not.toEqual(before);
  expect(await handle.result()).toBe('TIMER');
});

it('reconnects the client and the worker to a restarted frontend', async () => {
  await cluster.restartService('frontend');
  const handle = await eventually(30_000, () => probe('AFTER_FRONTEND_RESTART'));
  expect(await handle.result()).toBe('AFTER_FRONTEND_RESTART');
});

it('serves the Web UI to the operator\'s login only', async () => {
  // Without a session: the login page, and the UI's API answers 401.
  const page = await fetch(cluster.uiUrl!, { redirect: 'manual' });
  expect(page.status).toBe(303);
  expect(page.headers.get('location')).toBe('/zansoc/login');
  expect((await fetch(`${cluster.uiUrl}/api/v1/namespaces/${cluster.namespace}`)).status).toBe(401);
  await expect(uiSession(cluster.uiUrl!, { ...cluster.uiLogin!, password: 'not the password at all' })).rejects.toThrow(/HTTP 401/);
  const cookie = await uiSession(cluster.uiUrl!, cluster.uiLogin!);
  const res = await fetch(cluster.uiUrl!, { headers: { cookie } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/html/);
});

it('holds the long polls of a 1,000-host fleet at once, where Temporal\'s default limit refuses them', async () => {
  // Each host holds HOST_ACTIVITY_POLLS polls on its own queue, all the time; the orchestrator and a margin come on top.
  const hosts = 1_000;
  const polls = hosts * HOST_ACTIVITY_POLLS + 100;
  expect(polls).toBeGreaterThan(1_200);
  expect(polls).toBeLessThan(FRONTEND_LONG_POLLS);
  const connections = await Promise.all(Array.from({ length: 8 }, () => Connection.connect({ address: cluster.address })));
  const stop = new AbortController();
  setMaxListeners(polls, stop.signal);
  const refused: string[] = [];
  try {
    const held = Array.from({ length: polls }, (_, i) => {
      const connection = connections[i % connections.length];
      // A long poll, as a worker's: the server holds it until a task comes or a minute passes.
      return connection.withAbortSignal(stop.signal, () => connection.withDeadline(Date.now() + 70_000, () => connection.workflowService.pollActivityTaskQueue({
        namespace: cluster.namespace, taskQueue: { name: `fleet-${i % hosts}` }, identity: `fleet-poll-${i}`,
      }))).catch((err: Error) => {
        if (!stop.signal.aborted) refused.push(err.message);
      });
    });
    // The last queue's polls were sent last: once the server lists them, every poll is held (or was refused at once).
    await eventually(60_000, async () => {
      // Enhanced mode reads every partition of the queue (a poll lands on any of them).
      const { versionsInfo } = await client.workflowService.describeTaskQueue({
        namespace: cluster.namespace, taskQueue: { name: `fleet-${hosts - 1}` }, apiMode: 1, reportPollers: true, taskQueueTypes: [2],
      });
      const pollers = Object.values(versionsInfo ?? {}).flatMap((v) => v.typesInfo?.[2]?.pollers ?? []);
      return pollers.length >= HOST_ACTIVITY_POLLS || refused.length > 0 || undefined;
    });
    expect(refused.slice(0, 3)).toEqual([]);
    stop.abort();
    await Promise.all(held);
  } finally {
    stop.abort();
    await Promise.all(connections.map((c) => c.close()));
  }
}, 120_000);

it('leaves no process behind when stopped', async () => {
  const pids = cluster.pids();
  expect(pids).toHaveLength(5);
  worker.shutdown();
  await workerRun;
  await cluster.stop();
  const alive = pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  expect(alive).toEqual([]);
});
