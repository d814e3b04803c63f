import { ResourceCache } from '../../src/cache/cache.js';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { NackEvent } from '../../src/xds/events.js';
import type { XdsServer } from '../../src/xds/server.js';
import { cluster, endpoints, listener, route, startServer } from '../support/xds-fixtures.js';
import { testNode, XdsTestClient, type SotwTestStream } from '../support/xds-client.js';

describe('state-of-the-world ADS', () => {
  let cache: ResourceCache;
  let server: XdsServer;
  let client: XdsTestClient;

  beforeEach(async () => {
    ({ cache, server } = await startServer({ controlPlaneId: 'switchyard-test' }).then(async (s) => {
      client = new XdsTestClient(s.port);
      return s;
    }));
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80'), cluster('shop/b/80')] },
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

  function openEnvoy(id = 'envoy-1'): SotwTestStream {
    const ads = client.sotw();
    ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id }) });
    return ads;
  }

  it('serves wildcard CDS and LDS with the full set, named EDS and RDS, decoded with Envoy protos', async () => {
    const ads = openEnvoy();
    const cds = await ads.next(TypeUrl.Cluster);
    expect(cds.names.sort()).toEqual(['shop/a/80', 'shop/b/80']);
    expect(cds.resources[0].value.type).toBe('EDS');
    expect(cds.versionInfo).toBe(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
    expect(cds.controlPlane).toBe('switchyard-test');
    ads.ack(cds);

    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80'] });
    const eds = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(eds.names).toEqual(['shop/a/80']);
    expect((eds.resources[0].value as any).endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.address).toBe('10.0.0.1');
    ads.ack(eds);

    ads.request({ typeUrl: TypeUrl.Listener, resourceNames: ['*'] });
    const lds = await ads.next(TypeUrl.Listener);
    expect(lds.names).toEqual(['outbound-http']);
    ads.ack(lds);
    ads.request({ typeUrl: TypeUrl.RouteConfiguration, resourceNames: ['outbound'] });
    const rds = await ads.next(TypeUrl.RouteConfiguration);
    expect(rds.names).toEqual(['outbound']);
    ads.ack(rds);

    await ads.barrier();
    // ACKs are not answered: one response per type so far.
    expect(ads.pending(TypeUrl.Cluster)).toHaveLength(0);
    expect(ads.protocolErrors).toEqual([]);
    const [snapshot] = server.streams();
    const cdsState = snapshot.types.find((t) => t.typeUrl === TypeUrl.Cluster)!;
    expect(cdsState).toMatchObject({ wildcard: true, versionSent: cds.versionInfo, versionAcked: cds.versionInfo, nackCount: 0 });
    const edsState = snapshot.types.find((t) => t.typeUrl === TypeUrl.ClusterLoadAssignment)!;
    expect(edsState).toMatchObject({ wildcard: false, names: ['shop/a/80'], versionAcked: eds.versionInfo });
  });

  it('sends EDS changes only for subscribed names whose bytes changed', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80', 'shop/b/80'] });
    const eds = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(eds.names.sort()).toEqual(['shop/a/80', 'shop/b/80']);
    ads.ack(eds);

    cache.apply([
      {
        group: SIDECAR_GROUP,
        typeUrl: TypeUrl.ClusterLoadAssignment,
        upserts: [endpoints('shop/b/80', '10.0.0.3'), endpoints('shop/a/80', '10.0.0.1')],
      },
    ]);
    const update = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(update.names).toEqual(['shop/b/80']);
    ads.ack(update);

    // A name nobody watches changes: nothing goes out.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('shop/zz/80', '10.9.9.9')] }]);
    await ads.barrier();
    expect(ads.pending(TypeUrl.ClusterLoadAssignment)).toHaveLength(0);
  });

  it('remembers a subscribed name that does not exist and sends it the moment it appears', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/later/80'] });
    await ads.barrier();
    expect(ads.pending(TypeUrl.ClusterLoadAssignment)).toHaveLength(0);

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('shop/later/80', '10.1.1.1')] }]);
    const eds = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(eds.names).toEqual(['shop/later/80']);
  });

  it('answers a subscription change with the newly subscribed names, and re-sends a name after unsubscribe and subscribe', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80'] });
    const first = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(first.names).toEqual(['shop/a/80']);

    ads.ack(first, ['shop/a/80', 'shop/b/80']);
    const second = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(second.names).toEqual(['shop/b/80']);

    ads.ack(second, ['shop/b/80']);
    await ads.barrier();
    expect(ads.pending(TypeUrl.ClusterLoadAssignment)).toHaveLength(0);
    // a changes while unwatched: not sent.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('shop/a/80', '10.0.0.9')] }]);
    await ads.barrier();
    expect(ads.pending(TypeUrl.ClusterLoadAssignment)).toHaveLength(0);

    ads.ack(second, ['shop/a/80', 'shop/b/80']);
    const third = await ads.next(TypeUrl.ClusterLoadAssignment);
    expect(third.names).toEqual(['shop/a/80']);
    expect((third.resources[0].value as any).endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.address).toBe('10.0.0.9');
  });

  it('keeps the last ACKed version on a NACK, does not re-send, and sends the fixed update', async () => {
    const nacks: NackEvent[] = [];
    server.on('nack', (event) => nacks.push(event));
    const ads = openEnvoy('envoy-nack');
    const initial = await ads.next(TypeUrl.Cluster);
    ads.ack(initial);
    // The ACK must reach the server before the next response, or it is (rightly) stale.
    await ads.barrier();

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80', 7)] }]);
    const bad = await ads.next(TypeUrl.Cluster);
    expect(bad.versionInfo).not.toBe(initial.versionInfo);
    ads.nack(bad, 'connect_timeout 7s is not allowed here', initial.versionInfo);
    await ads.barrier();
    expect(ads.pending(TypeUrl.Cluster)).toHaveLength(0);
    expect(nacks).toEqual([
      expect.objectContaining({
        nodeId: 'envoy-nack',
        group: 'sidecar',
        typeUrl: TypeUrl.Cluster,
        nonce: bad.nonce,
        version: bad.versionInfo,
        message: 'connect_timeout 7s is not allowed here',
      }),
    ]);
    const state = server.streams()[0].types.find((t) => t.typeUrl === TypeUrl.Cluster)!;
    expect(state).toMatchObject({ versionAcked: initial.versionInfo, nackCount: 1, lastNack: 'connect_timeout 7s is not allowed here' });

    // The client repeats its request (same nonce, no error): still no re-send loop.
    ads.request({ typeUrl: TypeUrl.Cluster, versionInfo: initial.versionInfo, responseNonce: bad.nonce });
    await ads.barrier();
    expect(ads.pending(TypeUrl.Cluster)).toHaveLength(0);

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80', 2)] }]);
    const fixed = await ads.next(TypeUrl.Cluster);
    expect(fixed.resources.find((r) => r.name === 'shop/a/80')!.value.connectTimeout).toEqual({ seconds: '2' });
    ads.ack(fixed);
    await ads.barrier();
    expect(server.streams()[0].types.find((t) => t.typeUrl === TypeUrl.Cluster)!.versionAcked).toBe(fixed.versionInfo);
  });

  it('ignores a request whose nonce is not the latest one sent', async () => {
    const ads = openEnvoy();
    const first = await ads.next(TypeUrl.Cluster);
    ads.ack(first);
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80'] });
    const eds1 = await ads.next(TypeUrl.ClusterLoadAssignment);
    ads.ack(eds1);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('shop/a/80', '10.0.0.5')] }]);
    const eds2 = await ads.next(TypeUrl.ClusterLoadAssignment);

    // A request that crossed eds2 on the wire: stale nonce, new names, even a NACK: all ignored.
    ads.request({
      typeUrl: TypeUrl.ClusterLoadAssignment,
      resourceNames: ['shop/a/80', 'shop/b/80'],
      responseNonce: eds1.nonce,
      errorDetail: { code: 3, message: 'stale' },
    });
    await ads.barrier();
    expect(ads.pending(TypeUrl.ClusterLoadAssignment)).toHaveLength(0);
    const state = server.streams()[0].types.find((t) => t.typeUrl === TypeUrl.ClusterLoadAssignment)!;
    expect(state).toMatchObject({ names: ['shop/a/80'], nackCount: 0, versionSent: eds2.versionInfo });

    // With the current nonce the same request counts.
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80', 'shop/b/80'], responseNonce: eds2.nonce });
    expect((await ads.next(TypeUrl.ClusterLoadAssignment)).names).toEqual(['shop/b/80']);
  });

  it('answers a type URL it does not serve with an empty response and keeps the stream', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    const scoped = 'type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration';
    ads.request({ typeUrl: scoped, resourceNames: ['x'] });
    const empty = await ads.next(scoped);
    expect(empty.resources).toEqual([]);
    ads.ack(empty);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/c/80')] }]);
    expect((await ads.next(TypeUrl.Cluster)).names).toContain('shop/c/80');
  });

  it('keeps streams that share a wildcard set independent when one of them narrows its subscription', async () => {
    const wide = openEnvoy('wide');
    const narrow = openEnvoy('narrow');
    wide.ack(await wide.next(TypeUrl.Cluster));
    const narrowFirst = await narrow.next(TypeUrl.Cluster);
    narrow.ack(narrowFirst, ['shop/a/80']);
    const narrowed = await narrow.next(TypeUrl.Cluster);
    expect(narrowed.names).toEqual(['shop/a/80']);
    narrow.ack(narrowed);
    await narrow.barrier();

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/b/80', 6)] }]);
    expect((await wide.next(TypeUrl.Cluster)).names.sort()).toEqual(['shop/a/80', 'shop/b/80']);
    await narrow.barrier();
    expect(narrow.pending(TypeUrl.Cluster)).toHaveLength(0);

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80', 6)] }]);
    expect((await narrow.next(TypeUrl.Cluster)).names).toEqual(['shop/a/80']);
    const wideUpdate = await wide.next(TypeUrl.Cluster);
    expect(wideUpdate.names.sort()).toEqual(['shop/a/80', 'shop/b/80']);
    expect(wideUpdate.versionInfo).toBe(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
  });

  it('orders one change make-before-break: CDS (old and new), EDS, LDS, RDS, then CDS without the removed cluster', async () => {
    const ads = openEnvoy();
    ads.ack(await ads.next(TypeUrl.Cluster));
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80', 'shop/b/80', 'shop/new/80'] });
    ads.ack(await ads.next(TypeUrl.ClusterLoadAssignment));
    ads.request({ typeUrl: TypeUrl.Listener });
    ads.ack(await ads.next(TypeUrl.Listener));
    ads.request({ typeUrl: TypeUrl.RouteConfiguration, resourceNames: ['outbound', 'outbound-v2'] });
    ads.ack(await ads.next(TypeUrl.RouteConfiguration));
    await ads.barrier();
    const before = ads.received.length;

    // One batch: cluster a is replaced by "new", with its endpoints, a new listener and route.
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, set: [route('outbound-v2', 'shop/new/80')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, set: [listener('outbound-http', 'outbound-v2')] },
      {
        group: SIDECAR_GROUP,
        typeUrl: TypeUrl.ClusterLoadAssignment,
        set: [endpoints('shop/b/80', '10.0.0.2'), endpoints('shop/new/80', '10.0.0.7')],
      },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/b/80'), cluster('shop/new/80')] },
    ]);
    await ads.next(TypeUrl.Cluster);
    await ads.next(TypeUrl.Cluster);
    await ads.barrier();
    const sequence = ads.received.slice(before).filter((r) => !r.typeUrl.includes('Barrier'));
    expect(sequence.map((r) => [r.typeUrl.split('.').pop(), [...r.names].sort()])).toEqual([
      ['Cluster', ['shop/a/80', 'shop/b/80', 'shop/new/80']],
      ['ClusterLoadAssignment', ['shop/new/80']],
      ['Listener', ['outbound-http']],
      ['RouteConfiguration', ['outbound-v2']],
      ['Cluster', ['shop/b/80', 'shop/new/80']],
    ]);
    expect(sequence[4].versionInfo).toBe(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
    expect(sequence[0].versionInfo).not.toBe(sequence[4].versionInfo);
    expect(ads.protocolErrors).toEqual([]);
  });
});
