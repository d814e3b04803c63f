// Several TrafficPolicies on one Service: the winner must follow from the objects alone (creation
// time, then namespace/name), never from the order a process happened to see them, so every
// replica and every restart serves the same bytes and the leader's status matches them.
import { MeshModel } from '../../src/model/index.js';
import { encodeMessage } from '../../src/envoy/protos.js';
import type { KubeObject, SourceEvent } from '../../src/sources/types.js';
import { toSourceEvent } from '../../src/sources/manifests.js';
import { translateAll } from '../../src/translate/index.js';

function upsert(object: KubeObject): SourceEvent {
  return {
    type: 'upsert',
    ref: { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name },
    object,
  };
}

function remove(name: string): SourceEvent {
  return { type: 'delete', ref: { kind: 'TrafficPolicy', namespace: 'shop', name } };
}

const api = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'api', namespace: 'shop' },
  spec: { clusterIP: '10.96.0.9', ports: [{ name: 'http', port: 8080 }] },
} as KubeObject;

/** A policy on Service api whose timeout tells which one is served. */
function policy(name: string, timeout: string, creationTimestamp?: string): KubeObject {
  return {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name, namespace: 'shop', generation: 1, ...(creationTimestamp ? { creationTimestamp } : {}) },
    spec: { targetRef: { kind: 'Service', name: 'api' }, timeout },
  } as KubeObject;
}

// Winner order: the oldest; at the same second, by name; without a timestamp, last.
const oldest = policy('zz-oldest', '1s', '2026-01-05T10:00:00Z');
const tieA = policy('aa-tie', '2s', '2026-03-01T00:00:00Z');
const tieB = policy('bb-tie', '3s', '2026-03-01T00:00:00Z');
const untimed = policy('aa-untimed', '4s');
const objects = [api, oldest, tieA, tieB, untimed];

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/** What a proxy gets and what the leader writes: the encoded sidecar resources and every status. */
function observable(model: MeshModel): string {
  const resources = translateAll(model, 'sidecar');
  const bytes = [...resources.clusters, ...resources.routes, ...resources.listeners].map(
    (r) => `${r.name}:${Buffer.from(encodeMessage(r.typeUrl, r.value)).toString('base64')}`,
  );
  return JSON.stringify({ bytes, statuses: model.policyStatuses() });
}

function accepted(model: MeshModel, name: string) {
  return model.policyStatus('shop', name)?.find((c) => c.type === 'Accepted');
}

describe('TrafficPolicy conflicts', () => {
  it('gives a Service to the oldest policy by creationTimestamp, whatever order the events arrive in', () => {
    const reference = new MeshModel();
    reference.apply(objects.map(upsert));
    expect(reference.effectivePolicy('shop/api')?.policyKey).toBe('shop/zz-oldest');
    const expected = observable(reference);

    const orders = permutations(objects);
    expect(orders).toHaveLength(120);
    for (const order of orders) {
      // One event per batch, as a watch delivers them...
      const oneByOne = new MeshModel();
      for (const object of order) oneByOne.apply([upsert(object)]);
      expect(observable(oneByOne)).toBe(expected);
      // ...and all in one batch, as a list (or a restarted replica) does.
      const together = new MeshModel();
      together.apply(order.map(upsert));
      expect(observable(together)).toBe(expected);
    }
  });

  it('marks every losing policy Conflicted, naming the policy that wins', () => {
    const model = new MeshModel();
    // Newest first: arrival order must not matter.
    model.apply([upsert(api), upsert(untimed)]);
    model.apply([upsert(tieB)]);
    model.apply([upsert(tieA)]);
    model.apply([upsert(oldest)]);
    expect(model.effectivePolicy('shop/api')).toMatchObject({ policyKey: 'shop/zz-oldest', spec: { timeout: '1s' } });
    expect(accepted(model, 'zz-oldest')?.status).toBe('True');
    for (const loser of ['aa-tie', 'bb-tie', 'aa-untimed']) {
      expect(accepted(model, loser)).toMatchObject({ status: 'False', reason: 'Conflicted' });
      expect(accepted(model, loser)?.message).toMatch(
        /^spec\.targetRef\.name: Service shop\/api is served by TrafficPolicy shop\/zz-oldest, which wins/,
      );
      expect(model.policyStatus('shop', loser)?.find((c) => c.type === 'Programmed')).toMatchObject({
        status: 'False',
        reason: 'Conflicted',
      });
    }
  });

  it('hands the Service to the next policy when the winner is deleted, in the same order', () => {
    const model = new MeshModel();
    model.apply(objects.map(upsert));
    const served = () => translateAll(model, 'sidecar').routes[0].value as any;
    const timeoutOf = () =>
      served()
        .virtualHosts.find((v: any) => v.name === 'shop/api/8080')
        .routes.at(-1).route.timeout;
    expect(timeoutOf()).toEqual({ seconds: 1 });

    let change = model.apply([remove('zz-oldest')]);
    expect(change.services.has('shop/api')).toBe(true);
    // Same creation second: the name decides.
    expect(model.effectivePolicy('shop/api')?.policyKey).toBe('shop/aa-tie');
    expect(accepted(model, 'aa-tie')?.status).toBe('True');
    expect(accepted(model, 'bb-tie')?.message).toContain('served by TrafficPolicy shop/aa-tie');
    expect(timeoutOf()).toEqual({ seconds: 2 });

    model.apply([remove('aa-tie')]);
    expect(model.effectivePolicy('shop/api')?.policyKey).toBe('shop/bb-tie');
    // A policy without a creationTimestamp comes after every timestamped one.
    change = model.apply([remove('bb-tie')]);
    expect(change.policyStatus.has('shop/aa-untimed')).toBe(true);
    expect(model.effectivePolicy('shop/api')?.policyKey).toBe('shop/aa-untimed');
    expect(accepted(model, 'aa-untimed')?.status).toBe('True');
    expect(timeoutOf()).toEqual({ seconds: 4 });
  });

  it('reads creationTimestamp from a manifest as the API server writes it', () => {
    // The folder source's schema accepts it, and it counts there too.
    const event = toSourceEvent(oldest);
    expect(event.type).toBe('upsert');
    const model = new MeshModel();
    model.apply([upsert(api), upsert(untimed), event]);
    expect(model.effectivePolicy('shop/api')?.policyKey).toBe('shop/zz-oldest');
    // A value that is not a date counts as none.
    model.apply([upsert(policy('zz-oldest', '1s', 'last tuesday'))]);
    expect(model.effectivePolicy('shop/api')?.policyKey).toBe('shop/aa-untimed');
  });

  it('decides by name alone when no policy has a creationTimestamp (a folder of manifests)', () => {
    const first = new MeshModel();
    first.apply([upsert(api), upsert(policy('zz', '1s'))]);
    first.apply([upsert(policy('mm', '2s'))]);
    expect(first.effectivePolicy('shop/api')?.policyKey).toBe('shop/mm');
    const second = new MeshModel();
    second.apply([upsert(api), upsert(policy('mm', '2s')), upsert(policy('zz', '1s'))]);
    expect(observable(second)).toBe(observable(first));
  });

  it('keeps each policy in its place when the winner or a loser is edited', () => {
    const model = new MeshModel();
    model.apply(objects.map(upsert));
    // Editing a policy does not change its creationTimestamp, so it keeps its place.
    const edited = policy('zz-oldest', '9s', '2026-01-05T10:00:00Z');
    model.apply([upsert(edited), upsert({ ...tieB, metadata: { ...tieB.metadata, generation: 2 } } as KubeObject)]);
    expect(model.effectivePolicy('shop/api')).toMatchObject({ policyKey: 'shop/zz-oldest', spec: { timeout: '9s' } });
    expect(accepted(model, 'bb-tie')).toMatchObject({ status: 'False', reason: 'Conflicted', observedGeneration: 2 });
  });
});
