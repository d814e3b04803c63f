import { MeshModel } from '../../src/model/index.js';
import type { KubeObject } from '../../src/sources/types.js';
import { policy, remove, service, slice, upsert } from '../support/builders.js';

function condition(model: MeshModel, name: string, type: string) {
  return model.policyStatus('shop', name)?.find((c) => c.type === type);
}

/** A model with Services api, v1 and v2 (port 8080) and one policy `name` with `spec`. */
function modelWith(spec: object, name = 'api-policy'): MeshModel {
  const model = new MeshModel();
  model.apply([
    upsert(service('api')),
    upsert(service('v1')),
    upsert(service('v2')),
    upsert(policy(name, { targetRef: { name: 'api' }, ...spec })),
  ]);
  return model;
}

describe('model: TrafficPolicy checks', () => {
  it('accepts a valid policy and applies it to its Service', () => {
    const model = modelWith({
      split: [
        { backend: 'v1', weight: 90 },
        { backend: 'v2', weight: 10 },
      ],
    });
    expect(condition(model, 'api-policy', 'Accepted')).toMatchObject({ status: 'True', observedGeneration: 1 });
    expect(condition(model, 'api-policy', 'ResolvedRefs')?.status).toBe('True');
    expect(condition(model, 'api-policy', 'Programmed')?.status).toBe('True');
    expect(model.effectivePolicy('shop/api')).toMatchObject({ policyKey: 'shop/api-policy', current: true });
    expect(model.policyStatuses().map((s) => s.name)).toEqual(['api-policy']);
  });

  it('rejects split weights that sum to 0', () => {
    const model = modelWith({
      split: [
        { backend: 'v1', weight: 0 },
        { backend: 'v2', weight: 0 },
      ],
    });
    const accepted = condition(model, 'api-policy', 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(accepted?.message).toContain('spec.split: weights sum to 0');
    expect(model.effectivePolicy('shop/api')).toBeUndefined();
  });

  it('rejects a maglev table size that is not prime and names a prime to use', () => {
    const model = modelWith({ loadBalancer: { policy: 'Maglev', maglev: { tableSize: 65536 } } });
    expect(condition(model, 'api-policy', 'Accepted')?.message).toBe(
      'spec.loadBalancer.maglev.tableSize: 65536 is not prime; use a prime such as 65537',
    );
  });

  it('rejects a ring hash minimum above its maximum', () => {
    const model = modelWith({ loadBalancer: { policy: 'RingHash', ringHash: { minimumRingSize: 4096, maximumRingSize: 1024 } } });
    expect(condition(model, 'api-policy', 'Accepted')?.message).toMatch(
      /^spec\.loadBalancer\.ringHash: minimumRingSize 4096 is larger than maximumRingSize 1024/,
    );
  });

  it('rejects a route with both backend and split, and one with neither', () => {
    const model = modelWith({
      routes: [
        { match: { path: { prefix: '/a' } }, backend: 'v1', split: [{ backend: 'v2', weight: 1 }] },
        { match: { path: { prefix: '/b' } } },
      ],
    });
    const message = condition(model, 'api-policy', 'Accepted')?.message ?? '';
    expect(message).toContain('spec.routes[0]: set exactly one of backend or split');
    expect(message).toContain('spec.routes[1]: set exactly one of backend or split');
  });

  it('reports a missing split backend as ResolvedRefs=False naming the field', () => {
    const model = modelWith({
      split: [
        { backend: 'v1', weight: 50 },
        { backend: 'v3', weight: 50 },
      ],
    });
    expect(condition(model, 'api-policy', 'ResolvedRefs')).toMatchObject({
      status: 'False',
      reason: 'BackendNotFound',
      message: 'spec.split[1].backend: Service shop/v3 not found in namespace shop',
    });
    expect(model.effectivePolicy('shop/api')).toBeUndefined();
  });

  it('reports a route backend without the port', () => {
    const model = modelWith({ routes: [{ match: { headers: [{ name: 'x-canary', exact: 'true' }] }, backend: 'v2', port: 9090 }] });
    expect(condition(model, 'api-policy', 'ResolvedRefs')?.message).toBe('spec.routes[0].port: Service shop/v2 has no port 9090');
  });

  it('reports a missing target Service', () => {
    const model = new MeshModel();
    model.apply([upsert(policy('lonely', { targetRef: { name: 'nowhere' } }))]);
    expect(condition(model, 'lonely', 'ResolvedRefs')).toMatchObject({
      status: 'False',
      reason: 'TargetNotFound',
      message: 'spec.targetRef.name: Service shop/nowhere not found in namespace shop',
    });
  });

  it('rejects a duration that does not parse', () => {
    const model = modelWith({ timeout: '5 seconds' });
    expect(condition(model, 'api-policy', 'Accepted')?.message).toMatch(/^spec\.timeout: "5 seconds" is not a duration/);
  });

  it('rejects hash keys on a policy that does not hash', () => {
    const model = modelWith({ loadBalancer: { policy: 'LeastRequest', hashOn: [{ header: { name: 'x-user' } }] } });
    expect(condition(model, 'api-policy', 'Accepted')?.message).toMatch(/^spec\.loadBalancer\.hashOn: policy LeastRequest does not hash/);
  });

  it('rejects a retry condition Envoy does not know', () => {
    const model = modelWith({ retries: { attempts: 2, retryOn: ['5xx', 'timeouts'] } });
    expect(condition(model, 'api-policy', 'Accepted')?.message).toMatch(
      /^spec\.retries\.retryOn\[1\]: "timeouts" is not a retry condition; use one of 5xx,/,
    );
  });

  it('rejects regular expressions RE2 cannot run and invalid header names', () => {
    const model = modelWith({
      routes: [
        { match: { path: { regex: '^/(?!admin)' } }, backend: 'v1' },
        {
          match: {
            headers: [
              { name: 'x user', exact: 'a' },
              { name: 'x-id', regex: '(' },
            ],
          },
          backend: 'v1',
        },
      ],
    });
    const message = condition(model, 'api-policy', 'Accepted')?.message ?? '';
    expect(message).toContain('spec.routes[0].match.path.regex: "^/(?!admin)" uses lookaround or a backreference');
    expect(message).toContain('spec.routes[1].match.headers[0].name: "x user" is not a valid HTTP header name');
    expect(message).toContain('spec.routes[1].match.headers[1].regex: "(" is not a valid regular expression');
  });

  it('rejects a line break or other control character in the health-check path or host, which Envoy refuses', () => {
    const model = modelWith({ healthCheck: { http: { path: '/healthz\nX', host: 'a\u0000b' } } });
    const message = condition(model, 'api-policy', 'Accepted')?.message ?? '';
    expect(message).toContain('spec.healthCheck.http.path: "/healthz\\nX" must not contain a line break or other control character');
    expect(message).toContain('spec.healthCheck.http.host: "a\\u0000b" must not contain a line break or other control character');
    expect(modelWith({ healthCheck: { http: { path: '/healthz', host: 'a.example' } } }).effectivePolicy('shop/api')).toBeDefined();
  });

  it('rejects zero health-check and outlier intervals, which Envoy refuses', () => {
    const model = modelWith({ healthCheck: { tcp: {}, interval: '0s' }, outlierDetection: { interval: '0ms' } });
    const message = condition(model, 'api-policy', 'Accepted')?.message ?? '';
    expect(message).toContain('spec.healthCheck.interval: "0s" must be longer than 0');
    expect(message).toContain('spec.outlierDetection.interval: "0ms" must be longer than 0');
  });

  it('lets the oldest policy win a Service and marks the others Conflicted', () => {
    const aged = (name: string, spec: object, creationTimestamp: string) => {
      const object = policy(name, spec) as any;
      object.metadata.creationTimestamp = creationTimestamp;
      return object as KubeObject;
    };
    const model = new MeshModel();
    model.apply([upsert(service('api')), upsert(aged('aa-second', { targetRef: { name: 'api' }, timeout: '2s' }, '2026-02-01T00:00:00Z'))]);
    model.apply([upsert(aged('zz-first', { targetRef: { name: 'api' }, timeout: '1s' }, '2026-01-01T00:00:00Z'))]);
    // Seen later, created earlier: it wins.
    expect(model.effectivePolicy('shop/api')?.policyKey).toBe('shop/zz-first');
    expect(condition(model, 'aa-second', 'Accepted')).toMatchObject({ status: 'False', reason: 'Conflicted' });
    expect(condition(model, 'aa-second', 'Accepted')?.message).toContain(
      'spec.targetRef.name: Service shop/api is served by TrafficPolicy shop/zz-first, which wins',
    );
    // No creationTimestamp: the name decides.
    const same = new MeshModel();
    same.apply([
      upsert(service('api')),
      upsert(policy('b', { targetRef: { name: 'api' } })),
      upsert(policy('a', { targetRef: { name: 'api' } })),
    ]);
    expect(same.effectivePolicy('shop/api')?.policyKey).toBe('shop/a');
    // The winner goes away: the other takes over.
    const change = model.apply([remove('TrafficPolicy', 'zz-first')]);
    expect(model.effectivePolicy('shop/api')?.policyKey).toBe('shop/aa-second');
    expect(change.services.has('shop/api')).toBe(true);
    expect(change.policyStatus).toEqual(new Set(['shop/zz-first', 'shop/aa-second']));
    expect(model.policyStatus('shop', 'zz-first')).toBeUndefined();
  });

  it('reports a source rejection (schema failure) as Accepted=False with the source messages, keeping the last good spec', () => {
    const model = modelWith({ timeout: '1s' });
    const change = model.apply([
      {
        type: 'rejected',
        ref: { kind: 'TrafficPolicy', namespace: 'shop', name: 'api-policy' },
        errors: ['spec.retries.attempts: must be integer'],
        object: policy('api-policy', { targetRef: { name: 'api' }, retries: { attempts: 'x' } }, 2),
      },
    ]);
    expect(change.policyStatus.has('shop/api-policy')).toBe(true);
    expect(condition(model, 'api-policy', 'Accepted')).toMatchObject({
      status: 'False',
      reason: 'Invalid',
      message: 'spec.retries.attempts: must be integer',
      observedGeneration: 2,
    });
    expect(model.effectivePolicy('shop/api')?.spec.timeout).toBe('1s');
    // Fixed by the next upsert.
    model.apply([upsert(policy('api-policy', { targetRef: { name: 'api' }, timeout: '2s' }, 3))]);
    expect(condition(model, 'api-policy', 'Accepted')).toMatchObject({ status: 'True', observedGeneration: 3 });
    expect(model.effectivePolicy('shop/api')).toMatchObject({ current: true, spec: { timeout: '2s' } });
  });
});

describe('model: last good policy and re-evaluation', () => {
  it('keeps serving the last good spec when a policy turns invalid', () => {
    const model = modelWith({ loadBalancer: { policy: 'Maglev', maglev: { tableSize: 65537 } } });
    const change = model.apply([
      upsert(policy('api-policy', { targetRef: { name: 'api' }, loadBalancer: { policy: 'Maglev', maglev: { tableSize: 65536 } } }, 2)),
    ]);
    expect(condition(model, 'api-policy', 'Accepted')?.status).toBe('False');
    expect(condition(model, 'api-policy', 'Programmed')).toMatchObject({ status: 'False', reason: 'LastGoodKept' });
    const effective = model.effectivePolicy('shop/api');
    expect(effective?.current).toBe(false);
    expect(effective?.spec.loadBalancer?.maglev?.tableSize).toBe(65537);
    // The served spec did not change: the Service is not re-translated.
    expect(change.services.has('shop/api')).toBe(false);
    expect(change.policyStatus.has('shop/api-policy')).toBe(true);
  });

  it('serves the defaults when a policy was never valid', () => {
    const model = modelWith({ split: [{ backend: 'v1', weight: 0 }] });
    expect(model.effectivePolicy('shop/api')).toBeUndefined();
    expect(condition(model, 'api-policy', 'Programmed')?.reason).toBe('DefaultsInUse');
  });

  it('makes a policy valid when the Service it references appears later, without re-applying it', () => {
    const model = new MeshModel();
    model.apply([
      upsert(service('api')),
      upsert(service('v1')),
      upsert(
        policy('canary', {
          targetRef: { name: 'api' },
          split: [
            { backend: 'v1', weight: 1 },
            { backend: 'v2', weight: 1 },
          ],
        }),
      ),
    ]);
    expect(condition(model, 'canary', 'ResolvedRefs')?.status).toBe('False');
    expect(model.effectivePolicy('shop/api')).toBeUndefined();
    const change = model.apply([upsert(service('v2'))]);
    expect(condition(model, 'canary', 'ResolvedRefs')?.status).toBe('True');
    expect(model.effectivePolicy('shop/api')?.current).toBe(true);
    expect(change.services).toEqual(new Set(['shop/v2', 'shop/api']));
    expect(change.policyStatus).toEqual(new Set(['shop/canary']));
  });

  it('re-translates a Service whose backend changed', () => {
    const model = modelWith({
      split: [
        { backend: 'v1', weight: 1 },
        { backend: 'v2', weight: 1 },
      ],
    });
    const change = model.apply([
      upsert(
        service('v2', [
          { name: 'http', port: 8080 },
          { name: 'admin', port: 9000 },
        ]),
      ),
    ]);
    expect(change.services).toEqual(new Set(['shop/v2', 'shop/api']));
  });
});

describe('model: Services and endpoints', () => {
  it('follows a slice that is updated, moves to another Service and goes', () => {
    const model = new MeshModel();
    model.apply([upsert(service('a')), upsert(service('b')), upsert(slice('s-1', 'a', [{ addresses: ['10.0.0.1'] }]))]);
    const addresses = (key: string) => model.endpoints(key, model.service(key)!.ports[0]).map((e) => e.address);
    model.apply([upsert(slice('s-1', 'a', [{ addresses: ['10.0.0.2'] }]))]);
    expect(model.endpointSlicesOf('shop/a')).toHaveLength(1);
    expect(addresses('shop/a')).toEqual(['10.0.0.2']);
    model.apply([upsert(slice('s-1', 'b', [{ addresses: ['10.0.0.3'] }]))]);
    expect(addresses('shop/a')).toEqual([]);
    expect(addresses('shop/b')).toEqual(['10.0.0.3']);
    expect(model.slicedServiceKeys()).toEqual(['shop/b']);
    model.apply([remove('EndpointSlice', 's-1')]);
    expect(addresses('shop/b')).toEqual([]);
    expect(model.slicedServiceKeys()).toEqual([]);
  });

  it('lists the Services as they are now, sorted, in a list the caller may change', () => {
    const model = new MeshModel();
    model.apply([upsert(service('b')), upsert(service('a'))]);
    const first = model.services();
    expect(first.map((s) => s.key)).toEqual(['shop/a', 'shop/b']);
    first.reverse();
    expect(model.services().map((s) => s.key)).toEqual(['shop/a', 'shop/b']);
    // A slice changes no Service; a Service added, changed or removed does.
    model.apply([upsert(slice('a-1', 'a', [{ addresses: ['10.0.0.1'] }]))]);
    expect(model.services().map((s) => s.key)).toEqual(['shop/a', 'shop/b']);
    model.apply([upsert(service('c')), remove('Service', 'a')]);
    expect(model.services().map((s) => s.key)).toEqual(['shop/b', 'shop/c']);
    model.apply([upsert(service('b', [{ name: 'grpc', port: 9090 }]))]);
    expect(model.services().map((s) => s.ports[0].port)).toEqual([9090, 8080]);
  });

  it("touches only that Service's endpoints for an EndpointSlice change", () => {
    const model = modelWith({
      split: [
        { backend: 'v1', weight: 1 },
        { backend: 'v2', weight: 1 },
      ],
    });
    model.apply([upsert(slice('v1-a', 'v1', [{ addresses: ['10.0.0.1'] }]))]);
    const port = model.service('shop/v1')!.ports[0];
    expect(model.endpoints('shop/v1', port).map((e) => e.address)).toEqual(['10.0.0.1']);
    const change = model.apply([upsert(slice('v1-a', 'v1', [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }]))]);
    expect(change.endpoints).toEqual(new Set(['shop/v1']));
    expect(change.services.size).toBe(0);
    expect(model.endpoints('shop/v1', port).map((e) => e.address)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(change.policyStatus.size).toBe(0);
    expect(change.all).toBe(false);
  });

  it('merges several slices, maps conditions to health and resolves named target ports', () => {
    const model = new MeshModel();
    model.apply([
      upsert(service('api', [{ name: 'web', port: 80, targetPort: 'http-web', appProtocol: 'http' }])),
      upsert(
        slice(
          'api-1',
          'api',
          [
            { addresses: ['10.0.0.2'], conditions: { ready: true }, zone: 'zone-b', nodeName: 'n2' },
            { addresses: ['10.0.0.3'], conditions: { ready: false, serving: true, terminating: true }, zone: 'zone-b' },
            { addresses: ['10.0.0.4'], conditions: { ready: false, serving: false }, zone: 'zone-a' },
          ],
          [{ name: 'web', port: 8080 }],
        ),
      ),
      upsert(
        slice(
          'api-2',
          'api',
          [
            { addresses: ['10.0.0.1'], zone: 'zone-a' },
            // Also in api-1, healthier there.
            { addresses: ['10.0.0.2'], conditions: { ready: false, serving: true }, zone: 'zone-b' },
          ],
          [{ name: 'web', port: 8080 }],
        ),
      ),
    ]);
    const port = model.service('shop/api')!.ports[0];
    expect(port).toMatchObject({ name: 'web', port: 80, protocol: 'http' });
    expect(model.endpoints('shop/api', port)).toEqual([
      { address: '10.0.0.1', port: 8080, health: 'healthy', zone: 'zone-a' },
      { address: '10.0.0.2', port: 8080, health: 'healthy', zone: 'zone-b', nodeName: 'n2' },
      { address: '10.0.0.3', port: 8080, health: 'draining', zone: 'zone-b' },
    ]);
    const change = model.apply([remove('EndpointSlice', 'api-2')]);
    expect(change.endpoints).toEqual(new Set(['shop/api']));
    expect(model.endpoints('shop/api', port).map((e) => e.address)).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('reads port protocols from appProtocol, then the port name', () => {
    const model = new MeshModel();
    model.apply([
      upsert(
        service(
          'mixed',
          [
            { name: 'a', port: 1, appProtocol: 'grpc' },
            { name: 'b', port: 2, appProtocol: 'kubernetes.io/h2c' },
            { name: 'c', port: 3, appProtocol: 'h2c' },
            { name: 'd', port: 4, appProtocol: 'tcp' },
            { name: 'grpc-e', port: 5 },
            { name: 'f', port: 6 },
            { name: 'g', port: 7, protocol: 'UDP' },
          ],
          { clusterIP: 'None', sessionAffinity: 'ClientIP' },
        ),
      ),
    ]);
    model.apply([upsert(service('alias', [{ name: 'http', port: 80 }], { type: 'ExternalName' }))]);
    expect(model.service('shop/alias')?.ports).toEqual([]);
    const info = model.service('shop/mixed')!;
    expect(info.ports.map((p) => p.protocol)).toEqual(['grpc', 'http2', 'http2', 'tcp', 'grpc', 'tcp']);
    expect(info.headless).toBe(true);
    expect(info.clientIPAffinity).toBe(true);
  });

  it('serves a port as TCP unless its appProtocol or name says HTTP, HTTP/2 or gRPC', () => {
    const cases: Array<[object, string]> = [
      // Names that say nothing about HTTP: a database or cache must get a TCP proxy, not a virtual host.
      [{ name: 'redis', port: 6379 }, 'tcp'],
      [{ name: 'mysql', port: 3306 }, 'tcp'],
      [{ name: 'postgres', port: 5432 }, 'tcp'],
      [{ port: 9000 }, 'tcp'],
      [{ name: 'web', port: 80 }, 'tcp'],
      [{ name: 'httpbin', port: 81 }, 'tcp'],
      [{ name: 'tcp-http', port: 82 }, 'tcp'],
      // The name is the protocol, or `<protocol>-<suffix>`.
      [{ name: 'http', port: 83 }, 'http'],
      [{ name: 'http-web', port: 84 }, 'http'],
      [{ name: 'http2', port: 85 }, 'http2'],
      [{ name: 'http2-api', port: 86 }, 'http2'],
      [{ name: 'h2c-api', port: 87 }, 'http2'],
      [{ name: 'grpc', port: 88 }, 'grpc'],
      [{ name: 'grpc-payments', port: 89 }, 'grpc'],
      [{ name: 'grpc-web', port: 90 }, 'http'],
      [{ name: 'grpc-web-ui', port: 91 }, 'http'],
      // appProtocol decides over the name, in any case.
      [{ name: 'redis', port: 92, appProtocol: 'HTTP' }, 'http'],
      [{ name: 'http', port: 93, appProtocol: 'redis' }, 'tcp'],
      [{ name: 'http', port: 94, appProtocol: 'https' }, 'tcp'],
      [{ name: 'x', port: 95, appProtocol: 'kubernetes.io/grpc' }, 'grpc'],
      [{ name: 'y', port: 96, appProtocol: 'http2' }, 'http2'],
      [{ name: 'z', port: 97, appProtocol: 'grpc-web' }, 'http'],
      // WebSocket upgrades are not enabled on the HTTP listener, and wss is TLS: both stay TCP.
      [{ name: 'ws', port: 98, appProtocol: 'kubernetes.io/ws' }, 'tcp'],
      [{ name: 'wss', port: 99, appProtocol: 'kubernetes.io/wss' }, 'tcp'],
    ];
    const model = new MeshModel();
    model.apply([
      upsert(
        service(
          'ports',
          cases.map(([port]) => port),
        ),
      ),
    ]);
    const got = model.service('shop/ports')!.ports.map((p) => [p.name || '(unnamed)', p.port, p.protocol]);
    expect(got).toEqual(cases.map(([port, protocol]) => [(port as any).name ?? '(unnamed)', (port as any).port, protocol]));
  });

  it('keeps Ingresses, IngressClasses and Secrets, and reports Ingresses that use a changed Service', () => {
    const model = new MeshModel();
    const ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        ingressClassName: 'switchyard',
        rules: [
          {
            host: 'shop.example',
            http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: 8080 } } } }] },
          },
        ],
      },
    } as KubeObject;
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'tls', namespace: 'shop' },
      type: 'kubernetes.io/tls',
      data: {},
    } as KubeObject;
    const ingressClass = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: 'switchyard' },
      spec: { controller: 'switchyard.dev/gateway' },
    } as KubeObject;
    const first = model.apply([
      upsert(ingress),
      upsert(secret),
      { type: 'upsert', ref: { kind: 'IngressClass', namespace: '', name: 'switchyard' }, object: ingressClass },
    ]);
    expect(first.all).toBe(true);
    expect(first.ingresses).toEqual(new Set(['shop/web']));
    expect(first.secrets).toEqual(new Set(['shop/tls']));
    expect(model.ingress('shop', 'web')).toBe(ingress);
    expect(model.ingresses()).toHaveLength(1);
    expect(model.secret('shop', 'tls')).toBe(secret);
    expect(model.ingressClass('switchyard')).toBe(ingressClass);
    const change = model.apply([upsert(service('api'))]);
    expect(change.ingresses).toEqual(new Set(['shop/web']));
    const classChange = model.apply([{ type: 'delete', ref: { kind: 'IngressClass', namespace: '', name: 'switchyard' } }]);
    expect(classChange.ingresses).toEqual(new Set(['shop/web']));
    expect(model.ingressClasses()).toHaveLength(0);
  });

  it('does not serve endpoints whose slice port is null ("all ports"), and keeps the other slices', () => {
    const model = new MeshModel();
    model.apply([
      upsert(service('api')),
      upsert(slice('api-any', 'api', [{ addresses: ['10.0.0.1'] }], [{ name: 'http', port: null }])),
      upsert(slice('api-1', 'api', [{ addresses: ['10.0.0.2'] }])),
    ]);
    const port = model.service('shop/api')!.ports[0];
    expect(model.endpoints('shop/api', port)).toEqual([expect.objectContaining({ address: '10.0.0.2', port: 8080 })]);
  });

  it('ignores an EndpointSlice without its Service label and keeps going', () => {
    const model = new MeshModel();
    const orphan = slice('orphan', 'x', [{ addresses: ['10.0.0.9'] }]) as any;
    delete orphan.metadata.labels;
    const change = model.apply([upsert(orphan), upsert(service('api'))]);
    expect(change.services).toEqual(new Set(['shop/api']));
    expect(change.endpoints.size).toBe(0);
  });
});
