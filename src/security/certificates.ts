// The project's one X.509 issuer: a CA, and certificates it signs — workload certificates (SPIFFE
// X509-SVIDs: one URI SAN spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>) for
// `switchyard ca`, and server certificates (DNS names, IPs) such as the injection webhook's.
// ECDSA P-256 with SHA-256. Node's crypto makes the keys and the signatures; it has no certificate
// builder, so the few DER structures of RFC 5280 a certificate needs are written here.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

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
const octetString = (content: Buffer) => tlv(0x04, content);
const utf8String = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const booleanTrue = () => tlv(0x01, Buffer.from([0xff]));
/** Context-specific tag `n`, constructed (EXPLICIT). */
const explicit = (n: number, content: Buffer) => tlv(0xa0 | n, content);

/** A non-negative INTEGER from big-endian bytes (a leading zero keeps it positive). */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && bytes[start + 1] < 0x80) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, trimmed[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [parts[0] * 40 + parts[1]];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let rest = part >> 7; rest > 0; rest >>= 7) chunk.unshift((rest & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** BIT STRING of whole bytes (a signature). */
const bitString = (content: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), content]));

/** KeyUsage bits, numbered from the most significant bit of the first byte (RFC 5280 4.2.1.3). */
function keyUsageBits(bits: number[]): Buffer {
  let value = 0;
  for (const bit of bits) value |= 0x80 >> bit;
  let unused = 0;
  while (unused < 7 && (value & (1 << unused)) === 0) unused++;
  return tlv(0x03, Buffer.from([unused, value]));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extendedKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [booleanTrue()] : []), octetString(value));
}

function name(attributes: Array<[string, string]> | Buffer): Buffer {
  if (Buffer.isBuffer(attributes)) return attributes;
  return sequence(...attributes.map(([type, value]) => set(sequence(oid(type), utf8String(value)))));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and write eight 16-bit groups.
  const [head, tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

/** The key identifier of RFC 5280 4.2.1.2 (1): SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: Buffer): Buffer {
  // The SPKI of an EC key ends with the BIT STRING of the public point; its bytes after the
  // unused-bits octet are what is hashed. For P-256 the point is the last 65 bytes.
  return createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
}

// ---- certificates ---------------------------------------------------------------------------

export interface IssuedCertificate {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

export interface CertificateAuthority extends IssuedCertificate {
  /** The SPIFFE trust domain it issues workload identities for, when it is a mesh CA. */
  trustDomain?: string;
}

interface Subject {
  /** The distinguished name: [oid, value] pairs. */
  name: Array<[string, string]>;
  spki: Buffer;
}

interface Signer {
  /** Attributes, or the DER of an existing certificate's subject. */
  name: Array<[string, string]> | Buffer;
  spki: Buffer;
  key: KeyObject;
}

function build(subject: Subject, signer: Signer, notAfter: Date, extensions: Buffer[]): string {
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  // Backdated an hour, so a peer whose clock runs behind (an API server, a workload) still accepts it.
  const notBefore = new Date(Date.now() - 3_600_000);
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm,
    name(signer.name),
    sequence(time(notBefore), time(notAfter)),
    name(subject.name),
    subject.spki,
    explicit(3, sequence(...extensions)),
  );
  // Node signs EC keys as a DER ECDSA-Sig-Value, which is what X.509 wants.
  const signature = sign('sha256', tbs, signer.key);
  const der = sequence(tbs, algorithm, bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

function newKey(): { key: KeyObject; spki: Buffer; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    key: privateKey,
    spki: publicKey.export({ type: 'spki', format: 'der' }),
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

export interface AuthorityRequest {
  /** A mesh CA: it carries the URI SAN spiffe://<trustDomain> and issues only SPIFFE IDs of that domain. */
  trustDomain?: string;
  /** The subject's common name; by default "switchyard root CA <trustDomain>". */
  commonName?: string;
  /** Validity in days (365 by default). */
  days?: number;
}

/** A self-signed root: a mesh CA for a trust domain, or a plain CA named by its common name (e.g. the webhook's). */
export function createCertificateAuthority(request: AuthorityRequest): CertificateAuthority {
  const { trustDomain, days = 365 } = request;
  if (trustDomain !== undefined && !TRUST_DOMAIN.test(trustDomain)) {
    throw new Error(`trust domain "${trustDomain}" is not valid: use lowercase letters, digits, ".", "-" and "_" (e.g. cluster.local)`);
  }
  const commonName = request.commonName ?? (trustDomain !== undefined ? `switchyard root CA ${trustDomain}` : undefined);
  if (commonName === undefined) throw new Error('a CA needs a trust domain or a common name');
  const { key, spki, pem } = newKey();
  const subjectName: Array<[string, string]> = [
    ...(trustDomain !== undefined ? [[OID.organization, trustDomain] as [string, string]] : []),
    [OID.commonName, commonName],
  ];
  const cert = build({ name: subjectName, spki }, { name: subjectName, spki, key }, new Date(Date.now() + days * 86_400_000), [
    extension(OID.basicConstraints, true, sequence(booleanTrue())),
    // digitalSignature, keyCertSign, cRLSign
    extension(OID.keyUsage, true, keyUsageBits([0, 5, 6])),
    extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
    ...(trustDomain !== undefined
      ? [extension(OID.subjectAltName, false, sequence(tlv(0x86, Buffer.from(`spiffe://${trustDomain}`))))]
      : []),
  ]);
  return { cert, key: pem, ...(trustDomain !== undefined ? { trustDomain } : {}) };
}

/** A CA made earlier, from its PEM certificate and key (checked to belong together), to issue more certificates. */
export function loadCertificateAuthority(certPem: string, keyPem: string): CertificateAuthority {
  const cert = new X509Certificate(certPem);
  if (!cert.ca) throw new Error('the certificate is not a CA');
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new Error("the key is not the CA certificate's key");
  const trustDomain = /URI:spiffe:\/\/([^,\s/]+)/.exec(cert.subjectAltName ?? '')?.[1];
  return { cert: certPem, key: keyPem, ...(trustDomain !== undefined ? { trustDomain } : {}) };
}

export interface LeafRequest {
  /** spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>; at most one (X509-SVID). */
  spiffeId?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Validity in days (30 by default), never past the CA's own. */
  days?: number;
  /** Extended key usage: a workload's certificate is both (the default); a server's only serverAuth. */
  usage?: 'server' | 'client' | 'both';
}

const SPIFFE_WORKLOAD = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

/** A certificate signed by `ca`: a workload's (SPIFFE ID) or a server's (DNS names, IPs), for the usage asked. */
export function issueCertificate(ca: IssuedCertificate, request: LeafRequest): IssuedCertificate {
  const dnsNames = request.dnsNames ?? [];
  const ips = request.ipAddresses ?? [];
  if (request.spiffeId === undefined && dnsNames.length === 0 && ips.length === 0) {
    throw new Error('a certificate needs a SPIFFE ID, a DNS name or an IP address');
  }
  const caCert = new X509Certificate(ca.cert);
  if (request.spiffeId !== undefined) {
    const match = SPIFFE_WORKLOAD.exec(request.spiffeId);
    if (!match) throw new Error(`SPIFFE ID "${request.spiffeId}" is not spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`);
    const caDomain = /URI:spiffe:\/\/([^,\s/]+)/.exec(caCert.subjectAltName ?? '')?.[1];
    if (caDomain !== undefined && caDomain !== match[1]) {
      throw new Error(`SPIFFE ID "${request.spiffeId}" is in trust domain "${match[1]}", but this CA is for "${caDomain}"`);
    }
  }
  for (const ip of ips) if (isIP(ip) === 0) throw new Error(`"${ip}" is not an IP address`);
  const caKey = createPrivateKey(ca.key);
  const caSpki = caCert.publicKey.export({ type: 'spki', format: 'der' });
  const { spki, pem } = newKey();
  const names = [
    ...(request.spiffeId ? [tlv(0x86, Buffer.from(request.spiffeId))] : []),
    ...dnsNames.map((dns) => tlv(0x82, Buffer.from(dns))),
    ...ips.map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  const subjectName: Array<[string, string]> = [[OID.commonName, request.spiffeId ?? dnsNames[0] ?? ips[0]]];
  const notAfter = new Date(Math.min(Date.now() + (request.days ?? 30) * 86_400_000, new Date(caCert.validTo).getTime()));
  const cert = build({ name: subjectName, spki }, { name: subjectDer(caCert), spki: caSpki, key: caKey }, notAfter, [
    extension(OID.basicConstraints, true, sequence()),
    // digitalSignature
    extension(OID.keyUsage, true, keyUsageBits([0])),
    extension(OID.extendedKeyUsage, false, sequence(...extendedKeyUsage(request.usage ?? 'both').map(oid))),
    extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
    extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, keyIdentifier(caSpki)))),
    extension(OID.subjectAltName, false, sequence(...names)),
  ]);
  return { cert, key: pem };
}

function extendedKeyUsage(usage: 'server' | 'client' | 'both'): string[] {
  if (usage === 'server') return [OID.serverAuth];
  if (usage === 'client') return [OID.clientAuth];
  return [OID.serverAuth, OID.clientAuth];
}

/** One DER element at `offset`: where its content starts and where it ends. */
function element(der: Buffer, offset: number): { start: number; end: number } {
  const first = der[offset + 1];
  if (first < 0x80) return { start: offset + 2, end: offset + 2 + first };
  const count = first & 0x7f;
  let size = 0;
  for (let i = 0; i < count; i++) size = size * 256 + der[offset + 2 + i];
  return { start: offset + 2 + count, end: offset + 2 + count + size };
}

/** The CA certificate's subject, byte for byte, to be the leaf's issuer (chains are matched on it). */
function subjectDer(caCert: X509Certificate): Buffer {
  const der = caCert.raw;
  const tbs = element(der, element(der, 0).start);
  // tbsCertificate: [0] version, serialNumber, signature, issuer, validity, subject, ...
  let at = tbs.start;
  for (let field = 0; field < 5; field++) at = element(der, at).end;
  return der.subarray(at, element(der, at).end);
}
