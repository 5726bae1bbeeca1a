import { Context } from '@temporalio/activity';

/**
 * Wraps activities so each heartbeats while it runs. With a heartbeat timeout on the workflow's side, an activity
 * whose worker died (kill -9 mid-transaction) is retried within seconds instead of after its whole start-to-close
 * timeout; the chain activities are idempotent, so the retry finds what the dead attempt already did.
 */
export function withHeartbeats<T extends object>(activities: T, everyMs = 2000): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities) as [string, unknown][]) {
    if (typeof fn !== 'function') {
      wrapped[name] = fn;
      continue;
    }
    wrapped[name] = async (...args: unknown[]) => {
      const context = Context.current();
      const timer = setInterval(() => context.heartbeat(), everyMs);
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } finally {
        clearInterval(timer);
      }
    };
  }
  return wrapped as T;
}
