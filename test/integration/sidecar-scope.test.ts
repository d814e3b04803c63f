// Egress scopes over ADS as Envoy sees it: a Namespace's `switchyard.dev/egress` annotation limits
// what its sidecars receive to the Services it names; sidecars of one scope share a group (and the
// very bytes of the unscoped group's resources); an endpoint change outside the scope sends a
// scoped sidecar nothing, one inside sends it the assignment alone; a changed annotation regroups.
import type { Switchyard } from '../../src/app.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { apiPodManifest, serviceManifest, startFolderApp, syncSidecar, type FolderApp } from '../support/folder-app.js';

const namespace = (name: string, egress?: string) => `
apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
${egress === undefined ? '' : `  annotations: { switchyard.dev/egress: "${egress}" }`}
`;

const SHOP_API = 'shop/api/80';
const SHARED_AUTH = 'shared/auth/80';
const OTHER_REPORTS = 'other/reports/80';

describe('sidecar egress scopes', () => {
  let folder: FolderApp;
  let app: Switchyard;

  /** A sidecar stream that has received (and ACKed) its clusters, listeners and the assignments of `eds`. */
  async function sidecar(id: string, metadata: Record<string, string>, eds: string[] = []) {
    const { stream, clusters, listeners } = await syncSidecar(folder, id, metadata, eds);
    return { stream, clusters: clusters.names.sort(), listeners: listeners.names.sort() };
  }

  const groupOf = (id: string) => folder.groupOf(id);
  const POD_META = { 'switchyard.dev/namespace': 'shop', 'switchyard.dev/pod': 'api-1' };

  /** Moves one Service's endpoint (an EndpointSlice edit). */
  const moveEndpoint = (file: string, from: string, to: string) => folder.edit(file, `addresses: [${from}]`, `addresses: [${to}]`);

  beforeAll(async () => {
    folder = await startFolderApp('scope', {
      'shop-ns.yaml': namespace('shop', './*,shared/*'),
      'shop.yaml': serviceManifest('shop', 'api', '10.96.0.10', '10.5.0.1'),
      'shared.yaml': serviceManifest('shared', 'auth', '10.96.1.10', '10.5.1.1'),
      'other.yaml': serviceManifest('other', 'reports', '10.96.2.10', '10.5.2.1'),
      'pod.yaml': apiPodManifest('api-1', '10.5.0.1'),
    });
    app = folder.app;
  });

  afterAll(async () => {
    await folder?.stop();
  });

  it("gives a scoped namespace's sidecars its own and the shared Services only; others get everything", async () => {
    const scoped = await sidecar('api-1.shop', POD_META);
    const nsOnly = await sidecar('x.shop', { 'switchyard.dev/namespace': 'shop' });
    const plain = await sidecar('plain', {});
    expect(groupOf('api-1.shop')).toMatch(/^sidecar~[A-Za-z0-9_-]+@[A-Za-z0-9_-]+$/);
    expect(groupOf('x.shop')).toBe(groupOf('api-1.shop')?.split('@')[0]);
    expect(groupOf('plain')).toBe('sidecar');
    expect(scoped.clusters).toEqual(['blackhole', 'inbound|8080', 'passthrough', SHARED_AUTH, SHOP_API]);
    expect(scoped.listeners).toEqual(['inbound', 'outbound']);
    expect(nsOnly.clusters).toEqual(['blackhole', 'passthrough', SHARED_AUTH, SHOP_API]);
    expect(plain.clusters).toEqual(['blackhole', OTHER_REPORTS, 'passthrough', SHARED_AUTH, SHOP_API]);
    // Encode once: the scoped group holds the very stored resource of the unscoped group.
    const scopedGroup = groupOf('x.shop')!;
    expect(app.cache.get(scopedGroup, TypeUrl.Cluster, SHARED_AUTH)).toBe(app.cache.get('sidecar', TypeUrl.Cluster, SHARED_AUTH));
    expect(app.cache.resources(scopedGroup, TypeUrl.ClusterLoadAssignment).has(OTHER_REPORTS)).toBe(false);
    // The route configuration of port 80 has virtual hosts for the scope's Services only.
    const routes = app.cache.get(scopedGroup, TypeUrl.RouteConfiguration, '80');
    const text = Buffer.from(routes!.bytes).toString('latin1');
    expect(text).toContain('shop/api/80');
    expect(text).toContain('shared/auth/80');
    expect(text).not.toContain('other/reports');
  });

  it('sends a scoped sidecar nothing for an endpoint change outside its scope, and the assignment alone for one inside', async () => {
    const scoped = await sidecar('api-1b.shop', POD_META, [SHOP_API, SHARED_AUTH]);
    const plain = await sidecar('plain-b', {}, [OTHER_REPORTS]);

    moveEndpoint('other.yaml', '10.5.2.1', '10.5.2.9');
    const seen = await plain.stream.next(TypeUrl.ClusterLoadAssignment, 10000);
    plain.stream.ack(seen);
    expect(seen.names).toEqual([OTHER_REPORTS]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await scoped.stream.barrier();
    expect(scoped.stream.pending()).toEqual([]);

    const encodesBefore = app.cache.stats().encodes;
    moveEndpoint('shared.yaml', '10.5.1.1', '10.5.1.9');
    const update = await scoped.stream.next(TypeUrl.ClusterLoadAssignment, 10000);
    scoped.stream.ack(update);
    expect(update.names).toEqual([SHARED_AUTH]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await scoped.stream.barrier();
    expect(scoped.stream.pending()).toEqual([]);
    // The Service's cluster and assignment are encoded once for the unscoped, scoped and workload groups together.
    expect(app.cache.stats().encodes - encodesBefore).toBe(2);
  });

  it("regroups a namespace's sidecars when its scope changes, and a reconnecting one gets the new scope", async () => {
    const scoped = await sidecar('api-1c.shop', POD_META);
    const plain = await sidecar('plain-c', {});
    const before = groupOf('api-1c.shop');
    folder.write('shop-ns.yaml', namespace('shop', './*'));
    expect((await scoped.stream.status).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await plain.stream.barrier();
    expect(plain.stream.pending()).toEqual([]);
    const again = await sidecar('api-1c.shop', POD_META);
    expect(groupOf('api-1c.shop')).not.toBe(before);
    expect(again.clusters).toEqual(['blackhole', 'inbound|8080', 'passthrough', SHOP_API]);
  });

  it('refuses an annotation that does not parse, naming the field, and serves the namespace everything', async () => {
    const scoped = await sidecar('api-1d.shop', POD_META);
    folder.write('shop-ns.yaml', namespace('shop', './*, shared'));
    expect((await scoped.stream.status).code).toBe(0);
    const again = await sidecar('api-1d.shop', POD_META);
    expect(groupOf('api-1d.shop')).toMatch(/^sidecar@/);
    expect(again.clusters).toEqual(['blackhole', 'inbound|8080', OTHER_REPORTS, 'passthrough', SHARED_AUTH, SHOP_API]);
    const problem = app.pipeline.problemTracker.problems().find((p) => p.code === 'EgressScopeInvalid');
    expect(problem).toMatchObject({ object: { kind: 'Namespace', name: 'shop' }, field: 'metadata.annotations["switchyard.dev/egress"]' });
    expect(problem?.file).toMatch(/shop-ns\.yaml$/);
    expect(problem?.message).toContain('"shared" is not <namespace>/<service>');
  });
});
