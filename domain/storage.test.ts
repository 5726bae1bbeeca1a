import {
  challengeIndexes,
  cidOf,
  dealDeposit,
  dealPeriods,
  FAULTS_BEFORE_SLASH,
  isRawCid,
  merkleProof,
  merkleRoot,
  nextFaultState,
  PROOF_SEGMENT_BYTES,
  ratePerHostPeriod,
  segmentCount,
  segmentsOf,
  sha256OfCid,
  STORAGE_CHUNK_BYTES,
  storageDealSpecSchema,
  MAX_DEAL_CHUNKS,
  verifyMerkleProof,
} from './storage';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
/** Distinct, deterministic segments for building trees. */
const segmentsFor = (leafCount: number): Uint8Array[] => Array.from({ length: leafCount }, (_, i) => ascii(`segment ${i}`));

describe('content addresses', () => {
  const EMPTY_CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
  const HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e';

  it('computes the same raw CIDv1 as IPFS', () => {
    expect(cidOf(new Uint8Array())).toBe(EMPTY_CID);
    expect(cidOf(ascii('hello world'))).toBe(HELLO_CID);
  });

  it('reads the sha2-256 digest back out of a CID', () => {
    expect(sha256OfCid(EMPTY_CID)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256OfCid(HELLO_CID)).toBe('b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9');
  });

  it('accepts only raw sha2-256 CIDs in canonical base32', () => {
    expect(isRawCid(HELLO_CID)).toBe(true);
    const notCids: unknown[] = [
      '',
      'b',
      HELLO_CID.toUpperCase(),
      HELLO_CID.slice(0, -1),
      `${HELLO_CID}a`,
      // RFC 4648 padding: the same bytes, but not the one spelling cidOf writes
      `${HELLO_CID}=`,
      `${HELLO_CID}====`,
      `z${HELLO_CID.slice(1)}`,
      // dag-pb (0x70) instead of raw
      'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',
      // last character carries a non-zero padding bit
      `${HELLO_CID.slice(0, -1)}f`,
      'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG',
      42,
      undefined,
    ];
    for (const value of notCids) expect(isRawCid(value)).toBe(false);
    expect(() => sha256OfCid('bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi')).toThrow(/not a raw sha2-256 CIDv1/);
  });
});

describe('segments', () => {
  it('cuts data into proof segments, the last one short', () => {
    const data = new Uint8Array(2 * PROOF_SEGMENT_BYTES + 5).map((_, i) => i % 251);
    const segments = segmentsOf(data);
    expect(segments.map((s) => s.length)).toEqual([PROOF_SEGMENT_BYTES, PROOF_SEGMENT_BYTES, 5]);
    expect(Buffer.concat(segments)).toEqual(Buffer.from(data));
    expect(segmentCount(data.length)).toBe(3);
  });

  it('gives empty data one empty segment', () => {
    expect(segmentsOf(new Uint8Array()).map((s) => s.length)).toEqual([0]);
    expect(segmentCount(0)).toBe(1);
    expect(segmentCount(STORAGE_CHUNK_BYTES)).toBe(STORAGE_CHUNK_BYTES / PROOF_SEGMENT_BYTES);
  });
});

describe('Merkle proofs', () => {
  it.each([1, 2, 3, 5, 8, 9])('verify for every segment of a %i-leaf tree', (leafCount) => {
    const segments = segmentsFor(leafCount);
    const root = merkleRoot(segments);
    for (let index = 0; index < leafCount; index++) {
      const proof = merkleProof(segments, index);
      expect(verifyMerkleProof({ root, index, leafCount, segment: segments[index], proof })).toBe(true);
    }
  });

  it('hashes a single segment as a leaf, and promotes an odd node unchanged', () => {
    const [a, b, c] = segmentsFor(3);
    expect(merkleProof([a], 0)).toEqual([]);
    // With three leaves the third is promoted: its only sibling is the hash of the first two.
    expect(merkleProof([a, b, c], 2)).toHaveLength(1);
    expect(merkleProof([a, b, c], 0)).toHaveLength(2);
    expect(merkleRoot([a])).not.toBe(merkleRoot([b]));
  });

  it.each([2, 3, 5, 8, 9])('fails for a tampered answer in a %i-leaf tree', (leafCount) => {
    const segments = segmentsFor(leafCount);
    const root = merkleRoot(segments);
    for (let index = 0; index < leafCount; index++) {
      const segment = segments[index];
      const proof = merkleProof(segments, index);
      const claim = { root, index, leafCount, segment, proof };

      const flipped = Uint8Array.from(segment);
      flipped[0] ^= 0x01;
      expect(verifyMerkleProof({ ...claim, segment: flipped })).toBe(false);
      expect(verifyMerkleProof({ ...claim, index: (index + 1) % leafCount })).toBe(false);
      expect(verifyMerkleProof({ ...claim, proof: proof.slice(0, -1) })).toBe(false);
      expect(verifyMerkleProof({ ...claim, proof: [...proof, proof[0]] })).toBe(false);
      const wrongSibling = proof[0].replace(/^./, (c) => (c === '0' ? '1' : '0'));
      expect(verifyMerkleProof({ ...claim, proof: [wrongSibling, ...proof.slice(1)] })).toBe(false);
    }
  });

  it('returns false rather than throwing on malformed claims', () => {
    const segments = segmentsFor(5);
    const root = merkleRoot(segments);
    const claim = { root, index: 1, leafCount: 5, segment: segments[1], proof: merkleProof(segments, 1) };
    expect(verifyMerkleProof(claim)).toBe(true);
    expect(verifyMerkleProof({ ...claim, leafCount: 4 })).toBe(false);
    expect(verifyMerkleProof({ ...claim, leafCount: 0 })).toBe(false);
    expect(verifyMerkleProof({ ...claim, index: -1 })).toBe(false);
    expect(verifyMerkleProof({ ...claim, index: 5 })).toBe(false);
    expect(verifyMerkleProof({ ...claim, index: 1.5 })).toBe(false);
    expect(verifyMerkleProof({ ...claim, root: 'not hex' })).toBe(false);
    expect(verifyMerkleProof({ ...claim, root: root.slice(2) })).toBe(false);
    expect(verifyMerkleProof({ ...claim, proof: ['zz'] })).toBe(false);
    expect(verifyMerkleProof({ ...claim, proof: 'oops' as unknown as string[] })).toBe(false);
    expect(verifyMerkleProof({ ...claim, segment: 'oops' as unknown as Uint8Array })).toBe(false);
    expect(verifyMerkleProof({ ...claim, segment: new Uint8Array(PROOF_SEGMENT_BYTES + 1) })).toBe(false);
    expect(verifyMerkleProof({ ...claim, root: root.toUpperCase() })).toBe(true);
  });

  it('refuses to build a proof for a segment that does not exist', () => {
    expect(() => merkleProof(segmentsFor(3), 3)).toThrow(RangeError);
    expect(() => merkleRoot([])).toThrow(/at least one segment/);
  });
});

describe('challengeIndexes', () => {
  const seed = 'a1'.repeat(32);

  it('is deterministic in the seed', () => {
    expect(challengeIndexes(seed, 256, 4)).toEqual(challengeIndexes(seed, 256, 4));
    expect(challengeIndexes(`0x${seed}`, 256, 4)).toEqual(challengeIndexes(seed, 256, 4));
    expect(challengeIndexes(seed, 256, 4)).not.toEqual(challengeIndexes('b2'.repeat(32), 256, 4));
  });

  it('picks distinct, sorted indexes in range', () => {
    for (const [leafCount, count] of [[256, 4], [10, 9], [2, 1], [1000, 500]]) {
      for (let s = 0; s < 20; s++) {
        const indexes = challengeIndexes(s.toString(16).padStart(2, '0'), leafCount, count);
        expect(indexes).toHaveLength(count);
        expect(new Set(indexes).size).toBe(count);
        expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
        for (const i of indexes) expect(Number.isInteger(i) && i >= 0 && i < leafCount).toBe(true);
      }
    }
  });

  it('reaches every index over many seeds', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 200; s++) for (const i of challengeIndexes(s.toString(16).padStart(4, '0'), 16, 2)) seen.add(i);
    expect(seen.size).toBe(16);
  });

  it('asks for every segment when the count covers them all', () => {
    expect(challengeIndexes(seed, 3, 3)).toEqual([0, 1, 2]);
    expect(challengeIndexes(seed, 3, 10)).toEqual([0, 1, 2]);
    expect(challengeIndexes(seed, 3, 0)).toEqual([]);
  });

  it('rejects a bad seed or counts', () => {
    expect(() => challengeIndexes('', 8, 2)).toThrow(/hex/);
    expect(() => challengeIndexes('abc', 8, 2)).toThrow(/hex/);
    expect(() => challengeIndexes('zz', 8, 2)).toThrow(/hex/);
    expect(() => challengeIndexes(seed, 0, 2)).toThrow(RangeError);
    expect(() => challengeIndexes(seed, 8, -1)).toThrow(RangeError);
  });
});

describe('deal payment', () => {
  const ONE_TOKEN = 10n ** 18n;

  it('counts periods, a partial last one as whole', () => {
    expect(dealPeriods(30 * 86_400, 3600)).toBe(720);
    expect(dealPeriods(3601, 3600)).toBe(2);
    expect(dealPeriods(60, 3600)).toBe(1);
    expect(() => dealPeriods(0, 3600)).toThrow(RangeError);
    expect(() => dealPeriods(3600, -1)).toThrow(RangeError);
  });

  it('prices 1 GiB × 3 replicas for 30 days at 1 ZSC per GiB-month, rounding each period up', () => {
    // 1e18 × 2^30 × 3600 ÷ (2^30 × 2_592_000) = 1e18 ÷ 720 = 1_388_888_888_888_888.8… → rounds up.
    const rate = ratePerHostPeriod({ sizeBytes: 1024 ** 3, pricePerGibMonth: ONE_TOKEN, periodSeconds: 3600 });
    expect(rate).toBe(1_388_888_888_888_889n);
    const periods = dealPeriods(30 * 86_400, 3600);
    // Three tokens for three GiB-months, plus 720 periods × 3 replicas × the 1/9 base unit each rate rounded up.
    expect(dealDeposit({ ratePerHostPeriod: rate, replicas: 3, periods })).toBe(3n * ONE_TOKEN + 240n);
  });

  it('charges at least one base unit for any stored byte at a non-zero price, and nothing at price zero', () => {
    expect(ratePerHostPeriod({ sizeBytes: 1, pricePerGibMonth: 1n, periodSeconds: 10 })).toBe(1n);
    expect(ratePerHostPeriod({ sizeBytes: 1, pricePerGibMonth: 0n, periodSeconds: 10 })).toBe(0n);
    expect(() => ratePerHostPeriod({ sizeBytes: 0, pricePerGibMonth: 1n, periodSeconds: 10 })).toThrow(RangeError);
    expect(() => ratePerHostPeriod({ sizeBytes: 1, pricePerGibMonth: -1n, periodSeconds: 10 })).toThrow(RangeError);
  });

  it('stays exact beyond 2^53', () => {
    const rate = ratePerHostPeriod({ sizeBytes: 64 * 1024 ** 3, pricePerGibMonth: 10n ** 30n, periodSeconds: 2_592_000 });
    expect(rate).toBe(64n * 10n ** 30n);
    expect(dealDeposit({ ratePerHostPeriod: rate, replicas: 7, periods: 60 })).toBe(64n * 7n * 60n * 10n ** 30n);
  });
});

describe('storageDealSpecSchema', () => {
  const chunk = (bytes: number, text: string) => ({ cid: cidOf(ascii(text)), bytes });
  const validSpec = {
    name: 'backups',
    sizeBytes: STORAGE_CHUNK_BYTES + 100,
    chunks: [chunk(STORAGE_CHUNK_BYTES, 'first'), chunk(100, 'second')],
    durationSeconds: 30 * 86_400,
    pricePerGibMonth: '1000000000000000000',
  };

  it('accepts a valid spec and fills in the defaults', () => {
    const spec = storageDealSpecSchema.parse(validSpec);
    expect(spec.replicas).toBe(3);
    expect(spec.proofPeriodSeconds).toBe(3600);
    expect(spec.chunks).toHaveLength(2);
  });

  it('rejects chunk sizes that do not add up to sizeBytes, on chunks', () => {
    const result = storageDealSpecSchema.safeParse({ ...validSpec, sizeBytes: STORAGE_CHUNK_BYTES + 101 });
    expect(result.success).toBe(false);
    if (!result.success) {
      expect(result.error.issues).toHaveLength(1);
      expect(result.error.issues[0].path).toEqual(['chunks']);
    }
  });

  it('keeps a deal to MAX_DEAL_CHUNKS chunks, so its chunk list and roots fit in Temporal payloads', () => {
    const chunks = Array.from({ length: MAX_DEAL_CHUNKS + 1 }, (_, i) => chunk(1, `c${i}`));
    const result = storageDealSpecSchema.safeParse({ ...validSpec, sizeBytes: chunks.length, chunks });
    expect(result.success).toBe(false);
    if (!result.success) expect(result.error.issues.map((i) => i.path)).toContainEqual(['chunks']);
    const fits = chunks.slice(0, MAX_DEAL_CHUNKS);
    const parsed = storageDealSpecSchema.parse({ ...validSpec, sizeBytes: fits.length, chunks: fits });
    // What the workflow takes as input: comfortably under Temporal's 2 MB payload limit.
    expect(JSON.stringify(parsed).length).toBeLessThan(256 * 1024);
  });

  it('rejects a deal shorter than one proof period', () => {
    const result = storageDealSpecSchema.safeParse({ ...validSpec, durationSeconds: 600, proofPeriodSeconds: 3600 });
    expect(result.success).toBe(false);
    if (!result.success) expect(result.error.issues.map((i) => i.path)).toEqual([['durationSeconds']]);
  });

  it('rejects bad fields', () => {
    const bad: Record<string, unknown>[] = [
      { chunks: [{ cid: 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', bytes: STORAGE_CHUNK_BYTES }, chunk(100, 'second')] },
      { chunks: [chunk(STORAGE_CHUNK_BYTES + 100, 'too big')] },
      { chunks: [] },
      { replicas: 8 },
      { replicas: 0 },
      { durationSeconds: 59 },
      { durationSeconds: 5 * 365 * 86_400 + 1 },
      { proofPeriodSeconds: 9 },
      { pricePerGibMonth: '1.5' },
      { pricePerGibMonth: 1 },
      { name: 'x'.repeat(129) },
      { sizeBytes: 64 * 1024 ** 3 + 1 },
      { surprise: true },
    ];
    for (const change of bad) expect(storageDealSpecSchema.safeParse({ ...validSpec, ...change }).success).toBe(false);
  });
});

describe('nextFaultState', () => {
  it('slashes and repairs after FAULTS_BEFORE_SLASH faults in a row, and a good proof clears the count', () => {
    expect(FAULTS_BEFORE_SLASH).toBe(2);
    expect(nextFaultState(0, false)).toEqual({ consecutiveFaults: 1, slashAndRepair: false });
    expect(nextFaultState(1, false)).toEqual({ consecutiveFaults: 2, slashAndRepair: true });
    expect(nextFaultState(1, true)).toEqual({ consecutiveFaults: 0, slashAndRepair: false });
    expect(nextFaultState(0, true)).toEqual({ consecutiveFaults: 0, slashAndRepair: false });
    expect(() => nextFaultState(-1, true)).toThrow(RangeError);
  });
});
