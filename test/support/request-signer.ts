import fastify from 'fastify';
import type { Wallet } from 'ethers';
import { openApiCallOf } from '../../api/openapi-routes';
import { OPENAPI_BASE } from '../../api/openapi';
import { acceptJsonBodiesOnly } from '../../api/request-body';
import { signRequest } from '../../api/signing';
import { blobCallOf } from '../../api/staging';

/** The header carrying the method of the request to sign: the copy sent here is always a POST. */
export const ORIGINAL_METHOD_HEADER = 'x-original-method';

/**
 * A signing service for tools written in other languages (schemathesis): they send it a copy of each plain HTTP
 * request as they are about to send it — same path, query, content type and body bytes — and get back the signature
 * headers of `signer`. The body is parsed by the API's own parser and the input put together by the API's own
 * `openApiCallOf` (a staging store's request by the store's own `blobCallOf`, over its body's length), so a request the
 * tool then sends unchanged is signed over exactly the input the API checks. A request no operation takes gets no
 * headers.
 */
export async function startRequestSigner(signer: Wallet, chainId: number): Promise<{ url: string; stop(): Promise<void> }> {
  const app = fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
  acceptJsonBodiesOnly(app);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/*', async (req, reply) => {
    const method = String(req.headers[ORIGINAL_METHOD_HEADER] ?? '').toUpperCase();
    const call = blobCallOf(method, OPENAPI_BASE, req.url, Buffer.isBuffer(req.body) ? req.body.length : 0)
      ?? openApiCallOf(method, OPENAPI_BASE, req.url, req.body);
    return reply.send(call ? await signRequest(signer, chainId, call.procedure, call.input) : {});
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: address, stop: () => app.close() };
}
