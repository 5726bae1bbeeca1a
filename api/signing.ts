import { randomBytes } from 'node:crypto';
import { computeAddress, getAddress, getBytes, keccak256, Signature, toUtf8Bytes, TypedDataEncoder, type TypedDataDomain, type TypedDataField } from 'ethers';
import { recover } from 'tiny-secp256k1';
import { canonicalJson } from '../domain/orders';

/**
 * Signed API calls. Every call that acts for someone carries an EIP-712 signature of the caller's Ethereum key over
 * the procedure, a hash of its exact input, a fresh nonce and an expiry; the API checks the signature, refuses an
 * expired request and remembers each nonce until it expires, so a captured request cannot be replayed. The caller's
 * identity is did:ethr:<chainId>:<address>.
 */
export const REQUEST_TYPES: Record<string, TypedDataField[]> = {
  ZansocRequest: [
    { name: 'procedure', type: 'string' },
    { name: 'inputHash', type: 'bytes32' },
    { name: 'nonce', type: 'string' },
    { name: 'expiresAt', type: 'uint64' },
  ],
};

/** How long a signed request stays valid: long enough for a slow network, short enough to bound replay storage. */
export const REQUEST_LIFETIME_SECONDS = 120;
/** Requests may claim an expiry at most this far ahead (clock skew included). */
export const MAX_REQUEST_LIFETIME_SECONDS = 300;

export const SIGNATURE_HEADERS = {
  address: 'x-zansoc-address',
  nonce: 'x-zansoc-nonce',
  expires: 'x-zansoc-expires',
  signature: 'x-zansoc-signature',
} as const;

export const requestDomain = (chainId: number): TypedDataDomain => ({ name: 'Zansoc API', version: '1', chainId });

/**
 * The hash of a call's input: keccak256 of its canonical JSON — object keys sorted, no whitespace, `null` when there is
 * no input — so the same input hashes the same whether it came as a tRPC body or as OpenAPI path, query and body parts.
 */
export { canonicalJson };

export const inputHash = (input: unknown): string => keccak256(toUtf8Bytes(canonicalJson(input ?? null)));

export const didOf = (chainId: number, address: string): string => `did:ethr:${chainId}:${address.toLowerCase()}`;

/** Anything that can sign EIP-712 data: an ethers Wallet, or a browser wallet behind an ethers Signer. */
export interface RequestSigner {
  getAddress(): Promise<string>;
  signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string>;
}

/** The headers that sign one call. */
export async function signRequest(
  signer: RequestSigner, chainId: number, procedure: string, input: unknown, nowMs = Date.now(),
): Promise<Record<string, string>> {
  const nonce = randomBytes(16).toString('hex');
  const expiresAt = Math.floor(nowMs / 1000) + REQUEST_LIFETIME_SECONDS;
  const signature = await signer.signTypedData(requestDomain(chainId), REQUEST_TYPES, {
    procedure, inputHash: inputHash(input), nonce, expiresAt,
  });
  return {
    [SIGNATURE_HEADERS.address]: await signer.getAddress(),
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.expires]: String(expiresAt),
    [SIGNATURE_HEADERS.signature]: signature,
  };
}

export type VerifiedRequest = { ok: true; address: string; nonce: string; expiresAt: number } | { ok: false; reason: string };

/** Checks a call's signature headers against the procedure and input the server received. Nonce reuse is the caller's check. */
export function verifyRequest(
  headers: Record<string, string | string[] | undefined>, chainId: number, procedure: string, input: unknown, nowMs = Date.now(),
): VerifiedRequest {
  const header = (name: string) => {
    const value = headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const claimed = header(SIGNATURE_HEADERS.address);
  const nonce = header(SIGNATURE_HEADERS.nonce);
  const expires = header(SIGNATURE_HEADERS.expires);
  const signature = header(SIGNATURE_HEADERS.signature);
  if (!claimed || !nonce || !expires || !signature) {
    return { ok: false, reason: `this call must be signed: send ${Object.values(SIGNATURE_HEADERS).join(', ')} (see README, "Signed requests")` };
  }
  if (!/^[0-9a-f]{16,64}$/.test(nonce)) return { ok: false, reason: `${SIGNATURE_HEADERS.nonce}: must be 16 to 64 lowercase hex characters` };
  if (!/^\d{1,12}$/.test(expires)) return { ok: false, reason: `${SIGNATURE_HEADERS.expires}: must be a unix time in seconds` };
  const expiresAt = Number(expires);
  const now = Math.floor(nowMs / 1000);
  if (expiresAt <= now) return { ok: false, reason: `the signed request expired at ${new Date(expiresAt * 1000).toISOString()}` };
  if (expiresAt > now + MAX_REQUEST_LIFETIME_SECONDS) {
    return { ok: false, reason: `${SIGNATURE_HEADERS.expires}: at most ${MAX_REQUEST_LIFETIME_SECONDS}s ahead` };
  }
  let address: string;
  try {
    address = getAddress(claimed);
    const value = { procedure, inputHash: inputHash(input), nonce, expiresAt };
    // A call is checked twice (by its rate limit, then by its procedure): the second check finds the first's signer.
    const key = `${chainId}|${value.procedure}|${value.inputHash}|${nonce}|${expiresAt}|${signature}`;
    let signer = signersOf.get(key);
    if (!signer) {
      signer = recoverSigner(TypedDataEncoder.hash(requestDomain(chainId), REQUEST_TYPES, value), signature);
      if (signersOf.size >= SIGNERS_KEPT) signersOf.delete(signersOf.keys().next().value!);
      signersOf.set(key, signer);
    }
    if (signer !== address) return { ok: false, reason: 'the signature does not match this request and address' };
  } catch {
    return { ok: false, reason: `${SIGNATURE_HEADERS.signature}: not a valid signature of this request` };
  }
  return { ok: true, address, nonce, expiresAt };
}

/** How many recently checked requests verifyRequest remembers the signer of (what it checked is the key). */
const SIGNERS_KEPT = 4096;
const signersOf = new Map<string, string>();

/**
 * The address that signed a 32-byte digest (ethers' recoverAddress, for 65-byte and 64-byte signatures). It recovers
 * with libsecp256k1 built to WebAssembly, about 7× faster than ethers' JavaScript curve (0.3 ms against 2 ms here).
 * Throws on a malformed signature.
 */
export function recoverSigner(digest: string, signature: string): string {
  const sig = Signature.from(signature);
  const publicKey = recover(getBytes(digest), getBytes(`${sig.r}${sig.s.slice(2)}`), sig.yParity, false);
  if (!publicKey) throw new Error('no public key recovers from this signature');
  return computeAddress(`0x${Buffer.from(publicKey).toString('hex')}`);
}
