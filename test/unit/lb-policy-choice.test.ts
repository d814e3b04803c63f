// Which load-balancing policy a Service gets, and what each kind of client is sent for it: the
// policy a user names wins over session affinity, Auto picks by endpoint count, and every client
// receives a policy (and hash keys) it can read.
import { MeshModel } from '../../src/model/index.js';
import { translateAll } from '../../src/translate/index.js';
import { endpointsAt, policy, service, slice, upsert } from '../support/builders.js';

type Role = 'sidecar' | 'proxyless';

/** Service `api` (port 8080, `spec` adds Service fields) with a TrafficPolicy when a spec is given. */
function apiModel(policySpec?: object, serviceSpec: object = {}): MeshModel {
  const model = new MeshModel();
  model.apply([
    upsert(service('api', [{ name: 'http', port: 8080 }], { clusterIP: '10.96.0.10', ...serviceSpec })),
    ...(policySpec ? [upsert(policy('api', { targetRef: { kind: 'Service', name: 'api' }, ...policySpec }))] : []),
  ]);
  if (policySpec) expect(model.policyStatus('shop', 'api')?.find((c) => c.type === 'Accepted')?.status).toBe('True');
  return model;
}

function cluster(model: MeshModel, role: Role, overrides: object = {}): any {
  return translateAll(model, role, overrides).clusters.find((c) => c.name === 'shop/api/8080')!.value;
}

/** The typed policy names in order (`envoy.load_balancing_policies.` left off). */
function typedPolicies(value: any): string[] {
  return value.loadBalancingPolicy.policies.map((p: any) => p.typedExtensionConfig.name.replace('envoy.load_balancing_policies.', ''));
}

/** Every route of `api`'s virtual host for a role. */
function routes(model: MeshModel, role: Role, overrides: object = {}): any[] {
  return translateAll(model, role, overrides)
    .routes.flatMap((r) => (r.value as any).virtualHosts)
    .find((v: any) => v.name === 'shop/api/8080').routes;
}

describe('a policy the user names', () => {
  it.each([
    ['LeastRequest', 'least_request'],
    ['RoundRobin', 'round_robin'],
    ['Random', 'random'],
  ])('wins over sessionAffinity: ClientIP: %s is served and nothing is hashed', (name, kind) => {
    const model = apiModel({ loadBalancer: { policy: name } }, { sessionAffinity: 'ClientIP' });
    for (const role of ['sidecar', 'proxyless'] as const) {
      expect(typedPolicies(cluster(model, role))[0]).toBe(kind);
      for (const route of routes(model, role)) expect('hashPolicy' in route.route).toBe(false);
    }
  });

  it.each([
    ['RingHash', 'ring_hash'],
    ['Maglev', 'maglev'],
  ])('%s on a ClientIP Service without hashOn hashes the source address', (name, kind) => {
    const model = apiModel({ loadBalancer: { policy: name } }, { sessionAffinity: 'ClientIP' });
    expect(typedPolicies(cluster(model, 'sidecar'))[0]).toBe(kind);
    for (const route of routes(model, 'sidecar')) expect(route.route.hashPolicy).toEqual([{ connectionProperties: { sourceIp: true } }]);
    // gRPC has no source address to hash: one channel, one host.
    for (const route of routes(model, 'proxyless'))
      expect(route.route.hashPolicy).toEqual([{ filterState: { key: 'io.grpc.channel_id' } }]);
  });
});

describe('Auto', () => {
  function autoModel(ready: number, draining: number): MeshModel {
    const addresses = Array.from({ length: ready + draining }, (_, i) => `10.1.0.${i + 1}`);
    const model = apiModel({ loadBalancer: { hashOn: [{ header: { name: 'x-user' } }] } });
    model.apply([
      upsert(
        slice('api-1', 'api', [
          ...endpointsAt(...addresses.slice(0, ready)),
          ...addresses.slice(ready).map((a) => ({ addresses: [a], conditions: { ready: false, serving: true, terminating: true } })),
        ]),
      ),
    ]);
    return model;
  }
  const options = { maglevMinEndpoints: 4 };

  it('hashes with Maglev from maglevMinEndpoints endpoints on, with RingHash below it', () => {
    expect(typedPolicies(cluster(autoModel(4, 0), 'sidecar', options))).toEqual(['maglev', 'ring_hash']);
    expect(typedPolicies(cluster(autoModel(3, 0), 'sidecar', options))).toEqual(['ring_hash']);
  });

  it('keeps RingHash while an endpoint drains (the Maglev table would reshuffle), counting it toward the threshold', () => {
    expect(typedPolicies(cluster(autoModel(3, 1), 'sidecar', options))).toEqual(['ring_hash']);
    expect(typedPolicies(cluster(autoModel(4, 1), 'sidecar', options))).toEqual(['ring_hash']);
  });
});

describe('what a gRPC client is sent', () => {
  it('reads its own legacy policy: LeastRequest and Random are round robin in lb_policy, the typed list keeps them first', () => {
    for (const [name, kind] of [
      ['LeastRequest', 'least_request'],
      ['Random', 'random'],
    ]) {
      const value = cluster(apiModel({ loadBalancer: { policy: name } }), 'proxyless');
      expect(typedPolicies(value)).toEqual([kind, 'round_robin']);
      expect(value.lbPolicy).toBe('ROUND_ROBIN');
      expect(value.leastRequestLbConfig).toBeUndefined();
    }
  });

  it('gets the typed list even with --legacy-lb-policy (a sidecar flag), and no legacy ring sizes', () => {
    const model = apiModel({
      loadBalancer: { policy: 'RingHash', ringHash: { minimumRingSize: 2048 }, hashOn: [{ header: { name: 'x-user' } }] },
    });
    const value = cluster(model, 'proxyless', { legacyLbPolicy: true });
    expect(typedPolicies(value)).toEqual(['ring_hash']);
    expect(value.lbPolicy).toBe('RING_HASH');
    expect(value.ringHashLbConfig).toBeUndefined();
    expect(cluster(model, 'sidecar', { legacyLbPolicy: true }).ringHashLbConfig).toEqual({ minimumRingSize: { value: 2048 } });
  });

  it('without ring hash, Maglev is served as one round robin, in both fields', () => {
    const model = apiModel({ loadBalancer: { policy: 'Maglev', maglev: { tableSize: 65537 }, hashOn: [{ header: { name: 'x-user' } }] } });
    const value = cluster(model, 'proxyless', { served: { headerStringMatch: true, ringHash: false, legacyLb: 'grpc' } });
    expect(typedPolicies(value)).toEqual(['round_robin']);
    expect(value.lbPolicy).toBe('ROUND_ROBIN');
    expect(value.maglevLbConfig).toBeUndefined();
  });
});

describe('hash keys on sidecar routes', () => {
  it('send a cookie with only what the user set, and keep terminal on every kind of key', () => {
    const model = apiModel({
      loadBalancer: {
        policy: 'RingHash',
        hashOn: [{ cookie: { name: 'session' } }, { queryParameter: { name: 'q' }, terminal: true }, { sourceIP: {}, terminal: true }],
      },
    });
    expect(routes(model, 'sidecar').at(-1).route.hashPolicy).toEqual([
      { cookie: { name: 'session' } },
      { queryParameter: { name: 'q' }, terminal: true },
      { connectionProperties: { sourceIp: true }, terminal: true },
    ]);
  });
});
