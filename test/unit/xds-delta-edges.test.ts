// Delta protocol cases beyond the per-type basics of xds-protocol.test.ts: what the client is told
// of names that do not exist, repeated and narrowed subscriptions, leaving the wildcard, what it
// says it holds on (re)connection, the order of one change over several types, and the cap on
// subscriptions. Each one is something a proxy would notice: a resource missing, sent twice, or
// a stream ended.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { SIDECAR_GROUP, type GroupChange } from '../../src/cache/types.js';
import { encodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { FakeDeltaStream } from '../support/fake-transport.js';
import { cluster, endpoints, listener, route } from '../support/xds-fixtures.js';
import { testNode } from '../support/xds-client.js';

const sorted = (names: string[]) => [...names].sort();

function withClusters(fake: FakeDeltaStream, names = ['a', 'b', 'c'], variant = 1): FakeDeltaStream {
  fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: names.map((n) => cluster(n, variant)) }]);
  return fake;
}

function withEndpoints(fake: FakeDeltaStream, names: string[], address = '10.0.0.1'): FakeDeltaStream {
  fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: names.map((n) => endpoints(n, address)) }]);
  return fake;
}

const versionOf = (fake: FakeDeltaStream, typeUrl: TypeUrl, name: string) => fake.cache.get(SIDECAR_GROUP, typeUrl, name)!.version;

describe('delta: names the cache does not have', () => {
  it('the first answer says a named resource does not exist, and it is sent once it appears', async () => {
    const fake = withEndpoints(new FakeDeltaStream(), ['a']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a', 'missing'] });
    const first = fake.response();
    expect(first.names).toEqual(['a']);
    expect(first.removedResources).toEqual(['missing']);
    await fake.ack(first);
    withEndpoints(fake, ['missing']);
    expect(fake.response().names).toEqual(['missing']);
  });

  it('a later subscription to a missing name is answered with its removal, not silence', async () => {
    const fake = withEndpoints(new FakeDeltaStream(), ['a']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['missing'] });
    expect(fake.response()).toMatchObject({ names: [], removedResources: ['missing'] });
  });

  it('a removal of something the client never received is not sent', async () => {
    const fake = withEndpoints(new FakeDeltaStream(), ['a', 'b']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a'] });
    await fake.ack(fake.response());
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, removals: ['b'] }]);
    expect(fake.responses()).toEqual([]);
  });

  it('"*" is only a name for endpoints: nothing is sent for it, and no later endpoints either', async () => {
    const fake = withEndpoints(new FakeDeltaStream(), ['a', 'b']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['*'] });
    const first = fake.response();
    expect(first.names).toEqual([]);
    await fake.ack(first);
    withEndpoints(fake, ['c']);
    withEndpoints(fake, ['a'], '10.0.0.9');
    expect(fake.responses()).toEqual([]);
  });
});

describe('delta: repeated and narrowed subscriptions', () => {
  it('subscribing again to a name already held sends nothing', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a', 'b'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.responses()).toEqual([]);
  });

  it('a plain ACK after unsubscribing changes nothing: the unsubscribed resource stays unsent', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a', 'b'] });
    const first = fake.response();
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['a'], responseNonce: first.nonce });
    expect(fake.responses()).toEqual([]);
    withClusters(fake, ['a', 'b'], 5);
    expect(fake.response().names).toEqual(['b']);
  });

  it('each response carries the set version of its type', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.response().systemVersionInfo).toBe(fake.cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
    withClusters(fake, ['a'], 2);
    const pushed = fake.response();
    expect(pushed.systemVersionInfo).toBe(fake.cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
    expect(pushed.resources[0].version).toBe(versionOf(fake, TypeUrl.Cluster, 'a'));
  });
});

describe('delta: leaving the wildcard', () => {
  it('unsubscribing "*" keeps what is also named, and stops the rest', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*', 'a'] });
    const first = fake.response();
    expect(sorted(first.names)).toEqual(['a', 'b', 'c']);
    await fake.ack(first);
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['*'] });
    expect(fake.responses()).toEqual([]);
    withClusters(fake, ['a', 'b', 'c', 'd'], 2);
    const changed = fake.response();
    expect(changed.names).toEqual(['a']);
    await fake.ack(changed);
    // It still holds the named one: its removal is told.
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['a', 'b'] }]);
    expect(fake.response()).toMatchObject({ names: [], removedResources: ['a'] });
  });

  it('leaving the wildcard, the client still holds what it names: its removal is told', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*', 'a'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['*'] });
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['a', 'b'] }]);
    expect(fake.response()).toMatchObject({ names: [], removedResources: ['a'] });
  });

  it('a wildcard client that stops naming a resource still holds it through the wildcard: its removal is told', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*', 'a'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['a'] });
    expect(fake.responses()).toEqual([]);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['a'] }]);
    expect(fake.response()).toMatchObject({ names: [], removedResources: ['a'] });
  });

  it('a resource dropped with the wildcard is sent again in full when named later', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['*'] });
    expect(fake.responses()).toEqual([]);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['b'] });
    const again = fake.response();
    expect(again.names).toEqual(['b']);
    expect(again.resources[0].version).toBe(versionOf(fake, TypeUrl.Cluster, 'b'));
  });
});

describe('delta: coming back to what was left', () => {
  it('returning to the wildcard after leaving it sends every resource again', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['*'] });
    expect(fake.responses()).toEqual([]);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'] });
    expect(sorted(fake.response().names)).toEqual(['a', 'b', 'c']);
  });

  it('a resource unsubscribed by name is sent again when the client takes the wildcard', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a', 'b'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['a'] });
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'] });
    expect(sorted(fake.response().names)).toEqual(['a', 'c']);
  });

  it('the removal of a resource the client unsubscribed from, or left with the wildcard, is not sent', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*', 'c'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['*', 'c'] });
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: ['a', 'c'] }]);
    expect(fake.responses()).toEqual([]);
  });

  it('a wildcard client naming a resource it holds is sent it: an explicit subscription is always answered', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: TypeUrl.Cluster });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['b'] });
    expect(fake.response().names).toEqual(['b']);
  });
});

describe('delta: a change that touches other types than the stream watches', () => {
  it('sends what the stream watches and keeps it open', async () => {
    const fake = withEndpoints(withClusters(new FakeDeltaStream()), ['a']);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a'] });
    await fake.ack(fake.response());
    // Listeners: never asked for; endpoints: asked for, not in this change.
    fake.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 4)] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, upserts: [listener('l1', 'r1')] },
    ]);
    expect(fake.responses().map((r) => [r.typeUrl, r.names])).toEqual([[TypeUrl.Cluster, ['a']]]);
    withEndpoints(fake, ['a'], '10.0.0.7');
    expect(fake.response().names).toEqual(['a']);
    expect(fake.transport.ended).toBeUndefined();
  });
});

describe('delta: what a reconnecting client says it holds', () => {
  it('a wildcard client holding every resource at its version gets an empty first answer, and is told of one that is gone', async () => {
    const fake = withClusters(new FakeDeltaStream());
    const held = Object.fromEntries(['a', 'b', 'c'].map((n) => [n, versionOf(fake, TypeUrl.Cluster, n)]));
    await fake.request({ typeUrl: TypeUrl.Cluster, initialResourceVersions: { ...held, gone: 'v1' } });
    const first = fake.response();
    expect(first.names).toEqual([]);
    expect(first.removedResources).toEqual(['gone']);
  });

  it('an up-to-date client still gets an answer to its first request (it waits for one)', async () => {
    const fake = withEndpoints(new FakeDeltaStream(), ['a']);
    await fake.request({
      typeUrl: TypeUrl.ClusterLoadAssignment,
      subscribe: ['a'],
      initialResourceVersions: { a: versionOf(fake, TypeUrl.ClusterLoadAssignment, 'a') },
    });
    expect(fake.response()).toMatchObject({ names: [], removedResources: [] });
    // What it holds counts as sent: a later change goes out, the same version does not.
    withEndpoints(fake, ['a']);
    expect(fake.responses()).toEqual([]);
    withEndpoints(fake, ['a'], '10.0.0.2');
    expect(fake.response().names).toEqual(['a']);
  });

  it('a named client holding a name that no longer exists is told it is gone', async () => {
    const fake = withEndpoints(new FakeDeltaStream(), ['a']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a', 'old'], initialResourceVersions: { old: 'v1' } });
    const first = fake.response();
    expect(first.names).toEqual(['a']);
    expect(first.removedResources).toEqual(['old']);
  });
});

describe('delta: one change over several types', () => {
  async function subscribedToAll(): Promise<FakeDeltaStream> {
    const fake = new FakeDeltaStream();
    fake.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('old'), cluster('keep')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('old', '10.0.0.1')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, upserts: [listener('l1', 'r1'), listener('l2', 'r1')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, upserts: [route('r1', 'old'), route('r2', 'old')] },
    ]);
    for (const [typeUrl, subscribe] of [
      [TypeUrl.Cluster, []],
      [TypeUrl.ClusterLoadAssignment, ['old', 'new']],
      [TypeUrl.Listener, []],
      [TypeUrl.RouteConfiguration, ['r1', 'r2']],
    ] as const) {
      await fake.request({ typeUrl, subscribe: [...subscribe] });
      await fake.ack(fake.response());
    }
    return fake;
  }

  it('goes out make before break: clusters, endpoints, listeners, routes, then the removed clusters and endpoints', async () => {
    const fake = await subscribedToAll();
    const change: GroupChange[] = [
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, upserts: [route('r1', 'new')], removals: ['r2'] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, upserts: [listener('l1', 'r9')], removals: ['l2'] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('new', '10.0.0.2')], removals: ['old'] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('new')], removals: ['old'] },
    ];
    fake.apply(change);
    const sent = fake.responses().map((r) => ({ type: r.typeUrl, names: r.names, removed: r.removedResources }));
    expect(sent).toEqual([
      { type: TypeUrl.Cluster, names: ['new'], removed: [] },
      { type: TypeUrl.ClusterLoadAssignment, names: ['new'], removed: [] },
      // Nothing depends on a listener, and a route configuration goes once its listener changed:
      // their removals travel with their changes.
      { type: TypeUrl.Listener, names: ['l1'], removed: ['l2'] },
      { type: TypeUrl.RouteConfiguration, names: ['r1'], removed: ['r2'] },
      { type: TypeUrl.Cluster, names: [], removed: ['old'] },
      { type: TypeUrl.ClusterLoadAssignment, names: [], removed: ['old'] },
    ]);
  });
});

describe('delta: the cap on subscriptions per stream', () => {
  it('counts what a request unsubscribes, and refuses a request that would pass the cap', async () => {
    const fake = withClusters(new FakeDeltaStream({ maxSubscriptions: 2 }), ['a', 'b', 'c']);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a', 'b'] });
    await fake.ack(fake.response());
    // Swapping one name for another stays at two.
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['c'], unsubscribe: ['a'] });
    expect(fake.response().names).toEqual(['c']);
    expect(fake.transport.ended).toBeUndefined();
    // Naming one already held does not add one either.
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['b'] });
    expect(fake.transport.ended).toBeUndefined();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.transport.ended?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(fake.observer.refusals).toEqual([expect.objectContaining({ reason: 'subscriptions-per-stream' })]);
  });

  it('counts the names of the other types on the stream', async () => {
    const fake = withEndpoints(withClusters(new FakeDeltaStream({ maxSubscriptions: 3 })), ['a', 'b']);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a', 'b'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a', 'b'] });
    expect(fake.transport.ended?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it('lets a request that only unsubscribes through, even at the cap', async () => {
    const fake = withClusters(new FakeDeltaStream({ maxSubscriptions: 2 }));
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a', 'b'] });
    await fake.ack(fake.response());
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['a'] });
    expect(fake.transport.ended).toBeUndefined();
  });
});

describe('delta: a type the control plane does not serve', () => {
  const unserved = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig';

  it('answers every subscription with the names removed and no version, and the stream keeps working', async () => {
    const fake = withClusters(new FakeDeltaStream());
    await fake.request({ typeUrl: unserved, subscribe: ['x', '*'] });
    const first = fake.response();
    expect(first).toMatchObject({ typeUrl: unserved, systemVersionInfo: '', names: [], removedResources: ['x'] });
    await fake.ack(first);
    expect(fake.responses()).toEqual([]);
    await fake.request({ typeUrl: unserved, subscribe: ['x', 'y'] });
    expect(fake.response().removedResources).toEqual(['y']);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.response().names).toEqual(['a']);
  });
});

describe('delta: ACKs read from their raw bytes', () => {
  const request = (fields: Record<string, unknown>) =>
    Buffer.from(encodeMessage('envoy.service.discovery.v3.DeltaDiscoveryRequest', { node: testNode({ id: 'node-1' }), ...fields }));

  it('an ACK that repeats the node is an ACK; one that also subscribes or carries an error is read in full', async () => {
    const fake = withEndpoints(new FakeDeltaStream(), ['a', 'b']);
    await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a'] });
    const first = fake.response();

    await fake.receive(request({ typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: first.nonce }));
    expect(fake.responses()).toEqual([]);
    expect(fake.typeSnapshot(TypeUrl.ClusterLoadAssignment)).toMatchObject({
      lastResponse: 'acked',
      versionAcked: first.systemVersionInfo,
    });

    await fake.receive(request({ typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: first.nonce, resourceNamesSubscribe: ['b'] }));
    const second = fake.response();
    expect(second.names).toEqual(['b']);

    await fake.receive(
      request({ typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: second.nonce, errorDetail: { code: 3, message: 'no' } }),
    );
    expect(fake.typeSnapshot(TypeUrl.ClusterLoadAssignment)).toMatchObject({ lastResponse: 'nacked', nackCount: 1, lastNack: 'no' });
  });
});
