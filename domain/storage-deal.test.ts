import type { ProveReplicaResult, ReplicaChunk } from './replica';
import { cidOf, MAX_DEAL_SECONDS, merkleProof, merkleRoot, segmentCount, segmentsOf } from './storage';
import {
  cancelReasonOf, chunksWithWrongRoots, dealOutcome, drawChallenges, firstDepositDeadlineSeconds, firstTerm, healthiestFirst, PLACEMENT_TIMEOUT_MS,
  proofHolds, RECLAIM_SLACK_S, renewalDeadlineSeconds, renewalDurationError, renewalTerm, termOfPeriod, type DealTerm,
} from './storage-deal';

const data = [Buffer.alloc(5_000, 1), Buffer.alloc(3_000, 2), Buffer.alloc(1_500, 3)];
const chunks: ReplicaChunk[] = data.map((d) => ({ cid: cidOf(d), bytes: d.length }));
const roots = Object.fromEntries(data.map((d, i) => [chunks[i].cid, merkleRoot(segmentsOf(d))]));
/** A random source that replays the same draws, as the workflow's Math.random does. */
const seeded = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};

describe('deal terms', () => {
  const terms: DealTerm[] = [firstTerm('d1', 3, '300'), { chainKey: 'd1/term-2', firstPeriod: 3, periods: 2, deposit: '200', ended: false }];

  it('finds the term a period is paid from, the last one past every term', () => {
    expect([0, 2, 3, 4, 9].map((p) => termOfPeriod(terms, p).chainKey)).toEqual(['d1', 'd1', 'd1/term-2', 'd1/term-2', 'd1/term-2']);
  });

  it('puts a renewal right after the last term, under its own key, with every replica paid for every period', () => {
    expect(renewalTerm({ dealId: 'd1', terms, durationSeconds: 25, periodSeconds: 10, ratePerHostPeriod: 7n, replicas: 2 })).toEqual({
      chainKey: 'd1/term-3', firstPeriod: 5, periods: 3, deposit: '42', ended: false,
    });
  });

  it('refuses a renewal shorter than a period, longer than a deal may last, or not in whole seconds, naming the range', () => {
    expect(renewalDurationError(10, 10)).toBeNull();
    expect(renewalDurationError(MAX_DEAL_SECONDS, 10)).toBeNull();
    for (const bad of [9, MAX_DEAL_SECONDS + 1, 10.5, Number.NaN]) {
      expect(renewalDurationError(bad, 10)).toBe(`must be a whole number of seconds from 10 (one period) to ${MAX_DEAL_SECONDS}`);
    }
  });

  it('lets the client reclaim only after the placement, the whole term and the slack', () => {
    expect(firstDepositDeadlineSeconds(1_000_999, 3_600)).toBe(1_000 + 3_600 + PLACEMENT_TIMEOUT_MS / 1000 + RECLAIM_SLACK_S);
    expect(renewalDeadlineSeconds(2_000_500)).toBe(2_000 + RECLAIM_SLACK_S);
  });
});

describe('deal decisions', () => {
  it('takes the client reason trimmed and at most 500 characters, or says the client cancelled', () => {
    expect(cancelReasonOf('  moving out  ')).toBe('moving out');
    expect(cancelReasonOf('x'.repeat(600))).toHaveLength(500);
    expect(cancelReasonOf('   ')).toBe('cancelled by the client');
    expect(cancelReasonOf(undefined)).toBe('cancelled by the client');
  });

  it('tries the holders with the fewest faults in a row first, then the fewest failed proofs, without reordering its input', () => {
    const holders = [
      { hostId: 'a', consecutiveFaults: 1, proofsFailed: 1 }, { hostId: 'b', consecutiveFaults: 0, proofsFailed: 3 }, { hostId: 'c', consecutiveFaults: 0, proofsFailed: 1 },
    ];
    expect(healthiestFirst(holders).map((h) => h.hostId)).toEqual(['c', 'b', 'a']);
    expect(holders.map((h) => h.hostId)).toEqual(['a', 'b', 'c']);
  });

  it('names the chunks whose committed root is not the expected one, a missing root included', () => {
    const committed = { ...roots, [chunks[1].cid]: 'ab'.repeat(32) };
    delete committed[chunks[2].cid];
    expect(chunksWithWrongRoots(chunks, committed, roots)).toEqual([chunks[1], chunks[2]]);
    expect(chunksWithWrongRoots(chunks, roots, roots)).toEqual([]);
  });

  it('ends a deposited deal CANCELLED when the client asked, FAILED when it could not be placed, ENDED otherwise', () => {
    expect(dealOutcome({ cancelReason: 'bye', state: 'FAILED', reason: 'only 1 of 2', periodsReleased: 0 })).toEqual({ state: 'CANCELLED', reason: 'bye' });
    expect(dealOutcome({ cancelReason: null, state: 'FAILED', reason: 'only 1 of 2', periodsReleased: 0 })).toEqual({ state: 'FAILED', reason: 'only 1 of 2' });
    expect(dealOutcome({ cancelReason: null, state: 'ACTIVE', reason: null, periodsReleased: 4 })).toEqual({ state: 'ENDED', reason: 'term over after 4 period(s)' });
  });
});

describe('proof challenges', () => {
  const draw = (seedHex: string, random = seeded(7)) => drawChallenges({ seedHex, chunks, chunkCount: 2, segmentsPerChunk: 2, random });
  /** An honest holder's answer: the challenged segments of the data and their Merkle paths. */
  const answerTo = (challenges: ReturnType<typeof draw>): ProveReplicaResult => ({
    missing: [],
    proofs: challenges.map(({ cid, indexes }) => {
      const segments = segmentsOf(data[chunks.findIndex((c) => c.cid === cid)]);
      return { cid, segments: indexes.map((index) => ({ index, data: Buffer.from(segments[index]).toString('hex'), proof: merkleProof(segments, index) })) };
    }),
  });

  it('challenges distinct chunks, distinct segments of each, the same again from the same seed and draws', () => {
    const challenges = draw('00ff');
    expect(challenges).toHaveLength(2);
    expect(new Set(challenges.map((c) => c.cid)).size).toBe(2);
    for (const { cid, indexes } of challenges) {
      const leafCount = segmentCount(chunks.find((c) => c.cid === cid)!.bytes);
      expect(new Set(indexes).size).toBe(Math.min(2, leafCount));
      for (const index of indexes) expect(index).toBeLessThan(leafCount);
    }
    expect(draw('00ff')).toEqual(challenges);
  });

  it('holds for an honest answer and fails for a missing chunk, segment or proof, a wrong or non-hex segment', () => {
    const challenges = draw('1234');
    const check = (answer: ProveReplicaResult) => proofHolds({ challenges, answer, chunks, roots });
    expect(check(answerTo(challenges))).toBe(true);

    expect(check({ ...answerTo(challenges), missing: [challenges[0].cid] })).toBe(false);
    expect(check({ ...answerTo(challenges), proofs: answerTo(challenges).proofs.slice(1) })).toBe(false);
    const tampered = (change: (segment: ProveReplicaResult['proofs'][number]['segments'][number]) => void) => {
      const answer = answerTo(challenges);
      change(answer.proofs[0].segments[0]);
      return check(answer);
    };
    expect(tampered((s) => (s.index = -1))).toBe(false);
    expect(tampered((s) => (s.data = `${s.data.slice(0, -2)}${s.data.endsWith('00') ? '01' : '00'}`))).toBe(false);
    expect(tampered((s) => (s.data = `zz${s.data.slice(2)}`))).toBe(false);
    expect(tampered((s) => (s.proof = s.proof.slice(1)))).toBe(false);
  });

  it('fails an honest answer checked against another replica\'s roots', () => {
    const challenges = draw('abcd');
    const otherRoots = Object.fromEntries(chunks.map((c, i) => [c.cid, merkleRoot(segmentsOf(Buffer.alloc(data[i].length, 9)))]));
    expect(proofHolds({ challenges, answer: answerTo(challenges), chunks, roots: otherRoots })).toBe(false);
  });
});
