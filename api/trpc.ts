import { initTRPC } from '@trpc/server';
import { ZodError } from 'zod';
import { describeIssues } from '../domain/job-spec';
import type { Context } from './context';

/** One initTRPC for the whole API. Bad input comes back as one line per field, e.g. `spec.resources.cpu: …`. */
const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const zodError = error.cause instanceof ZodError ? error.cause : null;
    if (!zodError) return shape;
    return {
      ...shape,
      message: describeIssues(zodError),
      data: { ...shape.data, fields: zodError.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    };
  },
});

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;
