import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createServer } from '../../api/server';
import { StagingStore } from '../../api/staging';
import { migrateDatabase, openDatabase, type Database } from '../../db/client';
import { startTemporalServer, type TemporalServer } from '../../scripts/temporal-server';

export const CHAIN_ID = 31337;

export interface ApiServer {
  url: string;
  db: Database;
  temporal: Client;
  stop(): Promise<void>;
}

/**
 * The API alone, in this process, over real HTTP on a free port, with a real SQLite database and a real Temporal
 * server (no workers: submitted jobs just wait). For tests of the API's edge.
 */
export async function startApiServer(opts: { rateLimitPerMinute: number; maxRequestBytes?: number }): Promise<ApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'zansoc-api-'));
  let temporalServer: TemporalServer | null = null;
  try {
    temporalServer = await startTemporalServer({ headless: true });
    const temporal = new Client({ connection: await Connection.connect({ address: temporalServer.address }) });
    const databaseUrl = `file:${join(dir, 'api.db')}`;
    await migrateDatabase(databaseUrl);
    const db = openDatabase(databaseUrl);
    const api = createServer({
      deps: { db, temporal, staging: new StagingStore(join(dir, 'staging')), publicUrl: 'http://127.0.0.1', chainId: CHAIN_ID, spotCheckFraction: 0 },
      host: '127.0.0.1', port: 0, maxBlobBytes: 1024 * 1024, ...opts,
    });
    const url = await api.start();
    const started = temporalServer;
    return {
      url, db, temporal,
      async stop() {
        await api.stop();
        await temporal.connection.close();
        await db.$disconnect();
        await started.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await temporalServer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
