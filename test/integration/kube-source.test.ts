// The Kubernetes source end to end: the real client-node informers against the test API server
// (real HTTP list/watch), Switchyard's pipeline and xDS server, and an ADS test client that
// decodes what a proxy receives.
import { MESH_TLS_ANNOTATION, PROXYLESS_TLS_ANNOTATION } from '../../src/sources/kubernetes.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { log } from '../../src/log.js';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { KubernetesSource, loadKubeConfig } from '../../src/sources/kubernetes.js';
import {
  ClusterWatcher,
  endpointSlice,
  eventually,
  ingress,
  ingressClass,
  KubeApiServer,
  lbPolicyNames,
  NS,
  service,
  tlsSecret,
  trafficPolicy,
} from '../support/kube-api-server.js';
import { XdsTestClient } from '../support/xds-client.js';

const FAST_DEBOUNCE = { quietMs: 5, maxMs: 50 };

describe('Kubernetes source', () => {
  let api: KubeApiServer;
  let app: Switchyard | undefined;
  let source: KubernetesSource;
  let client: XdsTestClient | undefined;

  async function startApp(options: { namespaces?: string[]; labelSelector?: string; pageSize?: number } = {}): Promise<Switchyard> {
    source = new KubernetesSource({ kubeConfig: api.kubeConfig('replica-a'), backoff: { initialMs: 50, maxMs: 400 }, ...options });
    app = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: null, debounce: FAST_DEBOUNCE });
    await app.ready;
    client = new XdsTestClient(app.xdsPort);
    return app;
  }

  beforeEach(async () => {
    api = new KubeApiServer({ bookmarkIntervalMs: 200 });
    await api.start();
  });

  afterEach(async () => {
    client?.close();
    client = undefined;
    await app?.stop();
    app = undefined;
    await api.stop();
  });

  it('lists every kind before it is ready, paging through long lists, and serves it', async () => {
    api.apply(service('reviews'));
    api.apply(endpointSlice('reviews', ['10.0.0.1', '10.0.0.2']));
    for (let i = 0; i < 7; i++) api.apply(service(`extra-${i}`, 8000 + i));
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'RoundRobin' } }));
    api.apply(ingressClass('switchyard'));
    api.apply(ingress('shop', 'reviews'));
    api.apply(tlsSecret('shop-tls'));
    // Not TLS: never read.
    api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-password', namespace: NS }, type: 'Opaque', data: { p: 'eA==' } });

    await startApp({ pageSize: 3 });
    expect(source.connected()).toBe(true);
    expect(api.reads.filter((r) => r.kind === 'Service' && !r.watch && r.continued)).toHaveLength(2);
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    const cds = await watcher.clusters(
      'reviews and the extras',
      (names) => names.includes('shop/reviews/9080') && names.filter((n) => n.includes('/')).length === 8,
    );
    expect(lbPolicyNames(cds, 'shop/reviews/9080')).toEqual(['envoy.load_balancing_policies.round_robin']);
    expect(await watcher.endpoints('shop/reviews/9080')).toEqual(['10.0.0.1', '10.0.0.2']);
    const model = app!.pipeline.model;
    expect(model.ingress(NS, 'shop')?.spec.rules?.[0].host).toBe('shop.example.com');
    expect(model.ingressClass('switchyard')?.spec.controller).toBe('switchyard.dev/gateway');
    expect(model.secrets().map((s) => s.metadata.name)).toEqual(['shop-tls']);
    // The API server itself filters: every Secret list and watch asks for TLS Secrets only.
    const secretReads = api.reads.filter((r) => r.kind === 'Secret');
    expect(secretReads.length).toBeGreaterThanOrEqual(2);
    expect(new Set(secretReads.map((r) => r.fieldSelector))).toEqual(new Set(['type=kubernetes.io/tls']));
    expect(model.policyStatus(NS, 'reviews')?.find((c) => c.type === 'Accepted')?.status).toBe('True');
  });

  it('delivers create, update and delete of every kind to a connected proxy (or the model, for gateway kinds)', async () => {
    await startApp();
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    await watcher.clusters('the empty initial set', (names) => names.length === 0);
    const model = app!.pipeline.model;

    // Service: create, update (a new port), delete.
    api.apply(service('reviews'));
    await watcher.clusters('reviews created', (names) => names.includes('shop/reviews/9080'));
    const updated = service('reviews');
    updated.spec.ports.push({ name: 'admin', port: 9090, targetPort: 9090, appProtocol: 'http' });
    api.apply(updated);
    await watcher.clusters('reviews with a second port', (names) => names.includes('shop/reviews/9090'));

    // EndpointSlice: create, update, delete.
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
    await eventually('one endpoint', async () => (await watcher.endpoints('shop/reviews/9080')).join() === '10.0.0.1');
    api.apply(endpointSlice('reviews', ['10.0.0.1', '10.0.0.3']));
    await eventually('two endpoints', async () => (await watcher.endpoints('shop/reviews/9080')).join() === '10.0.0.1,10.0.0.3');
    api.delete('EndpointSlice', NS, 'reviews-abc12');
    await eventually('no endpoints', async () => (await watcher.endpoints('shop/reviews/9080')).length === 0);

    // TrafficPolicy: create, update, delete change the cluster's LB policy.
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'RoundRobin' } }));
    await watcher.clusters('round robin', (_n, r) => /round_robin/.test(lbPolicyNames(r, 'shop/reviews/9080')[0] ?? ''));
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'Random' } }));
    await watcher.clusters('random', (_n, r) => /random/.test(lbPolicyNames(r, 'shop/reviews/9080')[0] ?? ''));
    api.delete('TrafficPolicy', NS, 'reviews');
    // Without a policy, Auto picks least_request.
    await watcher.clusters('the default policy again', (_n, r) => /least_request/.test(lbPolicyNames(r, 'shop/reviews/9080')[0] ?? ''));
    expect(model.policy(NS, 'reviews')).toBeUndefined();

    // Ingress, IngressClass and TLS Secret: the gateway translator reads them from the model.
    api.apply(ingressClass('switchyard'));
    api.apply(ingress('shop', 'reviews'));
    api.apply(tlsSecret('shop-tls'));
    await eventually(
      'gateway kinds created',
      () => model.ingress(NS, 'shop') && model.ingressClass('switchyard') && model.secret(NS, 'shop-tls'),
    );
    const changedIngress = ingress('shop', 'reviews');
    changedIngress.spec.rules[0].host = 'www.example.com';
    api.apply(changedIngress);
    api.apply(ingressClass('switchyard', 'example.com/other'));
    api.apply(tlsSecret('shop-tls', 'bmV3Y2VydA=='));
    await eventually(
      'gateway kinds updated',
      () =>
        model.ingress(NS, 'shop')?.spec.rules?.[0].host === 'www.example.com' &&
        model.ingressClass('switchyard')?.spec.controller === 'example.com/other' &&
        model.secret(NS, 'shop-tls')?.data?.['tls.crt'] === 'bmV3Y2VydA==',
    );
    api.delete('Ingress', NS, 'shop');
    api.delete('IngressClass', undefined, 'switchyard');
    api.delete('Secret', NS, 'shop-tls');
    await eventually(
      'gateway kinds deleted',
      () => !model.ingress(NS, 'shop') && !model.ingressClass('switchyard') && !model.secret(NS, 'shop-tls'),
    );

    api.delete('Service', NS, 'reviews');
    await watcher.clusters('reviews deleted', (names) => names.length === 0);
  });

  it('reads Pods, keeping only what maps them to workloads, and follows their IP and labels', async () => {
    api.apply(service('reviews'));
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'reviews-1', namespace: NS, labels: { app: 'reviews' }, annotations: { big: 'x'.repeat(1000) } },
      spec: {
        serviceAccountName: 'reviews',
        nodeName: 'node-a',
        volumes: [{ name: 'data', emptyDir: {} }],
        containers: [{ name: 'app', image: 'reviews:1', env: [{ name: 'A', value: 'b' }], ports: [{ name: 'http', containerPort: 9080 }] }],
      },
      status: { phase: 'Running', podIP: '10.1.0.7', conditions: [{ type: 'Ready', status: 'True' }] },
    };
    api.apply(pod);
    await startApp();
    const model = app!.pipeline.model;
    await eventually('the pod in the model', () => model.workload(NS, 'reviews-1'));
    expect(model.workload(NS, 'reviews-1')).toEqual({
      key: `${NS}/reviews-1`,
      namespace: NS,
      name: 'reviews-1',
      labels: { app: 'reviews' },
      ip: '10.1.0.7',
      serviceAccount: 'reviews',
      containerPorts: [{ name: 'http', port: 9080 }],
      meshTls: false,
      proxylessTls: false,
    });
    expect(model.selectingServices(model.workload(NS, 'reviews-1')!).map((s) => s.key)).toEqual([`${NS}/reviews`]);
    api.apply({ ...pod, metadata: { ...pod.metadata, labels: { app: 'other' } }, status: { ...pod.status, podIP: '10.1.0.8' } });
    await eventually('the pod update', () => (model.workload(NS, 'reviews-1')?.ip === '10.1.0.8' ? true : undefined));
    expect(model.workloadByIP('10.1.0.8')?.name).toBe('reviews-1');
    expect(model.workloadByIP('10.1.0.7')).toBeUndefined();
    expect(model.selectingServices(model.workload(NS, 'reviews-1')!)).toEqual([]);
    // The injection webhook's mark of a sidecar with the workload certificate is kept (as is the pod's egress scope; the rest is not).
    api.apply({ ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, [MESH_TLS_ANNOTATION]: '{}' } } });
    await eventually('the sidecar mark', () => (model.workload(NS, 'reviews-1')?.meshTls ? true : undefined));
    // So is the user's mark of proxyless gRPC with the workload certificate provider.
    api.apply({
      ...pod,
      metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, [PROXYLESS_TLS_ANNOTATION]: 'workload' } },
    });
    await eventually('the certificate provider mark', () => (model.workload(NS, 'reviews-1')?.proxylessTls ? true : undefined));
  });

  it('reads only the given namespaces and the objects the label selector picks', async () => {
    api.apply(service('reviews', 9080, { mesh: 'on' }));
    api.apply(service('hidden', 9080, { mesh: 'off' }));
    api.apply({
      ...service('elsewhere', 9080, { mesh: 'on' }),
      metadata: { name: 'elsewhere', namespace: 'other', labels: { mesh: 'on' } },
    });
    await startApp({ namespaces: [NS], labelSelector: 'mesh=on' });
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    await watcher.clusters('only reviews', (names) => names.join() === 'shop/reviews/9080');

    // A label change moves a Service in and out of the selection.
    api.apply(service('hidden', 9080, { mesh: 'on' }));
    await watcher.clusters('hidden selected', (names) => names.includes('shop/hidden/9080'));
    api.apply(service('reviews', 9080, { mesh: 'off' }));
    await watcher.clusters('reviews unselected', (names) => names.join() === 'shop/hidden/9080');
  });

  it('rejects an invalid object with a message naming the field, and keeps serving the rest', async () => {
    api.apply(service('reviews'));
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'Fastest' } }));
    await startApp();
    const model = app!.pipeline.model;
    const accepted = model.policyStatus(NS, 'reviews')?.find((c) => c.type === 'Accepted');
    expect(accepted?.status).toBe('False');
    expect(accepted?.message).toMatch(/TrafficPolicy shop\/reviews: spec\.loadBalancer\.policy/);
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    await watcher.clusters('reviews served anyway', (names) => names.includes('shop/reviews/9080'));
  });

  it('converges after a dropped watch, with changes made while it was down (resumed from history)', async () => {
    api.apply(service('reviews'));
    api.apply(service('ratings'));
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
    await startApp();
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    await watcher.clusters('initial', (names) => names.length === 2);

    api.blockWatches(true);
    expect(api.dropWatches()).toBeGreaterThan(0);
    await eventually('the source to notice', () => !source.connected());
    api.delete('Service', NS, 'ratings');
    api.apply(service('details'));
    api.apply(endpointSlice('reviews', ['10.0.0.9']));
    // The last config keeps being served meanwhile.
    expect(watcher.latest?.names.filter((n) => n.includes('/')).sort()).toEqual(['shop/ratings/9080', 'shop/reviews/9080']);

    api.blockWatches(false);
    await watcher.clusters('details added, ratings gone', (names) => names.sort().join() === 'shop/details/9080,shop/reviews/9080');
    await eventually('the new endpoint', async () => (await watcher.endpoints('shop/reviews/9080')).join() === '10.0.0.9');
    await eventually('connected again', () => source.connected());
    // Resumed from the kept history: no 410, and no list beyond the initial one per kind.
    expect(api.goneSent).toBe(0);
    expect(api.reads.filter((r) => !r.watch && r.kind === 'Service')).toHaveLength(1);
  });

  it('backs off when every watch ends as soon as it opens, instead of reconnecting in a loop', async () => {
    api.apply(service('reviews'));
    await startApp();
    const watches = () => api.reads.filter((r) => r.watch).length;
    api.endWatchesAtOnce(true);
    const before = watches();
    api.dropWatches();
    // With backoff from 50 ms doubling to 400 ms, 6 informers make a few dozen requests in a
    // second; reopening at once would make thousands.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const during = watches() - before;
    expect(during).toBeGreaterThan(6);
    expect(during).toBeLessThan(80);
    // Watches that stay open again: it settles, and changes flow.
    api.endWatchesAtOnce(false);
    api.apply(service('details'));
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    await watcher.clusters('details', (names) => names.includes('shop/details/9080'));
  });

  it('asks for bookmarks, so a quiet kind resumes after compaction instead of relisting', async () => {
    api.apply(service('reviews'));
    await startApp();
    expect(api.reads.filter((r) => r.watch).every((r) => r.bookmarks)).toBe(true);
    // Other kinds move the global version on; Services stay quiet.
    for (let i = 0; i < 5; i++) api.apply(tlsSecret(`cert-${i}`));
    // Two bookmarks to every watch: the first carries the new version, and by the second the
    // client has read it (counting bookmarks over all watches let a quiet one miss its turn).
    const bookmarked = api.fewestBookmarks();
    await eventually('two bookmark rounds', () => api.fewestBookmarks() >= bookmarked + 2);
    api.compact();
    api.dropWatches();
    await eventually('watches reopened', () => api.openWatches('Service') === 1 && api.openWatches('Secret') === 1);
    expect(api.goneSent).toBe(0);
    expect(api.reads.filter((r) => !r.watch && r.kind === 'Service')).toHaveLength(1);
  });

  it('relists after 410 Gone, deleting what vanished and updating what changed while away', async () => {
    api.apply(service('reviews'));
    api.apply(service('ratings'));
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'RoundRobin' } }));
    await startApp();
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    await watcher.clusters(
      'initial',
      (names, r) => names.length === 2 && /round_robin/.test(lbPolicyNames(r, 'shop/reviews/9080')[0] ?? ''),
    );
    const watchesBefore = api.writes.length;

    api.blockWatches(true);
    api.dropWatches();
    await eventually('the source to notice', () => !source.connected());
    api.delete('Service', NS, 'ratings');
    api.apply(service('details'));
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'Random' } }));
    // The history the informers would resume from is gone: they must list again.
    api.compact();
    api.blockWatches(false);

    await watcher.clusters(
      'details added, ratings gone, reviews random',
      (names, r) =>
        names.sort().join() === 'shop/details/9080,shop/reviews/9080' && /random/.test(lbPolicyNames(r, 'shop/reviews/9080')[0] ?? ''),
    );
    await eventually('connected again', () => source.connected());
    expect(api.goneSent).toBeGreaterThan(0);
    expect(api.reads.filter((r) => !r.watch && r.kind === 'Service').length).toBeGreaterThan(1);
    expect(app!.pipeline.model.service('shop/ratings')).toBeUndefined();
    // Reading never writes.
    expect(api.writes.length).toBe(watchesBefore);
  });

  it('relists when more changed while away than the server keeps in its history', async () => {
    await api.stop();
    api = new KubeApiServer({ historyLimit: 3 });
    await api.start();
    api.apply(service('reviews'));
    await startApp();
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    await watcher.clusters('initial', (names) => names.length === 1);
    api.blockWatches(true);
    api.dropWatches();
    await eventually('the source to notice', () => !source.connected());
    for (let i = 0; i < 5; i++) api.apply(service(`extra-${i}`));
    api.blockWatches(false);
    await watcher.clusters('every extra', (names) => names.length === 6);
    expect(api.goneSent).toBeGreaterThan(0);
  });

  /** Log lines while `during` runs (the console transport muted meanwhile). */
  async function captureLog(during: () => Promise<void>): Promise<Array<{ level: string; message: string }>> {
    const lines: Array<{ level: string; message: string }> = [];
    const sink = new winston.transports.Stream({
      stream: new Writable({
        objectMode: true,
        write(chunk: unknown, _encoding, callback) {
          lines.push({ ...(chunk as { level: string; message: string }) });
          callback();
        },
      }),
      format: winston.format.json(),
    });
    const level = log.level;
    const muted = log.transports.map((t) => t.silent);
    log.transports.forEach((t) => (t.silent = true));
    log.add(sink);
    log.level = 'info';
    try {
      await during();
    } finally {
      log.remove(sink);
      log.level = level;
      log.transports.forEach((t, i) => (t.silent = muted[i]));
    }
    return lines;
  }

  it('keeps serving the last config while the API server is down, then catches up', async () => {
    api.apply(service('reviews'));
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
    await startApp();
    const watcher = new ClusterWatcher(client!, 'envoy-1');
    await watcher.clusters('initial', (names) => names.join() === 'shop/reviews/9080');

    const lines = await captureLog(async () => {
      await api.stop();
      await eventually('the source to notice', () => !source.connected());
      // A proxy that connects now still gets the last config.
      const fresh = new ClusterWatcher(client!, 'envoy-2');
      await fresh.clusters('the last config', (names) => names.join() === 'shop/reviews/9080');
      expect(await fresh.endpoints('shop/reviews/9080')).toEqual(['10.0.0.1']);
      expect(app!.isReady()).toBe(true);

      // Changes the source could not see yet (the store lives on across the restart).
      api.apply(service('details'));
      api.apply(endpointSlice('reviews', ['10.0.0.2']));
      // Long enough for every informer to retry more than once.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await api.restart();
      await watcher.clusters('caught up', (names) => names.sort().join() === 'shop/details/9080,shop/reviews/9080');
      await eventually('the new endpoint', async () => (await watcher.endpoints('shop/reviews/9080')).join() === '10.0.0.2');
      await eventually('connected again', () => source.connected());
    });
    // One line for the outage however many retries failed, one for the recovery.
    expect(lines.filter((l) => /unreachable/.test(l.message)).map((l) => [l.level, l.message])).toEqual([
      ['warn', 'Kubernetes API server unreachable; serving the last known configuration until it is back'],
    ]);
    expect(lines.filter((l) => /reachable again/.test(l.message))).toHaveLength(1);
  });

  it('reports the API server connection on the admin gauge switchyard_source_connected', async () => {
    api.apply(service('reviews'));
    source = new KubernetesSource({ kubeConfig: api.kubeConfig(), backoff: { initialMs: 50, maxMs: 200 } });
    app = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: 0, debounce: FAST_DEBOUNCE });
    await app.ready;
    const gauge = async () => {
      const text = await (await fetch(`http://127.0.0.1:${app!.adminPort}/metrics`)).text();
      return /^switchyard_source_connected (\d)$/m.exec(text)?.[1];
    };
    expect(await gauge()).toBe('1');
    await api.stop();
    await eventually('the gauge at 0', async () => (await gauge()) === '0');
    await api.restart();
    await eventually('the gauge at 1', async () => (await gauge()) === '1');
  });

  it('says once when the API server refuses a kind (RBAC), and lists it when it is allowed again', async () => {
    api.apply(tlsSecret('shop-tls'));
    api.failNext('GET', 'Secret', 403, 3);
    const lines = await captureLog(async () => {
      await startApp();
    });
    const refusals = lines.filter((l) => /refused/.test(l.message)) as Array<{
      level: string;
      message: string;
      informer?: string;
      hint?: string;
    }>;
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({
      level: 'error',
      informer: 'Secret',
      error: 'HTTP 403: injected failure (test control)',
      hint: expect.stringMatching(/^forbidden/),
    });
    expect(app!.pipeline.model.secret(NS, 'shop-tls')).toBeDefined();
  });

  it('is not ready until the API server answers, then lists', async () => {
    await api.stop();
    api.apply(service('reviews'));
    source = new KubernetesSource({ kubeConfig: api.kubeConfig(), backoff: { initialMs: 50, maxMs: 200 } });
    app = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: null, debounce: FAST_DEBOUNCE });
    let ready = false;
    void app.ready.then(() => (ready = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ready).toBe(false);
    expect(source.connected()).toBe(false);
    await api.restart();
    await app.ready;
    expect(app.pipeline.model.service('shop/reviews')).toBeDefined();
  });

  it('reads the API server address and credentials from a kubeconfig file', async () => {
    api.apply(service('reviews'));
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-kubeconfig-'));
    const file = path.join(dir, 'config');
    writeFileSync(file, api.kubeConfigYaml('from-file'));
    source = new KubernetesSource({ kubeconfigPath: file });
    expect(source.server).toBe(api.url);
    app = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: null, debounce: FAST_DEBOUNCE });
    await app.ready;
    expect(app.pipeline.model.service('shop/reviews')).toBeDefined();

    const empty = path.join(dir, 'empty');
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    expect(() => loadKubeConfig(empty)).toThrow(`kubeconfig ${empty} has no current cluster`);
  });
});
