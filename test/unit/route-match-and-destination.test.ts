// What a TrafficPolicy route matches and where it sends the request: the fields a user writes
// must reach Envoy with their meaning intact (exact is not prefix, absent is not present, an
// explicit port is that port, two entries to one cluster share its weight).
import { MeshModel } from '../../src/model/index.js';
import { translateAll } from '../../src/translate/index.js';
import { policy, service, upsert } from '../support/builders.js';

const CLUSTER_IPS: Record<string, string> = { reviews: '10.96.0.1', 'reviews-v1': '10.96.0.2', 'reviews-v2': '10.96.0.3' };

function httpService(name: string, ports: number[]) {
  return service(
    name,
    ports.map((port) => ({ name: `http-${port}`, port })),
    { clusterIP: CLUSTER_IPS[name] },
  );
}

/** Services reviews (9080), reviews-v1 (9080) and reviews-v2 (9080, 9081); one policy on reviews. */
function reviewsRoutes(spec: object): any[] {
  const model = new MeshModel();
  model.apply([
    upsert(httpService('reviews', [9080])),
    upsert(httpService('reviews-v1', [9080])),
    upsert(httpService('reviews-v2', [9080, 9081])),
    upsert(policy('reviews', { targetRef: { kind: 'Service', name: 'reviews' }, ...spec })),
  ]);
  expect(model.policyStatus('shop', 'reviews')?.find((c) => c.type === 'Accepted')?.status).toBe('True');
  const port9080 = translateAll(model, 'sidecar').routes.find((r) => r.name === '9080')!.value as any;
  return port9080.virtualHosts.find((v: any) => v.name === 'shop/reviews/9080').routes;
}

describe('route matches', () => {
  it('keeps an exact path exact: /login does not also match /login/anything', () => {
    const [login] = reviewsRoutes({ routes: [{ match: { path: { exact: '/login' } }, backend: 'reviews-v2' }] });
    expect(login.match).toEqual({ path: '/login' });
  });

  it('keeps prefix and regex paths as written', () => {
    const [prefix, regex] = reviewsRoutes({
      routes: [
        { match: { path: { prefix: '/api/' } }, backend: 'reviews-v2' },
        { match: { path: { regex: '/item/[0-9]+' } }, backend: 'reviews-v1' },
      ],
    });
    expect(prefix.match).toEqual({ prefix: '/api/' });
    expect(regex.match).toEqual({ safeRegex: { regex: '/item/[0-9]+' } });
  });

  it('matches a header that must be absent as absent, and one that must be present as present', () => {
    const [absent, present] = reviewsRoutes({
      routes: [
        { match: { headers: [{ name: 'x-debug', present: false }] }, backend: 'reviews-v1' },
        { match: { headers: [{ name: 'x-canary', present: true }] }, backend: 'reviews-v2' },
      ],
    });
    expect(absent.match.headers).toEqual([{ name: 'x-debug', presentMatch: true, invertMatch: true }]);
    expect(present.match.headers).toEqual([{ name: 'x-canary', presentMatch: true }]);
  });
});

describe('route destinations', () => {
  it("sends a backend with an explicit port to that port's cluster", () => {
    const [pinned, samePort] = reviewsRoutes({
      routes: [
        { match: { path: { prefix: '/v2-admin' } }, backend: 'reviews-v2', port: 9081 },
        { match: { path: { prefix: '/v2' } }, backend: 'reviews-v2' },
      ],
    });
    expect(pinned.route.cluster).toBe('shop/reviews-v2/9081');
    // Without a port, the target's own port number.
    expect(samePort.route.cluster).toBe('shop/reviews-v2/9080');
  });

  it('adds the weights of two split entries that reach one cluster', () => {
    const routes = reviewsRoutes({
      split: [
        { backend: 'reviews-v1', weight: 30 },
        { backend: 'reviews-v1', port: 9080, weight: 30 },
        { backend: 'reviews-v2', weight: 40 },
      ],
    });
    const fallback = routes[routes.length - 1];
    expect(fallback.route.weightedClusters.clusters).toEqual([
      { name: 'shop/reviews-v1/9080', weight: { value: 60 } },
      { name: 'shop/reviews-v2/9080', weight: { value: 40 } },
    ]);
  });

  it('sends a split whose entries all reach one cluster to that cluster alone', () => {
    const routes = reviewsRoutes({
      split: [
        { backend: 'reviews-v2', weight: 50 },
        { backend: 'reviews-v2', port: 9080, weight: 50 },
      ],
    });
    expect(routes[routes.length - 1].route).toMatchObject({ cluster: 'shop/reviews-v2/9080' });
    expect(routes[routes.length - 1].route.weightedClusters).toBeUndefined();
  });
});
