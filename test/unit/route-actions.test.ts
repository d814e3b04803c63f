// What a Service's routes do besides matching: timeouts, retries, hash keys, which backends a
// route may name, and which virtual hosts a port's route configuration holds. Each case is a
// setting a user writes (or a Service they deploy) and the field Envoy or gRPC acts on.
import { MeshModel } from '../../src/model/index.js';
import { translateAll, translateSidecarShared } from '../../src/translate/index.js';
import { policy, service, upsert } from '../support/builders.js';

type Port = { name: string; port: number };

/** Service `api` with these ports (cluster IP 10.96.0.10), and a TrafficPolicy on it when a spec is given. */
function apiModel(ports: Port[], spec?: object, ip = '10.96.0.10'): MeshModel {
  const model = new MeshModel();
  model.apply([
    upsert(service('api', ports, { clusterIP: ip })),
    ...(spec ? [upsert(policy('api', { targetRef: { kind: 'Service', name: 'api' }, ...spec }))] : []),
  ]);
  if (spec) expect(model.policyStatus('shop', 'api')?.find((c) => c.type === 'Accepted')?.status).toBe('True');
  return model;
}

/** The sidecar routes of `api` on a port. */
function sidecarRoutes(model: MeshModel, port: number, overrides: object = {}): any[] {
  const config = translateAll(model, 'sidecar', overrides).routes.find((r) => r.name === String(port))!.value as any;
  return config.virtualHosts.find((v: any) => v.name === `shop/api/${port}`).routes;
}

/** The proxyless routes of `api` on a port. */
function proxylessRoutes(model: MeshModel, port: number): any[] {
  const name = `api.shop.svc.cluster.local:${port}`;
  const config = translateAll(model, 'proxyless').routes.find((r) => r.name === name)!.value as any;
  return config.virtualHosts[0].routes;
}

const HTTP: Port = { name: 'http', port: 8080 };
const GRPC: Port = { name: 'grpc', port: 9090 };
const HTTP2: Port = { name: 'http2-api', port: 9443 };

describe('route timeouts', () => {
  it('a set timeout is the sidecar route timeout and, for gRPC clients, the max stream duration', () => {
    const model = apiModel([HTTP], { timeout: '2500ms' });
    const [sidecar] = sidecarRoutes(model, 8080);
    expect(sidecar.route.timeout).toEqual({ seconds: 2, nanos: 500_000_000 });
    expect(sidecar.route.maxStreamDuration).toBeUndefined();
    const [proxyless] = proxylessRoutes(model, 8080);
    // gRPC ignores route.timeout; it honours max_stream_duration.
    expect(proxyless.route.maxStreamDuration).toEqual({ maxStreamDuration: { seconds: 2, nanos: 500_000_000 } });
    expect(proxyless.route.timeout).toBeUndefined();
  });

  it('without one, streaming ports get no timeout at all (not Envoy’s 15 s) and HTTP/1 ports keep Envoy’s default', () => {
    const model = apiModel([HTTP, GRPC, HTTP2]);
    expect(sidecarRoutes(model, 9090)[0].route.timeout).toEqual({ seconds: 0 });
    expect(sidecarRoutes(model, 9443)[0].route.timeout).toEqual({ seconds: 0 });
    expect('timeout' in sidecarRoutes(model, 8080)[0].route).toBe(false);
    const [proxyless] = proxylessRoutes(model, 9090);
    expect(proxyless.route).toEqual({ cluster: 'shop/api/9090' });
  });
});

describe('route retries', () => {
  it('without retryOn, retry on what the port speaks: gRPC status for gRPC, 5xx for HTTP', () => {
    const model = apiModel([HTTP, GRPC], { retries: { attempts: 2 } });
    expect(sidecarRoutes(model, 8080)[0].route.retryPolicy).toEqual({
      retryOn: '5xx,connect-failure,refused-stream,reset',
      numRetries: { value: 2 },
    });
    expect(sidecarRoutes(model, 9090)[0].route.retryPolicy).toEqual({
      retryOn: 'unavailable,connect-failure,refused-stream,reset',
      numRetries: { value: 2 },
    });
  });

  it('gRPC clients get only the conditions gRPC implements, and no per-try timeout; a condition written twice is sent once', () => {
    const model = apiModel([GRPC], {
      retries: { attempts: 4, perTryTimeout: '1s', retryOn: ['cancelled', '5xx', 'unavailable', 'cancelled'] },
    });
    for (const route of sidecarRoutes(model, 9090)) {
      expect(route.route.retryPolicy).toEqual({
        retryOn: 'cancelled,5xx,unavailable',
        numRetries: { value: 4 },
        perTryTimeout: { seconds: 1 },
      });
    }
    for (const route of proxylessRoutes(model, 9090)) {
      expect(route.route.retryPolicy).toEqual({ retryOn: 'cancelled,unavailable', numRetries: { value: 4 } });
    }
  });

  it('gRPC clients left with no condition they know retry on unavailable rather than on nothing', () => {
    const model = apiModel([GRPC], { retries: { attempts: 1, retryOn: ['5xx', 'reset'] } });
    expect(proxylessRoutes(model, 9090)[0].route.retryPolicy).toEqual({ retryOn: 'unavailable', numRetries: { value: 1 } });
  });

  it('no retries asked, no retry policy', () => {
    expect('retryPolicy' in sidecarRoutes(apiModel([HTTP], { timeout: '1s' }), 8080)[0].route).toBe(false);
  });
});

describe('route hash keys', () => {
  const spec = {
    loadBalancer: { policy: 'RingHash', hashOn: [{ header: { name: 'x-user' } }] },
    routes: [{ match: { path: { prefix: '/cart' } }, backend: 'api' }],
  };

  it('go on every route of a hashing Service, for sidecars and gRPC clients', () => {
    const model = apiModel([HTTP], spec);
    for (const routes of [sidecarRoutes(model, 8080), proxylessRoutes(model, 8080)]) {
      expect(routes.map((r) => r.name)).toEqual(['route-0', 'default']);
      for (const route of routes) expect(route.route.hashPolicy).toEqual([{ header: { headerName: 'x-user' } }]);
    }
  });

  it('are left out for a client served round robin instead of ring hash, and for a Service that does not hash', () => {
    const noRingHash = { served: { headerStringMatch: true, ringHash: false, legacyLb: 'envoy' } };
    for (const route of sidecarRoutes(apiModel([HTTP], spec), 8080, noRingHash)) expect('hashPolicy' in route.route).toBe(false);
    for (const route of sidecarRoutes(apiModel([HTTP], { loadBalancer: { policy: 'RoundRobin' } }), 8080)) {
      expect('hashPolicy' in route.route).toBe(false);
    }
  });
});

describe('route backends', () => {
  it('leaves out a split entry of weight 0: it takes no traffic', () => {
    const model = new MeshModel();
    model.apply([
      upsert(service('api', [HTTP], { clusterIP: '10.96.0.10' })),
      upsert(service('api-v2', [HTTP], { clusterIP: '10.96.0.11' })),
      upsert(
        policy('api', {
          targetRef: { kind: 'Service', name: 'api' },
          split: [
            { backend: 'api-v2', weight: 0 },
            { backend: 'api', weight: 100 },
          ],
        }),
      ),
    ]);
    const routes = sidecarRoutes(model, 8080);
    expect(routes[routes.length - 1].route).toEqual({ cluster: 'shop/api/8080' });
  });

  it('leaves out a backend whose port is gone (policy served from its last good spec), and a gRPC client a TCP backend port', () => {
    const model = new MeshModel();
    const spec = {
      targetRef: { kind: 'Service', name: 'api' },
      split: [
        { backend: 'api', weight: 50 },
        { backend: 'api-v2', port: 8081, weight: 50 },
      ],
    };
    model.apply([
      upsert(service('api', [HTTP], { clusterIP: '10.96.0.10' })),
      upsert(service('api-v2', [{ name: 'http', port: 8081 }], { clusterIP: '10.96.0.11' })),
      upsert(policy('api', spec)),
    ]);
    const split = [
      { name: 'shop/api/8080', weight: { value: 50 } },
      { name: 'shop/api-v2/8081', weight: { value: 50 } },
    ];
    expect(sidecarRoutes(model, 8080).at(-1).route.weightedClusters.clusters).toEqual(split);

    // The port now speaks TCP: sidecars still reach its cluster, gRPC clients have none for it.
    model.apply([upsert(service('api-v2', [{ name: 'tcp', port: 8081 }], { clusterIP: '10.96.0.11' }))]);
    expect(sidecarRoutes(model, 8080).at(-1).route.weightedClusters.clusters).toEqual(split);
    expect(proxylessRoutes(model, 8080).at(-1).route).toEqual({ cluster: 'shop/api/8080' });

    // The port is gone: no client may be sent to a cluster it lacks.
    model.apply([upsert(service('api-v2', [{ name: 'http', port: 9999 }], { clusterIP: '10.96.0.11' }))]);
    expect(sidecarRoutes(model, 8080).at(-1).route).toEqual({ cluster: 'shop/api/8080' });
  });
});

describe('route configurations and virtual hosts', () => {
  it('answers an IPv6 cluster IP in brackets, with and without the port', () => {
    const config = translateAll(apiModel([HTTP], undefined, 'fd00:10:96::a'), 'sidecar').routes.find((r) => r.name === '8080')!
      .value as any;
    const domains: string[] = config.virtualHosts.find((v: any) => v.name === 'shop/api/8080').domains;
    const hosts = ['api', 'api.shop', 'api.shop.svc', 'api.shop.svc.cluster.local', '[fd00:10:96::a]'];
    expect(domains).toEqual([...hosts.map((h) => `${h}:8080`), ...hosts]);
  });

  it('gives a short name two Services share to the first by key only, and ends with the catch-all to the original destination', () => {
    const model = new MeshModel();
    model.apply([
      upsert(service('api', [HTTP], { clusterIP: '10.96.0.10' }, { namespace: 'a' })),
      upsert(service('api', [HTTP], { clusterIP: '10.96.0.20' }, { namespace: 'b' })),
    ]);
    const config = translateAll(model, 'sidecar').routes.find((r) => r.name === '8080')!.value as any;
    const [first, second, catchAll] = config.virtualHosts;
    expect(first.domains).toContain('api');
    expect(second.name).toBe('b/api/8080');
    expect(second.domains).not.toContain('api');
    expect(second.domains).not.toContain('api:8080');
    expect(second.domains).toContain('api.b:8080');
    expect(catchAll).toEqual({
      name: 'passthrough',
      domains: ['*'],
      routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'passthrough' } }],
    });
  });

  it('has no sidecar route configuration for a TCP port or a headless Service', () => {
    const model = new MeshModel();
    model.apply([
      upsert(service('api', [HTTP, { name: 'redis', port: 6379 }], { clusterIP: '10.96.0.10' })),
      upsert(service('db', [{ name: 'http', port: 5432 }], { clusterIP: 'None' })),
    ]);
    expect(translateAll(model, 'sidecar').routes.map((r) => r.name)).toEqual(['8080']);
  });

  it('holds only the Services in the egress scope; a port whose Services are all outside it has no configuration', () => {
    const model = new MeshModel();
    model.apply([
      upsert(service('api', [HTTP], { clusterIP: '10.96.0.10' })),
      upsert(service('web', [HTTP, { name: 'http-admin', port: 9000 }], { clusterIP: '10.96.0.11' })),
    ]);
    const routes = translateAll(model, 'sidecar', { reach: new Set(['shop/api']) }).routes;
    expect(routes.map((r) => r.name)).toEqual(['8080']);
    expect((routes[0].value as any).virtualHosts.map((v: any) => v.name)).toEqual(['shop/api/8080', 'passthrough']);
  });

  it('rebuilds only the ports asked for, once each; a port with no HTTP Service has none', () => {
    const model = new MeshModel();
    model.apply([
      upsert(service('api', [HTTP], { clusterIP: '10.96.0.10' })),
      upsert(service('web', [{ name: 'http-admin', port: 9000 }], { clusterIP: '10.96.0.11' })),
    ]);
    expect(translateSidecarShared(model, [9000, 9000, 7000]).routes.map((r) => r.name)).toEqual(['9000']);
    expect(translateSidecarShared(model, []).routes).toEqual([]);
  });

  it('gives a gRPC client a route configuration per HTTP port only, answering host:port and host', () => {
    const model = apiModel([HTTP, { name: 'redis', port: 6379 }]);
    const names = translateAll(model, 'proxyless').routes.map((r) => r.name);
    expect(names).toEqual(['api.shop.svc.cluster.local:8080']);
    const [virtualHost] = (translateAll(model, 'proxyless').routes[0].value as any).virtualHosts;
    expect(virtualHost.domains).toEqual(
      expect.arrayContaining(['api:8080', 'api.shop.svc.cluster.local:8080', 'api', 'api.shop.svc.cluster.local']),
    );
  });
});
