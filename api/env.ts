import { z } from 'zod';
import { temporalTlsComplete, temporalTlsEnv } from '../domain/env';
import { describeIssues } from '../domain/job-spec';

/** The API's configuration, validated at boot so a typo fails fast with the variable's name. */
export const apiEnvSchema = z.object({
  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  /** The URL hosts and clients use to reach this API (the staging store lives under it). */
  PUBLIC_URL: z.string().url().optional(),
  DATABASE_URL: z.string().min(1).default('file:./.devnet/zansoc.db'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  ...temporalTlsEnv,
  STAGING_DIR: z.string().default('./.devnet/staging'),
  MAX_BLOB_BYTES: z.coerce.number().int().positive().default(256 * 1024 * 1024),
  /** Bytes each identity (signing address) may hold in the staging store at once. */
  STAGING_QUOTA_BYTES: z.coerce.number().int().positive().default(2 * 1024 ** 3),
  /** How long a finished job's output and logs stay in staging for its client (and unbound uploads wait for a job). */
  STAGING_RETENTION_HOURS: z.coerce.number().positive().default(168),
  /** How often the staging sweeper deletes what jobs and deals no longer need. */
  STAGING_SWEEP_SECONDS: z.coerce.number().positive().default(60),
  /** tRPC calls a minute per identity (the signer; the IP address for unsigned calls). */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
  /** Comma-separated origins browsers may call from; `*` for any. */
  CORS_ORIGINS: z.string().default('*').transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean)),
  /** Largest tRPC request body in bytes (job specs; blobs have MAX_BLOB_BYTES). */
  MAX_REQUEST_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  /** The chain for wallet balances and the devnet faucet; without both, wallet calls answer PRECONDITION_FAILED. */
  RPC_URL: z.string().url().optional(),
  DEPLOYMENT_FILE: z.string().min(1).optional(),
  /** Devnet only: a key holding ZSC that the faucet gives from. */
  FAUCET_KEY: z.string().regex(/^0x[a-fA-F0-9]{64}$/, 'must be a 0x-prefixed 32-byte hex private key').optional(),
  FAUCET_AMOUNT: z.string().regex(/^[1-9][0-9]{0,40}$/, 'must be a whole number of ZSC base units').default('100000000000000000000'),
  /** The chain identities live on: request signatures are bound to it and dids name it. */
  CHAIN_ID: z.coerce.number().int().positive().default(31337),
  /** The share of single-replica jobs re-run on a verifier host to check the result (0 to 1). */
  SPOT_CHECK_FRACTION: z.coerce.number().min(0).max(1).default(0.05),
  /**
   * The host CA (PEM certificate and P-256 key): with both, the API certifies each host that proves its key and its
   * stake with a short-lived Temporal client certificate (`zansoc-host:<id>`), renewed while it heartbeats. Zansoc's
   * Temporal server takes a certificate of this CA as a host's and no one else's (its --host-ca-file).
   */
  HOST_CA_CERT_FILE: z.string().min(1).optional(),
  HOST_CA_KEY_FILE: z.string().min(1).optional(),
  /** How long a host certificate is valid; hosts renew it from half its life. */
  HOST_CERT_HOURS: z.coerce.number().min(0.01).max(720).default(24),
}).superRefine(temporalTlsComplete).superRefine((env, ctx) => {
  if ((env.HOST_CA_CERT_FILE === undefined) !== (env.HOST_CA_KEY_FILE === undefined)) {
    const missing = env.HOST_CA_CERT_FILE === undefined ? 'HOST_CA_CERT_FILE' : 'HOST_CA_KEY_FILE';
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [missing], message: 'the host CA takes its certificate and its key' });
  }
  if (env.HOST_CA_CERT_FILE !== undefined && env.TEMPORAL_TLS_CA_FILE === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['TEMPORAL_TLS_CA_FILE'], message: 'is needed with HOST_CA_CERT_FILE: hosts are told which CA the Temporal frontend\'s certificate comes from' });
  }
});
export type ApiEnv = z.output<typeof apiEnvSchema>;

export function readApiEnv(env: NodeJS.ProcessEnv = process.env): ApiEnv {
  const parsed = apiEnvSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid API configuration: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
