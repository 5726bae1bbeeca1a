import { Wallet } from 'ethers';
import { createApiClient, type ApiClient } from '../api/client';
import { jobWatchOf } from '../api/job-watch';
import { signRequest } from '../api/signing';
import { callerAs, CHAIN_ID, startApiServer, type ApiServer } from './support/api-server';
import { submitJobAs } from './support/orders';

/**
 * jobs.wait, over real HTTP on a real database: a client follows a job without polling. This API runs no workers,
 * so a submitted job stays SUBMITTED until the test moves its read-model row, as the orchestrator's local activity does.
 */
const spec = { image: 'zansoc/busybox:1', command: ['true'] };

describe('jobs.wait: a long poll on a job', () => {
  let server: ApiServer;
  let api: ApiClient;
  const alice = new Wallet(Wallet.createRandom().privateKey);
  const mallory = new Wallet(Wallet.createRandom().privateKey);
  const submit = async () => (await submitJobAs(callerAs(server.deps, alice), alice, spec)).job;

  beforeAll(async () => {
    server = await startApiServer({ rateLimitPerMinute: 1_000_000 });
    await server.fund(alice.address, '100');
    api = createApiClient(server.url, { signer: alice, chainId: CHAIN_ID });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('answers within a tick of the job moving on, with the new state, and not before', async () => {
    const job = await submit();
    const started = performance.now();
    let answeredAt = NaN;
    const waiting = api.jobs.wait.query({ jobId: job.id, state: 'SUBMITTED', timeoutSeconds: 20 }).then((seen) => {
      answeredAt = performance.now();
      return seen;
    });
    await new Promise((r) => setTimeout(r, 700));
    expect(answeredAt).toBeNaN();
    const movedAt = performance.now();
    await server.db.job.update({ where: { id: job.id }, data: { state: 'QUEUED', stateReason: 'waiting for a host' } });
    const seen = await waiting;
    expect(seen).toMatchObject({ id: job.id, state: 'QUEUED', stateReason: 'waiting for a host' });
    expect(answeredAt - movedAt).toBeLessThan(1000);
    expect(answeredAt - started).toBeGreaterThanOrEqual(700);
  });

  it('answers a change of reason within the same state too', async () => {
    const job = await submit();
    await server.db.job.update({ where: { id: job.id }, data: { state: 'QUEUED', stateReason: 'waiting for a host' } });
    const waiting = api.jobs.wait.query({ jobId: job.id, state: 'QUEUED', stateReason: 'waiting for a host' });
    await new Promise((r) => setTimeout(r, 200));
    await server.db.job.update({ where: { id: job.id }, data: { stateReason: 'host-3 is bonding' } });
    expect(await waiting).toMatchObject({ state: 'QUEUED', stateReason: 'host-3 is bonding' });
  });

  it('answers at once when the job is already past what the client saw, or has ended', async () => {
    const job = await submit();
    let t = performance.now();
    expect(await api.jobs.wait.query({ jobId: job.id, state: 'RUNNING' })).toMatchObject({ state: 'SUBMITTED' });
    expect(performance.now() - t).toBeLessThan(1000);
    await server.db.job.update({ where: { id: job.id }, data: { state: 'FAILED', stateReason: 'no host' } });
    t = performance.now();
    expect(await api.jobs.wait.query({ jobId: job.id, state: 'FAILED', stateReason: 'no host' })).toMatchObject({ state: 'FAILED' });
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('answers the job as it is after timeoutSeconds when nothing moved, and holds no wait after', async () => {
    const job = await submit();
    const t = performance.now();
    expect(await api.jobs.wait.query({ jobId: job.id, state: 'SUBMITTED', timeoutSeconds: 1 })).toMatchObject({ state: 'SUBMITTED' });
    expect(performance.now() - t).toBeGreaterThanOrEqual(950);
    expect(performance.now() - t).toBeLessThan(3000);
    expect(jobWatchOf(server.deps.db).size).toBe(0);
  });

  it('holds many waits at once and wakes only the one whose job moved', async () => {
    const jobs = await Promise.all(Array.from({ length: 5 }, submit));
    const answered = new Set<string>();
    const waits = jobs.map((job) => api.jobs.wait.query({ jobId: job.id, state: 'SUBMITTED', timeoutSeconds: 3 }).then((seen) => {
      answered.add(seen.id);
      return seen;
    }));
    await new Promise((r) => setTimeout(r, 300));
    await server.db.job.update({ where: { id: jobs[2].id }, data: { state: 'QUEUED' } });
    await waits[2];
    expect([...answered]).toEqual([jobs[2].id]);
    expect((await Promise.all(waits)).map((s) => s.state)).toEqual(['SUBMITTED', 'SUBMITTED', 'QUEUED', 'SUBMITTED', 'SUBMITTED']);
  });

  it('gives a stranger NOT_FOUND, and names the bad field over plain HTTP', async () => {
    const job = await submit();
    const stranger = createApiClient(server.url, { signer: mallory, chainId: CHAIN_ID });
    await expect(stranger.jobs.wait.query({ jobId: job.id, state: 'SUBMITTED' })).rejects.toMatchObject({ message: `jobId: no job ${job.id}` });
    const get = async (query: string) => {
      const input = { jobId: job.id, ...Object.fromEntries(new URLSearchParams(query)) };
      const headers = await signRequest(alice, CHAIN_ID, 'jobs.wait', input);
      const res = await fetch(`${server.url}/api/jobs/${job.id}/wait?${query}`, { headers });
      return { status: res.status, body: JSON.stringify(await res.json()) };
    };
    const late = await get('state=RUNNING');
    expect(late.status).toBe(200);
    expect(late.body).toContain('"state":"SUBMITTED"');
    for (const [query, field] of [['state=DONE', 'state'], ['state=SUBMITTED&timeoutSeconds=31', 'timeoutSeconds'], ['timeoutSeconds=5', 'state']]) {
      const { status, body } = await get(query);
      expect(status).toBe(400);
      expect((JSON.parse(body) as { issues: { path: string[] }[] }).issues.map((i) => i.path[0])).toEqual([field]);
    }
  });
});
