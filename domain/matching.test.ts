import { explainWait, operatorOf, rankHosts, type HostCandidate } from './matching';

const host = (id: string, over: Partial<HostCandidate> = {}): HostCandidate => ({
  id, address: `0x${id.padStart(40, '0')}`, arch: 'x86_64', cpus: 2, memoryMiB: 2048, diskMiB: 10_000, gpus: 0, freeSlots: 2,
  pricePerCpuSecond: '100', pricePerGibSecond: '0', pricePerGpuSecond: '0', ...over,
});
const small = { cpu: 1, memoryMiB: 128, diskMiB: 64, gpu: 0 };

describe('matching', () => {
  it('drops hosts that cannot run the job and ranks the rest cheapest first', () => {
    const ranked = rankHosts(
      [host('a', { pricePerCpuSecond: '300' }), host('b', { memoryMiB: 64 }), host('c', { pricePerCpuSecond: '200' }), host('d', { freeSlots: 0 })],
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
    const cheapCpuDearMemory = host('a', { pricePerCpuSecond: '10', pricePerGibSecond: '1000' });
    const dearCpuCheapMemory = host('b', { pricePerCpuSecond: '100', pricePerGibSecond: '0' });
    expect(rankHosts([cheapCpuDearMemory, dearCpuCheapMemory], { ...small, memoryMiB: 2048 })[0].id).toBe('b');
    expect(rankHosts([cheapCpuDearMemory, dearCpuCheapMemory], { ...small, memoryMiB: 16 })[0].id).toBe('a');
  });

  it('compares prices as integers, not strings', () => {
    expect(rankHosts([host('a', { pricePerCpuSecond: '900' }), host('b', { pricePerCpuSecond: '1000' })], small)[0].id).toBe('a');
  });

  it('says why a job waits', () => {
    expect(explainWait([], small)).toBe('no host is online');
    expect(explainWait([host('a', { cpus: 0.5 })], small)).toBe('waiting for a host that fits (a: cpu 0.5 < 1)');
  });

  it('keeps replicas of one job on distinct operators', () => {
    const op = '0x00000000000000000000000000000000000000f1';
    const hosts = [host('a', { operator: op }), host('b', { operator: op.toUpperCase().replace('0X', '0x') }), host('c')];
    expect(rankHosts(hosts, small, ['a'], [operatorOf(hosts[0])]).map((h) => h.id)).toEqual(['c']);
    expect(explainWait(hosts.slice(0, 2), small, ['a'], [op])).toBe(
      'waiting for a host that fits (a: already tried; b: its operator already runs a slot of this job)');
  });

  it('ranks the host with more stake first among equally cheap ones, before load', () => {
    const hosts = [host('a', { stake: '5', freeSlots: 9 }), host('b', { stake: '50', freeSlots: 1 }), host('c', { pricePerCpuSecond: '90', stake: '1' })];
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
});
