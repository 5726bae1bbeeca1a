import { createHash } from 'node:crypto';
import { signRequest, type RequestSigner } from '../api/signing';

const ERROR_BODY_CHARS = 500;

/** Who calls the staging store: every read and write is signed by the caller's key (EIP-712, api/signing.ts). */
export interface StagingAuth {
  signer: RequestSigner;
  chainId: number;
}

/**
 * What an upload belongs to, besides its writer: a host's output or logs of the job it runs (`plaintextSha256` the
 * digest of what the sealed blob holds), a host's sealed replica served for a deal, a chunk the orchestrator puts back
 * for a deal. Without one, the blob is the writer's own until a job or deal that names it binds it.
 */
export interface BlobBinding {
  jobId?: string;
  dealId?: string;
  kind?: 'output' | 'logs' | 'replica' | 'chunk';
  plaintextSha256?: string;
}

export interface BlobRequestOptions {
  auth?: StagingAuth;
  signal?: AbortSignal;
}

const blobUrl = (stagingUrl: string, sha256: string) => `${stagingUrl.replace(/\/+$/, '')}/blobs/${sha256}`;

/** The signed input of `PUT /blobs/<sha256>`: the hash, the size, and the binding (its query parameters). */
export const putInput = (sha256: string, bytes: number, bind: BlobBinding = {}) => ({ sha256, bytes, ...bind });

/** The signature headers of a blob read or write, or none without a key. */
export async function blobHeaders(auth: StagingAuth | undefined, procedure: 'blobs.get' | 'blobs.put', input: unknown): Promise<Record<string, string>> {
  return auth ? signRequest(auth.signer, auth.chainId, procedure, input) : {};
}

/** Stores a blob in the staging store under its content hash and returns that hash (sha256, hex). */
export async function uploadBlob(stagingUrl: string, data: Buffer, opts: BlobRequestOptions & { bind?: BlobBinding } = {}): Promise<string> {
  const sha256 = createHash('sha256').update(data).digest('hex');
  const bind = Object.fromEntries(Object.entries(opts.bind ?? {}).filter(([, v]) => v !== undefined)) as BlobBinding;
  const query = new URLSearchParams(bind as Record<string, string>).toString();
  const url = `${blobUrl(stagingUrl, sha256)}${query ? `?${query}` : ''}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', ...(await blobHeaders(opts.auth, 'blobs.put', putInput(sha256, data.length, bind))) },
    body: data,
    signal: opts.signal,
  });
  if (response.status === 200 || response.status === 201 || response.status === 204) return sha256;
  const body = (await response.text()).slice(0, ERROR_BODY_CHARS);
  throw new Error(`staging store refused blob ${sha256} (PUT ${url}): HTTP ${response.status} ${body}`);
}

/** Reads a blob from the staging store and checks that its bytes hash to the name asked for. */
export async function downloadBlob(stagingUrl: string, sha256: string, opts: BlobRequestOptions = {}): Promise<Buffer> {
  const url = blobUrl(stagingUrl, sha256);
  const response = await fetch(url, { signal: opts.signal, headers: await blobHeaders(opts.auth, 'blobs.get', { sha256 }) });
  if (!response.ok) {
    const body = (await response.text()).slice(0, ERROR_BODY_CHARS);
    throw new Error(`staging store has no blob ${sha256} for you (GET ${url}): HTTP ${response.status} ${body}`);
  }
  const data = Buffer.from(await response.arrayBuffer());
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== sha256) throw new Error(`staging blob ${sha256} arrived as bytes hashing to ${actual}`);
  return data;
}
