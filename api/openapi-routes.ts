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
