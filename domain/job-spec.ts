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

export const MAX_INPUT_FILES = 32;
export const MAX_TESTS = 4;
/** The longest a job's container may run. */
export const MAX_TIMEOUT_SECONDS = 86_400;
const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, 'must be a sha256 hex digest (64 lowercase hex characters)');
/** A relative path under /in: plain names joined by `/`, none of them hidden, `.` or `..`. */
const inputPath = z
  .string()
  .max(255)
  .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/, 'must be a relative path such as "data/in.csv" (letters, digits, . _ -; no leading dot)');
/**
 * Files the job reads, mounted read-only under /in: path under /in → sha256 of a blob in the staging store
 * (`zansoc job submit` uploads local files and fills these in).
 */
const inputsSchema = z
  .record(inputPath, sha256Hex)
  .refine((inputs) => Object.keys(inputs).length <= MAX_INPUT_FILES, `at most ${MAX_INPUT_FILES} input files`)
  .refine((inputs) => !Object.keys(inputs).some((a) => Object.keys(inputs).some((b) => b.startsWith(`${a}/`))), 'an input path cannot also be a folder of another input')
  .default({});

/**
 * A test input: the same job run on inputs whose right result the client already knows. Every host that runs a
 * replica also runs a test, unknowing which of its two runs is the test; a host whose test digest is wrong is caught
 * cheating, slashed, and its slot goes to another host.
 */
export const jobTestSchema = z.object({ inputs: inputsSchema, expectedDigest: sha256Hex }).strict();

export const resourcesSchema = z
  .object({
    cpu: z.number().min(0.1).max(64).default(1),
    memoryMiB: z.number().int().min(16).max(262_144).default(256),
    diskMiB: z.number().int().min(1).max(1_048_576).default(64),
    gpu: z.number().int().min(0).max(16).default(0),
  })
  .strict();

/**
 * JobEscrow keeps a job's price per slot in 88 bits (uint88, beside the client in one storage slot), over 309 million
 * ZSC: a larger one would only be refused on chain. Its escrow, price × at most MAX_REPLICAS + 2 slots, then always
 * fits the 96 bits JobEscrow keeps it in.
 */
export const MAX_PRICE_PER_SLOT = 2n ** 88n - 1n;

export const jobSpecSchema = z
  .object({
    image: imageReference,
    command: z.array(z.string().max(4096)).min(1).max(256),
    env: z
      .record(envName, z.string().max(32_768))
      .refine((env) => Object.keys(env).length <= 128, 'at most 128 variables')
      .default({}),
    resources: resourcesSchema.default({}),
    inputs: inputsSchema,
    tests: z.array(jobTestSchema).max(MAX_TESTS).default([]),
    timeoutSeconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).default(300),
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
    expectedDigest: sha256Hex.optional(),
    /** The most the client pays per replica, in ZSC base units (18 decimals), as a decimal string. */
    maxPrice: tokenAmount.refine((s) => s !== '0', 'must be more than 0: hosts would be paid nothing').default('1000000000000000000'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    // zod refines after a field failed too: only a whole number is a price.
    if (!/^[0-9]+$/.test(spec.maxPrice)) return;
    if (BigInt(spec.maxPrice) > MAX_PRICE_PER_SLOT) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['maxPrice'],
        message: `${spec.maxPrice} base units is more than JobEscrow takes as a price per slot (${MAX_PRICE_PER_SLOT})`,
      });
    }
  });

/** Replicas a job may grow to when its replicas disagree: two more than asked, for redundant jobs only. */
export const extraReplicasFor = (replicas: number): number => (replicas > 1 ? 2 : 0);

/** What the client locks in escrow: the price cap of every replica the job may run. */
export function escrowFor(spec: Pick<JobSpec, 'maxPrice' | 'replicas'>): string {
  return (BigInt(spec.maxPrice) * BigInt(spec.replicas + extraReplicasFor(spec.replicas))).toString();
}

export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.output<typeof jobSpecSchema>;
export type Resources = z.output<typeof resourcesSchema>;
export type JobTest = z.output<typeof jobTestSchema>;

/** Every staging blob a job reads: its own inputs and its tests'. */
export function inputBlobsOf(spec: Pick<JobSpec, 'inputs' | 'tests'>): string[] {
  return [...new Set([...Object.values(spec.inputs ?? {}), ...(spec.tests ?? []).flatMap((t) => Object.values(t.inputs))])];
}

/** Turns zod issues into one line per field, e.g. `resources.memoryMiB: Number must be greater than or equal to 16`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}
