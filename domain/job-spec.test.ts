import { describeIssues, escrowFor, inputBlobsOf, jobSpecSchema } from './job-spec';

const good = { image: 'zansoc/busybox:1', command: ['echo', 'hi'] };

function refusal(spec: unknown): string {
  const parsed = jobSpecSchema.safeParse(spec);
  if (parsed.success) throw new Error('expected the spec to be refused');
  return describeIssues(parsed.error);
}

describe('job spec', () => {
  it('accepts a minimal spec and fills the defaults', () => {
    expect(jobSpecSchema.parse(good)).toEqual({
      image: 'zansoc/busybox:1', command: ['echo', 'hi'], env: {},
      resources: { cpu: 1, memoryMiB: 256, diskMiB: 64, gpu: 0 }, timeoutSeconds: 300, replicas: 1, maxPrice: '1000000000000000000',
      queueTimeoutSeconds: 600, challengeWindowSeconds: 0, inputs: {}, tests: [],
    });
  });

  it('takes input files by staging digest, and tests with the digest they must give', () => {
    const blob = 'b'.repeat(64);
    const spec = jobSpecSchema.parse({ ...good, inputs: { 'data/in.csv': blob }, tests: [{ inputs: { 'data/in.csv': 'c'.repeat(64) }, expectedDigest: 'd'.repeat(64) }] });
    expect(spec.inputs).toEqual({ 'data/in.csv': blob });
    expect(inputBlobsOf(spec)).toEqual([blob, 'c'.repeat(64)]);
  });

  it('escrows the price cap of every replica the job may grow to', () => {
    expect(escrowFor({ maxPrice: '10', replicas: 1 })).toBe('10');
    expect(escrowFor({ maxPrice: '10', replicas: 3 })).toBe('50');
  });

  it('accepts the largest price per slot JobEscrow takes (uint88), at any number of replicas', () => {
    const limit = 2n ** 88n - 1n;
    expect(jobSpecSchema.parse({ ...good, maxPrice: limit.toString() }).maxPrice).toBe(limit.toString());
    expect(jobSpecSchema.parse({ ...good, replicas: 7, maxPrice: limit.toString() }).maxPrice).toBe(limit.toString());
    // The escrow of the most slots a job may grow to still fits JobEscrow's 96 bits.
    expect(BigInt(escrowFor({ maxPrice: limit.toString(), replicas: 7 }))).toBeLessThan(2n ** 96n);
    expect(jobSpecSchema.parse({ ...good, maxPrice: '1' }).maxPrice).toBe('1');
  });

  it('accepts images pinned by digest', () => {
    const digest = 'a'.repeat(64);
    expect(jobSpecSchema.parse({ ...good, image: `sha256:${digest}` }).image).toBe(`sha256:${digest}`);
    expect(jobSpecSchema.parse({ ...good, image: `registry.example/app@sha256:${digest}` }).image).toContain('@sha256:');
  });

  it.each([
    [{ ...good, image: 'Not An Image!' }, /^image: must be an image name/],
    [{ ...good, image: '' }, /^image: /],
    [{ ...good, command: [] }, /^command: Array must contain at least 1/],
    [{ ...good, command: 'echo hi' }, /^command: Expected array, received string/],
    [{ ...good, env: { 'BAD-NAME': 'x' } }, /^env\.BAD-NAME: must be a shell-style variable name/],
    [{ ...good, resources: { memoryMiB: 1 } }, /^resources\.memoryMiB: Number must be greater than or equal to 16/],
    [{ ...good, resources: { cpu: 0 } }, /^resources\.cpu: /],
    [{ ...good, resources: { gpu: 1.5 } }, /^resources\.gpu: Expected integer/],
    [{ ...good, resources: { ram: 5 } }, /^resources: Unrecognized key\(s\) in object: 'ram'/],
    [{ ...good, timeoutSeconds: 0 }, /^timeoutSeconds: /],
    [{ ...good, timeoutSeconds: 100_000 }, /^timeoutSeconds: /],
    [{ ...good, maxPrice: '1.5' }, /^maxPrice: must be a whole number/],
    [{ ...good, maxPrice: 100 }, /^maxPrice: Expected string, received number/],
    [{ ...good, maxPrice: '0' }, /^maxPrice: must be more than 0/],
    [{ ...good, maxPrice: (2n ** 88n).toString() }, /^maxPrice: 309485009821345068724781056 base units is more than JobEscrow takes as a price per slot/],
    [{ ...good, replicas: 3, maxPrice: (2n ** 96n).toString() }, /^maxPrice: 79228162514264337593543950336 base units is more than JobEscrow takes as a price per slot/],
    [{ ...good, shards: 2 }, /^\(root\): Unrecognized key\(s\) in object: 'shards'/],
    [{ ...good, replicas: 0 }, /^replicas: Number must be greater than or equal to 1/],
    [{ ...good, replicas: 8 }, /^replicas: Number must be less than or equal to 7/],
    [{ command: ['x'] }, /^image: Required/],
    [{ ...good, inputs: { '../etc/passwd': 'a'.repeat(64) } }, /^inputs\.\.\.\/etc\/passwd: must be a relative path/],
    [{ ...good, inputs: { '.hidden': 'a'.repeat(64) } }, /^inputs\.\.hidden: must be a relative path/],
    [{ ...good, inputs: { 'in.txt': 'not-a-digest' } }, /^inputs\.in\.txt: must be a sha256 hex digest/],
    [{ ...good, inputs: { a: 'a'.repeat(64), 'a/b': 'b'.repeat(64) } }, /^inputs: an input path cannot also be a folder/],
    [{ ...good, tests: [{ inputs: {} }] }, /^tests\.0\.expectedDigest: Required/],
    [{ ...good, tests: Array(5).fill({ expectedDigest: 'a'.repeat(64) }) }, /^tests: Array must contain at most 4/],
  ])('refuses %j naming the field', (spec, message) => {
    expect(refusal(spec)).toMatch(message);
  });
});
