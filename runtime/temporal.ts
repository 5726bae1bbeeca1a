import { readFileSync } from 'node:fs';
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

/** The `tls` option of Connection.connect and NativeConnection.connect. */
export interface TemporalTls {
  serverRootCACertificate: Buffer;
  serverNameOverride: string;
  clientCertPair: { crt: Buffer; key: Buffer };
}

/** The connection's mTLS from a role's TEMPORAL_TLS_* files (domain/env.ts temporalTlsEnv), or none when unset. */
export function temporalTlsFrom(env: {
  TEMPORAL_TLS_CA_FILE?: string; TEMPORAL_TLS_CERT_FILE?: string; TEMPORAL_TLS_KEY_FILE?: string; TEMPORAL_TLS_SERVER_NAME: string;
}): TemporalTls | undefined {
  if (!env.TEMPORAL_TLS_CA_FILE || !env.TEMPORAL_TLS_CERT_FILE || !env.TEMPORAL_TLS_KEY_FILE) return undefined;
  return {
    serverRootCACertificate: readFileSync(env.TEMPORAL_TLS_CA_FILE),
    serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME,
    clientCertPair: { crt: readFileSync(env.TEMPORAL_TLS_CERT_FILE), key: readFileSync(env.TEMPORAL_TLS_KEY_FILE) },
  };
}
