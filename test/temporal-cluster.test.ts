import { randomUUID } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { JOB_STATE } from '../domain/search-attributes';
import { startTemporalCluster, uiSession, type TemporalCluster } from '../scripts/temporal-cluster';
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
