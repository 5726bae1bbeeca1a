import fastify from 'fastify';
import type { Wallet } from 'ethers';
import { openApiRoutes } from '../../api/openapi-routes';
import { OPENAPI_BASE } from '../../api/openapi';
import { acceptJsonBodiesOnly } from '../../api/request-body';
import { signRequest } from '../../api/signing';

/** The header carrying the method of the request to sign: the copy sent here is always a POST. */
export const ORIGINAL_METHOD_HEADER = 'x-original-method';

/**
 * A signing service for tools written in other languages (schemathesis): they send it a copy of each plain HTTP
 * request as they are about to send it — same path, query, content type and body bytes — and get back the signature
 * headers of `signer`. The body is parsed by the API's own parser, and the input is put together as the /api adapter
 * (trpc-to-openapi) does — body or query fields, then the path parameters as they appear in the path — so a request
 * the tool then sends unchanged is signed over exactly the input the API checks. A request no operation takes gets no
 * headers.
 */
export async function startRequestSigner(signer: Wallet, chainId: number): Promise<{ url: string; stop(): Promise<void> }> {
  const app = fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
  acceptJsonBodiesOnly(app);
  app.post('/*', async (req, reply) => {
    const method = String(req.headers[ORIGINAL_METHOD_HEADER] ?? '').toUpperCase();
    const url = new URL(req.url, 'http://signer.invalid');
    const path = `/${url.pathname.slice(OPENAPI_BASE.length).replace(/^\/|\/$/g, '')}`;
    for (const route of openApiRoutes) {
      const match = route.method === method ? route.pattern.exec(path) : null;
      if (!match) continue;
      const query: Record<string, string | string[]> = {};
      for (const key of new Set(url.searchParams.keys())) {
        const values = url.searchParams.getAll(key);
        query[key] = values.length === 1 ? values[0] : values;
      }
      const pathInput = Object.fromEntries(route.params.map((name, i) => [name, match[i + 1]]));
      const input: Record<string, unknown> = Object.assign({}, method === 'POST' ? req.body : query, pathInput);
      return reply.send(await signRequest(signer, chainId, route.procedure, input));
    }
    return reply.send({});
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: address, stop: () => app.close() };
}
