// Who receives a gateway's TLS private keys, in Kubernetes mode end to end (the real client-node
// informers and AuthorizationV1Api against the test API server, the xDS server over real TLS):
// a gateway receives a Secret only when its mutual-TLS identity is a service account the API
// server says may `get` that Secret (a SubjectAccessReview). In plain text, none at all.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { KubernetesMode } from '../../src/kubernetes/mode.js';
import { createCertificateAuthority, issueCertificate, type IssuedCertificate } from '../../src/security/certificates.js';
import { eventually, ingressClass, KubeApiServer, NS, service, endpointSlice, type JsonObject } from '../support/kube-api-server.js';
import { startTestReplica } from '../support/kube-replica.js';
import { ADS_SOTW_METHOD, SotwTestStream, testNode, XdsTestClient } from '../support/xds-client.js';

const EDGE = 'spiffe://cluster.local/ns/gateways/sa/edge';
const INTRUDER = 'spiffe://cluster.local/ns/gateways/sa/intruder';
const edgeNode = (id: string) => testNode({ id, role: 'gateway', gateway: 'edge' });

function tlsIngress(): JsonObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'shop', namespace: NS },
    spec: {
      ingressClassName: 'switchyard',
      tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }],
      rules: [
        {
          host: 'shop.example.com',
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'reviews', port: { number: 9080 } } } }] },
        },
      ],
    },
  };
}

function tlsSecretOf(name: string, certificate: IssuedCertificate): JsonObject {
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NS },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': base64(certificate.cert), 'tls.key': base64(certificate.key) },
  };
}

describe('gateway Secrets in Kubernetes mode', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-gw-secrets-'));
  const ca = createCertificateAuthority({ trustDomain: 'cluster.local' });
  const files = (name: string, issued: IssuedCertificate) => {
    writeFileSync(path.join(dir, `${name}.crt`), issued.cert);
    writeFileSync(path.join(dir, `${name}.key`), issued.key);
    return { cert: issued.cert, key: issued.key, certFile: path.join(dir, `${name}.crt`), keyFile: path.join(dir, `${name}.key`) };
  };
  const server = files('server', issueCertificate(ca, { ipAddresses: ['127.0.0.1'] }));
  writeFileSync(path.join(dir, 'ca.crt'), ca.cert);
  const mutualTls = { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: path.join(dir, 'ca.crt') };

  let api: KubeApiServer;
  let mode: KubernetesMode | undefined;
  const clients: grpc.Client[] = [];

  beforeEach(async () => {
    api = new KubeApiServer({ bookmarkIntervalMs: 200 });
    await api.start();
    api.apply(service('reviews'));
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
    api.apply(ingressClass('switchyard'));
    api.apply(tlsIngress());
    api.apply(tlsSecretOf('shop-tls', issueCertificate(ca, { dnsNames: ['shop.example.com'] })));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await mode?.stop();
    mode = undefined;
    await api.stop();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function mtlsStream(port: number, spiffeId: string): SotwTestStream {
    const identity = issueCertificate(ca, { spiffeId });
    const client = new grpc.Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(identity.key), Buffer.from(identity.cert)),
    );
    clients.push(client);
    return new SotwTestStream(client, ADS_SOTW_METHOD);
  }

  /** Syncs a gateway as Envoy does; returns its listeners and the Secrets it received by the time the server answered a barrier. */
  async function gatewaySecrets(ads: SotwTestStream, id: string): Promise<{ listeners: string[]; secrets: string[] }> {
    ads.request({ typeUrl: TypeUrl.Listener, node: edgeNode(id) });
    const lds = await ads.next(TypeUrl.Listener);
    ads.ack(lds);
    ads.request({ typeUrl: TypeUrl.Secret, resourceNames: ['shop/shop-tls'] });
    await ads.barrier();
    return { listeners: lds.names, secrets: ads.received.filter((r) => r.typeUrl === TypeUrl.Secret).flatMap((r) => r.names) };
  }

  it('shipped defaults in plain text: a stream claiming to be the gateway gets its listeners but no Secret, and says why', async () => {
    mode = await startTestReplica(api, { adminPort: 0, writeStatus: false, lead: false });
    const client = new XdsTestClient(mode.app.xdsPort);
    try {
      const ads = client.sotw();
      const got = await gatewaySecrets(ads, 'edge-1');
      expect(got.listeners.length).toBeGreaterThan(0);
      expect(got.secrets).toEqual([]);
      expect(api.accessReviews).toEqual([]);

      const admin = `http://127.0.0.1:${mode.app.adminPort}`;
      const proxies = (await (await fetch(`${admin}/debug/proxies`)).json()) as Array<{ nodeId: string; types: Record<string, any> }>;
      const withheld = proxies.find((proxy) => proxy.nodeId === 'edge-1')!.types.Secret.withheld;
      expect(withheld).toEqual([
        {
          name: 'shop/shop-tls',
          reason: expect.stringContaining(
            'Secret shop/shop-tls withheld from gateway "edge": the connection has no verified client certificate, so Kubernetes cannot be asked whether its identity may read the Secret; serve xDS over mutual TLS',
          ),
        },
      ]);
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      expect(metrics).toContain('switchyard_xds_withheld_total{type="Secret"} 1');
    } finally {
      client.close();
    }
  });

  it("over mutual TLS, the gateway's identity gets the Secret when Kubernetes allows it, and nobody else does", async () => {
    api.accessReviewAnswer = (spec) =>
      spec.user === 'system:serviceaccount:gateways:edge' && spec.resourceAttributes.name === 'shop-tls'
        ? true
        : { allowed: false, reason: 'no RBAC policy matched' };
    mode = await startTestReplica(api, { writeStatus: false, lead: false, xdsSecurity: { tls: mutualTls } });
    const port = mode.app.xdsPort;
    const withheld: string[] = [];
    mode.app.server.on('withheld', (event) => withheld.push(`${event.nodeId}: ${event.reason}`));

    // The edge gateway's own identity: the first answer is pending, then the Secret follows.
    const edge = mtlsStream(port, EDGE);
    edge.request({ typeUrl: TypeUrl.Listener, node: edgeNode('edge-1~gateways~edge') });
    edge.ack(await edge.next(TypeUrl.Listener));
    edge.request({ typeUrl: TypeUrl.Secret, resourceNames: ['shop/shop-tls'] });
    const secret = await edge.next(TypeUrl.Secret);
    expect(secret.names).toEqual(['shop/shop-tls']);
    expect(api.accessReviews[0]).toEqual({
      user: 'system:serviceaccount:gateways:edge',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:gateways', 'system:authenticated'],
      resourceAttributes: { group: '', version: 'v1', resource: 'secrets', verb: 'get', namespace: 'shop', name: 'shop-tls' },
    });

    // A rotated Secret is authorized afresh before its new key goes out.
    const reviewsBefore = api.accessReviews.length;
    api.apply(tlsSecretOf('shop-tls', issueCertificate(ca, { dnsNames: ['shop.example.com'] })));
    const rotated = await edge.next(TypeUrl.Secret);
    expect(rotated.names).toEqual(['shop/shop-tls']);
    expect(rotated.versionInfo).not.toBe(secret.versionInfo);
    expect(api.accessReviews.length).toBe(reviewsBefore + 1);

    // Another workload, honest about its identity (the identity rule is on by default under
    // mutual TLS), claims the edge gateway: Kubernetes says no, so it gets no key.
    const intruder = mtlsStream(port, INTRUDER);
    const got = await gatewaySecrets(intruder, 'i-1~gateways~intruder');
    expect(got.listeners.length).toBeGreaterThan(0);
    await eventually('the refusal', () => withheld.length > 0);
    await intruder.barrier();
    expect(got.secrets).toEqual([]);
    expect(intruder.received.filter((r) => r.typeUrl === TypeUrl.Secret).flatMap((r) => r.names)).toEqual([]);
    expect(withheld).toEqual([
      'i-1~gateways~intruder: Secret shop/shop-tls withheld from gateway "edge": Kubernetes says service account gateways/intruder may not get Secret shop/shop-tls (no RBAC policy matched); to allow it, bind the service account to a Role with "get" on "secrets" (resourceNames: [shop-tls]) in namespace shop',
    ]);

    // And it cannot pretend to be the edge gateway's service account.
    const impostor = mtlsStream(port, INTRUDER);
    impostor.request({ typeUrl: TypeUrl.Secret, resourceNames: ['shop/shop-tls'], node: edgeNode('edge-2~gateways~edge') });
    expect((await impostor.status).code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('a denied or failed SubjectAccessReview sends no Secret', async () => {
    let answer: boolean | 'error' = 'error';
    api.accessReviewAnswer = () => answer;
    mode = await startTestReplica(api, {
      writeStatus: false,
      lead: false,
      xdsSecurity: { tls: mutualTls, secretAccessCacheMs: { denied: 1 } },
    });
    const withheld: string[] = [];
    mode.app.server.on('withheld', (event) => withheld.push(event.reason));
    const edge = mtlsStream(mode.app.xdsPort, EDGE);
    await gatewaySecrets(edge, 'edge-1~gateways~edge');
    await eventually('the failure', () => withheld.length > 0);
    expect(withheld[0]).toBe(
      'Secret shop/shop-tls withheld from gateway "edge": the SubjectAccessReview for service account gateways/edge failed (HTTP 500: the authorizer failed (test control)); it is retried',
    );
    answer = false;
    // The failure is not kept: the next offer (a rotated certificate) asks again, and the answer is now a plain denial.
    api.apply(tlsSecretOf('shop-tls', issueCertificate(ca, { dnsNames: ['shop.example.com'] })));
    await eventually('the denial', () =>
      withheld.some((reason) => reason.includes('Kubernetes says service account gateways/edge may not get')),
    );
    await edge.barrier();
    expect(edge.received.filter((r) => r.typeUrl === TypeUrl.Secret).flatMap((r) => r.names)).toEqual([]);
  });
});
