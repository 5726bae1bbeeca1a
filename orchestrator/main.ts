import { NativeConnection, Worker } from '@temporalio/worker';
import { Wallet } from 'ethers';
import { createOrchestratorActivities, type OrchestratorActivities } from '../activities';
import { connectChain } from '../activities/chain/client';
import { withHeartbeats } from '../activities/heartbeat';
import { metered } from '../activities/metered';
import { createOrchestratorMetrics, serveMetrics } from '../metrics/registry';
import { loadDeployment } from '../contracts/deployment';
import { chainIdAt, refuseWellKnownKeys } from '../contracts/well-known-keys';
import { migrateDatabase, openDatabase } from '../db/client';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/execution';
import { readOrchestratorEnv } from './env';
import { installWorkerRuntime, temporalTlsFrom } from '../runtime/temporal';

/** The orchestrator worker: runs every workflow and the activities that touch the read model and the chain. */
async function main(): Promise<void> {
  const env = readOrchestratorEnv();
  refuseWellKnownKeys(await chainIdAt(env.RPC_URL), { SETTLER_KEY: env.SETTLER_KEY });
  installWorkerRuntime(env.TEMPORAL_METRICS_ADDRESS);
  const metrics = createOrchestratorMetrics();
  const metricsServer = env.METRICS_ADDRESS ? await serveMetrics(metrics.registry, env.METRICS_ADDRESS) : null;
  await migrateDatabase(env.DATABASE_URL);
  const db = openDatabase(env.DATABASE_URL);
  const deployment = loadDeployment(env.DEPLOYMENT_FILE);
  const chain = await connectChain({
    rpcUrl: env.RPC_URL,
    deployment,
    settlerKey: env.SETTLER_KEY,
    confirmations: env.CHAIN_CONFIRMATIONS,
  });
  const activities = metered(createOrchestratorActivities({
    db, chain, reputationWeight: env.REPUTATION_WEIGHT, metrics, staging: { signer: new Wallet(env.SETTLER_KEY), chainId: deployment.chainId },
  }), metrics);
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS, tls: temporalTlsFrom(env) });
  const worker = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities: withHeartbeats(env.ZANSOC_TEST_CRASH ? crashingAfterSettle(activities) : activities),
  });
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    worker.shutdown();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  console.log(`orchestrator worker polling ${ORCHESTRATOR_TASK_QUEUE}`);
  await worker.run();
  await connection.close();
  await db.$disconnect();
  metricsServer?.close();
}

/** The crash fixture: settles for real, then dies before the activity can report that it did. */
function crashingAfterSettle(activities: OrchestratorActivities): OrchestratorActivities {
  return {
    ...activities,
    async settleJob(input) {
      const result = await activities.settleJob(input);
      console.log(`orchestrator CRASHES after settling job ${input.jobId} (test fixture)`);
      process.kill(process.pid, 'SIGKILL');
      return result;
    },
  };
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
