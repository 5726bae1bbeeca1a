import { z } from 'zod';

/** Where a process serves something (`host:port`), e.g. its /metrics. */
export const listenAddress = z.string().regex(/^[\w.-]+:\d+$/, 'must be host:port');

/**
 * For `.superRefine`: the test-fixture variable `key` (a cheating host, a crashing orchestrator) is refused unless
 * NODE_ENV is `test`, so no production configuration can turn it on.
 */
export function testFixtureOnly(key: string) {
  return (env: { NODE_ENV?: string } & Record<string, unknown>, ctx: z.RefinementCtx): void => {
    if (env[key] !== undefined && env.NODE_ENV !== 'test') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: 'is a test fixture and only works with NODE_ENV=test' });
    }
  };
}

/**
 * How a role reaches a Temporal server that takes mTLS (Zansoc's own server, temporal-server/): the CA that signed
 * the frontend's certificate, this role's client certificate and key (PEM files; the certificate's CommonName is the
 * role's identity), and the name the frontend's certificate carries. None of them set: a plaintext connection (the
 * dev server of `npm start`).
 */
export const temporalTlsEnv = {
  TEMPORAL_TLS_CA_FILE: z.string().min(1).optional(),
  TEMPORAL_TLS_CERT_FILE: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_FILE: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).default('localhost'),
};

/** For `.superRefine`: the TLS files come together or not at all. */
export function temporalTlsComplete(env: Partial<Record<keyof typeof temporalTlsEnv, string>>, ctx: z.RefinementCtx): void {
  const files = ['TEMPORAL_TLS_CA_FILE', 'TEMPORAL_TLS_CERT_FILE', 'TEMPORAL_TLS_KEY_FILE'] as const;
  const set = files.filter((key) => env[key] !== undefined);
  if (set.length > 0 && set.length < files.length) {
    for (const key of files.filter((k) => env[k] === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: `is needed with ${set.join(' and ')}: mTLS takes the CA, the certificate and its key` });
    }
  }
}
