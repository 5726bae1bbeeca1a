import type { Database } from '../db/client';

/** How often the API looks at the jobs someone waits on: one query for all of them, only while someone waits. */
export const JOB_WATCH_TICK_MS = 25;
/** The most waits the API holds at once; past it a wait answers at once, as a plain read (the client asks again). */
export const JOB_WATCH_MAX_WAITERS = 10_000;

/** What a client last saw of a job: a wait ends when either differs. */
export interface SeenJob {
  state: string;
  stateReason: string | null;
}

interface Waiter extends SeenJob {
  jobId: string;
  wake(): void;
}

/**
 * Waits for jobs to move in the read model, so that a client learns of a change within a tick without polling the
 * API: each wait costs the API nothing but its share of one query a tick over every waited job, where a client
 * polling signs, sends, and has verified a request each time.
 */
export class JobWatch {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private looking = false;

  constructor(private readonly db: Database, private readonly tickMs = JOB_WATCH_TICK_MS, private readonly maxWaiters = JOB_WATCH_MAX_WAITERS) {}

  /** Resolves once the job's state or reason differs from `seen`, or after `timeoutMs`, whichever comes first. */
  wait(jobId: string, seen: SeenJob, timeoutMs: number): Promise<void> {
    if (this.waiters.size >= this.maxWaiters) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        jobId, ...seen,
        wake: () => {
          clearTimeout(deadline);
          this.waiters.delete(waiter);
          if (this.waiters.size === 0) this.idle();
          resolve();
        },
      };
      const deadline = setTimeout(waiter.wake, timeoutMs);
      this.waiters.add(waiter);
      this.timer ??= setInterval(() => void this.look(), this.tickMs);
    });
  }

  /** How many waits are held now (for tests and metrics). */
  get size(): number {
    return this.waiters.size;
  }

  private idle(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async look(): Promise<void> {
    // A slow query is not stacked on: the next tick after it looks again.
    if (this.looking || this.waiters.size === 0) return;
    this.looking = true;
    try {
      const ids = [...new Set([...this.waiters].map((w) => w.jobId))];
      const rows = await this.db.job.findMany({ where: { id: { in: ids } }, select: { id: true, state: true, stateReason: true } });
      const now = new Map(rows.map((r) => [r.id, r]));
      for (const waiter of [...this.waiters]) {
        const row = now.get(waiter.jobId);
        // A row gone (a refused submit undone) is a change too: the read after the wait says NOT_FOUND.
        if (!row || row.state !== waiter.state || row.stateReason !== waiter.stateReason) waiter.wake();
      }
    } catch {
      // The database did not answer this tick; the waits stand until the next one or their deadline.
    } finally {
      this.looking = false;
    }
  }
}

const watches = new WeakMap<Database, JobWatch>();

/** The one watch over a database's jobs in this process. */
export function jobWatchOf(db: Database): JobWatch {
  let watch = watches.get(db);
  if (!watch) watches.set(db, (watch = new JobWatch(db)));
  return watch;
}
