import { statfs } from 'node:fs/promises';
import { arch, availableParallelism, totalmem } from 'node:os';

export interface Capabilities {
  arch: string;
  cpus: number;
  memoryMiB: number;
  /** Free disk where job outputs are written. */
  diskMiB: number;
  gpus: number;
}

/** Node's names for architectures, as container images name them. */
const ARCH_NAMES: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l' };

/** What this machine can run. GPU detection (nvidia-smi) comes with the host-worker issue; until then none is offered. */
export async function detectCapabilities(workDir: string): Promise<Capabilities> {
  const disk = await statfs(workDir);
  return {
    arch: ARCH_NAMES[arch()] ?? arch(),
    cpus: availableParallelism(),
    memoryMiB: Math.floor(totalmem() / 1024 / 1024),
    diskMiB: Math.floor((disk.bavail * disk.bsize) / 1024 / 1024),
    gpus: 0,
  };
}
