// The egress annotation's parser, what a scope reaches, and a pod's own scope (which replaces its namespace's).
import { MeshModel, parseEgress, scopeHolds, type EgressScope } from '../../src/model/index.js';
import { Analysis, SourceRecords } from '../../src/analysis/index.js';
import type { SourceEvent } from '../../src/sources/types.js';

function scopeOf(namespace: string, value: string): EgressScope {
  const parsed = parseEgress(namespace, value);
  if (!('scope' in parsed)) throw new Error(parsed.error);
  return parsed.scope;
}

describe('parseEgress', () => {
  it('resolves "." to the namespace and gives equal host lists one id, whatever their order or spacing', () => {
    const a = scopeOf('shop', './*,shared/*');
    const b = scopeOf('other', ' shared/* , shop/* ');
    expect(a.hosts).toEqual([
      { namespace: 'shared', service: '*' },
      { namespace: 'shop', service: '*' },
    ]);
    expect(b.id).toBe(a.id);
    expect(scopeOf('billing', './*,shared/*').id).not.toBe(a.id);
  });

  it('holds what its hosts name: a namespace, one Service, or any namespace', () => {
    const scope = scopeOf('shop', './*, payments/billing, */dns');
    expect(scopeHolds(scope, 'shop', 'cart')).toBe(true);
    expect(scopeHolds(scope, 'payments', 'billing')).toBe(true);
    expect(scopeHolds(scope, 'payments', 'ledger')).toBe(false);
    expect(scopeHolds(scope, 'kube-system', 'dns')).toBe(true);
  });

  it.each([
    ['', /no hosts/],
    ['shared', /"shared" is not <namespace>\/<service>/],
    ['a/b/c', /"a\/b\/c" is not <namespace>\/<service>/],
    ['Shop/*', /namespace "Shop" is not/],
    ['./Cart', /service "Cart" is not/],
  ])('refuses %j, naming the entry', (value, message) => {
    const parsed = parseEgress('shop', value);
    expect('error' in parsed && parsed.error).toMatch(message);
  });
});

describe('MeshModel egress scopes', () => {
  const upsert = (object: Record<string, unknown>): SourceEvent => {
    const metadata = object.metadata as { name: string; namespace?: string };
    return {
      type: 'upsert',
      ref: { kind: object.kind as never, namespace: metadata.namespace ?? '', name: metadata.name },
      object: object as never,
    };
  };
  const svc = (namespace: string, name: string, ip: string) =>
    upsert({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { clusterIP: ip, ports: [{ name: 'http', port: 80 }] },
    });
  const ns = (name: string, egress?: string) =>
    upsert({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, ...(egress !== undefined ? { annotations: { 'switchyard.dev/egress': egress } } : {}) },
    });

  it("reaches the scope's Services and, transitively, their policies' split backends; reports a changed annotation", () => {
    const model = new MeshModel();
    model.apply([
      ns('billing', './*,shop/cart'),
      svc('billing', 'ledger', '10.96.0.1'),
      svc('shop', 'cart', '10.96.0.2'),
      svc('shop', 'cart-v2', '10.96.0.3'),
      svc('shop', 'web', '10.96.0.4'),
      upsert({
        apiVersion: 'switchyard.dev/v1alpha1',
        kind: 'TrafficPolicy',
        metadata: { name: 'cart', namespace: 'shop' },
        spec: {
          targetRef: { name: 'cart' },
          split: [
            { backend: 'cart', weight: 90 },
            { backend: 'cart-v2', weight: 10 },
          ],
        },
      }),
    ]);
    const scope = model.egressScope('billing')!;
    expect([...model.scopeReach(scope)].sort()).toEqual(['billing/ledger', 'shop/cart', 'shop/cart-v2']);
    expect(model.egressScope('shop')).toBeUndefined();

    expect([...model.apply([ns('billing', './*,shop/cart')]).namespaces]).toEqual([]);
    expect([...model.apply([ns('billing', 'shop')]).namespaces]).toEqual(['billing']);
    expect(model.egressScope('billing')).toBeUndefined();
    expect(model.refusedEgress()).toEqual([{ namespace: 'billing', value: 'shop', error: expect.stringContaining('"shop"') }]);
    expect([...model.apply([ns('billing')]).namespaces]).toEqual(['billing']);
    expect(model.refusedEgress()).toEqual([]);
  });
});

describe('workload egress scopes (a Pod annotation)', () => {
  const upsert = (object: Record<string, unknown>): SourceEvent => {
    const metadata = object.metadata as { name: string; namespace?: string };
    return {
      type: 'upsert',
      ref: { kind: object.kind as never, namespace: metadata.namespace ?? '', name: metadata.name },
      object: object as never,
    };
  };
  const ns = (name: string, egress?: string) =>
    upsert({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, ...(egress !== undefined ? { annotations: { 'switchyard.dev/egress': egress } } : {}) },
    });
  const pod = (namespace: string, name: string, egress?: string) =>
    upsert({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, ...(egress !== undefined ? { annotations: { 'switchyard.dev/egress': egress } } : {}) },
      spec: { containers: [{ name: 'app' }] },
      status: { podIP: '10.5.0.1' },
    });
  const svc = (namespace: string, name: string, ip: string) =>
    upsert({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { clusterIP: ip, ports: [{ name: 'http', port: 80 }] },
    });

  function model(...events: SourceEvent[]): MeshModel {
    const m = new MeshModel();
    m.apply([
      ns('shop', './*,shared/*'),
      svc('shop', 'cart', '10.96.0.1'),
      svc('shared', 'auth', '10.96.0.2'),
      svc('pay', 'billing', '10.96.0.3'),
    ]);
    m.apply(events);
    return m;
  }

  it("replaces the namespace's scope: the pod reaches what it lists, also outside the namespace's scope", () => {
    const m = model(pod('shop', 'web-1', './cart, pay/billing'));
    const egress = m.workloadEgress(m.workload('shop', 'web-1')!);
    expect(egress.from).toBe('pod');
    expect([...m.scopeReach(egress.scope!)].sort()).toEqual(['pay/billing', 'shop/cart']);
  });

  it('gives pods listing the same hosts one scope id, whatever their spelling, and a different one from the namespace', () => {
    const m = model(pod('shop', 'web-1', './cart'), pod('shop', 'web-2', 'shop/cart'), pod('shop', 'web-3', './*, shared/*'));
    const idOf = (name: string) => m.workloadEgress(m.workload('shop', name)!).scope!.id;
    expect(idOf('web-1')).toBe(idOf('web-2'));
    expect(idOf('web-1')).not.toBe(m.egressScope('shop')!.id);
    // A pod listing exactly its namespace's hosts is in the namespace's scope (and group).
    expect(idOf('web-3')).toBe(m.egressScope('shop')!.id);
  });

  it('serves a scope listing */* as no scope (every Service, the unscoped group), for a pod as for a namespace', () => {
    const m = model(pod('shop', 'all', '*/*'), ns('wide', '*/*, ./x'));
    expect(m.workloadEgress(m.workload('shop', 'all')!)).toEqual({ scope: undefined, from: 'pod' });
    expect(m.egressScope('wide')).toBeUndefined();
  });

  it("keeps the namespace's scope for a pod without the annotation, or with one that does not parse (and says why)", () => {
    const m = model(pod('shop', 'plain'), pod('shop', 'bad', './*, pay/Billing'), pod('other', 'bad', 'x'));
    expect(m.workloadEgress(m.workload('shop', 'plain')!)).toEqual({ scope: m.egressScope('shop'), from: 'namespace' });
    const bad = m.workloadEgress(m.workload('shop', 'bad')!);
    expect(bad).toMatchObject({ scope: m.egressScope('shop'), from: 'namespace', refused: expect.stringContaining('"pay/Billing"') });
    // Namespace other declares nothing: every Service.
    expect(m.workloadEgress(m.workload('other', 'bad')!).scope).toBeUndefined();
    expect(m.refusedPodEgress().map((p) => `${p.namespace}/${p.name}`)).toEqual(['other/bad', 'shop/bad']);
  });

  it('reports an edited annotation as a change of the pod, and forgets it with the annotation or the pod', () => {
    const m = model(pod('shop', 'web-1', './cart'));
    expect([...m.apply([pod('shop', 'web-1', './*')]).workloads]).toEqual(['shop/web-1']);
    expect(m.workloadEgress(m.workload('shop', 'web-1')!).scope!.hosts).toEqual([{ namespace: 'shop', service: '*' }]);
    m.apply([pod('shop', 'web-1')]);
    expect(m.workloadEgress(m.workload('shop', 'web-1')!).from).toBe('namespace');
    m.apply([pod('shop', 'web-1', 'bad')]);
    m.apply([{ type: 'delete', ref: { kind: 'Pod', namespace: 'shop', name: 'web-1' } }]);
    expect(m.refusedPodEgress()).toEqual([]);
  });
});

describe('PodEgressScopeInvalid', () => {
  it('names the pod, the field and the entry at fault; clears when the pod alone is fixed (incremental analysis)', () => {
    const event = (egress: string): SourceEvent => ({
      type: 'upsert',
      ref: { kind: 'Pod', namespace: 'shop', name: 'web-1' },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web-1', namespace: 'shop', annotations: { 'switchyard.dev/egress': egress } },
        spec: { containers: [] },
      } as never,
    });
    const model = new MeshModel();
    const records = new SourceRecords();
    const analysis = new Analysis();
    const first = [event('./*, shared')];
    records.apply(first);
    const problems = analysis.run({ model, records }, model.apply(first));
    expect(problems).toEqual([
      expect.objectContaining({
        code: 'PodEgressScopeInvalid',
        object: { kind: 'Pod', namespace: 'shop', name: 'web-1' },
        field: 'metadata.annotations["switchyard.dev/egress"]',
        message: expect.stringMatching(/^Pod shop\/web-1: .*"shared" is not <namespace>\/<service>.*every Service$/),
      }),
    ]);

    const fixed = [event('./*, shared/*')];
    records.apply(fixed);
    const change = model.apply(fixed);
    expect(change.namespaces.size + change.services.size).toBe(0);
    expect(analysis.run({ model, records }, change)).toEqual([]);
  });
});
