import { priceRun, splitCommission, tokenAmount } from './money';

describe('money', () => {
  const cpuOnly = { pricePerGibSecond: '0', pricePerGpuSecond: '0', memoryMiB: 256, gpu: 0 };

  it('prices a run per cpu-second, rounding up, capped at the max price', () => {
    expect(priceRun({ ...cpuOnly, pricePerCpuSecond: '1000', cpu: 1, durationMs: 1000, maxPrice: '10000' })).toBe('1000');
    expect(priceRun({ ...cpuOnly, pricePerCpuSecond: '1000', cpu: 0.5, durationMs: 1500, maxPrice: '10000' })).toBe('750');
    expect(priceRun({ ...cpuOnly, pricePerCpuSecond: '1', cpu: 1, durationMs: 1, maxPrice: '10' })).toBe('1');
    expect(priceRun({ ...cpuOnly, pricePerCpuSecond: '1000', cpu: 4, durationMs: 60_000, maxPrice: '5000' })).toBe('5000');
  });

  it('adds memory per GiB-second and GPUs per GPU-second', () => {
    const prices = { pricePerCpuSecond: '1000', pricePerGibSecond: '100', pricePerGpuSecond: '50000' };
    // 2 s × (1 cpu × 1000 + 0.5 GiB × 100 + 1 gpu × 50000)
    expect(priceRun({ ...prices, cpu: 1, memoryMiB: 512, gpu: 1, durationMs: 2000, maxPrice: '1000000' })).toBe('102100');
  });

  it('keeps amounts beyond 2^53 exact', () => {
    const price = (10n ** 24n).toString();
    expect(priceRun({ ...cpuOnly, pricePerCpuSecond: price, cpu: 1, durationMs: 3000, maxPrice: (10n ** 30n).toString() })).toBe((3n * 10n ** 24n).toString());
  });

  it('splits commission so the parts add up to the whole', () => {
    expect(splitCommission('1000')).toEqual({ host: '900', commission: '100' });
    const { host, commission } = splitCommission('999', 1000n);
    expect(BigInt(host) + BigInt(commission)).toBe(999n);
  });

  it('accepts only whole decimal strings', () => {
    expect(tokenAmount.safeParse('0').success).toBe(true);
    expect(tokenAmount.safeParse('0123').success).toBe(false);
    expect(tokenAmount.safeParse('-1').success).toBe(false);
    expect(tokenAmount.safeParse((2n ** 256n).toString()).success).toBe(false);
  });
});
