import { createHash } from 'node:crypto';

const ERROR_BODY_CHARS = 500;

/** Stores a blob in the staging store under its content hash and returns that hash (sha256, hex). */
export async function uploadBlob(stagingUrl: string, data: Buffer, signal?: AbortSignal): Promise<string> {
  const sha256 = createHash('sha256').update(data).digest('hex');
  const url = `${stagingUrl.replace(/\/+$/, '')}/blobs/${sha256}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
    signal,
  });
  if (response.status === 200 || response.status === 201 || response.status === 204) return sha256;
  const body = (await response.text()).slice(0, ERROR_BODY_CHARS);
  throw new Error(`staging store refused blob ${sha256} (PUT ${url}): HTTP ${response.status} ${body}`);
}

/** Reads a blob from the staging store and checks that its bytes hash to the name asked for. */
export async function downloadBlob(stagingUrl: string, sha256: string, signal?: AbortSignal): Promise<Buffer> {
  const url = `${stagingUrl.replace(/\/+$/, '')}/blobs/${sha256}`;
  const response = await fetch(url, { signal });
  if (!response.ok) {
    const body = (await response.text()).slice(0, ERROR_BODY_CHARS);
    throw new Error(`staging store has no blob ${sha256} (GET ${url}): HTTP ${response.status} ${body}`);
  }
  const data = Buffer.from(await response.arrayBuffer());
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== sha256) throw new Error(`staging blob ${sha256} arrived as bytes hashing to ${actual}`);
  return data;
}
