import type { Client } from '@temporalio/client';
import type { TRPCError } from '@trpc/server';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Wallet } from 'ethers';
import type { OpenAPIV3 } from 'openapi-types';
import { createApiClient, type ApiClient } from '../api/client';
import { signJobQuote, type OrderQuote } from '../api/order-signing';
import { signRequest } from '../api/signing';
import type { Database } from '../db/client';
import { callerAs, CHAIN_ID, startApiServer, type ApiServer, type AppCaller } from './support/api-server';
import { signedJobInput, submitJobAs } from './support/orders';

/**
 * The API's edge, over real HTTP, on a real database and a real Temporal server: every call that acts for someone is
 * signed, nobody acts for someone else, a replayed or tampered request is refused, limits hold, and each refusal
 * leaves nothing behind. (Jobs submitted here just wait: no worker runs them.)
 */
const RATE_LIMIT = 40;
const spec = { image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 } };

describe('API identity and limits', () => {
  let server: ApiServer;
  let temporal: Client;
  let db: Database;
  let url: string;
  const aliceKey = Wallet.createRandom();
  const bobKey = Wallet.createRandom();
  // The procedures' own rules are called in-process (createCaller); the edge's (signatures, limits) over HTTP.
  let alice: AppCaller;
  let bob: AppCaller;
  let asAlice: ApiClient;
  const refusedBy = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a refusal'); }, (err: unknown) => err as TRPCError);
  const post = (procedure: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}/trpc/${procedure}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  beforeAll(async () => {
    server = await startApiServer({ rateLimitPerMinute: RATE_LIMIT, maxRequestBytes: 64 * 1024 });
    ({ db, temporal, url } = server);
    asAlice = createApiClient(url, { signer: aliceKey, chainId: CHAIN_ID });
    alice = callerAs(server.deps, aliceKey);
    bob = callerAs(server.deps, bobKey);
    await Promise.all([server.fund(aliceKey.address, '100'), server.fund(bobKey.address, '100')]);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('refuses an unsigned or tampered call with 401 and creates nothing', async () => {
    // A whole submit, its order signed: only the request's own signature is missing or wrong.
    const input = await signedJobInput(alice, aliceKey, spec);
    const unsigned = await post('jobs.submit', input);
    expect(unsigned.status).toBe(401);
    expect(JSON.stringify(await unsigned.json())).toContain('this call must be signed');

    const headers = await signRequest(aliceKey, CHAIN_ID, 'jobs.submit', input);
    const tampered = await post('jobs.submit', { ...input, spec: { ...spec, command: ['rm', '-rf', '/'] } }, headers);
    expect(tampered.status).toBe(401);
    expect(JSON.stringify(await tampered.json())).toContain('the signature does not match this request and address');
    const elsewhere = await post('jobs.cancel', input, headers);
    expect(elsewhere.status).toBe(401);
    expect(await db.job.count()).toBe(0);
  });

  it('refuses a replayed request: the same signed call twice creates one job', async () => {
    const body = await signedJobInput(alice, aliceKey, spec, { idempotencyKey: 'replay-test' });
    const headers = await signRequest(aliceKey, CHAIN_ID, 'jobs.submit', body);
    const first = await post('jobs.submit', body, headers);
    expect(first.status).toBe(200);
    const again = await post('jobs.submit', body, headers);
    expect(again.status).toBe(401);
    expect(JSON.stringify(await again.json())).toContain('replayed request');
    expect(await db.job.count({ where: { idempotencyKey: 'replay-test' } })).toBe(1);
  });

  it('keeps each client to its own jobs: another key finds nothing and changes nothing', async () => {
    const { job } = await submitJobAs(alice, aliceKey, spec);
    expect(job.state).toBe('SUBMITTED');
    for (const attempt of [
      bob.jobs.get({ jobId: job.id }),
      bob.jobs.logs({ jobId: job.id }),
      bob.jobs.status({ jobId: job.id }),
      bob.jobs.cancel({ jobId: job.id }),
    ]) {
      const err = await refusedBy(attempt);
      expect(err.code).toBe('NOT_FOUND');
      expect(err.message).toBe(`jobId: no job ${job.id}`);
    }
    expect((await bob.jobs.list({})).jobs).toEqual([]);
    expect((await alice.jobs.list({})).jobs.map((j) => j.id)).toContain(job.id);
    const row = await db.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(row.clientId).toBe(`did:ethr:${CHAIN_ID}:${aliceKey.address.toLowerCase()}`);
    await temporal.workflow.getHandle(`job-${job.id}`).terminate('test done');
  });

  it('lets only a host\'s own key register it, heartbeat, change its status or challenge with it', async () => {
    const offer = {
      hostId: 'alice-host', address: aliceKey.address, did: `did:ethr:${CHAIN_ID}:${aliceKey.address}`, arch: 'x86_64', cpus: 2,
      memoryMiB: 1024, diskMiB: 1000, gpus: 0, maxSlots: 1, pricePerCpuSecond: '1000',
    };
    const impostor = await refusedBy(bob.hosts.register(offer));
    expect(impostor.code).toBe('FORBIDDEN');
    expect(impostor.message).toBe('address: must be the address of the key that signs the registration');
    expect(await db.host.count()).toBe(0);

    await alice.hosts.register(offer);
    const taken = await refusedBy(bob.hosts.register({ ...offer, address: bobKey.address, did: `did:ethr:${CHAIN_ID}:${bobKey.address}` }));
    expect(taken.code).toBe('CONFLICT');
    const before = await db.host.findUniqueOrThrow({ where: { id: 'alice-host' } });
    expect((await refusedBy(bob.hosts.heartbeat({ hostId: 'alice-host' }))).code).toBe('NOT_FOUND');
    expect((await refusedBy(bob.hosts.setStatus({ hostId: 'alice-host', status: 'offline' }))).code).toBe('NOT_FOUND');
    const after = await db.host.findUniqueOrThrow({ where: { id: 'alice-host' } });
    expect(after).toMatchObject({ status: 'online', lastSeenAt: before.lastSeenAt });
    await alice.hosts.heartbeat({ hostId: 'alice-host' });

    const { job } = await submitJobAs(bob, bobKey, spec);
    const challenge = await refusedBy(bob.jobs.challenge({ jobId: job.id, verifierHostId: 'alice-host' }));
    expect(challenge.code).toBe('FORBIDDEN');
    expect(challenge.message).toBe('verifierHostId: host alice-host is not yours: sign with its key');
    await temporal.workflow.getHandle(`job-${job.id}`).terminate('test done');
  });

  it('answers 413 to an oversized body, and nothing is created', async () => {
    const jobsBefore = await db.job.count();
    const huge = { spec: { ...spec, env: { BIG: 'x'.repeat(100 * 1024) } } };
    const res = await post('jobs.submit', huge, await signRequest(aliceKey, CHAIN_ID, 'jobs.submit', huge));
    expect(res.status).toBe(413);
    expect(await db.job.count()).toBe(jobsBefore);
  });

  it('serves health, and readiness: not ready, as this API has no orchestrator worker (test/readiness.test.ts has one)', async () => {
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      ready: false,
      problems: ['workflow', 'activity'].map((kind) => `orchestrator worker: nothing polls task queue zansoc-orchestrator for ${kind} tasks`),
    });
  });

  it('rate-limits each identity on its own: one key at its limit gets 429, another is unaffected', async () => {
    const carol = Wallet.createRandom();
    const list = async (who: Wallet | typeof carol) => fetch(`${url}/trpc/jobs.list`, { headers: await signRequest(who, CHAIN_ID, 'jobs.list', undefined) });
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMIT + 5; i++) statuses.push((await list(carol)).status);
    expect(statuses.slice(0, RATE_LIMIT - 5).every((s) => s === 200)).toBe(true);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    const limited = await list(carol);
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as { message: string; code: string };
    expect(body.message).toMatch(/^rate limit: at most 40 calls a minute per identity; try again in \d+s$/);
    expect(body.code).toBe('TOO_MANY_REQUESTS');
    expect((await list(Wallet.createRandom())).status).toBe(200);
    expect((await asAlice.jobs.list.query()).jobs.length).toBeGreaterThan(0);
  });

  it('publishes a valid OpenAPI document, and a call made from it with plain fetch works', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as OpenAPIV3.Document;
    await SwaggerParser.validate(structuredClone(doc) as never);
    const base = `${url}${new URL(doc.servers![0].url).pathname}`;
    const find = (operationId: string) => {
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const method of ['get', 'post'] as const) if (item?.[method]?.operationId === operationId) return { path, method: method.toUpperCase() };
      }
      throw new Error(`no operation ${operationId}`);
    };

    // As a client in any language does it: ask for a quote, sign its order and permit (EIP-712), submit them.
    const plainPost = async (operationId: string, procedure: string, body: unknown) => {
      const { path, method } = find(operationId);
      return fetch(`${base}${path}`, {
        method, headers: { 'content-type': 'application/json', ...(await signRequest(aliceKey, CHAIN_ID, procedure, body)) }, body: JSON.stringify(body),
      });
    };
    const jobSpec = { image: 'zansoc/busybox:1', command: ['echo', 'from plain HTTP'] };
    const quoted = await plainPost('jobs-quote', 'jobs.quote', { spec: jobSpec });
    expect(quoted.status).toBe(200);
    const { jobId, quote } = (await quoted.json()) as { jobId: string; quote: OrderQuote };
    const created = await plainPost('jobs-submit', 'jobs.submit', { spec: jobSpec, jobId, ...(await signJobQuote(aliceKey, jobSpec, quote)) });
    expect(created.status).toBe(200);
    const { job } = (await created.json()) as { job: { id: string; state: string } };
    expect(job.state).toBe('SUBMITTED');

    const get = find('jobs-get');
    const read = await fetch(`${base}${get.path.replace('{jobId}', job.id)}`, { headers: await signRequest(aliceKey, CHAIN_ID, 'jobs.get', { jobId: job.id }) });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { id: string }).id).toBe(job.id);
    const unsigned = await fetch(`${base}${get.path.replace('{jobId}', job.id)}`);
    expect(unsigned.status).toBe(401);
    const hosts = await fetch(`${base}${find('hosts-list').path}`);
    expect(hosts.status).toBe(200);
    await temporal.workflow.getHandle(`job-${job.id}`).terminate('test done');

    const page = await fetch(`${url}/docs`);
    expect(await page.text()).toContain('SwaggerUIBundle');
    expect((await fetch(`${url}/docs/swagger-ui-bundle.js`)).status).toBe(200);
  });
});
