import type { Client } from '@temporalio/client';
import type { Database } from '../db/client';
import { LISTING_REUSE_MS, wakeWaitingWork } from './capacity';

/**
 * Wakes share their listing of the waiting work: Temporal's visibility stands in here (the unit is the sharing);
 * test/compute-job.test.ts wakes real waiting jobs on a real server.
 */
function fakeTemporal(waiting: string[], fail = false) {
  const calls = { lists: 0, signalled: [] as string[] };
  const temporal = {
    workflow: {
      list: () => {
        calls.lists++;
        return (async function* () {
          await new Promise((r) => setTimeout(r, 20));
          if (fail) throw new Error('namespace rate limit exceeded');
          for (const workflowId of waiting) yield { workflowId, startTime: new Date(0) };
        })();
      },
      getHandle: (workflowId: string) => ({ signal: async () => { calls.signalled.push(workflowId); } }),
    },
  } as unknown as Client;
  return { temporal, calls };
}

const db = { job: { findMany: async () => [] } } as unknown as Database;
const host = { id: 'h1', status: 'online', images: '[]' } as unknown as Parameters<typeof wakeWaitingWork>[2];

it('lists the waiting work once for a fleet of hosts that come free at the same moment', async () => {
  const { temporal, calls } = fakeTemporal(['deal-1']);
  const woken = await Promise.all(Array.from({ length: 200 }, () => wakeWaitingWork(temporal, db, host, 1)));
  expect(calls.lists).toBe(1);
  expect(woken.every((ids) => ids.length === 1 && ids[0] === 'deal-1')).toBe(true);
  expect(calls.signalled).toHaveLength(200);
});

it('lists again once the listing is LISTING_REUSE_MS old', async () => {
  const { temporal, calls } = fakeTemporal(['deal-1']);
  await wakeWaitingWork(temporal, db, host, 1);
  await new Promise((r) => setTimeout(r, LISTING_REUSE_MS + 50));
  await wakeWaitingWork(temporal, db, host, 1);
  expect(calls.lists).toBe(2);
});

it('keeps no failed listing: the next wake lists again', async () => {
  const { temporal, calls } = fakeTemporal(['deal-1'], true);
  await expect(wakeWaitingWork(temporal, db, host, 1)).rejects.toThrow(/rate limit/);
  await expect(wakeWaitingWork(temporal, db, host, 1)).rejects.toThrow(/rate limit/);
  expect(calls.lists).toBe(2);
});
