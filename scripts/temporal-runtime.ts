import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Workers log at WARN unless TEMPORAL_LOG_LEVEL says otherwise: the SDK's INFO lines (bundle stats) drown the rest.
 * The SDK's own SIGINT/SIGTERM handling is off: each process drains in its own order (tell the API, then stop).
 */
export function installWorkerRuntime(): void {
  const level = (process.env.TEMPORAL_LOG_LEVEL ?? 'WARN') as 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  Runtime.install({ logger: new DefaultLogger(level), shutdownSignals: [] });
}
