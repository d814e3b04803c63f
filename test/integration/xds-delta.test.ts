import { ResourceCache } from '../../src/cache/cache.js';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { NackEvent } from '../../src/xds/events.js';
import type { XdsServer } from '../../src/xds/server.js';
import { cluster, endpoints, listener, route, startServer } from '../support/xds-fixtures.js';
import { testNode, XdsTestClient, type DeltaTestStream } from '../support/xds-client.js';

describe('delta (incremental) ADS', () => {
  let cache: ResourceCache;
  let server: XdsServer;
  let client: XdsTestClient;

  beforeEach(async () => {
    const started = await startServer({ controlPlaneId: 'switchyard-test' });
    ({ cache, server } = started);
    client = new XdsTestClient(started.port);
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80'), cluster('shop/b/80'), cluster('shop/c/80')] },
      {
        group: SIDECAR_GROUP,
        typeUrl: TypeUrl.ClusterLoadAssignment,
        set: [endpoints('shop/a/80', '10.0.0.1'), endpoints('shop/b/80', '10.0.0.2')],
      },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, set: [listener('outbound-http', 'outbound')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, set: [route('outbound', 'shop/a/80')] },
    ]);
  });

  afterEach(() => {
    client.close();
    server.forceShutdown();
  });

  function version(typeUrl: TypeUrl, name: string): string {
    return cache.get(SIDECAR_GROUP, typeUrl, name)!.version;
  }

  function openEnvoy(fields: { subscribe?: string[]; initialResourceVersions?: Record<string, string> } = {}): DeltaTestStream {
    const ads = client.delta();
    ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'envoy-delta' }), ...fields });
    return ads;
  }

  it('serves legacy and explicit wildcard CDS / LDS and named EDS with per-resource versions', async () => {
    const ads = openEnvoy();
    const cds = await ads.next(TypeUrl.Cluster);
    expect(cds.names.sort()).toEqual(['shop/a/80', 'shop/b/80', 'shop/c/80']);
    for (const resource of cds.resources) expect(resource.version).toBe(version(TypeUrl.Cluster, resource.name));
    expect(cds.systemVersionInfo).toBe(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
    expect(cds.controlPlane).toBe('switchyard-test');
    expect(cds.removedResources).toEqual([]);
    ads.ack(cds);

    ads.request({ typeUrl: TypeUrl.Listener, subscribe: ['*'] });
    const lds = await ads.next(TypeUrl.Listener);
    expect(lds.names).toEqual(['outbound-http']);
    ads.ack(lds);

    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['shop/b/80'] });
    const eds = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(eds.names).toEqual(['shop/b/80']);
    ads.ack(eds);

    // Only what changed goes out, with its new version.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/b/80', 4), cluster('shop/a/80')] }]);
    const update = await ads.next(TypeUrl.Cluster);
    expect(update.names).toEqual(['shop/b/80']);
    expect(update.resources[0].version).toBe(version(TypeUrl.Cluster, 'shop/b/80'));
    ads.ack(update);
    await ads.barrier();
    expect(ads.pending()).toHaveLength(0);
    expect(ads.protocolErrors).toEqual([]);
    const state = server.streams()[0].types.find((t) => t.typeUrl === TypeUrl.Cluster)!;
    expect(state).toMatchObject({ wildcard: true, versionAcked: update.systemVersionInfo });
  });

  it('on reconnect sends only what differs from initial_resource_versions and removes what no longer exists', async () => {
    const ads = openEnvoy({
      initialResourceVersions: {
        'shop/a/80': version(TypeUrl.Cluster, 'shop/a/80'), // current
        'shop/b/80': '0000stale0000000', // stale
        'shop/gone/80': 'aaaaaaaaaaaaaaaa', // deleted while the client was away
      },
    });
    const cds = await ads.next(TypeUrl.Cluster);
    expect(cds.names.sort()).toEqual(['shop/b/80', 'shop/c/80']);
    expect(cds.removedResources).toEqual(['shop/gone/80']);

    // Named: the same rule, and a subscribed name that does not exist is reported removed.
    ads.request({
      typeUrl: TypeUrl.ClusterLoadAssignment,
      subscribe: ['shop/a/80', 'shop/b/80', 'shop/none/80'],
      initialResourceVersions: { 'shop/a/80': version(TypeUrl.ClusterLoadAssignment, 'shop/a/80') },
    });
    const eds = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(eds.names).toEqual(['shop/b/80']);
    expect(eds.removedResources).toEqual(['shop/none/80']);
  });

  it('honours subscribe and unsubscribe, even with a stale nonce, and sends a newly subscribed name even if unchanged', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['shop/a/80'] });
    const first = await ads.next(TypeUrl.ClusterLoadAssignment);
    ads.ack(first);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('shop/a/80', '10.0.0.8')] }]);
    const second = await ads.next(TypeUrl.ClusterLoadAssignment);

    // Stale nonce (first's), but the subscription change still counts.
    ads.request({
      typeUrl: TypeUrl.ClusterLoadAssignment,
      responseNonce: first.nonce,
      unsubscribe: ['shop/a/80'],
      subscribe: ['shop/b/80'],
    });
    const third = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(third.names).toEqual(['shop/b/80']);
    expect(third.removedResources).toEqual([]);
    const state = server.streams()[0].types.find((t) => t.typeUrl === TypeUrl.ClusterLoadAssignment)!;
    expect(state.names).toEqual(['shop/b/80']);
    // The stale request was no ACK of `second`.
    expect(state.versionAcked).toBe('');
    ads.ack(third);

    // a is no longer watched: its changes are not sent.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('shop/a/80', '10.0.0.9')] }]);
    await ads.barrier();
    expect(ads.pending(TypeUrl.ClusterLoadAssignment)).toHaveLength(0);

    // Re-subscribing sends a again, and b (re-subscribed though unchanged) is sent too.
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: third.nonce, unsubscribe: ['shop/b/80'] });
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, responseNonce: third.nonce, subscribe: ['shop/a/80', 'shop/b/80'] });
    const fourth = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(fourth.names.sort()).toEqual(['shop/a/80', 'shop/b/80']);
    expect(second.names).toEqual(['shop/a/80']);
  });

  it('answers a subscription to a missing name with removed_resources, then sends it when it appears', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    ads.request({ typeUrl: TypeUrl.RouteConfiguration, subscribe: ['later'] });
    const missing = await ads.next(TypeUrl.RouteConfiguration);
    expect(missing.resources).toEqual([]);
    expect(missing.removedResources).toEqual(['later']);
    ads.ack(missing);

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, upserts: [route('later', 'shop/c/80')] }]);
    const appeared = await ads.next(TypeUrl.RouteConfiguration);
    expect(appeared.names).toEqual(['later']);
    ads.ack(appeared);

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, removals: ['later'] }]);
    const removed = await ads.next(TypeUrl.RouteConfiguration);
    expect(removed.removedResources).toEqual(['later']);
    expect(removed.resources).toEqual([]);
  });

  it('keeps the last ACKed version on a NACK, does not re-send, and sends the fixed update', async () => {
    const nacks: NackEvent[] = [];
    server.on('nack', (event) => nacks.push(event));
    const ads = openEnvoy();
    const initial = await ads.next(TypeUrl.Cluster);
    ads.ack(initial);
    await ads.barrier();

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/c/80', 30)] }]);
    const bad = await ads.next(TypeUrl.Cluster);
    ads.nack(bad, 'cluster shop/c/80: timeout too long');
    // A subscription change with the same nonce after the NACK is not an ACK of the rejected version.
    ads.request({ typeUrl: TypeUrl.Cluster, responseNonce: bad.nonce, subscribe: ['shop/zzz/80'] });
    const answer = await ads.next(TypeUrl.Cluster);
    expect(answer.names).toEqual([]);
    expect(answer.removedResources).toEqual(['shop/zzz/80']);
    await ads.barrier();
    expect(ads.pending(TypeUrl.Cluster)).toHaveLength(0);
    expect(nacks).toHaveLength(1);
    expect(nacks[0]).toMatchObject({
      typeUrl: TypeUrl.Cluster,
      nonce: bad.nonce,
      message: 'cluster shop/c/80: timeout too long',
      group: 'sidecar',
    });
    const state = server.streams()[0].types.find((t) => t.typeUrl === TypeUrl.Cluster)!;
    expect(state).toMatchObject({ versionAcked: initial.systemVersionInfo, nackCount: 1, lastNack: 'cluster shop/c/80: timeout too long' });

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/c/80', 3)] }]);
    const fixed = await ads.next(TypeUrl.Cluster);
    expect(fixed.names).toEqual(['shop/c/80']);
    expect(fixed.resources[0].value.connectTimeout).toEqual({ seconds: '3' });
  });

  it('orders one change make-before-break: CDS, EDS, LDS, RDS, then the cluster and endpoint removals', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['shop/a/80', 'shop/new/80'] });
    ads.ack(await ads.next(TypeUrl.ClusterLoadAssignment));
    ads.request({ typeUrl: TypeUrl.Listener, subscribe: ['*'] });
    ads.ack(await ads.next(TypeUrl.Listener));
    ads.request({ typeUrl: TypeUrl.RouteConfiguration, subscribe: ['outbound', 'outbound-v2'] });
    ads.ack(await ads.next(TypeUrl.RouteConfiguration));
    await ads.barrier();
    const before = ads.received.length;

    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, set: [route('outbound-v2', 'shop/new/80')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, set: [listener('outbound-http', 'outbound-v2')] },
      {
        group: SIDECAR_GROUP,
        typeUrl: TypeUrl.ClusterLoadAssignment,
        set: [endpoints('shop/b/80', '10.0.0.2'), endpoints('shop/new/80', '10.0.0.7')],
      },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/b/80'), cluster('shop/c/80'), cluster('shop/new/80')] },
    ]);
    await ads.next(TypeUrl.Cluster);
    await ads.next(TypeUrl.Cluster);
    await ads.barrier();
    const sequence = ads.received.slice(before).filter((r) => !r.typeUrl.includes('Barrier'));
    expect(sequence.map((r) => [r.typeUrl.split('.').pop(), r.names, r.removedResources])).toEqual([
      ['Cluster', ['shop/new/80'], []],
      ['ClusterLoadAssignment', ['shop/new/80'], []],
      ['Listener', ['outbound-http'], []],
      ['RouteConfiguration', ['outbound-v2'], ['outbound']],
      ['Cluster', [], ['shop/a/80']],
      ['ClusterLoadAssignment', [], ['shop/a/80']],
    ]);
    expect(ads.protocolErrors).toEqual([]);
  });

  it('answers a type URL it does not serve with the names in removed_resources and keeps the stream', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    const vhds = 'type.googleapis.com/envoy.config.route.v3.VirtualHost';
    ads.request({ typeUrl: vhds, subscribe: ['outbound/shop'] });
    const answer = await ads.next(vhds);
    expect(answer.resources).toEqual([]);
    expect(answer.removedResources).toEqual(['outbound/shop']);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/d/80')] }]);
    expect((await ads.next(TypeUrl.Cluster)).names).toEqual(['shop/d/80']);
  });
});
