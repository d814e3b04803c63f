// Old Envoys read only the legacy lb_policy enum (--legacy-lb-policy): each policy a user picks
// must arrive as its own enum value, never as another one.
import { MeshModel } from '../../src/model/index.js';
import { translateAll } from '../../src/translate/index.js';
import { policy, service, upsert } from '../support/builders.js';

function legacyCluster(loadBalancer: object, locality?: object): any {
  const model = new MeshModel();
  model.apply([
    upsert(service('api')),
    upsert(policy('api', { targetRef: { kind: 'Service', name: 'api' }, loadBalancer, ...(locality ? { locality } : {}) })),
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
