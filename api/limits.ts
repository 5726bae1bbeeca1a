import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { appRouter } from './routers';
import { verifyRequest } from './signing';

/** Each OpenAPI route as a matcher: method, path pattern with its parameter names, and the procedure it calls. */
const openApiRoutes = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { meta?: OpenApiMeta } }>).flatMap(([procedure, p]) => {
  const route = p._def.meta?.openapi;
  if (!route) return [];
  const params: string[] = [];
  const pattern = new RegExp(`^${route.path.replace(/\{(\w+)\}/g, (_m, name: string) => (params.push(name), '([^/]+)'))}$`);
  return [{ method: route.method, pattern, params, procedure }];
});

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

/** The signer of a plain HTTP call: its procedure from the route, its input from path, query and body together. */
function openApiIdentityOf(req: FastifyRequest, chainId: number, prefix: string): string | null {
  const url = new URL(req.url, 'http://api.invalid');
  const path = url.pathname.slice(prefix.length);
  for (const route of openApiRoutes) {
    const match = route.method === req.method ? route.pattern.exec(path) : null;
    if (!match) continue;
    const input: Record<string, unknown> = { ...Object.fromEntries(url.searchParams), ...(typeof req.body === 'object' && req.body ? req.body : {}) };
    route.params.forEach((name, i) => (input[name] = decodeURIComponent(match[i + 1])));
    const verified = verifyRequest(req.headers, chainId, route.procedure, Object.keys(input).length ? input : undefined);
    return verified.ok ? `id:${verified.address}` : null;
  }
  return null;
}
