import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueClientCertificate } from './x509';

/** A CA made by openssl, as an operator would make one: the issued certificate must verify against it in openssl too. */
function opensslCa(dir: string, name: string) {
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca.key');
  execFileSync('openssl', ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/O=Zansoc/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  return { certFile, keyFile, certificatePem: execFileSync('cat', [certFile], { encoding: 'utf8' }), keyPem: execFileSync('cat', [keyFile], { encoding: 'utf8' }) };
}

describe('issueClientCertificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'x509-'));
  const ca = opensslCa(dir, 'Zansoc host CA');
  const holder = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 3600_000);
  const pem = issueClientCertificate(ca, {
    commonName: 'zansoc-host:h-1', publicKey: holder.publicKey.export({ type: 'spki', format: 'pem' }), notBefore, notAfter,
  });

  it('names the holder, carries its key and is signed by the CA (Node reads it)', () => {
    const cert = new X509Certificate(pem);
    expect(cert.subject).toBe('O=Zansoc\nCN=zansoc-host:h-1');
    expect(cert.issuer).toBe(new X509Certificate(ca.certificatePem).subject);
    expect(cert.checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(holder.publicKey.export({ type: 'spki', format: 'der' }));
    expect(cert.ca).toBe(false);
    // The holder's key as a KeyObject gives the same certificate subject and key.
    const again = new X509Certificate(issueClientCertificate(ca, { commonName: 'zansoc-host:h-1', publicKey: holder.publicKey, notBefore, notAfter }));
    expect(again.publicKey.export({ type: 'spki', format: 'der' })).toEqual(cert.publicKey.export({ type: 'spki', format: 'der' }));
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(new Date(cert.validTo).getTime()).toBe(Math.floor(notAfter.getTime() / 1000) * 1000);
  });

  it('verifies as a TLS client certificate in openssl, an implementation we did not write', () => {
    const certFile = join(dir, 'leaf.pem');
    writeFileSync(certFile, pem);
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', ca.certFile, certFile], { encoding: 'utf8' });
    expect(out.trim()).toBe(`${certFile}: OK`);
    const text = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toMatch(/TLS Web Client Authentication/);
    expect(text).toMatch(/Digital Signature/);
  });

  it('refuses a CA key that is not P-256', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => issueClientCertificate({ certificatePem: ca.certificatePem, keyPem: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string },
      { commonName: 'x', publicKey: holder.publicKey, notBefore, notAfter })).toThrow(/P-256/);
  });
});
