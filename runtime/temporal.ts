import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Workers log at WARN unless TEMPORAL_LOG_LEVEL says otherwise: the SDK's INFO lines (bundle stats) drown the rest.
 * The SDK's own SIGINT/SIGTERM handling is off: each process drains in its own order (tell the API, then stop).
 */
export function installWorkerRuntime(temporalMetricsAddress?: string): void {
  const level = (process.env.TEMPORAL_LOG_LEVEL ?? 'WARN') as 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  Runtime.install({
    logger: new DefaultLogger(level),
    shutdownSignals: [],
    // The SDK's own metrics (workflow and activity task latency, slots, polls) in Prometheus format.
    // Prometheus naming: counters end in _total, durations in seconds with the unit in the name.
    ...(temporalMetricsAddress ? {
      telemetryOptions: {
        metrics: { prometheus: { bindAddress: temporalMetricsAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
      },
    } : {}),
  });
}
