import type { FastifyInstance } from 'fastify';
import { HOST_OFFLINE_AFTER_MS } from '../activities/db';
import type { Database } from '../db/client';
import type { ApiMetrics } from '../metrics/registry';
import { appRouter } from './routers';

const PROCEDURES = new Set(Object.keys(appRouter._def.procedures));

/** Which procedure (or route) a request was, with bounded label values. */
function procedureOf(url: string): string {
  const path = url.split('?')[0];
  if (path.startsWith('/trpc/')) {
    const name = path.slice('/trpc/'.length);
    return PROCEDURES.has(name) ? name : 'trpc:unknown';
  }
  if (path.startsWith('/api/')) return 'openapi';
  if (path.startsWith('/blobs/')) return 'blobs';
  if (path.startsWith('/docs')) return 'docs';
  return ['/healthz', '/readyz', '/metrics', '/openapi.json'].includes(path) ? path.slice(1) : 'other';
}

/** Counts every request and serves /metrics; the job, deal and host gauges are read from the database at scrape time. */
export function registerApiMetrics(server: FastifyInstance, metrics: ApiMetrics, db: Database): void {
  server.addHook('onResponse', async (request, reply) => {
    const procedure = procedureOf(request.url);
    metrics.requests.inc({ procedure, method: request.method, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ procedure }, reply.elapsedTime / 1000);
  });
  server.get('/metrics', async (_req, reply) => {
    const [states, dealStates, active, hosts] = await Promise.all([
      db.job.groupBy({ by: ['state'], _count: { _all: true } }),
      db.deal.groupBy({ by: ['state'], _count: { _all: true } }),
      db.deal.findMany({ where: { state: 'ACTIVE' }, select: { sizeBytes: true, replicas: true } }),
      db.host.findMany({
        where: { status: 'online', lastSeenAt: { gte: new Date(Date.now() - HOST_OFFLINE_AFTER_MS) } },
        select: { cpus: true, memoryMiB: true, diskMiB: true, gpus: true, maxSlots: true },
      }),
    ]);
    metrics.jobsByState.reset();
    for (const s of states) metrics.jobsByState.set({ state: s.state }, s._count._all);
    metrics.dealsByState.reset();
    for (const s of dealStates) metrics.dealsByState.set({ state: s.state }, s._count._all);
    // What active deals keep on hosts: every replica of every chunk.
    metrics.storedBytes.set(active.reduce((total, d) => total + Number(d.sizeBytes) * d.replicas, 0));
    metrics.hostsOnline.set(hosts.length);
    const sum = (pick: (h: (typeof hosts)[number]) => number) => hosts.reduce((total, h) => total + pick(h), 0);
    metrics.networkCapacity.set({ resource: 'cpu' }, sum((h) => h.cpus));
    metrics.networkCapacity.set({ resource: 'memory_mib' }, sum((h) => h.memoryMiB));
    metrics.networkCapacity.set({ resource: 'disk_mib' }, sum((h) => h.diskMiB));
    metrics.networkCapacity.set({ resource: 'gpu' }, sum((h) => h.gpus));
    metrics.networkCapacity.set({ resource: 'slots' }, sum((h) => h.maxSlots));
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
