import { Wallet } from 'ethers';
import { canonicalJson, didOf, inputHash, signRequest, verifyRequest } from './signing';

const wallet = new Wallet(`0x${'4'.repeat(64)}`);
const input = { spec: { image: 'zansoc/busybox:1', command: ['true'] } };

describe('signed requests', () => {
  it('hashes the canonical JSON of the input: key order and undefined fields do not matter', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 'x', c: null }], u: undefined })).toBe('{"a":[{"c":null,"d":"x"}],"b":1}');
    expect(inputHash({ jobId: 'j', reason: 'r' })).toBe(inputHash({ reason: 'r', jobId: 'j' }));
    expect(inputHash(undefined)).toBe(inputHash(null));
  });

  it('verifies a signed call and names its signer', async () => {
    const headers = await signRequest(wallet, 31337, 'jobs.submit', input);
    expect(verifyRequest(headers, 31337, 'jobs.submit', input)).toMatchObject({ ok: true, address: wallet.address });
    expect(didOf(31337, wallet.address)).toBe(`did:ethr:31337:${wallet.address.toLowerCase()}`);
  });

  it('refuses a signature moved to another procedure, input or chain, an unsigned call and an expired one', async () => {
    const headers = await signRequest(wallet, 31337, 'jobs.submit', input);
    expect(verifyRequest(headers, 31337, 'jobs.cancel', input)).toMatchObject({ ok: false, reason: 'the signature does not match this request and address' });
    expect(verifyRequest(headers, 31337, 'jobs.submit', { ...input, x: 1 })).toMatchObject({ ok: false });
    expect(verifyRequest(headers, 1, 'jobs.submit', input)).toMatchObject({ ok: false });
    expect(verifyRequest({ ...headers, 'x-zansoc-address': new Wallet(`0x${'5'.repeat(64)}`).address }, 31337, 'jobs.submit', input)).toMatchObject({ ok: false });
    expect(verifyRequest({}, 31337, 'jobs.submit', input)).toMatchObject({ ok: false, reason: expect.stringMatching(/^this call must be signed/) });
    const old = await signRequest(wallet, 31337, 'jobs.submit', input, Date.now() - 10 * 60_000);
    expect(verifyRequest(old, 31337, 'jobs.submit', input)).toMatchObject({ ok: false, reason: expect.stringMatching(/^the signed request expired at/) });
    expect(verifyRequest({ ...headers, 'x-zansoc-expires': String(Math.floor(Date.now() / 1000) + 3600) }, 31337, 'jobs.submit', input))
      .toMatchObject({ ok: false, reason: 'x-zansoc-expires: at most 300s ahead' });
  });
});
