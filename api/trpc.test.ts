import { TRPCError } from '@trpc/server';
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';

/** The error body tRPC (and the /api adapter, which shares its config) sends for a refusal, under a NODE_ENV. */
function errorBodyUnder(nodeEnv: string): Record<string, unknown> {
  const previous = process.env.NODE_ENV;
  process.env.NODE_ENV = nodeEnv;
  try {
    let shape: Record<string, unknown> = {};
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { router } = require('./trpc') as typeof import('./trpc');
      const config = router({})._def._config;
      const error = new TRPCError({ code: 'NOT_FOUND', message: 'jobId: no job' });
      shape = getErrorShape({ config, error, type: 'query', path: 'jobs.get', input: undefined, ctx: undefined }) as unknown as Record<string, unknown>;
    });
    return shape;
  } finally {
    process.env.NODE_ENV = previous;
  }
}

describe('error bodies', () => {
  it.each(['production', 'test', ''])('carry no stack trace under NODE_ENV=%j', (nodeEnv) => {
    expect(errorBodyUnder(nodeEnv)).toMatchObject({ message: 'jobId: no job', data: { code: 'NOT_FOUND', httpStatus: 404 } });
    expect(JSON.stringify(errorBodyUnder(nodeEnv))).not.toContain('stack');
  });

  it('carry the stack trace on a developer machine (NODE_ENV=development)', () => {
    expect((errorBodyUnder('development').data as { stack?: string }).stack).toContain('TRPCError: jobId: no job');
  });
});
