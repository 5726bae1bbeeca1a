import { runDurationMs } from './sandbox';

describe('run duration', () => {
  it('uses the engine clock, and never bills a run that finished "before" it started as free', () => {
    expect(runDurationMs({ StartedAt: '2026-11-29T06:54:35.741417488Z', FinishedAt: '2026-11-29T06:54:37.743914317Z' })).toBe(2002);
    // Real stamps of a `true` container on Docker 20.10.
    expect(runDurationMs({ StartedAt: '2026-11-29T06:54:36.50543381Z', FinishedAt: '2026-11-29T06:54:36.504871536Z' })).toBe(1);
    expect(runDurationMs({ StartedAt: '2026-11-29T06:54:36.765695897Z', FinishedAt: '2026-11-29T06:54:36.765845513Z' })).toBe(1);
  });
});
