// Gateway API in Kubernetes mode, against the test API server (real list/watch and status
// subresource): a Gateway and its routes reach a gateway proxy's ADS stream, and the leader —
// only the leader — writes GatewayClass, Gateway and route status with the specification's
// reasons, corrects it when the cause is fixed, and shows a proxy's NACK as Programmed=False.
import { TypeUrl } from '../../src/envoy/protos.js';
import type { KubernetesMode } from '../../src/kubernetes/mode.js';
import type { Condition } from '../../src/sources/types.js';
import { endpointSlice, eventually, KubeApiServer, NS, service, type JsonObject } from '../support/kube-api-server.js';
import { startTestReplica, TEST_LEASE } from '../support/kube-replica.js';
import { testNode, XdsTestClient, type SotwTestStream } from '../support/xds-client.js';

const GROUP = 'gateway.networking.k8s.io';
const CONTROLLER = 'switchyard.dev/gateway-controller';

function gatewayClass(name = 'switchyard', controllerName = CONTROLLER): JsonObject {
  return { apiVersion: `${GROUP}/v1`, kind: 'GatewayClass', metadata: { name }, spec: { controllerName } };
}

function gateway(
  listeners: JsonObject[] = [{ name: 'http', port: 8080, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }],
) {
  return {
    apiVersion: `${GROUP}/v1`,
    kind: 'Gateway',
    metadata: { name: 'edge', namespace: 'infra' },
    spec: { gatewayClassName: 'switchyard', listeners },
  };
}

function httpRoute(name: string, spec: JsonObject): JsonObject {
  return {
    apiVersion: `${GROUP}/v1`,
    kind: 'HTTPRoute',
    metadata: { name, namespace: NS },
    spec: { parentRefs: [{ name: 'edge', namespace: 'infra' }], ...spec },
  };
}

const reviewsRoute = () =>
  httpRoute('reviews', { hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] });

/** The gateway proxies' Service: its cluster IP becomes the Gateway's address. */
const gatewayService = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'edge-gateway', namespace: 'infra', labels: { 'gateway.networking.k8s.io/gateway-name': 'edge' } },
  spec: { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 8080 }] },
};

const gatewayNode = testNode({ id: 'edge-1', role: 'gateway', gateway: 'infra/edge' });

describe('Gateway API in Kubernetes mode', () => {
  let api: KubeApiServer;
  let mode: KubernetesMode | undefined;
  let client: XdsTestClient | undefined;

  const status = (kind: string, namespace: string | undefined, name: string) =>
    api.get(kind, namespace, name)?.status as JsonObject | undefined;
  const find = (conditions: Condition[] | undefined, type: string) => conditions?.find((c) => c.type === type);
  const routeParent = (name: string) =>
    (status('HTTPRoute', NS, name)?.parents as JsonObject[] | undefined)?.find((p) => p.controllerName === CONTROLLER);
  const routeCondition = (name: string, type: string) => find(routeParent(name)?.conditions as Condition[] | undefined, type);
  const gatewayCondition = (type: string) => find(status('Gateway', 'infra', 'edge')?.conditions as Condition[] | undefined, type);
  const statusWrites = (plural: string) => api.writes.filter((w) => w.path.includes(`/${plural}/`) && w.path.endsWith('/status'));

  async function start(): Promise<KubernetesMode> {
    mode = await startTestReplica(api);
    client = new XdsTestClient(mode.app.xdsPort);
    return mode;
  }

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
    api.apply(service('reviews'));
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
    api.apply(gatewayClass());
    api.apply(gatewayClass('nginx', 'example.com/nginx'));
    api.apply(gateway());
    api.apply(gatewayService);
  });

  afterEach(async () => {
    client?.close();
    await mode?.stop();
    await api.stop();
  });

  /** Envoy's start on ADS: LDS and CDS wildcard, RDS by the names the listeners use. */
  async function gatewayRoutes(ads: SotwTestStream) {
    ads.request({ typeUrl: TypeUrl.Listener, node: gatewayNode });
    const lds = await ads.next(TypeUrl.Listener);
    ads.ack(lds);
    ads.request({ typeUrl: TypeUrl.Cluster });
    const cds = await ads.next(TypeUrl.Cluster);
    ads.ack(cds);
    ads.request({ typeUrl: TypeUrl.RouteConfiguration, resourceNames: lds.names });
    const rds = await ads.next(TypeUrl.RouteConfiguration);
    ads.ack(rds);
    return { lds, cds, rds };
  }

  it("serves a Gateway and its HTTPRoute to the proxies naming it, and writes every object's status once", async () => {
    api.apply(reviewsRoute());
    await start();
    const ads = client!.sotw();
    const { lds, cds, rds } = await gatewayRoutes(ads);
    expect(lds.names).toEqual(['gateway/infra/edge/8080']);
    expect(cds.names).toEqual(['shop/reviews/9080']);
    const virtualHosts = (
      rds.resources[0].value as { virtualHosts: Array<{ domains: string[]; routes: Array<{ route?: { cluster?: string } }> }> }
    ).virtualHosts;
    expect(virtualHosts.map((v) => v.domains)).toEqual([['shop.example.com']]);
    expect(virtualHosts[0].routes[0].route?.cluster).toBe('shop/reviews/9080');

    await eventually('route status', () => routeCondition('reviews', 'ResolvedRefs'));
    await eventually('gateway status', () => gatewayCondition('Programmed'));
    await eventually('class status', () => find(status('GatewayClass', undefined, 'switchyard')?.conditions as Condition[], 'Accepted'));
    expect(find(status('GatewayClass', undefined, 'switchyard')!.conditions as Condition[], 'Accepted')!.status).toBe('True');
    // Another controller's class is not ours to write.
    expect(status('GatewayClass', undefined, 'nginx')).toBeUndefined();

    const gatewayStatus = status('Gateway', 'infra', 'edge')!;
    expect(gatewayStatus.addresses).toEqual([{ type: 'IPAddress', value: '10.96.0.20' }]);
    expect(gatewayCondition('Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(gatewayCondition('Programmed')).toMatchObject({ status: 'True', reason: 'Programmed' });
    expect(gatewayStatus.listeners).toEqual([
      expect.objectContaining({
        name: 'http',
        attachedRoutes: 1,
        supportedKinds: [
          { group: GROUP, kind: 'HTTPRoute' },
          { group: GROUP, kind: 'GRPCRoute' },
        ],
      }),
    ]);
    expect(routeParent('reviews')).toMatchObject({ parentRef: { name: 'edge', namespace: 'infra' }, controllerName: CONTROLLER });
    expect(routeCondition('reviews', 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(routeCondition('reviews', 'ResolvedRefs')).toMatchObject({ status: 'True', reason: 'ResolvedRefs' });

    // Unrelated changes and the echoes of our own writes write nothing more.
    api.apply(endpointSlice('reviews', ['10.0.0.1', '10.0.0.2']));
    api.apply(service('ratings'));
    await eventually('the model has ratings', () => mode!.app.pipeline.model.service('shop/ratings'));
    api.apply(httpRoute('ratings', { rules: [{ backendRefs: [{ name: 'ratings', port: 9080 }] }] }));
    await eventually('ratings status', () => routeCondition('ratings', 'Accepted'));
    await eventually('attachedRoutes 2', () => (status('Gateway', 'infra', 'edge')?.listeners as JsonObject[])[0].attachedRoutes === 2);
    expect(statusWrites('gatewayclasses')).toHaveLength(1);
    expect(statusWrites('httproutes').map((w) => w.path.split('/').slice(-2)[0])).toEqual(['reviews', 'ratings']);
    expect(statusWrites('gateways')).toHaveLength(2);
  });

  it("says why a route is not served, keeps other controllers' entries, and corrects the status when the cause is fixed", async () => {
    api.apply({ ...service('vault'), metadata: { name: 'vault', namespace: 'secret' } });
    api.apply(httpRoute('vault', { rules: [{ backendRefs: [{ name: 'vault', namespace: 'secret', port: 9080 }] }] }));
    api.apply(httpRoute('elsewhere', { hostnames: ['shop.example.org'], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] }));
    api.apply(
      gateway([{ name: 'http', port: 8080, protocol: 'HTTP', hostname: '*.example.com', allowedRoutes: { namespaces: { from: 'All' } } }]),
    );
    const foreign = { parentRef: { name: 'other-gateway' }, controllerName: 'example.com/nginx', conditions: [] };
    const stored = api.get('HTTPRoute', NS, 'vault')!;
    api.applyStatus({ ...stored, status: { parents: [foreign] } });
    await start();

    await eventually('RefNotPermitted', () => routeCondition('vault', 'ResolvedRefs')?.reason === 'RefNotPermitted');
    expect(routeCondition('vault', 'ResolvedRefs')!.message).toMatch(/no ReferenceGrant in secret allows HTTPRoutes from shop/);
    expect((status('HTTPRoute', NS, 'vault')!.parents as JsonObject[])[0]).toEqual(foreign);
    await eventually('NoMatchingListenerHostname', () => routeCondition('elsewhere', 'Accepted')?.reason === 'NoMatchingListenerHostname');
    // The same reason, as a Warning Event on the route at the field.
    const event = await eventually('an Event on the route', () =>
      api.objectsOf('Event').find((e) => e.regarding?.kind === 'HTTPRoute' && e.regarding?.name === 'vault'),
    );
    expect(event).toMatchObject({
      reason: 'GatewayRouteRefsNotResolved',
      type: 'Warning',
      regarding: { apiVersion: `${GROUP}/v1`, namespace: NS, fieldPath: 'spec.rules[0].backendRefs[0]' },
    });
    const transition = routeCondition('vault', 'Accepted')!.lastTransitionTime;

    api.apply({
      apiVersion: `${GROUP}/v1beta1`,
      kind: 'ReferenceGrant',
      metadata: { name: 'shop-routes', namespace: 'secret' },
      spec: { from: [{ group: GROUP, kind: 'HTTPRoute', namespace: NS }], to: [{ group: '', kind: 'Service' }] },
    });
    await eventually('refs resolved', () => routeCondition('vault', 'ResolvedRefs')?.status === 'True');
    expect((status('HTTPRoute', NS, 'vault')!.parents as JsonObject[])[0]).toEqual(foreign);
    // Accepted did not change status: its transition time stays.
    expect(routeCondition('vault', 'Accepted')!.lastTransitionTime).toBe(transition);

    api.apply(httpRoute('elsewhere', { hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] }));
    await eventually('accepted', () => routeCondition('elsewhere', 'Accepted')?.status === 'True');

    // The route leaves our Gateway: our entry goes, the other controller's stays.
    api.apply(httpRoute('vault', { parentRefs: [{ name: 'other-gateway' }], rules: [] }));
    await eventually('our entry removed', () => (status('HTTPRoute', NS, 'vault')?.parents as JsonObject[]).length === 1);
    expect(status('HTTPRoute', NS, 'vault')!.parents).toEqual([foreign]);
  });

  it("a listener admitting namespaces by label follows the labels of the route's Namespace", async () => {
    api.apply(
      gateway([
        {
          name: 'http',
          port: 8080,
          protocol: 'HTTP',
          allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { edge: 'yes' } } } },
        },
      ]),
    );
    api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { edge: 'no' } } });
    api.apply(reviewsRoute());
    await start();
    await eventually('NotAllowedByListeners', () => routeCondition('reviews', 'Accepted')?.reason === 'NotAllowedByListeners');
    api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { edge: 'yes' } } });
    await eventually('accepted', () => routeCondition('reviews', 'Accepted')?.status === 'True');
    expect((status('Gateway', 'infra', 'edge')!.listeners as JsonObject[])[0].attachedRoutes).toBe(1);
  });

  it('writes GRPCRoute status too, and corrects it when the backend port is made HTTP/2', async () => {
    api.apply({
      apiVersion: `${GROUP}/v1`,
      kind: 'GRPCRoute',
      metadata: { name: 'orders', namespace: NS },
      spec: {
        parentRefs: [{ name: 'edge', namespace: 'infra' }],
        rules: [{ matches: [{ method: { service: 'shop.Orders' } }], backendRefs: [{ name: 'orders', port: 9000 }] }],
      },
    });
    const orders = (appProtocol: string) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'orders', namespace: NS },
      spec: { ports: [{ name: 'rpc', port: 9000, appProtocol }] },
    });
    api.apply(orders('http'));
    await start();
    const grpcCondition = (type: string) =>
      find(
        (status('GRPCRoute', NS, 'orders')?.parents as JsonObject[] | undefined)?.find((p) => p.controllerName === CONTROLLER)
          ?.conditions as Condition[] | undefined,
        type,
      );
    await eventually('UnsupportedProtocol', () => grpcCondition('ResolvedRefs')?.reason === 'UnsupportedProtocol');
    expect(grpcCondition('Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    api.apply(orders('kubernetes.io/h2c'));
    await eventually('resolved', () => grpcCondition('ResolvedRefs')?.status === 'True');
    expect(statusWrites('grpcroutes')).toHaveLength(2);
  });

  it('a listener without a usable certificate, and a Gateway without an address, say so; both are corrected', async () => {
    api.delete('Service', 'infra', 'edge-gateway');
    api.apply(
      gateway([
        { name: 'http', port: 8080, protocol: 'HTTP' },
        { name: 'https', port: 8443, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'missing-tls' }] } },
      ]),
    );
    await start();
    await eventually('AddressNotAssigned', () => gatewayCondition('Programmed')?.reason === 'AddressNotAssigned');
    expect(gatewayCondition('Accepted')).toMatchObject({ status: 'True', reason: 'ListenersNotValid' });
    const https = (status('Gateway', 'infra', 'edge')!.listeners as JsonObject[]).find((l) => l.name === 'https')!;
    expect(find(https.conditions as Condition[], 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'InvalidCertificateRef' });
    expect(find(https.conditions as Condition[], 'Programmed')).toMatchObject({ status: 'False', reason: 'Invalid' });

    api.apply(gatewayService);
    await eventually('Programmed', () => gatewayCondition('Programmed')?.status === 'True');
    expect(status('Gateway', 'infra', 'edge')!.addresses).toEqual([{ type: 'IPAddress', value: '10.96.0.20' }]);
  });

  it('a NACK from a proxy of the Gateway shows as Programmed=False, and clears when that proxy is gone', async () => {
    api.apply(reviewsRoute());
    await start();
    await eventually('Programmed=True', () => gatewayCondition('Programmed')?.status === 'True');
    const ads = client!.sotw();
    ads.request({ typeUrl: TypeUrl.Listener, node: gatewayNode });
    const lds = await ads.next(TypeUrl.Listener);
    ads.nack(lds, 'Error adding/updating listener(s) gateway/infra/edge/8080: cannot bind 0.0.0.0:8080');
    await eventually('Programmed=False', () => gatewayCondition('Programmed')?.status === 'False');
    expect(gatewayCondition('Programmed')).toMatchObject({
      reason: 'Invalid',
      message:
        '1 proxy of this Gateway NACKed its Listener: Error adding/updating listener(s) gateway/infra/edge/8080: cannot bind 0.0.0.0:8080',
    });

    // A proxy of another gateway NACKing does not concern this Gateway.
    const other = client!.sotw();
    other.request({ typeUrl: TypeUrl.Listener, node: testNode({ id: 'other-1', role: 'gateway', gateway: 'infra/other' }) });
    other.nack(await other.next(TypeUrl.Listener), 'something else');
    // The NACKing proxy goes away: nothing outstanding for this Gateway, Programmed again.
    ads.cancel();
    await eventually('Programmed=True again', () => gatewayCondition('Programmed')?.status === 'True');
    other.cancel();
  });

  it('a follower writes no Gateway API status', async () => {
    api.apply(reviewsRoute());
    api.apply({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: TEST_LEASE.name, namespace: TEST_LEASE.namespace },
      spec: { holderIdentity: 'someone-else', leaseDurationSeconds: 30, renewTime: new Date().toISOString() },
    });
    mode = await startTestReplica(api, { lead: false });
    await eventually('the holder seen', () => mode!.leader.holder() === 'someone-else');
    expect(mode.app.pipeline.model.gatewayApiGateway('infra/edge')?.listeners[0].rules).toHaveLength(1);
    const leaseReads = () => api.objectReads.filter((r) => r.kind === 'Lease' && r.client === 'replica-a').length;
    const before = leaseReads();
    await eventually('three more lease reads', () => leaseReads() >= before + 3);
    expect(api.writes).toEqual([]);
  });
});

describe('a cluster without the Gateway API CRDs', () => {
  it('syncs and serves the rest: a missing kind is none of it, not an outage', async () => {
    const api = new KubeApiServer({ withoutKinds: ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'ReferenceGrant'] });
    await api.start();
    api.apply(service('reviews'));
    const mode = await startTestReplica(api);
    try {
      expect(mode.app.pipeline.model.service('shop/reviews')).toBeDefined();
      expect(mode.source.connected()).toBe(true);
      expect(mode.app.pipeline.model.gatewayApiGateways()).toEqual([]);
    } finally {
      await mode.stop();
      await api.stop();
    }
  });
});
