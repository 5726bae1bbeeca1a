import cors from '@fastify/cors';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import fastify from 'fastify';
import { contextFor, type ApiDeps } from './context';
import { registerRateLimit } from './limits';
import { registerApiMetrics } from './metrics';
import { readinessProblems } from './readiness';
import { OPENAPI_BASE, registerDocs, registerOpenApi } from './openapi';
import { acceptJsonBodiesOnly, answerErrorsPlainly, capTrpcInputDepth } from './request-body';
import { SIGNATURE_HEADERS } from './signing';
import { appRouter, type AppRouter } from './routers';

export interface ServerOptions {
  deps: ApiDeps;
  host: string;
  port: number;
  maxBlobBytes: number;
  /** Body limit of tRPC calls: specs are small, blobs go to the staging store. */
  maxRequestBytes?: number;
  /** Calls a minute per identity (signer, or IP address for unsigned calls). */
  rateLimitPerMinute?: number;
  /** Origins browsers may call from; `*` for any (requests carry signatures, not cookies). */
  corsOrigins?: string[];
  /** A request that takes longer is cut off. */
  requestTimeoutMs?: number;
  /** How often the staging sweeper runs; unset: it does not (tests call `sweep` themselves). */
  stagingSweepMs?: number;
}

/** The API: tRPC under /trpc, the staging store under /blobs, health under /healthz. */
export function createServer(opts: ServerOptions) {
  const bodyLimit = opts.maxRequestBytes ?? 1024 * 1024;
  const server = fastify({
    logger: false,
    bodyLimit,
    requestTimeout: opts.requestTimeoutMs ?? 60_000,
    routerOptions: { maxParamLength: 5000 },
  });
  server.register(cors, {
    origin: !opts.corsOrigins || opts.corsOrigins.includes('*') ? '*' : opts.corsOrigins,
    allowedHeaders: ['content-type', ...Object.values(SIGNATURE_HEADERS)],
    methods: ['GET', 'POST', 'PUT', 'HEAD'],
  });
  // tRPC calls are rate-limited per identity; blob uploads are bounded by size instead.
  server.register(async (scope) => {
    answerErrorsPlainly(scope, bodyLimit);
    capTrpcInputDepth(scope);
    await registerRateLimit(scope, { perMinute: opts.rateLimitPerMinute ?? 1200, chainId: opts.deps.chainId, prefix: '/trpc' });
    await scope.register(fastifyTRPCPlugin, {
      prefix: '/trpc',
      trpcOptions: {
        router: appRouter,
        createContext: ({ req }) => contextFor(opts.deps, req),
        onError({ path, error }) {
          if (error.code === 'INTERNAL_SERVER_ERROR') console.error(`tRPC ${path} failed:`, error.cause ?? error);
        },
      } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
    });
  });
  // The same procedures as plain HTTP/JSON under /api, rate-limited the same way (signatures name the procedure).
  server.register(async (scope) => {
    answerErrorsPlainly(scope, bodyLimit);
    acceptJsonBodiesOnly(scope);
    await registerRateLimit(scope, { perMinute: opts.rateLimitPerMinute ?? 1200, chainId: opts.deps.chainId, prefix: OPENAPI_BASE, openApi: true });
    await registerOpenApi(scope, opts.deps);
  });
  registerDocs(server, opts.deps.publicUrl);
  opts.deps.staging.registerRoutes(server, opts.maxBlobBytes, opts.deps, ['', OPENAPI_BASE]);
  let stopSweeper = () => {};
  server.get('/healthz', async () => ({ ok: true }));
  if (opts.deps.metrics) registerApiMetrics(server, opts.deps.metrics, opts.deps.db);
  /** Ready when the database and Temporal answer and an orchestrator worker polls; 503 naming what is missing. */
  server.get('/readyz', async (_req, reply) => {
    const problems = await readinessProblems(opts.deps);
    return reply.code(problems.length ? 503 : 200).send({ ready: problems.length === 0, problems });
  });

  return {
    server,
    /** Listens and returns the URL it listens on (the real port when 0 was asked). */
    async start(): Promise<string> {
      await server.listen({ host: opts.host, port: opts.port });
      if (opts.stagingSweepMs) stopSweeper = opts.deps.staging.startSweeper(opts.deps.db, opts.stagingSweepMs);
      const address = server.server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      return `http://${opts.host}:${port}`;
    },
    async stop(): Promise<void> {
      stopSweeper();
      await server.close();
    },
  };
}
