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
  const reasons = hosts.map((h) => `${h.id}: ${whyNot(h, resources, exclude, excludeOperators, image)}`);
  return `waiting for a host that fits (${reasons.join('; ')})`;
}

const whyNot = (h: HostCandidate, resources: Resources, exclude: readonly string[], excludeOperators: readonly string[], image?: string) =>
  exclude.includes(h.id) ? 'already tried'
    : excludeOperators.includes(operatorOf(h)) ? 'its operator already runs a slot of this job' : unfitReason(h, resources, image) ?? 'fits';

/**
 * explainWait, short however many hosts are online: past EXPLAIN_EACH_UP_TO hosts it counts the hosts held back by
 * each reason, the commonest first. What a wait records in its history, so that its size does not grow with the hosts.
 */
export function summariseWait(
  hosts: HostCandidate[], resources: Resources, exclude: readonly string[] = [], excludeOperators: readonly string[] = [], image?: string,
): string {
  const full = explainWait(hosts, resources, exclude, excludeOperators, image);
  if (hosts.length <= EXPLAIN_EACH_UP_TO || !full.startsWith('waiting for a host that fits (')) return full;
  const counts = new Map<string, number>();
  for (const h of hosts) {
    const reason = whyNot(h, resources, exclude, excludeOperators, image);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  const groups = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = groups.slice(0, EXPLAIN_REASONS).map(([reason, n]) => `${n} ${n === 1 ? 'host' : 'hosts'}: ${reason}`);
  const rest = groups.slice(EXPLAIN_REASONS).reduce((sum, [, n]) => sum + n, 0);
  return `waiting for a host that fits among ${hosts.length} online (${shown.join('; ')}${rest ? `; ${rest} more for other reasons` : ''})`;
}

/** Up to this many online hosts, the wait names each one's reason; past it, it counts hosts per reason. */
export const EXPLAIN_EACH_UP_TO = 10;
/** The reasons a long explanation names, the commonest first. */
const EXPLAIN_REASONS = 4;

/** What a wait for a host asks: the work's needs and who may not take it. */
export interface HostQuery {
  resources: Resources;
  exclude: string[];
  excludeOperators: string[];
  image?: string;
  /** Draw by stake with this number in [0, 1) (the workflow's Math.random) instead of taking the cheapest. */
  draw?: number;
  /** Also say why nothing fits, when nothing does. */
  explain?: boolean;
}

/** The host a wait takes, or null with why (when asked); bounded in size whatever the number of hosts. */
export interface HostMatch {
  host: HostCandidate | null;
  waitReason: string | null;
}

/** Matching among the hosts online now: the cheapest that fits, or one drawn by stake; what a wait's history records. */
export function matchAmong(hosts: HostCandidate[], { resources, exclude, excludeOperators, image, draw, explain }: HostQuery): HostMatch {
  const host = draw !== undefined
    ? drawWeighted(eligibleHosts(hosts, resources, exclude, excludeOperators, image), () => draw)
    : rankHosts(hosts, resources, exclude, excludeOperators, image)[0] ?? null;
  return { host, waitReason: host || !explain ? null : summariseWait(hosts, resources, exclude, excludeOperators, image) };
}
