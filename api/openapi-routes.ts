import type { OpenApiMeta } from 'trpc-to-openapi';
import { appRouter } from './routers';

export type OpenApiRoute = NonNullable<OpenApiMeta['openapi']>;

/** Each OpenAPI route as a matcher: method, path pattern with its parameter names, and the procedure it calls. */
export const openApiRoutes = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { meta?: OpenApiMeta } }>).flatMap(([procedure, p]) => {
  const route = p._def.meta?.openapi;
  if (!route) return [];
  const params: string[] = [];
  // Case-insensitive, as the /api adapter matches paths.
  const pattern = new RegExp(`^${route.path.replace(/\{(\w+)\}/g, (_m, name: string) => (params.push(name), '([^/]+)'))}$`, 'i');
  return [{ method: route.method, pattern, params, procedure, route }];
});

/**
 * The procedure a plain HTTP call reaches and its input, put together as the /api adapter (trpc-to-openapi) does, so
 * that a signature is checked over the same input everywhere: the body's fields (POST) or the query's (GET, a repeated
 * key as a list), then the path parameters as they appear in the path. Null when no operation takes the call.
 */
export function openApiCallOf(method: string, prefix: string, url: string, body: unknown): { procedure: string; input: Record<string, unknown> } | null {
  const parsed = new URL(url, 'http://api.invalid');
  if (!parsed.pathname.startsWith(`${prefix}/`)) return null;
  const path = `/${parsed.pathname.slice(prefix.length).replace(/^\/|\/$/g, '')}`;
  for (const route of openApiRoutes) {
    const match = route.method === method ? route.pattern.exec(path) : null;
    if (!match) continue;
    const query: Record<string, string | string[]> = {};
    for (const key of new Set(parsed.searchParams.keys())) {
      const values = parsed.searchParams.getAll(key);
      query[key] = values.length === 1 ? values[0] : values;
    }
    const pathInput = Object.fromEntries(route.params.map((name, i) => [name, match[i + 1]]));
    return { procedure: route.procedure, input: Object.assign({}, method === 'POST' ? body : query, pathInput) };
  }
  return null;
}
