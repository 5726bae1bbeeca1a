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

/**
 * How long one listing of the waiting work serves every wake that asks for it. A fleet joining, or many hosts freeing
 * slots at once, would otherwise list once per host: Temporal serves 10 visibility calls a second per namespace, the
 * calls over it fail, and the work they were to wake slept until its recheck. Shared, they list at most once a
 * LISTING_REUSE_MS whatever the host count; work that began waiting within it is woken by the next free slot.
 */
export const LISTING_REUSE_MS = 1_000;

interface Waiting { workflowId: string; startTime: number }
const listings = new WeakMap<Client, { at: number; waiting: Promise<Waiting[]> }>();

/** The work waiting for a host, from a listing at most LISTING_REUSE_MS old (one in flight is shared, a failed one not kept). */
function listWaiting(temporal: Client): Promise<Waiting[]> {
  const last = listings.get(temporal);
  if (last && Date.now() - last.at < LISTING_REUSE_MS) return last.waiting;
  const waiting = (async () => {
    const found: Waiting[] = [];
    for await (const execution of temporal.workflow.list({ query: WAITING })) {
      found.push({ workflowId: execution.workflowId, startTime: execution.startTime.getTime() });
    }
    return found;
  })();
  const listing = { at: Date.now(), waiting };
  listings.set(temporal, listing);
  waiting.catch(() => {
    if (listings.get(temporal) === listing) listings.delete(temporal);
  });
  return waiting;
}

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
  const waiting = await listWaiting(temporal);
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
