import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type Event = temporal.api.history.v1.IHistoryEvent;

/** One step of a workflow's run, read from its history: a workflow task, an activity or a timer. */
export interface Step {
  /** `workflow task`, the activity's type, or `timer`. */
  name: string;
  /** When it was scheduled (a timer: started), from the workflow's start. */
  atMs: number;
  /** Scheduled → picked up by a worker (0 for a timer). */
  queuedMs: number;
  /** Picked up → answered (a timer: started → fired). */
  ranMs: number;
}

/** A history's steps in the order they were scheduled, and how long the run took from its start to its close. */
export function stepsOf(history: History): { totalMs: number; steps: Step[] } {
  const events = history.events ?? [];
  const at = (e: Event | undefined) => (e?.eventTime ? msOf(e.eventTime) : NaN);
  const start = at(events[0]);
  const startedOf = new Map<string, Event>();
  const endOf = new Map<string, Event>();
  for (const e of events) {
    const started = e.workflowTaskStartedEventAttributes ?? e.activityTaskStartedEventAttributes;
    if (started) startedOf.set(String(started.scheduledEventId), e);
    const ended = e.workflowTaskCompletedEventAttributes ?? e.workflowTaskFailedEventAttributes ?? e.workflowTaskTimedOutEventAttributes
      ?? e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes
      ?? e.activityTaskCanceledEventAttributes;
    if (ended?.scheduledEventId) endOf.set(String(ended.scheduledEventId), e);
    const fired = e.timerFiredEventAttributes ?? e.timerCanceledEventAttributes;
    if (fired?.startedEventId) endOf.set(String(fired.startedEventId), e);
  }
  const steps: Step[] = [];
  for (const e of events) {
    const id = String(e.eventId);
    const name = e.workflowTaskScheduledEventAttributes ? 'workflow task'
      : e.activityTaskScheduledEventAttributes ? e.activityTaskScheduledEventAttributes.activityType?.name ?? 'activity'
      : e.timerStartedEventAttributes ? 'timer' : null;
    const end = endOf.get(id);
    // A step still open when the history was read (or a workflow task that never ran) has no figures yet.
    if (!name || !end) continue;
    const picked = name === 'timer' ? at(e) : at(startedOf.get(id) ?? end);
    steps.push({ name, atMs: at(e) - start, queuedMs: picked - at(e), ranMs: at(end) - picked });
  }
  const closed = [...events].reverse().find(isClose);
  return { totalMs: at(closed ?? events[events.length - 1]) - start, steps };
}

/** A protobuf timestamp in ms, its seconds a Long (from the server) or a number (from JSON). */
function msOf(ts: NonNullable<Event['eventTime']>): number {
  const seconds = ts.seconds as unknown as { toNumber(): number } | number | string | null | undefined;
  const whole = typeof seconds === 'object' && seconds !== null ? seconds.toNumber() : Number(seconds ?? 0);
  return whole * 1000 + (ts.nanos ?? 0) / 1e6;
}

const isClose = (e: Event) => Boolean(e.workflowExecutionCompletedEventAttributes ?? e.workflowExecutionFailedEventAttributes
  ?? e.workflowExecutionCanceledEventAttributes ?? e.workflowExecutionTerminatedEventAttributes ?? e.workflowExecutionTimedOutEventAttributes
  ?? e.workflowExecutionContinuedAsNewEventAttributes);

/**
 * Where a run's time went, per kind of step, in the order each first ran: how many, and their time queued and running
 * (steps that overlap, like replicas, each count in full). The last line is what no step covers: the server's own
 * writes between one step's end and the next one's schedule.
 */
export function describeBreakdown(history: History): string[] {
  const { totalMs, steps } = stepsOf(history);
  const rows = new Map<string, { count: number; queuedMs: number; ranMs: number }>();
  for (const step of steps) {
    const row = rows.get(step.name) ?? { count: 0, queuedMs: 0, ranMs: 0 };
    row.count += 1;
    row.queuedMs += step.queuedMs;
    row.ranMs += step.ranMs;
    rows.set(step.name, row);
  }
  const covered = coveredMs(steps);
  const n = (value: number) => `${Math.round(value).toLocaleString('en-US')} ms`;
  const lines = [`the workflow ran ${n(totalMs)} from its start to its close`, `${'step'.padEnd(18)} ${'count'.padStart(5)} ${'queued'.padStart(9)} ${'ran'.padStart(9)} ${'share'.padStart(6)}`];
  for (const [name, row] of rows) {
    lines.push(`${name.padEnd(18)} ${String(row.count).padStart(5)} ${n(row.queuedMs).padStart(9)} ${n(row.ranMs).padStart(9)} ${pct(row.queuedMs + row.ranMs, totalMs).padStart(6)}`);
  }
  // Local activities run inside the workflow task that called them: their time is in that row.
  const local = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
  if (local > 0) lines.push(`${'local activities'.padEnd(18)} ${String(local).padStart(5)}   (inside the workflow tasks)`);
  lines.push(`${'(between steps)'.padEnd(18)} ${''.padStart(5)} ${''.padStart(9)} ${n(totalMs - covered).padStart(9)} ${pct(totalMs - covered, totalMs).padStart(6)}`);
  return lines;
}

/** How much of the run's time some step covers (the union of their spans). */
function coveredMs(steps: Step[]): number {
  const spans = steps.map((s) => [s.atMs, s.atMs + s.queuedMs + s.ranMs] as const).sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let reach = -Infinity;
  for (const [from, to] of spans) {
    if (to <= reach) continue;
    covered += to - Math.max(from, reach);
    reach = to;
  }
  return covered;
}

const pct = (part: number, whole: number) => `${whole > 0 ? Math.round((100 * part) / whole) : 0}%`;

/** The last `count` events of a history, one line each, with the failure of each failed activity: why a job stalled. */
export function describeTail(history: History, count = 10): string[] {
  const events = history.events ?? [];
  const scheduled = new Map(events.map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name ?? null]));
  return events.slice(-count).map((e) => {
    const type = String(temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? e.eventType).replace(/^EVENT_TYPE_/, '');
    const failed = e.activityTaskFailedEventAttributes;
    const activity = e.activityTaskScheduledEventAttributes?.activityType?.name
      ?? scheduled.get(String((failed ?? e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes ?? e.activityTaskTimedOutEventAttributes)?.scheduledEventId ?? ''));
    const why = failed?.failure?.message ?? e.activityTaskTimedOutEventAttributes?.failure?.message ?? e.workflowTaskFailedEventAttributes?.failure?.message;
    // Where an activity was sent, and which worker took it: a task nobody picks up names the queue that starved.
    const queue = e.activityTaskScheduledEventAttributes?.taskQueue?.name;
    const worker = e.activityTaskStartedEventAttributes?.identity;
    return `#${String(e.eventId)} ${type}${activity ? ` ${activity}` : ''}${queue ? ` on ${queue}` : ''}${worker ? ` by ${worker}` : ''}${why ? `: ${why.slice(0, 200)}` : ''}`;
  });
}
