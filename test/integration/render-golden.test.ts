// Golden tests of `switchyard render` on the examples: the exact configuration a sidecar and a
// proxyless gRPC client receive for the shop. A change to the translator that alters what
// proxies get shows up here as a diff to review; regenerate deliberately with
// UPDATE_GOLDEN=1 npm test -- render-golden
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderDocument } from '../../src/cli/render.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const examples = path.join(here, '..', '..', 'examples');

async function expectGolden(role: 'sidecar' | 'proxyless' | 'gateway'): Promise<Record<string, unknown>> {
  const document = await renderDocument(examples, { role, gateway: role === 'gateway' ? 'edge' : undefined });
  const file = path.join(here, '..', 'golden', `render-${role}.json`);
  const text = JSON.stringify(document, null, 2) + '\n';
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
  expect(existsSync(file)).toBe(true);
  expect(JSON.parse(text)).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  return document;
}

type Json = Record<string, any>;

describe('render of the examples', () => {
  it('matches the sidecar golden file', async () => {
    const doc = await expectGolden('sidecar');
    const clusters = doc.clusters as Json[];
    // One cluster per Service port, every resource with its @type as Envoy's config dump prints it.
    expect(clusters.map((c) => c.name)).toContain('shop/reviews-v2/9080');
    for (const list of Object.values(doc).slice(0, 5)) {
      for (const resource of list as Json[]) expect(resource['@type']).toMatch(/^type\.googleapis\.com\/envoy\./);
    }
    const route = (doc.routes as Json[]).find((r) => r.name === 'outbound')!;
    const reviews = route.virtual_hosts.find((v: Json) => v.domains.includes('reviews.shop.svc.cluster.local:9080'));
    const canary = reviews.routes.find((r: Json) => r.match.headers?.some((h: Json) => h.name === 'x-canary'));
    expect(canary.route.cluster).toBe('shop/reviews-v2/9080');
    const weighted = reviews.routes[reviews.routes.length - 1].route.weighted_clusters.clusters;
    expect(weighted.map((w: Json) => [w.name, w.weight])).toEqual([
      ['shop/reviews-v1/9080', 90],
      ['shop/reviews-v2/9080', 10],
    ]);
  });

  it('matches the proxyless golden file and explains each load-balancing choice', async () => {
    const doc = await expectGolden('proxyless');
    const listeners = (doc.listeners as Json[]).map((l) => l.name);
    expect(listeners).toContain('reviews.shop.svc.cluster.local:9080');
    const choices = doc.loadBalancing as Json[];
    const byService = (key: string) => choices.find((c) => c.service === key)!;
    expect(byService('shop/catalog').policies).toEqual(['maglev', 'ring_hash']);
    expect(byService('shop/frontend').reason).toMatch(/sessionAffinity: ClientIP/);
    for (const choice of choices) expect(choice.reason.length).toBeGreaterThan(10);
  });

  it('matches the gateway golden file, with the TLS key left out', async () => {
    const doc = await expectGolden('gateway');
    expect((doc.listeners as Json[]).map((l) => l.name)).toEqual(['gateway/edge/8080', 'gateway/edge/8443']);
    const secret = (doc.secrets as Json[])[0];
    expect(secret.name).toBe('shop/shop-example-tls');
    expect(JSON.stringify(secret)).not.toContain('PRIVATE KEY');
    expect(secret.tls_certificate.private_key.inline_string).toBe('[redacted]');
    // A gateway gets only the clusters its Ingress routes use, not the mesh.
    expect((doc.clusters as Json[]).length).toBeLessThan(5);
  });
});
