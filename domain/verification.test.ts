import { majorityVerdict } from './verification';

const r = (hostId: string, resultDigest: string) => ({ hostId, resultDigest });

describe('majority vote', () => {
  it('lets a strict majority win and names the minority', () => {
    expect(majorityVerdict([r('a', 'x'), r('b', 'y'), r('c', 'x')])).toEqual({ kind: 'majority', digest: 'x', agreeing: ['a', 'c'], dissenting: ['b'] });
    expect(majorityVerdict([r('a', 'x')])).toEqual({ kind: 'majority', digest: 'x', agreeing: ['a'], dissenting: [] });
  });

  it('decides nothing without a strict majority', () => {
    expect(majorityVerdict([r('a', 'x'), r('b', 'y')])).toEqual({ kind: 'no-majority', counts: { x: 1, y: 1 } });
    expect(majorityVerdict([r('a', 'x'), r('b', 'y'), r('c', 'z')]).kind).toBe('no-majority');
    expect(majorityVerdict([r('a', 'x'), r('b', 'x'), r('c', 'y'), r('d', 'y')]).kind).toBe('no-majority');
    expect(majorityVerdict([]).kind).toBe('no-majority');
  });
});
