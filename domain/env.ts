import { z } from 'zod';

/** Where a process serves something (`host:port`), e.g. its /metrics. */
export const listenAddress = z.string().regex(/^[\w.-]+:\d+$/, 'must be host:port');

/**
 * For `.superRefine`: the test-fixture variable `key` (a cheating host, a crashing orchestrator) is refused unless
 * NODE_ENV is `test`, so no production configuration can turn it on.
 */
export function testFixtureOnly(key: string) {
  return (env: { NODE_ENV?: string } & Record<string, unknown>, ctx: z.RefinementCtx): void => {
    if (env[key] !== undefined && env.NODE_ENV !== 'test') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: 'is a test fixture and only works with NODE_ENV=test' });
    }
  };
}
