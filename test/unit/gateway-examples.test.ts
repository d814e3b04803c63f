// The example manifests include a public entrance: an Ingress with a TLS Secret that the edge
// gateway serves (what `switchyard render --role gateway --gateway edge` prints).
import path from 'node:path';
import { MeshModel } from '../../src/model/index.js';
import { encodeMessage } from '../../src/envoy/protos.js';
import { loadManifestDir } from '../../src/sources/files.js';
import { translateGateway } from '../../src/translate/index.js';

describe('examples/ingress.yaml through the gateway translator', () => {
  it('serves shop.example.com over HTTPS with its certificate, redirects HTTP, and splits /api/reviews', async () => {
    const { events, problems } = await loadManifestDir(path.resolve('examples'));
    expect(problems).toEqual([]);
    expect(events.filter((e) => e.type === 'rejected')).toEqual([]);
    const model = new MeshModel();
    model.apply(events);
    const output = translateGateway(model, 'edge');
    expect(output.problems).toEqual([]);
    for (const r of [...output.clusters, ...output.endpoints, ...output.routes, ...output.listeners, ...output.secrets])
      encodeMessage(r.typeUrl, r.value);
    expect(output.listeners.map((l) => l.name)).toEqual(['gateway/edge/8080', 'gateway/edge/8443']);
    expect(output.secrets.map((s) => s.name)).toEqual(['shop/shop-example-tls']);
    const https = output.routes.find((r) => r.name === 'gateway/edge/8443')!.value as any;
    const host = https.virtualHosts.find((v: any) => v.name === 'shop.example.com');
    const reviews = host.routes.find((r: any) => r.match.pathSeparatedPrefix === '/api/reviews' && !r.match.headers);
    expect(reviews.route.weightedClusters.clusters.map((c: any) => c.name)).toEqual(['shop/reviews-v1/9080', 'shop/reviews-v2/9080']);
    const http = output.routes.find((r) => r.name === 'gateway/edge/8080')!.value as any;
    expect(http.virtualHosts[0].routes.every((r: any) => r.redirect?.httpsRedirect === true)).toBe(true);
    // Every reviews request is split between the versions: its own cluster is not needed at the edge.
    expect(output.clusters.map((c) => c.name)).toEqual(['shop/frontend/80', 'shop/reviews-v1/9080', 'shop/reviews-v2/9080']);
  });
});
