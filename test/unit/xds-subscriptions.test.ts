// What a client holds after subscription changes and stalls: every resource it asked for
// reaches it, and nothing it already holds at the current version is sent again.
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { FakeDeltaStream, FakeSotwStream } from '../support/fake-transport.js';
import { cluster } from '../support/xds-fixtures.js';

function withClusters<T extends FakeDeltaStream | FakeSotwStream>(client: T): T {
  client.apply([
    { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80'), cluster('shop/b/80'), cluster('shop/c/80')] },
  ]);
  return client;
}

describe('a stream that asks for * after naming resources', () => {
  it('delta: receives every existing resource it does not hold yet', async () => {
    const client = withClusters(new FakeDeltaStream());
    await client.request({ typeUrl: TypeUrl.Cluster, subscribe: ['shop/a/80'] });
    const named = client.response();
    expect(named.names).toEqual(['shop/a/80']);
    await client.ack(named);
    expect(client.responses()).toEqual([]);

    await client.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'], responseNonce: named.nonce });
    const all = client.response();
    // shop/a/80 is held at its current version already: only the other two go out.
    expect(all.names.sort()).toEqual(['shop/b/80', 'shop/c/80']);
    expect(all.removedResources).toEqual([]);

    // And from now on it hears of clusters it never named.
    await client.ack(all);
    client.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/d/80')] }]);
    expect(client.responses().map((r) => r.names)).toEqual([['shop/d/80']]);
  });

  it('SotW: receives the whole set, named and unnamed', async () => {
    const client = withClusters(new FakeSotwStream());
    await client.request({ typeUrl: TypeUrl.Cluster, resourceNames: ['shop/a/80'] });
    const named = client.response();
    expect(named.names).toEqual(['shop/a/80']);
    await client.ack(named, ['shop/a/80']);
    expect(client.responses()).toEqual([]);

    await client.request({
      typeUrl: TypeUrl.Cluster,
      resourceNames: ['shop/a/80', '*'],
      versionInfo: named.versionInfo,
      responseNonce: named.nonce,
    });
    expect(client.response().names.sort()).toEqual(['shop/a/80', 'shop/b/80', 'shop/c/80']);
  });
});

describe('a delta stream that stalled while the cache changed', () => {
  async function connected(): Promise<FakeDeltaStream> {
    const client = withClusters(new FakeDeltaStream());
    await client.request({ typeUrl: TypeUrl.Cluster });
    const initial = client.response();
    expect(initial.names.sort()).toEqual(['shop/a/80', 'shop/b/80', 'shop/c/80']);
    await client.ack(initial);
    expect(client.responses()).toEqual([]);
    return client;
  }

  it('sends only what changed meanwhile, not what the client holds at that version', async () => {
    const client = await connected();
    client.transport.blocked = true;
    client.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/b/80', 2)] }]);
    client.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/b/80', 3)], removals: ['shop/c/80'] }]);
    expect(client.responses()).toEqual([]);

    client.transport.drain();
    const [changed, removal, ...more] = client.responses();
    expect(changed.names).toEqual(['shop/b/80']);
    expect(changed.resources[0].version).toBe(client.cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/b/80')!.version);
    // Make before break: the removed cluster goes in a response of its own, after the rest.
    expect(removal).toMatchObject({ names: [], removedResources: ['shop/c/80'] });
    expect(more).toEqual([]);
  });

  it('sends nothing when every change was undone before it drained', async () => {
    const client = await connected();
    client.transport.blocked = true;
    client.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80', 9)] }]);
    client.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80')] }]);
    client.transport.drain();
    expect(client.responses()).toEqual([]);
  });
});

describe('delta streams that asked for the same names first', () => {
  it('share the subscription until one changes its own: the other keeps hearing what it asked for', async () => {
    const a = withClusters(new FakeDeltaStream());
    const b = new FakeDeltaStream({ sameServerAs: a });
    for (const client of [a, b]) {
      await client.request({ typeUrl: TypeUrl.Cluster, subscribe: ['shop/a/80', 'shop/b/80'] });
      const first = client.response();
      expect(first.names.sort()).toEqual(['shop/a/80', 'shop/b/80']);
      await client.ack(first);
    }
    // One set for both (the pool's), until a drops shop/b/80 and adds shop/c/80.
    expect(a.stream.snapshot().types).toEqual(b.stream.snapshot().types);
    await a.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['shop/b/80'], subscribe: ['shop/c/80'] });
    const added = a.response();
    expect(added.names).toEqual(['shop/c/80']);
    await a.ack(added);

    a.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/b/80', 2), cluster('shop/c/80', 2)] }]);
    expect(a.responses().map((r) => r.names)).toEqual([['shop/c/80']]);
    expect(b.responses().map((r) => r.names)).toEqual([['shop/b/80']]);
  });

  it('take * in a first request as the wildcard, not as a name', async () => {
    const a = withClusters(new FakeDeltaStream());
    await a.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*', 'shop/a/80'] });
    const all = a.response();
    expect(all.names.sort()).toEqual(['shop/a/80', 'shop/b/80', 'shop/c/80']);
    await a.ack(all);
    a.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/d/80')] }]);
    expect(a.responses().map((r) => r.names)).toEqual([['shop/d/80']]);
  });
});
