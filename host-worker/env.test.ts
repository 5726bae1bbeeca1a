import type { MachineCapabilities } from '../domain/capabilities';
import { buildOffer, readHostEnv } from './env';

const machine: MachineCapabilities = {
  arch: 'x86_64', cpus: 8, memoryMiB: 16_384, diskMiB: 100_000, gpus: [{ index: 0, model: 'NVIDIA T4', memoryMiB: 15_360 }],
};

describe('host offer', () => {
  it('shares the whole machine by default', () => {
    expect(buildOffer(readHostEnv({}), machine)).toEqual({
      arch: 'x86_64', cpus: 8, memoryMiB: 16_384, diskMiB: 90_000, gpus: 1, gpuModel: 'NVIDIA T4', maxSlots: 8,
      pricePerCpuSecond: '1000000000000', pricePerGibSecond: '100000000000', pricePerGpuSecond: '50000000000000',
    });
  });

  it('shares what the operator chose', () => {
    const offer = buildOffer(readHostEnv({ SHARE_CPUS: '2.5', SHARE_GPUS: '0', MAX_SLOTS: '3', PRICE_PER_CPU_SECOND: '7' }), machine);
    expect(offer).toMatchObject({ cpus: 2.5, gpus: 0, gpuModel: null, maxSlots: 3, pricePerCpuSecond: '7' });
  });

  it('refuses sharing more than the machine has, or a bad value, naming the variable', () => {
    expect(() => buildOffer(readHostEnv({ SHARE_GPUS: '2' }), machine)).toThrow('SHARE_GPUS: 2 is more than this machine has (1)');
    expect(() => buildOffer(readHostEnv({ SHARE_MEMORY_MIB: '999999' }), machine)).toThrow(/^SHARE_MEMORY_MIB: /);
    expect(() => readHostEnv({ PRICE_PER_CPU_SECOND: '1.5' })).toThrow(/PRICE_PER_CPU_SECOND: must be a whole number/);
    expect(() => readHostEnv({ HOST_ID: 'Bad Id' })).toThrow(/HOST_ID: must be lowercase/);
  });

  it('never lets a production host cheat', () => {
    expect(() => readHostEnv({ ZANSOC_TEST_CHEAT: 'corrupt-digest' })).toThrow(/ZANSOC_TEST_CHEAT: is a test fixture and only works with NODE_ENV=test/);
    expect(() => readHostEnv({ ZANSOC_TEST_CHEAT: 'corrupt-digest', NODE_ENV: 'production' })).toThrow(/ZANSOC_TEST_CHEAT/);
    expect(() => readHostEnv({ ZANSOC_TEST_CHEAT: 'yes', NODE_ENV: 'test' })).toThrow(/ZANSOC_TEST_CHEAT/);
    expect(readHostEnv({ ZANSOC_TEST_CHEAT: 'corrupt-digest', NODE_ENV: 'test' }).ZANSOC_TEST_CHEAT).toBe('corrupt-digest');
  });
});

describe('host image allow-list', () => {
  it('reads a comma-separated list of names and pinned images, and names the bad entry', () => {
    const pinned = `zansoc/tool@sha256:${'a'.repeat(64)}`;
    expect(readHostEnv({ ALLOWED_IMAGES: ` zansoc/busybox:1, ${pinned} ` }).ALLOWED_IMAGES).toEqual(['zansoc/busybox:1', pinned]);
    expect(readHostEnv({}).ALLOWED_IMAGES).toBeUndefined();
    expect(() => readHostEnv({ ALLOWED_IMAGES: 'Bad Image' })).toThrow(/ALLOWED_IMAGES\.0: each entry must be an image name/);
    expect(() => readHostEnv({ ALLOWED_IMAGES: 'zansoc/x@sha256:123' })).toThrow(/ALLOWED_IMAGES\.0: /);
    expect(() => readHostEnv({ ALLOWED_IMAGES: ' , ' })).toThrow(/ALLOWED_IMAGES: must name at least one image/);
  });

  it('puts slot folders on disks of their own unless told off', () => {
    expect(readHostEnv({}).SLOT_DISK_QUOTA).toBe('loop');
    expect(readHostEnv({ SLOT_DISK_QUOTA: 'off' }).SLOT_DISK_QUOTA).toBe('off');
    expect(() => readHostEnv({ SLOT_DISK_QUOTA: 'maybe' })).toThrow(/SLOT_DISK_QUOTA: /);
  });
});
