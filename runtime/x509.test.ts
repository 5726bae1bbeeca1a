import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { connect, createServer } from 'node:tls';
import { createCertificateAuthorityPem, issueClientCertificate, issueServerCertificate } from './x509';

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

describe('a CA and a server certificate made here', () => {
  const dir = mkdtempSync(join(tmpdir(), 'x509-ca-'));
  const ca = createCertificateAuthorityPem('Zansoc cluster CA', new Date(Date.now() + 86400_000));
  const serverKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const clientKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const validity = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000) };
  const serverPem = issueServerCertificate(ca, { commonName: 'zansoc-frontend', publicKey: serverKey.publicKey, dnsNames: ['temporal', 'localhost'], ipAddresses: ['127.0.0.1'], ...validity });
  const clientPem = issueClientCertificate(ca, { commonName: 'zansoc-orchestrator', publicKey: clientKey.publicKey, ...validity });
  const files = { ca: join(dir, 'ca.pem'), server: join(dir, 'server.pem') };
  writeFileSync(files.ca, ca.certificatePem);
  writeFileSync(files.server, serverPem);

  it('is a CA openssl takes, and the server certificate verifies for its names and address', () => {
    const caText = execFileSync('openssl', ['x509', '-in', files.ca, '-noout', '-text'], { encoding: 'utf8' });
    expect(caText).toMatch(/CA:TRUE, pathlen:0/);
    expect(caText).toMatch(/Certificate Sign, CRL Sign/);
    for (const check of [['-verify_hostname', 'temporal'], ['-verify_hostname', 'localhost'], ['-verify_ip', '127.0.0.1']]) {
      const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', ...check, '-CAfile', files.ca, files.server], { encoding: 'utf8' });
      expect(out.trim()).toBe(`${files.server}: OK`);
    }
    expect(() => execFileSync('openssl', ['verify', '-verify_hostname', 'elsewhere', '-CAfile', files.ca, files.server], { stdio: 'pipe' })).toThrow();
  });

  it('carries a mutual TLS handshake in Node: the server sees the client\'s CommonName', async () => {
    const server = createServer({ key: serverKey.privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: serverPem, ca: ca.certificatePem, requestCert: true, rejectUnauthorized: true },
      (socket) => socket.end(String(socket.getPeerCertificate().subject.CN)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const socket = connect({ host: '127.0.0.1', port, servername: 'temporal', ca: ca.certificatePem, cert: clientPem, key: clientKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) });
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      await once(socket, 'end');
      expect(data).toBe('zansoc-orchestrator');
    } finally {
      server.close();
    }
  });
});
