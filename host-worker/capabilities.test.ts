import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCapabilities, parseNvidiaSmi } from './capabilities';

describe('capability detection', () => {
  it('reads GPUs from nvidia-smi CSV', () => {
    expect(parseNvidiaSmi('0, NVIDIA A100-SXM4-40GB, 40960\n1, NVIDIA A100-SXM4-40GB, 40960\n')).toEqual([
      { index: 0, model: 'NVIDIA A100-SXM4-40GB', memoryMiB: 40960 },
      { index: 1, model: 'NVIDIA A100-SXM4-40GB', memoryMiB: 40960 },
    ]);
    expect(parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.')).toEqual([]);
  });

  it('detects this machine, with GPUs only when nvidia-smi lists them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zansoc-caps-'));
    try {
      const plain = await detectCapabilities(dir, { PATH: '/nonexistent' });
      expect(plain.cpus).toBeGreaterThan(0);
      expect(plain.memoryMiB).toBeGreaterThan(0);
      expect(plain.diskMiB).toBeGreaterThan(0);
      expect(plain.gpus).toEqual([]);

      // A stand-in nvidia-smi on PATH, as a machine with a driver has.
      writeFileSync(join(dir, 'nvidia-smi'), '#!/bin/sh\necho "0, NVIDIA T4, 15360"\n');
      chmodSync(join(dir, 'nvidia-smi'), 0o755);
      const withGpu = await detectCapabilities(dir, { PATH: dir });
      expect(withGpu.gpus).toEqual([{ index: 0, model: 'NVIDIA T4', memoryMiB: 15360 }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
