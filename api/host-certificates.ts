import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { issueClientCertificate, type Issuer } from '../runtime/x509';

/**
 * The host CA the API runs: it certifies a host for Temporal once the host has proved its key (a signed request)
 * and its stake (read from HostRegistry), with a certificate named `zansoc-host:<hostId>` that lives a few hours and
 * is renewed while the host heartbeats. Zansoc's Temporal server lets such a certificate poll and answer the host's
 * own queue and nothing else, and takes no other identity from this CA, so this key can mint hosts and nothing more.
 */
export interface HostCertificates {
  issue(hostId: string, publicKeyPem: string, nowMs?: number): IssuedHostCertificate;
}

export interface IssuedHostCertificate {
  /** The host's client certificate, PEM. */
  certificate: string;
  /** The CA the Temporal frontend's certificate comes from: what the host trusts. */
  serverCa: string;
  /** The name the frontend's certificate carries. */
  serverName: string;
  notAfter: string;
}

/** A refused public key: the message names what is wrong with it. */
export class BadPublicKeyError extends Error {}

/** Allowed clock skew: a certificate is valid from a little before it was issued. */
const BACKDATE_MS = 5 * 60_000;

export function createHostCertificates(opts: { caCertFile: string; caKeyFile: string; serverCaFile: string; serverName: string; lifetimeHours: number }): HostCertificates {
  const issuer: Issuer = { certificatePem: readFileSync(opts.caCertFile, 'utf8'), keyPem: readFileSync(opts.caKeyFile, 'utf8') };
  const serverCa = readFileSync(opts.serverCaFile, 'utf8');
  const caValidTo = new Date(new X509Certificate(issuer.certificatePem).validTo).getTime();
  return {
    issue(hostId, publicKeyPem, nowMs = Date.now()) {
      let publicKey;
      try {
        publicKey = createPublicKey(publicKeyPem);
      } catch {
        throw new BadPublicKeyError('publicKey: not a PEM public key (SPKI, "-----BEGIN PUBLIC KEY-----")');
      }
      if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new BadPublicKeyError(`publicKey: must be an ECDSA P-256 key, not ${publicKey.asymmetricKeyType}${publicKey.asymmetricKeyDetails?.namedCurve ? ` ${publicKey.asymmetricKeyDetails.namedCurve}` : ''}`);
      }
      // Never past the CA's own life: a chain with an expired CA fails anyway.
      const notAfter = new Date(Math.min(nowMs + opts.lifetimeHours * 3600_000, caValidTo));
      const certificate = issueClientCertificate(issuer, { commonName: `zansoc-host:${hostId}`, publicKey, notBefore: new Date(nowMs - BACKDATE_MS), notAfter });
      return { certificate, serverCa, serverName: opts.serverName, notAfter: notAfter.toISOString() };
    },
  };
}
