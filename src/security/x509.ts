// Minimal X.509 issuing with node:crypto (which can make keys and sign, but not build certificates):
// a self-signed CA and server certificates it signs, ECDSA P-256, DER built by hand. Enough for a
// control plane to serve HTTPS to the Kubernetes API server (the injection webhook) without an
// external tool. Reading certificates is left to node:crypto's X509Certificate.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';

// ---- DER ------------------------------------------------------------------------------------

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octets = (content: Buffer) => tlv(0x04, content);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const bool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);
/** A BIT STRING of whole bytes, or of `unused` trailing zero bits (named-bit lists). */
const bits = (content: Buffer, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), content]));

/** A non-negative INTEGER from big-endian bytes: leading zeros dropped, a 0x00 added when the top bit is set. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const out = [40 * first + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) chunk.unshift((value & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

// ---- Certificates ---------------------------------------------------------------------------

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extendedKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

const name = (commonName: string) => sequence(set(sequence(oid(OID.commonName), utf8(commonName))));
const extension = (id: string, critical: boolean, value: Buffer) => sequence(oid(id), ...(critical ? [bool(true)] : []), octets(value));

export interface IssuedCertificate {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

interface Signer {
  commonName: string;
  key: KeyObject;
  keyId: Buffer;
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function keyIdOf(publicKey: KeyObject): Buffer {
  return createHash('sha1')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest();
}

function certificate(options: {
  subject: string;
  publicKey: KeyObject;
  issuer: Signer;
  validDays: number;
  extensions: Buffer[];
  now: Date;
}): Buffer {
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  // A little slack before now, for API servers whose clock runs behind ours.
  const notBefore = new Date(options.now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(options.now.getTime() + options.validDays * 24 * 60 * 60 * 1000);
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name(options.issuer.commonName),
    sequence(time(notBefore), time(notAfter)),
    name(options.subject),
    options.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      sequence(
        ...options.extensions,
        extension(OID.subjectKeyIdentifier, false, octets(keyIdOf(options.publicKey))),
        extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, options.issuer.keyId))),
      ),
    ),
  );
  return sequence(tbs, algorithm, bits(sign('sha256', tbs, options.issuer.key)));
}

export interface CertificateAuthority extends IssuedCertificate {
  /** Issues a server certificate for these DNS names (the first is also its common name). */
  issueServer(dnsNames: string[], validDays?: number, now?: Date): IssuedCertificate;
}

/** A new self-signed CA (ECDSA P-256) valid for `validDays`. */
export function createCertificateAuthority(commonName: string, validDays = 3650, now = new Date()): CertificateAuthority {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signer: Signer = { commonName, key: privateKey, keyId: keyIdOf(publicKey) };
  const der = certificate({
    subject: commonName,
    publicKey,
    issuer: signer,
    validDays,
    now,
    extensions: [
      extension(OID.basicConstraints, true, sequence(bool(true))),
      // digitalSignature, keyCertSign, cRLSign: bits 0, 5, 6 (one unused bit).
      extension(OID.keyUsage, true, bits(Buffer.from([0x86]), 1)),
    ],
  });
  return authority(signer, pem('CERTIFICATE', der), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
}

/** A CA made earlier (by createCertificateAuthority), from its PEM certificate and key, to issue more certificates. */
export function loadCertificateAuthority(certPem: string, keyPem: string): CertificateAuthority {
  const cert = new X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  if (!cert.ca) throw new Error('the certificate is not a CA');
  if (!cert.checkPrivateKey(key)) throw new Error("the key is not the CA certificate's key");
  const commonName = /^CN=(.*)$/m.exec(cert.subject)?.[1];
  if (commonName === undefined) throw new Error('the CA certificate has no common name');
  return authority({ commonName, key, keyId: keyIdOf(cert.publicKey) }, certPem, keyPem);
}

function authority(signer: Signer, cert: string, key: string): CertificateAuthority {
  return {
    cert,
    key,
    issueServer(dnsNames, validDays = 365, now = new Date()) {
      if (dnsNames.length === 0) throw new Error('a server certificate needs at least one DNS name');
      const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const der = certificate({
        subject: dnsNames[0],
        publicKey: pair.publicKey,
        issuer: signer,
        validDays,
        now,
        extensions: [
          extension(OID.basicConstraints, true, sequence()),
          // digitalSignature only: bit 0 (seven unused bits).
          extension(OID.keyUsage, true, bits(Buffer.from([0x80]), 7)),
          extension(OID.extendedKeyUsage, false, sequence(oid(OID.serverAuth))),
          extension(OID.subjectAltName, false, sequence(...dnsNames.map((dns) => tlv(0x82, Buffer.from(dns, 'ascii'))))),
        ],
      });
      return { cert: pem('CERTIFICATE', der), key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
    },
  };
}
