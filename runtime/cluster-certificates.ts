import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createCertificateAuthorityPem, issueClientCertificate, issueServerCertificate, type Issuer } from './x509';

/**
 * The certificates of a Temporal deployment with mTLS everywhere (docker-compose.yml's `certificates` service runs
 * this once into its `tls` volume), made with node:crypto alone:
 *
 *   ca.pem / ca.key                   the operator's CA: the frontend's certificate and every role's but the hosts'
 *   host-ca.pem / host-ca.key         the host CA the API certifies hosts with at join (the server's --host-ca-file)
 *   internode-ca.pem                  the services' own CA, which no client certificate comes from
 *   frontend.pem, internode.pem       server certificates for `serverNames` (and the services' internode client)
 *   system-worker, orchestrator, api, operator (.pem / .key)   client certificates, each CommonName an identity
 *   task-token.key                    the frontend's secret that binds task tokens to hosts
 *
 * What exists is kept (a restart changes nothing); files are readable by their owner only, and owned by `owner`
 * (uid:gid, e.g. the Temporal image's 65534) when run as root.
 */
export interface ClusterCertificateOptions {
  serverNames: string[];
  ipAddresses: string[];
  days: number;
  owner?: { uid: number; gid: number };
}

const CLIENTS = { 'system-worker': 'zansoc-system-worker', orchestrator: 'zansoc-orchestrator', api: 'zansoc-api:api', operator: 'zansoc-operator:admin' };

export function ensureClusterCertificates(dir: string, opts: ClusterCertificateOptions): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  const write = (name: string, data: string | Buffer) => {
    const file = join(dir, name);
    writeFileSync(`${file}.partial`, data, { mode: 0o600 });
    if (opts.owner && process.getuid?.() === 0) chownSync(`${file}.partial`, opts.owner.uid, opts.owner.gid);
    renameSync(`${file}.partial`, file);
    made.push(name);
  };
  const has = (name: string) => existsSync(join(dir, name));
  const notAfter = new Date(Date.now() + opts.days * 86400_000);
  const validity = { notBefore: new Date(Date.now() - 5 * 60_000), notAfter };
  const ca = (base: string, commonName: string): Issuer => {
    if (!has(`${base}.pem`) || !has(`${base}.key`)) {
      const made = createCertificateAuthorityPem(commonName, notAfter);
      write(`${base}.key`, made.keyPem);
      write(`${base}.pem`, made.certificatePem);
    }
    return { certificatePem: readFileSync(join(dir, `${base}.pem`), 'utf8'), keyPem: readFileSync(join(dir, `${base}.key`), 'utf8') };
  };
  const leaf = (base: string, issue: (publicKey: ReturnType<typeof generateKeyPairSync>['publicKey']) => string) => {
    if (has(`${base}.pem`) && has(`${base}.key`)) return;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    write(`${base}.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    write(`${base}.pem`, issue(publicKey));
  };
  const operatorCa = ca('ca', 'Zansoc cluster CA');
  const internodeCa = ca('internode-ca', 'Zansoc internode CA');
  ca('host-ca', 'Zansoc host CA');
  const server = { dnsNames: opts.serverNames, ipAddresses: opts.ipAddresses, ...validity };
  leaf('frontend', (publicKey) => issueServerCertificate(operatorCa, { commonName: 'zansoc-frontend', publicKey, ...server }));
  leaf('internode', (publicKey) => issueServerCertificate(internodeCa, { commonName: 'zansoc-internode', publicKey, ...server }));
  for (const [base, commonName] of Object.entries(CLIENTS)) leaf(base, (publicKey) => issueClientCertificate(operatorCa, { commonName, publicKey, ...validity }));
  if (!has('task-token.key')) write('task-token.key', randomBytes(32));
  if (opts.owner && process.getuid?.() === 0) chownSync(dir, opts.owner.uid, opts.owner.gid);
  return made;
}

/** `node --require tsx/cjs runtime/cluster-certificates.ts <dir>`: TLS_SERVER_NAMES, TLS_IP_ADDRESSES, TLS_DAYS, TLS_OWNER. */
if (require.main === module) {
  const dir = resolve(process.argv[2] ?? './tls');
  const list = (value: string | undefined, fallback: string) => (value ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
  const owner = process.env.TLS_OWNER?.match(/^(\d+):(\d+)$/);
  const made = ensureClusterCertificates(dir, {
    serverNames: list(process.env.TLS_SERVER_NAMES, 'temporal,localhost'),
    ipAddresses: list(process.env.TLS_IP_ADDRESSES, '127.0.0.1'),
    days: Number(process.env.TLS_DAYS ?? 365),
    owner: owner ? { uid: Number(owner[1]), gid: Number(owner[2]) } : undefined,
  });
  console.log(made.length ? `made ${made.join(', ')} in ${dir}` : `the certificates in ${dir} are all there`);
}
