import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { openApiCallOf } from './openapi-routes';
import { verifyRequest } from './signing';

/**
 * Rate limits per identity: a call with a valid signature counts against its signer, anything else against its IP
 * address, so nobody can use up someone else's allowance by claiming their address. Nonces are not consumed here.
 */
export async function registerRateLimit(
  scope: FastifyInstance, opts: { perMinute: number; chainId: number; prefix: string; openApi?: boolean },
): Promise<void> {
  await scope.register(rateLimit, {
    max: opts.perMinute,
    timeWindow: 60_000,
    hook: 'preHandler',
    keyGenerator: (req) => (opts.openApi ? openApiIdentityOf(req, opts.chainId, opts.prefix) : identityOf(req, opts.chainId, opts.prefix)) ?? `ip:${req.ip}`,
    errorResponseBuilder: (_req, context) => ({
      statusCode: 429,
      code: 'TOO_MANY_REQUESTS',
      message: `rate limit: at most ${context.max} calls a minute per identity; try again in ${Math.ceil(context.ttl / 1000)}s`,
    }),
  });
}

function identityOf(req: FastifyRequest, chainId: number, prefix: string): string | null {
  const url = new URL(req.url, 'http://api.invalid');
  if (!url.pathname.startsWith(`${prefix}/`)) return null;
  const procedure = url.pathname.slice(prefix.length + 1);
  let input: unknown;
  if (req.method === 'GET') {
    const raw = url.searchParams.get('input');
    try {
      input = raw === null ? undefined : JSON.parse(raw);
    } catch {
      return null;
    }
  } else input = req.body;
  const verified = verifyRequest(req.headers, chainId, procedure, input);
  return verified.ok ? `id:${verified.address}` : null;
}

/** The signer of a plain HTTP call: its procedure from the route, its input as the /api adapter builds it. */
function openApiIdentityOf(req: FastifyRequest, chainId: number, prefix: string): string | null {
  const call = openApiCallOf(req.method, prefix, req.url, req.body);
  if (!call) return null;
  const verified = verifyRequest(req.headers, chainId, call.procedure, call.input);
  return verified.ok ? `id:${verified.address}` : null;
}
