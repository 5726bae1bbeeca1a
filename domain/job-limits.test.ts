import { ESCROW_DEADLINE_SLACK_SECONDS, jobEscrowDeadlineSeconds, worstCaseJobSeconds } from './job-limits';
import { jobSpecSchema } from './job-spec';

const spec = (fields: Record<string, unknown> = {}) => jobSpecSchema.parse({ image: 'zansoc/busybox:1', command: ['true'], ...fields });

describe('the escrow deadline', () => {
  it('covers the longest challenge window and the arbitration after it (a 7-day window once outlived the deadline)', () => {
    const windowed = spec({ challengeWindowSeconds: 7 * 86_400, timeoutSeconds: 60, queueTimeoutSeconds: 60 });
    const now = Date.UTC(2026, 11, 1);
    const deadline = jobEscrowDeadlineSeconds(windowed, now);
    // The old deadline: now + timeout + queue timeout + a day, well inside the window.
    expect(deadline).toBeGreaterThan(now / 1000 + 7 * 86_400 + ESCROW_DEADLINE_SLACK_SECONDS);
    // Window, then two arbiters side by side and a third after them, each after up to 3 hosts waited the queue out.
    const slot = 3 * (60 + 2 * (20 + 60 + 120));
    expect(worstCaseJobSeconds(windowed)).toBe(7 * 86_400 + slot * (1 + 1 + 2));
  });

  it('grows with every slot that can run one after another: extra replicas, test runs', () => {
    const single = worstCaseJobSeconds(spec());
    const replicated = worstCaseJobSeconds(spec({ replicas: 3 }));
    const tested = worstCaseJobSeconds(spec({ tests: [{ inputs: {}, expectedDigest: 'e'.repeat(64) }] }));
    // Three replicas add two extra ones in turn, but no spot check.
    expect(replicated).toBeGreaterThan(single);
    expect(tested).toBeGreaterThan(single);
  });

  it('fits a uint64 on chain for the largest spec the API takes', () => {
    const largest = spec({ replicas: 7, timeoutSeconds: 86_400, queueTimeoutSeconds: 86_400, challengeWindowSeconds: 7 * 86_400, tests: [{ inputs: {}, expectedDigest: 'e'.repeat(64) }] });
    const deadline = jobEscrowDeadlineSeconds(largest, Date.now());
    expect(Number.isSafeInteger(deadline)).toBe(true);
    expect(deadline - Date.now() / 1000).toBeLessThan(400 * 86_400);
  });
});
