import { Client, Connection } from '@temporalio/client';
import { loadDeployment } from '../contracts/deployment';
import { chainIdAt, refuseWellKnownKeys } from '../contracts/well-known-keys';
import { migrateDatabase, openDatabase } from '../db/client';
import { temporalTlsFrom } from '../runtime/temporal';
import { createApiMetrics } from '../metrics/registry';
import { readApiEnv } from './env';
import { createWalletService } from './wallet';
import { createHostCertificates } from './host-certificates';
import { createServer } from './server';
import { StagingStore } from './staging';

/** Starts the API on its environment's configuration and stops cleanly on SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const env = readApiEnv();
  // The faucet is the API's only key, and it signs only where there is a chain to send to.
  if (env.RPC_URL && env.FAUCET_KEY) refuseWellKnownKeys(await chainIdAt(env.RPC_URL), { FAUCET_KEY: env.FAUCET_KEY });
  await migrateDatabase(env.DATABASE_URL);
  const db = openDatabase(env.DATABASE_URL);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, tls: temporalTlsFrom(env) });
  const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  // The orchestrator is whoever holds the escrows' SETTLER role: it checks and restages deals' chunks.
  const orchestratorAddress = env.DEPLOYMENT_FILE ? loadDeployment(env.DEPLOYMENT_FILE).settler : undefined;
  const publicUrl = env.PUBLIC_URL ?? `http://${env.API_HOST}:${env.API_PORT}`;
  const api = createServer({
    deps: { db, temporal, staging: new StagingStore(env.STAGING_DIR, { quotaBytes: env.STAGING_QUOTA_BYTES, retentionHours: env.STAGING_RETENTION_HOURS }),
      publicUrl, orchestratorAddress, spotCheckFraction: env.SPOT_CHECK_FRACTION, chainId: env.CHAIN_ID,
      metrics: createApiMetrics(),
      hostCertificates: env.HOST_CA_CERT_FILE && env.HOST_CA_KEY_FILE && env.TEMPORAL_TLS_CA_FILE
        ? createHostCertificates({
          caCertFile: env.HOST_CA_CERT_FILE, caKeyFile: env.HOST_CA_KEY_FILE, serverCaFile: env.TEMPORAL_TLS_CA_FILE,
          serverName: env.TEMPORAL_TLS_SERVER_NAME, lifetimeHours: env.HOST_CERT_HOURS,
        })
        : undefined,
      wallet: env.RPC_URL && env.DEPLOYMENT_FILE
        ? createWalletService({ rpcUrl: env.RPC_URL, deploymentFile: env.DEPLOYMENT_FILE, faucetKey: env.FAUCET_KEY, faucetAmount: env.FAUCET_AMOUNT })
        : undefined,
    },
    host: env.API_HOST,
    port: env.API_PORT,
    maxBlobBytes: env.MAX_BLOB_BYTES,
    maxRequestBytes: env.MAX_REQUEST_BYTES,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    corsOrigins: env.CORS_ORIGINS,
    stagingSweepMs: env.STAGING_SWEEP_SECONDS * 1000,
  });
  const url = await api.start();
  console.log(`api listening on ${url}`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await api.stop();
    await connection.close();
    await db.$disconnect();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
