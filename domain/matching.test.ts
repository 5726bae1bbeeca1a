import { MIN_PRICE_PER_CPU_SECOND } from './money';
import { drawWeighted, eligibleHosts, EXPLAIN_EACH_UP_TO, explainWait, matchAmong, operatorOf, rankHosts, rankingPrice, summariseWait, type HostCandidate } from './matching';

const host = (id: string, over: Partial<HostCandidate> = {}): HostCandidate => ({
  id, address: `0x${id.padStart(40, '0')}`, arch: 'x86_64', cpus: 2, memoryMiB: 2048, diskMiB: 10_000, gpus: 0, freeSlots: 2,
  pricePerCpuSecond: '100000', pricePerGibSecond: '0', pricePerGpuSecond: '0', ...over,
});
const small = { cpu: 1, memoryMiB: 128, diskMiB: 64, gpu: 0 };

describe('matching', () => {
  it('drops hosts that cannot run the job and ranks the rest cheapest first', () => {
    const ranked = rankHosts(
      [host('a', { pricePerCpuSecond: '300000' }), host('b', { memoryMiB: 64 }), host('c', { pricePerCpuSecond: '200000' }), host('d', { freeSlots: 0 })],
      small,
    );
    expect(ranked.map((h) => h.id)).toEqual(['c', 'a']);
  });

  it('prefers the less loaded host at the same price, and never an excluded one', () => {
    expect(rankHosts([host('a', { freeSlots: 1 }), host('b', { freeSlots: 3 })], small).map((h) => h.id)).toEqual(['b', 'a']);
    expect(rankHosts([host('a'), host('b')], small, ['a']).map((h) => h.id)).toEqual(['b']);
  });

  it('never puts a GPU job on a host without a GPU', () => {
    expect(rankHosts([host('a')], { ...small, gpu: 1 })).toEqual([]);
    expect(rankHosts([host('a', { gpus: 1 })], { ...small, gpu: 1 }).map((h) => h.id)).toEqual(['a']);
  });

  it('ranks by what this job would cost, memory and GPUs included', () => {
    const cheapCpuDearMemory = host('a', { pricePerCpuSecond: '10000', pricePerGibSecond: '1000000' });
    const dearCpuCheapMemory = host('b', { pricePerCpuSecond: '100000', pricePerGibSecond: '0' });
    expect(rankHosts([cheapCpuDearMemory, dearCpuCheapMemory], { ...small, memoryMiB: 2048 })[0].id).toBe('b');
    expect(rankHosts([cheapCpuDearMemory, dearCpuCheapMemory], { ...small, memoryMiB: 16 })[0].id).toBe('a');
  });

  it('compares prices as integers, not strings', () => {
    expect(rankHosts([host('a', { pricePerCpuSecond: '900000' }), host('b', { pricePerCpuSecond: '1000000' })], small)[0].id).toBe('a');
  });

  it('says why a job waits', () => {
    expect(explainWait([], small)).toBe('no host is online');
    expect(explainWait([host('a', { cpus: 0.5 })], small)).toBe('waiting for a host that fits (a: cpu 0.5 < 1)');
  });

  it('says why a job waits in one short line however many hosts are online: hosts counted per reason, the commonest first', () => {
    const few = Array.from({ length: EXPLAIN_EACH_UP_TO }, (_, i) => host(`h${i}`, { freeSlots: 0 }));
    expect(summariseWait(few, small)).toBe(explainWait(few, small));
    const many = [
      ...Array.from({ length: 600 }, (_, i) => host(`busy-${i}`, { freeSlots: 0 })),
      ...Array.from({ length: 300 }, (_, i) => host(`small-${i}`, { cpus: 0.5 })),
      ...Array.from({ length: 97 }, (_, i) => host(`tiny-${i}`, { cpus: 0.25 })),
      host('t1', { memoryMiB: 1 }), host('t2', { diskMiB: 0 }), host('t3', { stake: '0' }),
    ];
    const line = summariseWait(many, small, ['t1']);
    expect(line).toBe('waiting for a host that fits among 1000 online (600 hosts: no free slot; 300 hosts: cpu 0.5 < 1; '
      + '97 hosts: cpu 0.25 < 1; 1 host: already tried; 2 more for other reasons)');
    expect(line.length).toBeLessThan(200);
    expect(summariseWait([], small)).toBe('no host is online');
  });

  it('matches among the hosts as a wait does: the cheapest, or one drawn by stake, and says why only when asked and nothing fits', () => {
    const hosts = [host('a', { pricePerCpuSecond: '90000', stake: '1' }), host('b', { stake: '99' })];
    expect(matchAmong(hosts, { resources: small, exclude: [], excludeOperators: [] })).toEqual({ host: hosts[0], waitReason: null });
    expect(matchAmong(hosts, { resources: small, exclude: [], excludeOperators: [], draw: 0.5 }).host?.id).toBe('b');
    expect(matchAmong(hosts, { resources: small, exclude: ['a', 'b'], excludeOperators: [] })).toEqual({ host: null, waitReason: null });
    expect(matchAmong(hosts, { resources: small, exclude: ['a', 'b'], excludeOperators: [], explain: true }))
      .toEqual({ host: null, waitReason: 'waiting for a host that fits (a: already tried; b: already tried)' });
  });

  it('keeps replicas of one job on distinct operators', () => {
    const op = '0x00000000000000000000000000000000000000f1';
    const hosts = [host('a', { operator: op }), host('b', { operator: op.toUpperCase().replace('0X', '0x') }), host('c')];
    expect(rankHosts(hosts, small, ['a'], [operatorOf(hosts[0])]).map((h) => h.id)).toEqual(['c']);
    expect(explainWait(hosts.slice(0, 2), small, ['a'], [op])).toBe(
      'waiting for a host that fits (a: already tried; b: its operator already runs a slot of this job)');
  });

  it('ranks the host with more stake first among equally cheap ones, before load', () => {
    const hosts = [host('a', { stake: '5', freeSlots: 9 }), host('b', { stake: '50', freeSlots: 1 }), host('c', { pricePerCpuSecond: '90000', stake: '1' })];
    expect(rankHosts(hosts, small).map((h) => h.id)).toEqual(['c', 'b', 'a']);
  });

  it('never matches a host with nothing staked, however cheap, and says why', () => {
    const hosts = [host('free', { pricePerCpuSecond: '1', stake: '0' }), host('staked', { stake: '5' })];
    expect(rankHosts(hosts, small).map((h) => h.id)).toEqual(['staked']);
    expect(explainWait(hosts.slice(0, 1), small)).toBe('waiting for a host that fits (free: no stake on HostRegistry)');
  });

  it('matches only hosts that advertise the job\'s image, and names an image nobody runs', () => {
    const pinned = `zansoc/busybox:1@sha256:${'1'.repeat(64)}`;
    const hosts = [host('a', { images: [pinned] }), host('b', { images: [] }), host('c')];
    expect(rankHosts(hosts, small, [], [], 'zansoc/busybox:1').map((h) => h.id)).toEqual(['a']);
    expect(rankHosts(hosts, small, [], [], `sha256:${'1'.repeat(64)}`).map((h) => h.id)).toEqual(['a']);
    expect(rankHosts(hosts, small, [], [], `zansoc/busybox:1@sha256:${'2'.repeat(64)}`)).toEqual([]);
    expect(explainWait(hosts, small, [], [], 'nosuch/image:1')).toBe(
      'waiting for a host that runs image nosuch/image:1: no online host has it on its allow-list');
    expect(explainWait([host('a', { images: [pinned], freeSlots: 0 }), host('b')], small, [], [], 'zansoc/busybox:1')).toBe(
      'waiting for a host that fits (a: no free slot; b: does not run image zansoc/busybox:1)');
  });

  it('reads a price below the floor as the floor: asking nothing does not rank first', () => {
    const floor = MIN_PRICE_PER_CPU_SECOND.toString();
    const free = host('a', { pricePerCpuSecond: '0', stake: '1' });
    const atFloor = host('b', { pricePerCpuSecond: floor, stake: '9' });
    expect(rankingPrice(free, small)).toBe(rankingPrice(atFloor, small));
    // Equal once floored: the stake decides, not the zero price.
    expect(rankHosts([free, atFloor], small).map((h) => h.id)).toEqual(['b', 'a']);
  });

  it('adds the reputation penalty, so it weighs on a host at the floor too', () => {
    const floor = MIN_PRICE_PER_CPU_SECOND.toString();
    const clean = host('clean', { pricePerCpuSecond: floor });
    const cheat = host('cheat', { pricePerCpuSecond: '0', penaltyBps: 5000 });
    // 1 cpu at the floor: floor × 1024000 per second; the penalty adds half of (price + floor's price).
    const perSecond = MIN_PRICE_PER_CPU_SECOND * 1024n * 1000n;
    expect(rankingPrice(clean, small)).toBe(perSecond);
    expect(rankingPrice(cheat, small)).toBe(perSecond + (2n * perSecond * 5000n) / 10_000n);
    expect(rankHosts([cheat, clean], small).map((h) => h.id)).toEqual(['clean', 'cheat']);
    // A dearer host with a clean record beats a floor-priced one with a bad record.
    const dear = host('dear', { pricePerCpuSecond: (MIN_PRICE_PER_CPU_SECOND * 19n / 10n).toString() });
    expect(rankHosts([cheat, dear], small).map((h) => h.id)).toEqual(['dear', 'cheat']);
  });

  describe('drawWeighted', () => {
    /** A seeded generator (mulberry32), as workflow code's Math.random is seeded. */
    const seeded = (seed: number) => () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };

    it('draws nothing from nobody, and the same host from the same randomness whatever the order', () => {
      expect(drawWeighted([], Math.random)).toBeNull();
      const hosts = [host('a', { stake: '1' }), host('b', { stake: '3' })];
      expect(drawWeighted(hosts, () => 0.5)!.id).toBe(drawWeighted([...hosts].reverse(), () => 0.5)!.id);
      expect(drawWeighted(hosts, () => 0)!.id).toBe('a');
      expect(drawWeighted(hosts, () => 0.2499)!.id).toBe('a');
      expect(drawWeighted(hosts, () => 0.25)!.id).toBe('b');
      expect(drawWeighted(hosts, () => 0.9999999)!.id).toBe('b');
    });

    it('never draws a host without stake beside staked ones, and draws evenly when nobody has stake', () => {
      const random = seeded(7);
      const staked = [host('a', { stake: '0' }), host('b', { stake: '10' })];
      for (let i = 0; i < 200; i++) expect(drawWeighted(staked, random)!.id).toBe('b');
      const counts: Record<string, number> = {};
      const unstaked = [host('a'), host('b')];
      for (let i = 0; i < 2000; i++) {
        const { id } = drawWeighted(unstaked, random)!;
        counts[id] = (counts[id] ?? 0) + 1;
      }
      expect(counts.a / 2000).toBeGreaterThan(0.4);
      expect(counts.b / 2000).toBeGreaterThan(0.4);
    });

    it('lets a zero-price Sybil cluster win spot checks only in proportion to its stake', () => {
      // 5 Sybil hosts at price 0 (matching reads them as the floor) with minimal stake, 3 honest hosts with large stake.
      const minimal = 10n ** 18n;
      const large = 100n * 10n ** 18n;
      const sybils = Array.from({ length: 5 }, (_, i) => host(`sybil-${i}`, { pricePerCpuSecond: '0', stake: minimal.toString(), operator: `0x${'5'.repeat(39)}${i}` }));
      const honest = Array.from({ length: 3 }, (_, i) => host(`honest-${i}`, { pricePerCpuSecond: '5000000', stake: large.toString() }));
      const all = [...sybils, ...honest];
      // Cheapest-first would hand every check to a Sybil.
      expect(rankHosts(all, small)[0].id).toMatch(/^sybil-/);
      const random = seeded(42);
      const draws = 20_000;
      let sybilWins = 0;
      for (let i = 0; i < draws; i++) if (drawWeighted(eligibleHosts(all, small), random)!.id.startsWith('sybil-')) sybilWins++;
      const share = Number(5n * minimal) / Number(5n * minimal + 3n * large); // 5 / 305 ≈ 1.6%
      expect(sybilWins / draws).toBeGreaterThan(share * 0.7);
      expect(sybilWins / draws).toBeLessThan(share * 1.3);
    });

    it('draws only among the eligible: fit, not yet used, distinct operators', () => {
      const op = '0x00000000000000000000000000000000000000f1';
      const hosts = [host('a', { stake: '100', operator: op }), host('b', { stake: '100', cpus: 0.5 }), host('c', { stake: '1' }), host('d', { stake: '100' })];
      const random = seeded(1);
      for (let i = 0; i < 100; i++) expect(drawWeighted(eligibleHosts(hosts, small, ['d'], [op]), random)!.id).toBe('c');
    });
  });
});
