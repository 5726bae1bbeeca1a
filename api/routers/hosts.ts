import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { HOST_OFFLINE_AFTER_MS } from '../../activities/db';
import { ADVERTISED_IMAGE, advertisedImagesFrom, MAX_ADVERTISED_IMAGES } from '../../domain/images';
import { MIN_PRICE_PER_CPU_SECOND, tokenAmount } from '../../domain/money';
import type { Prisma } from '../../db/client';
import type { Caller, Context } from '../context';
import { BadPublicKeyError } from '../host-certificates';
import { wakeWaitingWork } from '../capacity';
import { heartbeatView, hostCertificateView, hostStatusView, hostView } from '../views';
import { publicProcedure, router, signedProcedure } from '../trpc';

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
    gpuModel: z.string().max(128).nullable().default(null),
    maxSlots: z.number().int().min(1).max(1024),
    // The floor: a host asking nothing would rank first whatever its record.
    pricePerCpuSecond: tokenAmount.refine((p) => !/^\d+$/.test(p) || BigInt(p) >= MIN_PRICE_PER_CPU_SECOND, `must be at least the floor of ${MIN_PRICE_PER_CPU_SECOND} base units per cpu-second`),
    pricePerGibSecond: tokenAmount.default('0'),
    pricePerGpuSecond: tokenAmount.default('0'),
    /** The operator running this host, when it runs several: replicas of a job go to distinct operators. */
    operator: z.string().regex(/^0x[a-fA-F0-9]{40}$/, 'must be a 0x-prefixed Ethereum address').nullable().default(null),
    /** The images on the host's allow-list, by digest: it is matched only to jobs that run one of them. */
    images: z
      .array(z.string().max(400).regex(ADVERTISED_IMAGE, 'must be an image pinned by digest, such as "zansoc/busybox:1@sha256:<64 hex>"'))
      .max(MAX_ADVERTISED_IMAGES, `at most ${MAX_ADVERTISED_IMAGES} images`)
      .default([]),
  })
  .strict();
export type HostRegistration = z.output<typeof hostRegistrationSchema>;

const hostSelect = {
  id: true, address: true, did: true, arch: true, cpus: true, memoryMiB: true, diskMiB: true, gpus: true, gpuModel: true,
  maxSlots: true, images: true, operator: true, stake: true, pricePerCpuSecond: true, pricePerGibSecond: true, pricePerGpuSecond: true, status: true, lastSeenAt: true,
  createdAt: true, jobsDone: true, jobsFailed: true, timesSlashed: true, earned: true, slashed: true, meanSlotMs: true,
} as const;

type HostRow = Prisma.HostGetPayload<{ select: typeof hostSelect }>;

/** A host is online while it says so and has heartbeated lately; silence makes it offline without a word. */
const present = (row: HostRow) => ({
  ...row,
  images: advertisedImagesFrom(row.images),
  online: row.status === 'online' && Date.now() - row.lastSeenAt.getTime() < HOST_OFFLINE_AFTER_MS,
});

/** A host only its own key may act for: another key's call finds nothing (NOT_FOUND), and changes nothing. */
const ownHost = (ctx: Context & { caller: Caller }, id: string) => ({ id, address: { in: [ctx.caller.address, ctx.caller.address.toLowerCase()] } });

/** Wakes waiting work for a host's room without holding up the host's call; a failure is only logged. */
function wakeInBackground(ctx: Context, host: Parameters<typeof wakeWaitingWork>[2], freeSlots: number): void {
  wakeWaitingWork(ctx.temporal, ctx.db, host, freeSlots).catch((err: Error) => console.error(`waking work for host ${host.id} failed: ${err.message}`));
}

export const hostsRouter = router({
  /** A host worker announces itself and what it offers; registering again updates the offer. */
  register: signedProcedure.meta({ openapi: { method: 'POST', path: '/hosts', tags: ['hosts'], summary: 'Register a host and its offer', protect: true, errorResponses: { 403: 'The address is not the signer\'s', 409: 'The host id or the address is registered to another' } } }).output(hostView).input(hostRegistrationSchema).mutation(async ({ ctx, input }) => {
    const { hostId: id, images, ...rest } = input;
    const offer = { ...rest, images: JSON.stringify(images) };
    if (input.address.toLowerCase() !== ctx.caller.address.toLowerCase()) {
      throw new TRPCError({ code: 'FORBIDDEN', message: 'address: must be the address of the key that signs the registration' });
    }
    const existing = await ctx.db.host.findUnique({ where: { id }, select: { address: true } });
    if (existing && existing.address.toLowerCase() !== ctx.caller.address.toLowerCase()) {
      throw new TRPCError({ code: 'CONFLICT', message: `hostId: ${id} is registered to another address` });
    }
    const owner = await ctx.db.host.findUnique({ where: { address: input.address }, select: { id: true } });
    if (owner && owner.id !== id) {
      throw new TRPCError({ code: 'CONFLICT', message: `address: already registered as host ${owner.id}` });
    }
    const now = new Date();
    // The stake is read from the chain, never taken from the host's word.
    const stake = ctx.wallet ? await ctx.wallet.stakeOf(input.address) : '0';
    const registered = await ctx.db.host.upsert({
      where: { id },
      create: { id, ...offer, stake, status: 'online', lastSeenAt: now },
      update: { ...offer, stake, status: 'online', lastSeenAt: now },
    });
    // A host that joins (or comes back) is room for the work waiting for one.
    wakeInBackground(ctx, registered, registered.freeSlots ?? registered.maxSlots);
    return present(await ctx.db.host.findUniqueOrThrow({ where: { id }, select: hostSelect }));
  }),

  /** A draining host finishes its running slots and takes no new work; `leave` marks it gone. */
  setStatus: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/hosts/{hostId}/status', tags: ['hosts'], summary: 'Mark your host draining or offline', protect: true, errorResponses: { 404: 'No host of yours under this id' } } }).output(hostStatusView)
    .input(z.object({ hostId, status: z.enum(['draining', 'offline']) }))
    .mutation(async ({ ctx, input }) => {
      const updated = await ctx.db.host.updateMany({ where: ownHost(ctx, input.hostId), data: { status: input.status } });
      if (updated.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: `hostId: no host ${input.hostId}` });
      return { hostId: input.hostId, status: input.status };
    }),

  /**
   * Liveness: a host that stops calling this is offline after a missed interval and is not matched. It says how many
   * of its slots are free, which matching trusts over the job rows (a row stuck RUNNING would hold a slot forever).
   */
  heartbeat: signedProcedure.meta({ openapi: { method: 'POST', path: '/hosts/{hostId}/heartbeat', tags: ['hosts'], summary: 'Heartbeat of your host', protect: true, errorResponses: { 404: 'No host of yours under this id' } } }).output(heartbeatView)
    .input(z.object({ hostId, freeSlots: z.number().int().min(0).max(1024).optional() }))
    .mutation(async ({ ctx, input }) => {
      const host = await ctx.db.host.findFirst({ where: ownHost(ctx, input.hostId) });
      if (!host) throw new TRPCError({ code: 'NOT_FOUND', message: `hostId: no host ${input.hostId}, register first` });
      const { freeSlots } = input;
      if (freeSlots !== undefined && freeSlots > host.maxSlots) {
        throw new TRPCError({ code: 'BAD_REQUEST', message: `freeSlots: ${freeSlots} is more than the host's maxSlots (${host.maxSlots})` });
      }
      // A heartbeat without them (an older host) leaves matching to count the host's RUNNING rows, not a stale report.
      await ctx.db.host.updateMany({ where: ownHost(ctx, input.hostId), data: { lastSeenAt: new Date(), freeSlots: freeSlots ?? null } });
      // Room that was not there before (a slot freed, or a host back from silence) wakes the work waiting for a host.
      const wasOnline = Date.now() - host.lastSeenAt.getTime() < HOST_OFFLINE_AFTER_MS;
      const free = freeSlots ?? host.maxSlots;
      if (free > (wasOnline ? host.freeSlots ?? host.maxSlots : 0)) wakeInBackground(ctx, host, free);
      return { ok: true };
    }),

  /**
   * A host's Temporal client certificate, `zansoc-host:<hostId>`, for the key pair it made: issued only to the key
   * the host registered with and only while that address has stake on HostRegistry (read from the chain now).
   * Hosts call it at join and again from half the certificate's life.
   */
  certificate: signedProcedure
    .meta({ openapi: { method: 'POST', path: '/hosts/{hostId}/certificate', tags: ['hosts'], summary: 'A Temporal client certificate for your host', protect: true, errorResponses: { 400: 'Not a P-256 public key', 404: 'No host of yours under this id', 412: 'No stake on HostRegistry, or no chain to read it from' } } })
    .output(hostCertificateView)
    .input(z.object({ hostId, publicKey: z.string().min(1).max(4096) }).strict())
    .mutation(async ({ ctx, input }) => {
      const host = await ctx.db.host.findFirst({ where: ownHost(ctx, input.hostId), select: { address: true, status: true } });
      if (!host) throw new TRPCError({ code: 'NOT_FOUND', message: `hostId: no host ${input.hostId}, register first` });
      if (!ctx.hostCertificates) return { tls: false, certificate: null, serverCa: null, serverName: null, notAfter: null };
      if (host.status === 'offline') throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `hostId: ${input.hostId} left the network; register again to join` });
      if (!ctx.wallet) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this API has no chain to read host stakes from (RPC_URL, DEPLOYMENT_FILE)' });
      const stake = await ctx.wallet.stakeOf(host.address);
      if (BigInt(stake) === 0n) {
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `hostId: ${host.address} has no stake on HostRegistry; stake before joining (the host worker stakes STAKE)` });
      }
      try {
        return { tls: true, ...ctx.hostCertificates.issue(input.hostId, input.publicKey) };
      } catch (err) {
        if (err instanceof BadPublicKeyError) throw new TRPCError({ code: 'BAD_REQUEST', message: err.message });
        throw err;
      }
    }),

  list: publicProcedure.meta({ openapi: { method: 'GET', path: '/hosts', tags: ['hosts'], summary: 'Every host', protect: false } }).output(z.array(hostView)).input(z.object({}).optional()).query(async ({ ctx }) => (await ctx.db.host.findMany({ orderBy: { id: 'asc' }, select: hostSelect })).map(present)),

  get: publicProcedure.meta({ openapi: { method: 'GET', path: '/hosts/{hostId}', tags: ['hosts'], summary: 'One host: offer, reputation, earnings', protect: false, errorResponses: { 404: 'No host under this id' } } }).output(hostView).input(z.object({ hostId })).query(async ({ ctx, input }) => {
    const row = await ctx.db.host.findUnique({ where: { id: input.hostId }, select: hostSelect });
    if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `hostId: no host ${input.hostId}` });
    return present(row);
  }),
});
