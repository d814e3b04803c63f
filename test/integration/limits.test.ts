// Caps on the xDS server (streams, subscriptions, request size), slow clients that stop
// reading, and dead peers found by keepalive — over real gRPC on loopback.
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ResourceCache } from '../../src/cache/cache.js';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { decodeMessage, encodeMessage, TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import type { RefusedEvent, StreamClosedEvent } from '../../src/xds/events.js';
import { XdsServer, type XdsServerOptions } from '../../src/xds/server.js';
import {
  ADS_DELTA_METHOD,
  ADS_SOTW_METHOD,
  DeltaTestStream,
  SotwTestStream,
  testNode,
  XdsTestClient,
  type DecodedDeltaResponse,
} from '../support/xds-client.js';
import { cluster } from '../support/xds-fixtures.js';

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A test stream whose reading the test can stop and resume, like a proxy stuck in a long GC pause. */
class PausableSotw extends SotwTestStream {
  stopReading(): void {
    this.call.pause();
  }
  resumeReading(): void {
    this.call.resume();
  }
}

class PausableDelta extends DeltaTestStream {
  stopReading(): void {
    this.call.pause();
  }
  resumeReading(): void {
    this.call.resume();
  }
}

/** A cluster of about 2 KB: a push of the whole set is big enough to fill HTTP/2 windows fast. */
function bigCluster(name: string, generation: number): XdsResource {
  const resource = cluster(name, 1 + (generation % 50));
  return { ...resource, value: { ...resource.value, altStatName: `${name}-${generation}-`.padEnd(2000, 'x') } };
}

/** `count` clusters of ~2 KB named shop/svc-<i>/80 as the sidecar group's whole set; returns their names. */
function seedBigClusters(cache: ResourceCache, count: number): string[] {
  const names = Array.from({ length: count }, (_, i) => `shop/svc-${i}/80`);
  cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: names.map((name) => bigCluster(name, 0)) }]);
  return names;
}

describe('xDS limits', () => {
  const servers: XdsServer[] = [];
  const clients: Array<{ close(): void }> = [];

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    for (const server of servers.splice(0)) server.forceShutdown();
  });

  async function start(options: Partial<XdsServerOptions> = {}, ready = true) {
    const cache = new ResourceCache();
    const server = new XdsServer({ ...options, cache });
    servers.push(server);
    if (ready) server.setReady();
    const refused: RefusedEvent[] = [];
    const closed: StreamClosedEvent[] = [];
    server.on('refused', (event) => refused.push(event));
    server.on('streamClosed', (event) => closed.push(event));
    const port = await server.start(0);
    return { server, cache, port, refused, closed };
  }

  function client(port: number): XdsTestClient {
    const created = new XdsTestClient(port);
    clients.push(created);
    return created;
  }

  it('refuses streams past the per-client cap with RESOURCE_EXHAUSTED, and admits again once one closes', async () => {
    const { cache, port, refused } = await start({ limits: { maxStreamsPerClient: 2 } });
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('c')] }]);
    const xds = client(port);
    const open = [xds.delta(), xds.delta()];
    for (const [i, stream] of open.entries()) {
      stream.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: `ok-${i}` }) });
      await stream.next(TypeUrl.Cluster);
    }
    const third = xds.sotw();
    third.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'third' }) });
    const status = await third.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/^client 127\.0\.0\.1 has 2 streams open, the cap \(max streams per client address\) is 2$/);
    expect(refused).toEqual([expect.objectContaining({ reason: 'streams-per-client', code: 'RESOURCE_EXHAUSTED', nodeId: '' })]);

    // The open streams are untouched.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('d')] }]);
    for (const stream of open) expect((await stream.next(TypeUrl.Cluster)).names).toEqual(['d']);

    open[0].close();
    await open[0].status;
    await waitFor(() => refused.length === 1, 'nothing else refused');
    const later = xds.delta();
    later.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'later' }) });
    expect((await later.next(TypeUrl.Cluster)).names.sort()).toEqual(['c', 'd']);
  });

  it('refuses streams past the total cap', async () => {
    const { port, refused, server } = await start({ limits: { maxStreams: 3 } });
    const xds = client(port);
    const open = [xds.delta(), xds.sotw(), xds.delta()];
    open.forEach((stream, i) => (stream as DeltaTestStream).request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: `n${i}` }) }));
    await waitFor(() => server.streams().length === 3, 'three streams open');
    const fourth = xds.delta();
    fourth.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'fourth' }) });
    const status = await fourth.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toContain('its cap (max streams) is 3');
    expect(refused.map((event) => event.reason)).toEqual(['total-streams']);
    expect(server.streams()).toHaveLength(3);
  });

  it('refuses a request that takes a stream past the subscription cap, naming the cap', async () => {
    const { port, refused } = await start({ limits: { maxSubscriptionsPerStream: 5 } });
    const xds = client(port);

    const deltaStream = xds.delta();
    deltaStream.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'delta-greedy' }) }); // wildcard: counts one
    await deltaStream.next(TypeUrl.Cluster);
    deltaStream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a', 'b', 'c', 'd'] });
    await deltaStream.next(TypeUrl.ClusterLoadAssignment);
    deltaStream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['e'] });
    const deltaStatus = await deltaStream.status;
    expect(deltaStatus.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(deltaStatus.details).toBe(
      'too many subscriptions on one stream: this request makes 6, the cap (max subscriptions per stream) is 5',
    );

    const sotwStream = xds.sotw();
    sotwStream.request({
      typeUrl: TypeUrl.ClusterLoadAssignment,
      resourceNames: ['1', '2', '3', '4', '5', '6'],
      node: testNode({ id: 'sotw-greedy' }),
    });
    expect((await sotwStream.status).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.map((event) => [event.reason, event.nodeId])).toEqual([
      ['subscriptions-per-stream', 'delta-greedy'],
      ['subscriptions-per-stream', 'sotw-greedy'],
    ]);

    // Swapping names within the cap is fine.
    const steady = xds.delta();
    steady.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a', 'b', 'c', 'd', 'e'], node: testNode({ id: 'steady' }) });
    await steady.next(TypeUrl.ClusterLoadAssignment);
    steady.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['f'], unsubscribe: ['a'] });
    await steady.next(TypeUrl.ClusterLoadAssignment);
    expect(refused).toHaveLength(2);
  });

  it('refuses a request message over the size cap with RESOURCE_EXHAUSTED; other streams carry on', async () => {
    const { cache, port } = await start({ limits: { maxRequestBytes: 1024 } });
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('c')] }]);
    const xds = client(port);
    const healthy = xds.delta();
    healthy.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'healthy' }) });
    await healthy.next(TypeUrl.Cluster);

    const big = xds.delta();
    big.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['n'.repeat(2000)], node: testNode({ id: 'big' }) });
    const status = await big.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/^Received message larger than max \(\d+ vs 1024\)$/);

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('d')] }]);
    expect((await healthy.next(TypeUrl.Cluster)).names).toEqual(['d']);
  });

  it('keeps only the newest state for a SotW client that stops reading, and sends it once the client reads again', async () => {
    const { server, cache, port } = await start({ limits: { maxQueuedBytesPerStream: 256 * 1024 } });
    const names = seedBigClusters(cache, 50);
    const grpcClient = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.push(grpcClient);
    const slow = new PausableSotw(grpcClient, ADS_SOTW_METHOD);
    slow.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'slow' }) });
    slow.ack(await slow.next(TypeUrl.Cluster));
    slow.stopReading();

    const updates = 300;
    let maxQueuedBytes = 0;
    let maxQueuedResponses = 0;
    for (let generation = 1; generation <= updates; generation++) {
      cache.apply([
        { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [bigCluster(names[generation % names.length], generation)] },
      ]);
      const [snapshot] = server.streams();
      maxQueuedBytes = Math.max(maxQueuedBytes, snapshot.queuedBytes);
      maxQueuedResponses = Math.max(maxQueuedResponses, snapshot.queuedResponses);
      // Let the sockets move what they can.
      if (generation % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const [stalled] = server.streams();
    const responseBytes = slow.received[0].raw.length;
    // 300 full sets of ~100 KB would be ~30 MB; what waits is bounded by the cap plus one response.
    expect(responseBytes).toBeGreaterThan(90_000);
    expect(maxQueuedBytes).toBeLessThanOrEqual(256 * 1024 + responseBytes);
    expect(maxQueuedResponses).toBeLessThanOrEqual(17);
    expect(stalled.heldTypes).toEqual([TypeUrl.Cluster]);
    expect(stalled.coalescedChanges).toBeGreaterThan(200);

    slow.resumeReading();
    const finalVersion = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    await waitFor(() => slow.received.some((r) => r.versionInfo === finalVersion), 'the newest CDS set arrives');
    const last = slow.received[slow.received.length - 1];
    expect(last.versionInfo).toBe(finalVersion);
    const expected = names.map((name) => decodeMessage(TypeUrl.Cluster, cache.get(SIDECAR_GROUP, TypeUrl.Cluster, name)!.bytes));
    const lastByName = new Map(last.resources.map((r) => [r.name, r.value]));
    expect(names.map((name) => lastByName.get(name))).toEqual(expected);
    // Far fewer responses than versions: intermediate sets were never queued.
    expect(slow.received.length).toBeLessThan(updates / 4);
    expect(server.streams()[0]).toMatchObject({ heldTypes: [], queuedResponses: 0 });
  });

  it('bounds the bytes queued over all streams when a crowd connects at once; every client still gets everything', async () => {
    const limit = 300 * 1024;
    // Not ready until every request is in, so they all arrive at once, as at a control plane start.
    let open: () => void = () => undefined;
    const { server, cache, port } = await start(
      { limits: { maxQueuedBytes: limit }, ready: new Promise<void>((resolve) => (open = resolve)) },
      false,
    );
    const names = seedBigClusters(cache, 50);
    let maxQueued = 0;
    let maxWaiting = 0;
    server.on('responseSent', () => {
      const queue = server.sendQueue();
      maxQueued = Math.max(maxQueued, queue.bytes);
      maxWaiting = Math.max(maxWaiting, queue.waiting);
    });
    const xds = client(port);
    const crowd = Array.from({ length: 40 }, (_, i) => {
      const stream = i % 2 === 0 ? xds.sotw() : xds.delta();
      stream.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: `crowd-${i}` }) });
      return stream;
    });
    await waitFor(() => server.streams().length === crowd.length, 'every stream is open');
    await new Promise((resolve) => setTimeout(resolve, 200));
    open();
    const firsts = await Promise.all(crowd.map((stream) => stream.next(TypeUrl.Cluster)));
    const responseBytes = 50 * 2000;
    for (const [i, first] of firsts.entries()) {
      expect(first.names.sort()).toEqual([...names].sort());
      expect(crowd[i].protocolErrors).toEqual([]);
    }
    // 40 responses of ~100 KB (4 MB) went through a 300 KB budget: the rest waited their turn.
    expect(maxWaiting).toBeGreaterThan(10);
    expect(maxQueued).toBeLessThanOrEqual(limit + 2 * (responseBytes + 10_000));
    await waitFor(() => server.sendQueue().bytes === 0 && server.sendQueue().waiting === 0, 'the queue empties');

    // A change reaches every stream (pushes wait their turn the same way).
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [bigCluster(names[0], 1)] }]);
    const expected = decodeMessage(TypeUrl.Cluster, cache.get(SIDECAR_GROUP, TypeUrl.Cluster, names[0])!.bytes);
    for (const stream of crowd) {
      await waitFor(() => stream.received.length >= 2, 'the change arrives');
      const last = stream.received[stream.received.length - 1];
      expect(last.resources.find((r) => r.name === names[0])?.value).toEqual(expected);
    }
  });

  it('clients that stop reading cannot hold the shared budget: others are served once the stuck bytes are written off', async () => {
    const limit = 256 * 1024;
    const { server, cache, port } = await start({ limits: { maxQueuedBytes: limit, maxQueuedBytesPerStream: 2 * 1024 * 1024 } });
    const names = seedBigClusters(cache, 50);
    const grpcClient = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.push(grpcClient);
    const slow = new PausableSotw(grpcClient, ADS_SOTW_METHOD);
    slow.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'stuck' }) });
    slow.ack(await slow.next(TypeUrl.Cluster));
    slow.stopReading();
    // Push until the client's connection takes no more (its HTTP/2 windows are full) and what is
    // queued for it stays put.
    const settled = async (): Promise<number> => {
      let before = -1;
      while (server.sendQueue().bytes !== before) {
        before = server.sendQueue().bytes;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return before;
    };
    for (let generation = 1; generation <= 2000; generation++) {
      cache.apply([
        { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [bigCluster(names[generation % names.length], generation)] },
      ]);
      await new Promise((resolve) => setImmediate(resolve));
      if (generation % 50 === 0 && (await settled()) >= limit) break;
    }
    const stuck = server.streams()[0].queuedBytes;
    expect(stuck).toBeGreaterThanOrEqual(limit);

    const fresh = client(port).delta();
    fresh.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'fresh' }) });
    const response = await fresh.next(TypeUrl.Cluster);
    expect(response.names.sort()).toEqual([...names].sort());
    // The stuck bytes are still queued on their stream, but no longer counted against the budget.
    // (How many stay queued depends on how much the paused client's transport took meanwhile: on a
    // loaded machine its windows can still be draining, so only "some" is certain.)
    const slowStream = server.streams().find((stream) => stream.nodeId === 'stuck')!;
    expect(slowStream.queuedBytes).toBeGreaterThan(0);
    expect(server.sendQueue().bytes).toBeLessThan(limit);
  });

  it('a delta client that stops reading ends on the exact current state, removals included', async () => {
    const { server, cache, port } = await start({ limits: { maxQueuedBytesPerStream: 128 * 1024 } });
    seedBigClusters(cache, 40);
    const grpcClient = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.push(grpcClient);
    const slow = new PausableDelta(grpcClient, ADS_DELTA_METHOD);
    slow.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'slow-delta' }) });
    slow.ack(await slow.next(TypeUrl.Cluster));
    slow.stopReading();

    // Churn: every resource changes many times, some go away, new ones come and some of those go too.
    for (let generation = 1; generation <= 400; generation++) {
      const name = `shop/svc-${generation % 60}/80`;
      if (generation % 7 === 0) cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: [name] }]);
      else cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [bigCluster(name, generation)] }]);
      if (generation % 25 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(server.streams()[0].coalescedChanges).toBeGreaterThan(100);
    slow.resumeReading();

    // The client's view: every response applied in order.
    const view = new Map<string, string>();
    const apply = (response: DecodedDeltaResponse) => {
      for (const resource of response.resources) view.set(resource.name, resource.version!);
      for (const name of response.removedResources) view.delete(name);
    };
    for (const response of slow.received) apply(response);
    const current = () => new Map([...cache.resources(SIDECAR_GROUP, TypeUrl.Cluster)].map(([name, r]) => [name, r.version]));
    let seen = slow.received.length;
    await waitFor(() => {
      for (; seen < slow.received.length; seen++) apply(slow.received[seen]);
      const want = current();
      return want.size === view.size && [...want].every(([name, version]) => view.get(name) === version);
    }, 'the client view equals the cache');
    expect(slow.protocolErrors).toEqual([]);
    expect(slow.received.length).toBeLessThan(100);
  });

  it('closes the streams of a peer that stops answering keepalive pings', async () => {
    const { cache, port, closed, server } = await start({ limits: { keepaliveTimeMs: 200, keepaliveTimeoutMs: 300 } });
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('c')] }]);
    // A TCP relay between client and server that the test can freeze, like a peer whose host vanished.
    const relayed: Socket[] = [];
    const relay: NetServer = createServer((inbound) => {
      const outbound = connect(port, '127.0.0.1');
      relayed.push(inbound, outbound);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      const destroy = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', destroy);
      outbound.on('error', destroy);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayPort = (relay.address() as { port: number }).port;
    try {
      const viaRelay = client(relayPort);
      const doomed = viaRelay.delta();
      doomed.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'vanishing' }) });
      await doomed.next(TypeUrl.Cluster);
      expect(server.streams()).toHaveLength(1);

      // Nothing flows any more in either direction, and nothing closes.
      for (const socket of relayed) {
        socket.unpipe();
        socket.pause();
      }
      await waitFor(() => closed.some((event) => event.nodeId === 'vanishing'), 'the stream of the silent peer is closed');
      expect(server.streams()).toEqual([]);
    } finally {
      for (const socket of relayed) socket.destroy();
      relay.close();
    }
  });

  it('stops a raw garbage request with INVALID_ARGUMENT without touching other streams', async () => {
    const { cache, port } = await start();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('c')] }]);
    const xds = client(port);
    const healthy = xds.sotw();
    healthy.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'healthy' }) });
    healthy.ack(await healthy.next(TypeUrl.Cluster));
    const garbage = xds.sotw();
    garbage.sendRaw(Buffer.from(encodeMessage('envoy.config.core.v3.Node', { id: 'x' })).subarray(0, 2));
    expect((await garbage.status).code).toBe(grpc.status.INVALID_ARGUMENT);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('d')] }]);
    expect((await healthy.next(TypeUrl.Cluster)).names.sort()).toEqual(['c', 'd']);
  });
});
