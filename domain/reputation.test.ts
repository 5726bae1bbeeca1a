import { rankHosts, type HostCandidate } from './matching';
import { reputationPenaltyBps, summarise } from './reputation';

const host = (id: string, price: string, penaltyBps?: number): HostCandidate => ({
  id, address: id, arch: 'x86_64', cpus: 4, memoryMiB: 4096, diskMiB: 10_000, gpus: 0, freeSlots: 1,
  pricePerCpuSecond: price, pricePerGibSecond: '0', pricePerGpuSecond: '0', penaltyBps,
});
const resources = { cpu: 1, memoryMiB: 64, diskMiB: 1, gpu: 0 };

describe('reputation', () => {
  it('starts new hosts at no penalty and weighs slashes double', () => {
    expect(reputationPenaltyBps({ jobsDone: 0, jobsFailed: 0, timesSlashed: 0 })).toBe(0);
    expect(reputationPenaltyBps({ jobsDone: 8, jobsFailed: 0, timesSlashed: 0 })).toBe(0);
    expect(reputationPenaltyBps({ jobsDone: 1, jobsFailed: 1, timesSlashed: 0 })).toBe(2500);
    expect(reputationPenaltyBps({ jobsDone: 1, jobsFailed: 0, timesSlashed: 1 })).toBe(5000);
    expect(reputationPenaltyBps({ jobsDone: 1, jobsFailed: 0, timesSlashed: 1 }, 0)).toBe(0);
  });

  it('ranks a cheaper host with a bad record behind a dearer one with a clean record', () => {
    const ranked = rankHosts([host('cheat', '100000', 15_000), host('clean', '200000', 0), host('new', '240000')], resources);
    expect(ranked.map((h) => h.id)).toEqual(['clean', 'new', 'cheat']);
  });

  it('sums records into reputation and earnings', () => {
    expect(summarise([
      { outcome: 'done', earned: '10', slashed: '0', slotMs: 100 },
      { outcome: 'done', earned: '5', slashed: '0', slotMs: 300 },
      { outcome: 'slashed', earned: '0', slashed: '7', slotMs: null },
      { outcome: 'failed', earned: '0', slashed: '2', slotMs: null },
      { outcome: 'neutral', earned: '1', slashed: '0', slotMs: null },
    ])).toEqual({ jobsDone: 2, jobsFailed: 1, timesSlashed: 1, earned: '16', slashed: '9', meanSlotMs: 200 });
  });
});
