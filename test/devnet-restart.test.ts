import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { POLLER_MAX_AGE_MS } from '../api/readiness';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/execution';
import { SAMPLE_JOB, startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { printRolesOnFailure, tearDownDevnet, untilLine, untilReadiness } from './support/devnet';

/**
 * The devnet as a supervisor: a role killed from outside (kill -9 from a shell) is restarted, and /readyz says not
 * ready while no orchestrator worker polls; a role stopped on purpose stays stopped.
 */
const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

describe('a role that dies', () => {
  let dir: string;
  let devnet: Devnet;
  const lines: string[] = [];
  // The first restart waits past the age at which readiness counts a poller gone, so /readyz can be seen saying 503.
  const firstDelayMs = POLLER_MAX_AGE_MS + 25_000;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-restart-'));
    devnet = await startDevnet({ dir, hosts: 1, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line), restart: { firstDelayMs } });
  }, 300_000);

  afterAll(async () => {
    await tearDownDevnet({ devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('is restarted after kill -9; meanwhile /readyz says no orchestrator worker polls, and a job still succeeds after', async () => {
    expect(await untilReadiness(devnet.apiUrl, 200, 30_000)).toEqual([]);
    const killed = devnet.processes.get('orchestrator')!;
    // From outside the devnet's process, as `kill -9 <pid>` from a shell does it.
    process.kill(killed.pid!, 'SIGKILL');
    await exited(killed);
    await untilLine(lines, new RegExp(`^devnet: orchestrator \\(pid ${killed.pid}\\) died \\(signal SIGKILL\\) after \\d+ s up; restarting it in ${firstDelayMs / 1000} s \\(restart 1\\)$`), 5_000);

    expect(await untilReadiness(devnet.apiUrl, 503, POLLER_MAX_AGE_MS + 15_000)).toEqual([
      expect.stringMatching(new RegExp(`^orchestrator worker: nothing polls task queue ${ORCHESTRATOR_TASK_QUEUE} for workflow tasks \\(last poll \\d+ s ago, by `)),
      expect.stringMatching(new RegExp(`^orchestrator worker: nothing polls task queue ${ORCHESTRATOR_TASK_QUEUE} for activity tasks \\(last poll \\d+ s ago, by `)),
    ]);

    await untilLine(lines, /^devnet: orchestrator restarted \(pid \d+\)$/, firstDelayMs + 60_000);
    const restarted = devnet.processes.get('orchestrator')!;
    expect(restarted.pid).not.toBe(killed.pid);
    expect(await untilReadiness(devnet.apiUrl, 200, 15_000)).toEqual([]);

    const { job } = await devnet.api.jobs.submit.mutate({ spec: SAMPLE_JOB });
    expect((await waitForJob(devnet.api, job.id)).state).toBe('SUCCEEDED');
  }, 400_000);

  it('leaves a role stopped on purpose stopped, until it is started again', async () => {
    const host = devnet.processes.get('host-1')!;
    await devnet.stopRole('host-1');
    expect(host.exitCode).toBe(0);
    expect(lines).toContain('devnet: host-1 stopped (exit code 0)');
    expect(lines.filter((l) => l.startsWith('devnet: host-1') && l.includes('restart'))).toEqual([]);

    const started = await devnet.startRole('host-1');
    expect(started.pid).not.toBe(host.pid);
    expect(devnet.processes.get('host-1')).toBe(started);
  }, 120_000);
});

describe('roles that die on a devnet with the default restart policy', () => {
  let dir: string;
  let devnet: Devnet;
  const lines: string[] = [];
  /** Kills a role with SIGKILL from outside the devnet's process, and waits until the devnet says it has it back. */
  const killAndAwaitRestart = async (name: string, restart: number, delaySeconds: number) => {
    const killed = devnet.processes.get(name)!;
    process.kill(killed.pid!, 'SIGKILL');
    await exited(killed);
    const died = await untilLine(lines, new RegExp(`^devnet: ${name} \\(pid ${killed.pid}\\) died \\(signal SIGKILL\\) after \\d+ s up; restarting it in ${delaySeconds} s \\(restart ${restart}\\)$`), 5_000);
    const after = lines.indexOf(died);
    await untilLine(lines, new RegExp(`^devnet: ${name} restarted \\(pid \\d+\\)$`), 60_000, after);
    expect(devnet.processes.get(name)!.pid).not.toBe(killed.pid);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-restart-'));
    devnet = await startDevnet({ dir, hosts: 1, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line) });
  }, 300_000);

  afterAll(async () => {
    await tearDownDevnet({ devnet, dir });
  }, 120_000);

  printRolesOnFailure(lines);

  it('brings back a host worker and the API killed with kill -9, waiting twice as long when one dies again soon', async () => {
    await killAndAwaitRestart('host-1', 1, 1);
    await killAndAwaitRestart('host-1', 2, 2);
    await killAndAwaitRestart('api', 1, 1);
    expect(await untilReadiness(devnet.apiUrl, 200, 30_000)).toEqual([]);
    const { job } = await devnet.api.jobs.submit.mutate({ spec: SAMPLE_JOB });
    expect((await waitForJob(devnet.api, job.id)).state).toBe('SUCCEEDED');
  }, 300_000);
});
