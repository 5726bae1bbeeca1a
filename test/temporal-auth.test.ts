import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledFailure, Client, Connection, isGrpcServiceError, WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Wallet, verifyTypedData } from 'ethers';
import { createHostCertificates } from '../api/host-certificates';
import { createConsentActivities } from '../host-worker/activities/consent';
import { issueClientCertificate } from '../runtime/x509';
import { JOB_STATE } from '../domain/search-attributes';
import { BOND_CONSENT_TYPES, chainJobId, escrowDomain, escrowIdOf, JOB_ESCROW_DOMAIN_NAME } from '../domain/orders';
import { startTemporalCluster, uiSession, type TemporalCluster } from '../scripts/temporal-cluster';
import { certPair, createCertificateAuthority, type CertificateFiles } from '../scripts/tls-certificates';
import { finish, hostProbe, hostProbeState, poke, type HostProbeState } from './workflows/host-probe';
import { eventually } from './support/eventually';

/**
 * Zansoc's Temporal server with mTLS, as production runs it: the frontend refuses a connection without a certificate
 * of the cluster's CA, and the authorizer (temporal-server/authorizer.go) confines each identity. A host runs the
 * activities it was given on its own queue and can do nothing else; the API starts and reads workflows but never
 * touches tasks; operators can do everything, the Web UI too.
 */
jest.setTimeout(120_000);

const ORCHESTRATOR_QUEUE = 'auth-orchestrator';
const CHAIN_ID = 31337;
const ESCROWS = { jobEscrow: Wallet.createRandom().address, storageEscrow: Wallet.createRandom().address };
const PERMISSION_DENIED = 7;

let cluster: TemporalCluster;
let orchestrator: Client;
let hostClient: Client;
let hostCert: CertificateFiles;
const hostWallet = Wallet.createRandom();
const connections: { close(): Promise<void> }[] = [];
const workers: { worker: Worker; run: Promise<void> }[] = [];
let foreignDir: string;

async function connect(cert: CertificateFiles): Promise<Connection> {
  const connection = await Connection.connect({ address: cluster.address, tls: cluster.tls!.connectionTls(cert) });
  connections.push(connection);
  return connection;
}

async function clientAs(cert: CertificateFiles): Promise<Client> {
  return new Client({ connection: await connect(cert), namespace: cluster.namespace });
}

async function startWorker(cert: CertificateFiles, opts: Omit<Parameters<typeof Worker.create>[0], 'connection' | 'namespace'>): Promise<void> {
  const connection = await NativeConnection.connect({ address: cluster.address, tls: cluster.tls!.connectionTls(cert) });
  connections.push(connection);
  const worker = await Worker.create({ connection, namespace: cluster.namespace, ...opts });
  workers.push({ worker, run: worker.run() });
}

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  cluster = await startTemporalCluster({ tls: true });
  const tls = cluster.tls!;
  orchestrator = await clientAs(tls.orchestrator);
  await startWorker(tls.orchestrator, { taskQueue: ORCHESTRATOR_QUEUE, workflowsPath: require.resolve('./workflows/host-probe') });
  hostCert = tls.issueClientCertificate('zansoc-host:h1');
  hostClient = await clientAs(hostCert);
  // The host's worker, as host-worker/run.ts makes it: its own queue, the real consent activity. It also offers an
  // activity of the orchestrator's name, which it must never be able to answer.
  const consent = createConsentActivities({ wallet: hostWallet, chainId: CHAIN_ID, escrows: ESCROWS, maxBond: 10n ** 18n });
  await startWorker(hostCert, {
    taskQueue: 'host.h1',
    activities: { ...consent, settleJob: async () => ({ paid: 'everything to h1' }) },
  });
  foreignDir = mkdtempSync(join(tmpdir(), 'zansoc-foreign-ca-'));
}, 240_000);

afterAll(async () => {
  for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  await Promise.all(workers.map(({ run }) => run));
  for (const connection of connections) await connection.close();
  await cluster?.stop();
  if (foreignDir) rmSync(foreignDir, { recursive: true, force: true });
});

const client = Wallet.createRandom().address;
const consentRequest = (jobId: string) => ({ escrow: 'job' as const, client, id: jobId, amount: '1000' });

function startProbe(by: Client, activity = 'consentToBond', hostQueue = 'host.h1'): Promise<WorkflowHandle<typeof hostProbe>> {
  const jobId = randomUUID();
  return by.workflow.start(hostProbe, {
    taskQueue: ORCHESTRATOR_QUEUE, workflowId: `job-${jobId}`,
    args: [{ hostQueue, activity, request: consentRequest(jobId) }],
  });
}


const settled = (handle: WorkflowHandle<typeof hostProbe>) =>
  eventually(20_000, async () => {
    const state = await handle.query(hostProbeState);
    return state.consent || state.failure ? state : undefined;
  });

/** The call fails with PermissionDenied from the authorizer (the gRPC error, or a client error caused by it). */
async function expectDenied(call: Promise<unknown>): Promise<void> {
  const err = await call.then(() => new Error('allowed'), (e: unknown) => e);
  const cause = (err as Error).cause;
  const grpc = isGrpcServiceError(err) ? err : isGrpcServiceError(cause) ? cause : undefined;
  expect({ code: grpc?.code, details: grpc?.details, message: (err as Error).message })
    .toEqual({ code: PERMISSION_DENIED, details: expect.stringMatching(/unauthorized/i), message: expect.any(String) });
}

/** Raw gRPC calls that would long-poll if allowed get a deadline, so a hole fails the test instead of hanging it. */
const soon = <T>(connection: Connection, fn: () => Promise<T>) => connection.withDeadline(Date.now() + 10_000, fn);

describe('connections', () => {
  it('refuses a connection without a client certificate, and one without TLS', async () => {
    const noCert = Connection.connect({ address: cluster.address, tls: { serverRootCACertificate: cluster.tls!.caPem, serverNameOverride: 'localhost' }, connectTimeout: 5_000 })
      .then(async (c) => { connections.push(c); await c.workflowService.getSystemInfo({}); });
    await expect(noCert).rejects.toThrow();
    const plain = Connection.connect({ address: cluster.address, connectTimeout: 5_000 })
      .then(async (c) => { connections.push(c); await c.workflowService.getSystemInfo({}); });
    await expect(plain).rejects.toThrow();
    await expect(NativeConnection.connect({ address: cluster.address, tls: { serverRootCACertificate: cluster.tls!.caPem, serverNameOverride: 'localhost' } }))
      .rejects.toThrow();
  });

  it('refuses a certificate of another CA, even one naming the orchestrator', async () => {
    const rogue = createCertificateAuthority(foreignDir, 'Rogue CA').issueClient('zansoc-orchestrator');
    const attempt = Connection.connect({
      address: cluster.address, connectTimeout: 5_000,
      tls: { serverRootCACertificate: cluster.tls!.caPem, serverNameOverride: 'localhost', clientCertPair: certPair(rogue) },
    }).then(async (c) => { connections.push(c); await c.workflowService.getSystemInfo({}); });
    await expect(attempt).rejects.toThrow();
    await expect(NativeConnection.connect({
      address: cluster.address, tls: { serverRootCACertificate: cluster.tls!.caPem, serverNameOverride: 'localhost', clientCertPair: certPair(rogue) },
    })).rejects.toThrow();
  });

  it('refuses a certificate that names no Zansoc identity', async () => {
    await expectDenied(connect(cluster.tls!.issueClientCertificate('someone')));
    await expectDenied(connect(cluster.tls!.issueClientCertificate('zansoc-host:h1/../h2')));
  });
});

describe('a host (zansoc-host:h1)', () => {
  let handle: WorkflowHandle<typeof hostProbe>;

  beforeAll(async () => {
    handle = await startProbe(orchestrator);
  });

  it('runs the activity a workflow schedules on its own queue, end to end', async () => {
    const { consent, failure } = await settled(handle);
    expect(failure).toBeUndefined();
    const jobId = handle.workflowId.slice('job-'.length);
    const signer = verifyTypedData(escrowDomain(JOB_ESCROW_DOMAIN_NAME, CHAIN_ID, ESCROWS.jobEscrow), BOND_CONSENT_TYPES,
      { escrowId: escrowIdOf(client, chainJobId(jobId)), host: hostWallet.address, amount: '1000', deadline: consent!.deadline }, consent!.signature);
    expect(signer).toBe(hostWallet.address);
  });

  it('cannot answer an activity that is not a host\'s, even on its own queue', async () => {
    const rogue = await startProbe(orchestrator, 'settleJob');
    const { consent, failure } = await settled(rogue);
    expect(consent).toBeUndefined();
    // The host's worker got the task and answered; the answer was denied, so the activity timed out.
    expect(failure).toMatch(/^TimeoutFailure/);
    await rogue.signal(finish);
    expect((await rogue.result()).failure).toMatch(/^TimeoutFailure/);
  });

  it('cannot poll another queue: the orchestrator\'s, another host\'s, a partition, or workflow tasks', async () => {
    const service = hostClient.workflowService;
    const { connection } = hostClient;
    const namespace = cluster.namespace;
    for (const name of ['zansoc-orchestrator', ORCHESTRATOR_QUEUE, 'host.h2', '/_sys/host.h2/1']) {
      await expectDenied(soon(connection as Connection, () => service.pollActivityTaskQueue({ namespace, taskQueue: { name }, identity: 'h1' })));
    }
    for (const name of [ORCHESTRATOR_QUEUE, 'host.h1']) {
      await expectDenied(soon(connection as Connection, () => service.pollWorkflowTaskQueue({ namespace, taskQueue: { name }, identity: 'h1' })));
    }
  });

  it('cannot describe, query, read the history of, list, signal or terminate a workflow', async () => {
    const seen = hostClient.workflow.getHandle(handle.workflowId);
    await expectDenied(seen.describe());
    await expectDenied(seen.query(hostProbeState));
    await expectDenied(seen.fetchHistory());
    await expectDenied(hostClient.workflow.list()[Symbol.asyncIterator]().next());
    await expectDenied(hostClient.workflowService.countWorkflowExecutions({ namespace: cluster.namespace }));
    await expectDenied(seen.signal(poke));
    await expectDenied(seen.signal(finish));
    await expectDenied(seen.cancel());
    await expectDenied(seen.terminate('a host ends a job'));
    await expectDenied(hostClient.workflow.start(hostProbe, {
      taskQueue: ORCHESTRATOR_QUEUE, workflowId: `job-${randomUUID()}`, args: [{ hostQueue: 'host.h1', activity: 'consentToBond', request: consentRequest('x') }],
    }));
    await expectDenied(hostClient.connection.operatorService.listSearchAttributes({ namespace: cluster.namespace }));
    // Completing an activity by workflow and activity id, without a task token.
    await expectDenied(hostClient.workflowService.respondActivityTaskCompletedById({
      namespace: cluster.namespace, workflowId: handle.workflowId, activityId: '1',
    }));
  });

  it('cannot answer with a task token handed to another host, nor with the token as history issued it', async () => {
    // Host h3 polls its own queue by hand, so the test holds the token the frontend handed it.
    const h3 = await clientAs(cluster.tls!.issueClientCertificate('zansoc-host:h3'));
    const probe = await startProbe(orchestrator, 'consentToBond', 'host.h3');
    const task = await soon(h3.connection as Connection, () =>
      h3.workflowService.pollActivityTaskQueue({ namespace: cluster.namespace, taskQueue: { name: 'host.h3' }, identity: 'h3' }));
    expect(task.workflowExecution?.workflowId).toBe(probe.workflowId);
    expect(task.activityType?.name).toBe('consentToBond');
    const bound = Buffer.from(task.taskToken!);
    const forged = { signature: '0x' + 'ab'.repeat(65), deadline: 1 };
    const answer = (taskToken: Uint8Array) => ({
      namespace: cluster.namespace, taskToken, identity: 'h1',
      result: { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(forged)) }] },
    });
    // h1 copies h3's token; then strips the binding (the last 35 bytes: tasktoken.go) to present history's own.
    await expectDenied(hostClient.workflowService.respondActivityTaskCompleted(answer(bound)));
    await expectDenied(hostClient.workflowService.respondActivityTaskCompleted(answer(bound.subarray(0, bound.length - 35))));
    await expectDenied(h3.workflowService.respondActivityTaskCompleted(answer(bound.subarray(0, bound.length - 35))));
    await expectDenied(hostClient.workflowService.recordActivityTaskHeartbeat({ namespace: cluster.namespace, taskToken: bound }));
    // The host it was handed to answers with it.
    await h3.workflowService.respondActivityTaskCompleted(answer(bound));
    expect((await settled(probe)).consent).toEqual(forged);
    await probe.signal(finish);
    await probe.result();
  });

  it('leaves the workflow unaffected', async () => {
    const { status } = await handle.describe();
    expect(status.name).toBe('RUNNING');
    expect((await handle.query(hostProbeState)).pokes).toBe(0);
    await handle.signal(finish);
    const result: HostProbeState = await handle.result();
    expect(result.pokes).toBe(0);
    expect(result.consent?.signature).toMatch(/^0x[0-9a-f]{130}$/);
  });
});

describe('the API (zansoc-api:api)', () => {
  it('starts, describes, queries, signals and cancels workflows, but never polls or ends them', async () => {
    const api = await clientAs(cluster.tls!.issueClientCertificate('zansoc-api:api'));
    const handle = await startProbe(api);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await settled(handle);
    await handle.signal(poke);
    expect((await eventually(10_000, async () => {
      const state = await handle.query(hostProbeState);
      return state.pokes === 1 ? state : undefined;
    })).pokes).toBe(1);
    const listed = await eventually(15_000, async () => {
      for await (const execution of api.workflow.list({ query: `WorkflowId = "${handle.workflowId}"` })) return execution.workflowId;
      return undefined;
    });
    expect(listed).toBe(handle.workflowId);
    const { connection } = api;
    await expectDenied(soon(connection as Connection, () => api.workflowService.pollActivityTaskQueue({ namespace: cluster.namespace, taskQueue: { name: 'host.h1' } })));
    await expectDenied(soon(connection as Connection, () => api.workflowService.pollWorkflowTaskQueue({ namespace: cluster.namespace, taskQueue: { name: ORCHESTRATOR_QUEUE } })));
    await expectDenied(handle.fetchHistory());
    await expectDenied(handle.terminate('the API ends a job'));
    await handle.cancel();
    const ended = await orchestrator.workflow.getHandle(handle.workflowId).result().catch((err: WorkflowFailedError) => err);
    expect(ended).toBeInstanceOf(WorkflowFailedError);
    expect((ended as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  });
});

describe('an operator (zansoc-operator:cluster)', () => {
  it('can read, message and end any workflow, and manage the namespace', async () => {
    const operator = await clientAs(cluster.tls!.operator);
    const handle = await startProbe(orchestrator);
    const seen = operator.workflow.getHandle(handle.workflowId);
    await settled(seen);
    expect((await seen.describe()).status.name).toBe('RUNNING');
    expect((await seen.fetchHistory()).events?.length).toBeGreaterThan(0);
    await seen.signal(poke);
    const { customAttributes } = await operator.connection.operatorService.listSearchAttributes({ namespace: cluster.namespace });
    expect(Object.keys(customAttributes ?? {})).toContain(JOB_STATE.name);
    await seen.terminate('an operator ends a probe');
    expect((await handle.describe()).status.name).toBe('TERMINATED');
    await expect(operator.workflow.getHandle(`job-${randomUUID()}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('uses the Web UI, which reaches the frontend with the operator\'s certificate, behind the operator\'s login', async () => {
    // Without the login nothing of the operator's powers is reachable: not the UI's API, and no signal or termination.
    expect((await fetch(`${cluster.uiUrl}/api/v1/namespaces/${cluster.namespace}`)).status).toBe(401);
    expect((await fetch(`${cluster.uiUrl}/api/v1/namespaces/${cluster.namespace}/workflows/any/terminate`, { method: 'POST', body: '{}' })).status).toBe(401);
    const cookie = await uiSession(cluster.uiUrl!, cluster.uiLogin!);
    const page = await fetch(cluster.uiUrl!, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    // The UI's own API answers from the frontend: the namespace it lists came over mTLS.
    const res = await fetch(`${cluster.uiUrl}/api/v1/namespaces/${cluster.namespace}`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { namespaceInfo: { name: string } }).namespaceInfo.name).toBe(cluster.namespace);
  });
});

describe('the host CA the API runs (api/host-certificates.ts)', () => {
  const issuer = () => ({ certificatePem: readFileSync(cluster.tls!.hostCa.certFile, 'utf8'), keyPem: readFileSync(cluster.tls!.hostCa.keyFile, 'utf8') });
  /** A certificate of the host CA for a key made here, written where certPair reads it. */
  const fromHostCa = (commonName: string): CertificateFiles => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const base = join(foreignDir, commonName.replace(/[^a-z0-9-]/gi, '_'));
    writeFileSync(`${base}.pem`, issueClientCertificate(issuer(), { commonName, publicKey, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000) }));
    writeFileSync(`${base}.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    return { commonName, certFile: `${base}.pem`, keyFile: `${base}.key` };
  };

  it('certifies a host that then works its own queue, and nothing else', async () => {
    const certificates = createHostCertificates({
      caCertFile: cluster.tls!.hostCa.certFile, caKeyFile: cluster.tls!.hostCa.keyFile, serverCaFile: cluster.tls!.caFile, serverName: 'localhost', lifetimeHours: 1,
    });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issued = certificates.issue('h9', publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const tls = { serverRootCACertificate: Buffer.from(issued.serverCa), serverNameOverride: issued.serverName, clientCertPair: { crt: Buffer.from(issued.certificate), key: Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string) } };
    const connection = await NativeConnection.connect({ address: cluster.address, tls });
    connections.push(connection);
    const consent = createConsentActivities({ wallet: hostWallet, chainId: CHAIN_ID, escrows: ESCROWS, maxBond: 10n ** 18n });
    const worker = await Worker.create({ connection, namespace: cluster.namespace, taskQueue: 'host.h9', activities: consent });
    workers.push({ worker, run: worker.run() });
    const probe = await startProbe(orchestrator, 'consentToBond', 'host.h9');
    expect((await settled(probe)).consent?.signature).toMatch(/^0x[0-9a-f]{130}$/);
    await probe.signal(finish);
    await probe.result();
    const h9 = new Client({ connection: await Connection.connect({ address: cluster.address, tls }), namespace: cluster.namespace });
    connections.push(h9.connection);
    await expectDenied(soon(h9.connection as Connection, () => h9.workflowService.pollActivityTaskQueue({ namespace: cluster.namespace, taskQueue: { name: 'zansoc-orchestrator' }, identity: 'h9' })));
    await expectDenied(h9.workflow.getHandle(probe.workflowId).fetchHistory());
  });

  it('cannot mint any identity but a host\'s: its orchestrator, operator or API certificates are refused', async () => {
    for (const commonName of ['zansoc-orchestrator', 'zansoc-operator:mallory', 'zansoc-api:api', 'zansoc-system-worker']) {
      await expectDenied(connect(fromHostCa(commonName)));
    }
    // The same CA's host certificate is taken.
    const host = await connect(fromHostCa('zansoc-host:h8'));
    await expect(host.workflowService.getSystemInfo({})).resolves.toBeDefined();
  });
});

describe('the host\'s worker', () => {
  it('starts, polls, answers and shuts down with nothing denied but what the tests above tried', async () => {
    const host = workers.find(({ worker }) => worker.options.taskQueue === 'host.h1')!;
    host.worker.shutdown();
    await host.run;
    const denied = new Set(cluster.log('frontend').split('\n').filter((line) => line.includes('Zansoc authorizer denied'))
      .map((line) => JSON.parse(line) as { caller: string; api: string })
      .filter(({ caller }) => caller === 'host:h1')
      .map(({ api }) => api.split('/').pop()));
    expect([...denied].sort()).toEqual([
      'CountWorkflowExecutions', 'DescribeWorkflowExecution', 'GetWorkflowExecutionHistory', 'ListSearchAttributes',
      'ListWorkflowExecutions', 'PollActivityTaskQueue', 'PollWorkflowTaskQueue', 'QueryWorkflow', 'RecordActivityTaskHeartbeat',
      'RequestCancelWorkflowExecution', 'RespondActivityTaskCompleted', 'RespondActivityTaskCompletedById', 'SignalWorkflowExecution', 'StartWorkflowExecution',
      'TerminateWorkflowExecution',
    ]);
  });
});
