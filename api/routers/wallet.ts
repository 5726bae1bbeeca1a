import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { router, signedProcedure } from '../trpc';

const balanceView = z.object({ address: z.string(), did: z.string(), zsc: z.string() });
const faucetView = z.object({ address: z.string(), amount: z.string(), txHash: z.string() });

export const walletRouter = router({
  /** The caller's ZSC balance on the chain, in base units. */
  balance: signedProcedure
    .meta({ openapi: { method: 'GET', path: '/wallet', tags: ['wallet'], summary: 'Your ZSC balance', protect: true, errorResponses: { 412: 'This API is not connected to a chain' } } })
    .output(balanceView)
    .input(z.object({}).optional())
    .query(async ({ ctx }) => {
      if (!ctx.wallet) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this API is not connected to a chain (RPC_URL, DEPLOYMENT_FILE)' });
      return { address: ctx.caller.address, did: ctx.caller.did, zsc: await ctx.wallet.balanceOf(ctx.caller.address) };
    }),

  /** Devnet only: sends the caller some ZSC, at most once an hour. */
  faucet: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/wallet/faucet', tags: ['wallet'], summary: 'Devnet faucet: some ZSC for you', protect: true, errorResponses: { 412: 'This API has no faucet (devnet only)', 429: 'The faucet gave to this address less than an hour ago' } } })
    .output(faucetView)
    .input(z.object({}).optional())
    .mutation(async ({ ctx }) => {
      if (!ctx.wallet?.faucet) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this API has no faucet (devnet only: FAUCET_KEY)' });
      try {
        return { address: ctx.caller.address, ...(await ctx.wallet.faucet(ctx.caller.address)) };
      } catch (err) {
        throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: (err as Error).message });
      }
    }),
});
