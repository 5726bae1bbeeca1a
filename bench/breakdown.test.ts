import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { describeBreakdown, stepsOf } from './breakdown';

/** A recorded history of a sealed job accepted (one host), as `temporal workflow show -o json` would print it. */
const history = historyFromJSON(JSON.parse(readFileSync(join(__dirname, '../test/histories/compute-job-sealed-accepted.json'), 'utf8')));

describe('a job\'s time, step by step, from its history', () => {
  it('reads each step\'s schedule, queue and run from the events\' timestamps', () => {
    const { steps, totalMs } = stepsOf(history);
    // Events 2–4: the first workflow task, scheduled 0.1 ms after the start, picked up 41.3 ms later, ran 298.0 ms.
    expect(steps[0].name).toBe('workflow task');
    expect(steps[0].atMs).toBeCloseTo(0.1, 0);
    expect(steps[0].queuedMs).toBeCloseTo(41.3, 0);
    expect(steps[0].ranMs).toBeCloseTo(298.0, 0);
    // Events 12–14: recordJob scheduled at 340.8 ms, picked up 29.3 ms later, answered 140.6 ms after that.
    const record = steps.find((s) => s.name === 'recordJob')!;
    expect([record.atMs, record.queuedMs, record.ranMs].map(Math.round)).toEqual([341, 29, 141]);
    expect(steps.map((s) => s.name).filter((n) => n !== 'workflow task' && n !== 'recordJob').slice(0, 4))
      .toEqual(['lockEscrow', 'listOnlineHosts', 'consentToBond', 'bondHostStake']);
    expect(steps.every((s) => s.queuedMs >= 0 && s.ranMs >= 0 && s.atMs + s.queuedMs + s.ranMs <= totalMs)).toBe(true);
  });

  it('prints a row per kind of step and what no step covers, adding up to the whole run', () => {
    const lines = describeBreakdown(history);
    expect(lines[0]).toBe('the workflow ran 1,341 ms from its start to its close');
    expect(lines[1]).toMatch(/^step\s+count\s+queued\s+ran\s+share$/);
    expect(lines.find((l) => l.startsWith('lockEscrow'))).toMatch(/^lockEscrow\s+1\s/);
    expect(lines[lines.length - 1]).toMatch(/^\(between steps\)\s+[\d,]+ ms\s+\d+%$/);
  });
});
