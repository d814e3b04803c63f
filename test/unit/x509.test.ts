// Certificates made with node:crypto alone: openssl accepts the chain for a TLS server, and a TLS
// client that trusts only the CA completes a handshake with a server using the issued pair.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, loadCertificateAuthority } from '../../src/security/x509.js';

const HOST = 'switchyard-injection.switchyard-system.svc';

describe('createCertificateAuthority', () => {
  const ca = createCertificateAuthority('switchyard test CA');
  const server = ca.issueServer([HOST, `${HOST}.cluster.local`]);

  it('issues a CA and a server certificate for the DNS names, signed by the CA', () => {
    const caCert = new X509Certificate(ca.cert);
    const serverCert = new X509Certificate(server.cert);
    expect(caCert.ca).toBe(true);
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(serverCert.ca).toBe(false);
    expect(serverCert.verify(caCert.publicKey)).toBe(true);
    expect(serverCert.subjectAltName).toBe(`DNS:${HOST}, DNS:${HOST}.cluster.local`);
    expect(serverCert.checkHost(HOST)).toBe(HOST);
    expect(serverCert.checkHost('other.switchyard-system.svc')).toBeUndefined();
    expect(serverCert.issuer).toBe('CN=switchyard test CA');
    expect(new Date(serverCert.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 24 * 3600 * 1000);
  });

  it('passes openssl verify as a TLS server certificate', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'x509-'));
    try {
      writeFileSync(path.join(dir, 'ca.pem'), ca.cert);
      writeFileSync(path.join(dir, 'server.pem'), server.cert);
      const out = execFileSync(
        'openssl',
        [
          'verify',
          '-x509_strict',
          '-purpose',
          'sslserver',
          '-verify_hostname',
          HOST,
          '-CAfile',
          path.join(dir, 'ca.pem'),
          path.join(dir, 'server.pem'),
        ],
        { encoding: 'utf8' },
      );
      expect(out.trim()).toBe(`${path.join(dir, 'server.pem')}: OK`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
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
      await expect(talk(createCertificateAuthority('another CA').cert)).rejects.toThrow(/unable to verify|self.signed|certificate/i);
    } finally {
      tlsServer.close();
    }
  });

  it('loads a CA from its PEM pair and issues certificates the same CA verifies', () => {
    const again = loadCertificateAuthority(ca.cert, ca.key);
    const renewed = new X509Certificate(again.issueServer([HOST]).cert);
    expect(renewed.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(renewed.issuer).toBe('CN=switchyard test CA');
    expect(() => loadCertificateAuthority(ca.cert, server.key)).toThrow(/not the CA certificate's key/);
    expect(() => loadCertificateAuthority(server.cert, server.key)).toThrow(/not a CA/);
  });
});
