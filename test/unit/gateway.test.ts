// The gateway translator: Ingresses of our class -> listeners, route configurations, SNI
// filter chains with SDS certificates, and only the clusters, endpoints and secrets they use.
import { MeshModel } from '../../src/model/index.js';
import { encodeMessage, type XdsResource } from '../../src/envoy/protos.js';
import { translateGateway, type GatewayResources } from '../../src/translate/index.js';
import type { IngressClassObject, IngressObject, KubeObject, SecretObject, TrafficPolicyObject } from '../../src/sources/types.js';
import { selfSigned, shopIngress, shopObjects, tlsSecret, upsert, type TestCertificate } from './gateway-fixtures.js';

function model(...objects: KubeObject[]): MeshModel {
  const mesh = new MeshModel();
  mesh.apply(objects.map(upsert));
  return mesh;
}

function byName(resources: XdsResource[], name: string): any {
  const found = resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource ${name} among ${resources.map((r) => r.name).join(', ')}`);
  return found.value;
}

function virtualHost(output: GatewayResources, routeConfig: string, host: string): any {
  const config = byName(output.routes, routeConfig);
  const found = config.virtualHosts.find((v: any) => v.name === host);
  if (!found) throw new Error(`no virtual host ${host} in ${routeConfig}`);
  return found;
}

/** Every resource must encode with Envoy's protos (unknown fields are an error). */
function encodeAll(output: GatewayResources): void {
  for (const resource of [...output.clusters, ...output.endpoints, ...output.routes, ...output.listeners, ...output.secrets]) {
    encodeMessage(resource.typeUrl, resource.value);
  }
}

let shopCert: TestCertificate;
let apiCert: TestCertificate;
beforeAll(() => {
  shopCert = selfSigned('shop.example.com');
  apiCert = selfSigned('api.example.com');
});

describe('gateway: hosts and paths', () => {
  it('routes by host and path with Kubernetes Exact / Prefix semantics, longest path first', () => {
    const output = translateGateway(model(...shopObjects(), shopIngress()), 'edge');
    encodeAll(output);
    expect(output.problems).toEqual([]);
    expect(output.listeners.map((l) => l.name)).toEqual(['gateway/edge/8080']);
    const listener = byName(output.listeners, 'gateway/edge/8080');
    expect(listener.address).toEqual({ socketAddress: { address: '0.0.0.0', portValue: 8080 } });
    expect(listener.filterChains[0].filters[0].typedConfig.rds.routeConfigName).toBe('gateway/edge/8080');

    const host = virtualHost(output, 'gateway/edge/8080', 'shop.example.com');
    expect(host.domains).toEqual(['shop.example.com']);
    expect(host.routes.map((r: any) => [r.match, r.route.cluster])).toEqual([
      // `/api/reviews/` is element-wise: /api/reviews and /api/reviews/x, never /api/reviewsx.
      [{ pathSeparatedPrefix: '/api/reviews' }, 'shop/reviews/9080'],
      [{ path: '/healthz' }, 'shop/frontend/80'],
      [{ prefix: '/' }, 'shop/frontend/80'],
    ]);
    // gRPC backends keep the mesh's stream-friendly timeout: same route building as sidecars.
    expect(host.routes[0].route.timeout).toEqual({ seconds: 0 });
  });

  it('gets only the clusters and assignments its routes use, not the mesh', () => {
    const output = translateGateway(model(...shopObjects(), shopIngress()), 'edge');
    expect(output.clusters.map((c) => c.name)).toEqual(['shop/frontend/80', 'shop/reviews/9080']);
    expect(output.endpoints.map((c) => c.name)).toEqual(['shop/frontend/80', 'shop/reviews/9080']);
    expect(output.usedServices).toEqual(['shop/frontend', 'shop/reviews']);
  });

  it('serves wildcard hosts, host-less rules under *, and the default backend last', () => {
    const ingress = shopIngress({
      defaultBackend: { service: { name: 'frontend', port: { number: 80 } } },
      rules: [
        { host: '*.example.com', http: { paths: [{ path: '/cart', pathType: 'Prefix', backend: { service: { name: 'cart', port: { number: 8080 } } } }] } },
        { http: { paths: [{ path: '/reviews', pathType: 'ImplementationSpecific', backend: { service: { name: 'reviews', port: { number: 9080 } } } }] } },
      ],
    });
    const output = translateGateway(model(...shopObjects(), ingress), 'edge');
    encodeAll(output);
    const config = byName(output.routes, 'gateway/edge/8080');
    expect(config.virtualHosts.map((v: any) => v.domains)).toEqual([['*.example.com'], ['*']]);
    const wildcard = virtualHost(output, 'gateway/edge/8080', '*.example.com');
    expect(wildcard.routes.map((r: any) => [r.match, r.route.cluster])).toEqual([
      [{ pathSeparatedPrefix: '/cart' }, 'shop/cart/8080'],
      [{ prefix: '/' }, 'shop/frontend/80'],
    ]);
    const any = virtualHost(output, 'gateway/edge/8080', '*');
    // ImplementationSpecific is served as Prefix.
    expect(any.routes.map((r: any) => [r.match, r.route.cluster])).toEqual([
      [{ pathSeparatedPrefix: '/reviews' }, 'shop/reviews/9080'],
      [{ prefix: '/' }, 'shop/frontend/80'],
    ]);
  });

  it('answers 503 for a missing Service or port and says why, while the other paths keep working', () => {
    const ingress = shopIngress();
    ingress.spec.rules![0].http!.paths.push(
      { path: '/gone', pathType: 'Prefix', backend: { service: { name: 'nowhere', port: { number: 80 } } } },
      { path: '/badport', pathType: 'Prefix', backend: { service: { name: 'frontend', port: { name: 'grpc' } } } },
    );
    const output = translateGateway(model(...shopObjects(), ingress), 'edge');
    encodeAll(output);
    expect(output.problems).toEqual([
      'Ingress shop/shop: spec.rules[0].http.paths[3].backend.service.name: Service shop/nowhere not found',
      'Ingress shop/shop: spec.rules[0].http.paths[4].backend.service.port: Service shop/frontend has no TCP port "grpc"; its ports: 80 (http)',
    ]);
    const host = virtualHost(output, 'gateway/edge/8080', 'shop.example.com');
    const gone = host.routes.find((r: any) => r.match.pathSeparatedPrefix === '/gone');
    expect(gone.directResponse.status).toBe(503);
    expect(host.routes.filter((r: any) => r.route).length).toBe(3);
    expect(output.clusters.map((c) => c.name)).toEqual(['shop/frontend/80', 'shop/reviews/9080']);
  });
});

describe('gateway: which Ingresses are ours', () => {
  const other = (name: string, spec: Partial<IngressObject['spec']>): IngressObject => {
    const ingress = shopIngress(spec);
    ingress.metadata.name = name;
    ingress.spec.rules = [{ host: `${name}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'frontend', port: { number: 80 } } } }] } }];
    return ingress;
  };
  const ingressClass = (name: string, controller: string, isDefault = false): IngressClassObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name, ...(isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}) },
    spec: { controller },
  });
  const hosts = (output: GatewayResources) => output.routes[0].value && (output.routes[0].value as any).virtualHosts.map((v: any) => v.name);

  it('serves our class name, classes naming our controller, and class-less Ingresses only when our class is the default', () => {
    const ingresses = [
      other('mine', { ingressClassName: 'switchyard' }),
      other('nginx', { ingressClassName: 'nginx' }),
      other('edgeclass', { ingressClassName: 'edge-class' }),
      other('noclass', { ingressClassName: undefined }),
    ];
    const without = translateGateway(model(...shopObjects(), ...ingresses, ingressClass('nginx', 'k8s.io/ingress-nginx', true)), 'edge');
    expect(hosts(without)).toEqual(['mine.example.com']);

    const withClasses = translateGateway(
      model(...shopObjects(), ...ingresses, ingressClass('edge-class', 'switchyard.dev/ingress-controller', true)),
      'edge',
    );
    expect(hosts(withClasses)).toEqual(['edgeclass.example.com', 'mine.example.com', 'noclass.example.com']);
  });

  it('takes the class setting and the gateway annotation into account', () => {
    const pinned = other('pinned', { ingressClassName: 'switchyard' });
    pinned.metadata.annotations = { 'switchyard.dev/gateway': 'internal, partners' };
    const mesh = model(...shopObjects(), pinned, other('custom', { ingressClassName: 'custom' }));
    expect(hosts(translateGateway(mesh, 'edge'))).toEqual([]);
    expect(hosts(translateGateway(mesh, 'partners'))).toEqual(['pinned.example.com']);
    expect(hosts(translateGateway(mesh, 'edge', { ingressClass: 'custom' }))).toEqual(['custom.example.com']);
  });
});

describe('gateway: TLS over SDS', () => {
  function tlsIngress(annotations?: Record<string, string>): IngressObject {
    const ingress = shopIngress(
      {
        tls: [
          { hosts: ['shop.example.com'], secretName: 'shop-tls' },
          { hosts: ['api.example.com'], secretName: 'api-tls' },
        ],
      },
      annotations,
    );
    ingress.spec.rules!.push({
      host: 'api.example.com',
      http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'reviews', port: { number: 9080 } } } }] },
    });
    return ingress;
  }

  it('one filter chain per host set, matched by SNI, with the certificate delivered as an SDS Secret', () => {
    const output = translateGateway(
      model(...shopObjects(), tlsIngress(), tlsSecret('shop', 'shop-tls', shopCert), tlsSecret('shop', 'api-tls', apiCert)),
      'edge',
    );
    encodeAll(output);
    expect(output.problems).toEqual([]);
    expect(output.listeners.map((l) => l.name)).toEqual(['gateway/edge/8080', 'gateway/edge/8443']);
    const https = byName(output.listeners, 'gateway/edge/8443');
    expect(https.address.socketAddress.portValue).toBe(8443);
    expect(https.listenerFilters[0].name).toBe('envoy.filters.listener.tls_inspector');
    expect(https.filterChains.map((c: any) => [c.filterChainMatch.serverNames, c.transportSocket.typedConfig.commonTlsContext.tlsCertificateSdsSecretConfigs]))
      .toEqual([
        [['api.example.com'], [{ name: 'shop/api-tls', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }]],
        [['shop.example.com'], [{ name: 'shop/shop-tls', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }]],
      ]);
    expect(https.filterChains[0].filters[0].typedConfig.rds.routeConfigName).toBe('gateway/edge/8443');
    expect(output.secrets.map((s) => s.name)).toEqual(['shop/api-tls', 'shop/shop-tls']);
    expect(byName(output.secrets, 'shop/shop-tls').tlsCertificate).toEqual({
      certificateChain: { inlineString: shopCert.certPem },
      privateKey: { inlineString: shopCert.keyPem },
    });
    expect(output.usedSecrets).toEqual(['shop/api-tls', 'shop/shop-tls']);
  });

  const broken: Array<[string, (secret: SecretObject) => void, RegExp]> = [
    ['missing', () => undefined, /Secret shop\/shop-tls: not found/],
    ['not base64', (s) => (s.data!['tls.crt'] = 'not*base64!'), /data\["tls.crt"\] is not valid base64/],
    ['without a key', (s) => delete s.data!['tls.key'], /data\["tls.key"\] is missing/],
    ['a PEM that does not parse', (s) => (s.data!['tls.crt'] = Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').toString('base64')), /tls.crt is not a PEM certificate/],
    ['a key of another certificate', (s) => (s.data!['tls.key'] = Buffer.from(apiCert.keyPem).toString('base64')), /tls.key does not match the certificate/],
    ['the wrong type', (s) => (s.type = 'Opaque'), /type is "Opaque"; TLS certificates need type kubernetes.io\/tls/],
  ];
  it.each(broken)('a Secret %s leaves out only its hosts, with one problem naming it', (what, breakIt, message) => {
    const secret = tlsSecret('shop', 'shop-tls', shopCert);
    breakIt(secret);
    const objects: KubeObject[] = [...shopObjects(), tlsIngress(), tlsSecret('shop', 'api-tls', apiCert)];
    if (what !== 'missing') objects.push(secret);
    const output = translateGateway(model(...objects), 'edge');
    encodeAll(output);
    expect(output.problems).toHaveLength(1);
    expect(output.problems[0]).toMatch(/^gateway edge: HTTPS for shop.example.com left out: /);
    expect(output.problems[0]).toMatch(message);
    const https = byName(output.listeners, 'gateway/edge/8443');
    expect(https.filterChains.map((c: any) => c.filterChainMatch.serverNames)).toEqual([['api.example.com']]);
    expect(output.secrets.map((s) => s.name)).toEqual(['shop/api-tls']);
    // Plain HTTP for the host keeps working.
    expect(virtualHost(output, 'gateway/edge/8080', 'shop.example.com').routes.length).toBe(3);
  });

  it('no usable certificate: no HTTPS listener at all (Envoy rejects one without filter chains)', () => {
    const output = translateGateway(model(...shopObjects(), tlsIngress()), 'edge');
    expect(output.listeners.map((l) => l.name)).toEqual(['gateway/edge/8080']);
    expect(output.routes.map((l) => l.name)).toEqual(['gateway/edge/8080']);
    expect(output.problems).toHaveLength(2);
  });

  it('a host claimed by two Secrets keeps the first and reports the second', () => {
    const first = tlsIngress();
    const second = shopIngress({ tls: [{ hosts: ['shop.example.com'], secretName: 'api-tls' }] });
    second.metadata.name = 'shop-two';
    const output = translateGateway(model(...shopObjects(), first, second, tlsSecret('shop', 'shop-tls', shopCert), tlsSecret('shop', 'api-tls', apiCert)), 'edge');
    encodeAll(output);
    expect(output.problems).toEqual(['Ingress shop/shop-two: spec.tls[0].hosts: shop.example.com already uses Secret shop/shop-tls; this entry\'s certificate is not used for it']);
    const https = byName(output.listeners, 'gateway/edge/8443');
    expect(https.filterChains.map((c: any) => [c.name, c.filterChainMatch.serverNames])).toEqual([
      ['shop/api-tls', ['api.example.com']],
      ['shop/shop-tls', ['shop.example.com']],
    ]);
  });

  it('redirects plain HTTP to HTTPS for the TLS hosts of an Ingress annotated ssl-redirect', () => {
    const output = translateGateway(
      model(...shopObjects(), tlsIngress({ 'switchyard.dev/ssl-redirect': 'true' }), tlsSecret('shop', 'shop-tls', shopCert), tlsSecret('shop', 'api-tls', apiCert)),
      'edge',
    );
    encodeAll(output);
    const plain = virtualHost(output, 'gateway/edge/8080', 'shop.example.com');
    expect(plain.routes.map((r: any) => [r.match, r.redirect])).toEqual([
      [{ pathSeparatedPrefix: '/api/reviews' }, { httpsRedirect: true }],
      [{ path: '/healthz' }, { httpsRedirect: true }],
      [{ prefix: '/' }, { httpsRedirect: true }],
    ]);
    const secure = virtualHost(output, 'gateway/edge/8443', 'shop.example.com');
    expect(secure.routes.map((r: any) => r.route.cluster)).toEqual(['shop/reviews/9080', 'shop/frontend/80', 'shop/frontend/80']);
    // Without the annotation, plain HTTP is served.
    const served = translateGateway(model(...shopObjects(), tlsIngress(), tlsSecret('shop', 'shop-tls', shopCert)), 'edge');
    expect(virtualHost(served, 'gateway/edge/8080', 'shop.example.com').routes.every((r: any) => r.route)).toBe(true);
  });
});

describe('gateway: TrafficPolicy on an Ingress backend', () => {
  const policy: TrafficPolicyObject = {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'reviews-canary', namespace: 'shop', generation: 1 },
    spec: {
      targetRef: { kind: 'Service', name: 'reviews' },
      split: [{ backend: 'reviews-v1', weight: 90 }, { backend: 'reviews-v2', weight: 10 }],
      routes: [
        { match: { headers: [{ name: 'x-canary', exact: 'true' }] }, backend: 'reviews-v2' },
        { match: { path: { prefix: '/api/reviews/v2' } }, backend: 'reviews-v2' },
        { match: { path: { prefix: '/elsewhere' } }, backend: 'reviews-v2' },
      ],
      retries: { attempts: 2 },
    },
  };

  it('splits, matches headers and retries exactly as for sidecar traffic, within the Ingress path', () => {
    const output = translateGateway(model(...shopObjects(), policy, shopIngress()), 'edge');
    encodeAll(output);
    const host = virtualHost(output, 'gateway/edge/8080', 'shop.example.com');
    const reviews = host.routes.filter((r: any) => r.name.startsWith('shop/shop/rules/0/paths/1/'));
    expect(reviews.map((r: any) => [r.match, r.route.cluster ?? r.route.weightedClusters])).toEqual([
      [{ pathSeparatedPrefix: '/api/reviews', headers: [{ name: 'x-canary', stringMatch: { exact: 'true' } }] }, 'shop/reviews-v2/9080'],
      // A policy path inside the Ingress path narrows it; one outside it cannot match here.
      [{ prefix: '/api/reviews/v2' }, 'shop/reviews-v2/9080'],
      [{ pathSeparatedPrefix: '/api/reviews' }, { clusters: [{ name: 'shop/reviews-v1/9080', weight: { value: 90 } }, { name: 'shop/reviews-v2/9080', weight: { value: 10 } }] }],
    ]);
    expect(reviews[2].route.retryPolicy).toEqual({ retryOn: 'unavailable,connect-failure,refused-stream,reset', numRetries: { value: 2 } });
    expect(output.clusters.map((c) => c.name)).toEqual(['shop/frontend/80', 'shop/reviews-v1/9080', 'shop/reviews-v2/9080']);
    expect(output.usedServices).toEqual(['shop/frontend', 'shop/reviews', 'shop/reviews-v1', 'shop/reviews-v2']);
  });
});
