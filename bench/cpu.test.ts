import { execFileSync, spawn } from 'node:child_process';
import { cpuPerUnit, snapshotCpu, type CpuSnapshot } from './cpu';

describe('CPU per unit of work, read from /proc', () => {
  it('counts a busy child under the role it is named for, and the machine\'s busy time at least as much', async () => {
    // A child that spins for about 300 ms of CPU, then exits.
    const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 300; while (Date.now() < end);']);
    const roles = new Map([[child.pid!, 'orchestrator']]);
    const before = snapshotCpu(roles);
    let last = before;
    // Read it just before it exits: a reaped process leaves /proc.
    while (child.exitCode === null) {
      last = snapshotCpu(roles);
      await new Promise((r) => setTimeout(r, 20));
    }
    const spent = last.processes.get(child.pid!)!;
    expect(spent.group).toBe('orchestrator');
    expect(spent.ms).toBeGreaterThanOrEqual(150);
    expect(last.machineMs - before.machineMs).toBeGreaterThanOrEqual(spent.ms - (before.processes.get(child.pid!)?.ms ?? 0) - 20);
  });

  it('divides each group\'s CPU by the units done, folds host workers together, and says what the cores could carry', () => {
    const snap = (ms: Record<number, [string, number]>, machineMs: number, at: number): CpuSnapshot => ({
      processes: new Map(Object.entries(ms).map(([pid, [group, v]]) => [Number(pid), { group, ms: v }])), machineMs, at,
    });
    const before = snap({ 10: ['api', 1000], 11: ['host workers', 0] }, 10_000, 0);
    // 10 units in 1 s: api 400 ms, a host 100 ms, a new host 100 ms, 200 ms nobody accounts for.
    const after = snap({ 10: ['api', 1400], 11: ['host workers', 100], 12: ['host workers', 100] }, 10_800, 1000);
    const { lines, totalMs, ceilingPerSecond } = cpuPerUnit(before, after, 10);
    expect(totalMs).toBe(80);
    expect(lines[0]).toMatch(/^api\s+40 ms$/);
    expect(lines[1]).toMatch(/^host workers\s+20 ms$/);
    expect(lines).toContainEqual(expect.stringMatching(/^gone unaccounted\s+20 ms$/));
    const cores = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
    expect(ceilingPerSecond).toBeCloseTo((cores * 1000) / 80, 5);
  });
});
