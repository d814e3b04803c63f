// The admin server against a real xDS server and cache over loopback sockets: a protocol test
// client plays Envoy, and the admin pages are read over HTTP.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { startAdminServer, type AdminServer } from '../../src/admin/server.js';
import type { ResourceCache } from '../../src/cache/cache.js';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import type { FlushReport, PipelineEvents } from '../../src/pipeline/pipeline.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { status } from '../../src/cli/status.js';
import type { XdsServer } from '../../src/xds/server.js';
import { testNode, XdsTestClient, type SotwTestStream } from '../support/xds-client.js';
import { cluster, endpoints, listener, route, secret, startServer } from '../support/xds-fixtures.js';

interface Page {
  status: number;
  body: string;
  headers: Headers;
}

async function get(port: number, path: string, method = 'GET'): Promise<Page> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Prometheus text to `name{label="v",...}` -> value (labels in the order prom-client prints them). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

async function metrics(port: number): Promise<Map<string, number>> {
  const page = await get(port, '/metrics');
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toContain('text/plain');
  return samples(page.body);
}

/** A fake pipeline: the real one emits exactly this after applying a batch to the cache. */
function flushReport(overrides: Partial<FlushReport> = {}): FlushReport {
  return {
    eventCounts: {},
    translateSeconds: 0.002,
    debounceWaitSeconds: 0.02,
    changedResources: 1,
    change: { all: false, services: new Set(), endpoints: new Set() } as unknown as FlushReport['change'],
    at: performance.now(),
    ...overrides,
  };
}

function capture(): {
  stdout: string[];
  stderr: string[];
  output: { stdout: { write(t: string): boolean }; stderr: { write(t: string): boolean } };
} {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    output: { stdout: { write: (t: string) => stdout.push(t) > 0 }, stderr: { write: (t: string) => stderr.push(t) > 0 } },
  };
}

describe('admin server', () => {
  let cache: ResourceCache;
  let server: XdsServer;
  let client: XdsTestClient;
  let pipeline: EventEmitter<PipelineEvents>;
  let admin: AdminServer;
  let ready: boolean;

  beforeEach(async () => {
    const started = await startServer();
    cache = started.cache;
    server = started.server;
    client = new XdsTestClient(started.port);
    pipeline = new EventEmitter<PipelineEvents>();
    ready = false;
    admin = await startAdminServer({ port: 0, server, cache, pipeline, isReady: () => ready });
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80'), cluster('shop/b/80')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: [endpoints('shop/a/80', '10.0.0.1')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, set: [listener('outbound-http', 'outbound')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.RouteConfiguration, set: [route('outbound', 'shop/a/80')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Secret, set: [secret('api-key', 'hunter2')] },
    ]);
  });

  afterEach(async () => {
    client.close();
    server.forceShutdown();
    await admin.close();
  });

  /** An Envoy that asked for CDS and took the first response (not yet ACKed). */
  async function connectEnvoy(id = 'envoy-1'): Promise<{ ads: SotwTestStream; cds: Awaited<ReturnType<SotwTestStream['next']>> }> {
    const ads = client.sotw();
    ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id }) });
    const cds = await ads.next(TypeUrl.Cluster);
    return { ads, cds };
  }

  async function proxies(): Promise<any[]> {
    const page = await get(admin.port, '/debug/proxies');
    expect(page.status).toBe(200);
    return JSON.parse(page.body);
  }

  it('answers liveness at once and readiness only once isReady() says so, with a reason before', async () => {
    expect(await get(admin.port, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    const notReady = await get(admin.port, '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatch(/^not ready: .*initial state/);
    ready = true;
    expect(await get(admin.port, '/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
  });

  it('says 404 for unknown pages and 405 for methods other than GET', async () => {
    const missing = await get(admin.port, '/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('/debug/proxies');
    const post = await get(admin.port, '/metrics', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect((await get(admin.port, '/healthz', 'DELETE')).status).toBe(405);
  });

  it('exports stream, response, resource, byte and cache metrics, plus Node process metrics', async () => {
    const before = await metrics(admin.port);
    expect(before.get('switchyard_xds_responses_total{type="Cluster"}') ?? 0).toBe(0);
    expect(before.get('switchyard_cache_resources{group="sidecar",type="Cluster"}')).toBe(2);
    expect(before.get('switchyard_cache_resources{group="sidecar",type="Secret"}')).toBe(1);
    expect(before.get('switchyard_source_connected')).toBe(1);
    expect(before.has('process_cpu_user_seconds_total')).toBe(true);
    expect(before.has('nodejs_eventloop_lag_seconds')).toBe(true);

    const { ads, cds } = await connectEnvoy();
    ads.ack(cds);
    const delta = client.delta();
    delta.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'], node: testNode({ id: 'envoy-2', role: 'gateway', gateway: 'edge' }) });
    await delta.next(TypeUrl.Cluster);
    await ads.barrier();

    const gateway = (await proxies()).find((p) => p.nodeId === 'envoy-2');
    expect(gateway).toMatchObject({
      group: 'gateway/edge',
      role: 'gateway',
      gateway: 'edge',
      flavour: 'delta',
      types: { Cluster: { state: 'STALE' } },
    });

    const after = await metrics(admin.port);
    expect(after.get('switchyard_xds_streams{flavour="sotw",group="sidecar"}')).toBe(1);
    expect(after.get('switchyard_xds_streams{flavour="delta",group="gateway/edge"}')).toBe(1);
    // One CDS response to each client (the gateway group has no clusters: an empty response).
    expect(after.get('switchyard_xds_responses_total{type="Cluster"}')).toBe(2);
    expect(after.get('switchyard_xds_resources_sent_total{type="Cluster"}')).toBe(2);
    expect(after.get('switchyard_xds_bytes_sent_total{type="Cluster"}')).toBeGreaterThanOrEqual(cds.raw.length);

    // A push raises the counters again.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/c/80')] }]);
    await ads.next(TypeUrl.Cluster);
    const pushed = await metrics(admin.port);
    expect(pushed.get('switchyard_xds_responses_total{type="Cluster"}')).toBe(3);
    expect(pushed.get('switchyard_xds_resources_sent_total{type="Cluster"}')).toBe(5);
    expect(pushed.get('switchyard_cache_resources{group="sidecar",type="Cluster"}')).toBe(3);

    delta.cancel();
    ads.cancel();
    // The stream gauge follows closes (read when scraped).
    await waitFor(async () => (await metrics(admin.port)).get('switchyard_xds_streams{flavour="sotw",group="sidecar"}') === undefined);
  });

  it('counts resources refused for breaking an Envoy rule, by type, and keeps serving the last good version', async () => {
    const good = cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/a/80');
    const bad = cluster('shop/a/80', 0); // connect_timeout must be > 0s
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [bad, cluster('shop/c/80')] }]);
    const page = await metrics(admin.port);
    expect(page.get('switchyard_validation_rejections_total{type="Cluster"}')).toBe(1);
    expect(cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/a/80')).toBe(good);
    expect(cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/c/80')).toBeDefined();
  });

  it('counts NACKs by type and node, and shows STALE, NACKED and SYNCED per type in /debug/proxies', async () => {
    const { ads, cds } = await connectEnvoy('envoy-nack');
    await ads.barrier();
    let [proxy] = (await proxies()).filter((p) => p.nodeId === 'envoy-nack');
    expect(proxy).toMatchObject({ nodeId: 'envoy-nack', group: 'sidecar', role: 'sidecar', flavour: 'sotw' });
    expect(proxy.peer).toMatch(/127\.0\.0\.1/);
    expect(Number.isNaN(Date.parse(proxy.connectedSince))).toBe(false);
    expect(proxy.types.Cluster).toMatchObject({ state: 'STALE', versionSent: cds.versionInfo, versionAcked: '', wildcard: true });

    ads.nack(cds, 'cluster shop/a/80: unknown lb policy');
    await ads.barrier();
    [proxy] = await proxies();
    expect(proxy.types.Cluster).toMatchObject({ state: 'NACKED', nackCount: 1, lastNack: 'cluster shop/a/80: unknown lb policy' });
    const afterNack = await metrics(admin.port);
    expect(afterNack.get('switchyard_xds_nacks_total{type="Cluster",node="envoy-nack"}')).toBe(1);

    // The fix goes out: STALE until ACKed, then SYNCED; the old NACK message stays on record.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80', 2)] }]);
    const fixed = await ads.next(TypeUrl.Cluster);
    [proxy] = await proxies();
    expect(proxy.types.Cluster.state).toBe('STALE');
    ads.ack(fixed);
    await ads.barrier();
    [proxy] = await proxies();
    expect(proxy.types.Cluster).toMatchObject({
      state: 'SYNCED',
      versionAcked: fixed.versionInfo,
      lastNack: 'cluster shop/a/80: unknown lb policy',
    });

    // An EDS response that repeats the ACKed set version is still STALE until its own ACK.
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80'] });
    const eds = await ads.next(TypeUrl.ClusterLoadAssignment);
    ads.ack(eds);
    await ads.barrier();
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('shop/b/80', '10.0.0.9')] }]);
    ads.request({
      typeUrl: TypeUrl.ClusterLoadAssignment,
      resourceNames: ['shop/a/80', 'shop/b/80'],
      responseNonce: eds.nonce,
      versionInfo: eds.versionInfo,
    });
    await ads.next(TypeUrl.ClusterLoadAssignment);
    [proxy] = await proxies();
    expect(proxy.types.ClusterLoadAssignment.state).toBe('STALE');
  });

  it('records push convergence from a flush to the ACK of the version it produced, not for new connections', async () => {
    const { ads, cds } = await connectEnvoy();
    ads.ack(cds);
    await ads.barrier();
    let now = await metrics(admin.port);
    // The first response went to a new connection: not a push.
    expect(now.get('switchyard_push_convergence_seconds_count{type="Cluster"}') ?? 0).toBe(0);

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/c/80')] }]);
    pipeline.emit(
      'flushed',
      flushReport({ eventCounts: { Service: 2, EndpointSlice: 1 }, translateSeconds: 0.003, debounceWaitSeconds: 0.05 }),
    );
    const push = await ads.next(TypeUrl.Cluster);
    now = await metrics(admin.port);
    expect(now.get('switchyard_push_convergence_seconds_count{type="Cluster"}') ?? 0).toBe(0);

    // A client that connects after the flush gets the same version: not a push sample either.
    const late = await connectEnvoy('envoy-late');
    late.ads.ack(late.cds);
    await late.ads.barrier();
    expect(late.cds.versionInfo).toBe(push.versionInfo);

    ads.ack(push);
    await ads.barrier();
    now = await metrics(admin.port);
    expect(now.get('switchyard_push_convergence_seconds_count{type="Cluster"}')).toBe(1);
    expect(now.get('switchyard_push_convergence_seconds_sum{type="Cluster"}')).toBeGreaterThanOrEqual(0);
    expect(now.get('switchyard_push_convergence_seconds_bucket{le="+Inf",type="Cluster"}')).toBe(1);

    expect(now.get('switchyard_translate_seconds_count')).toBe(1);
    expect(now.get('switchyard_translate_seconds_sum')).toBeCloseTo(0.003, 6);
    expect(now.get('switchyard_debounce_wait_seconds_count')).toBe(1);
    expect(now.get('switchyard_debounce_wait_seconds_bucket{le="0.05"}')).toBe(1);
    expect(now.get('switchyard_debounce_wait_seconds_bucket{le="0.02"}')).toBe(0);
    expect(now.get('switchyard_source_events_total{kind="Service"}')).toBe(2);
    expect(now.get('switchyard_source_events_total{kind="EndpointSlice"}')).toBe(1);
    expect(now.get('switchyard_flushes_total')).toBe(1);
  });

  it('shows the state of responses sent before the admin server started, from the stream versions', async () => {
    const synced = await connectEnvoy('envoy-early');
    synced.ads.ack(synced.cds);
    const nacked = await connectEnvoy('envoy-early-nack');
    nacked.ads.nack(nacked.cds, 'rejected before the admin server started');
    await synced.ads.barrier();
    await nacked.ads.barrier();
    const late = await startAdminServer({ port: 0, server, cache, pipeline, isReady: () => true });
    try {
      const views = JSON.parse((await get(late.port, '/debug/proxies')).body);
      const byNode = Object.fromEntries(views.map((v: any) => [v.nodeId, v.types.Cluster.state]));
      expect(byNode).toEqual({ 'envoy-early': 'SYNCED', 'envoy-early-nack': 'NACKED' });
    } finally {
      await late.close();
    }
  });

  it('reports the source as disconnected when sourceConnected() says so', async () => {
    let connected = false;
    const second = await startAdminServer({ port: 0, server, cache, pipeline, isReady: () => true, sourceConnected: () => connected });
    try {
      expect((await metrics(second.port)).get('switchyard_source_connected')).toBe(0);
      connected = true;
      expect((await metrics(second.port)).get('switchyard_source_connected')).toBe(1);
      // Two admin servers in one process keep separate registries.
      expect(second.registry).not.toBe(admin.registry);
    } finally {
      await second.close();
    }
  });

  it("dumps a node's resources in Envoy's config dump shape, with client status and redacted secrets", async () => {
    const { ads, cds } = await connectEnvoy();
    ads.ack(cds);
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80'] });
    ads.ack(await ads.next(TypeUrl.ClusterLoadAssignment));
    ads.request({ typeUrl: TypeUrl.Listener, resourceNames: ['*'] });
    ads.nack(await ads.next(TypeUrl.Listener), 'listener outbound-http: bad filter');
    ads.request({ typeUrl: TypeUrl.Secret, resourceNames: ['api-key'] });
    ads.ack(await ads.next(TypeUrl.Secret));
    await ads.barrier();

    const page = await get(admin.port, '/debug/config_dump?node=envoy-1');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('application/json');
    const dump = JSON.parse(page.body);
    expect(dump.node).toMatchObject({ id: 'envoy-1', group: 'sidecar', role: 'sidecar' });
    expect(dump.configs.map((c: any) => c['@type'])).toEqual([
      'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
      'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
    ]);
    const [clusters, endpointDump, listeners, secrets] = dump.configs;
    expect(clusters.version_info).toBe(cds.versionInfo);
    expect(clusters.dynamic_active_clusters.map((c: any) => c.cluster.name)).toEqual(['shop/a/80', 'shop/b/80']);
    expect(clusters.dynamic_active_clusters[0]).toEqual({
      version_info: cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/a/80')!.version,
      client_status: 'ACKED',
      cluster: {
        '@type': TypeUrl.Cluster,
        name: 'shop/a/80',
        type: 'EDS',
        connect_timeout: '1s',
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
      },
    });
    expect(endpointDump.dynamic_endpoint_configs).toHaveLength(1);
    expect(endpointDump.dynamic_endpoint_configs[0].endpoint_config.cluster_name).toBe('shop/a/80');
    expect(endpointDump.dynamic_endpoint_configs[0].client_status).toBe('ACKED');
    expect(listeners.version_info).toBeUndefined(); // never ACKed: an empty version, left out like Envoy does
    expect(listeners.dynamic_listeners[0]).toMatchObject({
      name: 'outbound-http',
      client_status: 'NACKED',
      error_state: { details: 'listener outbound-http: bad filter' },
    });
    // The HTTP connection manager inside the listener is expanded with its own @type.
    const hcm = listeners.dynamic_listeners[0].active_state.listener.filter_chains[0].filters[0].typed_config;
    expect(hcm['@type']).toBe('type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    expect(hcm.rds.route_config_name).toBe('outbound');
    // Key material never leaves the control plane through the admin port.
    expect(page.body).not.toContain('hunter2');
    expect(secrets.dynamic_active_secrets[0]).toMatchObject({
      name: 'api-key',
      client_status: 'ACKED',
      secret: { '@type': TypeUrl.Secret, name: 'api-key', generic_secret: { secret: { inline_string: '[redacted]' } } },
    });
  });

  it('dumps every group without a node, and says 404 for a node that is not connected', async () => {
    cache.apply([
      {
        group: SIDECAR_GROUP,
        typeUrl: TypeUrl.Secret,
        upserts: [
          {
            typeUrl: TypeUrl.Secret,
            name: 'shop/tls',
            value: {
              name: 'shop/tls',
              tlsCertificate: { certificateChain: { inlineString: 'PUBLIC-CHAIN' }, privateKey: { inlineString: 'PRIVATE-KEY' } },
            },
          },
        ],
      },
    ]);
    const all = JSON.parse((await get(admin.port, '/debug/config_dump')).body);
    expect(all.groups.map((g: any) => g.group)).toEqual(['sidecar']);
    const clusters = all.groups[0].configs[0];
    expect(clusters.version_info).toBe(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
    expect(clusters.dynamic_active_clusters).toHaveLength(2);
    expect(clusters.dynamic_active_clusters[0].client_status).toBeUndefined();
    expect(JSON.stringify(all)).not.toContain('hunter2');
    const tls = all.groups[0].configs[4].dynamic_active_secrets.find((entry: any) => entry.name === 'shop/tls').secret;
    expect(tls.tls_certificate).toEqual({
      certificate_chain: { inline_string: 'PUBLIC-CHAIN' },
      private_key: { inline_string: '[redacted]' },
    });
    expect(all.groups[0].configs).toHaveLength(5);

    const unknown = await get(admin.port, '/debug/config_dump?node=ghost');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('no connected proxy has node id "ghost"');
  });

  it('`switchyard status` prints a row per proxy with its per-type state, and fails clearly on a closed port', async () => {
    const { ads, cds } = await connectEnvoy('envoy-status');
    ads.ack(cds);
    ads.request({ typeUrl: TypeUrl.Listener, resourceNames: ['*'] });
    ads.nack(await ads.next(TypeUrl.Listener), 'bad listener');
    ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: ['shop/a/80'] });
    await ads.next(TypeUrl.ClusterLoadAssignment);
    await ads.barrier();

    const ok = capture();
    expect(await status({ admin: `127.0.0.1:${admin.port}` }, ok.output)).toBe(0);
    const lines = ok.stdout.join('').split('\n');
    expect(lines[0].split(/\s+/)).toEqual(['NODE', 'ROLE', 'CLIENT', 'FLAVOUR', 'CDS', 'EDS', 'LDS', 'RDS', 'SDS', 'CONNECTED']);
    expect(lines[1].split(/\s{2,}/).slice(0, 8)).toEqual([
      'envoy-status',
      'sidecar',
      'envoy/latest',
      'sotw',
      'SYNCED',
      'STALE',
      'NACKED',
      'NOT SENT',
    ]);
    expect(ok.stdout.join('')).toContain('envoy-status LDS NACKED');
    expect(ok.stdout.join('')).toContain('bad listener');

    const closed = await startAdminServer({ port: 0, server, cache, pipeline, isReady: () => true });
    const closedPort = closed.port;
    await closed.close();
    const failed = capture();
    expect(await status({ admin: `127.0.0.1:${closedPort}` }, failed.output)).toBe(1);
    expect(failed.stdout).toEqual([]);
    expect(failed.stderr.join('')).toContain(`cannot reach the admin server at 127.0.0.1:${closedPort}: connection refused`);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
