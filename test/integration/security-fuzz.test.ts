// Property-based tests of hostile xDS requests over real gRPC: random and mutated
// DiscoveryRequests and DeltaDiscoveryRequests, and random bytes. The server answers, ignores
// or ends the stream with a client-error status — never INTERNAL, never a crash — and a
// healthy stream opened beforehand keeps receiving updates.
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { ResourceCache } from '../../src/cache/cache.js';
import { gatewayGroup, SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl, SERVED_TYPE_URLS } from '../../src/envoy/protos.js';
import { XdsServer } from '../../src/xds/server.js';
import { testNode, XdsTestClient, type DeltaTestStream, type SotwTestStream } from '../support/xds-client.js';
import { cluster, endpoints, listener, route, secret } from '../support/xds-fixtures.js';

const NAMES = ['shop/a/80', 'shop/b/80', 'outbound', 'edge/tls', '*', ''];
const CLIENT_ERRORS = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED, grpc.status.PERMISSION_DENIED]);

const typeUrls = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SERVED_TYPE_URLS) },
  fc.constantFrom('', 'type.googleapis.com/', 'type.googleapis.com/envoy.config.cluster.v3.Cluster ', 'garbage'),
  fc.string({ maxLength: 40 }),
);
const names = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NAMES) },
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
);
const nonces = fc.oneof(fc.constant(''), fc.constantFrom('1', '2', '3', 'a', 'zz'), fc.string({ maxLength: 12 }));
const nodes = fc.option(
  fc
    .record(
      {
        id: fc.oneof(fc.constantFrom('envoy-1', ''), fc.string({ maxLength: 20 })),
        role: fc.option(fc.constantFrom('sidecar', 'gateway', 'proxyless', 'pilot', ''), { nil: undefined }),
        gateway: fc.option(fc.constantFrom('edge', '', 'other'), { nil: undefined }),
        userAgentName: fc.option(fc.constantFrom('envoy', 'gRPC Go', ''), { nil: undefined }),
      },
      { requiredKeys: ['id'] },
    )
    .map((node) => testNode(node)),
  { nil: undefined, freq: 3 },
);
const errorDetails = fc.option(fc.record({ code: fc.integer({ min: 0, max: 20 }), message: fc.string({ maxLength: 20 }) }), {
  nil: undefined,
  freq: 4,
});

const sotwRequests = fc.record({
  typeUrl: typeUrls,
  resourceNames: fc.array(names, { maxLength: 6 }),
  versionInfo: fc.oneof(fc.constant(''), fc.string({ maxLength: 12 })),
  responseNonce: nonces,
  errorDetail: errorDetails,
  node: nodes,
});
const deltaRequests = fc.record({
  typeUrl: typeUrls,
  subscribe: fc.array(names, { maxLength: 6 }),
  unsubscribe: fc.array(names, { maxLength: 3 }),
  initialResourceVersions: fc.dictionary(names, fc.string({ maxLength: 8 }), { maxKeys: 4 }),
  responseNonce: nonces,
  errorDetail: errorDetails,
  node: nodes,
});

describe('hostile xDS requests', () => {
  let server: XdsServer;
  let cache: ResourceCache;
  let client: XdsTestClient;
  let healthy: DeltaTestStream;
  let generation = 0;
  const refused: string[] = [];

  beforeAll(async () => {
    cache = new ResourceCache();
    // What the hostile clients are served must itself be what Envoy accepts.
    cache.onRefused((resource) => refused.push(...resource.violations));
    server = new XdsServer({ cache, limits: { maxSubscriptionsPerStream: 50 } });
    server.setReady();
    const port = await server.start(0);
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80'), cluster('shop/b/80')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: [endpoints('shop/a/80', '10.0.0.1')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, set: [listener('outbound-http', 'outbound')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, set: [route('outbound', 'shop/a/80')] },
      { group: gatewayGroup('edge'), typeUrl: TypeUrl.Secret, set: [secret('edge/tls', 'k')] },
    ]);
    client = new XdsTestClient(port);
    healthy = client.delta();
    healthy.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'healthy' }) });
    healthy.ack(await healthy.next(TypeUrl.Cluster));
  });

  afterAll(() => {
    expect(refused).toEqual([]);
    client.close();
    server.forceShutdown();
  });

  /** Whatever the stream did, it either answers a barrier or ended with a client-error status. */
  async function settle(stream: SotwTestStream | DeltaTestStream): Promise<void> {
    const outcome = await Promise.race([
      stream.status.then((status) => ({ status })),
      stream.barrier(5000).then(
        () => ({ status: undefined }),
        // The barrier fails when the stream ends; the status says how.
        () => stream.status.then((status) => ({ status })),
      ),
    ]);
    if (outcome.status) {
      expect([grpc.status[outcome.status.code], outcome.status.details]).toEqual([
        expect.stringMatching(/^(INVALID_ARGUMENT|RESOURCE_EXHAUSTED|PERMISSION_DENIED)$/),
        expect.any(String),
      ]);
      expect(CLIENT_ERRORS.has(outcome.status.code)).toBe(true);
    }
    expect(stream.protocolErrors).toEqual([]);
    stream.cancel();
  }

  async function healthyStillServed(): Promise<void> {
    const name = `shop/new-${++generation}/80`;
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster(name)] }]);
    const update = await healthy.next(TypeUrl.Cluster);
    expect(update.names).toEqual([name]);
    healthy.ack(update);
  }

  it('random DiscoveryRequest sequences on SotW streams', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(sotwRequests, { minLength: 1, maxLength: 4 }), async (requests) => {
        const stream = client.sotw();
        for (const request of requests) stream.request(request);
        await settle(stream);
      }),
      { numRuns: 250 },
    );
    await healthyStillServed();
  });

  it('random DeltaDiscoveryRequest sequences on delta streams', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(deltaRequests, { minLength: 1, maxLength: 4 }), async (requests) => {
        const stream = client.delta();
        for (const request of requests) stream.request(request);
        await settle(stream);
      }),
      { numRuns: 250 },
    );
    await healthyStillServed();
  });

  it('refuses a node whose metadata is not valid UTF-8 (its status quotes it), instead of leaving the stream open', async () => {
    const request = (await import('../../src/envoy/protos.js')).encodeMessage('envoy.service.discovery.v3.DeltaDiscoveryRequest', {
      typeUrl: TypeUrl.Cluster,
      node: testNode({ id: 'mutant', role: 'gateway' }),
    });
    // The role's first byte made an invalid UTF-8 lead byte: it decodes to a lone surrogate.
    const bytes = Buffer.from(request);
    bytes[bytes.indexOf(Buffer.from('gateway'))] = 0xed;
    const stream = client.delta();
    stream.sendRaw(bytes);
    const status = await stream.status;
    expect(grpc.status[status.code]).toBe('INVALID_ARGUMENT');
    expect(status.details).toContain('is not a role');
  });

  it('random bytes, and valid requests with bytes flipped', async () => {
    const valid = Buffer.from(
      (await import('../../src/envoy/protos.js')).encodeMessage('envoy.service.discovery.v3.DeltaDiscoveryRequest', {
        typeUrl: TypeUrl.Cluster,
        node: testNode({ id: 'mutant', role: 'gateway', gateway: 'edge' }),
        resourceNamesSubscribe: ['shop/a/80', 'edge/tls'],
        initialResourceVersions: { 'shop/a/80': 'v1' },
      }),
    );
    const mutants = fc
      .array(fc.record({ at: fc.nat({ max: valid.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 })
      .map((flips) => {
        const bytes = Buffer.from(valid);
        for (const flip of flips) bytes[flip.at] = flip.value;
        return bytes;
      });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
          mutants,
        ),
        fc.boolean(),
        async (bytes, delta) => {
          const stream = delta ? client.delta() : client.sotw();
          stream.sendRaw(bytes);
          await settle(stream);
        },
      ),
      { numRuns: 250 },
    );
    await healthyStillServed();
    expect(healthy.protocolErrors).toEqual([]);
    // Only the healthy stream is left: every fuzzed stream was closed and forgotten.
    const deadline = Date.now() + 5000;
    while (server.streams().length > 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.streams().map((stream) => stream.nodeId)).toEqual(['healthy']);
  });
});
