import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { isFinalJobState } from '../../domain/job-state';
import { dealEscrowId, jobEscrowId } from '../../domain/orders';
import { isFinalDealState } from '../../domain/storage';
import { router, signedProcedure } from '../trpc';

const lockedIn = { amount: z.string(), state: z.string() };
const balanceView = z.object({
  address: z.string(),
  did: z.string(),
  /** Free ZSC, in base units. */
  zsc: z.string(),
  /** What the caller's open jobs and deals hold in escrow, read from the chain. */
  locked: z.object({
    total: z.string(),
    jobs: z.array(z.object({ jobId: z.string(), ...lockedIn })),
    deals: z.array(z.object({ dealId: z.string(), ...lockedIn })),
  }),
});
const faucetView = z.object({ address: z.string(), amount: z.string(), txHash: z.string() });

export const walletRouter = router({
  /**
   * The caller's free ZSC, and what is locked in its open jobs and deals (each escrow read on chain; a deal's every
   * term that is still open counts).
   */
  balance: signedProcedure
    .meta({ openapi: { method: 'GET', path: '/wallet', tags: ['wallet'], summary: 'Your ZSC balance: free, and locked in your jobs and deals', protect: true, errorResponses: { 412: 'This API is not connected to a chain' } } })
    .output(balanceView)
    .input(z.object({}).optional())
    .query(async ({ ctx }) => {
      const wallet = ctx.wallet;
      if (!wallet) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this API is not connected to a chain (RPC_URL, DEPLOYMENT_FILE)' });
      const { address, did } = ctx.caller;
      const [jobRows, dealRows] = await Promise.all([
        ctx.db.job.findMany({ where: { clientId: did, payer: { not: null } }, select: { id: true, state: true, payer: true }, orderBy: { createdAt: 'desc' }, take: 500 }),
        ctx.db.deal.findMany({ where: { clientId: did, payer: { not: null } }, select: { id: true, state: true, payer: true, periods: true }, orderBy: { createdAt: 'desc' }, take: 500 }),
      ]);
      const jobs = [];
      for (const job of jobRows.filter((j) => !isFinalJobState(j.state))) {
        const escrow = await wallet.escrowOf('job', jobEscrowId(job.payer!, job.id));
        if (escrow?.open) jobs.push({ jobId: job.id, amount: escrow.amount.toString(), state: job.state });
      }
      const deals = [];
      for (const deal of dealRows.filter((d) => !isFinalDealState(d.state))) {
        // A deal's terms: its own id, then each renewal's; the first term never opened ends the list.
        let amount = 0n;
        for (let term = 1; ; term++) {
          const escrow = await wallet.escrowOf('storage', dealEscrowId(deal.payer!, term === 1 ? deal.id : `${deal.id}/term-${term}`));
          if (!escrow) break;
          amount += escrow.amount;
        }
        if (amount > 0n) deals.push({ dealId: deal.id, amount: amount.toString(), state: deal.state });
      }
      const total = [...jobs, ...deals].reduce((sum, l) => sum + BigInt(l.amount), 0n).toString();
      return { address, did, zsc: await wallet.balanceOf(address), locked: { total, jobs, deals } };
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
