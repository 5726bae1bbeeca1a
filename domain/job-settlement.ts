import type { Resources } from './job-spec';
import type { HostCandidate } from './matching';
import { hostBondFor, priceRun } from './money';
import { disputeSlashes, lostSlotSlashes, type Slash } from './settlement';
import type { HostRecordEntry, SlotOutcome } from './reputation';
import { majorityVerdict } from './verification';

/**
 * Who a compute job pays and who it slashes, from how its slots ended: one pure function, so the workflow only asks
 * the chain to do what this decides. Slashes to the treasury name it as `treasury` (the caller's placeholder).
 */

export interface SettledSlot {
  role: 'replica' | 'verifier' | 'arbiter';
  /** The host that holds the slot now (finished it, or runs it), or null. */
  host: Pick<HostCandidate, 'id' | 'address' | 'pricePerCpuSecond' | 'pricePerGibSecond' | 'pricePerGpuSecond'> | null;
  /** The digest it reported, once it finished. */
  digest: string | null;
  /** What its host is paid for when it finished: its run of the job plus its test run. */
  workMs: number;
  /** How long its host has run it so far, while it still runs (a cancel cuts it short). */
  runningMs: number | null;
  /** How long the slot took on the host that finished it, start to result (the host's latency record). */
  ranMs: number | null;
  /** Hosts that vanished while holding it. */
  lost: { id: string; address: string }[];
  /** Hosts a test input caught cheating on it. */
  caught: { id: string; address: string }[];
}

export interface JobSettlementInput {
  slots: SettledSlot[];
  resources: Pick<Resources, 'cpu' | 'memoryMiB' | 'gpu'>;
  maxPrice: string;
  escrow: string;
  /** The replicas' majority digest, or null when they had none. */
  verdictDigest: string | null;
  /** A dispute the arbiters decided (upheld null: they did not agree), naming the arbiters' slots by index. */
  dispute: { upheld: boolean | null; arbiters: number[] } | null;
  /** Who disputed the result: challengers and a disagreeing spot check's verifier, host id → address. */
  accusers: [string, string][];
  /** The client cancelled before a result: finished slots are paid for their run, running ones for their time. */
  cancelledWork: boolean;
  treasury: string;
}

export interface JobSettlementPlan {
  payouts: { host: string; amount: string }[];
  slashes: Slash[];
  /** Per slot, what its host is paid before commission and what it loses. */
  slotPayout: string[];
  slotSlashed: string[];
  /** The slot whose result the job ends with, or null when it has none. */
  outcome: number | null;
}

/** The vote of some slots: one without a digest votes for nothing. */
function majorityOf(slots: SettledSlot[], indices: number[]) {
  const verdict = majorityVerdict(indices.map((i) => ({ hostId: slots[i].host?.id ?? `slot-${i}`, resultDigest: slots[i].digest ?? `none:${i}` })));
  return verdict.kind === 'majority' ? verdict.digest : null;
}

export function planJobSettlement(input: JobSettlementInput): JobSettlementPlan {
  const { slots, resources, maxPrice, treasury } = input;
  const bond = hostBondFor(maxPrice);
  const payouts: JobSettlementPlan['payouts'] = [];
  const slashes: Slash[] = [];
  const slotPayout = slots.map(() => '0');
  const slotSlashed = slots.map(() => '0');
  const indices = slots.map((_, i) => i);
  const price = (i: number, durationMs: number) => priceRun({ ...slots[i].host!, ...resources, durationMs, maxPrice });
  const pay = (i: number, durationMs: number) => {
    slotPayout[i] = price(i, durationMs);
    if (slotPayout[i] !== '0') payouts.push({ host: slots[i].host!.address, amount: slotPayout[i] });
  };
  const slash = (i: number, taken: Slash[]) => {
    slotSlashed[i] = (BigInt(slotSlashed[i]) + taken.reduce((s, t) => s + BigInt(t.amount), 0n)).toString();
    slashes.push(...taken);
  };
  const takeBond = (i: number) => slash(i, [{ host: slots[i].host!.address, recipient: treasury, amount: bond }]);
  let outcome: number | null = null;

  if (input.cancelledWork) {
    for (const i of indices) {
      const slot = slots[i];
      if (slot.digest !== null && slot.host) pay(i, slot.workMs);
      else if (slot.host && slot.runningMs !== null) pay(i, slot.runningMs);
    }
  } else if (input.verdictDigest !== null) {
    const digest = input.verdictDigest;
    const ran = indices.filter((i) => slots[i].role === 'replica' && slots[i].digest !== null);
    const winners = ran.filter((i) => slots[i].digest === digest);
    // A host whose digest lost the vote loses its bond to the treasury.
    for (const i of ran.filter((i) => slots[i].digest !== digest)) takeBond(i);
    const { dispute } = input;
    if (dispute && dispute.upheld !== null) {
      const arbitersRan = dispute.arbiters.filter((i) => slots[i].digest !== null);
      const arbiterDigest = majorityOf(slots, dispute.arbiters) ?? digest;
      // Arbiters in their own minority are cheaters too.
      for (const i of arbitersRan.filter((i) => slots[i].digest !== arbiterDigest)) takeBond(i);
      const honestArbiters = arbitersRan.filter((i) => slots[i].digest === arbiterDigest);
      const arbiterPrices = honestArbiters.map((i) => ({ host: slots[i].host!.address, price: price(i, slots[i].workMs) }));
      honestArbiters.forEach((i, n) => (slotPayout[i] = arbiterPrices[n].price));
      const accusers = new Map(input.accusers);
      // A spot check's verifier whose own digest the arbiters did not confirm is a cheater as well.
      const verifiers = indices.filter((i) => slots[i].role === 'verifier' && slots[i].digest !== null && slots[i].host && accusers.has(slots[i].host!.id));
      const wrongVerifiers = verifiers.filter((i) => slots[i].digest !== arbiterDigest);
      const rightAccusers = [...accusers.entries()]
        .filter(([id]) => !wrongVerifiers.some((i) => slots[i].host!.id === id))
        .map(([, address]) => address);
      if (dispute.upheld) {
        // The provisional winners cheated: their bonds pay the arbiters, the accusers and the treasury; no pay.
        const taken = disputeSlashes({
          losers: winners.map((i) => ({ host: slots[i].host!.address, bond })), arbiters: arbiterPrices, winners: rightAccusers, treasury,
        });
        for (const i of winners) slash(i, taken.filter((t) => t.host === slots[i].host!.address));
        for (const i of wrongVerifiers) takeBond(i);
        outcome = honestArbiters[0] ?? null;
      } else {
        // A frivolous dispute: the accusers' stakes pay the arbiters, the accused hosts and the treasury.
        const taken = disputeSlashes({
          losers: [...accusers.values()].map((address) => ({ host: address, bond })), arbiters: arbiterPrices,
          winners: winners.map((i) => slots[i].host!.address), treasury,
        });
        slashes.push(...taken);
        for (const i of verifiers) slotSlashed[i] = taken.filter((t) => t.host === slots[i].host!.address).reduce((n, t) => n + BigInt(t.amount), 0n).toString();
        for (const i of winners) pay(i, slots[i].workMs);
        outcome = winners[0] ?? null;
      }
    } else {
      for (const i of winners) pay(i, slots[i].workMs);
      outcome = winners[0] ?? null;
      // A spot check that agreed, and arbiters that could not agree, are paid from what the escrow has left; the
      // challengers get their stake back.
      let left = BigInt(input.escrow) - payouts.reduce((sum, p) => sum + BigInt(p.amount), 0n);
      for (const i of indices.filter((i) => slots[i].role !== 'replica' && slots[i].digest !== null && slots[i].host && slotSlashed[i] === '0')) {
        const owed = BigInt(price(i, slots[i].workMs));
        const paid = owed < left ? owed : left;
        left -= paid;
        slotPayout[i] = paid.toString();
        if (paid > 0n) payouts.push({ host: slots[i].host!.address, amount: slotPayout[i] });
      }
    }
  }
  // Hosts that vanished mid-slot lose part of their bond, half of it to whoever finished the slot; hosts caught by a
  // test input lose all of it to the treasury.
  for (const slot of slots) {
    const finisher = slot.digest !== null && slot.host ? slot.host.address : null;
    for (const lost of slot.lost) slashes.push(...lostSlotSlashes({ host: lost.address, bond }, finisher, treasury));
    for (const caught of slot.caught) slashes.push({ host: caught.address, recipient: treasury, amount: bond });
  }
  return { payouts, slashes, slotPayout, slotSlashed, outcome };
}

/** What a settled job did for or to each host it involved: the records the next match reads. */
export function jobReputation(input: JobSettlementInput, plan: JobSettlementPlan): HostRecordEntry[] {
  const sum = (xs: { amount: string }[]) => xs.reduce((total, x) => total + BigInt(x.amount), 0n);
  const entries: HostRecordEntry[] = [];
  const add = (hostId: string, address: string, outcome: SlotOutcome, slotMs: number | null) => entries.push({
    hostId, outcome, slotMs,
    earned: (sum(plan.payouts.filter((p) => p.host === address)) + sum(plan.slashes.filter((x) => x.recipient === address))).toString(),
    slashed: sum(plan.slashes.filter((x) => x.host === address)).toString(),
  });
  input.slots.forEach((slot, i) => {
    for (const lost of slot.lost) add(lost.id, lost.address, 'failed', null);
    for (const caught of slot.caught) add(caught.id, caught.address, 'slashed', null);
    if (!slot.host) return;
    const outcome = plan.slotSlashed[i] !== '0' ? 'slashed'
      : slot.digest !== null && plan.slotPayout[i] !== '0' && !input.cancelledWork ? 'done' : 'neutral';
    add(slot.host.id, slot.host.address, outcome, slot.ranMs);
  });
  for (const [hostId, address] of input.accusers) {
    if (input.slots.some((s) => s.host?.id === hostId)) continue; // a verifier: counted with its slot
    add(hostId, address, sum(plan.slashes.filter((x) => x.host === address)) > 0n ? 'slashed' : 'neutral', null);
  }
  return entries;
}
