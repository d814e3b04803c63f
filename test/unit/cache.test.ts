import { createHash } from 'node:crypto';
import { jest } from '@jest/globals';
import { log } from '../../src/log.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { PROXYLESS_GROUP, SIDECAR_GROUP, gatewayGroup, type ChangeSet } from '../../src/cache/types.js';
import { decodeMessage, encodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { cluster, endpoints } from '../support/xds-fixtures.js';

function plain(changes: ChangeSet): Record<string, Record<string, { changed: string[]; removed: string[] }>> {
  const out: Record<string, Record<string, { changed: string[]; removed: string[] }>> = {};
  for (const [group, types] of changes) {
    out[group] = {};
    for (const [typeUrl, { changed, removed }] of types) {
      out[group][typeUrl] = { changed: [...changed].sort(), removed: [...removed].sort() };
    }
  }
  return out;
}

describe('ResourceCache', () => {
  it('encodes a value shared by several groups once and stores one resource for all of them', () => {
    const cache = new ResourceCache();
    const shared = cluster('shop/reviews/9080');
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [shared] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [shared] },
      { group: gatewayGroup('edge'), typeUrl: TypeUrl.Cluster, set: [shared] },
    ]);
    expect(cache.stats()).toEqual({ encodes: 1, storedResources: 1 });
    const a = cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/reviews/9080');
    expect(a).toBeDefined();
    expect(cache.get(PROXYLESS_GROUP, TypeUrl.Cluster, 'shop/reviews/9080')).toBe(a);
    expect(cache.get(gatewayGroup('edge'), TypeUrl.Cluster, 'shop/reviews/9080')).toBe(a);
    expect(cache.groups().sort()).toEqual(['gateway/edge', 'proxyless', 'sidecar']);
  });

  it('shares identical bytes from different value objects under the same type and name', () => {
    const cache = new ResourceCache();
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] },
    ]);
    expect(cache.stats()).toEqual({ encodes: 2, storedResources: 1 });
    expect(cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'a')).toBe(cache.get(PROXYLESS_GROUP, TypeUrl.Cluster, 'a'));
    // Different bytes under the same name are different resources.
    cache.apply([{ group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a', 5)] }]);
    expect(cache.stats().storedResources).toBe(2);
    // The old one goes once no group holds it.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [] }]);
    expect(cache.stats().storedResources).toBe(1);
  });

  it('rebuilds a value offered again after its stored resource went from its own bytes, whatever was encoded since', () => {
    const cache = new ResourceCache();
    const first = cluster('a');
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [first] }]);
    // Other bytes under the same name replace it (the encoders' scratch now holds these), then it comes back.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a', 5)] }]);
    expect(cache.stats().storedResources).toBe(1);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [first] }]);
    // Taken from the memo (not encoded again), with its own bytes.
    expect(cache.stats().encodes).toBe(2);
    const back = cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'a')!;
    expect(Buffer.from(back.bytes)).toEqual(Buffer.from(encodeMessage(TypeUrl.Cluster, first.value)));
  });

  it('versions a resource by a hash of its bytes and pre-encodes Any and delta Resource that Envoy protos decode', () => {
    const cache = new ResourceCache();
    const resource = cluster('shop/cart/80');
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [resource] }]);
    const cached = cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/cart/80')!;
    const expectedBytes = encodeMessage(TypeUrl.Cluster, resource.value);
    expect(Buffer.from(cached.bytes)).toEqual(Buffer.from(expectedBytes));
    expect(cached.version).toBe(createHash('sha256').update(expectedBytes).digest('hex').slice(0, 16));

    const any = decodeMessage('google.protobuf.Any', cached.anyBytes) as Record<string, unknown>;
    expect(any['@type']).toBe(TypeUrl.Cluster);
    expect(any.name).toBe('shop/cart/80');

    const delta = decodeMessage('envoy.service.discovery.v3.Resource', cached.deltaBytes) as any;
    expect(delta.name).toBe('shop/cart/80');
    expect(delta.version).toBe(cached.version);
    expect(delta.resource['@type']).toBe(TypeUrl.Cluster);
    expect(delta.resource.type).toBe('EDS');
    expect(delta.resource.connectTimeout).toEqual({ seconds: '1' });

    // Same bytes from another object: same version; other bytes: another version.
    const again = new ResourceCache();
    again.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/cart/80')] }]);
    expect(again.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/cart/80')!.version).toBe(cached.version);
    again.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/cart/80', 9)] }]);
    expect(again.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/cart/80')!.version).not.toBe(cached.version);
  });

  it('reports exactly the names whose bytes changed or that were removed, per group and type', () => {
    const cache = new ResourceCache();
    const first = cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a'), cluster('b'), cluster('c')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('a', '10.0.0.1')] },
    ]);
    expect(plain(first)).toEqual({
      sidecar: {
        [TypeUrl.Cluster]: { changed: ['a', 'b', 'c'], removed: [] },
        [TypeUrl.ClusterLoadAssignment]: { changed: ['a'], removed: [] },
      },
    });

    // `set`: b changes, c goes, a is re-sent with identical bytes (not a change), d is new.
    const second = cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a'), cluster('b', 2), cluster('d')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('a', '10.0.0.1')], removals: ['zz'] },
    ]);
    expect(plain(second)).toEqual({ sidecar: { [TypeUrl.Cluster]: { changed: ['b', 'd'], removed: ['c'] } } });

    // Upserts and removals; a name removed and restored with the same bytes in one batch is no change.
    const third = cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['a', 'd'] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a')] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('a', '10.0.0.2')] },
    ]);
    expect(plain(third)).toEqual({
      sidecar: { [TypeUrl.Cluster]: { changed: [], removed: ['d'] } },
      proxyless: { [TypeUrl.ClusterLoadAssignment]: { changed: ['a'], removed: [] } },
    });
    expect([...cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).keys()].sort()).toEqual(['a', 'b']);
  });

  it('notifies listeners once per batch, and not at all for a batch that changes nothing', () => {
    const cache = new ResourceCache();
    const heard: ChangeSet[] = [];
    const stop = cache.onChange((changes) => heard.push(changes));
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] },
    ]);
    expect(heard).toHaveLength(1);
    expect([...heard[0].keys()].sort()).toEqual(['proxyless', 'sidecar']);

    const noop = cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['not-there'] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, upserts: [] },
    ]);
    expect(noop.size).toBe(0);
    expect(heard).toHaveLength(1);

    stop();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [] }]);
    expect(heard).toHaveLength(1);
  });

  it('changes the set version when the set changes, and only then', () => {
    const cache = new ResourceCache();
    const empty = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a'), cluster('b')] }]);
    const v1 = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    expect(v1).not.toBe(empty);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('b'), cluster('a')] }]);
    expect(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster)).toBe(v1);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('b', 3)] }]);
    const v2 = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    expect(v2).not.toBe(v1);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['a'] }]);
    expect(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster)).not.toBe(v2);
    // The same set in another group has the same version.
    cache.apply([{ group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('b', 3)] }]);
    expect(cache.setVersion(PROXYLESS_GROUP, TypeUrl.Cluster)).toBe(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
  });

  it('rejects a batch with a resource that cannot be encoded, naming it, and keeps the previous state', () => {
    const cache = new ResourceCache();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] }]);
    const heard: ChangeSet[] = [];
    cache.onChange((changes) => heard.push(changes));
    expect(() =>
      cache.apply([
        { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('b')] },
        { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [{ typeUrl: TypeUrl.Cluster, name: 'bad', value: { nmae: 'bad' } }] },
      ]),
    ).toThrow(/group "sidecar".*resource "bad" cannot be encoded.*unknown field "nmae"/);
    expect([...cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).keys()]).toEqual(['a']);
    expect(heard).toHaveLength(0);
    expect(cache.stats().storedResources).toBe(1);

    expect(() => cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a'), cluster('a', 2)] }])).toThrow(
      /"a" appears twice/,
    );
    expect(() => cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, set: [cluster('a')] }])).toThrow(
      /resource "a" has type .*Cluster/,
    );
  });
});

describe('ResourceCache: Envoy validation rules', () => {
  let errorLog: ReturnType<typeof jest.spyOn>;
  beforeEach(() => {
    errorLog = jest.spyOn(log, 'error').mockImplementation(() => log);
  });
  afterEach(() => errorLog.mockRestore());

  /** shop/a/80's endpoints with one port Envoy refuses (above 65535). */
  function badEndpoints(): ReturnType<typeof endpoints> {
    const resource = endpoints('shop/a/80', '10.0.0.1', '10.0.0.2');
    const value = structuredClone(resource.value) as any;
    value.endpoints[0].lbEndpoints[1].endpoint.address.socketAddress.portValue = 70000;
    return { ...resource, value };
  }

  it('refuses a resource that breaks a rule, keeps its last good version, applies the rest and says which rule', () => {
    const cache = new ResourceCache();
    const refusals: unknown[] = [];
    cache.onRefused((refused) => refusals.push(refused));
    const good = endpoints('shop/a/80', '10.0.0.1');
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: [good, endpoints('shop/b/80', '10.0.0.3')] }]);
    const before = cache.get(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment, 'shop/a/80');

    const changes = cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: [badEndpoints(), endpoints('shop/b/80', '10.0.0.4')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] },
    ]);
    // The refused name is neither replaced nor removed; the other resources move on.
    expect(cache.get(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment, 'shop/a/80')).toBe(before);
    expect(plain(changes)).toEqual({
      [SIDECAR_GROUP]: {
        [TypeUrl.ClusterLoadAssignment]: { changed: ['shop/b/80'], removed: [] },
        [TypeUrl.Cluster]: { changed: ['shop/a/80'], removed: [] },
      },
    });
    expect(refusals).toEqual([
      {
        group: SIDECAR_GROUP,
        typeUrl: TypeUrl.ClusterLoadAssignment,
        name: 'shop/a/80',
        violations: [
          'ClusterLoadAssignment "shop/a/80": endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value: must be <= 65535 (uint32.lte)',
        ],
      },
    ]);
    expect(errorLog).toHaveBeenCalledWith(
      expect.stringContaining('resource refused'),
      expect.objectContaining({
        group: SIDECAR_GROUP,
        resource: 'shop/a/80',
        served: 'the last good version',
        violations: [expect.stringContaining('(uint32.lte)')],
      }),
    );
  });

  it('leaves a name without a good version absent, and reports one offered value once', () => {
    const cache = new ResourceCache();
    const refusals: string[] = [];
    cache.onRefused((refused) => refusals.push(refused.name));
    const bad = badEndpoints();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [bad] }]);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [bad] }]);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment).size).toBe(0);
    expect(refusals).toEqual(['shop/a/80']);
    // A fixed value is taken; a later bad one is reported again.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('shop/a/80', '10.0.0.1')] }]);
    expect(cache.get(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment, 'shop/a/80')).toBeDefined();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [bad] }]);
    expect(refusals).toEqual(['shop/a/80', 'shop/a/80']);
    expect(cache.get(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment, 'shop/a/80')).toBeDefined();
  });
});

describe('ResourceCache: encoding ahead of apply', () => {
  let errorLog: ReturnType<typeof jest.spyOn>;
  beforeEach(() => {
    errorLog = jest.spyOn(log, 'error').mockImplementation(() => log);
  });
  afterEach(() => errorLog.mockRestore());

  it('applies an encoded resource exactly as its plain value, sharing the stored resource', () => {
    const cache = new ResourceCache();
    const encoded = cache.encode(cluster('shop/cart/80'));
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).size).toBe(0); // encoding alone stores nothing
    const changes = cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [encoded] }]);
    expect(plain(changes)).toEqual({ [SIDECAR_GROUP]: { [TypeUrl.Cluster]: { changed: ['shop/cart/80'], removed: [] } } });

    const fromPlain = new ResourceCache();
    fromPlain.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/cart/80')] }]);
    const expected = fromPlain.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/cart/80')!;
    const got = cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/cart/80')!;
    expect(got.version).toBe(expected.version);
    expect(Buffer.from(got.deltaBytes)).toEqual(Buffer.from(expected.deltaBytes));

    // The same bytes encoded again, offered to another group: one stored resource, nothing changed for the first group.
    const again = cache.apply([{ group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cache.encode(cluster('shop/cart/80'))] }]);
    expect(cache.get(PROXYLESS_GROUP, TypeUrl.Cluster, 'shop/cart/80')).toBe(got);
    expect(cache.stats().storedResources).toBe(1);
    expect(plain(again)).toEqual({ [PROXYLESS_GROUP]: { [TypeUrl.Cluster]: { changed: ['shop/cart/80'], removed: [] } } });
    expect(cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cache.encode(cluster('shop/cart/80'))] }]).size).toBe(0);
    // An encoded resource passed to encode comes back as it is.
    expect(cache.encode(encoded)).toBe(encoded);
  });

  it('refuses an encoded resource that breaks a rule when it is applied, keeping the last good version, reported once', () => {
    const cache = new ResourceCache();
    const refusals: string[] = [];
    cache.onRefused((refused) => refusals.push(`${refused.group} ${refused.name}: ${refused.violations.join()}`));
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: [endpoints('shop/a/80', '10.0.0.1')] }]);
    const good = cache.get(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment, 'shop/a/80');

    const bad = endpoints('shop/a/80', '10.0.0.1');
    (bad.value as any).endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue = 70000;
    const encoded = cache.encode(bad);
    expect(encoded.cached).toBeUndefined();
    expect(refusals).toEqual([]); // refused when a group is offered it, not before
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: [encoded] }]);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: [encoded] }]);
    expect(cache.get(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment, 'shop/a/80')).toBe(good);
    expect(refusals).toEqual([
      'sidecar shop/a/80: ClusterLoadAssignment "shop/a/80": endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: must be <= 65535 (uint32.lte)',
    ]);
  });

  it('throws, naming the resource and the group, when a value cannot be encoded at all', () => {
    const cache = new ResourceCache();
    expect(() => cache.encode({ typeUrl: TypeUrl.Cluster, name: 'bad', value: { nmae: 'bad' } }, SIDECAR_GROUP)).toThrow(
      /group "sidecar".*resource "bad" cannot be encoded.*unknown field "nmae"/,
    );
  });
});
