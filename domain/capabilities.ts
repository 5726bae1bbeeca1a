import type { Resources } from './job-spec';

export interface Gpu {
  index: number;
  model: string;
  memoryMiB: number;
}

/** What a machine has. */
export interface MachineCapabilities {
  arch: string;
  cpus: number;
  memoryMiB: number;
  diskMiB: number;
  gpus: Gpu[];
}

/** What its operator shares, at what price (ZSC base units, decimal strings), and how many jobs at once. */
export interface HostOffer {
  arch: string;
  cpus: number;
  memoryMiB: number;
  diskMiB: number;
  gpus: number;
  gpuModel: string | null;
  maxSlots: number;
  pricePerCpuSecond: string;
  pricePerGibSecond: string;
  pricePerGpuSecond: string;
}

/** Why an offer does not cover a job's resources, or null when it does. */
export function uncoveredResource(resources: Resources, offer: Pick<HostOffer, 'cpus' | 'memoryMiB' | 'diskMiB' | 'gpus'>): string | null {
  if (resources.cpu > offer.cpus) return `cpu: wanted ${resources.cpu}, offered ${offer.cpus}`;
  if (resources.memoryMiB > offer.memoryMiB) return `memoryMiB: wanted ${resources.memoryMiB}, offered ${offer.memoryMiB}`;
  if (resources.diskMiB > offer.diskMiB) return `diskMiB: wanted ${resources.diskMiB}, offered ${offer.diskMiB}`;
  if (resources.gpu > offer.gpus) return `gpu: wanted ${resources.gpu}, offered ${offer.gpus}`;
  return null;
}
