import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from './routers';
import { signRequest, type RequestSigner } from './signing';

export interface ApiClientOptions {
  /** The caller's key: every call is signed with it (EIP-712). Without one, only public calls work. */
  signer?: RequestSigner;
  /** The chain signatures are bound to (the API's CHAIN_ID). */
  chainId?: number;
}

/** The typed client for the Zansoc API, for the CLI, host workers and any TypeScript user. */
export function createApiClient(apiUrl: string, opts: ApiClientOptions = {}) {
  const { signer, chainId = 31337 } = opts;
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${apiUrl.replace(/\/$/, '')}/trpc`,
        headers: async ({ op }) => (signer ? signRequest(signer, chainId, op.path, op.input) : {}),
      }),
    ],
  });
}
export type ApiClient = ReturnType<typeof createApiClient>;
