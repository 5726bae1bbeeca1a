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
