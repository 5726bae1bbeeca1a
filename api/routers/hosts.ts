import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { tokenAmount } from '../../domain/money';
import { publicProcedure, router } from '../trpc';

const hostId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes');

export const hostRegistrationSchema = z
  .object({
    hostId,
    address: z.string().regex(/^0x[a-fA-F0-9]{40}$/, 'must be a 0x-prefixed Ethereum address'),
    did: z.string().regex(/^did:ethr:(\d+:)?0x[a-fA-F0-9]{40}$/, 'must be did:ethr:<chainId>:<address>'),
    arch: z.string().min(1).max(32),
    cpus: z.number().min(0.1).max(4096),
    memoryMiB: z.number().int().min(1),
    diskMiB: z.number().int().min(0),
    gpus: z.number().int().min(0).max(64),
    maxSlots: z.number().int().min(1).max(1024),
    pricePerCpuSecond: tokenAmount,
  })
  .strict();
export type HostRegistration = z.output<typeof hostRegistrationSchema>;

const hostSelect = {
  id: true, address: true, did: true, arch: true, cpus: true, memoryMiB: true, diskMiB: true, gpus: true, maxSlots: true,
  pricePerCpuSecond: true, lastSeenAt: true, createdAt: true,
} as const;

export const hostsRouter = router({
  /** A host worker announces itself and what it offers; registering again updates the offer. */
  register: publicProcedure.input(hostRegistrationSchema).mutation(async ({ ctx, input }) => {
    const { hostId: id, ...offer } = input;
    const owner = await ctx.db.host.findUnique({ where: { address: input.address }, select: { id: true } });
    if (owner && owner.id !== id) {
      throw new TRPCError({ code: 'CONFLICT', message: `address: already registered as host ${owner.id}` });
    }
    const now = new Date();
    return ctx.db.host.upsert({
      where: { id },
      create: { id, ...offer, lastSeenAt: now },
      update: { ...offer, lastSeenAt: now },
      select: hostSelect,
    });
  }),

  /** Liveness: a host that stops calling this is offline after a missed interval and is not matched. */
  heartbeat: publicProcedure.input(z.object({ hostId })).mutation(async ({ ctx, input }) => {
    const updated = await ctx.db.host.updateMany({ where: { id: input.hostId }, data: { lastSeenAt: new Date() } });
    if (updated.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: `hostId: no host ${input.hostId}, register first` });
    return { ok: true };
  }),

  list: publicProcedure.query(({ ctx }) => ctx.db.host.findMany({ orderBy: { id: 'asc' }, select: hostSelect })),
});
