import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureClusterCertificates } from './cluster-certificates';

describe('ensureClusterCertificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-certs-'));
  const opts = { serverNames: ['temporal', 'localhost'], ipAddresses: ['127.0.0.1'], days: 2 };
  const made = ensureClusterCertificates(dir, opts);

  it('makes three CAs, the servers\' and every role\'s certificates, and the task-token key, readable by their owner only', () => {
    expect(made.sort()).toEqual(['api', 'ca', 'frontend', 'host-ca', 'internode', 'internode-ca', 'operator', 'orchestrator', 'system-worker']
      .flatMap((base) => [`${base}.key`, `${base}.pem`]).concat('task-token.key').sort());
    for (const name of made) expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'task-token.key')).length).toBe(32);
  });

  it('chains each to its CA in openssl, with the identity in the CommonName', () => {
    const verify = (ca: string, leaf: string, purpose: string) =>
      execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', join(dir, ca), join(dir, leaf)], { encoding: 'utf8' }).trim();
    expect(verify('ca.pem', 'frontend.pem', 'sslserver')).toMatch(/: OK$/);
    expect(verify('internode-ca.pem', 'internode.pem', 'sslserver')).toMatch(/: OK$/);
    for (const role of ['orchestrator', 'api', 'operator', 'system-worker']) expect(verify('ca.pem', `${role}.pem`, 'sslclient')).toMatch(/: OK$/);
    expect(() => verify('host-ca.pem', 'orchestrator.pem', 'sslclient')).toThrow();
    const subject = execFileSync('openssl', ['x509', '-in', join(dir, 'api.pem'), '-noout', '-subject'], { encoding: 'utf8' });
    expect(subject).toMatch(/CN ?= ?zansoc-api:api/);
  });

  it('keeps what exists: a second run makes nothing', () => {
    const before = readFileSync(join(dir, 'ca.pem'), 'utf8');
    expect(ensureClusterCertificates(dir, opts)).toEqual([]);
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe(before);
  });
});
