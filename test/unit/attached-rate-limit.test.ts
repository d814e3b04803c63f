// TrafficPolicies attached to an HTTPRoute or a Gateway listener, through the model: a newer
// invalid version keeps the last valid limit serving (LastGoodKept), a policy switching its
// target from a Service to an HTTPRoute stops limiting the Service, and a Gateway appearing
// later resolves a policy written before it.
import { MeshModel } from '../../src/model/index.js';
import type { KubeObject } from '../../src/sources/types.js';
import { gatewayClass, upsert, upserts } from '../support/builders.js';

const GROUP = 'gateway.networking.k8s.io';
const objects = (): KubeObject[] =>
  [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { ports: [{ name: 'http', port: 80 }] } },
    gatewayClass(),
    {
      apiVersion: `${GROUP}/v1`,
      kind: 'HTTPRoute',
      metadata: { name: 'api', namespace: 'shop' },
      spec: { parentRefs: [{ name: 'public' }], rules: [{ backendRefs: [{ name: 'api', port: 80 }] }] },
    },
  ] as KubeObject[];

const gateway = {
  apiVersion: `${GROUP}/v1`,
  kind: 'Gateway',
  metadata: { name: 'public', namespace: 'shop' },
  spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
} as KubeObject;

function policy(generation: number, spec: Record<string, unknown>): KubeObject {
  // Specs here are built loosely on purpose (an invalid field included), as the model receives them.
  return {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'api-limit', namespace: 'shop', generation },
    spec,
  } as unknown as KubeObject;
}

const onRoute = { targetRef: { group: GROUP, kind: 'HTTPRoute', name: 'api' }, rateLimit: { requestsPerSecond: 10 } };
const conditions = (model: MeshModel) =>
  Object.fromEntries((model.policyStatus('shop', 'api-limit') ?? []).map((c) => [c.type, `${c.status} ${c.reason}`]));

describe('rate limits attached to Gateway API objects', () => {
  it('a policy written before its Gateway exists resolves when the Gateway appears', () => {
    const model = new MeshModel();
    model.apply(upserts(...objects(), policy(1, onRoute)));
    expect(conditions(model).ResolvedRefs).toBe('False TargetNotFound');
    expect(model.attachedRateLimit('HTTPRoute', 'shop/api')).toBeUndefined();

    const change = model.apply([upsert(gateway)]);
    expect(conditions(model)).toEqual({ Accepted: 'True Accepted', ResolvedRefs: 'True ResolvedRefs', Programmed: 'True Programmed' });
    expect(model.attachedRateLimit('HTTPRoute', 'shop/api')?.limit).toEqual({ tokensPerFill: 10, fillIntervalMs: 1000, maxTokens: 10 });
    expect(change.policyStatus.has('shop/api-limit')).toBe(true);
    expect(change.gatewayApi).toBe(true);
  });

  it('an invalid newer version keeps the last valid limit, and says so', () => {
    const model = new MeshModel();
    model.apply(upserts(...objects(), gateway, policy(1, onRoute)));
    model.apply([upsert(policy(2, { ...onRoute, rateLimit: { requestsPerSecond: 99 }, timeout: '1s' }))]);
    expect(conditions(model)).toMatchObject({ Accepted: 'False Invalid', Programmed: 'False LastGoodKept' });
    expect(model.policyStatus('shop', 'api-limit')!.find((c) => c.type === 'Accepted')!.message).toMatch(/^spec\.timeout: /);
    expect(model.attachedRateLimit('HTTPRoute', 'shop/api')?.limit.tokensPerFill).toBe(10);
  });

  it('moving a policy from its Service to the HTTPRoute moves the limit with it', () => {
    const model = new MeshModel();
    model.apply(upserts(...objects(), gateway, policy(1, { targetRef: { name: 'api' }, rateLimit: { requestsPerSecond: 10 } })));
    expect(model.servicePolicy('shop/api')?.rateLimit?.tokensPerFill).toBe(10);
    expect(model.attachedRateLimit('HTTPRoute', 'shop/api')).toBeUndefined();

    const change = model.apply([upsert(policy(2, onRoute))]);
    expect(model.servicePolicy('shop/api')).toBeUndefined();
    expect(model.attachedRateLimit('HTTPRoute', 'shop/api')?.policyKey).toBe('shop/api-limit');
    expect(change.services.has('shop/api')).toBe(true);
    expect(conditions(model).Programmed).toBe('True Programmed');
  });
});
