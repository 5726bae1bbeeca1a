import { z } from 'zod';
import { tokenAmount } from './money';

export const MAX_REPLICAS = 7;

/** A container image by name (`busybox`, `zansoc/busybox:1`) or pinned by digest (`name@sha256:…`, `sha256:…`). */
const imageReference = z
  .string()
  .min(1)
  .max(255)
  .regex(
    /^(sha256:[a-f0-9]{64}|[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?)$/,
    'must be an image name such as "zansoc/busybox:1" or a digest "sha256:<64 hex>"',
  );

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a shell-style variable name');

export const resourcesSchema = z
  .object({
    cpu: z.number().min(0.1).max(64).default(1),
    memoryMiB: z.number().int().min(16).max(262_144).default(256),
    diskMiB: z.number().int().min(1).max(1_048_576).default(64),
    gpu: z.number().int().min(0).max(16).default(0),
  })
  .strict();

export const jobSpecSchema = z
  .object({
    image: imageReference,
    command: z.array(z.string().max(4096)).min(1).max(256),
    env: z
      .record(envName, z.string().max(32_768))
      .refine((env) => Object.keys(env).length <= 128, 'at most 128 variables')
      .default({}),
    resources: resourcesSchema.default({}),
    timeoutSeconds: z.number().int().min(1).max(86_400).default(300),
    /** Redundancy: the job runs on this many distinct hosts and a strict majority of equal digests wins. */
    replicas: z.number().int().min(1).max(MAX_REPLICAS).default(1),
    /** How long the job may wait for a fitting host before it fails and is refunded. */
    queueTimeoutSeconds: z.number().int().min(1).max(86_400).default(600),
    /**
     * How long the result stays PROVISIONAL after it is known, so registered verifiers can challenge it; hosts are paid
     * when it closes. 0 settles at once.
     */
    challengeWindowSeconds: z.number().int().min(0).max(7 * 86_400).default(0),
    /**
     * The client's own check: the result digest it knows is right (from a test input). A verified result with any
     * other digest ends the job FAILED; the hosts that agreed on it are still paid for their work.
     */
    expectedDigest: z.string().regex(/^[a-f0-9]{64}$/, 'must be a sha256 hex digest (64 lowercase hex characters)').optional(),
    /** The most the client pays per replica, in ZSC base units (18 decimals), as a decimal string. */
    maxPrice: tokenAmount.default('1000000000000000000'),
  })
  .strict();

/** Replicas a job may grow to when its replicas disagree: two more than asked, for redundant jobs only. */
export const extraReplicasFor = (replicas: number): number => (replicas > 1 ? 2 : 0);

/** What the client locks in escrow: the price cap of every replica the job may run. */
export function escrowFor(spec: Pick<JobSpec, 'maxPrice' | 'replicas'>): string {
  return (BigInt(spec.maxPrice) * BigInt(spec.replicas + extraReplicasFor(spec.replicas))).toString();
}

export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.output<typeof jobSpecSchema>;
export type Resources = z.output<typeof resourcesSchema>;

/** Turns zod issues into one line per field, e.g. `resources.memoryMiB: Number must be greater than or equal to 16`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}
