import { BPS } from './money';

/**
 * One share of a bond taken at settlement, for a wrong result or a failed slot: from `host`'s bond on the job to
 * `recipient`. The workflow decides it and the chain activities send it, so both use this one type.
 */
export interface Slash {
  host: string;
  /** Who receives it: a challenger, a replacement host or the treasury. */
  recipient: string;
  /** ZSC base units, decimal string; a host's slashes add up to at most its bond. */
  amount: string;
}

/** Of a bond lost by a host that vanished mid-slot (stopped heartbeating), this share is slashed: 25%. */
export const LOST_SLOT_SLASH_BPS = 2500n;
/** Of what a losing side's bonds hold after the arbiters are paid, this share goes to the winning side: 50%. */
export const DISPUTE_WINNER_SHARE_BPS = 5000n;

/**
 * The part of a vanished host's bond that is slashed: half to the host that took the slot over (it did the work the
 * first one dropped), the rest to the treasury; all to the treasury when nobody took it over.
 */
export function lostSlotSlashes(lost: { host: string; bond: string }, replacement: string | null, treasury: string): Slash[] {
  const taken = (BigInt(lost.bond) * LOST_SLOT_SLASH_BPS) / BPS;
  if (taken === 0n) return [];
  const toReplacement = replacement ? taken / 2n : 0n;
  return [
    ...(toReplacement > 0n ? [{ host: lost.host, recipient: replacement!, amount: toReplacement.toString() }] : []),
    { host: lost.host, recipient: treasury, amount: (taken - toReplacement).toString() },
  ].filter((s) => s.amount !== '0');
}

/**
 * How a dispute's losers pay: their whole bonds are taken. The arbiters who re-executed the job are paid their price
 * first (as far as the bonds reach), then `DISPUTE_WINNER_SHARE_BPS` of what is left goes to the winners in equal
 * parts, and the rest to the treasury. Each slash names the loser it comes from, so no bond is overdrawn.
 */
export function disputeSlashes(opts: {
  losers: { host: string; bond: string }[];
  arbiters: { host: string; price: string }[];
  winners: string[];
  treasury: string;
}): Slash[] {
  const pool = opts.losers.map((l) => ({ host: l.host, left: BigInt(l.bond) }));
  const slashes: Slash[] = [];
  /** Takes `amount` from the losers' bonds in order, as slashes to `recipient`; returns what it could take. */
  const take = (recipient: string, amount: bigint): bigint => {
    let wanted = amount;
    for (const bond of pool) {
      if (wanted === 0n) break;
      const part = bond.left < wanted ? bond.left : wanted;
      if (part === 0n) continue;
      bond.left -= part;
      wanted -= part;
      const same = slashes.find((s) => s.host === bond.host && s.recipient === recipient);
      if (same) same.amount = (BigInt(same.amount) + part).toString();
      else slashes.push({ host: bond.host, recipient, amount: part.toString() });
    }
    return amount - wanted;
  };
  for (const arbiter of opts.arbiters) take(arbiter.host, BigInt(arbiter.price));
  const rest = pool.reduce((sum, b) => sum + b.left, 0n);
  if (opts.winners.length > 0) {
    const each = (rest * DISPUTE_WINNER_SHARE_BPS) / BPS / BigInt(opts.winners.length);
    for (const winner of opts.winners) take(winner, each);
  }
  take(opts.treasury, pool.reduce((sum, b) => sum + b.left, 0n));
  return slashes;
}
