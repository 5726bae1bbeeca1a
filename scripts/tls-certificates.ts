import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Certificates for a Temporal cluster's mTLS, made with openssl (ECDSA P-256). A certificate authority signs server
 * certificates (for loopback addresses) and client certificates whose Subject CommonName is a Zansoc identity
 * (temporal-server/identity.go).
 */
export interface CertificateFiles {
  /** The Subject CommonName. */
  commonName: string;
  certFile: string;
  keyFile: string;
}

export interface CertificateAuthority extends CertificateFiles {
  /** The CA certificate, PEM. */
  pem: Buffer;
  /** Signs a client certificate (extended key usage clientAuth) for `commonName`. */
  issueClient(commonName: string): CertificateFiles;
  /** Signs a certificate for 127.0.0.1 and localhost, usable as server and, for internode mTLS, as client. */
  issueServer(commonName: string): CertificateFiles;
}

/** The PEM pair @temporalio/client and @temporalio/worker take as `clientCertPair`. */
export const certPair = (cert: CertificateFiles): { crt: Buffer; key: Buffer } =>
  ({ crt: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) });

const DAYS = '30';
let serial = 0;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** openssl's -subj separates fields with '/': one inside a name is escaped. */
const subject = (commonName: string) => `/O=Zansoc/CN=${commonName.replace(/[\\/]/g, '\\$&')}`;

/** A file name for a CommonName: `zansoc-host:h1` → `zansoc-host_h1`. */
const fileName = (commonName: string) => commonName.replace(/[^A-Za-z0-9._-]/g, '_');

/** Creates a self-signed CA in `dir` (created if missing), named `name`. */
export function createCertificateAuthority(dir: string, name: string): CertificateAuthority {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const base = join(dir, fileName(name));
  const ca: CertificateFiles = { commonName: name, certFile: `${base}.pem`, keyFile: `${base}.key` };
  openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', ca.keyFile, '-out', ca.certFile, '-days', DAYS, '-subj', subject(name),
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);

  function issue(commonName: string, extensions: string[]): CertificateFiles {
    const leaf = join(dir, `${fileName(commonName)}.${++serial}`);
    const cert: CertificateFiles = { commonName, certFile: `${leaf}.pem`, keyFile: `${leaf}.key` };
    const extFile = `${leaf}.ext`;
    writeFileSync(extFile, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions, ''].join('\n'));
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', cert.keyFile, '-out', `${leaf}.csr`, '-subj', subject(commonName)]);
    openssl(['x509', '-req', '-in', `${leaf}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(Date.now() * 1000 + serial),
      '-days', DAYS, '-sha256', '-extfile', extFile, '-out', cert.certFile]);
    return cert;
  }

  return {
    ...ca,
    pem: readFileSync(ca.certFile),
    issueClient: (commonName) => issue(commonName, ['extendedKeyUsage=clientAuth']),
    issueServer: (commonName) => issue(commonName, ['extendedKeyUsage=serverAuth,clientAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost']),
  };
}
