import { disputeSlashes, lostSlotSlashes } from './settlement';

const sum = (xs: { amount: string }[]) => xs.reduce((s, x) => s + BigInt(x.amount), 0n);

describe('lost slot slashes', () => {
  it('takes a quarter of the bond: half of it to the replacement, the rest to the treasury', () => {
    expect(lostSlotSlashes({ host: 'H', bond: '1000' }, 'R', 'T')).toEqual([
      { host: 'H', recipient: 'R', amount: '125' },
      { host: 'H', recipient: 'T', amount: '125' },
    ]);
  });

  it('sends all of it to the treasury when nobody took the slot over', () => {
    expect(lostSlotSlashes({ host: 'H', bond: '1000' }, null, 'T')).toEqual([{ host: 'H', recipient: 'T', amount: '250' }]);
  });
});

describe('dispute slashes', () => {
  it('pays the arbiters first, then half the rest to the winners, the remainder to the treasury, taking whole bonds', () => {
    const slashes = disputeSlashes({
      losers: [{ host: 'L1', bond: '1000' }, { host: 'L2', bond: '1000' }],
      arbiters: [{ host: 'A1', price: '300' }, { host: 'A2', price: '900' }],
      winners: ['W1', 'W2'],
      treasury: 'T',
    });
    expect(slashes).toEqual([
      { host: 'L1', recipient: 'A1', amount: '300' },
      { host: 'L1', recipient: 'A2', amount: '700' },
      { host: 'L2', recipient: 'A2', amount: '200' },
      { host: 'L2', recipient: 'W1', amount: '200' },
      { host: 'L2', recipient: 'W2', amount: '200' },
      { host: 'L2', recipient: 'T', amount: '400' },
    ]);
    expect(sum(slashes)).toBe(2000n);
  });

  it('never takes more than the bonds hold, even when the arbiters cost more', () => {
    const slashes = disputeSlashes({ losers: [{ host: 'L', bond: '100' }], arbiters: [{ host: 'A', price: '500' }], winners: ['W'], treasury: 'T' });
    expect(slashes).toEqual([{ host: 'L', recipient: 'A', amount: '100' }]);
  });
});
