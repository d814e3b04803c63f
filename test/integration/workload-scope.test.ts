// Workload egress scopes over ADS as Envoy sees it, from a manifest folder: a Pod's own
// `switchyard.dev/egress` annotation replaces its namespace's scope. Two pods of one shape and
// scope share a group; annotating one of them ends that pod's stream alone (the other is not
// touched), and the proxy, reconnecting with the versions it holds as Envoy does, is told only
// what left its new, smaller set; an endpoint change of a Service now out of its scope does not
// reach it, while it still reaches the other pod. A Namespace scope change leaves pods with their
// own scope alone.
import type { Switchyard } from '../../src/app.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { DeltaTestStream } from '../support/xds-client.js';
import { apiPodManifest, serviceManifest, startFolderApp, syncSidecar, type FolderApp } from '../support/folder-app.js';

const SHOP_API = 'shop/api/80';
const SHARED_AUTH = 'shared/auth/80';
const OTHER_REPORTS = 'other/reports/80';

describe('workload egress scopes (a Pod annotation), live', () => {
  let folder: FolderApp;
  let app: Switchyard;

  const meta = (pod: string) => ({ 'switchyard.dev/namespace': 'shop', 'switchyard.dev/pod': pod });
  const groupOf = (id: string) => folder.groupOf(id);

  /** A sidecar that has its clusters and listeners (ACKed) and watches the assignments of `eds`. */
  async function sidecar(id: string, pod: string, eds: string[], held?: Record<string, string>) {
    const { stream, clusters } = await syncSidecar(folder, id, meta(pod), eds, held ? { initialResourceVersions: held } : {});
    const versions = Object.fromEntries(clusters.resources.map((r) => [r.name, r.version ?? '']));
    return { stream, clusters, versions };
  }

  const moveEndpoint = (file: string, from: string, to: string) => folder.edit(file, `addresses: [${from}]`, `addresses: [${to}]`);

  /** Whatever the server was going to send has arrived, and it sent nothing. */
  async function quiet(stream: DeltaTestStream): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 150));
    await stream.barrier();
    expect(stream.pending()).toEqual([]);
  }

  beforeAll(async () => {
    folder = await startFolderApp('workload-scope', {
      'shop-ns.yaml':
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations: { switchyard.dev/egress: "./*,shared/*" }\n',
      'shop.yaml': serviceManifest('shop', 'api', '10.96.0.10', '10.5.0.1'),
      'shared.yaml': serviceManifest('shared', 'auth', '10.96.1.10', '10.5.1.1'),
      'other.yaml': serviceManifest('other', 'reports', '10.96.2.10', '10.5.2.1'),
      'api-1.yaml': apiPodManifest('api-1', '10.5.0.1'),
      'api-2.yaml': apiPodManifest('api-2', '10.5.0.2'),
    });
    app = folder.app;
  });

  afterAll(async () => {
    await folder?.stop();
  });

  it("moves an annotated pod's sidecar to its smaller set, leaves its neighbour alone, and keeps out-of-scope changes from it", async () => {
    const one = await sidecar('api-1.shop', 'api-1', [SHOP_API, SHARED_AUTH]);
    const two = await sidecar('api-2.shop', 'api-2', [SHOP_API, SHARED_AUTH]);
    const shared = groupOf('api-1.shop');
    expect(shared).toMatch(/^sidecar~[\w-]+@[\w-]+$/);
    expect(groupOf('api-2.shop')).toBe(shared);
    expect(one.clusters.names.sort()).toEqual(['blackhole', 'inbound|8080', 'passthrough', SHARED_AUTH, SHOP_API]);

    // Annotate api-1 alone: its own namespace only.
    folder.write('api-1.yaml', apiPodManifest('api-1', '10.5.0.1', './*'));
    expect((await one.stream.status).code).toBe(0);
    // Its neighbour's stream is not ended, and nothing of its group changed.
    await quiet(two.stream);
    expect(groupOf('api-2.shop')).toBe(shared);

    // Reconnecting as Envoy does, with the versions it holds: told only that shared/auth is gone.
    const again = await sidecar('api-1.shop', 'api-1', [SHOP_API], one.versions);
    const moved = groupOf('api-1.shop');
    expect(moved).toMatch(/^sidecar~[\w-]+@[\w-]+$/);
    expect(moved).not.toBe(shared);
    expect(moved?.split('@')[1]).toBe(shared?.split('@')[1]);
    expect(again.clusters.names).toEqual([]);
    expect(again.clusters.removedResources).toEqual([SHARED_AUTH]);
    expect([...app.cache.resources(moved!, TypeUrl.Cluster).keys()].sort()).toEqual(['blackhole', 'inbound|8080', 'passthrough', SHOP_API]);
    // The smaller set holds the very stored resource of the unscoped group: encoded once.
    expect(app.cache.get(moved!, TypeUrl.Cluster, SHOP_API)).toBe(app.cache.get('sidecar', TypeUrl.Cluster, SHOP_API));

    // shared/auth is out of api-1's scope now: its endpoint change reaches api-2 only.
    moveEndpoint('shared.yaml', '10.5.1.1', '10.5.1.9');
    const update = await two.stream.next(TypeUrl.ClusterLoadAssignment, 10000);
    two.stream.ack(update);
    expect(update.names).toEqual([SHARED_AUTH]);
    await quiet(again.stream);
    // And one of other/reports, in no scope here, reaches neither.
    moveEndpoint('other.yaml', '10.5.2.1', '10.5.2.9');
    await new Promise((resolve) => setTimeout(resolve, 150));
    await quiet(again.stream);
    await quiet(two.stream);
    expect(app.cache.resources(moved!, TypeUrl.ClusterLoadAssignment).has(OTHER_REPORTS)).toBe(false);
  });

  it('refuses an annotation that does not parse, naming the pod, and keeps the namespace scope for it', async () => {
    const before = await sidecar('api-2b.shop', 'api-2', [SHOP_API]);
    const group = groupOf('api-2b.shop');
    folder.write('api-2.yaml', apiPodManifest('api-2', '10.5.0.2', './*, shared'));
    const problem = await waitFor(() => app.pipeline.problemTracker.problems().find((p) => p.code === 'PodEgressScopeInvalid'));
    expect(problem).toMatchObject({
      object: { kind: 'Pod', namespace: 'shop', name: 'api-2' },
      field: 'metadata.annotations["switchyard.dev/egress"]',
    });
    expect(problem.message).toContain('"shared" is not <namespace>/<service>');
    expect(problem.file).toMatch(/api-2\.yaml$/);
    // Same effective scope as before: the stream stays, in its group.
    await quiet(before.stream);
    expect(groupOf('api-2b.shop')).toBe(group);
  });

  it('ends, on a Namespace scope change, the streams of its pods without a scope of their own, not those with one', async () => {
    // api-1 has its own scope ("./*"); api-2's annotation is refused, so it has the namespace's.
    const own = await sidecar('api-1c.shop', 'api-1', [SHOP_API]);
    const inherits = await sidecar('api-2c.shop', 'api-2', [SHOP_API]);
    folder.write(
      'shop-ns.yaml',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations: { switchyard.dev/egress: "./*,other/*" }\n',
    );
    expect((await inherits.stream.status).code).toBe(0);
    await quiet(own.stream);
    const again = await sidecar('api-2d.shop', 'api-2', []);
    expect(again.clusters.names.sort()).toEqual(['blackhole', 'inbound|8080', OTHER_REPORTS, 'passthrough', SHOP_API]);
  });
});

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
