import { advertisesImage } from './images';
import type { Resources } from './job-spec';
import { BPS, flooredPrices, MIN_PRICE_PER_CPU_SECOND, type ResourcePrices } from './money';

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
  /** How much the host's track record adds to its price, in basis points (reputationPenaltyBps); 0 if absent. */
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

/** What one second of this job costs at these prices, in base units × 1000 × 1024 (fractional cpus stay exact). */
function costPerSecond(prices: ResourcePrices, resources: Resources): bigint {
  return BigInt(prices.pricePerCpuSecond) * BigInt(Math.round(resources.cpu * 1000)) * 1024n +
    BigInt(prices.pricePerGibSecond) * BigInt(resources.memoryMiB) * 1000n +
    BigInt(prices.pricePerGpuSecond) * BigInt(resources.gpu) * 1024n * 1000n;
}

const FLOOR_PRICES: ResourcePrices = { pricePerCpuSecond: MIN_PRICE_PER_CPU_SECOND.toString(), pricePerGibSecond: '0', pricePerGpuSecond: '0' };

/**
 * What one second of this job costs on a host, the figure hosts are ranked by: its prices, none below the floor, plus
 * what its track record adds. The penalty adds its basis points of the price and of the floor's price, so a bad record
 * weighs on a dear host and on one at the floor alike: asking the least never buys back a bad record.
 */
export function rankingPrice(host: HostCandidate, resources: Resources): bigint {
  const price = costPerSecond(flooredPrices(host), resources);
  const penalty = BigInt(Math.max(0, Math.round(host.penaltyBps ?? 0)));
  return price + ((price + costPerSecond(FLOOR_PRICES, resources)) * penalty) / BPS;
}

/** The hosts that may take a slot: they fit the job, were not used by it, and their operator holds none of its slots. */
export function eligibleHosts(
  hosts: HostCandidate[], resources: Resources, exclude: readonly string[] = [], excludeOperators: readonly string[] = [], image?: string,
): HostCandidate[] {
  return hosts.filter((h) => !exclude.includes(h.id) && !excludeOperators.includes(operatorOf(h)) && unfitReason(h, resources, image) === null);
}

/**
 * Filter then score, as the Kubernetes scheduler does: hosts that cannot run the job are dropped, the rest are
 * ordered cheapest for this job first (floored price plus reputation), then by most stake, then by most free slots
 * (spreads load), then by id so equal hosts rank the same every time.
 */
export function rankHosts(
  hosts: HostCandidate[], resources: Resources, exclude: readonly string[] = [], excludeOperators: readonly string[] = [], image?: string,
): HostCandidate[] {
  return eligibleHosts(hosts, resources, exclude, excludeOperators, image)
    .sort((a, b) => {
      const price = rankingPrice(a, resources) - rankingPrice(b, resources);
      if (price !== 0n) return price < 0n ? -1 : 1;
      const stake = BigInt(b.stake ?? '0') - BigInt(a.stake ?? '0');
      if (stake !== 0n) return stake > 0n ? 1 : -1;
      return b.freeSlots - a.freeSlots || a.id.localeCompare(b.id);
    });
}

const DRAW_SCALE = 2n ** 52n;

/**
 * Draws one host at random, each with a chance in proportion to its stake: how verifiers and arbiters are picked, so
 * that a cluster of cheap hosts wins a spot check or a dispute only as often as its stake says, however low it prices.
 * `random` gives numbers in [0, 1) (Math.random in workflow code: seeded, the same on replay). When none of the hosts
 * has stake, each is as likely as the other. Null when there is no host.
 */
export function drawWeighted<T extends Pick<HostCandidate, 'id' | 'stake'>>(hosts: readonly T[], random: () => number): T | null {
  if (hosts.length === 0) return null;
  // A stable order, so the same draw picks the same host however the list came.
  const sorted = [...hosts].sort((a, b) => a.id.localeCompare(b.id));
  const weights = sorted.map((h) => BigInt(h.stake ?? '0'));
  const total = weights.reduce((sum, w) => sum + w, 0n);
  const r = BigInt(Math.floor(random() * Number(DRAW_SCALE)));
  if (total === 0n) return sorted[Number((r * BigInt(sorted.length)) / DRAW_SCALE)];
  let point = (r * total) / DRAW_SCALE;
  for (let i = 0; i < sorted.length; i++) {
    if (point < weights[i]) return sorted[i];
    point -= weights[i];
  }
  return sorted[sorted.length - 1];
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
