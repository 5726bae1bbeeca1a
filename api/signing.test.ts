import { hashMessage, recoverAddress, Signature, Wallet } from 'ethers';
import { canonicalJson, didOf, inputHash, recoverSigner, signRequest, verifyRequest } from './signing';

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
    // Checked again (as the procedure does after the rate limit), from the remembered signer: the same answer, and
    // the remembered signer still has to be the address the call claims.
    expect(verifyRequest(headers, 31337, 'jobs.submit', input)).toMatchObject({ ok: true, address: wallet.address });
    const stranger = new Wallet(`0x${'6'.repeat(64)}`).address;
    expect(verifyRequest({ ...headers, 'x-zansoc-address': stranger }, 31337, 'jobs.submit', input))
      .toMatchObject({ ok: false, reason: 'the signature does not match this request and address' });
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

  it('recovers the signer as ethers does, from 65-byte and 64-byte signatures, and nobody from a malformed one', async () => {
    for (let i = 0; i < 20; i++) {
      const signer = Wallet.createRandom();
      const digest = hashMessage(`message ${i}`);
      const signature = signer.signingKey.sign(digest).serialized;
      expect(recoverSigner(digest, signature)).toBe(signer.address);
      expect(recoverSigner(digest, signature)).toBe(recoverAddress(digest, signature));
      expect(recoverSigner(digest, Signature.from(signature).compactSerialized)).toBe(signer.address);
      // Another digest with the same signature is someone else (or nobody), never the signer.
      let other: string | null;
      try {
        other = recoverSigner(hashMessage(`other ${i}`), signature);
      } catch {
        other = null;
      }
      expect(other).not.toBe(signer.address);
    }
    expect(() => recoverSigner(hashMessage('x'), `0x${'00'.repeat(65)}`)).toThrow();
  });
});
