import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from './routers';

/** The typed client for the Zansoc API, for the CLI, host workers and any TypeScript user. */
export function createApiClient(apiUrl: string, opts: { clientId?: string } = {}) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${apiUrl.replace(/\/$/, '')}/trpc`,
        headers: () => (opts.clientId ? { 'x-zansoc-client': opts.clientId } : {}),
      }),
    ],
  });
}
export type ApiClient = ReturnType<typeof createApiClient>;
