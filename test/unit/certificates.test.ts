// `switchyard ca`'s certificates: made with Node's crypto and a hand-written DER encoder, so they
// are checked by independent parsers (Node's X509Certificate, the openssl command) and by a real
// mutual-TLS handshake.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueCertificate, loadCertificateAuthority } from '../../src/security/certificates.js';
import { main } from '../../src/cli/main.js';

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } }, {});
  return { code, stdout, stderr };
}

const REVIEWS = 'spiffe://cluster.local/ns/shop/sa/reviews';

describe('switchyard ca certificates', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-ca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const ca = createCertificateAuthority({ trustDomain: 'cluster.local' });
  const workload = issueCertificate(ca, { spiffeId: REVIEWS });
  const server = issueCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });

  it('makes a root CA and a workload certificate that chains to it, with exactly the SPIFFE ID as URI SAN', () => {
    const root = new X509Certificate(ca.cert);
    const leaf = new X509Certificate(workload.cert);
    expect(root.ca).toBe(true);
    expect(root.checkIssued(root)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe(`URI:${REVIEWS}`);
    expect(leaf.checkPrivateKey(createPrivateKey(workload.key))).toBe(true);
    expect(new X509Certificate(server.cert).subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  });

  it('passes openssl verify for both client and server use', () => {
    const caFile = path.join(dir, 'ca.crt');
    const leafFile = path.join(dir, 'tls.crt');
    writeFileSync(caFile, ca.cert);
    writeFileSync(leafFile, workload.cert);
    for (const purpose of ['sslclient', 'sslserver']) {
      const out = execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', caFile, leafFile], { encoding: 'utf8' });
      expect(out.trim()).toBe(`${leafFile}: OK`);
    }
  });

  it('authenticates both sides of a real mutual-TLS handshake', async () => {
    const tlsServer = createServer(
      { cert: server.cert, key: server.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true },
      (socket) => {
        socket.end(socket.getPeerCertificate().subjectaltname ?? '');
      },
    );
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    try {
      const port = (tlsServer.address() as AddressInfo).port;
      const peerSan = await new Promise<string>((resolve, reject) => {
        const socket: TLSSocket = connect({
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          ca: ca.cert,
          cert: workload.cert,
          key: workload.key,
        });
        let data = '';
        socket.on('data', (chunk) => (data += chunk));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      expect(peerSan).toBe(`URI:${REVIEWS}`);
    } finally {
      tlsServer.close();
    }
  });

  it('refuses SPIFFE IDs that are not workload IDs of the CA trust domain, with the reason', () => {
    expect(() => issueCertificate(ca, { spiffeId: 'spiffe://other.example/ns/shop/sa/reviews' })).toThrow(
      'SPIFFE ID "spiffe://other.example/ns/shop/sa/reviews" is in trust domain "other.example", but this CA is for "cluster.local"',
    );
    expect(() => issueCertificate(ca, { spiffeId: 'spiffe://cluster.local/reviews' })).toThrow(
      'is not spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
    );
    expect(() => createCertificateAuthority({ trustDomain: 'Cluster Local' })).toThrow('trust domain "Cluster Local" is not valid');
  });

  it('switchyard ca init and issue write the CA and a workload folder as csi-driver-spiffe does (tls.crt, tls.key, ca.crt)', async () => {
    const caDir = path.join(dir, 'ca');
    const out = path.join(dir, 'reviews');
    expect((await cli('ca', 'init', '--dir', caDir, '--trust-domain', 'mesh.test')).code).toBe(0);
    expect(statSync(path.join(caDir, 'ca.key')).mode & 0o777).toBe(0o600);
    const issued = await cli('ca', 'issue', '--dir', caDir, '--spiffe-id', 'spiffe://mesh.test/ns/shop/sa/reviews', '--out', out);
    expect(issued).toEqual({
      code: 0,
      stdout: `issued spiffe://mesh.test/ns/shop/sa/reviews: ${path.join(out, 'tls.crt')}, tls.key, ca.crt\n`,
      stderr: '',
    });
    expect(readdirSync(out).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(statSync(path.join(out, 'tls.key')).mode & 0o777).toBe(0o600);
    const leaf = new X509Certificate(readFileSync(path.join(out, 'tls.crt')));
    expect(leaf.subjectAltName).toBe('URI:spiffe://mesh.test/ns/shop/sa/reviews');
    expect(leaf.checkIssued(new X509Certificate(readFileSync(path.join(out, 'ca.crt'))))).toBe(true);

    // Mistakes are usage errors that say what to do.
    expect(await cli('ca', 'init', '--dir', caDir, '--trust-domain', 'mesh.test')).toEqual({
      code: 2,
      stdout: '',
      stderr: `switchyard ca: ${path.join(caDir, 'ca.key')} exists: a CA is already there; use another --dir, or remove it to start over\n`,
    });
    expect((await cli('ca', 'issue', '--dir', caDir, '--spiffe-id', 'spiffe://other/ns/a/sa/b', '--out', out)).stderr).toBe(
      'switchyard ca: SPIFFE ID "spiffe://other/ns/a/sa/b" is in trust domain "other", but this CA is for "mesh.test"\n',
    );
    expect((await cli('ca', 'sign')).stderr).toBe('switchyard ca: takes one of init, issue, got sign\n');
    expect((await cli('ca', 'issue', '--dir', path.join(dir, 'none'), '--dns', 'localhost', '--out', out)).stderr).toContain(
      "holds no CA (ca.crt, ca.key); run 'switchyard ca init",
    );
  });
});

describe("a server-only CA (the injection webhook's)", () => {
  const HOST = 'switchyard-injection.switchyard-system.svc';
  const ca = createCertificateAuthority({ commonName: 'switchyard test CA', days: 3650 });
  const server = issueCertificate(ca, { dnsNames: [HOST, `${HOST}.cluster.local`], days: 365, usage: 'server' });

  it('issues a server certificate for the DNS names, signed by the CA, for server use only', () => {
    const caCert = new X509Certificate(ca.cert);
    const serverCert = new X509Certificate(server.cert);
    expect(caCert.ca).toBe(true);
    expect(caCert.subjectAltName).toBeUndefined();
    expect(ca.trustDomain).toBeUndefined();
    expect(serverCert.ca).toBe(false);
    expect(serverCert.verify(caCert.publicKey)).toBe(true);
    expect(serverCert.subjectAltName).toBe(`DNS:${HOST}, DNS:${HOST}.cluster.local`);
    expect(serverCert.checkHost(HOST)).toBe(HOST);
    expect(serverCert.checkHost('other.switchyard-system.svc')).toBeUndefined();
    expect(serverCert.issuer).toBe('CN=switchyard test CA');
    expect(serverCert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new Date(serverCert.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 24 * 3600 * 1000);
  });

  it('passes openssl verify -x509_strict as a TLS server certificate for its host, and not as a client one', () => {
    const caFile = path.join(tmpdir(), `webhook-ca-${process.pid}.pem`);
    const leafFile = path.join(tmpdir(), `webhook-server-${process.pid}.pem`);
    writeFileSync(caFile, ca.cert);
    writeFileSync(leafFile, server.cert);
    try {
      const verify = (purpose: string) =>
        execFileSync('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-verify_hostname', HOST, '-CAfile', caFile, leafFile], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      expect(verify('sslserver').trim()).toBe(`${leafFile}: OK`);
      expect(() => verify('sslclient')).toThrow();
    } finally {
      rmSync(caFile, { force: true });
      rmSync(leafFile, { force: true });
    }
  });

  it('serves TLS that a client trusting only the CA accepts, and a client trusting another CA refuses', async () => {
    const tlsServer = createServer({ cert: server.cert, key: server.key }, (socket) => socket.end('hello'));
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    const port = (tlsServer.address() as AddressInfo).port;
    const talk = (trusted: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, servername: HOST, ca: trusted }, () => undefined);
        let data = '';
        socket.on('data', (chunk) => (data += chunk));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
    try {
      await expect(talk(ca.cert)).resolves.toBe('hello');
      await expect(talk(createCertificateAuthority({ commonName: 'another CA' }).cert)).rejects.toThrow(
        /unable to verify|self.signed|certificate/i,
      );
    } finally {
      tlsServer.close();
    }
  });

  it('loads a CA from its PEM pair and issues certificates the same CA verifies; a wrong pair is refused', () => {
    const again = loadCertificateAuthority(ca.cert, ca.key);
    const renewed = new X509Certificate(issueCertificate(again, { dnsNames: [HOST] }).cert);
    expect(renewed.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(renewed.issuer).toBe('CN=switchyard test CA');
    expect(() => loadCertificateAuthority(ca.cert, server.key)).toThrow(/not the CA certificate's key/);
    expect(() => loadCertificateAuthority(server.cert, server.key)).toThrow(/not a CA/);
    const mesh = createCertificateAuthority({ trustDomain: 'cluster.local' });
    expect(loadCertificateAuthority(mesh.cert, mesh.key).trustDomain).toBe('cluster.local');
  });
});
