// TrafficPolicy rate limits reaching sidecars over ADS, as Envoy sees them. A limit is part of
// the workload shape: setting one moves the Service's pods to a new group (their streams end and
// the proxies reconnect into it, where the inbound side carries the limit), pods with the same
// limit share that group, and the sidecars of other Services are left alone. A policy change that
// leaves the limit as it was regroups nothing, and a bad limit is refused naming the field while
// the last valid one stays.
import type { Switchyard } from '../../src/app.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { ModelChange } from '../../src/model/index.js';
import type { DecodedResource, DeltaTestStream } from '../support/xds-client.js';
import { startFolderApp, syncSidecar, type FolderApp } from '../support/folder-app.js';

const MESH = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  clusterIP: 10.96.7.10
  selector: { app: api }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec:
  clusterIP: 10.96.7.20
  selector: { app: db }
  ports: [{ name: postgres, port: 5432 }]
`;

const pod = (name: string, ip: string, app: string, port: number) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: shop, labels: { app: ${app} } }
spec:
  serviceAccountName: ${app}
  containers: [{ name: app, ports: [{ containerPort: ${port} }] }]
status: { podIP: ${ip} }
`;

const policy = (name: string, spec: string) => `
apiVersion: switchyard.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: shop }
spec:
  targetRef: { name: ${name} }
${spec}
`;

interface Sidecar {
  stream: DeltaTestStream;
  listeners: DecodedResource[];
}

type Chain = { name?: string; filters: Array<{ name: string; typedConfig?: Record<string, unknown> }> };

/** The filter names of the inbound listener's plain-text chain for a port, in order (HCM: its HTTP filters). */
function inboundFilters(listeners: DecodedResource[], port: number): string[] {
  const inbound = listeners.find((l) => l.name === 'inbound');
  const chains = (inbound?.value.filterChains ?? []) as Chain[];
  const chain = chains.find((c) => c.name === `inbound|${port}|raw_buffer`);
  if (!chain) throw new Error(`no plain-text inbound chain for port ${port}`);
  return chain.filters.flatMap((filter) => {
    const httpFilters = filter.typedConfig?.httpFilters as Array<{ name: string }> | undefined;
    return httpFilters ? httpFilters.map((f) => f.name) : [filter.name];
  });
}

describe('TrafficPolicy rate limits on sidecar inbound chains', () => {
  let folder: FolderApp;
  let app: Switchyard;
  /** Every sidecar stream opened, in order. */
  const streams: DeltaTestStream[] = [];

  async function sidecar(id: string, podName: string): Promise<Sidecar> {
    const { stream, listeners } = await syncSidecar(folder, id, { 'switchyard.dev/namespace': 'shop', 'switchyard.dev/pod': podName });
    streams.push(stream);
    return { stream, listeners: listeners.resources };
  }

  /** The inbound route configuration of a port, as the sidecar receives it. */
  async function inboundRoute(stream: DeltaTestStream, port: number): Promise<Record<string, unknown>> {
    stream.request({ typeUrl: TypeUrl.RouteConfiguration, subscribe: [`inbound|${port}`] });
    const response = await stream.next(TypeUrl.RouteConfiguration);
    stream.ack(response);
    const routes = (response.resources[0].value.virtualHosts as Array<{ routes: Array<Record<string, unknown>> }>)[0].routes;
    return routes[0];
  }

  const groupOf = (id: string) => folder.groupOf(id);

  /** Writes a file and resolves with the model change of the flush that applied it (regrouping has run by then). */
  function writeAndFlush(file: string, content: string, applied: (change: ModelChange) => boolean): Promise<ModelChange> {
    const flushed = new Promise<ModelChange>((resolve) => {
      const onFlushed = ({ change }: { change: ModelChange }) => {
        if (!applied(change)) return;
        app.pipeline.off('flushed', onFlushed);
        resolve(change);
      };
      app.pipeline.on('flushed', onFlushed);
    });
    folder.write(file, content);
    return flushed;
  }

  beforeAll(async () => {
    folder = await startFolderApp('rate-limit', {
      'mesh.yaml': MESH,
      'api-1.yaml': pod('api-1', '10.5.7.1', 'api', 8080),
      'api-2.yaml': pod('api-2', '10.5.7.2', 'api', 8080),
      'db-1.yaml': pod('db-1', '10.5.7.3', 'db', 5432),
    });
    app = folder.app;
  });

  afterAll(async () => {
    await folder?.stop();
  });

  it('moves the pods of a Service given a request limit into one new group whose inbound route carries it, leaving other sidecars alone', async () => {
    const api1 = await sidecar('api-1.shop', 'api-1');
    const api2 = await sidecar('api-2.shop', 'api-2');
    const db = await sidecar('db-1.shop', 'db-1');
    const apiGroup = groupOf('api-1.shop');
    const dbGroup = groupOf('db-1.shop');
    expect(inboundFilters(api1.listeners, 8080)).toEqual(['envoy.filters.http.router']);

    await writeAndFlush('api-policy.yaml', policy('api', '  rateLimit: { requestsPerSecond: 5, burst: 10 }'), (c) =>
      c.services.has('shop/api'),
    );
    expect((await api1.stream.status).code).toBe(0);
    expect((await api2.stream.status).code).toBe(0);
    // db's sidecar: same group, and nothing pushed (the limit changes no outbound resource).
    await db.stream.barrier();
    expect(db.stream.pending()).toEqual([]);
    expect(groupOf('db-1.shop')).toBe(dbGroup);

    const again1 = await sidecar('api-1.shop', 'api-1');
    await sidecar('api-2.shop', 'api-2');
    expect(groupOf('api-1.shop')).not.toBe(apiGroup);
    expect(groupOf('api-2.shop')).toBe(groupOf('api-1.shop'));
    expect(inboundFilters(again1.listeners, 8080)).toEqual(['envoy.filters.http.local_ratelimit', 'envoy.filters.http.router']);
    const route = await inboundRoute(again1.stream, 8080);
    const bucket = (route.typedPerFilterConfig as Record<string, { tokenBucket?: unknown }>)['envoy.filters.http.local_ratelimit'];
    expect(bucket.tokenBucket).toEqual({ maxTokens: 10, tokensPerFill: { value: 5 }, fillInterval: { seconds: '1' } });
  });

  it('keeps the group when a policy change leaves the limit as it was', async () => {
    const before = groupOf('api-1.shop');
    await writeAndFlush(
      'api-policy.yaml',
      policy('api', '  rateLimit: { requestsPerSecond: 5, burst: 10 }\n  timeout: 3s'),
      () => app.pipeline.model.servicePolicy('shop/api')?.timeoutMs === 3000,
    );
    expect(groupOf('api-1.shop')).toBe(before);
    expect(groupOf('api-2.shop')).toBe(before);
  });

  it('puts a connection limit before the TCP proxy of the TCP port, regrouping that Service’s pods only', async () => {
    const api = app.server
      .streams()
      .filter((s) => s.nodeId.startsWith('api-'))
      .map((s) => [s.nodeId, s.group]);
    const db = streams[2];
    await writeAndFlush('db-policy.yaml', policy('db', '  rateLimit: { connections: { perSecond: 20, burst: 40 } }'), (c) =>
      c.services.has('shop/db'),
    );
    expect((await db.status).code).toBe(0);
    expect(
      app.server
        .streams()
        .filter((s) => s.nodeId.startsWith('api-'))
        .map((s) => [s.nodeId, s.group]),
    ).toEqual(api);

    const again = await sidecar('db-1.shop', 'db-1');
    expect(inboundFilters(again.listeners, 5432)).toEqual(['envoy.filters.network.local_ratelimit', 'envoy.filters.network.tcp_proxy']);
    const chain = ((again.listeners.find((l) => l.name === 'inbound')!.value.filterChains as Chain[]) ?? []).find(
      (c) => c.name === 'inbound|5432|raw_buffer',
    )!;
    expect(chain.filters[0].typedConfig).toMatchObject({
      statPrefix: 'inbound_5432_connection_limit',
      tokenBucket: { maxTokens: 40, tokensPerFill: { value: 20 }, fillInterval: { seconds: '1' } },
      shareKey: 'inbound_5432',
    });
  });

  it('refuses a bad connection limit naming the field, and keeps the last valid one (no regroup)', async () => {
    const group = groupOf('db-1.shop');
    await writeAndFlush('db-policy.yaml', policy('db', '  rateLimit: { connections: { perSecond: 20, burst: 5 } }'), (c) =>
      c.policyStatus.has('shop/db'),
    );
    const conditions = app.pipeline.model.policyStatus('shop', 'db') ?? [];
    expect(conditions.find((c) => c.type === 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(conditions.find((c) => c.type === 'Accepted')?.message).toMatch(
      /spec\.rateLimit\.connections\.burst: must be at least the rate/,
    );
    expect(conditions.find((c) => c.type === 'Programmed')).toMatchObject({ status: 'False', reason: 'LastGoodKept' });
    expect(groupOf('db-1.shop')).toBe(group);
  });
});
