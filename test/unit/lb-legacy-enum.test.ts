// Old Envoys read only the legacy lb_policy enum (--legacy-lb-policy): each policy a user picks
// must arrive as its own enum value, never as another one.
import { MeshModel } from '../../src/model/index.js';
import type { KubeObject, SourceEvent } from '../../src/sources/types.js';
import { translateAll } from '../../src/translate/index.js';

function upsert(object: KubeObject): SourceEvent {
  return { type: 'upsert', ref: { kind: object.kind, namespace: 'shop', name: object.metadata.name }, object };
}

function legacyCluster(loadBalancer: object, locality?: object): any {
  const model = new MeshModel();
  model.apply([
    upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { ports: [{ name: 'http', port: 8080 }] } } as KubeObject),
    upsert({
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: 'api', namespace: 'shop' },
      spec: { targetRef: { kind: 'Service', name: 'api' }, loadBalancer, ...(locality ? { locality } : {}) },
    } as KubeObject),
  ]);
  return translateAll(model, 'sidecar', { legacyLbPolicy: true }).clusters.find((c) => c.name === 'shop/api/8080')!.value;
}

describe('legacy lb_policy', () => {
  it.each([
    ['RoundRobin', 'ROUND_ROBIN'],
    ['Random', 'RANDOM'],
    ['LeastRequest', 'LEAST_REQUEST'],
  ])('sends policy %s as %s', (policy, enumValue) => {
    const cluster = legacyCluster({ policy });
    expect(cluster.lbPolicy).toBe(enumValue);
    expect(cluster.loadBalancingPolicy).toBeUndefined();
  });

  it.each(['RoundRobin', 'Random', 'LeastRequest'])('carries zone-aware routing for %s in the common config', (policy) => {
    const cluster = legacyCluster({ policy }, { preferLocalZone: true });
    expect(cluster.commonLbConfig).toEqual({ zoneAwareLbConfig: {} });
  });
});
