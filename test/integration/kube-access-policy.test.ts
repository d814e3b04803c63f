// AccessPolicy through the Kubernetes source: the informer reads it, the model applies it to the
// Services it names, and the leader writes Accepted / ResolvedRefs through the status subresource
// only when they change.
import type { KubernetesMode } from '../../src/kubernetes/mode.js';
import type { Condition } from '../../src/sources/types.js';
import { eventually, KubeApiServer, NS, service, type JsonObject } from '../support/kube-api-server.js';
import { startTestReplica } from '../support/kube-replica.js';

function accessPolicy(name: string, spec: JsonObject): JsonObject {
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace: NS }, spec };
}

describe('AccessPolicy from the Kubernetes API', () => {
  let api: KubeApiServer;
  let mode: KubernetesMode;

  const condition = (name: string, type: string): Condition | undefined =>
    (api.get('AccessPolicy', NS, name)?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);
  const accessWrites = () => api.writes.filter((w) => w.path.includes('/accesspolicies/') && w.path.endsWith('/status'));

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
    api.apply(service('reviews'));
    api.apply(service('ratings'));
  });

  afterEach(async () => {
    await mode?.stop();
    await api.stop();
  });

  it('applies the policy to its Service and writes its status once; a fix or a deletion follows', async () => {
    api.apply(accessPolicy('reviews-strict', { targetRef: { kind: 'Service', name: 'reviews' }, mtls: 'Strict', allow: [] }));
    mode = await startTestReplica(api);
    const model = mode.app.pipeline.model;
    await eventually('status written', () => condition('reviews-strict', 'ResolvedRefs'));
    expect(model.serviceAccess('shop/reviews')).toMatchObject({ mtls: 'Strict', rules: [] });
    expect(model.serviceAccess('shop/ratings').mtls).toBe(model.defaultMtls);
    const status = api.get('AccessPolicy', NS, 'reviews-strict')!.status;
    expect(status.observedGeneration).toBe(1);
    expect(status.conditions.map((c: Condition) => [c.type, c.status])).toEqual([
      ['Accepted', 'True'],
      ['ResolvedRefs', 'True'],
    ]);
    await eventually('the writer counted its write', () => mode.accessStatusWriter!.writes === 1);

    // An unrelated change and the echo of our own write cause no second write; a policy made
    // invalid does, keeping its last valid spec in force.
    api.apply(service('details'));
    await eventually('the model has details', () => model.service('shop/details'));
    api.apply(
      accessPolicy('reviews-strict', {
        targetRef: { kind: 'Service', name: 'reviews' },
        mtls: 'Disable',
        allow: [{ from: { namespaces: ['shop'] } }],
      }),
    );
    await eventually('Accepted=False', () => condition('reviews-strict', 'Accepted')?.status === 'False');
    expect(condition('reviews-strict', 'Accepted')?.message).toMatch(/spec\.allow\[0\]\.from: .*mtls is Disable/);
    expect(api.get('AccessPolicy', NS, 'reviews-strict')!.status.observedGeneration).toBe(2);
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Strict');
    expect(accessWrites()).toHaveLength(2);

    api.delete('AccessPolicy', NS, 'reviews-strict');
    await eventually('back to the mesh default', () => model.serviceAccess('shop/reviews').mtls === model.defaultMtls);
  });

  it('a policy naming a missing Service gets ResolvedRefs=False, True once the Service appears', async () => {
    api.apply(accessPolicy('details', { targetRef: { kind: 'Service', name: 'details' }, mtls: 'Permissive' }));
    mode = await startTestReplica(api);
    await eventually('ResolvedRefs=False', () => condition('details', 'ResolvedRefs')?.reason === 'TargetNotFound');
    expect(condition('details', 'ResolvedRefs')?.message).toMatch(/spec\.targetRef\.name: Service shop\/details not found/);
    api.apply(service('details'));
    await eventually('ResolvedRefs=True', () => condition('details', 'ResolvedRefs')?.status === 'True');
  });
});
