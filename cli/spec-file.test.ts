import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSpecFile } from './spec-file';

const dir = mkdtempSync(join(tmpdir(), 'zansoc-spec-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('spec files', () => {
  it('reads YAML and JSON with the defaults filled', () => {
    expect(readSpecFile(file('ok.yaml', 'image: zansoc/busybox:1\ncommand: [echo, hi]\n'))).toMatchObject({ image: 'zansoc/busybox:1', replicas: 1 });
    expect(readSpecFile(file('ok.json', '{"image": "zansoc/busybox:1", "command": ["true"]}')).command).toEqual(['true']);
  });

  it('points at the line and the field of each problem', () => {
    const path = file('bad.yaml', [
      'image: zansoc/busybox:1',
      'command:',
      '  - echo',
      'resources:',
      '  cpu: 1',
      '  memoryMiB: 1',
      'replicas: 9',
      '',
    ].join('\n'));
    expect(() => readSpecFile(path)).toThrow(`${path}:6: resources.memoryMiB: Number must be greater than or equal to 16\n${path}:7: replicas: Number must be less than or equal to 7`);
  });

  it('names a missing field at its parent, and a syntax error at its line', () => {
    const missing = file('missing.yaml', 'image: zansoc/busybox:1\n');
    expect(() => readSpecFile(missing)).toThrow(`${missing}:1: command: Required`);
    const broken = file('broken.yaml', 'image: zansoc/busybox:1\ncommand: [echo\n');
    expect(() => readSpecFile(broken)).toThrow(new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: not valid YAML or JSON`));
  });
});
