import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';

/**
 * Just enough X.509 to issue a client certificate for a public key someone else holds: DER encoding of a v3
 * TBSCertificate (RFC 5280 §4.1), signed ECDSA-with-SHA256 by a P-256 CA key through node:crypto. Node can read and
 * verify certificates (X509Certificate) but not issue them; this issues the one shape Zansoc needs, and the
 * tests check the result with Node, openssl and the Go TLS stack of Zansoc's Temporal server.
 */

const tlv = (tag: number, body: Buffer): Buffer => {
  const n = body.length;
  const length = n < 0x80 ? Buffer.from([n])
    : n < 0x100 ? Buffer.from([0x81, n])
    : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff])
    : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
};
const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, body: Buffer) => tlv(0xa0 + n, body);
const octetString = (body: Buffer) => tlv(0x04, body);
/** A BIT STRING of `body`, whose last `unusedBits` bits are padding (DER: a named-bit list drops trailing zeros). */
const bitString = (body: Buffer, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), body]));
const boolean = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));

/** A positive INTEGER from big-endian bytes: leading zeros dropped, one added where the top bit is set. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime through 2049, GeneralizedTime after, to the second (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
};

/** A Name of O and CN. */
const name = (organization: string, commonName: string) => sequence(
  set(sequence(oid(OID.organization), utf8(organization))),
  set(sequence(oid(OID.commonName), utf8(commonName))),
);

const extension = (id: string, critical: boolean, value: Buffer) =>
  sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));

export interface ClientCertificateRequest {
  /** The Subject CommonName, e.g. `zansoc-host:h1`. */
  commonName: string;
  /** The holder's public key (any form node:crypto's createPublicKey reads: SPKI PEM, DER, a KeyObject). */
  publicKey: string | Buffer | KeyObject;
  notBefore: Date;
  notAfter: Date;
}

export interface Issuer {
  /** The CA certificate, PEM. */
  certificatePem: string;
  /** The CA's P-256 private key, PEM. */
  keyPem: string;
}

/**
 * Issues a client-authentication certificate (CA:FALSE, digitalSignature, extendedKeyUsage clientAuth) for
 * `request.publicKey`, signed by `issuer`. Returns it as PEM.
 */
export function issueClientCertificate(issuer: Issuer, request: ClientCertificateRequest): string {
  return issueCertificate(issuer, { ...request, usage: 'client' });
}

/**
 * Issues a server certificate for the names and addresses a service is dialled by (subjectAltName), usable as a
 * client too (extendedKeyUsage serverAuth and clientAuth), as Temporal's internode TLS wants.
 */
export function issueServerCertificate(issuer: Issuer, request: ClientCertificateRequest & { dnsNames: string[]; ipAddresses: string[] }): string {
  return issueCertificate(issuer, { ...request, usage: 'server' });
}

/** A new self-signed P-256 certificate authority (CA:TRUE, path length 0: it signs leaves only). */
export function createCertificateAuthorityPem(commonName: string, notAfter: Date, notBefore = new Date(Date.now() - BACKDATE_MS)): Issuer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const subject = name('Zansoc', commonName);
  const extensions = [
    extension(OID.basicConstraints, true, sequence(boolean(true), integer(Buffer.from([0])))),
    extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
    extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
  ];
  const certificatePem = signTbs(privateKey, subject, subject, spki, notBefore, notAfter, extensions);
  return { certificatePem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** Clock skew allowed for a new CA: valid from a little before it was made. */
const BACKDATE_MS = 5 * 60_000;

function issueCertificate(issuer: Issuer, request: ClientCertificateRequest & { usage: 'client' | 'server'; dnsNames?: string[]; ipAddresses?: string[] }): string {
  const ca = new X509Certificate(issuer.certificatePem);
  const caKey = createPrivateKey(issuer.keyPem);
  if (caKey.asymmetricKeyType !== 'ec' || caKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('the certificate authority key must be an ECDSA P-256 key');
  }
  const holderKey = request.publicKey instanceof KeyObject && request.publicKey.type === 'public' ? request.publicKey : createPublicKey(request.publicKey);
  const spki = holderKey.export({ type: 'spki', format: 'der' });
  const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const extensions = [
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
    extension(OID.extendedKeyUsage, false, sequence(...(request.usage === 'server' ? [oid(OID.serverAuth)] : []), oid(OID.clientAuth))),
    ...(request.usage === 'server' ? [extension(OID.subjectAltName, false, sequence(
      ...(request.dnsNames ?? []).map((dns) => tlv(0x82, Buffer.from(dns, 'ascii'))),
      ...(request.ipAddresses ?? []).map((ip) => tlv(0x87, Buffer.from(ip.split('.').map(Number)))),
    ))] : []),
    extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
    extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, keyIdentifier(caSpki)))),
  ];
  const pem = signTbs(caKey, issuerNameDer(ca), name('Zansoc', request.commonName), spki, request.notBefore, request.notAfter, extensions);
  if (!new X509Certificate(pem).verify(ca.publicKey)) throw new Error('the issued certificate does not verify against its CA');
  return pem;
}

/** Builds the TBSCertificate, signs it ECDSA-with-SHA256 with `signingKey`, and returns the certificate as PEM. */
function signTbs(signingKey: KeyObject, issuerName: Buffer, subject: Buffer, spki: Buffer, notBefore: Date, notAfter: Date, extensions: Buffer[]): string {
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  // 20 random bytes with the top bit clear: unique and positive (RFC 5280 §4.1.2.2).
  const serial = randomBytes(20);
  serial[0] &= 0x7f;
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    issuerName,
    sequence(time(notBefore), time(notAfter)),
    subject,
    spki,
    explicit(3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, signingKey); // DER ECDSA-Sig-Value, as X.509 wants it
  const der = sequence(tbs, algorithm, bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** The key identifier of RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spkiDer: Buffer): Buffer {
  // The SPKI is SEQUENCE { AlgorithmIdentifier, BIT STRING }: the BIT STRING is its last element.
  const bits = lastElement(spkiDer);
  return createHash('sha1').update(bits.subarray(1)).digest(); // without the unused-bits byte
}

/** The body of the last element of a DER SEQUENCE. */
function lastElement(der: Buffer): Buffer {
  let offset = headerLength(der, 0);
  let body: Buffer = Buffer.alloc(0);
  while (offset < der.length) {
    const header = headerLength(der, offset);
    const length = bodyLength(der, offset);
    body = der.subarray(offset + header, offset + header + length);
    offset += header + length;
  }
  return body;
}

function headerLength(der: Buffer, offset: number): number {
  const first = der[offset + 1];
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}

function bodyLength(der: Buffer, offset: number): number {
  const first = der[offset + 1];
  if (first < 0x80) return first;
  let n = 0;
  for (let i = 0; i < (first & 0x7f); i++) n = n * 256 + der[offset + 2 + i];
  return n;
}

/**
 * The issuer's Subject exactly as its certificate encodes it: the issued certificate's Issuer must match it byte for
 * byte for chain building. It is the sixth element of the CA's TBSCertificate (after version, serial, algorithm,
 * issuer, validity).
 */
function issuerNameDer(ca: X509Certificate): Buffer {
  const der = ca.raw;
  const tbsStart = headerLength(der, 0);
  let offset = tbsStart + headerLength(der, tbsStart);
  const elements: Buffer[] = [];
  while (elements.length < 6) {
    const length = headerLength(der, offset) + bodyLength(der, offset);
    elements.push(der.subarray(offset, offset + length));
    offset += length;
  }
  // With a version field ([0]) the subject is the sixth element; without it (v1) the fifth.
  return elements[0][0] === 0xa0 ? elements[5] : elements[4];
}
