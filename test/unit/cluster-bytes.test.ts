// A Cluster of its name and shared parts writes its own bytes (src/translate/cluster-bytes.ts)
// instead of going through the general encoder and the validation rules. The shortcut must write
// encodeMessage's bytes exactly, and must never take a value Envoy's rules refuse: the cache
// still refuses it.
import fc from 'fast-check';
import { encodeCluster, SharedPartsCluster } from '../../src/translate/cluster-bytes.js';
import { deepFreeze } from '../../src/envoy/frozen.js';
import { encodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { validateResource } from '../../src/envoy/validation-rules.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { MeshModel } from '../../src/model/index.js';
import { translateServiceClusters, usesEndpointTlsMatch } from '../../src/translate/index.js';
import { policy, service, upserts } from '../support/builders.js';

const name = fc.oneof(
  fc.constantFrom('shop/cart/80', '', 'probe', 'ns/ü/8080', 'bad\nname', 'nul\0', 'x'.repeat(300)),
  fc.string({ maxLength: 40 }),
);

const leastRequest = {
  policies: [
    {
      typedExtensionConfig: {
        name: 'envoy.load_balancing_policies.least_request',
        typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest' },
      },
    },
  ],
};

// The fields of a Cluster's shared parts as the translator writes them, each there or not.
const fields = fc.record(
  {
    type: fc.constantFrom('EDS', 'STATIC'),
    edsClusterConfig: fc.constantFrom({ edsConfig: { ads: {}, resourceApiVersion: 'V3' } }, {}, { serviceName: 'x' }),
    connectTimeout: fc.constantFrom({ seconds: 5 }, { seconds: 1, nanos: 500_000_000 }),
    lbPolicy: fc.constantFrom('LEAST_REQUEST', 'MAGLEV', 'RING_HASH'),
    loadBalancingPolicy: fc.constant(leastRequest),
    typedExtensionProtocolOptions: fc.constant({
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicitHttpConfig: { http2ProtocolOptions: {} },
      },
    }),
  },
  { requiredKeys: [] },
);

// Now and then one broken: values a rule refuses (a zero or negative timeout, an empty policy
// list, an unknown enum name), a field no encoder takes, or a name among the shared parts.
const breakage = fc.constantFrom<Record<string, unknown>>(
  {},
  {},
  {},
  {},
  { connectTimeout: { seconds: 0 } },
  { connectTimeout: { seconds: -1 } },
  { loadBalancingPolicy: { policies: [] } },
  { type: 'NOT_A_TYPE' },
  { nmae: 'misspelt' },
  { name: 'shop/other/80' },
);

const shared = fc.tuple(fields, breakage).map(([parts, broken]) => ({ ...parts, ...broken }));

function encodedOrThrown(value: object): Uint8Array | 'throws' {
  try {
    return encodeMessage(TypeUrl.Cluster, value);
  } catch {
    return 'throws';
  }
}

describe('a Cluster of its name and shared parts writing its own bytes', () => {
  it('writes encodeMessage bytes when the rules pass, and leaves every value they refuse to the general path', () => {
    let written = 0;
    let refused = 0;
    fc.assert(
      fc.property(name, shared, fc.boolean(), (clusterName, parts, frozen) => {
        const rest = frozen ? deepFreeze(structuredClone(parts)) : parts;
        const value = { name: clusterName, ...rest };
        const violations = validateResource(TypeUrl.Cluster, value);
        // Copied at once: the bytes are a view of the encoders' scratch, which the next encode overwrites.
        const view = encodeCluster(clusterName, rest);
        const own = view && Buffer.from(view);
        const expected = encodedOrThrown(value);
        if (violations.length > 0 || expected === 'throws') refused++;
        if (own) written++;
        // A name among the parts is left to the general path, which writes the one Envoy reads.
        if (violations.length > 0 || expected === 'throws' || 'name' in rest) expect(own).toBeUndefined();
        else expect(own?.equals(Buffer.from(expected))).toBe(true);
      }),
      { numRuns: 500 },
    );
    // Both sides were tried: Clusters written here, and Clusters the rules refuse.
    expect(written).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });

  it('is what a Service without a policy gets, and is cached with the bytes of its value', () => {
    const model = new MeshModel();
    model.apply(upserts(service('api', [{ name: 'http', port: 80, appProtocol: 'http' }])));
    const [cluster] = translateServiceClusters(model, 'shop/api', 'sidecar');
    expect(cluster).toBeInstanceOf(SharedPartsCluster);
    expect(cluster.encode?.()).toBeDefined();
    // Printed or copied as JSON, it is a plain resource with its value.
    expect(JSON.parse(JSON.stringify(cluster))).toEqual({ typeUrl: cluster.typeUrl, name: cluster.name, value: cluster.value });
    const encoded = new ResourceCache().encode(cluster);
    expect(Buffer.from(encoded.cached!.bytes).equals(Buffer.from(encodeMessage(cluster.typeUrl, cluster.value)))).toBe(true);
  });

  it('says from its parts whether it picks TLS per endpoint, as its plain object would', () => {
    const plain = new SharedPartsCluster('shop/api/80', deepFreeze({ type: 'EDS' }));
    const matching = new SharedPartsCluster('shop/api/80', deepFreeze({ type: 'EDS', transportSocketMatches: [{ name: 'mtls' }] }));
    expect(usesEndpointTlsMatch(plain)).toBe(false);
    expect(usesEndpointTlsMatch(matching)).toBe(true);
    expect(usesEndpointTlsMatch({ value: matching.value })).toBe(true);
  });

  it('is refused by the cache when its name breaks a rule, as the general path refuses it', () => {
    const cluster = new SharedPartsCluster('', deepFreeze({ type: 'EDS', connectTimeout: { seconds: 5 } }));
    expect(cluster.encode()).toBeUndefined();
    const encoded = new ResourceCache().encode(cluster);
    expect(encoded.cached).toBeUndefined();
    expect(encoded.violations?.map((v) => `${v.path} ${v.rule}`)).toEqual(['name string.min_len']);
  });

  it("is what a Service with a load-balancing policy gets, with that policy's own numbers", () => {
    // Policies that differ in one number each (and in the zone preference): no two may share fields.
    const specs = [
      { loadBalancer: { policy: 'RingHash', ringHash: { minimumRingSize: 1024 } } },
      { loadBalancer: { policy: 'RingHash', ringHash: { minimumRingSize: 2048 } } },
      { loadBalancer: { policy: 'RingHash', ringHash: { minimumRingSize: 1024, maximumRingSize: 4096 } } },
      { loadBalancer: { policy: 'Maglev', maglev: { tableSize: 65537 } } },
      { loadBalancer: { policy: 'Maglev', maglev: { tableSize: 131 } } },
      { loadBalancer: { policy: 'LeastRequest', leastRequest: { choiceCount: 3 } } },
      { loadBalancer: { policy: 'LeastRequest', leastRequest: { choiceCount: 4 } } },
      { loadBalancer: { policy: 'LeastRequest', leastRequest: { choiceCount: 3, activeRequestBias: 1.5 } } },
      { loadBalancer: { policy: 'LeastRequest', leastRequest: { choiceCount: 3 } }, locality: { preferLocalZone: true } },
    ];
    const model = new MeshModel();
    model.apply(
      upserts(
        ...specs.map((_, i) => service(`api-${i}`, [{ name: 'http', port: 80, appProtocol: 'http' }])),
        ...specs.map((spec, i) => policy(`api-${i}`, { targetRef: { kind: 'Service', name: `api-${i}` }, ...spec })),
      ),
    );
    const clusters = specs.map((_, i) => translateServiceClusters(model, `shop/api-${i}`, 'sidecar')[0]);
    const fields = clusters.map((cluster) => {
      expect(cluster).toBeInstanceOf(SharedPartsCluster);
      const { name, ...rest } = cluster.value as { name: string };
      expect(Buffer.from(cluster.encode!()!).equals(Buffer.from(encodeMessage(cluster.typeUrl, cluster.value)))).toBe(true);
      return JSON.stringify(rest);
    });
    expect(new Set(fields).size).toBe(specs.length);
  });

  it('is not what a Service whose policy sets breakers or checks gets: those fields are its own', () => {
    const model = new MeshModel();
    model.apply(
      upserts(
        service('api', [{ name: 'http', port: 80, appProtocol: 'http' }]),
        policy('api-lb', { targetRef: { kind: 'Service', name: 'api' }, circuitBreaker: { maxConnections: 10 } }),
      ),
    );
    const [cluster] = translateServiceClusters(model, 'shop/api', 'sidecar');
    expect(cluster).not.toBeInstanceOf(SharedPartsCluster);
    expect(cluster.encode).toBeUndefined();
  });
});
