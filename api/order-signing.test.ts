import { MaxUint256, Signature, Wallet, verifyTypedData } from 'ethers';
import { jobSpecSchema } from '../domain/job-spec';
import {
  chainJobId, escrowDomain, JOB_ESCROW_DOMAIN_NAME, JOB_ORDER_TYPES, PERMIT_TYPES, specHash, tokenDomain, type JobOrder,
} from '../domain/orders';
import { signJobQuote, type OrderQuote } from './order-signing';

const ESCROW = '0x00000000000000000000000000000000000000e1';
const TOKEN = '0x00000000000000000000000000000000000000e2';
const spec = { image: 'zansoc/busybox:1', command: ['true'], replicas: 3, maxPrice: '400' };

/** A quote as an honest API makes it for `client`, with `change` applied to its order. */
function quoteFor(client: string, change: Partial<JobOrder> = {}, permit = false): OrderQuote {
  const parsed = jobSpecSchema.parse(spec);
  const order: JobOrder = {
    client, jobId: chainJobId('job-1'), specHash: specHash(parsed), pricePerSlot: '400', slots: 5, deadline: 2_000_000_000, nonce: '0', ...change,
  };
  const domain = escrowDomain(JOB_ESCROW_DOMAIN_NAME, 31337, ESCROW) as OrderQuote['order']['domain'];
  return {
    amount: '2000', explanation: 'maxPrice × 5 slots', balance: '5000',
    order: { domain, types: JOB_ORDER_TYPES, primaryType: 'JobOrder', message: { ...order } },
    permit: permit ? {
      domain: tokenDomain(31337, TOKEN) as OrderQuote['order']['domain'], types: PERMIT_TYPES, primaryType: 'Permit',
      message: { owner: client, spender: ESCROW, value: MaxUint256.toString(), nonce: '0', deadline: 2_000_000_000 },
    } : null,
  };
}

describe('signing a quoted job order', () => {
  const wallet = Wallet.createRandom();

  it('signs an order that buys exactly the spec, and its permit, after showing the amount', async () => {
    const shown: string[] = [];
    const quote = quoteFor(wallet.address, {}, true);
    const signed = await signJobQuote(wallet, spec, quote, (q) => void shown.push(`${q.amount} (${q.explanation})`));
    expect(shown).toEqual(['2000 (maxPrice × 5 slots)']);
    expect(verifyTypedData(quote.order.domain, JOB_ORDER_TYPES, signed.order, signed.signature)).toBe(wallet.address);
    const permit = signed.permit!;
    expect(permit.value).toBe(MaxUint256.toString());
    expect(verifyTypedData(quote.permit!.domain, PERMIT_TYPES, quote.permit!.message, Signature.from(permit))).toBe(wallet.address);
  });

  it('signs no permit when the quote asks for none', async () => {
    expect((await signJobQuote(wallet, spec, quoteFor(wallet.address))).permit).toBeUndefined();
  });

  it.each([
    ['another client', { client: Wallet.createRandom().address }, /not for you/],
    ['another spec', { specHash: specHash({ ...jobSpecSchema.parse(spec), command: ['rm', '-rf', '/'] }) }, /does not match what you asked for \(specHash\)/],
    ['a higher price per slot', { pricePerSlot: '401' }, /pricePerSlot 401, maxPrice 400/],
    ['more slots than the spec can use', { slots: 6 }, /slots 6, expected 5/],
  ])('refuses to sign a quote for %s, before showing or signing anything', async (_, change, message) => {
    const before = jest.fn();
    const signTypedData = jest.spyOn(wallet, 'signTypedData');
    await expect(signJobQuote(wallet, spec, quoteFor(wallet.address, change), before)).rejects.toThrow(message);
    expect(before).not.toHaveBeenCalled();
    expect(signTypedData).not.toHaveBeenCalled();
    signTypedData.mockRestore();
  });
});
