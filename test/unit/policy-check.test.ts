// TrafficPolicy's semantic checks, one rule at a time: each bad spec yields exactly its own issue
// (nothing more), and the value just inside each limit yields none.
import { checkPolicy, type ServiceInfo } from '../../src/model/index.js';
import type { TrafficPolicySpec } from '../../src/sources/types.js';

const NS = 'shop';

/** reviews (9080, 9090), ratings (9080), cart (80). */
function lookup(namespace: string, name: string): ServiceInfo | undefined {
  const ports: Record<string, number[]> = { reviews: [9080, 9090], ratings: [9080], cart: [80] };
  if (namespace !== NS || !ports[name]) return undefined;
  return { key: `${namespace}/${name}`, namespace, name, ports: ports[name].map((port) => ({ port })) } as unknown as ServiceInfo;
}

function check(spec: Partial<TrafficPolicySpec>): { spec: string[]; refs: string[]; targetFound: boolean } {
  return checkPolicy(NS, { targetRef: { name: 'reviews' }, ...spec } as TrafficPolicySpec, lookup);
}

/** The spec issues of a policy on shop/reviews, as field paths (the part before the first colon). */
function fieldsOf(spec: Partial<TrafficPolicySpec>): string[] {
  return check(spec).spec.map((issue) => issue.slice(0, issue.indexOf(':')));
}

function refsOf(spec: Partial<TrafficPolicySpec>): string[] {
  return check(spec).refs.map((issue) => issue.slice(0, issue.indexOf(':')));
}

describe('checkPolicy: the target', () => {
  it('finds the target, or says it is missing or unknown', () => {
    expect(check({})).toEqual({ spec: [], refs: [], targetFound: true });
    expect(checkPolicy(NS, { targetRef: { name: '' } } as TrafficPolicySpec, lookup)).toEqual({
      spec: ['spec.targetRef.name: missing; name the Service this policy applies to'],
      refs: [],
      targetFound: false,
    });
    expect(checkPolicy(NS, { targetRef: { name: 'nope' } } as TrafficPolicySpec, lookup)).toEqual({
      spec: [],
      refs: ['spec.targetRef.name: Service shop/nope not found in namespace shop'],
      targetFound: false,
    });
  });
});

describe('checkPolicy: load balancer limits', () => {
  it.each([
    [{ maglev: { tableSize: 65537 } }, []],
    [{ maglev: { tableSize: 5_000_011 } }, []],
    [{ maglev: { tableSize: 5_000_012 } }, ['spec.loadBalancer.maglev.tableSize']],
    [{ maglev: { tableSize: 5_000_013 } }, ['spec.loadBalancer.maglev.tableSize']],
    [{ maglev: { tableSize: 65536 } }, ['spec.loadBalancer.maglev.tableSize']],
    [{ ringHash: { minimumRingSize: 1, maximumRingSize: 1 } }, []],
    [{ ringHash: { minimumRingSize: 2, maximumRingSize: 1 } }, ['spec.loadBalancer.ringHash']],
    [{ ringHash: { minimumRingSize: 0 } }, ['spec.loadBalancer.ringHash.minimumRingSize']],
    [{ ringHash: { maximumRingSize: 8_388_608 } }, []],
    [{ ringHash: { maximumRingSize: 8_388_609 } }, ['spec.loadBalancer.ringHash.maximumRingSize']],
    [{ ringHash: { minimumRingSize: 1024 } }, []],
    [{ leastRequest: { choiceCount: 2 } }, []],
    [{ leastRequest: { choiceCount: 1 } }, ['spec.loadBalancer.leastRequest.choiceCount']],
  ] as const)('%j -> %j', (loadBalancer, fields) => {
    expect(fieldsOf({ loadBalancer })).toEqual(fields);
  });
});

describe('checkPolicy: hash keys', () => {
  it.each([
    [{ hashOn: [{ header: { name: 'x-user' } }] }, []],
    [{ policy: 'RingHash', hashOn: [{ sourceIP: true }] }, []],
    [{ policy: 'Maglev', hashOn: [{ cookie: { name: 'id', ttl: '1h' } }] }, []],
    [{ policy: 'LeastRequest', hashOn: [{ header: { name: 'x-user' } }] }, ['spec.loadBalancer.hashOn']],
    [{ policy: 'RoundRobin', hashOn: [] }, []],
    [{ hashOn: [{}] }, ['spec.loadBalancer.hashOn[0]']],
    [{ hashOn: [{ sourceIP: true, header: { name: 'x' } }] }, ['spec.loadBalancer.hashOn[0]']],
    [{ hashOn: [{ cookie: { name: 'id', ttl: 'soon' } }] }, ['spec.loadBalancer.hashOn[0].cookie.ttl']],
    [{ hashOn: [{ header: { name: 'bad header' } }] }, ['spec.loadBalancer.hashOn[0].header.name']],
    [{ hashOn: [{ header: { name: ':authority' } }] }, []],
    [{ hashOn: [{ cookie: { name: '' } }] }, ['spec.loadBalancer.hashOn[0].cookie.name']],
    [{ hashOn: [{ queryParameter: { name: '' } }] }, ['spec.loadBalancer.hashOn[0].queryParameter.name']],
    [{ hashOn: [{ queryParameter: { name: 'user' } }] }, []],
  ] as const)('%j -> %j', (loadBalancer, fields) => {
    expect(fieldsOf({ loadBalancer: loadBalancer as unknown as TrafficPolicySpec['loadBalancer'] })).toEqual(fields);
  });
});

describe('checkPolicy: splits and routes', () => {
  it('adds positive weights only, and wants some weight', () => {
    expect(fieldsOf({ split: [{ backend: 'reviews', weight: 1 }] })).toEqual([]);
    expect(fieldsOf({ split: [] })).toEqual(['spec.split']);
    expect(fieldsOf({ split: [{ backend: 'reviews', weight: 0 }] })).toEqual(['spec.split']);
    // -5 + 5 is not a positive total: negative weights count as nothing.
    expect(
      fieldsOf({
        split: [
          { backend: 'reviews', weight: -5 },
          { backend: 'ratings', weight: 5 },
        ],
      }),
    ).toEqual(['spec.split[0].weight']);
    expect(
      fieldsOf({
        split: [
          { backend: 'reviews', weight: -5 },
          { backend: 'ratings', weight: 0 },
        ],
      }),
    ).toEqual(['spec.split', 'spec.split[0].weight']);
  });

  it('resolves backends and their ports', () => {
    expect(refsOf({ split: [{ backend: 'missing', weight: 1 }] })).toEqual(['spec.split[0].backend']);
    // No port: every port of the target must exist on the backend (ratings lacks 9090).
    expect(refsOf({ split: [{ backend: 'ratings', weight: 1 }] })).toEqual(['spec.split[0].port']);
    expect(refsOf({ split: [{ backend: 'ratings', weight: 1, port: 9080 }] })).toEqual([]);
    expect(refsOf({ split: [{ backend: 'cart', weight: 1, port: 9080 }] })).toEqual(['spec.split[0].port']);
    expect(refsOf({ routes: [{ match: {}, backend: 'ratings', port: 9080 }] })).toEqual([]);
    expect(refsOf({ routes: [{ match: {}, backend: 'cart' }] })).toEqual(['spec.routes[0].port', 'spec.routes[0].port']);
    expect(refsOf({ routes: [{ match: {}, backend: 'missing' }] })).toEqual(['spec.routes[0].backend']);
  });

  it('wants exactly one of backend or split per route', () => {
    expect(fieldsOf({ routes: [{ match: {}, backend: 'reviews' }] })).toEqual([]);
    expect(fieldsOf({ routes: [{ match: {}, split: [{ backend: 'reviews', weight: 1 }] }] })).toEqual([]);
    expect(fieldsOf({ routes: [{ match: {} }] })).toEqual(['spec.routes[0]']);
    expect(fieldsOf({ routes: [{ match: {}, backend: 'reviews', split: [{ backend: 'reviews', weight: 1 }] }] })).toEqual([
      'spec.routes[0]',
    ]);
    expect(fieldsOf({ routes: [{ match: {}, split: [{ backend: 'reviews', weight: 0 }] }] })).toEqual(['spec.routes[0].split']);
  });

  it.each([
    [{ path: { prefix: '/a' } }, []],
    [{ path: { prefix: '/a', exact: '/a' } }, ['spec.routes[0].match.path']],
    [{ path: { regex: '/a/[0-9]+' } }, []],
    [{ path: { regex: '' } }, ['spec.routes[0].match.path.regex']],
    [{ path: { regex: '(?=a)' } }, ['spec.routes[0].match.path.regex']],
    [{ path: { regex: '(?<!a)b' } }, ['spec.routes[0].match.path.regex']],
    [{ path: { regex: '(a)\\1' } }, ['spec.routes[0].match.path.regex']],
    [{ path: { regex: '(' } }, ['spec.routes[0].match.path.regex']],
    [{ headers: [{ name: 'x-canary', exact: 'yes' }] }, []],
    [{ headers: [{ name: 'x canary', exact: 'yes' }] }, ['spec.routes[0].match.headers[0].name']],
    [{ headers: [{ name: 'x-canary', exact: 'yes', present: true }] }, ['spec.routes[0].match.headers[0]']],
    [{ headers: [{ name: 'x-canary', regex: '[' }] }, ['spec.routes[0].match.headers[0].regex']],
    [{ headers: [{ name: 'x-canary', regex: 'a|b' }] }, []],
  ] as const)('match %j -> %j', (match, fields) => {
    expect(fieldsOf({ routes: [{ match: match as never, backend: 'reviews' }] })).toEqual(fields);
  });
});

describe('checkPolicy: durations, retries, outlier detection, health checks', () => {
  it.each([
    [{ timeout: '250ms' }, []],
    [{ timeout: '0s' }, []],
    [{ timeout: 'soon' }, ['spec.timeout']],
    [{ timeout: '87660000h' }, []],
    [{ timeout: '87660001h' }, ['spec.timeout']],
    [{ retries: { attempts: 0 } }, []],
    [{ retries: { attempts: -1 } }, ['spec.retries.attempts']],
    [{ retries: { attempts: 2, perTryTimeout: 'x' } }, ['spec.retries.perTryTimeout']],
    [{ retries: { attempts: 2, retryOn: ['5xx', 'unavailable'] } }, []],
    [{ retries: { attempts: 2, retryOn: ['5xx', 'sometimes'] } }, ['spec.retries.retryOn[1]']],
    [{ outlierDetection: { interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 100 } }, []],
    [{ outlierDetection: { interval: '0s' } }, ['spec.outlierDetection.interval']],
    [{ outlierDetection: { baseEjectionTime: '0s' } }, ['spec.outlierDetection.baseEjectionTime']],
    [{ outlierDetection: { maxEjectionPercent: 0 } }, []],
    [{ outlierDetection: { maxEjectionPercent: -1 } }, ['spec.outlierDetection.maxEjectionPercent']],
    [{ outlierDetection: { maxEjectionPercent: 101 } }, ['spec.outlierDetection.maxEjectionPercent']],
    [{ healthCheck: { tcp: {} } }, []],
    [{ healthCheck: { http: { path: '/healthz' }, interval: '5s', timeout: '1s' } }, []],
    [{ healthCheck: {} }, ['spec.healthCheck']],
    [{ healthCheck: { tcp: {}, http: { path: '/' } } }, ['spec.healthCheck']],
    [{ healthCheck: { tcp: {}, interval: '0s' } }, ['spec.healthCheck.interval']],
    [{ healthCheck: { tcp: {}, timeout: 'x' } }, ['spec.healthCheck.timeout']],
    [{ healthCheck: { http: { path: 'healthz' } } }, ['spec.healthCheck.http.path']],
    [{ healthCheck: { http: { path: '/a\nb' } } }, ['spec.healthCheck.http.path']],
    [{ healthCheck: { http: { path: '/a\tb' } } }, []],
    [{ healthCheck: { http: { path: '/', host: 'a\u007fb' } } }, ['spec.healthCheck.http.host']],
    [{ healthCheck: { http: { path: '/', host: 'reviews.shop' } } }, []],
  ] as const)('%j -> %j', (spec, fields) => {
    expect(fieldsOf(spec as Partial<TrafficPolicySpec>)).toEqual(fields);
  });
});

describe('checkPolicy: a policy attached to a route or Gateway', () => {
  const attached = (kind: 'HTTPRoute' | 'GRPCRoute' | 'Gateway', rateLimit: TrafficPolicySpec['rateLimit']) =>
    checkPolicy(NS, { targetRef: { group: 'gateway.networking.k8s.io', kind, name: 'orders' }, rateLimit }, lookup).spec;

  it('takes a request limit on a GRPCRoute as on an HTTPRoute', () => {
    expect(attached('GRPCRoute', { requestsPerSecond: 10 })).toEqual([]);
    expect(attached('HTTPRoute', { requestsPerMinute: 600, burst: 900 })).toEqual([]);
  });

  it('refuses a connection limit, naming the field and where it belongs', () => {
    expect(attached('GRPCRoute', { requestsPerSecond: 10, connections: { perSecond: 5 } })).toEqual([
      'spec.rateLimit.connections: a policy targeting a GRPCRoute limits requests only; ' +
        "move connections to a policy targeting the backend Service (it limits connections to the Service's TCP ports on its sidecars)",
    ]);
    expect(attached('Gateway', { connections: { perSecond: 5 } })).toEqual([
      expect.stringMatching(/^spec\.rateLimit\.connections: a policy targeting a Gateway limits requests only/),
      'spec.rateLimit: a policy targeting a Gateway sets requestsPerSecond or requestsPerMinute',
    ]);
  });

  it('lets a Service policy set a connection limit alone, or with a request limit', () => {
    expect(fieldsOf({ rateLimit: { connections: { perMinute: 600 } } })).toEqual([]);
    expect(fieldsOf({ rateLimit: { requestsPerSecond: 10, connections: { perSecond: 5, burst: 10 } } })).toEqual([]);
  });
});
