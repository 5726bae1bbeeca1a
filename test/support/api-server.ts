import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { contextFor, type ApiDeps } from '../../api/context';
import { appRouter } from '../../api/routers';
import { createServer } from '../../api/server';
import { signRequest, type RequestSigner } from '../../api/signing';
import { createCallerFactory } from '../../api/trpc';
import { StagingStore, type StagingOptions } from '../../api/staging';
import { migrateDatabase, openDatabase, type Database } from '../../db/client';
import { startTemporalServer, type TemporalServer } from '../../scripts/temporal-server';
import type { Deployment } from '../../contracts/deployment';
import { startTestChain, type TestChain } from './chain';

export const CHAIN_ID = 31337;

export interface ApiServer {
  url: string;
  /** The server's own Temporal server, for a test that runs workers beside the API. */
  temporalAddress: string;
  db: Database;
  temporal: Client;
  /** What the server's procedures use: for calls in-process (`callerAs`). */
  deps: ApiDeps;
  /** The server's own chain (anvil) and the contracts its orders are signed for. */
  rpcUrl: string;
  deployment: Deployment;
  /** Sends `zsc` whole ZSC from the treasury to `address`: what a client needs before its orders are taken. */
  fund(address: string, zsc: string): Promise<void>;
  stop(): Promise<void>;
}

const createCaller = createCallerFactory(appRouter);
export type AppCaller = ReturnType<typeof createCaller>;

/**
 * The procedures called in-process through tRPC's createCaller, no HTTP, as `signer`: each call carries the
 * signature headers of its own procedure and input, as a client over HTTP sends them, so signing, nonces and
 * ownership checks run as they do there.
 */
export function callerAs(deps: ApiDeps, signer: RequestSigner): AppCaller {
  const at = (path: string[]): unknown => new Proxy(() => undefined, {
    // Not a thenable: awaiting the caller or a router of it gives itself back.
    get: (_target, key) => (typeof key === 'string' && key !== 'then' ? at([...path, key]) : undefined),
    apply: async (_target, _this, [input]: unknown[]) => {
      const procedure = path.join('.');
      const caller = createCaller(contextFor(deps, { headers: await signRequest(signer, CHAIN_ID, procedure, input) }));
      const call = path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as (input: unknown) => Promise<unknown>;
      return call(input);
    },
  });
  return at([]) as AppCaller;
}

/**
 * The API alone, in this process, over real HTTP on a free port, with a real SQLite database, a real Temporal server
 * (no workers: submitted jobs just wait) and a real chain (anvil with the contracts deployed; no faucet), whose
 * balances, allowances and escrows the API checks orders against. For tests of the API's edge.
 */
export async function startApiServer(opts: {
  rateLimitPerMinute: number; maxRequestBytes?: number; maxBlobBytes?: number; staging?: StagingOptions;
}): Promise<ApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'zansoc-api-'));
  let temporalServer: TemporalServer | null = null;
  let chain: TestChain | null = null;
  try {
    // Side by side, and both awaited even when one fails, so that the catch below stops whichever did start.
    const [temporalStarted, chainStarted] = await Promise.allSettled([startTemporalServer({ headless: true }), startTestChain(join(dir, 'deployments'))]);
    if (temporalStarted.status === 'fulfilled') temporalServer = temporalStarted.value;
    if (chainStarted.status === 'fulfilled') chain = chainStarted.value;
    if (temporalStarted.status === 'rejected') throw temporalStarted.reason;
    if (chainStarted.status === 'rejected') throw chainStarted.reason;
    const started = temporalStarted.value;
    const startedChain = chainStarted.value;
    const temporal = new Client({ connection: await Connection.connect({ address: started.address }) });
    const databaseUrl = `file:${join(dir, 'api.db')}`;
    await migrateDatabase(databaseUrl);
    const db = openDatabase(databaseUrl);
    const deps: ApiDeps = {
      db, temporal, staging: new StagingStore(join(dir, 'staging'), opts.staging), publicUrl: 'http://127.0.0.1', chainId: CHAIN_ID, spotCheckFraction: 0,
      wallet: startedChain.wallet, orchestratorAddress: startedChain.deployment.settler,
    };
    const { staging: _staging, ...serverOpts } = opts;
    const api = createServer({
      deps,
      host: '127.0.0.1', port: 0, maxBlobBytes: 1024 * 1024, ...serverOpts,
    });
    const url = await api.start();
    return {
      url, temporalAddress: started.address, db, temporal, deps,
      rpcUrl: startedChain.rpcUrl, deployment: startedChain.deployment, fund: startedChain.fund,
      async stop() {
        await api.stop();
        await temporal.connection.close();
        await db.$disconnect();
        await started.stop();
        await startedChain.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await temporalServer?.stop();
    await chain?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
