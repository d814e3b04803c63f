// Mutual TLS while pods are mid-rollout: Strict Services whose pods cannot all answer TLS are
// diagnosed (StrictPodWithoutCertificate, StrictServiceMixedTls), and Envoy clusters to a Service
// with some TLS pods pick TLS per endpoint (transport_socket_matches + endpoint metadata) while
// proxyless gRPC, which has no such field, keeps plain clusters and untagged assignments.
import { Analysis, analyze } from '../../src/analysis/analyze.js';
import { SourceRecords } from '../../src/analysis/index.js';
import { MeshModel, MESH_TLS_ANNOTATION, PROXYLESS_TLS_ANNOTATION } from '../../src/model/index.js';
import { translateAll, translateEndpointsFor, translateServiceClusters, TLS_ENDPOINT_MATCH } from '../../src/translate/index.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { PROXYLESS_GROUP, SIDECAR_GROUP } from '../../src/cache/types.js';
import { decodeMessage, encodeMessage, TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import { validateResource } from '../../src/envoy/validation-rules.js';
import { baselineShape } from '../../src/clients/index.js';
import type { PodObject, SourceEvent } from '../../src/sources/types.js';
import { accessPolicy, endpointsAt, remove, service, slice, upsert, upserts } from '../support/builders.js';

type Tls = 'sidecar' | 'provider' | 'none';

const pod = (name: string, tls: Tls, ip: string, serviceAccount = name.replace(/-\d+$/, '')): PodObject =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'shop',
      labels: { app: 'reviews' },
      ...(tls === 'sidecar' ? { annotations: { [MESH_TLS_ANNOTATION]: '{}' } } : {}),
      ...(tls === 'provider' ? { annotations: { [PROXYLESS_TLS_ANNOTATION]: 'workload' } } : {}),
    },
    spec: { serviceAccountName: serviceAccount, containers: [{ name: 'app', ports: [{ containerPort: 9080 }] }] },
    status: { podIP: ip },
  }) as PodObject;

const reviews = service('reviews', [{ name: 'grpc', port: 9080, appProtocol: 'grpc' }], { selector: { app: 'reviews' } });
const reviewsSlice = (...ips: string[]) => slice('reviews-1', 'reviews', endpointsAt(...ips), [{ name: 'grpc', port: 9080 }]);
const strict = accessPolicy('reviews-strict', { targetRef: { name: 'reviews' }, mtls: 'Strict' });

function analysed(events: SourceEvent[], defaultMtls?: 'Strict'): ReturnType<typeof analyze> {
  const model = new MeshModel(defaultMtls ? { defaultMtls } : {});
  const records = new SourceRecords();
  model.apply(events);
  records.apply(events);
  return analyze({ model, records });
}

describe('Strict Services whose pods cannot all answer mutual TLS', () => {
  it('names the pod without a workload certificate, the policy and the fix', () => {
    const problems = analysed(upserts(reviews, strict, pod('reviews-0', 'provider', '10.5.0.1'), pod('reviews-1', 'none', '10.5.0.2')));
    const without = problems.find((p) => p.code === 'StrictPodWithoutCertificate');
    expect(without).toMatchObject({
      severity: 'error',
      object: { kind: 'AccessPolicy', namespace: 'shop', name: 'reviews-strict' },
      field: 'spec.mtls',
    });
    expect(without?.message).toContain('Service shop/reviews');
    expect(without?.message).toContain('shop/reviews-1');
    expect(without?.message).not.toContain('shop/reviews-0');
    expect(without?.message).toContain('gets no Listener');
    expect(without?.fix).toContain('switchyard.dev/certificate-provider: workload');
    expect(without?.fix).toContain('mtls: Permissive');
  });

  it('says that proxyless callers are refused when TLS pods and plain pods share the Service', () => {
    const mixed = analysed(upserts(reviews, strict, pod('reviews-0', 'sidecar', '10.5.0.1'), pod('reviews-1', 'none', '10.5.0.2')));
    expect(mixed.map((p) => p.code).sort()).toEqual(['StrictPodWithoutCertificate', 'StrictServiceMixedTls']);
    const message = mixed.find((p) => p.code === 'StrictServiceMixedTls')?.message ?? '';
    expect(message).toMatch(/mutual TLS \(shop\/reviews-0\) and plain text \(shop\/reviews-1\)/);
    expect(message).toContain('proxyless gRPC callers are sent plain text');

    // No pod answers TLS: nobody refuses plain text, so only the pods are named.
    const none = analysed(upserts(reviews, strict, pod('reviews-0', 'none', '10.5.0.1')));
    expect(none.map((p) => p.code)).toEqual(['StrictPodWithoutCertificate']);
  });

  it('finds nothing when every pod answers TLS, or under Permissive', () => {
    expect(analysed(upserts(reviews, strict, pod('reviews-0', 'sidecar', '10.5.0.1'), pod('reviews-1', 'provider', '10.5.0.2')))).toEqual(
      [],
    );
    const permissive = accessPolicy('reviews-open', { targetRef: { name: 'reviews' }, mtls: 'Permissive' });
    expect(analysed(upserts(reviews, permissive, pod('reviews-0', 'sidecar', '10.5.0.1'), pod('reviews-1', 'none', '10.5.0.2')))).toEqual(
      [],
    );
  });

  it('puts a problem of the mesh default on the Service, and lists at most five pods', () => {
    const pods = [0, 1, 2, 3, 4, 5, 6].map((i) => pod(`reviews-${i}`, 'none', `10.5.0.${i + 1}`));
    const [problem, ...rest] = analysed(upserts(reviews, ...pods), 'Strict');
    expect(rest).toEqual([]);
    expect(problem.object).toEqual({ kind: 'Service', namespace: 'shop', name: 'reviews' });
    expect(problem.field).toBeUndefined();
    expect(problem.message).toContain('--mtls-mode Strict');
    expect(problem.message).toContain('shop/reviews-4 and 2 more');
    expect(problem.fix).toContain('AccessPolicy with mtls: Permissive');
  });

  it('a running control plane re-checks it when only a pod changed, and agrees with a whole analysis', () => {
    const model = new MeshModel();
    const records = new SourceRecords();
    const analysis = new Analysis();
    const first = upserts(reviews, strict, pod('reviews-0', 'sidecar', '10.5.0.1'), pod('reviews-1', 'none', '10.5.0.2'));
    records.apply(first);
    expect(analysis.run({ model, records }, model.apply(first)).length).toBe(2);

    // The second pod gets its sidecar: the problems go away with that pod event alone.
    const injected = [upsert(pod('reviews-1', 'sidecar', '10.5.0.2'))];
    records.apply(injected);
    expect(analysis.run({ model, records }, model.apply(injected))).toEqual([]);

    // A third pod without one: the Service is mixed again.
    const added = [upsert(pod('reviews-2', 'none', '10.5.0.3'))];
    records.apply(added);
    const incremental = analysis.run({ model, records }, model.apply(added));
    expect(incremental.map((p) => p.code).sort()).toEqual(['StrictPodWithoutCertificate', 'StrictServiceMixedTls']);
    expect(incremental).toEqual(analyze({ model, records }));
  });

  it('re-checks after a pod event that changes no cluster (a second pod without TLS beside one)', () => {
    const model = new MeshModel();
    const records = new SourceRecords();
    const analysis = new Analysis();
    const first = upserts(reviews, strict, pod('reviews-0', 'none', '10.5.0.1'));
    records.apply(first);
    analysis.run({ model, records }, model.apply(first));
    const next = [upsert(pod('reviews-1', 'none', '10.5.0.2'))];
    records.apply(next);
    const change = model.apply(next);
    expect(change.services.size).toBe(0);
    const problems = analysis.run({ model, records }, change);
    expect(problems.map((p) => p.message).join()).toMatch(/pods shop\/reviews-0, shop\/reviews-1 have no workload certificate/);
    expect(problems).toEqual(analyze({ model, records }));
  });
});

describe('outbound mutual TLS per endpoint during a rollout', () => {
  const mixed = () => {
    const model = new MeshModel();
    model.apply(
      upserts(reviews, reviewsSlice('10.5.0.1', '10.5.0.2'), pod('reviews-0', 'sidecar', '10.5.0.1'), pod('reviews-1', 'none', '10.5.0.2')),
    );
    return model;
  };
  type Cluster = { transportSocket?: unknown; transportSocketMatches?: Array<Record<string, unknown>> };
  type Assignment = { endpoints: Array<{ lbEndpoints: Array<{ endpoint: unknown; metadata?: unknown }> }> };
  const cluster = (resources: XdsResource[]) => resources[0].value as Cluster;
  const tagged = (resource: XdsResource) =>
    (resource.value as Assignment).endpoints
      .flatMap((l) => l.lbEndpoints)
      .map(
        (e) =>
          (e.endpoint as { address: { socketAddress: { address: string } } }).address.socketAddress.address + (e.metadata ? ' tls' : ''),
      );

  it('the model knows which pods answer TLS: a sidecar under Permissive, a provider pod only under Strict', () => {
    const model = mixed();
    expect(model.meshRollout('shop/reviews')).toEqual({ namespace: 'shop', serviceAccounts: ['reviews'], addresses: ['10.5.0.1'] });
    expect(model.meshDestination('shop/reviews')).toBeUndefined();

    const provider = new MeshModel();
    provider.apply(upserts(reviews, pod('reviews-0', 'provider', '10.5.0.1'), pod('reviews-1', 'none', '10.5.0.2')));
    expect(provider.meshRollout('shop/reviews')).toBeUndefined();
    const change = provider.apply([upsert(strict)]);
    expect(change.services.has('shop/reviews')).toBe(true);
    expect(provider.meshRollout('shop/reviews')?.addresses).toEqual(['10.5.0.1']);

    // Every pod injected: one TLS socket for the whole cluster, as before, and no rollout.
    const done = model.apply([upsert(pod('reviews-1', 'sidecar', '10.5.0.2'))]);
    expect(done.services.has('shop/reviews')).toBe(true);
    expect(model.meshRollout('shop/reviews')).toBeUndefined();
    expect(model.meshDestination('shop/reviews')).toEqual({ namespace: 'shop', serviceAccounts: ['reviews'] });

    // Disable: plain text, whatever the pods.
    model.apply(upserts(pod('reviews-1', 'none', '10.5.0.2'), accessPolicy('off', { targetRef: { name: 'reviews' }, mtls: 'Disable' })));
    expect(model.meshRollout('shop/reviews')).toBeUndefined();
  });

  it('forgets the TLS pods when the last pod goes: the Service is plain text again', () => {
    for (const second of ['sidecar', 'none'] as const) {
      const model = new MeshModel();
      model.apply(upserts(reviews, pod('reviews-0', 'sidecar', '10.5.0.1'), pod('reviews-1', second, '10.5.0.2')));
      expect(model.meshDestination('shop/reviews') ?? model.meshRollout('shop/reviews')).toBeDefined();
      const change = model.apply([remove('Pod', 'reviews-0'), remove('Pod', 'reviews-1')]);
      expect(change.services.has('shop/reviews')).toBe(true);
      expect(model.meshDestination('shop/reviews')).toBeUndefined();
      expect(model.meshRollout('shop/reviews')).toBeUndefined();
      const plain = new MeshModel();
      plain.apply(upserts(reviews));
      expect(cluster(translateServiceClusters(model, 'shop/reviews', 'sidecar'))).toEqual(
        cluster(translateServiceClusters(plain, 'shop/reviews', 'sidecar')),
      );
    }
  });

  it("a sidecar's cluster matches tagged endpoints to mutual TLS and falls back to plain text; its assignment tags only the TLS pod", () => {
    const model = mixed();
    const sidecar = cluster(translateServiceClusters(model, 'shop/reviews', 'sidecar'));
    expect(sidecar.transportSocket).toBeUndefined();
    expect(sidecar.transportSocketMatches).toHaveLength(1);
    expect(sidecar.transportSocketMatches?.[0]).toMatchObject({
      name: 'mtls',
      match: { fields: { [TLS_ENDPOINT_MATCH.key]: { stringValue: TLS_ENDPOINT_MATCH.value } } },
      transportSocket: { name: 'envoy.transport_sockets.tls' },
    });
    // The TLS socket checks the TLS pods' identity.
    expect(JSON.stringify(sidecar.transportSocketMatches)).toContain('spiffe://cluster.local/ns/shop/sa/reviews');
    const assignments = translateEndpointsFor(model, 'shop/reviews', 'sidecar');
    expect(tagged(assignments[0])).toEqual(['10.5.0.1 tls', '10.5.0.2']);
    for (const resource of [...translateServiceClusters(model, 'shop/reviews', 'sidecar'), ...assignments]) {
      expect(validateResource(resource.typeUrl, resource.value)).toEqual([]);
    }
    // The tag survives encoding as Envoy reads it: filter_metadata["envoy.transport_socket_match"].
    const { value } = assignments[0];
    const round = JSON.stringify(decodeMessage(TypeUrl.ClusterLoadAssignment, encodeMessage(TypeUrl.ClusterLoadAssignment, value)));
    expect(round).toContain('"envoy.transport_socket_match"');
  });

  it('proxyless clusters (even with the certificate provider) get no transport_socket_matches and untagged assignments', () => {
    const model = mixed();
    const served = { ...baselineShape('proxyless'), workloadTls: true };
    const proxyless = translateAll(model, 'proxyless', { served });
    const reviewsCluster = proxyless.clusters.find((c) => c.name === 'shop/reviews/9080')?.value as Cluster;
    expect(reviewsCluster.transportSocketMatches).toBeUndefined();
    expect(reviewsCluster.transportSocket).toBeUndefined();
    expect(tagged(proxyless.endpoints[0])).toEqual(['10.5.0.1', '10.5.0.2']);
  });

  it('in the pipeline, sidecars get the tagged assignment and proxyless the same bytes as a Service that is not mid-rollout', () => {
    const cache = new ResourceCache();
    const pipeline = new Pipeline({ cache });
    pipeline.push(
      upserts(reviews, reviewsSlice('10.5.0.1', '10.5.0.2'), pod('reviews-0', 'none', '10.5.0.1'), pod('reviews-1', 'none', '10.5.0.2')),
    );
    pipeline.flushNow();
    pipeline.ensureGroup(PROXYLESS_GROUP);
    const eds = (group: string) => cache.get(group, TypeUrl.ClusterLoadAssignment, 'shop/reviews/9080');
    const plainBytes = eds(PROXYLESS_GROUP)?.version;
    expect(eds(SIDECAR_GROUP)?.version).toBe(plainBytes);

    // reviews-0 gets its sidecar: the sidecar's cluster and assignment change; proxyless bytes do not.
    pipeline.push([upsert(pod('reviews-0', 'sidecar', '10.5.0.1'))]);
    pipeline.flushNow();
    expect(eds(PROXYLESS_GROUP)?.version).toBe(plainBytes);
    expect(eds(SIDECAR_GROUP)?.version).not.toBe(plainBytes);
    const sidecarAssignment = decodeMessage(TypeUrl.ClusterLoadAssignment, eds(SIDECAR_GROUP)!.bytes);
    expect(JSON.stringify(sidecarAssignment)).toContain(TLS_ENDPOINT_MATCH.key);
    const sidecarCluster = decodeMessage(TypeUrl.Cluster, cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/reviews/9080')!.bytes);
    expect(sidecarCluster.transportSocketMatches).toHaveLength(1);

    // The rollout completes: one TLS socket for the cluster, and the assignment untagged again.
    pipeline.push([upsert(pod('reviews-1', 'sidecar', '10.5.0.2'))]);
    pipeline.flushNow();
    expect(eds(SIDECAR_GROUP)?.version).toBe(plainBytes);
    const done = decodeMessage(TypeUrl.Cluster, cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'shop/reviews/9080')!.bytes);
    expect(done.transportSocketMatches).toBeUndefined();
    expect(done.transportSocket).toBeDefined();
    pipeline.stop();
  });
});
