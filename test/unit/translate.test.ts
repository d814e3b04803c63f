import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MeshModel } from '../../src/model/index.js';
import { decodeMessage, encodeMessage, TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import type { KubeObject, SourceEvent } from '../../src/sources/types.js';
import {
  explainLbChoice,
  translateAll,
  translateEndpointsFor,
  translateServiceClusters,
  type TranslatedResources,
} from '../../src/translate/index.js';

const EXAMPLES = path.resolve('examples');

function exampleEvents(): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(readFileSync(path.join(EXAMPLES, file), 'utf8'))) {
      const object = doc.toJS() as KubeObject | null;
      if (!object) continue;
      const ref = { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name };
      events.push({ type: 'upsert', ref, object });
    }
  }
  return events;
}

function exampleModel(): MeshModel {
  const model = new MeshModel();
  model.apply(exampleEvents());
  return model;
}

function upsert(object: KubeObject): SourceEvent {
  return { type: 'upsert', ref: { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name }, object };
}

function all(resources: TranslatedResources): XdsResource[] {
  return [...resources.clusters, ...resources.endpoints, ...resources.routes, ...resources.listeners, ...resources.secrets];
}

function byName(resources: XdsResource[], name: string): any {
  const found = resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource ${name} in ${resources.map((r) => r.name).join(', ')}`);
  return found.value;
}

function lbNames(cluster: any): string[] {
  return cluster.loadBalancingPolicy.policies.map((p: any) => p.typedExtensionConfig.name.replace('envoy.load_balancing_policies.', ''));
}

function service(name: string, ports: object[], extra: object = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { ports, ...extra } } as KubeObject;
}

function slice(name: string, serviceName: string, endpoints: object[], port = 8080): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port }],
    endpoints,
  } as KubeObject;
}

function policy(name: string, spec: object): KubeObject {
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'TrafficPolicy', metadata: { name, namespace: 'shop' }, spec } as KubeObject;
}

function readyEndpoints(count: number, zone = 'zone-a'): object[] {
  return Array.from({ length: count }, (_, i) => ({ addresses: [`10.9.0.${i + 1}`], conditions: { ready: true }, zone }));
}

describe('translate: the examples', () => {
  const model = exampleModel();

  it.each(['sidecar', 'proxyless'] as const)('every %s resource survives encode -> decode with no unknown fields', (role) => {
    const resources = all(translateAll(model, role));
    expect(resources.length).toBeGreaterThan(10);
    for (const resource of resources) {
      const bytes = encodeMessage(resource.typeUrl, resource.value);
      const decoded = decodeMessage(resource.typeUrl, bytes);
      // Re-encoding what was decoded gives the same bytes: nothing was lost or invented.
      expect(Buffer.from(encodeMessage(resource.typeUrl, decoded))).toEqual(Buffer.from(bytes));
      expect(resource.name).toBeTruthy();
    }
  });

  it('names one cluster and one assignment per Service port, sorted by name', () => {
    const { clusters, endpoints } = translateAll(model, 'sidecar');
    const names = clusters.map((c) => c.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual([
      'shop/cart/8080',
      'shop/catalog/80',
      'shop/checkout/6379',
      'shop/checkout/8080',
      'shop/frontend/80',
      'shop/payments/50051',
      'shop/reviews-v1/9080',
      'shop/reviews-v2/9080',
      'shop/reviews/9080',
    ]);
    expect(endpoints.map((e) => e.name)).toEqual(names);
    for (const cluster of clusters) {
      expect(cluster.typeUrl).toBe(TypeUrl.Cluster);
      expect((cluster.value as any).edsClusterConfig).toEqual({ edsConfig: { ads: {}, resourceApiVersion: 'V3' } });
    }
  });

  it('gives gRPC ports explicit HTTP/2 upstreams and HTTP ports none', () => {
    const { clusters } = translateAll(model, 'sidecar');
    const reviews = byName(clusters, 'shop/reviews/9080');
    const options = reviews.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    expect(options.explicitHttpConfig).toEqual({ http2ProtocolOptions: {} });
    expect(byName(clusters, 'shop/catalog/80').typedExtensionProtocolOptions).toBeUndefined();
  });

  it('turns each policy into its ordered list with a fallback proxyless gRPC supports', () => {
    const { clusters } = translateAll(model, 'sidecar');
    const catalog = byName(clusters, 'shop/catalog/80');
    expect(lbNames(catalog)).toEqual(['maglev', 'ring_hash']);
    expect(catalog.loadBalancingPolicy.policies[0].typedExtensionConfig.typedConfig.tableSize).toEqual({ value: 65537 });
    const payments = byName(clusters, 'shop/payments/50051');
    expect(lbNames(payments)).toEqual(['least_request', 'round_robin']);
    expect(payments.loadBalancingPolicy.policies[0].typedExtensionConfig.typedConfig.choiceCount).toEqual({ value: 3 });
    // preferLocalZone: Envoy's zone-aware config on the policies that support it.
    expect(payments.loadBalancingPolicy.policies[0].typedExtensionConfig.typedConfig.localityLbConfig).toEqual({ zoneAwareLbConfig: {} });
    const cart = byName(clusters, 'shop/cart/8080');
    expect(lbNames(cart)).toEqual(['ring_hash']);
    expect(cart.loadBalancingPolicy.policies[0].typedExtensionConfig.typedConfig).toMatchObject({
      minimumRingSize: { value: 1024 },
      maximumRingSize: { value: 8192 },
    });
    expect(lbNames(byName(clusters, 'shop/checkout/8080'))).toEqual(['round_robin']);
    expect(lbNames(byName(clusters, 'shop/frontend/80'))).toEqual(['ring_hash']);
    expect(lbNames(byName(clusters, 'shop/reviews-v1/9080'))).toEqual(['least_request', 'round_robin']);
  });

  it('emits the legacy lb_policy enum and configs when asked, for sidecars only', () => {
    const { clusters } = translateAll(model, 'sidecar', { legacyLbPolicy: true });
    const catalog = byName(clusters, 'shop/catalog/80');
    expect(catalog.loadBalancingPolicy).toBeUndefined();
    expect(catalog.lbPolicy).toBe('MAGLEV');
    expect(catalog.maglevLbConfig).toEqual({ tableSize: { value: 65537 } });
    const cart = byName(clusters, 'shop/cart/8080');
    expect(cart.lbPolicy).toBe('RING_HASH');
    expect(cart.ringHashLbConfig).toEqual({ minimumRingSize: { value: 1024 }, maximumRingSize: { value: 8192 } });
    const payments = byName(clusters, 'shop/payments/50051');
    expect(payments.lbPolicy).toBe('LEAST_REQUEST');
    expect(payments.leastRequestLbConfig).toEqual({ choiceCount: { value: 3 } });
    expect(payments.commonLbConfig).toEqual({ zoneAwareLbConfig: {} });
    const decoded = decodeMessage(TypeUrl.Cluster, encodeMessage(TypeUrl.Cluster, payments));
    expect(decoded.lbPolicy).toBe('LEAST_REQUEST');
    // Proxyless gRPC would NACK MAGLEV: it keeps the typed list.
    const proxyless = translateAll(model, 'proxyless', { legacyLbPolicy: true });
    expect(lbNames(byName(proxyless.clusters, 'shop/catalog/80'))).toEqual(['maglev', 'ring_hash']);
  });

  it('carries the checkout policy into circuit breakers, outlier detection, health checks, retries and timeout', () => {
    const { clusters, routes } = translateAll(model, 'sidecar');
    const checkout = byName(clusters, 'shop/checkout/8080');
    expect(checkout.circuitBreakers.thresholds[0]).toEqual({
      priority: 'DEFAULT',
      maxConnections: { value: 1000 },
      maxPendingRequests: { value: 100 },
      maxRequests: { value: 1000 },
      maxRetries: { value: 10 },
    });
    expect(checkout.outlierDetection).toEqual({
      consecutive_5xx: { value: 5 },
      interval: { seconds: 10 },
      baseEjectionTime: { seconds: 30 },
      maxEjectionPercent: { value: 50 },
    });
    expect(checkout.healthChecks[0]).toMatchObject({ httpHealthCheck: { path: '/healthz' }, interval: { seconds: 5 }, timeout: { seconds: 1 } });
    const decoded: any = decodeMessage(TypeUrl.Cluster, encodeMessage(TypeUrl.Cluster, checkout));
    expect(decoded.outlierDetection.consecutive_5xx.value).toBe(5);
    const vhost = byName(routes, 'outbound').virtualHosts.find((v: any) => v.name === 'shop/checkout/8080');
    const action = vhost.routes[vhost.routes.length - 1].route;
    expect(action.timeout).toEqual({ seconds: 3 });
    expect(action.retryPolicy).toEqual({ retryOn: '5xx,connect-failure,reset', numRetries: { value: 3 }, perTryTimeout: { seconds: 1 } });
  });

  it('health-checks each port in its own protocol: HTTP on HTTP and gRPC ports, a TCP connect on TCP ports', () => {
    const { clusters } = translateAll(model, 'sidecar');
    // checkout's session store (appProtocol: tcp) must not get the HTTP check on /healthz.
    const sessions = byName(clusters, 'shop/checkout/6379');
    expect(sessions.healthChecks).toHaveLength(1);
    expect(sessions.healthChecks[0].httpHealthCheck).toBeUndefined();
    expect(sessions.healthChecks[0]).toMatchObject({ tcpHealthCheck: {}, interval: { seconds: 5 }, timeout: { seconds: 1 } });
    expect(byName(clusters, 'shop/checkout/8080').healthChecks[0].tcpHealthCheck).toBeUndefined();

    const m = new MeshModel();
    m.apply([
      upsert(service('store', [
        { name: 'http', port: 8080 },
        { name: 'grpc-api', port: 9090 },
        { name: 'redis', port: 6379 },
      ])),
      upsert(policy('store-http', { targetRef: { name: 'store' }, healthCheck: { http: { path: '/ready', host: 'store' } } })),
    ]);
    const store = translateAll(m, 'sidecar').clusters;
    expect(byName(store, 'shop/store/8080').healthChecks[0].httpHealthCheck).toEqual({ path: '/ready', host: 'store' });
    expect(byName(store, 'shop/store/9090').healthChecks[0].httpHealthCheck).toEqual({ path: '/ready', host: 'store', codecClientType: 'HTTP2' });
    expect(byName(store, 'shop/store/6379').healthChecks[0]).toMatchObject({ tcpHealthCheck: {} });
    expect(byName(store, 'shop/store/6379').healthChecks[0].httpHealthCheck).toBeUndefined();

    // A TCP check fits every port.
    m.apply([upsert(policy('store-http', { targetRef: { name: 'store' }, healthCheck: { tcp: {} } }))]);
    for (const cluster of translateAll(m, 'sidecar').clusters) {
      expect(cluster.value).toMatchObject({ healthChecks: [{ tcpHealthCheck: {} }] });
    }
  });

  it('sends the reviews split to weighted clusters 90/10 and x-canary: true to reviews-v2', () => {
    const { routes } = translateAll(model, 'sidecar');
    const vhost = byName(routes, 'outbound').virtualHosts.find((v: any) => v.name === 'shop/reviews/9080');
    expect(vhost.routes).toHaveLength(2);
    const [canary, fallback] = vhost.routes;
    expect(canary.match).toEqual({ prefix: '/', headers: [{ name: 'x-canary', stringMatch: { exact: 'true' } }] });
    expect(canary.route.cluster).toBe('shop/reviews-v2/9080');
    expect(fallback.match).toEqual({ prefix: '/' });
    expect(fallback.route.weightedClusters.clusters).toEqual([
      { name: 'shop/reviews-v1/9080', weight: { value: 90 } },
      { name: 'shop/reviews-v2/9080', weight: { value: 10 } },
    ]);
    // gRPC streams must not be cut by Envoy's default 15s route timeout.
    expect(fallback.route.timeout).toEqual({ seconds: 0 });
  });

  it('puts hash keys on the routes: header (terminal), query parameter, source IP', () => {
    const { routes } = translateAll(model, 'sidecar');
    const vhosts = byName(routes, 'outbound').virtualHosts;
    const hashOf = (name: string) => vhosts.find((v: any) => v.name === name).routes.at(-1).route.hashPolicy;
    expect(hashOf('shop/cart/8080')).toEqual([{ header: { headerName: 'x-user-id' }, terminal: true }]);
    expect(hashOf('shop/catalog/80')).toEqual([{ queryParameter: { name: 'product' } }]);
    expect(hashOf('shop/frontend/80')).toEqual([{ connectionProperties: { sourceIp: true } }]);
    expect(hashOf('shop/payments/50051')).toBeUndefined();
    // Proxyless gRPC: a source-IP hash becomes the per-channel filter state it supports.
    const proxyless = translateAll(model, 'proxyless').routes;
    const frontend = byName(proxyless, 'frontend.shop.svc.cluster.local:80');
    expect(frontend.virtualHosts[0].routes.at(-1).route.hashPolicy).toEqual([{ filterState: { key: 'io.grpc.channel_id' } }]);
  });

  it('maps endpoint conditions to health and groups them by zone into sorted localities', () => {
    const { endpoints } = translateAll(model, 'sidecar');
    const v1 = byName(endpoints, 'shop/reviews-v1/9080');
    expect(v1.clusterName).toBe('shop/reviews-v1/9080');
    expect(v1.endpoints.map((l: any) => l.locality.zone)).toEqual(['zone-a', 'zone-b']);
    const flat = v1.endpoints.flatMap((l: any) =>
      l.lbEndpoints.map((e: any) => [e.endpoint.address.socketAddress.address, e.endpoint.address.socketAddress.portValue, e.healthStatus]),
    );
    expect(flat).toEqual([
      ['10.1.1.10', 9080, 'HEALTHY'],
      ['10.1.1.11', 9080, 'HEALTHY'],
      ['10.1.2.10', 9080, 'HEALTHY'],
      ['10.1.2.11', 9080, 'DRAINING'],
    ]);
    expect(v1.endpoints.map((l: any) => l.loadBalancingWeight.value)).toEqual([2, 2]);
    // Not serving: left out. Named targetPort resolved through the slice's port of the same name.
    const catalog = byName(endpoints, 'shop/catalog/80');
    const catalogAddresses = catalog.endpoints.flatMap((l: any) => l.lbEndpoints.map((e: any) => e.endpoint.address.socketAddress.address));
    expect(catalogAddresses).not.toContain('10.3.2.12');
    expect(catalogAddresses).toHaveLength(5);
    const cart = byName(endpoints, 'shop/cart/8080');
    expect(cart.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue).toBe(8081);
    const frontend = byName(endpoints, 'shop/frontend/80');
    expect(frontend.endpoints.flatMap((l: any) => l.lbEndpoints)).toHaveLength(2);
    // The reviews Service merges two slices.
    expect(byName(endpoints, 'shop/reviews/9080').endpoints.flatMap((l: any) => l.lbEndpoints)).toHaveLength(6);
  });

  it('orders zones by failoverZones as contiguous priorities', () => {
    const m = new MeshModel();
    m.apply([
      upsert(service('api', [{ name: 'http', port: 8080 }])),
      upsert(
        slice('api-1', 'api', [
          { addresses: ['10.9.3.1'], zone: 'zone-c' },
          { addresses: ['10.9.1.1'], zone: 'zone-a' },
          { addresses: ['10.9.2.1'], zone: 'zone-b' },
        ]),
      ),
      upsert(policy('api', { targetRef: { name: 'api' }, locality: { failoverZones: ['zone-b', 'zone-a'] } })),
    ]);
    const [cla] = translateEndpointsFor(m, 'shop/api', 'sidecar');
    const value = cla.value as any;
    expect(value.endpoints.map((l: any) => [l.locality.zone, l.priority ?? 0])).toEqual([
      ['zone-b', 0],
      ['zone-a', 1],
      ['zone-c', 2],
    ]);
  });

  it('keeps every domain in exactly one virtual host, with and without the port', () => {
    const { routes } = translateAll(model, 'sidecar');
    const vhosts = byName(routes, 'outbound').virtualHosts;
    const domains = vhosts.flatMap((v: any) => v.domains);
    expect(new Set(domains).size).toBe(domains.length);
    const reviews = vhosts.find((v: any) => v.name === 'shop/reviews/9080');
    expect(reviews.domains).toEqual(
      expect.arrayContaining(['reviews', 'reviews.shop', 'reviews.shop.svc', 'reviews.shop.svc.cluster.local', 'reviews:9080', 'reviews.shop.svc.cluster.local:9080']),
    );
    // The TCP port has no virtual host.
    expect(vhosts.find((v: any) => v.name === 'shop/checkout/6379')).toBeUndefined();
  });

  it('keeps domains unique when two namespaces have a Service of the same name, and across ports', () => {
    const m = exampleModel();
    const other = service('reviews', [{ name: 'http', port: 9080 }, { name: 'http-admin', port: 80 }]) as any;
    other.metadata.namespace = 'other';
    m.apply([{ type: 'upsert', ref: { kind: 'Service', namespace: 'other', name: 'reviews' }, object: other }]);
    const vhosts = (translateAll(m, 'sidecar').routes[0].value as any).virtualHosts;
    const domains = vhosts.flatMap((v: any) => v.domains);
    expect(new Set(domains).size).toBe(domains.length);
    const otherAdmin = vhosts.find((v: any) => v.name === 'other/reviews/80');
    // Bare names of `other/reviews` belong to its port 80; the clashing short names go to the
    // first Service by key (other/ before shop/), and shop/reviews keeps its qualified names.
    expect(otherAdmin.domains).toEqual(expect.arrayContaining(['reviews.other', 'reviews', 'reviews:80']));
    expect(vhosts.find((v: any) => v.name === 'other/reviews/9080').domains).not.toContain('reviews.other');
    const shopReviews = vhosts.find((v: any) => v.name === 'shop/reviews/9080').domains;
    expect(shopReviews).not.toContain('reviews');
    expect(shopReviews).not.toContain('reviews:9080');
    expect(shopReviews).toEqual(expect.arrayContaining(['reviews.shop', 'reviews.shop:9080', 'reviews.shop.svc.cluster.local:9080']));
  });

  it('gives sidecars outbound-http with RDS over ADS and the router last, and a TCP proxy per TCP port', () => {
    const { listeners } = translateAll(model, 'sidecar');
    expect(listeners.map((l) => l.name)).toEqual(['outbound-http', 'outbound-tcp/shop/checkout/6379']);
    const http = byName(listeners, 'outbound-http');
    expect(http.address.socketAddress.portValue).toBe(15001);
    const hcm = http.filterChains[0].filters[0].typedConfig;
    expect(hcm.rds).toEqual({ configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName: 'outbound' });
    expect(hcm.httpFilters.at(-1).name).toBe('envoy.filters.http.router');
    const tcp = byName(listeners, 'outbound-tcp/shop/checkout/6379');
    expect(tcp.filterChains[0].filters[0].typedConfig.cluster).toBe('shop/checkout/6379');
    expect(byName(translateAll(model, 'sidecar', { outboundHttpPort: 15101 }).listeners, 'outbound-http').address.socketAddress.portValue).toBe(15101);
    // With traffic capture, the TCP listener sits on the cluster IP without binding.
    const captured = byName(translateAll(model, 'sidecar', { captureOriginalDst: true }).listeners, 'outbound-tcp/shop/checkout/6379');
    expect(captured.address.socketAddress.address).toBe('10.96.20.5');
    expect(captured.bindToPort).toEqual({ value: false });
  });

  it('gives proxyless gRPC an API listener under each name it may dial, routed to a config matching host:port', () => {
    const { listeners, routes, clusters } = translateAll(model, 'proxyless');
    const names = listeners.map((l) => l.name);
    expect(names).toEqual(expect.arrayContaining(['reviews.shop.svc.cluster.local:9080', 'reviews.shop:9080', 'reviews.shop.svc:9080']));
    expect(names.some((n) => n.includes('6379'))).toBe(false);
    const api = byName(listeners, 'reviews.shop:9080').apiListener.apiListener;
    expect(api['@type']).toContain('HttpConnectionManager');
    expect(api.rds.routeConfigName).toBe('reviews.shop.svc.cluster.local:9080');
    expect(api.httpFilters.at(-1).typedConfig['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');
    const config = byName(routes, 'reviews.shop.svc.cluster.local:9080');
    expect(config.virtualHosts[0].domains).toEqual(expect.arrayContaining(['reviews.shop:9080', 'reviews.shop.svc:9080', 'reviews:9080']));
    // Every cluster a proxyless route names exists for proxyless.
    const clusterNames = new Set(clusters.map((c) => c.name));
    for (const rc of routes) {
      for (const route of (rc.value as any).virtualHosts[0].routes) {
        const named = route.route.cluster ? [route.route.cluster] : route.route.weightedClusters.clusters.map((c: any) => c.name);
        for (const n of named) expect(clusterNames.has(n)).toBe(true);
      }
    }
  });

  it('is deterministic: two translations of the same model give the same bytes', () => {
    const bytesOf = (r: TranslatedResources) => all(r).map((x) => Buffer.from(encodeMessage(x.typeUrl, x.value)).toString('base64'));
    for (const role of ['sidecar', 'proxyless'] as const) {
      expect(bytesOf(translateAll(exampleModel(), role))).toEqual(bytesOf(translateAll(model, role)));
    }
    // Event order does not change the output either.
    const reversed = new MeshModel();
    reversed.apply(exampleEvents().reverse());
    expect(bytesOf(translateAll(reversed, 'sidecar'))).toEqual(bytesOf(translateAll(model, 'sidecar')));
  });
});

describe('translate: safety while a policy is served from its last good spec', () => {
  it('never routes to a cluster that is gone: a deleted split backend leaves the split', () => {
    const m = new MeshModel();
    m.apply([
      upsert(service('api', [{ name: 'http', port: 8080 }])),
      upsert(service('v1', [{ name: 'http', port: 8080 }])),
      upsert(service('v2', [{ name: 'http', port: 8080 }])),
      upsert(policy('api', { targetRef: { name: 'api' }, split: [{ backend: 'v1', weight: 3 }, { backend: 'v2', weight: 1 }] })),
    ]);
    const routeOf = () => (translateAll(m, 'sidecar').routes[0].value as any).virtualHosts.find((v: any) => v.name === 'shop/api/8080').routes.at(-1).route;
    expect(routeOf().weightedClusters.clusters.map((c: any) => c.name)).toEqual(['shop/v1/8080', 'shop/v2/8080']);
    m.apply([{ type: 'delete', ref: { kind: 'Service', namespace: 'shop', name: 'v2' } }]);
    // The policy is kept (last good) but its v2 backend has no cluster any more.
    expect(m.effectivePolicy('shop/api')?.current).toBe(false);
    const { clusters } = translateAll(m, 'sidecar');
    expect(clusters.map((c) => c.name)).not.toContain('shop/v2/8080');
    expect(routeOf()).toMatchObject({ cluster: 'shop/v1/8080' });
    expect(routeOf().weightedClusters).toBeUndefined();
  });

  it('serves a headless Service over EDS with its endpoint IPs and skips FQDN slices', () => {
    const m = new MeshModel();
    const fqdn = slice('db-fqdn', 'db', [{ addresses: ['db-0.example.com'] }], 5432) as any;
    fqdn.addressType = 'FQDN';
    m.apply([
      upsert(service('db', [{ name: 'http', port: 5432, appProtocol: 'tcp' }], { clusterIP: 'None' })),
      upsert(slice('db-1', 'db', [{ addresses: ['10.8.0.1'] }, { addresses: ['10.8.0.2'] }], 5432)),
      upsert(fqdn),
    ]);
    const [cluster] = translateServiceClusters(m, 'shop/db', 'sidecar');
    expect((cluster.value as any).type).toBe('EDS');
    const [cla] = translateEndpointsFor(m, 'shop/db', 'sidecar');
    const addresses = (cla.value as any).endpoints.flatMap((l: any) => l.lbEndpoints.map((e: any) => e.endpoint.address.socketAddress.address));
    expect(addresses).toEqual(['10.8.0.1', '10.8.0.2']);
    // A TCP port: a TCP proxy listener for sidecars, nothing for proxyless gRPC.
    expect(translateAll(m, 'sidecar').listeners.map((l) => l.name)).toContain('outbound-tcp/shop/db/5432');
    expect(translateAll(m, 'proxyless').clusters).toEqual([]);
  });
});

describe('translate: Auto', () => {
  function autoModel(endpoints: object[], extra: object = {}, spec?: object): MeshModel {
    const m = new MeshModel();
    m.apply([
      upsert(service('api', [{ name: 'http', port: 8080 }], extra)),
      upsert(slice('api-1', 'api', endpoints)),
      ...(spec ? [upsert(policy('api', { targetRef: { name: 'api' }, ...spec }))] : []),
    ]);
    return m;
  }

  it('picks least_request when no hashing is asked for', () => {
    const explained = explainLbChoice(autoModel(readyEndpoints(3)), 'shop/api');
    expect(explained?.policy).toBe('least_request');
    expect(explained?.policies).toEqual(['least_request', 'round_robin']);
    expect(explained?.reason).toMatch(/no TrafficPolicy.*no hash keys requested/);
  });

  it('picks ring_hash for hash keys on a small backend set', () => {
    const m = autoModel(readyEndpoints(3), {}, { loadBalancer: { policy: 'Auto', hashOn: [{ header: { name: 'x-user' } }] } });
    const explained = explainLbChoice(m, 'shop/api');
    expect(explained?.policy).toBe('ring_hash');
    expect(explained?.reason).toContain('hashOn header x-user');
    expect(explained?.reason).toContain('3 endpoints < maglevMinEndpoints 8');
    const [cluster] = translateServiceClusters(m, 'shop/api', 'sidecar');
    expect(lbNames(cluster.value)).toEqual(['ring_hash']);
  });

  it('picks maglev for hash keys on a large, stable backend set, with the threshold a setting', () => {
    const m = autoModel(readyEndpoints(8), {}, { loadBalancer: { hashOn: [{ cookie: { name: 'session', ttl: '1h', path: '/' } }] } });
    const explained = explainLbChoice(m, 'shop/api');
    expect(explained?.policy).toBe('maglev');
    expect(explained?.reason).toContain('8 endpoints >= maglevMinEndpoints 8, none draining');
    expect(explainLbChoice(m, 'shop/api', { maglevMinEndpoints: 9 })?.policy).toBe('ring_hash');
    const route = (translateAll(m, 'sidecar').routes[0].value as any).virtualHosts[0].routes[0].route;
    expect(route.hashPolicy).toEqual([{ cookie: { name: 'session', ttl: { seconds: 3600 }, path: '/' } }]);
  });

  it('stays on ring_hash while endpoints are draining (not stable)', () => {
    const endpoints = [...readyEndpoints(8), { addresses: ['10.9.9.9'], conditions: { ready: false, serving: true, terminating: true } }];
    const explained = explainLbChoice(autoModel(endpoints, {}, { loadBalancer: { hashOn: [{ sourceIP: {} }] } }), 'shop/api');
    expect(explained?.policy).toBe('ring_hash');
    expect(explained?.reason).toContain('1 draining (not stable)');
  });

  it('turns sessionAffinity: ClientIP into a source-IP hash', () => {
    const m = autoModel(readyEndpoints(2), { sessionAffinity: 'ClientIP' });
    const explained = explainLbChoice(m, 'shop/api');
    expect(explained?.policy).toBe('ring_hash');
    expect(explained?.reason).toContain('sessionAffinity: ClientIP');
    const route = (translateAll(m, 'sidecar').routes[0].value as any).virtualHosts[0].routes[0].route;
    expect(route.hashPolicy).toEqual([{ connectionProperties: { sourceIp: true } }]);
  });

  it('sends Random with a round_robin fallback and puts no hash policy on non-hashing routes', () => {
    const m = autoModel(readyEndpoints(2), {}, { loadBalancer: { policy: 'Random' } });
    expect(explainLbChoice(m, 'shop/api')?.reason).toContain('sets policy Random');
    const [cluster] = translateServiceClusters(m, 'shop/api', 'proxyless');
    expect(lbNames(cluster.value)).toEqual(['random', 'round_robin']);
    const route = (translateAll(m, 'sidecar').routes[0].value as any).virtualHosts[0].routes[0].route;
    expect(route.hashPolicy).toBeUndefined();
  });
});
