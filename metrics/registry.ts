import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric Zansoc exports, by process, following Prometheus naming: `zansoc_` prefix, units in the name,
 * `_total` counters, histograms for latencies. Each process makes its own registry; the dashboards test reads the
 * names from here.
 */
/**
 * prom-client's process and Node.js metrics, less the three gauges it names with `_total` (promtool rejects a
 * non-counter named so).
 */
function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(`${prefix}${name}`);
  }
}

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const JOB_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];

export function createApiMetrics(registry = new Registry()) {
  collectProcessMetrics(registry, 'zansoc_api_');
  return {
    registry,
    requests: new Counter({
      name: 'zansoc_api_requests_total', help: 'API requests by procedure, method and HTTP status', labelNames: ['procedure', 'method', 'status'], registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'zansoc_api_request_duration_seconds', help: 'API request latency by procedure', labelNames: ['procedure'], buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    jobsSubmitted: new Counter({ name: 'zansoc_jobs_submitted_total', help: 'Jobs accepted by the API', registers: [registry] }),
    jobsByState: new Gauge({ name: 'zansoc_jobs', help: 'Jobs in the read model by state', labelNames: ['state'], registers: [registry] }),
    dealsByState: new Gauge({ name: 'zansoc_storage_deals', help: 'Storage deals in the read model by state', labelNames: ['state'], registers: [registry] }),
    storedBytes: new Gauge({
      name: 'zansoc_storage_deal_bytes', help: 'Bytes active deals keep on hosts, every replica counted', registers: [registry],
    }),
    hostsOnline: new Gauge({ name: 'zansoc_hosts_online', help: 'Hosts online (heard from lately)', registers: [registry] }),
    networkCapacity: new Gauge({
      name: 'zansoc_network_capacity', help: 'What online hosts offer, by resource (cpu, memory_mib, disk_mib, gpu, slots)', labelNames: ['resource'], registers: [registry],
    }),
  };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;

export function createOrchestratorMetrics(registry = new Registry()) {
  collectProcessMetrics(registry, 'zansoc_orchestrator_');
  return {
    registry,
    activityDuration: new Histogram({
      name: 'zansoc_activity_duration_seconds', help: 'Orchestrator activity latency by activity', labelNames: ['activity'], buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    activityFailures: new Counter({
      name: 'zansoc_activity_failures_total', help: 'Orchestrator activity attempts that failed, by activity', labelNames: ['activity'], registers: [registry],
    }),
    chainDuration: new Histogram({
      name: 'zansoc_chain_transaction_duration_seconds', help: 'Chain steps (read, send, confirm) by operation', labelNames: ['operation'], buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    chainFailures: new Counter({
      name: 'zansoc_chain_transaction_failures_total', help: 'Chain steps that failed, by operation', labelNames: ['operation'], registers: [registry],
    }),
    payouts: new Counter({ name: 'zansoc_payouts_zsc_total', help: 'ZSC paid to hosts (after commission)', registers: [registry] }),
    commission: new Counter({ name: 'zansoc_commission_zsc_total', help: 'ZSC commission paid to the treasury', registers: [registry] }),
    refunds: new Counter({ name: 'zansoc_refunds_zsc_total', help: 'ZSC refunded to clients', registers: [registry] }),
    slashes: new Counter({ name: 'zansoc_slashes_total', help: 'Slashes settled (bond shares taken)', registers: [registry] }),
    slashed: new Counter({ name: 'zansoc_slashed_zsc_total', help: 'ZSC of stake slashed', registers: [registry] }),
    jobsFinished: new Counter({ name: 'zansoc_jobs_finished_total', help: 'Jobs that ended, by final state', labelNames: ['state'], registers: [registry] }),
    submitToRunning: new Histogram({
      name: 'zansoc_job_submit_to_running_seconds', help: 'From the API accepting a job to its first slot running', buckets: JOB_BUCKETS, registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'zansoc_job_duration_seconds', help: 'From the API accepting a job to its end (end to end)', labelNames: ['state'], buckets: JOB_BUCKETS, registers: [registry],
    }),
    disagreements: new Counter({
      name: 'zansoc_verification_disagreements_total', help: 'Slots whose digest lost a vote or a dispute', registers: [registry],
    }),
    challenges: new Counter({ name: 'zansoc_challenges_total', help: 'Disputes decided, by outcome', labelNames: ['outcome'], registers: [registry] }),
    storageProofs: new Counter({
      name: 'zansoc_storage_proofs_total', help: 'Storage proofs checked, by outcome (ok, failed)', labelNames: ['outcome'], registers: [registry],
    }),
    storageRepairs: new Counter({ name: 'zansoc_storage_repairs_total', help: 'Replicas moved to a new host after repeated faults', registers: [registry] }),
    dealsFinished: new Counter({ name: 'zansoc_storage_deals_finished_total', help: 'Storage deals that ended, by final state', labelNames: ['state'], registers: [registry] }),
  };
}
export type OrchestratorMetrics = ReturnType<typeof createOrchestratorMetrics>;

export function createHostMetrics(registry = new Registry()) {
  collectProcessMetrics(registry, 'zansoc_host_process_');
  let usage: (() => { host: string; values: Record<string, number> }) | null = null;
  return {
    registry,
    capacity: new Gauge({ name: 'zansoc_host_capacity', help: 'What this host offers, by resource', labelNames: ['host', 'resource'], registers: [registry] }),
    used: new Gauge({
      name: 'zansoc_host_used', help: 'What running slots hold, by resource', labelNames: ['host', 'resource'], registers: [registry],
      // Read at scrape time from the host's ledger, so it is never stale.
      collect() {
        if (!usage) return;
        const { host, values } = usage();
        for (const [resource, value] of Object.entries(values)) this.set({ host, resource }, value);
      },
    }),
    /** Where `zansoc_host_used` reads from: the host's resource ledger. */
    readUsageFrom(source: () => { host: string; values: Record<string, number> }) {
      usage = source;
    },
    slots: new Counter({ name: 'zansoc_host_slots_total', help: 'Slots this host ran, by outcome', labelNames: ['host', 'outcome'], registers: [registry] }),
    slotDuration: new Histogram({
      name: 'zansoc_host_slot_duration_seconds', help: 'Wall time of a slot on this host', labelNames: ['host'], buckets: JOB_BUCKETS, registers: [registry],
    }),
    storageBytes: new Gauge({
      name: 'zansoc_host_storage_bytes', help: 'Sealed replica bytes this host keeps for storage deals', labelNames: ['host'], registers: [registry],
    }),
  };
}
export type HostMetrics = ReturnType<typeof createHostMetrics>;

/** ZSC from base units, for counters (Prometheus values are floats; the exact amounts stay on chain and in the DB). */
export const zsc = (baseUnits: string | bigint): number => Number(BigInt(baseUnits)) / 1e18;

/** Serves a registry at http://<address>/metrics, for the worker processes that have no HTTP server of their own. */
export function serveMetrics(registry: Registry, address: string): Promise<Server> {
  const [host, port] = address.includes(':') ? [address.slice(0, address.lastIndexOf(':')), address.slice(address.lastIndexOf(':') + 1)] : ['127.0.0.1', address];
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text), (err: Error) => res.writeHead(500).end(err.message));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), host, () => resolve(server));
  });
}
