import { RESTART_POLICY, restartDelayMs } from './devnet';

describe('restartDelayMs', () => {
  const policy = { firstDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 60_000 };

  it('waits the first delay, then doubles it while the role keeps dying, up to the cap', () => {
    const delays: number[] = [];
    let previous: number | null = null;
    for (let i = 0; i < 8; i++) delays.push((previous = restartDelayMs(policy, previous, 2_000)));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('starts over from the first delay once the role stayed up long enough', () => {
    expect(restartDelayMs(policy, 16_000, 59_999)).toBe(30_000);
    expect(restartDelayMs(policy, 16_000, 60_000)).toBe(1000);
  });

  it('defaults to 1 s doubling to 30 s, reset after a minute up', () => {
    expect(RESTART_POLICY).toEqual(policy);
  });
});
