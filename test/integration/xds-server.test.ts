import { status as GrpcStatus } from '@grpc/grpc-js';
import { ResourceCache } from '../../src/cache/cache.js';
import { PROXYLESS_GROUP, SIDECAR_GROUP, gatewayGroup } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { ResponseSentEvent, StreamClosedEvent, StreamIdentity } from '../../src/xds/events.js';
import { XdsServer } from '../../src/xds/server.js';
import { cluster, endpoints, startServer } from '../support/xds-fixtures.js';
import { testNode, XdsTestClient } from '../support/xds-client.js';

describe('xDS server', () => {
  let cache: ResourceCache;
  let server: XdsServer;
  let client: XdsTestClient;

  async function start(options: Parameters<typeof startServer>[0] = {}): Promise<void> {
    const started = await startServer(options);
    ({ cache, server } = started);
    client = new XdsTestClient(started.port);
  }

  afterEach(() => {
    client?.close();
    server?.forceShutdown();
  });

  it('maps node roles to proxy groups and serves each group its own resources', async () => {
    await start();
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('for-sidecars')] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('for-proxyless')] },
      { group: gatewayGroup('edge'), typeUrl: TypeUrl.Cluster, set: [cluster('for-edge')] },
    ]);
    const cases: Array<[Parameters<typeof testNode>[0], string]> = [
      [{ id: 'plain-envoy' }, 'for-sidecars'],
      [{ id: 'sidecar', role: 'sidecar' }, 'for-sidecars'],
      [{ id: 'edge-1', role: 'gateway', gateway: 'edge' }, 'for-edge'],
      [{ id: 'explicit-proxyless', role: 'proxyless' }, 'for-proxyless'],
      // What @grpc/grpc-js-xds sends as user_agent_name.
      [{ id: 'grpc-node', userAgentName: 'gRPC Node Pure JS' }, 'for-proxyless'],
      [{ id: 'grpc-go', userAgentName: 'gRPC Go' }, 'for-proxyless'],
    ];
    for (const [node, expected] of cases) {
      const ads = client.delta();
      ads.request({ typeUrl: TypeUrl.Cluster, node: testNode(node) });
      expect([node.id, (await ads.next(TypeUrl.Cluster)).names]).toEqual([node.id, [expected]]);
      // Later requests may omit the node; the group stays.
      ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['x'] });
      await ads.next(TypeUrl.ClusterLoadAssignment);
    }
    const groups = Object.fromEntries(server.streams().map((s) => [s.nodeId, s.group]));
    expect(groups).toEqual({
      'plain-envoy': 'sidecar',
      sidecar: 'sidecar',
      'edge-1': 'gateway/edge',
      'explicit-proxyless': 'proxyless',
      'grpc-node': 'proxyless',
      'grpc-go': 'proxyless',
    });
  });

  it('ends a stream whose node claims the gateway role without a name, or an unknown role, with INVALID_ARGUMENT', async () => {
    await start();
    const nameless = client.sotw();
    nameless.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'edge-x', role: 'gateway' }) });
    const status = await nameless.status;
    expect(status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(status.details).toMatch(/edge-x.*switchyard.dev\/gateway/);

    const unknown = client.delta();
    unknown.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'n', role: 'ingress' }) });
    expect(await unknown.status).toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
      details: expect.stringMatching(/"ingress" is not a role/),
    });

    const nodeless = client.sotw();
    nodeless.request({ typeUrl: TypeUrl.Cluster });
    expect(await nodeless.status).toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
      details: expect.stringMatching(/must carry the node/),
    });
  });

  it('makes early clients wait until ready instead of sending an empty world', async () => {
    let open: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (open = resolve));
    await start({ ready });
    const sent: ResponseSentEvent[] = [];
    server.on('responseSent', (event) => sent.push(event));

    const sotw = client.sotw();
    sotw.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'early-sotw' }) });
    const delta = client.delta();
    delta.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'early-delta' }) });
    // Both streams are connected (the server counts them) but nothing has been answered.
    await waitFor(() => server.streams().length === 2);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('first-sync')] }]);
    expect(sent).toHaveLength(0);
    expect(sotw.received).toHaveLength(0);

    open();
    expect((await sotw.next(TypeUrl.Cluster)).names).toEqual(['first-sync']);
    expect((await delta.next(TypeUrl.Cluster)).names).toEqual(['first-sync']);
    await sotw.barrier();
    expect(sotw.received.filter((r) => r.typeUrl === TypeUrl.Cluster)).toHaveLength(1);
  });

  it('ends only the stream that sent a malformed request, with INVALID_ARGUMENT saying what was wrong', async () => {
    await start();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] }]);
    const healthy = client.sotw();
    healthy.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'healthy' }) });
    healthy.ack(await healthy.next(TypeUrl.Cluster));

    const noType = client.sotw();
    noType.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'n1' }) });
    await noType.next(TypeUrl.Cluster);
    noType.request({ typeUrl: '' });
    expect(await noType.status).toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, details: expect.stringMatching(/without type_url/) });

    const garbage = client.delta();
    // A length-delimited field whose length runs past the end of the message.
    garbage.sendRaw(Uint8Array.from([0x12, 0x7f, 0x01]));
    expect(await garbage.status).toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
      details: expect.stringMatching(/does not decode as envoy.service.discovery.v3.DeltaDiscoveryRequest/),
    });

    const cds = client.sotw('/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters');
    cds.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'n3' }) });
    await cds.next(TypeUrl.Cluster);
    cds.request({ typeUrl: TypeUrl.Listener });
    expect(await cds.status).toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
      details: expect.stringMatching(/serves only .*Cluster.*asks for .*Listener/),
    });

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('b')] }]);
    expect((await healthy.next(TypeUrl.Cluster)).names.sort()).toEqual(['a', 'b']);
    expect(server.streams().map((s) => s.nodeId)).toEqual(['healthy']);
  });

  it('serves the per-type services with the same stream code', async () => {
    await start();
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: [endpoints('a', '10.0.0.1')] },
    ]);
    const cds = client.sotw('/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters');
    // Per-type streams may leave type_url empty.
    cds.request({ typeUrl: '', node: testNode({ id: 'cds-only' }) });
    expect((await cds.next(TypeUrl.Cluster)).names).toEqual(['a']);

    const eds = client.delta('/envoy.service.endpoint.v3.EndpointDiscoveryService/DeltaEndpoints');
    eds.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a'], node: testNode({ id: 'eds-only' }) });
    expect((await eds.next(TypeUrl.ClusterLoadAssignment)).names).toEqual(['a']);

    const lds = client.sotw('/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners');
    lds.request({ typeUrl: TypeUrl.Listener, node: testNode({ id: 'lds-only' }) });
    expect((await lds.next(TypeUrl.Listener)).resources).toEqual([]);
  });

  it('pushes every update exactly once to each of 100 concurrent streams', async () => {
    await start();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('c0')] }]);
    const streams = Array.from({ length: 100 }, (_, i) => {
      const stream = i % 2 === 0 ? client.sotw() : client.delta();
      stream.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: `envoy-${i}` }) });
      return stream;
    });
    await Promise.all(streams.map(async (stream) => stream.next(TypeUrl.Cluster)));

    for (let update = 1; update <= 3; update++) {
      cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster(`c${update}`)] }]);
    }
    // Streams are written a slice at a time: one still waiting for an update when the next comes
    // gets both in one response. Either way each stream hears of every cluster once, ending at c3.
    await Promise.all(
      streams.map(async (stream) => {
        while (!(await stream.next(TypeUrl.Cluster)).names.includes('c3'));
        await stream.barrier();
      }),
    );
    // Encode once, send many: 4 clusters encoded, however many streams received them.
    expect(cache.stats().encodes).toBe(4);
    for (const [i, stream] of streams.entries()) {
      const cds = stream.received.filter((r) => r.typeUrl === TypeUrl.Cluster);
      expect(cds.length).toBeGreaterThanOrEqual(2);
      expect(cds.length).toBeLessThanOrEqual(4);
      if (i % 2 === 1) expect(cds.flatMap((r) => r.names)).toEqual(['c0', 'c1', 'c2', 'c3']);
      else expect(cds[cds.length - 1].names.sort()).toEqual(['c0', 'c1', 'c2', 'c3']);
      expect(stream.protocolErrors).toEqual([]);
    }
  });

  it('reports streams, responses, ACKs and NACKs as events and snapshots', async () => {
    await start();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] }]);
    const opened: StreamIdentity[] = [];
    const closed: StreamClosedEvent[] = [];
    const sent: ResponseSentEvent[] = [];
    const acks: unknown[] = [];
    server.on('streamOpened', (e) => opened.push(e));
    server.on('streamClosed', (e) => closed.push(e));
    server.on('responseSent', (e) => sent.push(e));
    server.on('ack', (e) => acks.push(e));

    const ads = client.sotw();
    ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'observed', role: 'gateway', gateway: 'edge' }) });
    // The edge group has no clusters: an empty (but complete) CDS.
    const cds = await ads.next(TypeUrl.Cluster);
    ads.ack(cds);
    await ads.barrier();
    expect(opened).toEqual([
      {
        streamId: expect.any(Number),
        nodeId: 'observed',
        group: 'gateway/edge',
        flavour: 'sotw',
        peer: expect.stringContaining('127.0.0.1'),
        client: { implementation: 'envoy', userAgent: 'envoy', clientFeatures: [] },
      },
    ]);
    expect(sent[0]).toMatchObject({
      streamId: opened[0].streamId,
      typeUrl: TypeUrl.Cluster,
      resourceCount: 0,
      nonce: cds.nonce,
      version: cds.versionInfo,
      bytes: cds.raw.length,
    });
    expect(acks).toEqual([expect.objectContaining({ typeUrl: TypeUrl.Cluster, version: cds.versionInfo, nonce: cds.nonce })]);

    const [snapshot] = server.streams();
    expect(snapshot).toMatchObject({ nodeId: 'observed', group: 'gateway/edge', flavour: 'sotw', peer: opened[0].peer });
    expect(snapshot.connectedAt).toBeInstanceOf(Date);
    expect(snapshot.types.map((t) => t.typeUrl)).toEqual([TypeUrl.Cluster, expect.stringContaining('Barrier')]);

    ads.close();
    await ads.status;
    await waitFor(() => closed.length === 1);
    expect(closed[0]).toMatchObject({ streamId: opened[0].streamId, nodeId: 'observed', reason: 'client' });
    expect(server.streams()).toEqual([]);
  });

  it('shuts down: ends open streams with OK and resolves; new streams are refused', async () => {
    await start();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('a')] }]);
    const ads = client.delta();
    ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'leaving' }) });
    await ads.next(TypeUrl.Cluster);
    await server.shutdown();
    expect((await ads.status).code).toBe(GrpcStatus.OK);
    const late = client.sotw();
    late.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'late' }) });
    expect((await late.status).code).toBe(GrpcStatus.UNAVAILABLE);
  });

  it('listens on an ephemeral loopback port', async () => {
    const own = new XdsServer({ cache: new ResourceCache() });
    const port = await own.start(0);
    expect(port).toBeGreaterThan(0);
    own.forceShutdown();
  });
});

/** Waits (bounded) for a condition the server reaches asynchronously. */
async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
