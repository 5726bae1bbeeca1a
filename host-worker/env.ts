import { z } from 'zod';
import { describeIssues } from '../domain/job-spec';
import { tokenAmount } from '../domain/money';

/** The host worker's configuration, validated at boot. */
export const hostEnvSchema = z.object({
  API_URL: z.string().url().default('http://127.0.0.1:3000'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  /** Holds the host key and the per-job work folders. */
  HOST_DATA_DIR: z.string().default('./.devnet/host'),
  /** Defaults to `h-` and the start of the host's address. */
  HOST_ID: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes').optional(),
  CHAIN_ID: z.coerce.number().int().positive().default(31337),
  /** Concurrent job slots offered; defaults to the number of cores. */
  MAX_SLOTS: z.coerce.number().int().min(1).max(1024).optional(),
  /** Price per cpu-second in ZSC base units. */
  PRICE_PER_CPU_SECOND: tokenAmount.default('1000000000000'),
  HEARTBEAT_SECONDS: z.coerce.number().min(1).max(300).default(10),
});
export type HostEnv = z.output<typeof hostEnvSchema>;

export function readHostEnv(env: NodeJS.ProcessEnv = process.env): HostEnv {
  const parsed = hostEnvSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid host-worker configuration: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
