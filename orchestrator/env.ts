import { z } from 'zod';
import { listenAddress, temporalTlsComplete, temporalTlsEnv, testFixtureOnly } from '../domain/env';
import { describeIssues } from '../domain/job-spec';

const privateKey = z.string().regex(/^0x[a-fA-F0-9]{64}$/, 'must be a 0x-prefixed 32-byte hex private key');

/** The orchestrator worker's configuration, validated at boot. */
export const orchestratorEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  ...temporalTlsEnv,
  DATABASE_URL: z.string().min(1).default('file:./.devnet/zansoc.db'),
  RPC_URL: z.string().url().default('http://127.0.0.1:8545'),
  /** deployments/<chainId>.json as written by `npm run contracts:deploy`. */
  DEPLOYMENT_FILE: z.string().min(1),
  /**
   * The key holding both escrows' SETTLER role: it relays clients' signed orders and hosts' signed consents, pays
   * their gas, and settles. It holds no client's money and pays for no job.
   */
  SETTLER_KEY: privateKey,
  CHAIN_CONFIRMATIONS: z.coerce.number().int().min(1).default(1),
  /** Where /metrics is served (host:port); unset: not served. */
  METRICS_ADDRESS: listenAddress.optional(),
  /** Where the Temporal SDK's own Prometheus metrics are served (host:port); unset: not served. */
  TEMPORAL_METRICS_ADDRESS: listenAddress.optional(),
  /** How much hosts' track records weigh in matching against their prices; 0 ranks by price and load alone. */
  REPUTATION_WEIGHT: z.coerce.number().min(0).max(100).default(1),
  /**
   * Test fixture: the worker kills itself (SIGKILL) right after the settlement transaction is mined, before Temporal
   * hears of it — the worst moment to crash. Refused unless NODE_ENV is `test`.
   */
  ZANSOC_TEST_CRASH: z.enum(['after-settle']).optional(),
  NODE_ENV: z.string().optional(),
}).superRefine(testFixtureOnly('ZANSOC_TEST_CRASH')).superRefine(temporalTlsComplete);
export type OrchestratorEnv = z.output<typeof orchestratorEnvSchema>;

export function readOrchestratorEnv(env: NodeJS.ProcessEnv = process.env): OrchestratorEnv {
  const parsed = orchestratorEnvSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid orchestrator configuration: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
