import { jobReputation, planJobSettlement, type JobSettlementInput, type SettledSlot } from './job-settlement';

const host = (n: number, price = '1000') => ({
  id: `h${n}`, address: `0x${String(n).padStart(40, '0')}`, pricePerCpuSecond: price, pricePerGibSecond: '0', pricePerGpuSecond: '0',
});
const slot = (n: number, digest: string | null, extra: Partial<SettledSlot> = {}): SettledSlot => ({
  role: 'replica', host: host(n), digest, workMs: 2000, runningMs: null, ranMs: 2000, lost: [], caught: [], ...extra,
});
const MAX = '1000000';
const base = (slots: SettledSlot[], extra: Partial<JobSettlementInput> = {}): JobSettlementInput => ({
  slots, resources: { cpu: 1, memoryMiB: 64, gpu: 0 }, maxPrice: MAX, escrow: String(3 * Number(MAX)), verdictDigest: 'a',
  dispute: null, accusers: [], cancelledWork: false, treasury: 'treasury', ...extra,
});

describe('planJobSettlement', () => {
  it('pays the majority for its work and takes the minority\'s bond for the treasury', () => {
    const plan = planJobSettlement(base([slot(1, 'a'), slot(2, 'f'), slot(3, 'a')]));
    expect(plan.payouts).toEqual([{ host: host(1).address, amount: '2000' }, { host: host(3).address, amount: '2000' }]);
    expect(plan.slashes).toEqual([{ host: host(2).address, recipient: 'treasury', amount: MAX }]);
    expect(plan.slotSlashed).toEqual(['0', MAX, '0']);
    expect(plan.outcome).toBe(0);
  });

  it('pays nothing and has no outcome when the replicas had no majority', () => {
    const plan = planJobSettlement(base([slot(1, 'a'), slot(2, 'b')], { verdictDigest: null }));
    expect(plan).toMatchObject({ payouts: [], slashes: [], outcome: null });
  });

  it('pays a cancelled job\'s finished slots for their run and running ones for the time they ran', () => {
    const plan = planJobSettlement(base([slot(1, 'a'), slot(2, null, { runningMs: 500 }), slot(3, null, { host: null })], { cancelledWork: true }));
    expect(plan.payouts).toEqual([{ host: host(1).address, amount: '2000' }, { host: host(2).address, amount: '500' }]);
    expect(plan.outcome).toBeNull();
  });

  it('slashes a vanished host in part, half of it to the host that finished its slot, and a host caught by a test in full', () => {
    const lost = { id: 'h8', address: host(8).address };
    const caught = { id: 'h9', address: host(9).address };
    const plan = planJobSettlement(base([slot(1, 'a', { lost: [lost], caught: [caught] })]));
    const from = (who: string) => plan.slashes.filter((s) => s.host === who);
    expect(from(lost.address).map((s) => s.recipient)).toEqual([host(1).address, 'treasury']);
    expect(from(lost.address).reduce((n, s) => n + BigInt(s.amount), 0n)).toBe(BigInt(MAX) / 4n);
    expect(from(caught.address)).toEqual([{ host: caught.address, recipient: 'treasury', amount: MAX }]);
  });

  it('pays a spot check that agreed from what the escrow has left, never past it', () => {
    const plan = planJobSettlement(base([slot(1, 'a'), slot(2, 'a', { role: 'verifier', workMs: 10_000_000 })], { escrow: '3000' }));
    expect(plan.payouts).toEqual([{ host: host(1).address, amount: '2000' }, { host: host(2).address, amount: '1000' }]);
  });

  it('upholds a dispute: the cheats\' bonds pay the arbiters, then the accuser, then the treasury; the cheats get nothing', () => {
    const slots = [slot(1, 'f'), slot(2, 'a', { role: 'arbiter' }), slot(3, 'a', { role: 'arbiter', host: host(3, '2000') })];
    const plan = planJobSettlement(base(slots, { verdictDigest: 'f', dispute: { upheld: true, arbiters: [1, 2] }, accusers: [['v9', '0xv9']] }));
    expect(plan.payouts).toEqual([]);
    expect(plan.slashes.every((s) => s.host === host(1).address)).toBe(true);
    expect(plan.slashes.map((s) => s.recipient)).toEqual([host(2).address, host(3).address, '0xv9', 'treasury']);
    expect(plan.slashes.reduce((n, s) => n + BigInt(s.amount), 0n)).toBe(BigInt(MAX));
    expect(plan.slotPayout).toEqual(['0', '2000', '4000']);
    expect(plan.outcome).toBe(1);
    const marks = Object.fromEntries(jobReputation(base(slots, { accusers: [['v9', '0xv9']] }), plan).map((e) => [e.hostId, e]));
    expect(marks.h1).toMatchObject({ outcome: 'slashed', slashed: MAX, earned: '0' });
    expect(marks.h2).toMatchObject({ outcome: 'done', earned: '2000' });
    expect(marks.v9.outcome).toBe('neutral');
  });

  it('rejects a frivolous dispute: the accuser\'s stake pays the arbiters and the accused host, who is paid too', () => {
    const slots = [slot(1, 'a'), slot(2, 'a', { role: 'arbiter' }), slot(3, 'a', { role: 'arbiter' })];
    const plan = planJobSettlement(base(slots, { dispute: { upheld: false, arbiters: [1, 2] }, accusers: [['v9', '0xv9']] }));
    expect(plan.payouts).toEqual([{ host: host(1).address, amount: '2000' }]);
    expect(plan.slashes.every((s) => s.host === '0xv9')).toBe(true);
    expect(plan.slashes.map((s) => s.recipient)).toEqual([host(2).address, host(3).address, host(1).address, 'treasury']);
    expect(plan.outcome).toBe(0);
  });
});
