import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { ZodError } from 'zod';
import { isUniqueViolation } from '../db/client';
import { describeIssues } from '../domain/job-spec';
import type { Caller, Context } from './context';
import { didOf, verifyRequest } from './signing';

/** One initTRPC for the whole API. Bad input comes back as one line per field, e.g. `spec.resources.cpu: …`. */
const t = initTRPC.meta<OpenApiMeta>().context<Context>().create({
  // Error bodies carry stack traces (server paths, library versions) only on a developer's own machine.
  isDev: process.env.NODE_ENV === 'development',
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

/**
 * Procedures that act for someone: the call must carry a valid EIP-712 signature of its exact input (api/signing.ts),
 * unexpired, with a nonce never seen before. The signer becomes `ctx.caller`; refusals are UNAUTHORIZED (401).
 */
export const signedProcedure = t.procedure.use(async ({ ctx, path, getRawInput, next }) => {
  const verified = verifyRequest(ctx.headers, ctx.chainId, path, await getRawInput());
  if (!verified.ok) throw new TRPCError({ code: 'UNAUTHORIZED', message: verified.reason });
  try {
    await ctx.db.usedNonce.create({ data: { address: verified.address, nonce: verified.nonce, expiresAt: new Date(verified.expiresAt * 1000) } });
  } catch (err) {
    if (isUniqueViolation(err)) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'replayed request: this nonce was used already' });
    throw err;
  }
  // Forget nonces once their requests have expired (now and then, not on every call).
  if (Math.random() < 0.02) await ctx.db.usedNonce.deleteMany({ where: { expiresAt: { lt: new Date() } } });
  const caller: Caller = { address: verified.address, did: didOf(ctx.chainId, verified.address) };
  return next({ ctx: { ...ctx, caller } });
});

export const createCallerFactory = t.createCallerFactory;
