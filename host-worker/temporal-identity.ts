import { generateKeyPairSync, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiClient } from '../api/client';
import type { TemporalTls } from '../runtime/temporal';

/**
 * The host's identity on Temporal: a P-256 key pair made on this machine (its private key never leaves it) and the
 * short-lived client certificate the API's host CA issues for it once the host has registered with its stake. The
 * certificate names `zansoc-host:<hostId>`, and Zansoc's Temporal server lets it poll and answer `host.<hostId>`
 * and nothing else.
 */
export const TEMPORAL_KEY_FILE = 'temporal-client.key';

export interface TemporalIdentity {
  /** The connection's mTLS, or undefined where the network's Temporal takes plaintext (the dev server). */
  tls: TemporalTls | undefined;
  notAfterMs: number | null;
  /** When to ask for the next certificate: half the certificate's life. */
  renewAtMs: number | null;
}

/** The host's Temporal key in `dataDir`, made on first use (PKCS#8 PEM, readable by its owner only). */
export function loadOrCreateTemporalKey(dataDir: string): { privateKeyPem: string; publicKeyPem: string } {
  const file = join(dataDir, TEMPORAL_KEY_FILE);
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(`${file}.partial`, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    renameSync(`${file}.partial`, file);
  }
  const privateKeyPem = readFileSync(file, 'utf8');
  const publicKeyPem = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }) as string;
  return { privateKeyPem, publicKeyPem };
}

/** Asks the API's host CA for a certificate of this host's Temporal key. */
export async function certifyHost(api: ApiClient, hostId: string, key: { privateKeyPem: string; publicKeyPem: string }, nowMs = Date.now()): Promise<TemporalIdentity> {
  const issued = await api.hosts.certificate.mutate({ hostId, publicKey: key.publicKeyPem });
  if (!issued.tls) return { tls: undefined, notAfterMs: null, renewAtMs: null };
  const notAfterMs = Date.parse(issued.notAfter!);
  return {
    tls: {
      serverRootCACertificate: Buffer.from(issued.serverCa!),
      serverNameOverride: issued.serverName!,
      clientCertPair: { crt: Buffer.from(issued.certificate!), key: Buffer.from(key.privateKeyPem) },
    },
    notAfterMs,
    renewAtMs: nowMs + (notAfterMs - nowMs) / 2,
  };
}
