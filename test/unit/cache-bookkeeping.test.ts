// The cache's bookkeeping that no protocol test looks at directly: which refusals are reported
// again, when a stored resource is let go, what a batch that ends where it started announces,
// and the framing of large resources.
import protobuf from 'protobufjs';
import { jest } from '@jest/globals';
import { log } from '../../src/log.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { PROXYLESS_GROUP, SIDECAR_GROUP } from '../../src/cache/types.js';
import { decodeMessage, TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import { cluster, endpoints } from '../support/xds-fixtures.js';

/** `name`'s endpoints with a port Envoy refuses (above 65535). */
function refusedEndpoints(name: string): XdsResource {
  const resource = endpoints(name, '10.0.0.1');
  const value = structuredClone(resource.value) as { endpoints: Array<{ lbEndpoints: Array<any> }> };
  value.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue = 70000;
  return { ...resource, value };
}

const EDS = TypeUrl.ClusterLoadAssignment;

describe('ResourceCache: refusals reported once per offer', () => {
  let errorLog: ReturnType<typeof jest.spyOn>;
  beforeEach(() => {
    errorLog = jest.spyOn(log, 'error').mockImplementation(() => log);
  });
  afterEach(() => errorLog.mockRestore());

  function watched(): { cache: ResourceCache; refusals: string[] } {
    const cache = new ResourceCache();
    const refusals: string[] = [];
    cache.onRefused((refused) => refusals.push(refused.name));
    return { cache, refusals };
  }

  it('remembers every refused name of a group, not only the last one reported', () => {
    const { cache, refusals } = watched();
    const a = refusedEndpoints('shop/a/80');
    const b = refusedEndpoints('shop/b/80');
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, set: [a, b] }]);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, set: [a, b] }]);
    expect(refusals).toEqual(['shop/a/80', 'shop/b/80']);
  });

  it('keeps a refused name that a full set offers again quiet, and reports it again once a set left it out', () => {
    const { cache, refusals } = watched();
    const bad = refusedEndpoints('shop/a/80');
    const other = endpoints('shop/b/80', '10.0.0.2');
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, set: [bad, other] }]);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, set: [bad, other] }]);
    expect(refusals).toEqual(['shop/a/80']);
    // The name leaves the set: the next time it is offered, it is a new offer.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, set: [other] }]);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, set: [bad, other] }]);
    expect(refusals).toEqual(['shop/a/80', 'shop/a/80']);
  });

  it('reports a refused name again after an explicit removal, and only that name', () => {
    const { cache, refusals } = watched();
    const a = refusedEndpoints('shop/a/80');
    const b = refusedEndpoints('shop/b/80');
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, upserts: [a, b] }]);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, removals: ['shop/a/80'] }]);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, upserts: [a, b] }]);
    expect(refusals).toEqual(['shop/a/80', 'shop/b/80', 'shop/a/80']);
  });

  it('still tells the other listeners when one listener throws', () => {
    const { cache, refusals } = watched();
    const after: string[] = [];
    cache.onRefused(() => {
      throw new Error('listener bug');
    });
    cache.onRefused((refused) => after.push(refused.name));
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: EDS, upserts: [refusedEndpoints('shop/a/80')] }]);
    expect(refusals).toEqual(['shop/a/80']);
    expect(after).toEqual(['shop/a/80']);
    expect(errorLog).toHaveBeenCalledWith('cache refusal listener failed', { error: 'listener bug' });
  });
});

describe('ResourceCache: stored resources and announcements', () => {
  it('announces a first batch in the order its names came, as any batch, even when one left and came back', () => {
    const CDS = TypeUrl.Cluster;
    const announced = (cache: ResourceCache, changes: Parameters<ResourceCache['apply']>[0]) => {
      const change = cache.apply(changes).get(SIDECAR_GROUP)?.get(CDS);
      return { changed: [...(change?.changed ?? [])], removed: [...(change?.removed ?? [])] };
    };
    expect(
      announced(new ResourceCache(), [{ group: SIDECAR_GROUP, typeUrl: CDS, upserts: [cluster('c'), cluster('a'), cluster('b')] }]),
    ).toEqual({
      changed: ['c', 'a', 'b'],
      removed: [],
    });
    // `a` is dropped by the set and offered again after `c`: it was first touched before `b`.
    const batch = [
      { group: SIDECAR_GROUP, typeUrl: CDS, upserts: [cluster('a'), cluster('b')] },
      { group: SIDECAR_GROUP, typeUrl: CDS, set: [cluster('b'), cluster('c')] },
      { group: SIDECAR_GROUP, typeUrl: CDS, upserts: [cluster('a'), cluster('d')] },
    ];
    expect(announced(new ResourceCache(), batch)).toEqual({ changed: ['a', 'b', 'c', 'd'], removed: [] });
    // The same batch on a set that held something: the same order.
    const held = new ResourceCache();
    held.apply([{ group: SIDECAR_GROUP, typeUrl: CDS, upserts: [cluster('z')] }]);
    expect(announced(held, [{ group: SIDECAR_GROUP, typeUrl: CDS, removals: ['z'] }, ...batch])).toEqual({
      changed: ['a', 'b', 'c', 'd'],
      removed: ['z'],
    });
    // Added and dropped within the batch: neither changed nor removed.
    expect(
      announced(new ResourceCache(), [
        { group: SIDECAR_GROUP, typeUrl: CDS, upserts: [cluster('a'), cluster('b')] },
        { group: SIDECAR_GROUP, typeUrl: CDS, removals: ['a'] },
      ]),
    ).toEqual({ changed: ['b'], removed: [] });
  });

  it('keeps a shared resource stored until the last group holding it lets it go', () => {
    const cache = new ResourceCache();
    const shared = cluster('shop/a/80');
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [shared] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [shared] },
    ]);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['shop/a/80'] }]);
    expect(cache.stats().storedResources).toBe(1);
    expect(cache.get(PROXYLESS_GROUP, TypeUrl.Cluster, 'shop/a/80')).toBeDefined();
    cache.apply([{ group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [] }]);
    expect(cache.stats().storedResources).toBe(0);
  });

  it('keeps several versions of one name stored at once, shares each by its bytes, and lets each go on its own', () => {
    const cache = new ResourceCache();
    const group = (n: number) => `sidecar~scope-${n}`;
    // Three groups hold three versions of one name; the oldest was stored first (the end of its list).
    cache.apply([1, 2, 3].map((n) => ({ group: group(n), typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80', n)] })));
    expect(cache.stats().storedResources).toBe(3);
    const first = cache.get(group(1), TypeUrl.Cluster, 'shop/a/80')!;
    // The same bytes as the first version, offered to another group: found past the newer ones, shared.
    cache.apply([{ group: group(4), typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80', 1)] }]);
    expect(cache.get(group(4), TypeUrl.Cluster, 'shop/a/80')).toBe(first);
    expect(cache.stats().storedResources).toBe(3);
    // The middle version goes; the others stay found.
    cache.apply([{ group: group(2), typeUrl: TypeUrl.Cluster, set: [] }]);
    expect(cache.stats().storedResources).toBe(2);
    const third = cache.get(group(3), TypeUrl.Cluster, 'shop/a/80')!;
    cache.apply([{ group: group(5), typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80', 3)] }]);
    expect(cache.get(group(5), TypeUrl.Cluster, 'shop/a/80')).toBe(third);
    cache.apply([{ group: group(6), typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80', 1)] }]);
    expect(cache.get(group(6), TypeUrl.Cluster, 'shop/a/80')).toBe(first);
    // A version let go and offered again is stored anew.
    cache.apply([{ group: group(2), typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80', 2)] }]);
    expect(cache.stats().storedResources).toBe(3);
    for (const n of [1, 2, 3, 4, 5, 6]) cache.apply([{ group: group(n), typeUrl: TypeUrl.Cluster, set: [] }]);
    expect(cache.stats().storedResources).toBe(0);
  });

  it('announces nothing for a batch that adds a name and removes it again', () => {
    const cache = new ResourceCache();
    const heard: unknown[] = [];
    cache.onChange((changes) => heard.push(changes));
    const changes = cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['shop/a/80'] },
    ]);
    expect(changes.size).toBe(0);
    expect(heard).toEqual([]);
    expect(cache.stats().storedResources).toBe(0);
  });

  it('still tells the other change listeners when one throws', () => {
    const errorLog = jest.spyOn(log, 'error').mockImplementation(() => log);
    try {
      const cache = new ResourceCache();
      const heard: string[] = [];
      cache.onChange(() => {
        throw new Error('stream bug');
      });
      cache.onChange((changes) => heard.push(...changes.keys()));
      cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] }]);
      expect(heard).toEqual([SIDECAR_GROUP]);
      expect(errorLog).toHaveBeenCalledWith('cache change listener failed', { error: 'stream bug' });
    } finally {
      errorLog.mockRestore();
    }
  });

  it('creates no group by being asked about one', () => {
    const cache = new ResourceCache();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] }]);
    expect(cache.resources('gateway/nobody', TypeUrl.Cluster).size).toBe(0);
    expect(cache.get('gateway/nobody', TypeUrl.Cluster, 'shop/a/80')).toBeUndefined();
    expect(cache.get(SIDECAR_GROUP, TypeUrl.Listener, 'outbound')).toBeUndefined();
    expect(cache.groups()).toEqual([SIDECAR_GROUP]);
  });

  it('gives sets short versions: 16 hex digits, changed by any member', () => {
    const cache = new ResourceCache();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] }]);
    const first = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    expect(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster)).toBe(first);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80', 2)] }]);
    expect(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster)).not.toBe(first);
  });

  it('names the resource and keeps the cause when a value cannot be encoded', () => {
    const cache = new ResourceCache();
    const broken: XdsResource = { typeUrl: TypeUrl.Cluster, name: 'shop/a/80', value: { name: 'shop/a/80', connectTimeout: 'soon' } };
    let thrown: Error | undefined;
    try {
      cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [broken] }]);
    } catch (err) {
      thrown = err as Error;
    }
    expect(thrown?.message).toContain('resource "shop/a/80" cannot be encoded');
    expect(thrown?.cause).toBeInstanceOf(Error);
  });
});

describe('ResourceCache: framing of resources of every size', () => {
  // The Any and delta Resource frames carry varint lengths: one byte below 128, two from 128,
  // three from 16,384. A cluster's encoded size grows with its name, so a range of name lengths
  // crosses each boundary.
  const sizes = [...Array(40).keys()].map((i) => 95 + i).concat([16_300, 16_350, 16_400]);

  it.each(sizes)('frames a cluster with a %i-character name so Envoy protos decode all three encodings', (length) => {
    const cache = new ResourceCache();
    const name = 'c'.repeat(length);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster(name)] }]);
    const cached = cache.get(SIDECAR_GROUP, TypeUrl.Cluster, name)!;
    const delta = decodeMessage('envoy.service.discovery.v3.Resource', cached.deltaBytes) as any;
    expect(delta.name).toBe(name);
    expect(delta.version).toBe(cached.version);
    expect(delta.resource['@type']).toBe(TypeUrl.Cluster);
    expect(delta.resource.name).toBe(name);
    const any = decodeMessage('google.protobuf.Any', cached.anyBytes) as any;
    expect(any['@type']).toBe(TypeUrl.Cluster);
    expect(any.name).toBe(name);
    expect((decodeMessage(TypeUrl.Cluster, cached.bytes) as any).name).toBe(name);
    // Byte for byte the frame protobufjs' own writer builds (name, version, then the Any).
    const frame = protobuf.Writer.create().uint32(26).string(name).uint32(10).string(cached.version).uint32(18).fork();
    frame.uint32(10).string(TypeUrl.Cluster).uint32(18).bytes(cached.bytes).ldelim();
    expect(Buffer.from(cached.deltaBytes).equals(Buffer.from(frame.finish()))).toBe(true);
  });
});
