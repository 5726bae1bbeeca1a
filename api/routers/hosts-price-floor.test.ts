import { Wallet } from 'ethers';
import { MIN_PRICE_PER_CPU_SECOND } from '../../domain/money';
import { hostRegistrationSchema } from './hosts';

describe('host registration: the price floor', () => {
  const key = Wallet.createRandom();
  const offer = (pricePerCpuSecond: string) => ({
    hostId: 'floor-host', address: key.address, did: `did:ethr:31337:${key.address}`, arch: 'x86_64', cpus: 2, memoryMiB: 1024, diskMiB: 1000,
    gpus: 0, maxSlots: 1, pricePerCpuSecond,
  });

  it('refuses a cpu price below the floor, naming the field and the floor', () => {
    for (const price of ['0', (MIN_PRICE_PER_CPU_SECOND - 1n).toString()]) {
      const parsed = hostRegistrationSchema.safeParse(offer(price));
      expect(parsed.success).toBe(false);
      expect(parsed.error!.issues).toEqual([expect.objectContaining({
        path: ['pricePerCpuSecond'], message: `must be at least the floor of ${MIN_PRICE_PER_CPU_SECOND} base units per cpu-second`,
      })]);
    }
  });

  it('takes a price at or above the floor, and still names a malformed one as such', () => {
    expect(hostRegistrationSchema.parse(offer(MIN_PRICE_PER_CPU_SECOND.toString())).pricePerCpuSecond).toBe(MIN_PRICE_PER_CPU_SECOND.toString());
    const malformed = hostRegistrationSchema.safeParse(offer('1.5'));
    expect(malformed.error!.issues.map((i) => i.message)).toEqual(['must be a whole number of base units written as a decimal string']);
  });
});
