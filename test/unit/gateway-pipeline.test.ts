// Gateways in the pipeline: built on demand, re-translated only when a change concerns them,
// and the cache then changes exactly what a proxy would notice.
import { ResourceCache } from '../../src/cache/cache.js';
import { PROXYLESS_GROUP, type ChangeSet } from '../../src/cache/types.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { SourceEvent } from '../../src/sources/types.js';
import { selfSigned, shopIngress, shopObjects } from './gateway-fixtures.js';
import { endpointsAt, slice, tlsSecret, upsert } from '../support/builders.js';

function summarize(changes: ChangeSet[]): string[] {
  const lines: string[] = [];
  for (const changeSet of changes) {
    for (const [group, byType] of changeSet) {
      for (const [typeUrl, { changed, removed }] of byType) {
        const type = typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
        for (const name of changed) lines.push(`${group} ${type} changed ${name}`);
        for (const name of removed) lines.push(`${group} ${type} removed ${name}`);
      }
    }
  }
  return lines.sort();
}

function tlsShopIngress() {
  return shopIngress({ tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }] });
}

describe('pipeline: gateways', () => {
  const shopCert = selfSigned('shop.example.com');

  function started(gateways: string[] = []): { pipeline: Pipeline; cache: ResourceCache; changes: ChangeSet[] } {
    const cache = new ResourceCache();
    const pipeline = new Pipeline({ cache, debounce: { quietMs: 5, maxMs: 50 }, gateways });
    pipeline.push([...shopObjects(), tlsShopIngress(), tlsSecret('shop-tls', shopCert)].map(upsert));
    pipeline.flushNow();
    const changes: ChangeSet[] = [];
    cache.onChange((c) => changes.push(c));
    return { pipeline, cache, changes };
  }

  it('builds a gateway named in the settings with the first flush, and others when asked', () => {
    const { pipeline, cache } = started(['edge']);
    expect([...cache.resources('gateway/edge', TypeUrl.Listener).keys()]).toEqual(['gateway/edge/8080', 'gateway/edge/8443']);
    expect(cache.resources('gateway/internal', TypeUrl.Listener).size).toBe(0);
    pipeline.ensureGateway('internal');
    expect([...cache.resources('gateway/internal', TypeUrl.Listener).keys()]).toEqual(['gateway/internal/8080', 'gateway/internal/8443']);
    expect([...cache.resources('gateway/internal', TypeUrl.Secret).keys()]).toEqual(['shop/shop-tls']);
    expect(pipeline.gateways()).toEqual(['edge', 'internal']);
    // The mesh groups never carry gateway secrets or listeners.
    expect(cache.resources('sidecar', TypeUrl.Secret).size).toBe(0);
    expect(cache.resources('sidecar', TypeUrl.Listener).has('gateway/edge/8080')).toBe(false);
    pipeline.stop();
  });

  it('a certificate rotation changes exactly one Secret and nothing else', () => {
    const { pipeline, changes } = started(['edge']);
    pipeline.push([upsert(tlsSecret('shop-tls', selfSigned('shop.example.com')))]);
    pipeline.flushNow();
    expect(summarize(changes)).toEqual(['gateway/edge Secret changed shop/shop-tls']);
    pipeline.stop();
  });

  it('an endpoint change of a Service the gateway uses changes its ClusterLoadAssignment only', () => {
    const { pipeline, changes } = started(['edge']);
    pipeline.ensureGroup(PROXYLESS_GROUP);
    changes.length = 0;
    pipeline.push([upsert(slice('frontend-slice', 'frontend', endpointsAt('10.0.0.1', '10.0.0.2'), [{ name: 'http', port: 8080 }]))]);
    pipeline.flushNow();
    expect(summarize(changes)).toEqual([
      'gateway/edge ClusterLoadAssignment changed shop/frontend/80',
      'proxyless ClusterLoadAssignment changed shop/frontend/80',
      'sidecar ClusterLoadAssignment changed shop/frontend/80',
    ]);
    changes.length = 0;
    // cart is in no Ingress: the gateway's group does not move.
    pipeline.push([upsert(slice('cart-slice', 'cart', endpointsAt('10.0.3.9'), [{ name: 'http', port: 8080 }]))]);
    pipeline.flushNow();
    expect(summarize(changes).filter((line) => line.startsWith('gateway/'))).toEqual([]);
    pipeline.stop();
  });

  it('an Ingress change re-translates the gateway: a new path, a new cluster', () => {
    const { pipeline, cache, changes } = started(['edge']);
    const ingress = tlsShopIngress();
    ingress.spec.rules![0].http!.paths.push({
      path: '/cart',
      pathType: 'Prefix',
      backend: { service: { name: 'cart', port: { number: 8080 } } },
    });
    pipeline.push([upsert(ingress)]);
    pipeline.flushNow();
    expect(summarize(changes)).toEqual([
      'gateway/edge Cluster changed shop/cart/8080',
      'gateway/edge ClusterLoadAssignment changed shop/cart/8080',
      'gateway/edge RouteConfiguration changed gateway/edge/8080',
      'gateway/edge RouteConfiguration changed gateway/edge/8443',
    ]);
    changes.length = 0;
    const deletion: SourceEvent = { type: 'delete', ref: { kind: 'Ingress', namespace: 'shop', name: 'shop' } };
    pipeline.push([deletion]);
    pipeline.flushNow();
    expect(summarize(changes)).toContain('gateway/edge Secret removed shop/shop-tls');
    expect([...cache.resources('gateway/edge', TypeUrl.Listener).keys()]).toEqual(['gateway/edge/8080']);
    expect(cache.resources('gateway/edge', TypeUrl.Cluster).size).toBe(0);
    pipeline.stop();
  });

  it('a broken Secret drops its HTTPS chain; fixing it brings it back', () => {
    const { pipeline, cache } = started(['edge']);
    const broken = tlsSecret('shop-tls', shopCert);
    broken.data!['tls.key'] = 'AAAA';
    pipeline.push([upsert(broken)]);
    pipeline.flushNow();
    expect([...cache.resources('gateway/edge', TypeUrl.Listener).keys()]).toEqual(['gateway/edge/8080']);
    expect(cache.resources('gateway/edge', TypeUrl.Secret).size).toBe(0);
    pipeline.push([upsert(tlsSecret('shop-tls', shopCert))]);
    pipeline.flushNow();
    expect([...cache.resources('gateway/edge', TypeUrl.Listener).keys()]).toEqual(['gateway/edge/8080', 'gateway/edge/8443']);
    pipeline.stop();
  });
});
