// The test API server itself, through the real client-node API clients: what the source, the
// leader election and the status writer rely on must behave as on a real API server.
import http from 'node:http';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { KubeApiServer, NS, service, trafficPolicy } from '../support/kube-api-server.js';

const TP = { group: 'switchyard.dev', version: 'v1alpha1', plural: 'trafficpolicies' };

async function httpCode(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code;
  }
}

describe('test API server', () => {
  let api: KubeApiServer;

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
  });

  afterEach(async () => {
    await api.stop();
  });

  it('pages lists with limit and continue at one resourceVersion, namespaced and across namespaces', async () => {
    for (const name of ['a', 'b', 'c']) api.apply(service(name));
    api.apply({ ...service('d'), metadata: { name: 'd', namespace: 'other' } });
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const first = await core.listServiceForAllNamespaces({ limit: 2 });
    expect(first.items.map((s) => s.metadata?.name)).toEqual(['d', 'a']);
    expect(first.metadata?._continue).toBeTruthy();
    const second = await core.listServiceForAllNamespaces({ limit: 2, _continue: first.metadata!._continue });
    expect(second.items.map((s) => s.metadata?.name)).toEqual(['b', 'c']);
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(second.metadata?._continue).toBeUndefined();
    const namespaced = await core.listNamespacedService({ namespace: 'other' });
    expect(namespaced.items.map((s) => s.metadata?.name)).toEqual(['d']);
  });

  it('keeps the status on spec writes, bumps generation only for spec changes, and refuses stale versions', async () => {
    const created = api.apply(trafficPolicy('reviews', 'reviews'));
    const custom = api.kubeConfig('writer').makeApiClient(CustomObjectsApi);
    const withStatus = await custom.replaceNamespacedCustomObjectStatus({
      ...TP,
      namespace: NS,
      name: 'reviews',
      body: { ...created, status: { observedGeneration: 1, conditions: [] } },
    });
    expect(withStatus.metadata.generation).toBe(1);
    // The same PUT again carries a stale resourceVersion.
    expect(
      await httpCode(
        custom.replaceNamespacedCustomObjectStatus({ ...TP, namespace: NS, name: 'reviews', body: { ...created, status: {} } }),
      ),
    ).toBe(409);
    // A spec change: new generation, status kept.
    const changed = api.apply(trafficPolicy('reviews', 'reviews', { timeout: '5s' }));
    expect(changed.metadata.generation).toBe(2);
    expect(changed.status).toEqual({ observedGeneration: 1, conditions: [] });
    // Merge patch of the status only.
    const patched = await custom.patchNamespacedCustomObjectStatus(
      { ...TP, namespace: NS, name: 'reviews', body: { status: { observedGeneration: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.status).toEqual({ observedGeneration: 2, conditions: [] });
    expect(patched.spec.timeout).toBe('5s');
    expect(api.statusWrites('writer')).toBe(3);
    // Only merge patches are understood.
    expect(
      await httpCode(
        custom.patchNamespacedCustomObjectStatus({
          ...TP,
          namespace: NS,
          name: 'reviews',
          body: [{ op: 'add', path: '/status', value: {} }],
        }),
      ),
    ).toBe(415);
  });

  it('creates Leases once and updates them only at the version read', async () => {
    const leases = api.kubeConfig().makeApiClient(CoordinationV1Api);
    const namespace = 'switchyard-system';
    expect(await httpCode(leases.readNamespacedLease({ name: 'l', namespace }))).toBe(404);
    const body = { metadata: { name: 'l', namespace }, spec: { holderIdentity: 'a', leaseDurationSeconds: 1 } };
    const created = await leases.createNamespacedLease({ namespace, body });
    expect(await httpCode(leases.createNamespacedLease({ namespace, body }))).toBe(409);
    const updated = await leases.replaceNamespacedLease({
      name: 'l',
      namespace,
      body: { ...created, spec: { ...created.spec, holderIdentity: 'b' } },
    });
    expect(updated.spec?.holderIdentity).toBe('b');
    expect(
      await httpCode(leases.replaceNamespacedLease({ name: 'l', namespace, body: { ...created, spec: { holderIdentity: 'c' } } })),
    ).toBe(409);
  });

  it('answers a watch from a compacted version with a 410 ERROR event, and one from the history with what followed', async () => {
    api.apply(service('a'));
    const from = api.resourceVersion;
    api.apply(service('b'));
    api.delete('Service', NS, 'a');
    /** The watch's lines until it ends, or for 200 ms when it stays open. */
    const read = (rv: number) =>
      new Promise<Array<{ type: string; object: { code?: number; metadata?: { name?: string } } }>>((resolve, reject) => {
        let text = '';
        const request = http.get(`${api.url}/api/v1/namespaces/${NS}/services?watch=true&resourceVersion=${rv}`, (response) => {
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          const finish = () =>
            resolve(
              text
                .split('\n')
                .filter(Boolean)
                .map((line) => JSON.parse(line)),
            );
          response.on('end', finish);
          setTimeout(() => {
            request.destroy();
            finish();
          }, 200);
        });
        request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
      });
    const resumed = await read(from);
    expect(resumed.map((l) => [l.type, l.object.metadata?.name])).toEqual([
      ['ADDED', 'b'],
      ['DELETED', 'a'],
    ]);
    api.compact();
    const gone = await read(from);
    expect(gone.map((l) => [l.type, l.object.code])).toEqual([['ERROR', 410]]);
  });
});
