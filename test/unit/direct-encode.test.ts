// The direct encoder writes exactly protobufjs' `encode(fromObject(value))` bytes, and leaves every
// value it does not take to that path, which then encodes it or reports it as it always did.
import { encodeDirect } from '../../src/envoy/direct-encode.js';
import { deepFreeze } from '../../src/envoy/frozen.js';
import { decodeMessage, encodeMessage, encodeThroughMessages, messageType, TypeUrl } from '../../src/envoy/protos.js';

function direct(typeUrl: string, value: object): Buffer | undefined {
  const bytes = encodeDirect(messageType(typeUrl), value, messageType);
  return bytes && Buffer.from(bytes);
}

function reference(typeUrl: string, value: object): Buffer {
  return Buffer.from(encodeThroughMessages(messageType(typeUrl), value));
}

const ROUND_ROBIN = 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin';
const HTTP_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

describe('direct encoder', () => {
  it.each<[string, string, object]>([
    [
      'a Cluster with keys out of field order, enums by name and by number, a Duration, Anys (one empty) and an Any map',
      TypeUrl.Cluster,
      {
        typedExtensionProtocolOptions: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': HTTP_OPTIONS,
            explicitHttpConfig: { http2ProtocolOptions: {} },
          },
        },
        loadBalancingPolicy: { policies: [{ typedExtensionConfig: { name: 'rr', typedConfig: { '@type': ROUND_ROBIN } } }] },
        connectTimeout: { seconds: 5, nanos: 0 },
        type: 'EDS',
        lbPolicy: 2,
        name: 'shop/cart/80',
        commonLbConfig: { overrideHostStatus: { statuses: ['HEALTHY', 3, 'DRAINING'] } },
        metadata: {
          filterMetadata: {
            'envoy.lb': {
              fields: { zone: { stringValue: 'a' }, weight: { numberValue: 1.5 }, list: { listValue: { values: [{ boolValue: true }] } } },
            },
          },
        },
      },
    ],
    [
      'an assignment with repeated messages, wrappers and defaults that are set (port 0, empty strings, false)',
      TypeUrl.ClusterLoadAssignment,
      {
        clusterName: '',
        endpoints: [
          {
            locality: { zone: 'b' },
            loadBalancingWeight: { value: 0 },
            lbEndpoints: [
              { endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 0 } } }, healthStatus: 'HEALTHY' },
              { endpoint: { address: { socketAddress: { address: '10.0.0.2', portValue: 8080, ipv4Compat: false } } } },
            ],
          },
        ],
      },
    ],
    [
      'a route configuration with 64-bit integers as strings and numbers, a packed list and an empty list',
      TypeUrl.RouteConfiguration,
      {
        name: '80',
        virtualHosts: [
          {
            name: 'vh',
            domains: ['a', 'b'],
            routes: [
              {
                match: { prefix: '/', headers: [{ name: 'x-n', rangeMatch: { start: '-5', end: 10 } }] },
                route: { cluster: 'c', retryPolicy: { retriableStatusCodes: [503, 502], retryOn: '5xx' }, hashPolicy: [] },
              },
            ],
          },
        ],
      },
    ],
    ['bytes as base64 text', 'envoy.config.core.v3.DataSource', { inlineBytes: 'aGVsbG8=' }],
    [
      'a large route configuration (nested lengths of one to three bytes; long, short and non-ASCII strings)',
      TypeUrl.RouteConfiguration,
      {
        name: 'big',
        virtualHosts: [
          ...Array.from({ length: 400 }, (_, i) => ({
            name: `vh-${i}-${'ü'.repeat(i % 50)}`,
            domains: [`service-${i}.namespace-${i}.svc.cluster.local:8080`, `s${i}`],
            routes: [{ match: { prefix: `/${'x'.repeat(i)}` }, route: { cluster: `c${i}` } }],
          })),
          // One nested message over 16 KiB: a three-byte length.
          { name: 'wide', domains: Array.from({ length: 1000 }, (_, i) => `host-${i}.example.com`) },
        ],
      },
    ],
    ['bytes as a byte array', 'envoy.config.core.v3.DataSource', { inlineBytes: new Uint8Array([1, 2, 3]) }],
    [
      'nested messages whose keys turn out of field order after fields of theirs were written (the writer goes back)',
      TypeUrl.ClusterLoadAssignment,
      {
        clusterName: 'shop/cart/80',
        endpoints: [
          {
            lbEndpoints: [
              { healthStatus: 'DRAINING', endpoint: { address: { socketAddress: { portValue: 8080, address: '10.0.0.1' } } } },
              { endpoint: { address: { socketAddress: { address: '10.0.0.2', portValue: 8080 } } }, healthStatus: 'HEALTHY' },
            ],
            locality: { zone: 'a' },
            loadBalancingWeight: { value: 2 },
          },
        ],
      },
    ],
    [
      'short strings with a lone surrogate, a surrogate pair and multi-byte characters, and strings either side of 40 characters',
      TypeUrl.ClusterLoadAssignment,
      {
        clusterName: `a\ud800b\ud83d\ude00é${'x'.repeat(30)}`,
        endpoints: [{ locality: { zone: 'z'.repeat(39), subZone: `${'é'.repeat(39)}`, region: 'r'.repeat(40) } }],
      },
    ],
  ])('writes protobufjs own bytes for %s', (_what, typeUrl, value) => {
    const bytes = direct(typeUrl, value);
    expect(bytes).toBeDefined();
    expect(bytes!.toString('hex')).toBe(reference(typeUrl, value).toString('hex'));
  });

  it('writes a deeply frozen part shared by many values once, and the same bytes wherever it appears', () => {
    const lb = deepFreeze({
      typedExtensionConfig: { name: 'rr', typedConfig: { '@type': ROUND_ROBIN } },
    });
    const timeout = deepFreeze({ seconds: 5 });
    const clusters = ['a', 'b'].map((name) => ({ name, connectTimeout: timeout, loadBalancingPolicy: { policies: [lb, lb] } }));
    for (const cluster of clusters)
      expect(direct(TypeUrl.Cluster, cluster)?.toString('hex')).toBe(reference(TypeUrl.Cluster, cluster).toString('hex'));
    // The same frozen value deeper in another message: still its own bytes.
    const route = {
      name: 'r',
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', timeout } }] }],
    };
    expect(direct(TypeUrl.RouteConfiguration, route)?.toString('hex')).toBe(reference(TypeUrl.RouteConfiguration, route).toString('hex'));
  });

  it('writes a value frozen on the outside only anew each time: what is inside may have changed', () => {
    const socketAddress: { address: string; portValue: number } = { address: '10.0.0.1', portValue: 8080 };
    const endpoint = Object.freeze({ address: Object.freeze({ socketAddress }) });
    const assignment = { clusterName: 'c', endpoints: [{ lbEndpoints: [{ endpoint }] }] };
    const before = direct(TypeUrl.ClusterLoadAssignment, assignment)?.toString('hex');
    socketAddress.portValue = 9090;
    const after = direct(TypeUrl.ClusterLoadAssignment, assignment)?.toString('hex');
    expect(after).not.toBe(before);
    expect(after).toBe(reference(TypeUrl.ClusterLoadAssignment, assignment).toString('hex'));
  });

  it('takes the decoded form (enums by name, 64-bit integers as strings, bytes as base64) to the same bytes', () => {
    const value = {
      name: '80',
      virtualHosts: [
        { name: 'vh', domains: ['a'], routes: [{ match: { prefix: '/', headers: [{ name: 'x', rangeMatch: { start: 1, end: 2 } }] } }] },
      ],
    };
    const bytes = reference(TypeUrl.RouteConfiguration, value);
    const decoded = decodeMessage(TypeUrl.RouteConfiguration, bytes);
    expect(direct(TypeUrl.RouteConfiguration, decoded)?.toString('hex')).toBe(bytes.toString('hex'));
  });

  it('leaves an unknown field to the checked path, which names it', () => {
    const value = { name: 'c', conectTimeout: { seconds: 1 } };
    expect(direct(TypeUrl.Cluster, value)).toBeUndefined();
    expect(() => encodeMessage(TypeUrl.Cluster, value)).toThrow('envoy.config.cluster.v3.Cluster: unknown field "conectTimeout"');
  });

  it('leaves an unknown field after fields already written to the checked path, at any depth', () => {
    const top = { name: 'c', connectTimeout: { seconds: 1 }, conectTimeout: { seconds: 1 } };
    expect(direct(TypeUrl.Cluster, top)).toBeUndefined();
    expect(() => encodeMessage(TypeUrl.Cluster, top)).toThrow('unknown field "conectTimeout"');
    const nested = { clusterName: 'c', endpoints: [{ locality: { zone: 'a' }, lbEndpoints: [{ healthStatus: 'HEALTHY', wieght: 1 }] }] };
    expect(direct(TypeUrl.ClusterLoadAssignment, nested)).toBeUndefined();
    expect(() => encodeMessage(TypeUrl.ClusterLoadAssignment, nested)).toThrow('unknown field "wieght"');
  });

  it('names an unknown field rather than failing on a value before it that cannot be written', () => {
    // The key check came first when every key was checked before writing: a bad value earlier in the object must not hide it.
    const value = { name: Symbol('not text'), conectTimeout: { seconds: 1 } };
    expect(() => encodeMessage(TypeUrl.Cluster, value)).toThrow('unknown field "conectTimeout"');
  });

  it('leaves an unknown field inside an Any to the checked path, which names it', () => {
    const value = {
      name: 'c',
      loadBalancingPolicy: { policies: [{ typedExtensionConfig: { name: 'rr', typedConfig: { '@type': ROUND_ROBIN, nope: 1 } } }] },
    };
    expect(direct(TypeUrl.Cluster, value)).toBeUndefined();
    expect(() => encodeMessage(TypeUrl.Cluster, value)).toThrow('unknown field "nope"');
  });

  it('leaves a message field that is not an object to fromObject, which refuses it', () => {
    const value = { name: 'c', connectTimeout: '5s' };
    expect(direct(TypeUrl.Cluster, value)).toBeUndefined();
    expect(() => encodeMessage(TypeUrl.Cluster, value)).toThrow('object expected');
  });

  it('leaves an enum name the type lacks to fromObject, and encodeMessage still gives its bytes (the field left out)', () => {
    const value = { name: 'c', type: 'NOT_A_TYPE' };
    expect(direct(TypeUrl.Cluster, value)).toBeUndefined();
    expect(Buffer.from(encodeMessage(TypeUrl.Cluster, value)).toString('hex')).toBe(reference(TypeUrl.Cluster, value).toString('hex'));
    expect(decodeMessage(TypeUrl.Cluster, encodeMessage(TypeUrl.Cluster, value))).toEqual({ name: 'c' });
  });
});
