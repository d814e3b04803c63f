// TLS, mutual TLS and node identity on the xDS port, over real TLS connections on loopback with
// certificates made by openssl for each run.
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { AdminMetrics } from '../../src/admin/metrics.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { gatewayGroup, SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { isLoopbackHost } from '../../src/security/tls.js';
import { claimedWorkloads, peerIdentityFromSubjectAltName } from '../../src/security/identity.js';
import type { RefusedEvent, WithheldEvent } from '../../src/xds/events.js';
import { XdsServer, type XdsServerOptions } from '../../src/xds/server.js';
import { ADS_DELTA_METHOD, ADS_SOTW_METHOD, DeltaTestStream, SotwTestStream, testNode, XdsTestClient } from '../support/xds-client.js';
import { cluster, secret } from '../support/xds-fixtures.js';

interface Issued {
  cert: string;
  key: string;
}

/** A throwaway PKI: a CA, and leaf certificates with the given subject alternative names. */
class TestPki {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'switchyard-tls-'));
  readonly ca: Issued;
  private serial = 0;

  constructor(readonly caName = 'switchyard-test-ca') {
    this.ca = { cert: path.join(this.dir, 'ca.pem'), key: path.join(this.dir, 'ca.key') };
    this.openssl(['-keyout', this.ca.key, '-out', this.ca.cert, '-subj', `/CN=${caName}`]);
  }

  issue(name: string, subjectAltName: string): Issued {
    const issued = { cert: path.join(this.dir, `${name}-${++this.serial}.pem`), key: path.join(this.dir, `${name}-${this.serial}.key`) };
    this.openssl([
      '-keyout',
      issued.key,
      '-out',
      issued.cert,
      '-subj',
      `/CN=${name}`,
      '-CA',
      this.ca.cert,
      '-CAkey',
      this.ca.key,
      '-addext',
      `subjectAltName=${subjectAltName}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
    ]);
    return issued;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private openssl(args: string[]): void {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', ...args],
      { stdio: 'pipe' },
    );
  }
}

function tlsClient(port: number, pki: TestPki, identity?: Issued): grpc.Client {
  const credentials = grpc.credentials.createSsl(
    readFileSync(pki.ca.cert),
    identity ? readFileSync(identity.key) : null,
    identity ? readFileSync(identity.cert) : null,
  );
  return new grpc.Client(`127.0.0.1:${port}`, credentials);
}

/** The serial number of the certificate a fresh TLS handshake with the server sees. */
function servedCertificateSerial(port: number, pki: TestPki, identity?: Issued): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(pki.ca.cert),
      ...(identity ? { cert: readFileSync(identity.cert), key: readFileSync(identity.key) } : {}),
      ALPNProtocols: ['h2'],
    });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

function serialOf(certFile: string): string {
  const output = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-serial'], { encoding: 'utf8' });
  return output
    .trim()
    .replace(/^serial=/, '')
    .toUpperCase();
}

const SPIFFE_REVIEWS = 'spiffe://cluster.local/ns/shop/sa/reviews';
const SPIFFE_EDGE = 'spiffe://cluster.local/ns/gateways/sa/edge';

describe('xDS security', () => {
  let pki: TestPki;
  let serverCert: Issued;
  const servers: XdsServer[] = [];
  const clients: grpc.Client[] = [];

  beforeAll(() => {
    pki = new TestPki();
    serverCert = pki.issue('xds-server', 'IP:127.0.0.1,DNS:localhost');
  });

  afterAll(() => pki.remove());

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    for (const server of servers.splice(0)) server.forceShutdown();
  });

  async function start(
    options: Partial<XdsServerOptions>,
  ): Promise<{ server: XdsServer; cache: ResourceCache; port: number; refused: RefusedEvent[] }> {
    const cache = new ResourceCache();
    const server = new XdsServer({ ...options, cache });
    servers.push(server);
    server.setReady();
    const refused: RefusedEvent[] = [];
    server.on('refused', (event) => refused.push(event));
    const port = await server.start(0);
    return { server, cache, port, refused };
  }

  function sotw(client: grpc.Client): SotwTestStream {
    clients.push(client);
    return new SotwTestStream(client, ADS_SOTW_METHOD);
  }

  function delta(client: grpc.Client): DeltaTestStream {
    clients.push(client);
    return new DeltaTestStream(client, ADS_DELTA_METHOD);
  }

  const mutualTls = () => ({ certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile: pki.ca.cert });

  it('serves xDS over TLS and turns plain-text clients away', async () => {
    const { cache, port } = await start({ tls: { certFile: serverCert.cert, keyFile: serverCert.key } });
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] }]);

    const ads = sotw(tlsClient(port, pki));
    ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'envoy-tls' }) });
    expect((await ads.next(TypeUrl.Cluster)).names).toEqual(['shop/a/80']);

    const plain = new XdsTestClient(port);
    const plainStream = plain.sotw();
    plainStream.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'envoy-plain' }) });
    const status = await plainStream.status;
    plain.close();
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('reloads a rotated server certificate for new connections while open streams keep working', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-rotate-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    copyFileSync(serverCert.cert, certFile);
    copyFileSync(serverCert.key, keyFile);
    try {
      // A long interval: the test asks for the check itself instead of waiting for the timer.
      const { server, cache, port } = await start({ tls: { certFile, keyFile, reloadIntervalMs: 3_600_000 } });
      cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('before')] }]);
      const old = delta(tlsClient(port, pki));
      old.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'long-lived' }) });
      old.ack(await old.next(TypeUrl.Cluster));
      expect(await servedCertificateSerial(port, pki)).toBe(serialOf(serverCert.cert));

      const rotated = pki.issue('xds-server-rotated', 'IP:127.0.0.1');
      // Unchanged files are not reloaded.
      expect(server.reloadCertificates()).toBe(false);
      copyFileSync(rotated.cert, certFile);
      expect(server.reloadCertificates()).toBe(false); // the new certificate with the old key: not a pair yet
      copyFileSync(rotated.key, keyFile);
      expect(server.reloadCertificates()).toBe(true);

      expect(await servedCertificateSerial(port, pki)).toBe(serialOf(rotated.cert));
      const fresh = sotw(tlsClient(port, pki));
      fresh.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'new-connection' }) });
      expect((await fresh.next(TypeUrl.Cluster)).names).toEqual(['before']);

      // The stream opened under the old certificate still receives pushes.
      cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('after')] }]);
      expect((await old.next(TypeUrl.Cluster)).names).toEqual(['after']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with mutual TLS, refuses clients without a certificate or with one from another CA', async () => {
    const { port } = await start({ tls: mutualTls() });
    const stranger = new TestPki('stranger-ca');
    try {
      const foreign = stranger.issue('intruder', `URI:${SPIFFE_REVIEWS}`);
      // A client that trusts the server but presents a certificate of another CA.
      const foreignCredentials = grpc.credentials.createSsl(
        readFileSync(pki.ca.cert),
        readFileSync(foreign.key),
        readFileSync(foreign.cert),
      );
      const cases: Array<[string, grpc.Client]> = [
        ['no certificate', tlsClient(port, pki)],
        ['foreign CA', new grpc.Client(`127.0.0.1:${port}`, foreignCredentials)],
      ];
      for (const [label, client] of cases) {
        const ads = sotw(client);
        ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'x~shop~reviews' }) });
        expect([label, (await ads.status).code]).toEqual([label, grpc.status.UNAVAILABLE]);
      }
    } finally {
      stranger.remove();
    }
  });

  it('spiffe rule: a node may only claim the namespace and service account of its certificate', async () => {
    const { cache, port, refused, server } = await start({ tls: mutualTls(), identityRule: 'spiffe', trustDomain: 'cluster.local' });
    const metrics = new AdminMetrics({ server, cache, pipeline: new EventEmitter(), registry: new Registry() });
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/reviews/9080')] }]);
    const reviews = pki.issue('reviews', `URI:${SPIFFE_REVIEWS}`);
    const otherDomain = pki.issue('reviews-elsewhere', 'URI:spiffe://other.domain/ns/shop/sa/reviews');

    const metadataNode = (id: string, namespace: string, serviceAccount: string) => ({
      ...testNode({ id }),
      metadata: {
        fields: {
          'switchyard.dev/namespace': { stringValue: namespace },
          'switchyard.dev/service-account': { stringValue: serviceAccount },
        },
      },
    });
    const allowed: Array<[string, Record<string, unknown>]> = [
      ['id form', testNode({ id: 'sidecar~10.0.0.7~shop~reviews' })],
      ['metadata form', metadataNode('reviews-7f9c', 'shop', 'reviews')],
    ];
    for (const [label, node] of allowed) {
      const ads = delta(tlsClient(port, pki, reviews));
      ads.request({ typeUrl: TypeUrl.Cluster, node });
      expect([label, (await ads.next(TypeUrl.Cluster)).names]).toEqual([label, ['shop/reviews/9080']]);
    }

    const denied: Array<[string, Issued, Record<string, unknown>, RegExp]> = [
      [
        'another service account',
        reviews,
        testNode({ id: 'x~shop~ratings' }),
        /claims namespace "shop" and service account "ratings".*spiffe:\/\/cluster.local\/ns\/shop\/sa\/reviews/,
      ],
      [
        'another namespace by metadata',
        reviews,
        metadataNode('sneaky', 'payments', 'reviews'),
        /node metadata claims namespace "payments"/,
      ],
      ['no claim at all', reviews, testNode({ id: 'plain-envoy' }), /names no workload: use <name>~<namespace>~<service-account>/],
      ['untrusted trust domain', otherDomain, testNode({ id: 'x~shop~reviews' }), /no SPIFFE ID .* in trust domain "cluster.local"/],
    ];
    for (const [label, identity, node, message] of denied) {
      const ads = sotw(tlsClient(port, pki, identity));
      ads.request({ typeUrl: TypeUrl.Cluster, node });
      const status = await ads.status;
      expect([label, status.code]).toEqual([label, grpc.status.PERMISSION_DENIED]);
      expect(status.details).toMatch(message);
      expect(ads.received).toEqual([]);
    }
    expect(refused.map((event) => [event.reason, event.code])).toEqual(denied.map(() => ['node-identity', 'PERMISSION_DENIED']));
    expect(refused[0]).toMatchObject({ nodeId: 'x~shop~ratings', peer: expect.stringContaining('127.0.0.1') });
    const metric = await metrics.registry.getSingleMetricAsString('switchyard_xds_refused_total');
    expect(metric).toContain('switchyard_xds_refused_total{reason="node-identity",code="PERMISSION_DENIED"} 4');
    metrics.detach();
  });

  it('dns rule: a DNS name of the certificate must equal the node id', async () => {
    const { cache, port } = await start({ tls: mutualTls(), identityRule: 'dns' });
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('c')] }]);
    const proxy = pki.issue('proxy', 'DNS:proxy-1.mesh.example');

    const own = sotw(tlsClient(port, pki, proxy));
    own.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'proxy-1.mesh.example' }) });
    expect((await own.next(TypeUrl.Cluster)).names).toEqual(['c']);

    const impostor = sotw(tlsClient(port, pki, proxy));
    impostor.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'proxy-2.mesh.example' }) });
    const status = await impostor.status;
    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toContain(
      'no DNS name in the client certificate equals the node id (certificate DNS names: proxy-1.mesh.example)',
    );
  });

  it("serves a gateway's Secrets only to identities the map allows for that gateway; the rest of its config still flows", async () => {
    const { cache, port, refused, server } = await start({
      tls: mutualTls(),
      gatewaySecretAccess: { edge: [SPIFFE_EDGE] },
    });
    const withheld: WithheldEvent[] = [];
    server.on('withheld', (event) => withheld.push(event));
    cache.apply([
      { group: gatewayGroup('edge'), typeUrl: TypeUrl.Cluster, set: [cluster('edge-backend')] },
      { group: gatewayGroup('edge'), typeUrl: TypeUrl.Secret, set: [secret('shop/tls-cert', 'key material')] },
    ]);
    const edge = pki.issue('edge', `URI:${SPIFFE_EDGE}`);
    const other = pki.issue('other', 'URI:spiffe://cluster.local/ns/gateways/sa/other');

    const allowed = delta(tlsClient(port, pki, edge));
    allowed.request({
      typeUrl: TypeUrl.Secret,
      subscribe: ['shop/tls-cert'],
      node: testNode({ id: 'edge-1~gateways~edge', role: 'gateway', gateway: 'edge' }),
    });
    expect((await allowed.next(TypeUrl.Secret)).names).toEqual(['shop/tls-cert']);

    // Another workload, honest about its own identity, may join the gateway's group for its
    // listeners and clusters, but not for its keys: the Secret is withheld, the stream stays.
    const outsider = delta(tlsClient(port, pki, other));
    outsider.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'o-1~gateways~other', role: 'gateway', gateway: 'edge' }) });
    expect((await outsider.next(TypeUrl.Cluster)).names).toEqual(['edge-backend']);
    outsider.request({ typeUrl: TypeUrl.Secret, subscribe: ['shop/tls-cert'] });
    expect((await outsider.next(TypeUrl.Secret)).names).toEqual([]);
    // A changed Secret is withheld too.
    cache.apply([{ group: gatewayGroup('edge'), typeUrl: TypeUrl.Secret, set: [secret('shop/tls-cert', 'rotated key')] }]);
    expect((await allowed.next(TypeUrl.Secret)).names).toEqual(['shop/tls-cert']);
    await outsider.barrier();
    expect(outsider.received.filter((r) => r.typeUrl === TypeUrl.Secret).flatMap((r) => r.names)).toEqual([]);
    const reason =
      'Secrets of gateway "edge" are not for this client: certificate identities spiffe://cluster.local/ns/gateways/sa/other; allowed: spiffe://cluster.local/ns/gateways/sa/edge';
    expect(withheld).toEqual([expect.objectContaining({ nodeId: 'o-1~gateways~other', name: 'shop/tls-cert', reason })]);
    const view = server.streams().find((stream) => stream.nodeId === 'o-1~gateways~other')!;
    expect(view.types.find((type) => type.typeUrl === TypeUrl.Secret)?.withheld).toEqual([{ name: 'shop/tls-cert', reason }]);
    expect(refused).toEqual([]);
  });

  it('under the defaults with a client CA, a certificate for one node cannot ask as another', async () => {
    // Only TLS files: no identity rule is given, so the default applies.
    const { cache, port, refused } = await start({ tls: mutualTls() });
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/reviews/9080')] }]);
    const reviews = pki.issue('reviews', `URI:${SPIFFE_REVIEWS}`);

    const own = sotw(tlsClient(port, pki, reviews));
    own.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'sidecar~10.0.0.7~shop~reviews' }) });
    expect((await own.next(TypeUrl.Cluster)).names).toEqual(['shop/reviews/9080']);

    const impostor = sotw(tlsClient(port, pki, reviews));
    impostor.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'sidecar~10.0.0.8~shop~ratings' }) });
    const status = await impostor.status;
    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toMatch(
      /claims namespace "shop" and service account "ratings", but the client certificate is spiffe:\/\/cluster.local\/ns\/shop\/sa\/reviews/,
    );
    expect(impostor.received).toEqual([]);
    expect(refused.map((event) => event.reason)).toEqual(['node-identity']);

    // The opt-out is explicit: identityRule 'none' lets any certificate of the CA be any node.
    const optedOut = await start({ tls: mutualTls(), identityRule: 'none' });
    optedOut.cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('c')] }]);
    const anyone = sotw(tlsClient(optedOut.port, pki, reviews));
    anyone.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'sidecar~10.0.0.8~shop~ratings' }) });
    expect((await anyone.next(TypeUrl.Cluster)).names).toEqual(['c']);
  });

  it('refuses identity settings that cannot be enforced', () => {
    const cache = new ResourceCache();
    expect(() => new XdsServer({ cache, identityRule: 'spiffe' })).toThrow('identity rule "spiffe" needs mutual TLS');
    expect(() => new XdsServer({ cache, tls: { certFile: serverCert.cert, keyFile: serverCert.key }, identityRule: 'dns' })).toThrow(
      'needs mutual TLS',
    );
    expect(() => new XdsServer({ cache, gatewaySecretAccess: { edge: [SPIFFE_EDGE] } })).toThrow(
      'gateway Secret access rules that name identities need mutual TLS',
    );
    // "*" names nobody: it is the explicit plain-text opt-out.
    expect(() => new XdsServer({ cache, gatewaySecretAccess: { edge: ['*'] } })).not.toThrow();
  });

  it('fails to start with a clear message when the TLS files do not load', async () => {
    const cache = new ResourceCache();
    const missing = new XdsServer({ cache, tls: { certFile: '/nonexistent/tls.crt', keyFile: serverCert.key } });
    await expect(missing.start(0)).rejects.toThrow('/nonexistent/tls.crt');
    const mismatched = new XdsServer({ cache, tls: { certFile: serverCert.cert, keyFile: pki.ca.key } });
    await expect(mismatched.start(0)).rejects.toThrow(/do not load together/);
    missing.forceShutdown();
    mismatched.forceShutdown();
  });

  it('reads identities from subject alternative names, and claims from node ids and metadata', () => {
    expect(peerIdentityFromSubjectAltName(`DNS:Proxy.Example, URI:${SPIFFE_REVIEWS}, IP Address:10.0.0.1`)).toEqual({
      uris: [SPIFFE_REVIEWS],
      dnsNames: ['proxy.example'],
    });
    expect(claimedWorkloads({ id: 'a~b' })).toMatch(/names no workload/);
    expect(claimedWorkloads({ id: 'sidecar~10.1.2.3~shop~reviews' })).toEqual([
      { namespace: 'shop', serviceAccount: 'reviews', from: 'node id' },
    ]);
    expect(claimedWorkloads({ id: 'n', metadata: { fields: { 'switchyard.dev/namespace': { stringValue: 'shop' } } } })).toMatch(
      /sets only one of/,
    );
    expect(['127.0.0.1', '::1', '[::1]', 'localhost'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '10.0.0.5', '::'].some(isLoopbackHost)).toBe(false);
  });
});
