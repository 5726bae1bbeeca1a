import { Wallet } from 'ethers';
import type { OpenAPIV3 } from 'openapi-types';
import { signRequest } from '../api/signing';
import type { Database } from '../db/client';
import { callerAs, CHAIN_ID, startApiServer, type ApiServer } from './support/api-server';
import { signedJobInput, submitJobAs } from './support/orders';

/**
 * What the edge answers to bad input, over real HTTP: 4xx naming the problem, never a 500, no server internals in the
 * body, and only statuses the OpenAPI document lists.
 */
const spec = { image: 'zansoc/busybox:1', command: ['true'] };
/** The issue's repro: about 30 KB of JSON nested 5,000 levels deep. */
const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;

type ErrorBody = { message: string; code: string; issues?: { path: (string | number)[]; message: string }[]; data?: Record<string, unknown>; error?: { message: string; data?: Record<string, unknown> } };

describe('API edge', () => {
  let server: ApiServer;
  let db: Database;
  let url: string;
  const alice = new Wallet(Wallet.createRandom().privateKey);
  const send = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${url}${path}`, init);
    return { status: res.status, body: (await res.json()) as ErrorBody };
  };
  const json = (body: string, headers: Record<string, string> = {}): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  /** alice's order for `spec`, quoted and signed: what jobs.submit takes besides the spec. */
  const orderFor = async (of: typeof spec) => {
    const { spec: _spec, ...order } = await signedJobInput(callerAs(server.deps, alice), alice, of);
    return order;
  };

  beforeAll(async () => {
    server = await startApiServer({ rateLimitPerMinute: 1_000_000 });
    ({ db, url } = server);
    await server.fund(alice.address, '100');
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it.each(['/api/jobs', '/trpc/jobs.submit'])('answers 400 naming the nesting to a deeply nested body on %s', async (path) => {
    const { status, body } = await send(path, json(deep));
    expect(status).toBe(400);
    expect(body.message).toMatch(/^request body: JSON nested deeper than 32 levels$/);
    expect(await db.job.count()).toBe(0);
  });

  it('answers 400 to a deeply nested tRPC query input', async () => {
    const input = `${'['.repeat(1000)}${']'.repeat(1000)}`;
    const { status, body } = await send(`/trpc/hosts.list?input=${encodeURIComponent(input)}`);
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toContain('input: JSON nested deeper than 32 levels');
  });

  it('accepts a body nested as deep as the limit (then judges it by its schema)', async () => {
    // The spec and its command are two levels already.
    const atLimit = `${'['.repeat(30)}${']'.repeat(30)}`;
    const { status, body } = await send('/api/jobs', json(JSON.stringify({ spec: { ...spec, command: JSON.parse(atLimit) } })));
    expect(status).toBe(401);
    expect(body.message).toContain('this call must be signed');
  });

  it('sends no stack traces or server paths in error bodies', async () => {
    const refusals = [
      await send('/api/jobs', json(JSON.stringify({ spec }))),
      await send('/trpc/jobs.submit', json(JSON.stringify({ spec }))),
      await send('/api/hosts/no-such-host'),
      await send('/trpc/hosts.get?input=%7B%7D'),
      await send('/api/nowhere'),
    ];
    for (const { status, body } of refusals) {
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
      expect(JSON.stringify(body)).not.toMatch(/stack|node_modules|\/work\/|at \w+ \(/);
    }
  });

  it('takes a POST without a body where the body is optional (the faucet)', async () => {
    const headers = await signRequest(alice, CHAIN_ID, 'wallet.faucet', {});
    const { status, body } = await send('/api/wallet/faucet', { method: 'POST', headers });
    // This API has a chain but no faucet: the faucet is refused for that, not for the missing body.
    expect(status).toBe(412);
    expect(body.message).toBe('this API has no faucet (devnet only: FAUCET_KEY)');
  });

  it.each([
    ['0', /^must be more than 0/],
    [(2n ** 88n).toString(), /^309485009821345068724781056 base units is more than JobEscrow takes as a price per slot/],
  ])('refuses maxPrice %s at the edge, naming the field, and creates nothing', async (maxPrice, message) => {
    // Under a well-formed signed order, so that the spec's field is all the schema refuses.
    const input = { ...(await orderFor(spec)), spec: { ...spec, maxPrice } };
    const viaApi = await send('/api/jobs', json(JSON.stringify(input), await signRequest(alice, CHAIN_ID, 'jobs.submit', input)));
    expect(viaApi.status).toBe(400);
    expect(viaApi.body.issues).toEqual([expect.objectContaining({ path: ['spec', 'maxPrice'], message: expect.stringMatching(message) })]);
    const viaTrpc = await send('/trpc/jobs.submit', json(JSON.stringify(input), await signRequest(alice, CHAIN_ID, 'jobs.submit', input)));
    expect(viaTrpc.status).toBe(400);
    expect(viaTrpc.body.error?.message).toMatch(new RegExp(`^spec\\.maxPrice: ${message.source.slice(1)}`));
    expect(await db.job.count()).toBe(0);
  });

  it.each([
    [{ replicas: true }, 'spec.replicas'],
    [{ challengeWindowSeconds: null }, 'spec.challengeWindowSeconds'],
    [{ timeoutSeconds: '60' }, 'spec.timeoutSeconds'],
  ])('takes numbers only as JSON numbers: %j is refused over /api and /trpc alike', async (field, path) => {
    const input = { ...(await orderFor(spec)), spec: { ...spec, ...field } };
    for (const route of ['/api/jobs', '/trpc/jobs.submit', '/api/jobs']) {
      const { status, body } = await send(route, json(JSON.stringify(input), await signRequest(alice, CHAIN_ID, 'jobs.submit', input)));
      expect([route, status]).toEqual([route, 400]);
      expect(JSON.stringify(body)).toContain(path);
    }
    expect(await db.job.count()).toBe(0);
  });

  it('documents every status an operation answers, each with the error body schema', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as OpenAPIV3.Document;
    const statuses = (path: string, method: 'get' | 'post') => Object.keys(doc.paths[path]![method]!.responses).sort();
    expect(statuses('/jobs', 'post')).toEqual(['200', '400', '401', '402', '403', '409', '412', '413', '415', '429', '503']);
    expect(statuses('/deals', 'post')).toEqual(['200', '400', '401', '402', '403', '409', '412', '413', '415', '429', '503']);
    expect(statuses('/jobs/{jobId}', 'get')).toEqual(['200', '400', '401', '404', '429']);
    expect(statuses('/jobs/{jobId}/cancel', 'post')).toEqual(['200', '400', '401', '404', '409', '413', '415', '429']);
    expect(statuses('/hosts', 'post')).toEqual(['200', '400', '401', '403', '409', '413', '415', '429']);
    expect(statuses('/hosts', 'get')).toEqual(['200', '400', '429']);
    expect(statuses('/wallet/faucet', 'post')).toEqual(['200', '400', '401', '412', '413', '415', '429']);
    // The staging store's operations, which stream octet-stream bodies rather than being procedures, answer { error }.
    expect(Object.keys(doc.paths['/blobs/{sha256}']!).sort()).toEqual(['get', 'put']);
    expect(statuses('/blobs/{sha256}', 'get')).toEqual(['200', '400', '401', '404']);
    expect(Object.keys(doc.paths['/blobs/{sha256}']!.put!.responses).sort()).toEqual(['201', '400', '401', '404', '411', '413', '415', '422']);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of ['get', 'post', 'put'] as const) {
        for (const [status, response] of Object.entries(item?.[method]?.responses ?? {})) {
          if (status === '200' || status === '201') continue;
          const schema = (response as OpenAPIV3.ResponseObject).content?.['application/json']?.schema;
          const expected = path === '/blobs/{sha256}' ? 'BlobError' : 'Error';
          expect([path, method, status, schema]).toEqual([path, method, status, { $ref: `#/components/schemas/${expected}` }]);
        }
      }
    }
    expect(doc.components?.schemas?.Error).toMatchObject({ type: 'object', required: ['message', 'code'] });
  });

  it('answers 405 naming the methods a path has, and drops __proto__ keys as unknown fields', async () => {
    const patch = await fetch(`${url}/api/jobs`, { method: 'PATCH' });
    expect(patch.status).toBe(405);
    expect(patch.headers.get('allow')).toBe('POST, GET');
    expect(await patch.json()).toEqual({ message: 'PATCH is not an operation here: use POST or GET', code: 'METHOD_NOT_SUPPORTED' });
    const get = await fetch(`${url}/api/wallet/faucet`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    expect((await fetch(`${url}/api/jobs/not-a-uuid`, { method: 'PUT' })).status).toBe(405);
    // A concrete path is not its templated neighbour: GET /jobs/quote is no GET /jobs/{jobId} of a job named quote.
    const quote = await fetch(`${url}/api/jobs/quote`);
    expect([quote.status, quote.headers.get('allow')]).toEqual([405, 'POST']);
    expect((await fetch(`${url}/api/deals/quote`)).status).toBe(405);
    expect((await fetch(`${url}/api/nowhere`, { method: 'PUT' })).status).toBe(404);
    // The staging store's operations under the base URL: GET and PUT are its own (unsigned: 401), others 405.
    const blob = `${url}/api/blobs/${'a'.repeat(64)}`;
    const remove = await fetch(blob, { method: 'DELETE' });
    expect([remove.status, remove.headers.get('allow')]).toEqual([405, 'GET, PUT']);
    expect((await fetch(blob)).status).toBe(401);
    expect((await fetch(blob, { method: 'PUT', body: 'x', headers: { 'content-type': 'application/octet-stream' } })).status).toBe(401);
    const polluting = await send('/api/hosts/some-host/status', json('{"status":"offline","__proto__":{"admin":true}}'));
    expect(polluting.status).toBe(401);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it.each(['[null,null]', '"cancel"', 'null', '3'])('refuses a body %s that is not a JSON object on /api', async (body) => {
    const input = { jobId: '00000000-0000-4000-8000-000000000000' };
    const headers = await signRequest(alice, CHAIN_ID, 'jobs.cancel', input);
    const { status, body: answer } = await send(`/api/jobs/${input.jobId}/cancel`, json(body, headers));
    expect(status).toBe(400);
    expect(answer).toEqual({ message: 'request body: must be a JSON object', code: 'BAD_REQUEST' });
  });

  it('answers 503 within seconds to a live status no worker can answer (this API runs none)', async () => {
    const input = { spec, ...(await orderFor(spec)) };
    const submitted = await send('/api/jobs', json(JSON.stringify(input), await signRequest(alice, CHAIN_ID, 'jobs.submit', input)));
    expect(submitted.status).toBe(200);
    const jobId = (submitted.body as unknown as { job: { id: string } }).job.id;
    const started = Date.now();
    const { status, body } = await send(`/api/jobs/${jobId}/status`, { headers: await signRequest(alice, CHAIN_ID, 'jobs.status', { jobId }) });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(status).toBe(503);
    expect(body.message).toBe('jobId: its workflow did not answer within 8s (is an orchestrator worker running?); try again');
    await server.temporal.workflow.getHandle(`job-${jobId}`).terminate('test done');
    await db.job.delete({ where: { id: jobId } });
  }, 60_000);

  it('answers 413 and 415 on /api in the documented error shape', async () => {
    const big = await send('/api/jobs', json(JSON.stringify({ spec: { ...spec, env: { BIG: 'x'.repeat(2 * 1024 * 1024) } } })));
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('request body') });
    const text = await send('/api/jobs', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    expect(text.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('application/json') });
    const xml = await send('/api/jobs', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    expect(xml.status).toBe(415);
    expect(xml.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const broken = await send('/api/jobs', json('{"spec":'));
    expect(broken.status).toBe(400);
    expect(broken.body).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('request body') });
  });

  // Last: it leaves a job row behind, which the tests above count as nothing created.
  it('answers 409, not 500, to cancelling a job whose workflow has ended though its row has not (terminated from Temporal)', async () => {
    const client = callerAs(server.deps, alice);
    const { job } = await submitJobAs(client, alice, spec);
    await server.temporal.workflow.getHandle(`job-${job.id}`).terminate('ended by the operator');
    await expect(client.jobs.cancel({ jobId: job.id })).rejects.toMatchObject({
      code: 'CONFLICT', message: `jobId: job ${job.id} has ended and cannot be cancelled`,
    });
  });
});
