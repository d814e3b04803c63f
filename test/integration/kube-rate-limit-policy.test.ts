// Rate limits attached to Gateway API objects in Kubernetes mode, against the test API server: a
// TrafficPolicy whose targetRef is an HTTPRoute, a GRPCRoute or a Gateway listener gets its status from the
// leader (ResolvedRefs=False, TargetNotFound, until the target exists; Conflicted for the newer
// of two on one target), corrected when the cause is fixed, and its token bucket reaches the
// gateway proxy's routes (HTTPRoute, GRPCRoute) or virtual host (listener). A Service policy with a
// bad connection limit is refused with Accepted=False naming the field, and applied once fixed.
import { TypeUrl } from '../../src/envoy/protos.js';
import type { KubernetesMode } from '../../src/kubernetes/mode.js';
import type { Condition } from '../../src/sources/types.js';
import { endpointSlice, eventually, KubeApiServer, NS, service, type JsonObject } from '../support/kube-api-server.js';
import { startTestReplica } from '../support/kube-replica.js';
import { testNode, XdsTestClient, type DecodedSotwResponse, type SotwTestStream } from '../support/xds-client.js';

const GROUP = 'gateway.networking.k8s.io';
const LIMIT_FILTER = 'envoy.filters.http.local_ratelimit';

const gatewayClass = {
  apiVersion: `${GROUP}/v1`,
  kind: 'GatewayClass',
  metadata: { name: 'switchyard' },
  spec: { controllerName: 'switchyard.dev/gateway-controller' },
};
const gateway = {
  apiVersion: `${GROUP}/v1`,
  kind: 'Gateway',
  metadata: { name: 'edge', namespace: 'infra' },
  spec: {
    gatewayClassName: 'switchyard',
    listeners: [{ name: 'http', port: 8080, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }],
  },
};
const reviewsRoute = {
  apiVersion: `${GROUP}/v1`,
  kind: 'HTTPRoute',
  metadata: { name: 'reviews', namespace: NS },
  spec: {
    parentRefs: [{ name: 'edge', namespace: 'infra' }],
    hostnames: ['shop.example.com'],
    rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }],
  },
};

function attachedPolicy(
  name: string,
  namespace: string,
  targetRef: JsonObject,
  requestsPerSecond: number,
  creationTimestamp?: string,
): JsonObject {
  return {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name, namespace, ...(creationTimestamp ? { creationTimestamp } : {}) },
    spec: { targetRef: { group: GROUP, ...targetRef }, rateLimit: { requestsPerSecond } },
  };
}

const gatewayNode = testNode({ id: 'edge-1', role: 'gateway', gateway: 'infra/edge' });

type Bucket = { tokensPerFill?: { value?: number } };
type PerFilter = { typedPerFilterConfig?: Record<string, { tokenBucket?: Bucket }> };
type VirtualHost = PerFilter & { routes: PerFilter[] };

/** Requests per fill of the route's and of the virtual host's bucket (undefined: none). */
function limits(rds: DecodedSotwResponse): { route?: number; virtualHost?: number } {
  const vh = (rds.resources[0].value as { virtualHosts: VirtualHost[] }).virtualHosts[0];
  const rate = (entry: PerFilter) => entry.typedPerFilterConfig?.[LIMIT_FILTER]?.tokenBucket?.tokensPerFill?.value;
  return { route: rate(vh.routes[0]), virtualHost: rate(vh) };
}

describe('rate limits attached to Gateway API objects, in Kubernetes mode', () => {
  let api: KubeApiServer;
  let mode: KubernetesMode | undefined;
  let client: XdsTestClient | undefined;

  const condition = (namespace: string, name: string, type: string) =>
    (api.get('TrafficPolicy', namespace, name)?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);

  /** RDS responses, acknowledged, until one satisfies `wanted`. */
  async function routesUntil(ads: SotwTestStream, wanted: (rds: DecodedSotwResponse) => boolean): Promise<DecodedSotwResponse> {
    for (;;) {
      const rds = await ads.next(TypeUrl.RouteConfiguration);
      ads.ack(rds);
      if (wanted(rds)) return rds;
    }
  }

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
    api.apply(service('reviews'));
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
    api.apply(gatewayClass);
    api.apply(gateway);
  });

  afterEach(async () => {
    client?.close();
    await mode?.stop();
    await api.stop();
  });

  it('writes TargetNotFound until the HTTPRoute exists, then applies the limit to its routes; a listener limit goes on the virtual host', async () => {
    api.apply(attachedPolicy('reviews-limit', NS, { kind: 'HTTPRoute', name: 'reviews' }, 20));
    mode = await startTestReplica(api);
    client = new XdsTestClient(mode.app.xdsPort);

    await eventually('TargetNotFound written', () => condition(NS, 'reviews-limit', 'ResolvedRefs'));
    expect(condition(NS, 'reviews-limit', 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
    expect(condition(NS, 'reviews-limit', 'ResolvedRefs')!.message).toMatch(/^spec\.targetRef\.name: HTTPRoute shop\/reviews not found/);
    expect(condition(NS, 'reviews-limit', 'Programmed')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
    const firstTransition = condition(NS, 'reviews-limit', 'Accepted')!.lastTransitionTime;

    // The route appears: the status is corrected and the proxy's route carries the bucket.
    api.apply(reviewsRoute);
    await eventually('ResolvedRefs=True', () => condition(NS, 'reviews-limit', 'ResolvedRefs')?.status === 'True');
    expect(condition(NS, 'reviews-limit', 'Programmed')).toMatchObject({ status: 'True', reason: 'Programmed' });
    expect(condition(NS, 'reviews-limit', 'Accepted')!.lastTransitionTime).toBe(firstTransition);

    const ads = client.sotw();
    ads.request({ typeUrl: TypeUrl.Listener, node: gatewayNode });
    const lds = await ads.next(TypeUrl.Listener);
    ads.ack(lds);
    ads.request({ typeUrl: TypeUrl.RouteConfiguration, resourceNames: lds.names });
    expect(limits(await routesUntil(ads, (rds) => limits(rds).route === 20))).toEqual({ route: 20, virtualHost: undefined });

    // A limit on the Gateway's listener goes on the virtual host; the route's own still wins on its route.
    api.apply(attachedPolicy('edge-http', 'infra', { kind: 'Gateway', name: 'edge', sectionName: 'http' }, 500));
    expect(limits(await routesUntil(ads, (rds) => limits(rds).virtualHost === 500))).toEqual({ route: 20, virtualHost: 500 });
    await eventually('listener policy Programmed', () => condition('infra', 'edge-http', 'Programmed')?.status === 'True');

    // A second, newer policy on the same HTTPRoute loses, and says to whom.
    api.apply(attachedPolicy('reviews-loose', NS, { kind: 'HTTPRoute', name: 'reviews' }, 900, '2099-01-01T00:00:00Z'));
    await eventually('Conflicted', () => condition(NS, 'reviews-loose', 'Accepted')?.reason === 'Conflicted');
    expect(condition(NS, 'reviews-loose', 'Accepted')!.message).toMatch(/limited by TrafficPolicy shop\/reviews-limit, which wins/);

    // The route is deleted: the status says so again, and the virtual host's limit is all that is left.
    api.delete('HTTPRoute', NS, 'reviews');
    await eventually('TargetNotFound again', () => condition(NS, 'reviews-limit', 'ResolvedRefs')?.status === 'False');
    expect(condition(NS, 'reviews-limit', 'Programmed')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
  });

  it('a listener name the Gateway does not have is TargetNotFound naming sectionName, corrected when the listener is added', async () => {
    api.apply(attachedPolicy('edge-admin', 'infra', { kind: 'Gateway', name: 'edge', sectionName: 'admin' }, 5));
    mode = await startTestReplica(api);
    await eventually('status written', () => condition('infra', 'edge-admin', 'ResolvedRefs'));
    expect(condition('infra', 'edge-admin', 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
    expect(condition('infra', 'edge-admin', 'ResolvedRefs')!.message).toBe(
      'spec.targetRef.sectionName: Gateway infra/edge has no listener admin (its listeners: http)',
    );
    const writes = () => api.writes.filter((w) => w.path.endsWith('/edge-admin/status')).length;
    expect(writes()).toBe(1);

    api.apply({
      ...gateway,
      spec: { ...gateway.spec, listeners: [...gateway.spec.listeners, { name: 'admin', port: 8081, protocol: 'HTTP' }] },
    });
    await eventually('ResolvedRefs=True', () => condition('infra', 'edge-admin', 'ResolvedRefs')?.status === 'True');
    expect(condition('infra', 'edge-admin', 'Programmed')).toMatchObject({
      status: 'True',
      message: 'applied to Gateway infra/edge listener admin',
    });
    expect(writes()).toBe(2);
  });

  it('a GRPCRoute limit reaches its routes; a bad connection limit on a Service is refused naming the field until fixed', async () => {
    const orders = service('orders', 9000);
    (orders.spec as { ports: JsonObject[] }).ports = [{ name: 'grpc', port: 9000, targetPort: 9000, appProtocol: 'kubernetes.io/h2c' }];
    api.apply(orders);
    api.apply({
      apiVersion: `${GROUP}/v1`,
      kind: 'GRPCRoute',
      metadata: { name: 'orders', namespace: NS },
      spec: {
        parentRefs: [{ name: 'edge', namespace: 'infra' }],
        hostnames: ['grpc.example.com'],
        rules: [{ matches: [{ method: { service: 'shop.v1.Orders' } }], backendRefs: [{ name: 'orders', port: 9000 }] }],
      },
    });
    api.apply(attachedPolicy('orders-limit', NS, { kind: 'GRPCRoute', name: 'orders' }, 30));
    const bad = {
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: 'orders', namespace: NS },
      spec: { targetRef: { name: 'orders' }, rateLimit: { connections: { perSecond: 20, burst: 5 } } },
    };
    api.apply(bad);
    mode = await startTestReplica(api);
    client = new XdsTestClient(mode.app.xdsPort);

    await eventually('GRPCRoute policy Programmed', () => condition(NS, 'orders-limit', 'Programmed')?.status === 'True');
    expect(condition(NS, 'orders-limit', 'Programmed')!.message).toBe('applied to GRPCRoute shop/orders');
    const ads = client.sotw();
    ads.request({ typeUrl: TypeUrl.Listener, node: gatewayNode });
    const lds = await ads.next(TypeUrl.Listener);
    ads.ack(lds);
    ads.request({ typeUrl: TypeUrl.RouteConfiguration, resourceNames: lds.names });
    const rds = await routesUntil(ads, (r) => r.resources.length > 0);
    const hosts = (rds.resources[0].value as { virtualHosts: Array<VirtualHost & { domains: string[] }> }).virtualHosts;
    const grpcHost = hosts.find((vh) => vh.domains.includes('grpc.example.com'))!;
    expect(grpcHost.routes.map((route) => route.typedPerFilterConfig?.[LIMIT_FILTER]?.tokenBucket?.tokensPerFill?.value)).toEqual([30]);

    await eventually('bad limit refused', () => condition(NS, 'orders', 'Accepted')?.status === 'False');
    expect(condition(NS, 'orders', 'Accepted')!.message).toMatch(/spec\.rateLimit\.connections\.burst: must be at least the rate/);
    expect(mode.app.pipeline.model.servicePolicy('shop/orders')).toBeUndefined();

    api.apply({ ...bad, spec: { ...bad.spec, rateLimit: { connections: { perSecond: 20, burst: 40 } } } });
    await eventually('fixed', () => condition(NS, 'orders', 'Programmed')?.status === 'True');
    expect(condition(NS, 'orders', 'Accepted')).toMatchObject({ status: 'True' });
    expect(mode.app.pipeline.model.servicePolicy('shop/orders')?.connectionLimit).toEqual({
      tokensPerFill: 20,
      fillIntervalMs: 1000,
      maxTokens: 40,
    });
  });
});
