// The egress annotation's parser and what a scope reaches.
import { MeshModel, parseEgress, scopeHolds, type EgressScope } from '../../src/model/index.js';
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
