import { advertisesImage } from './images';
import type { Resources } from './job-spec';
import { BPS, type ResourcePrices } from './money';

/** A host as the scheduler sees it: what it has, what is free now, what it asks. */
export interface HostCandidate extends ResourcePrices {
  id: string;
  address: string;
  arch: string;
  cpus: number;
  memoryMiB: number;
  diskMiB: number;
  gpus: number;
  freeSlots: number;
  /** How much worse the host's track record makes its price look, in basis points (reputationPenaltyBps); 0 if absent. */
  penaltyBps?: number;
  /** Who runs the host (an address); hosts of one operator never hold two replicas of a job. Defaults to the host's address. */
  operator?: string | null;
  /** ZSC base units the host has staked: among hosts as cheap as each other, more stake ranks first. */
  stake?: string;
  /** The images it runs, as `name@sha256:<digest>` (its allow-list); absent only in runs recorded before hosts said. */
  images?: string[];
}

/** The operator a host counts for: its declared operator, or itself. */
export const operatorOf = (host: Pick<HostCandidate, 'address' | 'operator'>): string => (host.operator ?? host.address).toLowerCase();

/** Why a host cannot take a job, or null when it can; with `image`, a host that does not advertise it cannot. */
export function unfitReason(host: HostCandidate, resources: Resources, image?: string): string | null {
  if (image !== undefined && !advertisesImage(host.images ?? [], image)) return `does not run image ${image}`;
  if (host.cpus < resources.cpu) return `cpu ${host.cpus} < ${resources.cpu}`;
  if (host.memoryMiB < resources.memoryMiB) return `memoryMiB ${host.memoryMiB} < ${resources.memoryMiB}`;
  if (host.diskMiB < resources.diskMiB) return `diskMiB ${host.diskMiB} < ${resources.diskMiB}`;
  if (host.gpus < resources.gpu) return `gpu ${host.gpus} < ${resources.gpu}`;
  if (host.freeSlots < 1) return 'no free slot';
  // A host with nothing staked has nothing to bond: matching it would only wait for a consent that cannot come.
  if (host.stake !== undefined && BigInt(host.stake) === 0n) return 'no stake on HostRegistry';
  return null;
}

/**
 * What one second of this job costs on a host, in its prices, made worse by its track record: the figure hosts are
 * ranked by.
 */
function pricePerSecond(host: HostCandidate, resources: Resources): bigint {
  const price = BigInt(host.pricePerCpuSecond) * BigInt(Math.round(resources.cpu * 1000)) * 1024n +
    BigInt(host.pricePerGibSecond) * BigInt(resources.memoryMiB) * 1000n +
    BigInt(host.pricePerGpuSecond) * BigInt(resources.gpu) * 1024n * 1000n;
  return (price * (BPS + BigInt(Math.max(0, Math.round(host.penaltyBps ?? 0))))) / BPS;
}

/**
 * Filter then score, as the Kubernetes scheduler does: hosts that cannot run the job are dropped, the rest are
 * ordered cheapest for this job first (price weighted by reputation), then by most stake, then by most free slots
 * (spreads load), then by id so equal hosts rank the same every time.
 */
export function rankHosts(
  hosts: HostCandidate[], resources: Resources, exclude: readonly string[] = [], excludeOperators: readonly string[] = [], image?: string,
): HostCandidate[] {
  return hosts
    .filter((h) => !exclude.includes(h.id) && !excludeOperators.includes(operatorOf(h)) && unfitReason(h, resources, image) === null)
    .sort((a, b) => {
      const price = pricePerSecond(a, resources) - pricePerSecond(b, resources);
      if (price !== 0n) return price < 0n ? -1 : 1;
      const stake = BigInt(b.stake ?? '0') - BigInt(a.stake ?? '0');
      if (stake !== 0n) return stake > 0n ? 1 : -1;
      return b.freeSlots - a.freeSlots || a.id.localeCompare(b.id);
    });
}

/** One line for the client on why its job is still waiting; an image no online host runs is named first. */
export function explainWait(
  hosts: HostCandidate[], resources: Resources, exclude: readonly string[] = [], excludeOperators: readonly string[] = [], image?: string,
): string {
  if (hosts.length === 0) return 'no host is online';
  if (image !== undefined && !hosts.some((h) => advertisesImage(h.images ?? [], image))) {
    return `waiting for a host that runs image ${image}: no online host has it on its allow-list`;
  }
  const reasons = hosts.map((h) => `${h.id}: ${exclude.includes(h.id) ? 'already tried'
    : excludeOperators.includes(operatorOf(h)) ? 'its operator already runs a slot of this job' : unfitReason(h, resources, image)}`);
  return `waiting for a host that fits (${reasons.join('; ')})`;
}
