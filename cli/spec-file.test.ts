import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readSpecFile, type LocalInput } from './spec-file';

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

  it('hashes local input files (relative to the spec), lists them for upload, and keeps digests as they are', () => {
    file('in.csv', 'a,b\n1,2\n');
    file('test-in.csv', 'a,b\n0,0\n');
    const digest = 'e'.repeat(64);
    const files: LocalInput[] = [];
    const spec = readSpecFile(file('inputs.yaml', [
      'image: zansoc/busybox:1',
      'command: [cat, /in/data/in.csv]',
      'inputs:',
      '  data/in.csv: ./in.csv',
      `  kept.bin: ${digest}`,
      'tests:',
      '  - inputs: { data/in.csv: test-in.csv }',
      `    expectedDigest: ${'f'.repeat(64)}`,
      '',
    ].join('\n')), files);
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(spec.inputs).toEqual({ 'data/in.csv': sha('a,b\n1,2\n'), 'kept.bin': digest });
    expect(spec.tests![0].inputs).toEqual({ 'data/in.csv': sha('a,b\n0,0\n') });
    expect(files).toEqual([
      { file: join(dir, 'in.csv'), sha256: sha('a,b\n1,2\n'), bytes: 8 },
      { file: join(dir, 'test-in.csv'), sha256: sha('a,b\n0,0\n'), bytes: 8 },
    ]);
  });

  it('names the line of an input file it cannot read', () => {
    const path = file('missing-input.yaml', 'image: zansoc/busybox:1\ncommand: [true]\ninputs:\n  x.txt: ./nope.txt\n');
    expect(() => readSpecFile(path)).toThrow(`${path}:4: inputs.x.txt: cannot read the input file ${join(dir, 'nope.txt')}: ENOENT`);
  });
});
