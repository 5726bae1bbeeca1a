import { z } from 'zod';
import type { HostOffer, MachineCapabilities } from '../domain/capabilities';
import { listenAddress, testFixtureOnly } from '../domain/env';
import { describeIssues } from '../domain/job-spec';
import { MAX_ADVERTISED_IMAGES } from '../domain/images';
import { tokenAmount } from '../domain/money';

/** An image a job may name, a name optionally pinned by digest (`zansoc/busybox:1`, `name@sha256:<64 hex>`). */
const allowedImage = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** The host worker's configuration, validated at boot: where to connect, and the operator's offer. */
export const hostEnvSchema = z.object({
  API_URL: z.string().url().default('http://127.0.0.1:3000'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  /** Holds the encrypted host key and the per-job work folders. */
  HOST_DATA_DIR: z.string().default('./.devnet/host'),
  /** Defaults to `h-` and the start of the host's address. */
  HOST_ID: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes').optional(),
  CHAIN_ID: z.coerce.number().int().positive().default(31337),
  /** What the operator shares; each defaults to all the machine has (disk: 90% of what is free). */
  SHARE_CPUS: z.coerce.number().positive().optional(),
  SHARE_MEMORY_MIB: z.coerce.number().int().positive().optional(),
  SHARE_DISK_MIB: z.coerce.number().int().positive().optional(),
  SHARE_GPUS: z.coerce.number().int().min(0).optional(),
  /** Concurrent job slots offered; defaults to the shared cpus, rounded down, at least 1. */
  MAX_SLOTS: z.coerce.number().int().min(1).max(1024).optional(),
  /** Prices in ZSC base units. */
  PRICE_PER_CPU_SECOND: tokenAmount.default('1000000000000'),
  PRICE_PER_GIB_SECOND: tokenAmount.default('100000000000'),
  PRICE_PER_GPU_SECOND: tokenAmount.default('50000000000000'),
  HEARTBEAT_SECONDS: z.coerce.number().min(1).max(300).default(10),
  /** The chain where the host stakes; without both, the host joins without staking (a devnet without contracts). */
  RPC_URL: z.string().url().optional(),
  DEPLOYMENT_FILE: z.string().min(1).optional(),
  /** The operator's address, when one operator runs several hosts: they never get two replicas of one job. */
  OPERATOR: z.string().regex(/^0x[a-fA-F0-9]{40}$/, 'must be a 0x-prefixed Ethereum address').optional(),
  /** Where this host's /metrics is served (host:port); unset: not served. */
  METRICS_ADDRESS: listenAddress.optional(),
  /** ZSC base units kept staked on HostRegistry (100 ZSC by default). */
  STAKE: tokenAmount.default('100000000000000000000'),
  /** The most of its stake this host lets one job or deal term bond (it signs a consent for each bond); default STAKE. */
  MAX_BOND: tokenAmount.optional(),
  /**
   * The images this host runs, comma-separated: `name` (pinned at start to the local image's ID) or
   * `name@sha256:<digest>`. Jobs are matched only for these, and the sandbox checks the local image's digest, not its
   * name, before any container exists. Unset: the project's job image (zansoc/busybox:1), when it is built here.
   */
  ALLOWED_IMAGES: z
    .string()
    .transform((list) => list.split(',').map((entry) => entry.trim()).filter(Boolean))
    .pipe(z
      .array(z.string().max(400).regex(allowedImage, 'each entry must be an image name such as "zansoc/busybox:1", optionally pinned as name@sha256:<64 hex>'))
      .min(1, 'must name at least one image')
      .max(MAX_ADVERTISED_IMAGES, `at most ${MAX_ADVERTISED_IMAGES} images`))
    .optional(),
  /**
   * `loop` (the default): every slot's folders sit on a filesystem of its own (an ext4 file, loop-mounted), so the
   * kernel caps its disk; the host refuses to start where it cannot make one. `off`: plain folders, watched by a poll
   * only (a fast writer can outrun it) — for machines without loop devices, and said loudly at start.
   */
  SLOT_DISK_QUOTA: z.enum(['loop', 'off']).default('loop'),
  /** How long a draining host lets running slots finish before handing them back to be re-matched. */
  DRAIN_GRACE_SECONDS: z.coerce.number().min(0).max(86_400).default(30),
  /**
   * Test fixture: a host that forges its result digest or its signature, or keeps no storage replica and seals one
   * again when challenged (host-worker/storage-cheat.ts), so tests can see cheaters caught and slashed. Refused
   * unless NODE_ENV is `test`, so no production configuration can turn it on.
   */
  ZANSOC_TEST_CHEAT: z.enum(['corrupt-digest', 'forge-signature', 'reseal-on-challenge']).optional(),
  NODE_ENV: z.string().optional(),
}).superRefine(testFixtureOnly('ZANSOC_TEST_CHEAT'));
export type HostEnv = z.output<typeof hostEnvSchema>;

export function readHostEnv(env: NodeJS.ProcessEnv = process.env): HostEnv {
  const parsed = hostEnvSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid host-worker configuration: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The offer from what the machine has and what the operator chose to share; sharing more than there is is refused. */
export function buildOffer(env: HostEnv, machine: MachineCapabilities): HostOffer {
  const over = (name: string, wanted: number, has: number) => {
    if (wanted > has) throw new Error(`${name}: ${wanted} is more than this machine has (${has})`);
    return wanted;
  };
  const cpus = over('SHARE_CPUS', env.SHARE_CPUS ?? machine.cpus, machine.cpus);
  const gpus = over('SHARE_GPUS', env.SHARE_GPUS ?? machine.gpus.length, machine.gpus.length);
  return {
    arch: machine.arch,
    cpus,
    memoryMiB: over('SHARE_MEMORY_MIB', env.SHARE_MEMORY_MIB ?? machine.memoryMiB, machine.memoryMiB),
    diskMiB: over('SHARE_DISK_MIB', env.SHARE_DISK_MIB ?? Math.floor(machine.diskMiB * 0.9), machine.diskMiB),
    gpus,
    gpuModel: gpus > 0 ? machine.gpus[0].model : null,
    maxSlots: env.MAX_SLOTS ?? Math.max(1, Math.floor(cpus)),
    pricePerCpuSecond: env.PRICE_PER_CPU_SECOND,
    pricePerGibSecond: env.PRICE_PER_GIB_SECOND,
    pricePerGpuSecond: env.PRICE_PER_GPU_SECOND,
  };
}
