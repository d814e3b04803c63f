// Gateway API behaviours a mutation sample found unpinned: the specification's precedence by
// match kind (Exact before RegularExpression before PathPrefix, however long the prefix), a
// RegularExpression query parameter, and the paths a GRPCRoute's method match becomes when it
// names only a method, or uses a regex.
import { MeshModel } from '../../src/model/index.js';
import { translateGateway } from '../../src/translate/index.js';
import type { KubeObject } from '../../src/sources/types.js';
import { gatewayClass, upsert } from '../support/builders.js';

const GROUP = 'gateway.networking.k8s.io';
const objects = [
  gatewayClass(),
  {
    apiVersion: `${GROUP}/v1`,
    kind: 'Gateway',
    metadata: { name: 'edge', namespace: 'shop' },
    spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { ports: [{ name: 'grpc', port: 80, appProtocol: 'grpc' }] },
  },
];

interface RouteOut {
  name: string;
  match: { path?: string; prefix?: string; safeRegex?: { regex: string } };
}

function gatewayRoutes(route: Record<string, unknown>): RouteOut[] {
  const model = new MeshModel();
  model.apply([...objects, route].map((o) => upsert(o as unknown as KubeObject)));
  const config = translateGateway(model, 'shop/edge').routes[0].value as { virtualHosts: Array<{ routes: RouteOut[] }> };
  return config.virtualHosts.flatMap((v) => v.routes);
}

const backendRefs = [{ name: 'web', port: 80 }];

/** An HTTPRoute shop/web on the edge Gateway with these rules. */
function httpRoute(rules: unknown[]): Record<string, unknown> {
  return {
    apiVersion: `${GROUP}/v1`,
    kind: 'HTTPRoute',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { parentRefs: [{ name: 'edge' }], rules },
  };
}

describe('Gateway API route precedence', () => {
  it('puts an Exact path before a RegularExpression, and both before a longer PathPrefix', () => {
    const routes = gatewayRoutes(
      httpRoute([
        { matches: [{ path: { type: 'PathPrefix', value: '/a-very-long-prefix' } }], backendRefs },
        { matches: [{ path: { type: 'RegularExpression', value: '/r.*' } }], backendRefs },
        { matches: [{ path: { type: 'Exact', value: '/a' } }], backendRefs },
      ]),
    );
    expect(routes.map((r) => r.match)).toEqual([
      expect.objectContaining({ path: '/a' }),
      expect.objectContaining({ safeRegex: expect.objectContaining({ regex: '/r.*' }) }),
      { pathSeparatedPrefix: '/a-very-long-prefix' },
    ]);
  });
});

describe('HTTPRoute query parameter matches', () => {
  it('an Exact query parameter is an exact match, a RegularExpression one a regex', () => {
    const routes = gatewayRoutes(
      httpRoute([
        {
          matches: [
            {
              queryParams: [
                { type: 'Exact', name: 'lang', value: 'en' },
                { type: 'RegularExpression', name: 'page', value: '[0-9]+' },
              ],
            },
          ],
          backendRefs,
        },
      ]),
    );
    expect((routes[0]!.match as { queryParameters?: unknown }).queryParameters).toEqual([
      { name: 'lang', stringMatch: { exact: 'en' } },
      { name: 'page', stringMatch: { safeRegex: { regex: '[0-9]+' } } },
    ]);
  });
});

describe('GRPCRoute method matches', () => {
  function grpcRoute(method: Record<string, string>): RouteOut[] {
    return gatewayRoutes({
      apiVersion: `${GROUP}/v1`,
      kind: 'GRPCRoute',
      metadata: { name: 'api', namespace: 'shop' },
      spec: { parentRefs: [{ name: 'edge' }], rules: [{ matches: [{ method }], backendRefs }] },
    });
  }

  it('a method alone matches that method of any service', () => {
    expect(grpcRoute({ method: 'Get' })[0]!.match).toEqual(
      expect.objectContaining({ safeRegex: expect.objectContaining({ regex: '/[^/]+/Get' }) }),
    );
  });

  it('a service alone matches every method of that service', () => {
    expect(grpcRoute({ service: 'shop.Api' })[0]!.match).toEqual(expect.objectContaining({ prefix: '/shop.Api/' }));
  });

  it('a RegularExpression service alone matches any method of the services it names', () => {
    expect(grpcRoute({ type: 'RegularExpression', service: 'shop\\..*' })[0]!.match).toEqual(
      expect.objectContaining({ safeRegex: expect.objectContaining({ regex: '/shop\\..*/[^/]+' }) }),
    );
  });
});
