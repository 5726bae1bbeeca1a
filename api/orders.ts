import { TRPCError } from '@trpc/server';
import { formatUnits, MaxUint256, verifyTypedData } from 'ethers';
import { z } from 'zod';
import { ESCROW_DEADLINE_SLACK_SECONDS, jobEscrowDeadlineSeconds } from '../domain/job-limits';
import { extraReplicasFor, type JobSpec } from '../domain/job-spec';
import {
  chainDealId, chainJobId, DEAL_ORDER_TYPES, dealEscrowId, dealOrderAmount, escrowDomain, JOB_ESCROW_DOMAIN_NAME, JOB_ORDER_TYPES, jobEscrowId,
  jobOrderAmount, NO_PERMIT, PERMIT_TYPES, specHash, STORAGE_ESCROW_DOMAIN_NAME, tokenDomain, type DealOrder, type JobOrder, type PermitSignature,
  type SignedDealOrder, type SignedJobOrder,
} from '../domain/orders';
import { tokenAmount } from '../domain/money';
import type { Caller, Context } from './context';
import type { WalletService } from './wallet';

/**
 * Orders as the API takes them. A client signs its own order (EIP-712, for the escrow contract) and, when its
 * allowance is short, a permit for ZSC; the API checks both against the spec, the caller and the chain before it
 * creates anything, and the orchestrator only relays them. Quotes say exactly what to sign.
 */

const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 32 bytes as 0x-prefixed hex');
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed Ethereum address');
const signature = z.string().regex(/^0x([0-9a-fA-F]{2})+$/, 'must be a 0x-prefixed hex signature').max(2 + 2 * 1024);
const unixSeconds = z.number().int().min(1).max(2 ** 48);

export const jobOrderSchema = z.object({
  client: address, jobId: bytes32, specHash: bytes32, pricePerSlot: tokenAmount, slots: z.number().int().min(1).max(32), deadline: unixSeconds, nonce: tokenAmount,
});
export const dealOrderSchema = z.object({
  client: address, dealId: bytes32, specHash: bytes32, ratePerHostPeriod: tokenAmount, replicas: z.number().int().min(1).max(0xffff),
  periods: z.number().int().min(1).max(0xffffffff), deadline: unixSeconds, nonce: tokenAmount,
});
export const permitSchema = z.object({
  value: tokenAmount, deadline: unixSeconds, v: z.number().int().min(27).max(28), r: bytes32, s: bytes32,
});

/** What a client sends with a job, a deal or a renewal: its signed order and, if its allowance is short, a permit. */
export const signedJobOrderInput = { order: jobOrderSchema, signature, permit: permitSchema.optional() };
export const signedDealOrderInput = { order: dealOrderSchema, signature, permit: permitSchema.optional() };

const typedData = z.object({
  domain: z.object({ name: z.string(), version: z.string(), chainId: z.number().int(), verifyingContract: address }),
  types: z.record(z.array(z.object({ name: z.string(), type: z.string() }))),
  primaryType: z.string(),
  message: z.record(z.union([z.string(), z.number()])),
});

/** A quote: the order to sign, exactly, and the permit to sign when the escrow may not pull enough yet. */
export const quoteView = z.object({
  amount: tokenAmount,
  /** How the amount comes about, in words. */
  explanation: z.string(),
  balance: tokenAmount,
  order: typedData,
  /** Null when the client's allowance covers the order already. */
  permit: typedData.nullable(),
});
export type Quote = z.infer<typeof quoteView>;

export const zscText = (baseUnits: bigint | string): string => `${formatUnits(baseUnits, 18)} ZSC`;

type Escrow = 'job' | 'storage';

function walletOf(ctx: Context): WalletService {
  if (!ctx.wallet) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this API is not connected to a chain (RPC_URL, DEPLOYMENT_FILE): it takes no orders' });
  return ctx.wallet;
}

function escrowAddress(wallet: WalletService, escrow: Escrow): string {
  return escrow === 'job' ? wallet.deployment.jobEscrow : wallet.deployment.storageEscrow;
}

function orderDomain(wallet: WalletService, escrow: Escrow) {
  const name = escrow === 'job' ? JOB_ESCROW_DOMAIN_NAME : STORAGE_ESCROW_DOMAIN_NAME;
  return escrowDomain(name, wallet.deployment.chainId, escrowAddress(wallet, escrow)) as z.infer<typeof typedData>['domain'];
}

/** The slots a job's escrow pays for: its replicas and the extra replicas a disagreement may add. */
export const jobSlots = (spec: Pick<JobSpec, 'replicas'>): number => spec.replicas + extraReplicasFor(spec.replicas);

/** Why the escrow `amount` is what it is, e.g. `maxPrice 0.4 ZSC × 3 slots`. */
export const jobAmountExplanation = (spec: Pick<JobSpec, 'maxPrice' | 'replicas'>): string =>
  `maxPrice ${zscText(spec.maxPrice)} × ${jobSlots(spec)} slot${jobSlots(spec) === 1 ? '' : 's'}`;

async function quote(ctx: Context & { caller: Caller }, escrow: Escrow, types: typeof JOB_ORDER_TYPES, order: JobOrder | DealOrder, amount: bigint, explanation: string): Promise<Quote> {
  const wallet = walletOf(ctx);
  const client = ctx.caller.address;
  const spender = escrowAddress(wallet, escrow);
  const [balance, allowance, permitNonce] = await Promise.all([wallet.balanceOf(client), wallet.allowance(client, spender), wallet.permitNonce(client)]);
  const [primaryType] = Object.keys(types);
  return {
    amount: amount.toString(), explanation, balance,
    order: { domain: orderDomain(wallet, escrow), types, primaryType, message: { ...order } },
    // A standing allowance: the escrow pulls only what an order the client signed says, so one permit serves every order.
    permit: allowance >= amount ? null : {
      domain: tokenDomain(wallet.deployment.chainId, wallet.deployment.token) as z.infer<typeof typedData>['domain'], types: PERMIT_TYPES, primaryType: 'Permit',
      message: { owner: client, spender, value: MaxUint256.toString(), nonce: permitNonce.toString(), deadline: Math.floor(Date.now() / 1000) + 3600 },
    },
  };
}

/** The order a client signs for job `jobId` with `spec` (already parsed): the most it can cost, until it may still settle. */
export async function quoteJob(ctx: Context & { caller: Caller }, jobId: string, spec: JobSpec): Promise<Quote> {
  const wallet = walletOf(ctx);
  const order: JobOrder = {
    client: ctx.caller.address, jobId: chainJobId(jobId), specHash: specHash(spec), pricePerSlot: spec.maxPrice, slots: jobSlots(spec),
    deadline: jobEscrowDeadlineSeconds(spec, Date.now()), nonce: (await wallet.minNonceOf('job', ctx.caller.address)).toString(),
  };
  return quote(ctx, 'job', JOB_ORDER_TYPES, order, jobOrderAmount(order), jobAmountExplanation(spec));
}

/** The order a client signs for one term of a deal (the deal's own id, or a renewal's term key). */
export async function quoteDealTerm(
  ctx: Context & { caller: Caller }, term: { key: string; spec: unknown; ratePerHostPeriod: bigint; replicas: number; periods: number; deadline: number },
): Promise<Quote> {
  const wallet = walletOf(ctx);
  const order: DealOrder = {
    client: ctx.caller.address, dealId: chainDealId(term.key), specHash: specHash(term.spec), ratePerHostPeriod: term.ratePerHostPeriod.toString(),
    replicas: term.replicas, periods: term.periods, deadline: term.deadline, nonce: (await wallet.minNonceOf('storage', ctx.caller.address)).toString(),
  };
  const explanation = `${zscText(order.ratePerHostPeriod)} per host per period × ${order.replicas} replica(s) × ${order.periods} period(s)`;
  return quote(ctx, 'storage', DEAL_ORDER_TYPES, order, dealOrderAmount(order), explanation);
}

/** Who signed, or null when the signature is malformed. */
function recovered(verify: () => string): string | null {
  try {
    return verify();
  } catch {
    return null;
  }
}

const refuse = (code: TRPCError['code'], message: string): never => {
  throw new TRPCError({ code, message });
};

/** Checks the signatures and the money of an order whose terms the caller checked; refuses, naming the field. */
async function checkSignedOrder(
  ctx: Context & { caller: Caller },
  escrow: Escrow,
  signed: { order: JobOrder | DealOrder; signature: string; permit?: PermitSignature },
  { escrowId, amount, purpose }: { escrowId: string; amount: bigint; purpose: string },
): Promise<PermitSignature> {
  const wallet = walletOf(ctx);
  const { order } = signed;
  if (order.client.toLowerCase() !== ctx.caller.address.toLowerCase()) {
    refuse('FORBIDDEN', `order.client: ${order.client} is not the caller ${ctx.caller.address}: sign the order with the key you call with`);
  }
  const types = escrow === 'job' ? JOB_ORDER_TYPES : DEAL_ORDER_TYPES;
  const signer = recovered(() => verifyTypedData(orderDomain(wallet, escrow), types, order, signed.signature));
  if (signer?.toLowerCase() !== order.client.toLowerCase()) {
    refuse('BAD_REQUEST', `signature: not the client's signature of this order (it recovers ${signer ?? 'no address'})`);
  }
  if (order.deadline <= Math.floor(Date.now() / 1000)) refuse('BAD_REQUEST', `order.deadline: ${order.deadline} has passed`);
  const floor = await wallet.minNonceOf(escrow, order.client);
  if (BigInt(order.nonce) < floor) refuse('BAD_REQUEST', `order.nonce: ${order.nonce} is below your floor ${floor}: you cancelled orders signed below it`);
  if ((await wallet.escrowOf(escrow, escrowId)) !== null) refuse('CONFLICT', `order: ${purpose} was escrowed already; an order is spent once`);

  const spender = escrowAddress(wallet, escrow);
  const balance = BigInt(await wallet.balanceOf(order.client));
  if (balance < amount) refuse('PAYMENT_REQUIRED', `balance ${zscText(balance)} < ${zscText(amount)} needed for ${purpose}`);
  const permit = signed.permit ?? NO_PERMIT;
  if ((await wallet.allowance(order.client, spender)) >= amount) return permit;
  if (!signed.permit) refuse('PAYMENT_REQUIRED', `permit: the escrow may not take ${zscText(amount)} from you yet: sign the permit the quote gives`);
  if (BigInt(permit.value) < amount) refuse('BAD_REQUEST', `permit.value: ${zscText(permit.value)} does not cover ${zscText(amount)}`);
  if (permit.deadline <= Math.floor(Date.now() / 1000)) refuse('BAD_REQUEST', `permit.deadline: ${permit.deadline} has passed`);
  const permitMessage = { owner: order.client, spender, value: permit.value, nonce: await wallet.permitNonce(order.client), deadline: permit.deadline };
  const permitSigner = recovered(() => verifyTypedData(tokenDomain(wallet.deployment.chainId, wallet.deployment.token), PERMIT_TYPES, permitMessage, { v: permit.v, r: permit.r, s: permit.s }));
  if (permitSigner?.toLowerCase() !== order.client.toLowerCase()) {
    refuse('BAD_REQUEST', `permit: not your signature of a permit for the escrow ${spender} with nonce ${permitMessage.nonce}`);
  }
  return permit;
}

/**
 * Refuses, creating nothing, a job order that does not buy exactly this job: another caller's, another job's or
 * spec's, another amount than the spec can cost, a deadline before the job may still settle, a bad signature, or a
 * client whose balance or allowance cannot cover it. Returns what the workflow relays.
 */
export async function checkJobOrder(
  ctx: Context & { caller: Caller }, jobId: string, spec: JobSpec, signed: { order: JobOrder; signature: string; permit?: PermitSignature },
): Promise<SignedJobOrder> {
  const { order } = signed;
  if (order.jobId !== chainJobId(jobId)) refuse('BAD_REQUEST', `order.jobId: ${order.jobId} is not job ${jobId} (${chainJobId(jobId)})`);
  if (order.specHash !== specHash(spec)) refuse('BAD_REQUEST', `order.specHash: the order was signed for another spec than this one (${specHash(spec)})`);
  if (order.pricePerSlot !== spec.maxPrice) refuse('BAD_REQUEST', `order.pricePerSlot: ${order.pricePerSlot} is not the spec's maxPrice ${spec.maxPrice}`);
  if (order.slots !== jobSlots(spec)) refuse('BAD_REQUEST', `order.slots: ${order.slots} is not the ${jobSlots(spec)} slots this spec can use (${jobAmountExplanation(spec)})`);
  // The quote's deadline has a day of slack, so a client has that long to sign and send it.
  const earliest = jobEscrowDeadlineSeconds(spec, Date.now()) - ESCROW_DEADLINE_SLACK_SECONDS;
  if (order.deadline < earliest) refuse('BAD_REQUEST', `order.deadline: ${order.deadline} is before the job may still settle (${earliest}); ask for a new quote`);
  const amount = jobOrderAmount(order);
  const permit = await checkSignedOrder(ctx, 'job', signed, {
    escrowId: jobEscrowId(order.client, jobId), amount, purpose: `this job (${jobAmountExplanation(spec)})`,
  });
  return { order, signature: signed.signature, permit };
}

/** Refuses, creating nothing, a deal term's order that does not pay exactly for this term (see checkJobOrder). */
export async function checkDealOrder(
  ctx: Context & { caller: Caller },
  term: { key: string; spec: unknown; ratePerHostPeriod: bigint; replicas: number; periods: number; earliestDeadline: number },
  signed: { order: DealOrder; signature: string; permit?: PermitSignature },
): Promise<SignedDealOrder> {
  const { order } = signed;
  if (order.dealId !== chainDealId(term.key)) refuse('BAD_REQUEST', `order.dealId: ${order.dealId} is not the term ${term.key} (${chainDealId(term.key)})`);
  if (order.specHash !== specHash(term.spec)) refuse('BAD_REQUEST', `order.specHash: the order was signed for another spec than this deal's (${specHash(term.spec)})`);
  if (order.ratePerHostPeriod !== term.ratePerHostPeriod.toString()) refuse('BAD_REQUEST', `order.ratePerHostPeriod: ${order.ratePerHostPeriod} is not the deal's rate ${term.ratePerHostPeriod}`);
  if (order.replicas !== term.replicas) refuse('BAD_REQUEST', `order.replicas: ${order.replicas} is not the deal's ${term.replicas} replicas`);
  if (order.periods !== term.periods) refuse('BAD_REQUEST', `order.periods: ${order.periods} is not the term's ${term.periods} periods`);
  if (order.deadline < term.earliestDeadline) refuse('BAD_REQUEST', `order.deadline: ${order.deadline} is before the term may still be paid out (${term.earliestDeadline}); ask for a new quote`);
  const amount = dealOrderAmount(order);
  const permit = await checkSignedOrder(ctx, 'storage', signed, {
    escrowId: dealEscrowId(order.client, term.key), amount, purpose: `this term (${order.replicas} replica(s) × ${order.periods} period(s))`,
  });
  return { order, signature: signed.signature, permit };
}
