// Translation for client profiles: legacy header matchers for clients before gRFC A63, the legacy
// lb_policy always beside the typed list, ring hash avoided where it is missing or crashes, and
// the degradations each profile is told about.
import { normalizePolicy } from '../../src/model/index.js';
import { decodeMessage, encodeMessage, type XdsResource } from '../../src/envoy/protos.js';
import type { TrafficPolicySpec } from '../../src/sources/types.js';
import { degradationsFor, translateAll, type LbKind } from '../../src/translate/index.js';
import { chooseLb, clusterLbFields } from '../../src/translate/lb-policy.js';
import { translateOptions } from '../../src/translate/options.js';
import { clientProfile, identifyClient, parseClientLabel, servedShape } from '../../src/clients/index.js';
import {
  ClusterResourceType,
  RouteConfigurationResourceType,
  exampleModel,
  grpcDecode,
  registerGrpcXds,
} from '../support/grpc-xds-decode.js';

type Json = Record<string, any>;
const PYTHON_1_51_1 = clientProfile(
  identifyClient({ userAgentName: 'gRPC C-core linux Python', userAgentVersion: 'C-core 29.0.0 Python 1.51.1' }),
);
const GRPC_JS_XDS = clientProfile(identifyClient({ userAgentName: 'gRPC Node Pure JS', userAgentVersion: '1.14.1' }));

function headerMatchers(routes: XdsResource[]): Json[] {
  return routes.flatMap((r) =>
    (r.value as Json).virtualHosts.flatMap((v: Json) => v.routes.flatMap((route: Json) => route.match.headers ?? [])),
  );
}

describe('header matchers per profile', () => {
  beforeAll(() => registerGrpcXds());
  const model = exampleModel();

  it('are written in the legacy fields for a client before gRFC A63, and decode through Envoy protos and gRPC', () => {
    const routes = translateAll(model, 'proxyless', { served: servedShape(PYTHON_1_51_1, 'proxyless') }).routes;
    const headers = headerMatchers(routes);
    expect(headers.length).toBeGreaterThan(0);
    for (const header of headers) expect(header.stringMatch).toBeUndefined();
    const canary = routes.find((r) => r.name.startsWith('reviews.'))!;
    const decoded = decodeMessage(canary.typeUrl, encodeMessage(canary.typeUrl, canary.value)) as Json;
    const matcher = decoded.virtualHosts[0].routes.flatMap((r: Json) => r.match.headers ?? []).find((h: Json) => h.name === 'x-canary');
    expect(matcher).toMatchObject({ name: 'x-canary', exactMatch: 'true' });
    expect(matcher.stringMatch ?? null).toBeNull();
    for (const route of routes) expect(grpcDecode(RouteConfigurationResourceType.get(), route).error).toBeUndefined();
  });

  it('use string_match for a client with it (grpc-js-xds) and for current Envoys', () => {
    for (const [role, served] of [
      ['proxyless', servedShape(GRPC_JS_XDS, 'proxyless')],
      ['sidecar', undefined],
    ] as const) {
      const headers = headerMatchers(translateAll(model, role, served ? { served } : {}).routes);
      expect(headers.find((h) => h.name === 'x-canary')).toEqual({ name: 'x-canary', stringMatch: { exact: 'true' } });
    }
  });
});

describe('lb_policy beside load_balancing_policy', () => {
  const policies: Array<[string, LbKind]> = [
    ['Maglev', 'maglev'],
    ['RingHash', 'ring_hash'],
    ['LeastRequest', 'least_request'],
    ['RoundRobin', 'round_robin'],
    ['Random', 'random'],
  ];
  const facts = (policy: string) => ({
    policy: normalizePolicy('shop/p', 'shop', { targetRef: { name: 's' }, loadBalancer: { policy } } as TrafficPolicySpec),
    clientIPAffinity: false,
    healthyEndpoints: 3,
    drainingEndpoints: 0,
  });
  // The first policy of each list that the legacy path reads: Envoy reads all; gRPC ROUND_ROBIN and RING_HASH.
  const expected: Record<string, Record<LbKind, string>> = {
    sidecar: { maglev: 'MAGLEV', ring_hash: 'RING_HASH', least_request: 'LEAST_REQUEST', round_robin: 'ROUND_ROBIN', random: 'RANDOM' },
    proxyless: {
      maglev: 'RING_HASH',
      ring_hash: 'RING_HASH',
      least_request: 'ROUND_ROBIN',
      round_robin: 'ROUND_ROBIN',
      random: 'ROUND_ROBIN',
    },
  };

  it.each(policies)('%s: both fields, the legacy one a policy the role’s clients read from it', (policy, kind) => {
    for (const role of ['sidecar', 'proxyless'] as const) {
      const options = translateOptions();
      const fields = clusterLbFields(chooseLb(facts(policy), options), facts(policy).policy, role, options) as Json;
      expect(fields.lbPolicy).toBe(expected[role][kind]);
      expect(fields.loadBalancingPolicy.policies[0].typedExtensionConfig.name).toBe(`envoy.load_balancing_policies.${kind}`);
    }
  });

  it('gives Services without a policy the fields of their choice, role and clients, however many combinations one process sees', () => {
    // Shared between Clusters per combination: each one must still get its own.
    const hashing = chooseLb({ clientIPAffinity: true, healthyEndpoints: 3, drainingEndpoints: 0 }, translateOptions());
    const plain = chooseLb({ clientIPAffinity: false, healthyEndpoints: 3, drainingEndpoints: 0 }, translateOptions());
    const names = (fields: Json) => fields.loadBalancingPolicy?.policies.map((p: Json) => p.typedExtensionConfig.name.split('.').pop());
    const sidecar = clusterLbFields(hashing, undefined, 'sidecar', translateOptions()) as Json;
    expect([sidecar.lbPolicy, names(sidecar)]).toEqual(['RING_HASH', ['ring_hash']]);
    expect(clusterLbFields(hashing, undefined, 'sidecar', translateOptions({ legacyLbPolicy: true }))).toEqual({ lbPolicy: 'RING_HASH' });
    const noRingHash = translateOptions({ served: servedShape(PYTHON_1_51_1, 'proxyless') });
    const proxyless = clusterLbFields(hashing, undefined, 'proxyless', noRingHash) as Json;
    expect([proxyless.lbPolicy, names(proxyless)]).toEqual(['ROUND_ROBIN', ['round_robin']]);
    const leastRequest = clusterLbFields(plain, undefined, 'proxyless', translateOptions()) as Json;
    expect([leastRequest.lbPolicy, names(leastRequest)]).toEqual(['ROUND_ROBIN', ['least_request', 'round_robin']]);
    expect(clusterLbFields(hashing, undefined, 'sidecar', translateOptions())).toEqual(sidecar);
  });

  it('carries the legacy config of the legacy policy, and only the legacy fields with --legacy-lb-policy', () => {
    const spec = normalizePolicy('shop/p', 'shop', {
      targetRef: { name: 's' },
      loadBalancer: { policy: 'RingHash', ringHash: { minimumRingSize: 1024 } },
    });
    const choice = chooseLb({ policy: spec, clientIPAffinity: false, healthyEndpoints: 3, drainingEndpoints: 0 }, translateOptions());
    expect(clusterLbFields(choice, spec, 'sidecar', translateOptions())).toMatchObject({
      lbPolicy: 'RING_HASH',
      ringHashLbConfig: { minimumRingSize: { value: 1024 } },
    });
    const legacyOnly = clusterLbFields(choice, spec, 'sidecar', translateOptions({ legacyLbPolicy: true }));
    expect(legacyOnly).toEqual({ lbPolicy: 'RING_HASH', ringHashLbConfig: { minimumRingSize: { value: 1024 } } });
  });
});

describe('gRPC C-core 1.51.1 and ring hash', () => {
  beforeAll(() => registerGrpcXds());
  const model = exampleModel();
  const served = servedShape(PYTHON_1_51_1, 'proxyless');

  it('is served round_robin in both fields, with no hash policy, and accepted by a gRPC client', () => {
    const all = translateAll(model, 'proxyless', { served });
    const cart = all.clusters.find((c) => c.name.startsWith('shop/cart/'))!.value as Json;
    expect(cart.lbPolicy).toBe('ROUND_ROBIN');
    expect(cart.loadBalancingPolicy.policies.map((p: Json) => p.typedExtensionConfig.name)).toEqual([
      'envoy.load_balancing_policies.round_robin',
    ]);
    const catalog = all.clusters.find((c) => c.name.startsWith('shop/catalog/'))!.value as Json;
    expect(catalog.lbPolicy).toBe('ROUND_ROBIN');
    expect(JSON.stringify(all.routes)).not.toContain('hashPolicy');
    for (const cluster of all.clusters) expect(grpcDecode(ClusterResourceType.get(), cluster).error).toBeUndefined();
  });

  it('records the degradation with the object, what was asked, what is served and why', () => {
    const degradations = degradationsFor(model, 'proxyless', PYTHON_1_51_1);
    const cart = degradations.find((d) => d.service === 'shop/cart' && d.feature === 'ring_hash');
    expect(cart).toEqual({
      feature: 'ring_hash',
      service: 'shop/cart',
      policy: 'shop/cart-affinity',
      cluster: expect.stringMatching(/^shop\/cart\/\d+$/),
      asked: 'RingHash',
      served: 'round_robin',
      reason: expect.stringMatching(
        /^RingHash served as round_robin: gRPC C-core 1\.51\.1 \(Python\) crashes the calling process on its first ring-hash pick/,
      ),
    });
    // LeastRequest: C-core reads lb_policy only, and has no least_request anyway.
    expect(degradations.find((d) => d.service === 'shop/payments')).toMatchObject({
      feature: 'least_request',
      served: 'round_robin',
      reason: 'LeastRequest served as round_robin: gRPC C-core 1.51.1 (Python) has no least_request',
    });
  });
});

describe('grpc-js-xds keeps the full configuration', () => {
  const model = exampleModel();

  it('is the plain proxyless translation, with only what no gRPC has reported', () => {
    expect(translateAll(model, 'proxyless', { served: servedShape(GRPC_JS_XDS, 'proxyless') })).toEqual(translateAll(model, 'proxyless'));
    const degradations = degradationsFor(model, 'proxyless', GRPC_JS_XDS);
    expect(degradations.find((d) => d.feature === 'ring_hash')).toBeUndefined();
    expect(degradations.find((d) => d.service === 'shop/catalog' && d.feature === 'maglev')).toMatchObject({
      served: 'ring_hash',
      reason: 'Maglev served as ring_hash: gRPC Node 1.14.1 has no maglev',
    });
    expect(degradations.find((d) => d.feature === 'hash_policy')).toMatchObject({
      service: 'shop/catalog',
      asked: 'hashOn query parameter product',
      served: 'left out',
    });
  });

  it('a current Envoy has no degradations; an Envoy before typed LB config reads lb_policy, which still carries the policy', () => {
    expect(degradationsFor(model, 'sidecar', clientProfile(parseClientLabel('envoy/1.28.0')))).toEqual([]);
    expect(degradationsFor(model, 'sidecar', clientProfile(parseClientLabel('envoy/1.20.0')))).toEqual([]);
  });
});

describe('render --client', () => {
  it('renders what the named client gets, with its group and degradations', async () => {
    const { renderDocument } = await import('../../src/cli/render.js');
    const doc = (await renderDocument('examples', { role: 'proxyless', client: parseClientLabel('grpc-core/1.51.1') })) as Json;
    expect(doc.client).toEqual({ description: 'gRPC C-core 1.51.1', group: 'proxyless+legacy-header-match+no-ring-hash' });
    expect(doc.degradations.find((d: Json) => d.service === 'shop/cart')).toMatchObject({ feature: 'ring_hash', served: 'round_robin' });
    expect(doc.clusters.find((c: Json) => c.name.startsWith('shop/cart/')).lb_policy).toBeUndefined(); // ROUND_ROBIN, the proto default
    const plain = (await renderDocument('examples', { role: 'proxyless' })) as Json;
    expect(plain.client).toBeUndefined();
    expect(plain.clusters.find((c: Json) => c.name.startsWith('shop/cart/')).lb_policy).toBe('RING_HASH');
  });

  it('refuses a client it cannot name, saying what it accepts', async () => {
    const { main } = await import('../../src/cli/main.js');
    const stderr: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((text: string) => stderr.push(text) > 0) as typeof process.stderr.write;
    try {
      expect(await main(['render', '--client', 'grpc-python/1.51'])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(stderr.join('')).toMatch(/^switchyard render: --client: "grpc-python\/1.51": expected <implementation>\/<version>/);
  });
});
