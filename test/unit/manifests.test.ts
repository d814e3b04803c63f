import { canonicalJson, parseManifests, toSourceEvent, validateObject } from '../../src/sources/manifests.js';
import type { KubeObject, TrafficPolicyObject } from '../../src/sources/types.js';

/** A TrafficPolicy that sets every field of TrafficPolicySpec. */
function fullPolicy(): TrafficPolicyObject {
  return {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'reviews', namespace: 'shop', generation: 3 },
    spec: {
      targetRef: { kind: 'Service', name: 'reviews' },
      loadBalancer: {
        policy: 'Maglev',
        ringHash: { minimumRingSize: 1024, maximumRingSize: 8388608 },
        maglev: { tableSize: 65537 },
        leastRequest: { choiceCount: 2, activeRequestBias: 1.5 },
        hashOn: [
          { header: { name: 'x-user' }, terminal: true },
          { cookie: { name: 'session', ttl: '1h30m', path: '/' } },
          { sourceIP: {} },
          { queryParameter: { name: 'user' } },
        ],
      },
      split: [
        { backend: 'reviews-v1', port: 9080, weight: 90 },
        { backend: 'reviews-v2', weight: 10 },
      ],
      routes: [
        {
          match: {
            path: { prefix: '/api' },
            headers: [
              { name: 'x-canary', exact: 'true' },
              { name: 'x-debug', present: true },
            ],
          },
          backend: 'reviews-v2',
          port: 9080,
        },
        {
          match: { path: { regex: '^/v[0-9]+/.*' } },
          split: [
            { backend: 'reviews-v1', weight: 1 },
            { backend: 'reviews-v3', weight: 1 },
          ],
        },
      ],
      timeout: '15s',
      retries: { attempts: 3, perTryTimeout: '250ms', retryOn: ['5xx', 'connect-failure', 'unavailable'] },
      circuitBreaker: { maxConnections: 1024, maxPendingRequests: 128, maxRequests: 2048, maxRetries: 3 },
      outlierDetection: { consecutive5xx: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
      healthCheck: {
        http: { path: '/healthz', host: 'reviews' },
        interval: '5s',
        timeout: '1s',
        healthyThreshold: 2,
        unhealthyThreshold: 3,
      },
      locality: { preferLocalZone: true, failoverZones: ['zone-b', 'zone-c'] },
    },
    status: {
      observedGeneration: 3,
      conditions: [
        {
          type: 'Accepted',
          status: 'True',
          reason: 'Accepted',
          message: 'ok',
          observedGeneration: 3,
          lastTransitionTime: '2026-01-02T15:04:05Z',
        },
      ],
    },
  };
}

/** A deep copy of the full policy with `edit` applied to its spec (as loose JSON). */
function policyWith(edit: (spec: any) => void): TrafficPolicyObject {
  const policy = structuredClone(fullPolicy());
  edit(policy.spec);
  return policy;
}

const service = (spec: Record<string, unknown>, name = 'reviews'): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec }) as unknown as KubeObject;

describe('parseManifests', () => {
  it('reads several documents per file, each with the line it starts on', () => {
    const text = [
      '# the shop',
      'apiVersion: v1',
      'kind: Service',
      'metadata:',
      '  name: reviews',
      '  namespace: shop',
      'spec:',
      '  ports: [{ port: 9080 }]',
      '---',
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: reviews }',
      '---',
      '',
      'apiVersion: discovery.k8s.io/v1',
      'kind: EndpointSlice',
      'metadata:',
      '  name: reviews-abc',
      '  labels: { kubernetes.io/service-name: reviews }',
      'addressType: IPv4',
      '---',
    ].join('\n');
    const parsed = parseManifests(text, 'shop.yaml');
    // The Deployment is skipped, and said to be (a note: Switchyard does not read that kind).
    expect(parsed.errors.map((e) => [e.type, e.line, e.object?.kind])).toEqual([['unknown-kind', 11, 'Deployment']]);
    expect(parsed.objects.map((o) => [o.object.kind, o.object.metadata.name, o.origin.file, o.origin.line])).toEqual([
      ['Service', 'reviews', 'shop.yaml', 2],
      ['EndpointSlice', 'reviews-abc', 'shop.yaml', 15],
    ]);
    // Namespaced objects without a namespace land in `default`, as kubectl apply would put them.
    expect(parsed.objects[1].object.metadata.namespace).toBe('default');
  });

  it('unpacks List kinds, with each item on its own line', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '  - apiVersion: v1',
      '    kind: Service',
      '    metadata: { name: a }',
      '    spec: { ports: [{ port: 80 }] }',
      '  - apiVersion: networking.k8s.io/v1',
      '    kind: IngressClass',
      '    metadata: { name: switchyard, namespace: ignored }',
      '    spec: { controller: switchyard.dev/gateway }',
    ].join('\n');
    const parsed = parseManifests(text, 'list.yaml');
    expect(parsed.objects.map((o) => [o.object.kind, o.origin.line])).toEqual([
      ['Service', 4],
      ['IngressClass', 8],
    ]);
    const events = parsed.objects.map((o) => toSourceEvent(o.object, o.origin));
    expect(events.map((e) => e.type)).toEqual(['upsert', 'upsert']);
    // IngressClass is cluster-scoped: its ref has no namespace whatever the manifest says.
    expect(events[1].ref).toEqual({ kind: 'IngressClass', namespace: '', name: 'switchyard' });
  });

  it('reports a YAML syntax error with the file, line and column', () => {
    const text = ['apiVersion: v1', 'kind: Service', 'metadata:', '  name: a', ' spec: [1, 2', ''].join('\n');
    const parsed = parseManifests(text, 'deploy/broken.yaml');
    expect(parsed.errors.length).toBeGreaterThan(0);
    const [error] = parsed.errors;
    expect(error.type).toBe('syntax');
    expect(error.file).toBe('deploy/broken.yaml');
    expect(error.line).toBeGreaterThanOrEqual(5);
    expect(error.column).toBeGreaterThan(0);
    expect(error.message).toMatch(new RegExp(`^deploy/broken\\.yaml:${error.line}:${error.column}: YAML syntax error: `));
  });

  it('resolves merge keys, and reports a duplicate key as a syntax error', () => {
    const merged = parseManifests(
      [
        'apiVersion: v1',
        'kind: Service',
        'metadata: { name: a }',
        'spec:',
        '  ports:',
        '    - &http { port: 80, protocol: TCP }',
        '    - { <<: *http, port: 81, name: b }',
      ].join('\n'),
      'merge.yaml',
    );
    expect(merged.errors).toEqual([]);
    expect((merged.objects[0].object as any).spec.ports[1]).toEqual({ port: 81, protocol: 'TCP', name: 'b' });
    const duplicated = parseManifests(['apiVersion: v1', 'kind: Service', 'kind: Secret'].join('\n'), 'dup.yaml');
    expect(duplicated.errors).toEqual([expect.objectContaining({ type: 'syntax', line: 3 })]);
    expect(duplicated.objects).toEqual([]);
  });

  it('reports a document that is not an object, or has no kind or no name, and keeps the rest', () => {
    const text = [
      '- just a list',
      '---',
      'apiVersion: v1',
      'metadata: { name: nokind }',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: { namespace: shop }',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: good }',
      'spec: { ports: [{ port: 80 }] }',
    ].join('\n');
    const parsed = parseManifests(text, 'mixed.yaml');
    expect(parsed.errors.map((e) => [e.type, e.line])).toEqual([
      ['invalid', 1],
      ['invalid', 3],
      // The line of the field at fault (metadata, where name is missing), not the document's first line.
      ['invalid', 8],
    ]);
    expect(parsed.errors[1].message).toContain('kind: is required');
    expect(parsed.errors[2].message).toBe('mixed.yaml:8: Service: metadata.name: is required');
    expect(parsed.objects.map((o) => o.object.metadata.name)).toEqual(['good']);
  });
});

describe('validateObject: Kubernetes kinds', () => {
  it('accepts well-formed objects of every kind', () => {
    const objects = [
      service({
        ports: [
          { name: 'http', port: 9080, targetPort: 'http' },
          { name: 'grpc', port: 9090, targetPort: 9090, appProtocol: 'grpc' },
        ],
      }),
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'reviews-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'reviews' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true }, zone: 'a' }],
        ports: [{ name: 'http', port: 9080, protocol: 'TCP' }],
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'shop', namespace: 'shop' },
        spec: {
          ingressClassName: 'switchyard',
          tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }],
          rules: [
            {
              host: 'shop.example.com',
              http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] },
            },
          ],
        },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'IngressClass',
        metadata: { name: 'switchyard' },
        spec: { controller: 'switchyard.dev/gateway' },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'shop-tls', namespace: 'shop' },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' },
      },
    ];
    for (const object of objects) expect(validateObject(object)).toEqual([]);
  });

  it('checks apiVersion and the metadata name', () => {
    expect(
      validateObject({
        apiVersion: 'apps/v1',
        kind: 'Service',
        metadata: { name: 'Reviews_1', namespace: 'shop' },
        spec: { ports: [{ port: 80 }] },
      }),
    ).toEqual([
      'Service shop/Reviews_1: apiVersion: must be v1 for a Service (got "apps/v1")',
      'Service shop/Reviews_1: metadata.name: must be a DNS-1035 label: lowercase letters, digits and "-", starting with a letter (got "Reviews_1")',
    ]);
    expect(validateObject({ apiVersion: 'v1', kind: 'Service', metadata: {}, spec: {} })).toContain(
      'Service default/(no name): metadata.name: is required',
    );
  });

  it('Service: needs ports numbered 1..65535, named when there are several', () => {
    expect(validateObject(service({}))).toEqual([
      'Service shop/reviews: spec.ports: a Service needs at least one port (or clusterIP: None for a headless Service)',
    ]);
    expect(validateObject(service({ clusterIP: 'None' }))).toEqual([]);
    expect(validateObject(service({ ports: [{ port: 70000 }, { name: 'b' }] }))).toEqual([
      'Service shop/reviews: spec.ports[0].port: must be at most 65535 (got 70000)',
      'Service shop/reviews: spec.ports[1].port: is required',
    ]);
    expect(validateObject(service({ ports: [{ port: '80' }] }))).toEqual([
      'Service shop/reviews: spec.ports[0].port: must be an integer (got string "80")',
    ]);
    expect(validateObject(service({ ports: [{ port: 80 }, { port: 81 }] }))).toEqual([
      'Service shop/reviews: spec.ports[0].name: is required when a Service has more than one port',
      'Service shop/reviews: spec.ports[1].name: is required when a Service has more than one port',
    ]);
    expect(validateObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' } })).toEqual([
      'Service default/a: spec: is required',
    ]);
  });

  it('EndpointSlice: needs addressType, the service-name label and addresses of that type', () => {
    const slice = (extra: Record<string, unknown>, labels: Record<string, string> = { 'kubernetes.io/service-name': 'reviews' }) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'reviews-1', namespace: 'shop', labels },
      ...extra,
    });
    expect(validateObject(slice({}))).toEqual(['EndpointSlice shop/reviews-1: addressType: is required']);
    expect(validateObject(slice({ addressType: 'IPv5' }))).toEqual([
      'EndpointSlice shop/reviews-1: addressType: must be one of IPv4, IPv6, FQDN (got "IPv5")',
    ]);
    expect(validateObject(slice({ addressType: 'IPv4' }, {}))).toEqual([
      'EndpointSlice shop/reviews-1: metadata.labels["kubernetes.io/service-name"]: is required: it names the Service these endpoints belong to',
    ]);
    expect(validateObject(slice({ addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1', 'fe80::1'] }, {}] }))).toEqual([
      'EndpointSlice shop/reviews-1: endpoints[1].addresses: is required',
    ]);
    expect(validateObject(slice({ addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1', 'fe80::1'] }] }))).toEqual([
      'EndpointSlice shop/reviews-1: endpoints[0].addresses[1]: must be an IPv4 address, as addressType says (got "fe80::1")',
    ]);
  });

  it('Ingress: needs rules or a default backend, with a path type and a service port', () => {
    const ingress = (spec: unknown) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'shop' }, spec });
    expect(validateObject(ingress({}))).toEqual(['Ingress default/shop: spec: an Ingress needs spec.rules or spec.defaultBackend']);
    expect(
      validateObject(ingress({ rules: [{ http: { paths: [{ path: '/', backend: { service: { name: 'web', port: {} } } }] } }] })),
    ).toEqual([
      'Ingress default/shop: spec.rules[0].http.paths[0].pathType: is required',
      'Ingress default/shop: spec.rules[0].http.paths[0].backend.service.port: must set exactly one of number, name (got none)',
    ]);
    expect(
      validateObject(
        ingress({
          rules: [
            { http: { paths: [{ path: 'api', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } },
          ],
        }),
      ),
    ).toEqual(['Ingress default/shop: spec.rules[0].http.paths[0].path: must start with "/" for pathType Prefix (got "api")']);
  });

  it('Ingress: a host is a DNS name (a wildcard first label allowed), as Kubernetes requires', () => {
    const ingress = (host: string, tlsHost = 'shop.example') => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'shop' },
      spec: {
        tls: [{ hosts: [tlsHost], secretName: 'tls' }],
        rules: [
          { host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } },
        ],
      },
    });
    expect(validateObject(ingress('shop.example'))).toEqual([]);
    expect(validateObject(ingress('*.shop.example', '*.shop.example'))).toEqual([]);
    expect(validateObject(ingress('shop.example\u0000', 'Shop.Example'))).toEqual([
      'Ingress default/shop: spec.tls[0].hosts[0]: must be a lower-case DNS name, optionally starting with "*." (got "Shop.Example")',
      'Ingress default/shop: spec.rules[0].host: must be a lower-case DNS name, optionally starting with "*." (got "shop.example\\u0000")',
    ]);
    expect(validateObject(ingress('10.0.0.1'))).toEqual([
      'Ingress default/shop: spec.rules[0].host: must be a DNS name, not an IP address (got "10.0.0.1")',
    ]);
  });

  it('Secret: a TLS secret needs tls.crt and tls.key, and data must be base64', () => {
    const secret = (rest: Record<string, unknown>) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'tls', namespace: 'shop' },
      ...rest,
    });
    expect(validateObject(secret({ type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==' } }))).toEqual([
      'Secret shop/tls: data["tls.key"]: is required for a Secret of type kubernetes.io/tls',
    ]);
    expect(validateObject(secret({ data: { token: 'not base64!' } }))).toEqual([
      'Secret shop/tls: data.token: must be base64-encoded (got "not base64!")',
    ]);
  });

  it('turns an invalid object into a rejected event and a valid one into an upsert', () => {
    const bad = service({ ports: [{ port: 0 }] });
    const event = toSourceEvent(bad, { file: 'a.yaml', line: 3 });
    expect(event).toEqual({
      type: 'rejected',
      ref: { kind: 'Service', namespace: 'shop', name: 'reviews' },
      errors: ['Service shop/reviews: spec.ports[0].port: must be at least 1 (got 0)'],
      object: bad,
      origin: { file: 'a.yaml', line: 3 },
    });
    expect(toSourceEvent(service({ ports: [{ port: 1 }] })).type).toBe('upsert');
  });
});

describe('validateObject: TrafficPolicy against the CRD schema', () => {
  const errorsOf = (edit: (spec: any) => void) => validateObject(policyWith(edit));

  it('accepts a policy that sets every field of the spec', () => {
    expect(validateObject(fullPolicy())).toEqual([]);
  });

  it('accepts the smallest policy: a target only', () => {
    expect(
      validateObject({
        apiVersion: 'switchyard.dev/v1alpha1',
        kind: 'TrafficPolicy',
        metadata: { name: 'p' },
        spec: { targetRef: { name: 'reviews' } },
      }),
    ).toEqual([]);
  });

  it('names the field and the allowed values of a bad enum', () => {
    expect(errorsOf((spec) => (spec.loadBalancer.policy = 'Magleb'))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.policy: must be one of Auto, RingHash, Maglev, LeastRequest, RoundRobin, Random (got "Magleb")',
    ]);
  });

  it('rejects an unknown field, naming its path', () => {
    const errors = errorsOf((spec) => (spec.loadBalancer.hashOn[0] = { headr: { name: 'x-user' } }));
    expect(errors).toContain(
      'TrafficPolicy shop/reviews: spec.loadBalancer.hashOn[0].headr: unknown field (known fields: header, cookie, sourceIP, queryParameter, terminal)',
    );
    expect(errors).toContain(
      'TrafficPolicy shop/reviews: spec.loadBalancer.hashOn[0]: must set exactly one of header, cookie, sourceIP, queryParameter (got none)',
    );
    expect(errorsOf((spec) => (spec.timout = '5s'))).toEqual([
      expect.stringMatching(/^TrafficPolicy shop\/reviews: spec\.timout: unknown field \(known fields: targetRef, /),
    ]);
    // Objects declared without properties (sourceIP: {}) take no fields at all.
    expect(errorsOf((spec) => (spec.loadBalancer.hashOn[2].sourceIP = { v6: true }))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.hashOn[2].sourceIP.v6: unknown field (this object takes no fields)',
    ]);
  });

  it('rejects a line break or other control character in the health-check path or host, naming the field', () => {
    const errors = errorsOf((spec) => (spec.healthCheck = { http: { path: '/healthz\r\nX-Injected: 1', host: 'a.example\u0007' } }));
    expect(errors).toEqual([
      expect.stringMatching(/^TrafficPolicy shop\/reviews: spec\.healthCheck\.http\.path: must be a string matching /),
      expect.stringMatching(/^TrafficPolicy shop\/reviews: spec\.healthCheck\.http\.host: must be a string matching /),
    ]);
    expect(errorsOf((spec) => (spec.healthCheck = { http: { path: '/healthz?probe=1', host: 'a.example' } }))).toEqual([]);
  });

  it('names the field and both types of a wrong type', () => {
    expect(errorsOf((spec) => (spec.retries.attempts = 'three'))).toEqual([
      'TrafficPolicy shop/reviews: spec.retries.attempts: must be an integer (got string "three")',
    ]);
    expect(errorsOf((spec) => (spec.split = { backend: 'a', weight: 1 }))).toEqual([
      'TrafficPolicy shop/reviews: spec.split: must be a list (got an object)',
    ]);
  });

  it('names the field and the bound of a weight out of range', () => {
    expect(errorsOf((spec) => (spec.split[1].weight = 10001))).toEqual([
      'TrafficPolicy shop/reviews: spec.split[1].weight: must be at most 10000 (got 10001)',
    ]);
    expect(errorsOf((spec) => (spec.routes[1].split[0].weight = -1))).toEqual([
      'TrafficPolicy shop/reviews: spec.routes[1].split[0].weight: must be at least 0 (got -1)',
    ]);
  });

  it('names the field of a duration that does not match the pattern', () => {
    expect(errorsOf((spec) => (spec.retries.perTryTimeout = '5 seconds'))).toEqual([
      'TrafficPolicy shop/reviews: spec.retries.perTryTimeout: must be a duration such as "250ms", "1.5s", "1m30s" or "2h" (got "5 seconds")',
    ]);
    expect(errorsOf((spec) => (spec.loadBalancer.hashOn[1].cookie.ttl = '1d'))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.hashOn[1].cookie.ttl: must be a duration such as "250ms", "1.5s", "1m30s" or "2h" (got "1d")',
    ]);
  });

  it('rejects a hashOn entry with two keys, naming both', () => {
    expect(errorsOf((spec) => (spec.loadBalancer.hashOn[0] = { header: { name: 'x-user' }, cookie: { name: 'session' } }))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.hashOn[0]: must set exactly one of header, cookie, sourceIP, queryParameter (got header and cookie)',
    ]);
  });

  it('requires targetRef.name and a route target, and checks the other bounds', () => {
    expect(errorsOf((spec) => (spec.targetRef = {}))).toEqual(['TrafficPolicy shop/reviews: spec.targetRef.name: is required']);
    expect(errorsOf((spec) => delete spec.routes[0].backend)).toEqual([
      'TrafficPolicy shop/reviews: spec.routes[0]: must set exactly one of backend, split (got none)',
    ]);
    expect(errorsOf((spec) => (spec.loadBalancer.maglev.tableSize = 5000012))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.maglev.tableSize: must be at most 5000011 (got 5000012)',
    ]);
    expect(errorsOf((spec) => (spec.loadBalancer.leastRequest.choiceCount = 1))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.leastRequest.choiceCount: must be at least 2 (got 1)',
    ]);
    expect(errorsOf((spec) => (spec.outlierDetection.maxEjectionPercent = 101))).toEqual([
      'TrafficPolicy shop/reviews: spec.outlierDetection.maxEjectionPercent: must be at most 100 (got 101)',
    ]);
    expect(errorsOf((spec) => (spec.loadBalancer.ringHash.minimumRingSize = 0))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.ringHash.minimumRingSize: must be at least 1 (got 0)',
    ]);
    expect(errorsOf((spec) => (spec.split[0].backend = 'Reviews'))).toEqual([
      expect.stringContaining('spec.split[0].backend: must be a DNS-1123 label'),
    ]);
  });

  it('enforces the CRD CEL rules in code', () => {
    expect(errorsOf((spec) => (spec.loadBalancer.ringHash = { minimumRingSize: 4096, maximumRingSize: 1024 }))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.ringHash: minimumRingSize must not be larger than maximumRingSize',
    ]);
    expect(errorsOf((spec) => spec.split.forEach((b: any) => (b.weight = 0)))).toEqual([
      'TrafficPolicy shop/reviews: spec.split: at least one backend needs a weight above 0',
    ]);
    expect(errorsOf((spec) => (spec.routes[1].split[1].backend = 'reviews-v1'))).toEqual([
      'TrafficPolicy shop/reviews: spec.routes[1].split: each backend and port may appear only once',
    ]);
    expect(errorsOf((spec) => (spec.routes[0].match.headers[0].regex = '.*'))).toEqual([
      'TrafficPolicy shop/reviews: spec.routes[0].match.headers[0]: set at most one of exact, regex and present',
    ]);
    expect(errorsOf((spec) => (spec.routes[1].port = 9080))).toEqual([
      'TrafficPolicy shop/reviews: spec.routes[1]: port goes with backend; a split names its ports per backend',
    ]);
  });

  it('requires a prime maglev table size, as Envoy does', () => {
    expect(errorsOf((spec) => (spec.loadBalancer.maglev.tableSize = 65536))).toEqual([
      'TrafficPolicy shop/reviews: spec.loadBalancer.maglev.tableSize: 65536 is not prime; use a prime such as 65537',
    ]);
  });

  it('checks the status too, and rejects unknown top-level fields', () => {
    const policy: any = fullPolicy();
    policy.status.conditions[0].status = 'Yes';
    policy.spc = {};
    expect(validateObject(policy)).toEqual([
      'TrafficPolicy shop/reviews: spc: unknown field (known fields: apiVersion, kind, metadata, spec, status)',
      'TrafficPolicy shop/reviews: status.conditions[0].status: must be one of True, False, Unknown (got "Yes")',
    ]);
  });
});

describe('canonicalJson', () => {
  it('writes an object the same whatever its key order, without undefined fields, keys in code-unit order', () => {
    const text = canonicalJson({ b: [1, undefined, { y: 'é', x: null }], a: undefined, Z: true, é: 2, '10': 'ten', '9': 9 });
    expect(text).toBe('{"10":"ten","9":9,"Z":true,"b":[1,null,{"x":null,"y":"é"}],"é":2}');
    expect(canonicalJson({ '9': 9, é: 2, Z: true, '10': 'ten', b: [1, undefined, { x: null, y: 'é' }] })).toBe(text);
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson(undefined)).toBe('null');
  });
});
