import type { Client } from '@temporalio/client';
import { advertisedImagesFrom } from '../domain/images';
import type { JobSpec } from '../domain/job-spec';
import { unfitReason, type HostCandidate } from '../domain/matching';
import type { Database } from '../db/client';

/** The signal workflows/common.ts handles (capacitySignal): a look at the hosts again. */
const CAPACITY_SIGNAL = 'capacityChanged';
/** The query for every job and deal waiting for a host (search attribute HostWait, set while they wait). */
const WAITING = 'HostWait = "waiting" AND ExecutionStatus = "Running"';
/** At most this many waiters are woken per slot that came free, oldest first: the rest would only find it taken. */
const WAKES_PER_SLOT = 4;

type HostRow = NonNullable<Awaited<ReturnType<Database['host']['findUnique']>>>;

/**
 * Wakes the work waiting for a host when `host` has room: a host that joined or came back, or freed slots. Only
 * waiters that fit it are woken (a job by its resources and image; a storage deal always, as its needs are small),
 * oldest first, a few per free slot, so that a queue of a thousand jobs is not stampeded by one free slot. Nothing is
 * read while nothing changes: waiting work runs no activity between wake-ups (and a recheck every 30 minutes).
 * Returns the workflow ids signalled.
 */
export async function wakeWaitingWork(temporal: Client, db: Database, host: HostRow, freeSlots: number): Promise<string[]> {
  if (freeSlots < 1 || host.status !== 'online') return [];
  const waiting: { workflowId: string; startTime: number }[] = [];
  for await (const execution of temporal.workflow.list({ query: WAITING })) {
    waiting.push({ workflowId: execution.workflowId, startTime: execution.startTime.getTime() });
  }
  if (waiting.length === 0) return [];
  const jobIds = waiting.flatMap(({ workflowId }) => (workflowId.startsWith('job-') ? [workflowId.slice('job-'.length)] : []));
  const specs = new Map((await db.job.findMany({ where: { id: { in: jobIds } }, select: { id: true, spec: true } }))
    .map((job) => [`job-${job.id}`, JSON.parse(job.spec) as JobSpec]));
  const candidate: HostCandidate = {
    id: host.id, address: host.address, arch: host.arch, cpus: host.cpus, memoryMiB: host.memoryMiB, diskMiB: host.diskMiB, gpus: host.gpus,
    freeSlots, pricePerCpuSecond: host.pricePerCpuSecond, pricePerGibSecond: host.pricePerGibSecond, pricePerGpuSecond: host.pricePerGpuSecond,
    operator: host.operator, stake: host.stake, images: advertisedImagesFrom(host.images),
  };
  const fitting = waiting
    .filter(({ workflowId }) => {
      const spec = specs.get(workflowId);
      return !workflowId.startsWith('job-') || (spec !== undefined && unfitReason(candidate, spec.resources, spec.image) === null);
    })
    .sort((a, b) => a.startTime - b.startTime)
    .slice(0, WAKES_PER_SLOT * freeSlots);
  const woken: string[] = [];
  await Promise.all(fitting.map(async ({ workflowId }) => {
    // One that ended since the listing has nothing to wake.
    await temporal.workflow.getHandle(workflowId).signal(CAPACITY_SIGNAL).then(() => woken.push(workflowId), () => undefined);
  }));
  return woken;
}
