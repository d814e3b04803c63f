// Sidecars grouped by workload shape, over ADS as Envoy sees it: the node metadata the injector
// writes names the pod; pods of one shape share a group (and its encoded bytes); a sidecar whose
// pod is unknown gets the outbound side only until the pod appears; an endpoint change still
// reaches a workload group as its assignment alone, and a pod change touches only that pod's
// proxies (their streams end and they reconnect into their new group).
import { TypeUrl } from '../../src/envoy/protos.js';
import { startFolderApp, syncSidecar, type FolderApp } from '../support/folder-app.js';

const MESH = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  clusterIP: 10.96.1.10
  selector: { app: api }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec:
  clusterIP: 10.96.1.20
  selector: { app: db }
  ports: [{ name: postgres, port: 5432 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-1
  namespace: shop
  labels: { kubernetes.io/service-name: api }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints:
  - addresses: [10.5.0.1]
    conditions: { ready: true }
`;

const pod = (name: string, ip: string, app: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: shop, labels: { app: ${app} } }
spec:
  serviceAccountName: ${app}
  containers: [{ name: app, ports: [{ name: http, containerPort: 8080 }] }]
status: { podIP: ${ip} }
`;

const WORKLOAD = (namespace: string, podName: string) => ({ 'switchyard.dev/namespace': namespace, 'switchyard.dev/pod': podName });

describe('sidecars grouped by workload shape', () => {
  let folder: FolderApp;

  /** A sidecar stream that has received (and ACKed) its listeners and clusters. */
  async function sidecar(id: string, metadata: Record<string, string>) {
    const { stream, clusters, listeners } = await syncSidecar(folder, id, metadata);
    return { stream, listeners: listeners.names.sort(), clusters: clusters.names.sort() };
  }

  const groupOf = (id: string) => folder.groupOf(id);

  beforeAll(async () => {
    folder = await startFolderApp('workloads', {
      'mesh.yaml': MESH,
      'api-1.yaml': pod('api-1', '10.5.0.1', 'api'),
      'api-2.yaml': pod('api-2', '10.5.0.2', 'api'),
    });
  });

  afterAll(async () => {
    await folder?.stop();
  });

  it('gives two pods of one shape one group, with the inbound listener and clusters beside the outbound side', async () => {
    const one = await sidecar('api-1.shop', WORKLOAD('shop', 'api-1'));
    const two = await sidecar('api-2.shop', WORKLOAD('shop', 'api-2'));
    expect(groupOf('api-1.shop')).toMatch(/^sidecar@[A-Za-z0-9_-]+$/);
    expect(groupOf('api-2.shop')).toBe(groupOf('api-1.shop'));
    expect(one.listeners).toEqual(['inbound', 'outbound']);
    expect(two.listeners).toEqual(['inbound', 'outbound']);
    expect(one.clusters).toEqual(['blackhole', 'inbound|8080', 'passthrough', 'shop/api/80', 'shop/db/5432']);
  });

  it('finds the pod by its IP when the metadata names only that', async () => {
    await sidecar('api-by-ip', { 'switchyard.dev/pod-ip': '10.5.0.2' });
    expect(groupOf('api-by-ip')).toBe(groupOf('api-1.shop'));
  });

  it('serves a sidecar whose pod is not known the outbound side only, in the plain sidecar group', async () => {
    const unknown = await sidecar('ghost.shop', WORKLOAD('shop', 'ghost'));
    expect(groupOf('ghost.shop')).toBe('sidecar');
    expect(unknown.listeners).toEqual(['outbound']);
    expect(unknown.clusters).toEqual(['blackhole', 'passthrough', 'shop/api/80', 'shop/db/5432']);
  });

  it('sends a workload group only the assignment an endpoint change touches', async () => {
    const { stream } = await sidecar('api-1b.shop', WORKLOAD('shop', 'api-1'));
    stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['shop/api/80'] });
    stream.ack(await stream.next(TypeUrl.ClusterLoadAssignment));
    folder.edit('mesh.yaml', 'addresses: [10.5.0.1]', 'addresses: [10.5.0.9]');
    const update = await stream.next(TypeUrl.ClusterLoadAssignment, 10000);
    stream.ack(update);
    expect(update.names).toEqual(['shop/api/80']);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await stream.barrier();
    expect(stream.pending()).toEqual([]);
  });

  it('on a pod change, ends only the streams of that pod (they reconnect into its new shape) and pushes nothing to the others', async () => {
    const one = await sidecar('api-1c.shop', WORKLOAD('shop', 'api-1'));
    const two = await sidecar('api-2c.shop', WORKLOAD('shop', 'api-2'));
    const before = groupOf('api-2c.shop');
    folder.write('api-2.yaml', pod('api-2', '10.5.0.2', 'db'));
    expect((await two.stream.status).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await one.stream.barrier();
    expect(one.stream.pending()).toEqual([]);
    expect(groupOf('api-1c.shop')).toBe(before);
    await sidecar('api-2d.shop', WORKLOAD('shop', 'api-2'));
    expect(groupOf('api-2d.shop')).not.toBe(before);
    expect(groupOf('api-2d.shop')).toMatch(/^sidecar@/);
  });

  it('ends the stream of a sidecar whose pod appears after it connected, and serves it the inbound side on reconnecting', async () => {
    const early = await sidecar('api-3.shop', WORKLOAD('shop', 'api-3'));
    expect(groupOf('api-3.shop')).toBe('sidecar');
    folder.write('api-3.yaml', pod('api-3', '10.5.0.3', 'api'));
    expect((await early.stream.status).code).toBe(0);
    const again = await sidecar('api-3.shop', WORKLOAD('shop', 'api-3'));
    expect(again.listeners).toEqual(['inbound', 'outbound']);
    expect(groupOf('api-3.shop')).toBe(groupOf('api-1.shop'));
  });
});
