// State-of-the-world cases beyond the per-type basics of xds-protocol.test.ts: make before break
// for a removed cluster, leaving the wildcard, the legacy empty list, re-subscription, the cap on
// subscriptions, and types the control plane does not serve. Each is something a proxy would
// notice: a cluster dropped while a listener still routes to it, a resource missing or sent twice.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { FakeSotwStream } from '../support/fake-transport.js';
import { cluster, endpoints, listener, route } from '../support/xds-fixtures.js';

const sorted = (names: string[]) => [...names].sort();

function withClusters(fake: FakeSotwStream, names = ['a', 'b', 'c'], variant = 1): FakeSotwStream {
  fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: names.map((n) => cluster(n, variant)) }]);
  return fake;
}

function withEndpoints(fake: FakeSotwStream, names: string[], address = '10.0.0.1'): FakeSotwStream {
  fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: names.map((n) => endpoints(n, address)) }]);
  return fake;
}

describe('SotW: a cluster replaced in one change', () => {
  async function subscribed(clusterNames: string[]) {
    const fake = new FakeSotwStream();
    fake.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('old'), cluster('keep')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, upserts: [listener('l1', 'r1')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, upserts: [route('r1', 'old')] },
    ]);
    for (const [typeUrl, names] of [
      [TypeUrl.Cluster, clusterNames],
      [TypeUrl.Listener, []],
      [TypeUrl.RouteConfiguration, ['r1']],
    ] as const) {
      await fake.request({ typeUrl, resourceNames: [...names] });
      await fake.ack(fake.response(), [...names]);
    }
    return fake;
  }

  it.each([
    ['wildcard', []],
    ['named', ['old', 'keep', 'new']],
  ])('%s: keeps the removed cluster until the route that replaced it went out, then drops it', async (_label, names) => {
    const fake = await subscribed(names);
    fake.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('new')], removals: ['old'] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, upserts: [route('r1', 'new')] },
    ]);
    const sent = fake.responses();
    expect(sent.map((r) => ({ type: r.typeUrl, names: sorted(r.names) }))).toEqual([
      { type: TypeUrl.Cluster, names: ['keep', 'new', 'old'] },
      { type: TypeUrl.RouteConfiguration, names: ['r1'] },
      { type: TypeUrl.Cluster, names: ['keep', 'new'] },
    ]);
    // Two different cluster sets: two different versions, so the client can tell them apart.
    expect(sent[0].versionInfo).not.toBe(sent[2].versionInfo);
    expect(sent[2].versionInfo).toBe(fake.cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
  });

  it('a removal with nothing else changed goes out once, without the cluster', async () => {
    const fake = await subscribed([]);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['old'] }]);
    expect(fake.responses().map((r) => r.names)).toEqual([['keep']]);
  });

  it('a removal of a cluster the client was never sent changes nothing', async () => {
    const fake = await subscribed(['keep']);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['old'] }]);
    expect(fake.responses()).toEqual([]);
  });
});

describe('SotW: wildcard and subscription changes', () => {
  it('naming resources after the wildcard narrows to them; a resource then named again is sent', async () => {
    const fake = withClusters(new FakeSotwStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, resourceNames: ['*'] });
    const all = fake.response();
    expect(sorted(all.names)).toEqual(['a', 'b', 'c']);
    await fake.ack(all, ['a']);
    const narrowed = fake.response();
    expect(narrowed.names).toEqual(['a']);
    withClusters(fake, ['b'], 5);
    expect(fake.responses()).toEqual([]);
    await fake.ack(narrowed, ['a', 'b']);
    expect(sorted(fake.response().names)).toEqual(['a', 'b']);
  });

  it('the legacy empty list stays a wildcard on later requests, until the client names something', async () => {
    const fake = withClusters(new FakeSotwStream());
    await fake.request({ typeUrl: TypeUrl.Cluster });
    const first = fake.response();
    await fake.ack(first, []);
    expect(fake.responses()).toEqual([]);
    withClusters(fake, ['d']);
    const grown = fake.response();
    expect(sorted(grown.names)).toEqual(['a', 'b', 'c', 'd']);
    await fake.ack(grown, ['a']);
    const narrowed = fake.response();
    expect(narrowed.names).toEqual(['a']);
    // Once it has named resources, an empty list unsubscribes from everything.
    await fake.ack(narrowed, []);
    expect(fake.response().names).toEqual([]);
    withClusters(fake, ['e']);
    expect(fake.responses()).toEqual([]);
  });

  it('endpoints: a resource unsubscribed and named again is sent again, unchanged as it is', async () => {
    const fake = withEndpoints(new FakeSotwStream(), ['a', 'b', 'c']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['a', 'b'] });
    const first = fake.response();
    await fake.ack(first, ['b']);
    expect(fake.responses()).toEqual([]);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['a', 'b'], responseNonce: first.nonce });
    expect(fake.response().names).toEqual(['a']);
  });

  it('endpoints: answers a first request for part of the set with that part only', async () => {
    const fake = withEndpoints(new FakeSotwStream(), ['a', 'b', 'c']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['b', 'c'] });
    expect(sorted(fake.response().names)).toEqual(['b', 'c']);
  });

  it('endpoints: a first request naming nothing that exists gets no answer yet, and the resource once it appears', async () => {
    const fake = withEndpoints(new FakeSotwStream(), ['a']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['later'] });
    expect(fake.responses()).toEqual([]);
    withEndpoints(fake, ['later']);
    expect(fake.response().names).toEqual(['later']);
  });
});

describe('SotW: the cap on subscriptions per stream', () => {
  it('counts distinct names over all types, and ends the stream past the cap', async () => {
    const fake = withEndpoints(withClusters(new FakeSotwStream({ maxSubscriptions: 3 })), ['a', 'b']);
    await fake.request({ typeUrl: TypeUrl.Cluster, resourceNames: ['a', 'a', 'b'] });
    const first = fake.response();
    expect(fake.transport.ended).toBeUndefined();
    // The same list again (an ACK) is not counted afresh.
    await fake.ack(first, ['a', 'a', 'b']);
    expect(fake.transport.ended).toBeUndefined();
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['a', 'b'] });
    expect(fake.transport.ended?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(fake.observer.refusals).toEqual([expect.objectContaining({ reason: 'subscriptions-per-stream' })]);
  });
});

describe('SotW: a type the control plane does not serve', () => {
  const unserved = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig';

  it('answers with an empty set and no version, and the stream keeps serving the rest', async () => {
    const fake = withClusters(new FakeSotwStream());
    await fake.request({ typeUrl: unserved, resourceNames: ['x'] });
    const first = fake.response();
    expect(first).toMatchObject({ typeUrl: unserved, versionInfo: '', names: [] });
    await fake.ack(first, ['x']);
    expect(fake.responses()).toEqual([]);
    await fake.ack(first, ['x', 'y']);
    expect(fake.response()).toMatchObject({ versionInfo: '', names: [] });
    await fake.request({ typeUrl: TypeUrl.Cluster, resourceNames: ['a'] });
    expect(fake.response().names).toEqual(['a']);
  });
});
