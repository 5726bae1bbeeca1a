import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { arch, availableParallelism, totalmem } from 'node:os';
import { promisify } from 'node:util';
import type { Gpu, MachineCapabilities } from '../domain/capabilities';

/** Node's names for architectures, as container images name them. */
const ARCH_NAMES: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l' };

/** What this machine has: arch, cores, memory, free disk where job outputs go, and NVIDIA GPUs if nvidia-smi sees any. */
export async function detectCapabilities(workDir: string, env: NodeJS.ProcessEnv = process.env): Promise<MachineCapabilities> {
  const disk = await statfs(workDir);
  const gpus = await detectNvidiaGpus(env);
  return {
    arch: ARCH_NAMES[arch()] ?? arch(),
    cpus: availableParallelism(),
    memoryMiB: Math.floor(totalmem() / 1024 / 1024),
    diskMiB: Math.floor((disk.bavail * disk.bsize) / 1024 / 1024),
    gpus,
  };
}

/** GPUs as nvidia-smi lists them; none when it is missing or fails (a machine without NVIDIA drivers). */
export async function detectNvidiaGpus(env: NodeJS.ProcessEnv = process.env): Promise<Gpu[]> {
  try {
    const { stdout } = await promisify(execFile)('nvidia-smi', ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], {
      env, timeout: 10_000,
    });
    return parseNvidiaSmi(stdout);
  } catch {
    return [];
  }
}

export function parseNvidiaSmi(csv: string): Gpu[] {
  return csv
    .split('\n')
    .map((line) => line.split(',').map((part) => part.trim()))
    .filter((parts) => parts.length === 3 && /^\d+$/.test(parts[0]))
    .map(([index, model, memory]) => ({ index: Number(index), model, memoryMiB: Number(memory) || 0 }));
}
