import { Signature } from 'ethers';
import { jobSpecSchema, type JobSpecInput } from '../domain/job-spec';
import { dealPeriods, ratePerHostPeriod, storageDealSpecSchema, type StorageDealSpecInput } from '../domain/storage';
import { extraReplicasFor } from '../domain/job-spec';
import { specHash, type DealOrder, type JobOrder, type PermitSignature } from '../domain/orders';
import type { RequestSigner } from './signing';

/**
 * The client's side of an order: it checks a quote against what it asked for (its own address, the spec's hash, the
 * amount the spec can cost), then signs the order and, when asked, the permit. A quote that does not match is
 * refused before anything is signed, so an API that lies about the price gets no signature.
 */

export interface TypedDataQuote {
  domain: { name: string; version: string; chainId: number; verifyingContract: string };
  types: Record<string, { name: string; type: string }[]>;
  primaryType: string;
  message: Record<string, string | number>;
}

export interface OrderQuote {
  amount: string;
  explanation: string;
  balance: string;
  order: TypedDataQuote;
  permit: TypedDataQuote | null;
}

export interface SignedOrderInput<O> {
  order: O;
  signature: string;
  permit?: PermitSignature;
}

/** Told what an order will lock before it is signed (the CLI prints it); throwing stops the signing. */
export type BeforeSigning = (quote: OrderQuote) => void | Promise<void>;

async function signQuote<O>(signer: RequestSigner, quote: OrderQuote, check: (order: O) => string | null, before?: BeforeSigning): Promise<SignedOrderInput<O>> {
  const order = quote.order.message as unknown as O & { client: string };
  const me = await signer.getAddress();
  if (order.client.toLowerCase() !== me.toLowerCase()) throw new Error(`the API quoted an order for ${order.client}, not for you (${me}): not signed`);
  const problem = check(order);
  if (problem) throw new Error(`the API's quote does not match what you asked for (${problem}): not signed`);
  await before?.(quote);
  const { EIP712Domain: _ignored, ...orderTypes } = quote.order.types;
  const signature = await signer.signTypedData(quote.order.domain, orderTypes, quote.order.message);
  if (!quote.permit) return { order, signature };
  const { EIP712Domain: _alsoIgnored, ...permitTypes } = quote.permit.types;
  const permitSignature = Signature.from(await signer.signTypedData(quote.permit.domain, permitTypes, quote.permit.message));
  const { value, deadline } = quote.permit.message;
  return { order, signature, permit: { value: String(value), deadline: Number(deadline), v: permitSignature.v, r: permitSignature.r, s: permitSignature.s } };
}

/** Signs a job's quoted order after checking it buys exactly `spec`: its hash, maxPrice per slot, and its slots. */
export function signJobQuote(signer: RequestSigner, spec: JobSpecInput, quote: OrderQuote, before?: BeforeSigning): Promise<SignedOrderInput<JobOrder>> {
  const parsed = jobSpecSchema.parse(spec);
  const slots = parsed.replicas + extraReplicasFor(parsed.replicas);
  return signQuote<JobOrder>(signer, quote, (order) => {
    if (order.specHash !== specHash(parsed)) return 'specHash';
    if (order.pricePerSlot !== parsed.maxPrice) return `pricePerSlot ${order.pricePerSlot}, maxPrice ${parsed.maxPrice}`;
    if (order.slots !== slots) return `slots ${order.slots}, expected ${slots}`;
    return null;
  }, before);
}

/** Signs a deal term's quoted order after checking it pays for `spec`: its hash, its rate, its replicas and `periods`. */
export function signDealQuote(
  signer: RequestSigner, spec: StorageDealSpecInput, quote: OrderQuote, opts: { durationSeconds?: number; before?: BeforeSigning } = {},
): Promise<SignedOrderInput<DealOrder>> {
  const parsed = storageDealSpecSchema.parse(spec);
  const rate = ratePerHostPeriod({ sizeBytes: parsed.sizeBytes, pricePerGibMonth: BigInt(parsed.pricePerGibMonth), periodSeconds: parsed.proofPeriodSeconds });
  const periods = dealPeriods(opts.durationSeconds ?? parsed.durationSeconds, parsed.proofPeriodSeconds);
  return signQuote<DealOrder>(signer, quote, (order) => {
    if (order.specHash !== specHash(parsed)) return 'specHash';
    if (order.ratePerHostPeriod !== rate.toString()) return `ratePerHostPeriod ${order.ratePerHostPeriod}, expected ${rate}`;
    if (order.replicas !== parsed.replicas) return `replicas ${order.replicas}, expected ${parsed.replicas}`;
    if (order.periods !== periods) return `periods ${order.periods}, expected ${periods}`;
    return null;
  }, opts.before);
}
