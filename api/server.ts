import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import fastify from 'fastify';
import { contextFor, type ApiDeps } from './context';
import { appRouter, type AppRouter } from './routers';

export interface ServerOptions {
  deps: ApiDeps;
  host: string;
  port: number;
  maxBlobBytes: number;
  /** Body limit of tRPC calls: specs are small, blobs go to the staging store. */
  maxRequestBytes?: number;
}

/** The API: tRPC under /trpc, the staging store under /blobs, health under /healthz. */
export function createServer(opts: ServerOptions) {
  const server = fastify({ logger: false, bodyLimit: opts.maxRequestBytes ?? 1024 * 1024, routerOptions: { maxParamLength: 5000 } });
  server.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      createContext: ({ req }) => contextFor(opts.deps, req),
      onError({ path, error }) {
        if (error.code === 'INTERNAL_SERVER_ERROR') console.error(`tRPC ${path} failed:`, error.cause ?? error);
      },
    } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
  });
  opts.deps.staging.registerRoutes(server, opts.maxBlobBytes);
  server.get('/healthz', async () => ({ ok: true }));

  return {
    server,
    /** Listens and returns the URL it listens on (the real port when 0 was asked). */
    async start(): Promise<string> {
      await server.listen({ host: opts.host, port: opts.port });
      const address = server.server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      return `http://${opts.host}:${port}`;
    },
    async stop(): Promise<void> {
      await server.close();
    },
  };
}
