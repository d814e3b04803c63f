// Egress scopes from the Kubernetes source: the Namespace informer carries the
// `switchyard.dev/egress` annotation; a sidecar of that namespace receives only the Services it
// names, and an edited annotation (a watch event) regroups it into the new scope.
import { TypeUrl } from '../../src/envoy/protos.js';
import type { KubernetesMode } from '../../src/kubernetes/mode.js';
import { endpointSlice, eventually, KubeApiServer, NS, service } from '../support/kube-api-server.js';
import { startTestReplica } from '../support/kube-replica.js';
import { testNode, XdsTestClient } from '../support/xds-client.js';

const namespace = (egress: string) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: NS, annotations: { 'switchyard.dev/egress': egress } },
});

describe('egress scopes from the Kubernetes API', () => {
  let api: KubeApiServer;
  let mode: KubernetesMode;
  let client: XdsTestClient;

  beforeAll(async () => {
    api = new KubeApiServer();
    await api.start();
    api.apply(namespace('./reviews'));
    api.apply(service('reviews'));
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
    api.apply(service('ratings'));
    api.apply(endpointSlice('ratings', ['10.0.0.2']));
    mode = await startTestReplica(api);
    client = new XdsTestClient(mode.app.xdsPort);
  });

  afterAll(async () => {
    client?.close();
    await mode?.stop();
    await api.stop();
  });

  async function clustersOf(id: string) {
    const stream = client.delta();
    stream.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'], node: testNode({ id, metadata: { 'switchyard.dev/namespace': NS } }) });
    const clusters = await stream.next(TypeUrl.Cluster);
    stream.ack(clusters);
    return { stream, names: clusters.names.sort() };
  }

  it('serves a scoped namespace its scope, and the new scope after the annotation is edited', async () => {
    const first = await clustersOf('a.shop');
    expect(first.names).toEqual(['blackhole', 'passthrough', 'shop/reviews/9080']);
    expect(mode.app.server.streams().find((s) => s.nodeId === 'a.shop')?.group).toMatch(/^sidecar~/);

    api.apply(namespace('./ratings'));
    expect((await first.stream.status).code).toBe(0);
    const again = await eventually('reconnected into the new scope', async () => {
      const next = await clustersOf('b.shop');
      if (next.names.includes('shop/ratings/9080')) return next;
      next.stream.close();
      return undefined;
    });
    expect(again.names).toEqual(['blackhole', 'passthrough', 'shop/ratings/9080']);
    again.stream.close();
  });
});
