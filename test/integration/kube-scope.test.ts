// Egress scopes from the Kubernetes source: the Namespace informer carries the
// `switchyard.dev/egress` annotation; a sidecar of that namespace receives only the Services it
// names, and an edited annotation (a watch event) regroups it into the new scope. The Pod informer
// keeps a pod's own annotation (it replaces the namespace's scope for that pod's sidecar).
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

  async function clustersOf(id: string, pod?: string) {
    const stream = client.delta();
    const metadata = { 'switchyard.dev/namespace': NS, ...(pod ? { 'switchyard.dev/pod': pod } : {}) };
    stream.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'], node: testNode({ id, metadata }) });
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

  it("serves a pod with its own annotation its own scope instead of the namespace's, and follows an edit of it", async () => {
    api.apply(namespace('./ratings'));
    const pod = (egress: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'tool-1',
        namespace: NS,
        labels: { app: 'tool' },
        annotations: { 'switchyard.dev/egress': egress, other: 'dropped' },
      },
      spec: { containers: [{ name: 'tool', image: 'tool:1' }] },
      status: { phase: 'Running', podIP: '10.1.9.1' },
    });
    api.apply(pod('./reviews'));
    const model = mode.app.pipeline.model;
    await eventually('the pod scope in the model', () => {
      const workload = model.workload(NS, 'tool-1');
      return workload && model.workloadEgress(workload).from === 'pod' ? true : undefined;
    });
    const first = await clustersOf('tool-1.shop', 'tool-1');
    expect(first.names).toEqual(['blackhole', 'passthrough', 'shop/reviews/9080']);

    api.apply(pod('./*'));
    expect((await first.stream.status).code).toBe(0);
    const again = await clustersOf('tool-1b.shop', 'tool-1');
    expect(again.names).toEqual(['blackhole', 'passthrough', 'shop/ratings/9080', 'shop/reviews/9080']);
    again.stream.close();
  });
});
