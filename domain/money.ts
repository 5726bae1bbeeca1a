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

/** What a host earns for a run: its price per cpu-second × cpus × seconds (rounded up), never above the job's cap. */
export function priceRun(opts: { pricePerCpuSecond: string; cpu: number; durationMs: number; maxPrice: string }): string {
  const milliCpu = BigInt(Math.round(opts.cpu * 1000));
  const ms = BigInt(Math.max(0, Math.ceil(opts.durationMs)));
  const cost = (BigInt(opts.pricePerCpuSecond) * milliCpu * ms + 999_999n) / 1_000_000n;
  const cap = BigInt(opts.maxPrice);
  return (cost < cap ? cost : cap).toString();
}

/** Splits a gross payout into the host's share and the treasury's commission; the two always add up to the gross. */
export function splitCommission(gross: string, commissionBps: bigint = COMMISSION_BPS_DEFAULT): { host: string; commission: string } {
  const total = BigInt(gross);
  const commission = (total * commissionBps) / BPS;
  return { host: (total - commission).toString(), commission: commission.toString() };
}
