import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/*
 * Where the machine's CPU goes while a benchmark runs, read from /proc (Linux): each process's user and system time,
 * its waited-for children's included, grouped by what the process is. A figure in CPU ms per unit of work (a job,
 * a container) says how many units the machine's cores could carry at most, whatever the latency.
 */

/** Kernel ticks a second (`getconf CLK_TCK`: 100 on Linux everywhere Node runs). */
const TICKS_PER_SECOND = 100;

/** The CPU time of every live process and of the whole machine, at one moment. */
export interface CpuSnapshot {
  /** CPU ms by pid, with the group each pid counts in. */
  processes: Map<number, { group: string; ms: number }>;
  /** Busy CPU ms of the whole machine (every core, user + nice + system + irq + softirq + steal) since boot. */
  machineMs: number;
  at: number;
}

/**
 * Reads every process's CPU time. `groups` names known pids (a devnet's roles: api, orchestrator, host-1 …); a name
 * ending in `-<n>` or a host id is folded into its kind (`host workers`), the rest are named by their command
 * (anvil, dockerd, containerd, the Temporal server …).
 */
export function snapshotCpu(groups: Map<number, string> = new Map()): CpuSnapshot {
  const processes = new Map<number, { group: string; ms: number }>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // The command is in parentheses and may hold spaces; the fields after it are fixed.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // utime, stime, cutime, cstime are fields 14-17 of stat: 11-14 counted from after the command.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    processes.set(pid, { group: groupOf(pid, comm, groups), ms: (ticks * 1000) / TICKS_PER_SECOND });
  }
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu[7] ?? 0);
  return { processes, machineMs: (busy * 1000) / TICKS_PER_SECOND, at: performance.now() };
}

function groupOf(pid: number, comm: string, groups: Map<number, string>): string {
  const role = groups.get(pid);
  if (role) return /^host-\d+$/.test(role) ? 'host workers' : role.replace(/-\d+$/, '');
  if (pid === process.pid) return 'the benchmark (client)';
  // Init reaps orphans: runc and the containers' own processes end up counted here once they exit.
  if (pid === 1) return 'init (reaped: runc, containers)';
  if (/^containerd-shim/.test(comm)) return 'container shims';
  if (/^temporal|zansoc-tempor/.test(comm)) return 'Temporal server';
  return comm;
}

/**
 * The CPU spent between two snapshots, per group, in ms per unit of work, largest first, ending with what no live
 * process accounts for (processes that exited unreaped by a live one) and the total; and the most
 * units a second the machine's cores could carry at that cost.
 */
export function cpuPerUnit(before: CpuSnapshot, after: CpuSnapshot, units: number): { lines: string[]; totalMs: number; ceilingPerSecond: number } {
  const byGroup = new Map<string, number>();
  for (const [pid, now] of after.processes) {
    // A process started meanwhile counts from zero.
    const spent = now.ms - (before.processes.get(pid)?.ms ?? 0);
    if (spent > 0) byGroup.set(now.group, (byGroup.get(now.group) ?? 0) + spent);
  }
  const totalMs = after.machineMs - before.machineMs;
  const accounted = [...byGroup.values()].reduce((a, b) => a + b, 0);
  const rows = [...byGroup].filter(([, spent]) => spent / units >= 1).sort((a, b) => b[1] - a[1]);
  const small = [...byGroup].filter(([, spent]) => spent / units < 1).reduce((a, [, spent]) => a + spent, 0);
  const cores = availableParallelism();
  const seconds = (after.at - before.at) / 1000;
  const lines = rows.map(([group, spent]) => `${group.padEnd(26)} ${(spent / units).toFixed(0).padStart(6)} ms`);
  if (small > 0) lines.push(`${'others under 1 ms each'.padEnd(26)} ${(small / units).toFixed(0).padStart(6)} ms`);
  lines.push(`${'gone unaccounted'.padEnd(26)} ${(Math.max(0, totalMs - accounted) / units).toFixed(0).padStart(6)} ms`);
  lines.push(`${'the machine, all of it'.padEnd(26)} ${(totalMs / units).toFixed(0).padStart(6)} ms ` +
    `(${((totalMs / (seconds * 1000 * cores)) * 100).toFixed(0)}% of ${cores} cores busy)`);
  return { lines, totalMs: totalMs / units, ceilingPerSecond: (cores * 1000) / (totalMs / units) };
}
