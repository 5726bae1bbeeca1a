import { z } from 'zod';

/** A token amount in base units as a decimal string: how money crosses the wire, the DB and Temporal payloads. */
const WHOLE_NUMBER = /^(0|[1-9][0-9]{0,77})$/;
export const tokenAmount = z
  .string()
  .regex(WHOLE_NUMBER, 'must be a whole number of base units written as a decimal string')
  // zod runs refinements after a failed regex too: check the shape again before BigInt can throw.
  .refine((s) => !WHOLE_NUMBER.test(s) || BigInt(s) < 2n ** 256n, 'must fit in 256 bits');

export const COMMISSION_BPS_DEFAULT = 1000n;
export const BPS = 10_000n;

/** A host's prices in ZSC base units per second of each resource, as decimal strings. */
export interface ResourcePrices {
  pricePerCpuSecond: string;
  pricePerGibSecond: string;
  pricePerGpuSecond: string;
}

/**
 * The least a host may ask per cpu-second, in ZSC base units: registration below it is refused, and matching reads a
 * lower price as this one. Without a floor a host asking nothing ranks first whatever its record, and a cluster of
 * free hosts wins every match.
 */
export const MIN_PRICE_PER_CPU_SECOND = 1000n;

/** Prices as matching reads them: never below the floor. */
export function flooredPrices(prices: ResourcePrices): ResourcePrices {
  const cpu = BigInt(prices.pricePerCpuSecond);
  return { ...prices, pricePerCpuSecond: (cpu < MIN_PRICE_PER_CPU_SECOND ? MIN_PRICE_PER_CPU_SECOND : cpu).toString() };
}

/**
 * What a host earns for a run: (cpus × cpu price + GiB of memory × memory price + GPUs × GPU price) × seconds,
 * rounded up to a base unit, never above the job's cap. Computed in millionths so fractional cpus stay exact.
 */
export function priceRun(opts: ResourcePrices & { cpu: number; memoryMiB: number; gpu: number; durationMs: number; maxPrice: string }): string {
  const milliCpu = BigInt(Math.round(opts.cpu * 1000));
  const ms = BigInt(Math.max(0, Math.ceil(opts.durationMs)));
  const perMs =
    BigInt(opts.pricePerCpuSecond) * milliCpu * 1024n +
    BigInt(opts.pricePerGibSecond) * BigInt(opts.memoryMiB) * 1000n +
    BigInt(opts.pricePerGpuSecond) * BigInt(opts.gpu) * 1000n * 1024n;
  // perMs is in (base units per second) × 1000 × 1024; × ms ÷ 1000 ms/s.
  const scale = 1000n * 1024n * 1000n;
  const cost = (perMs * ms + scale - 1n) / scale;
  const cap = BigInt(opts.maxPrice);
  return (cost < cap ? cost : cap).toString();
}

/** The stake a host bonds to a job it runs: as much as it could earn, so cheating never pays. */
export function hostBondFor(maxPrice: string): string {
  return BigInt(maxPrice).toString();
}

/** Splits a gross payout into the host's share and the treasury's commission; the two always add up to the gross. */
export function splitCommission(gross: string, commissionBps: bigint = COMMISSION_BPS_DEFAULT): { host: string; commission: string } {
  const total = BigInt(gross);
  const commission = (total * commissionBps) / BPS;
  return { host: (total - commission).toString(), commission: commission.toString() };
}
