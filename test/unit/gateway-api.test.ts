// Gateway API pieces on their own: the structural checks (with the CRDs' CEL rules), hostname
// intersection, and what the model makes of routes as they come and go.
import { validateObject } from '../../src/sources/manifests.js';
import { parseManifests } from '../../src/sources/manifests.js';
import { intersectHostnames, MeshModel } from '../../src/model/index.js';
import { selectorMatches } from '../../src/model/gateway-api.js';
import { translateGateway } from '../../src/translate/index.js';
import type { KubeObject } from '../../src/sources/types.js';
import { gatewayClass as gatewayClassObject, remove, upsert } from '../support/builders.js';

const GROUP = 'gateway.networking.k8s.io';

const gatewayClass = gatewayClassObject();
const gateway = {
  apiVersion: `${GROUP}/v1`,
  kind: 'Gateway',
  metadata: { name: 'edge', namespace: 'shop' },
  spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
};
const web = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { ports: [{ name: 'http', port: 80 }] },
};

function route(spec: Record<string, unknown>, name = 'web'): Record<string, unknown> {
  return {
    apiVersion: `${GROUP}/v1`,
    kind: 'HTTPRoute',
    metadata: { name, namespace: 'shop' },
    spec: { parentRefs: [{ name: 'edge' }], ...spec },
  };
}

describe('Gateway API structural checks', () => {
  it('name the object, the field and the fix', () => {
    const errors = validateObject(
      route({
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: 'api' } }],
            filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 307 } }, { type: 'URLRewrite' }],
            backendRefs: [{ name: 'web' }],
            timeouts: { request: '1s', backendRequest: '5s' },
          },
        ],
      }),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^HTTPRoute shop\/web: spec\.rules\[0\]\.filters\[0\]\.requestRedirect\.statusCode: must be one of 301, 302/),
      ]),
    );
    // Shape errors come first; the rules across fields run on a well-shaped object.
    const rules = validateObject(
      route({
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: 'api' } }],
            filters: [{ type: 'URLRewrite' }],
            backendRefs: [{ name: 'web' }],
            timeouts: { request: '1s', backendRequest: '5s' },
          },
        ],
      }),
    );
    expect(rules).toEqual([
      'HTTPRoute shop/web: spec.rules[0].filters[0].urlRewrite: is required for type URLRewrite',
      'HTTPRoute shop/web: spec.rules[0].matches[0].path.value: must start with "/" for type PathPrefix (got "api")',
      'HTTPRoute shop/web: spec.rules[0].backendRefs[0].port: is required when the backend is a Service',
      'HTTPRoute shop/web: spec.rules[0].timeouts.backendRequest: 5s exceeds timeouts.request 1s; it must not',
    ]);
  });

  it('check Gateways: unique listener names, TLS where the protocol needs it, the apiVersion', () => {
    const bad = {
      ...gateway,
      spec: {
        gatewayClassName: 'switchyard',
        listeners: [
          { name: 'web', port: 80, protocol: 'HTTP' },
          { name: 'web', port: 443, protocol: 'HTTPS' },
        ],
      },
    };
    expect(validateObject(bad)).toEqual([
      'Gateway shop/edge: spec.listeners[1].name: "web" is used by an earlier listener; listener names must be unique',
      'Gateway shop/edge: spec.listeners[1].tls: is required for protocol HTTPS; set tls.certificateRefs to a kubernetes.io/tls Secret',
    ]);
    expect(validateObject({ ...gateway, apiVersion: `${GROUP}/v1beta1` })).toEqual([
      `Gateway shop/edge: apiVersion: must be ${GROUP}/v1 for a Gateway (got "${GROUP}/v1beta1")`,
    ]);
    expect(validateObject(gatewayClass)).toEqual([]);
  });

  it('folder mode reads the kinds and suggests one for a near miss', () => {
    const text = `apiVersion: ${GROUP}/v1\nkind: HTTPRoutes\nmetadata:\n  name: web\n`;
    const parsed = parseManifests(text, 'routes.yaml');
    expect(parsed.errors[0].message).toBe(
      'routes.yaml:2: kind: "HTTPRoutes" is not a kind Switchyard reads; did you mean HTTPRoute? The document is ignored',
    );
    const ok = parseManifests(
      `apiVersion: ${GROUP}/v1beta1\nkind: ReferenceGrant\nmetadata:\n  name: g\nspec:\n  from: [{group: ${GROUP}, kind: HTTPRoute, namespace: a}]\n  to: [{group: "", kind: Service}]\n`,
      'g.yaml',
    );
    expect(ok.objects.map((o) => [o.object.kind, o.object.metadata.namespace])).toEqual([['ReferenceGrant', 'default']]);
  });
});

describe('hostname intersection', () => {
  it('follows the specification', () => {
    expect(intersectHostnames(undefined, [])).toEqual(['*']);
    expect(intersectHostnames(undefined, ['a.example.com'])).toEqual(['a.example.com']);
    expect(intersectHostnames('a.example.com', [])).toEqual(['a.example.com']);
    expect(intersectHostnames('*.example.com', ['a.example.com', 'b.c.example.com', 'example.com', 'a.example.org'])).toEqual([
      'a.example.com',
      'b.c.example.com',
    ]);
    expect(intersectHostnames('a.example.com', ['*.example.com'])).toEqual(['a.example.com']);
    expect(intersectHostnames('*.example.com', ['*.a.example.com'])).toEqual(['*.a.example.com']);
    expect(intersectHostnames('*.a.example.com', ['*.example.com'])).toEqual(['*.a.example.com']);
    expect(intersectHostnames('a.example.com', ['b.example.com'])).toEqual([]);
  });
});

describe('namespace selectors', () => {
  it('match labels and expressions as Kubernetes does', () => {
    const labels = { team: 'shop', tier: 'web' };
    expect(selectorMatches({}, {})).toBe(true);
    expect(selectorMatches({ matchLabels: { team: 'shop' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { team: 'ads' } }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }, labels)).toBe(false);
    // Each operator both ways: a label present with another value, and a label absent.
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['api'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['api'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    // An operator Kubernetes does not define selects nothing.
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'Like' as never }] }, labels)).toBe(false);
  });
});

describe('the Gateway API model', () => {
  it('gives a host to the listener matching it most closely: routes attached to a wider listener do not apply there', () => {
    const model = new MeshModel();
    const twoListeners = {
      ...gateway,
      spec: {
        gatewayClassName: 'switchyard',
        listeners: [
          { name: 'wide', port: 8080, protocol: 'HTTP', hostname: '*.example.com' },
          { name: 'narrow', port: 8080, protocol: 'HTTP', hostname: 'a.example.com' },
        ],
      },
    };
    const wide = route(
      {
        parentRefs: [{ name: 'edge', sectionName: 'wide' }],
        hostnames: ['a.example.com', 'b.example.com'],
        rules: [{ backendRefs: [{ name: 'web', port: 80 }] }],
      },
      'wide',
    );
    const narrow = route(
      {
        parentRefs: [{ name: 'edge', sectionName: 'narrow' }],
        rules: [{ matches: [{ path: { type: 'Exact', value: '/n' } }], backendRefs: [{ name: 'web', port: 80 }] }],
      },
      'narrow',
    );
    model.apply([gatewayClass, twoListeners, web, wide, narrow].map((o) => upsert(o as unknown as KubeObject)));
    const config = translateGateway(model, 'shop/edge').routes[0].value as {
      virtualHosts: Array<{ name: string; routes: Array<{ name: string }> }>;
    };
    expect(config.virtualHosts.map((v) => [v.name, v.routes.map((r) => r.name)])).toEqual([
      ['a.example.com', ['HTTPRoute/shop/narrow/rules/0/matches/0']],
      ['b.example.com', ['HTTPRoute/shop/wide/rules/0/matches/0']],
    ]);
  });

  it('attaches a route when its Service appears, drops it when the route goes, and leaves other gateways alone', () => {
    const model = new MeshModel();
    model.apply(
      [gatewayClass, gateway, route({ rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] })].map((o) =>
        upsert(o as unknown as KubeObject),
      ),
    );
    const before = model.gatewayApiStatus().routes[0].parents[0].conditions.find((c) => c.type === 'ResolvedRefs');
    expect(before).toMatchObject({ status: 'False', reason: 'BackendNotFound' });
    expect(translateGateway(model, 'shop/edge').clusters).toEqual([]);

    const change = model.apply([upsert(web as unknown as KubeObject)]);
    expect(change.gatewayApi).toBe(true);
    expect(model.gatewayApiStatus().routes[0].parents[0].conditions.find((c) => c.type === 'ResolvedRefs')?.status).toBe('True');
    expect(translateGateway(model, 'shop/edge').clusters.map((c) => c.name)).toEqual(['shop/web/80']);
    // An Ingress gateway named "edge" is another gateway: it gets none of this.
    expect(translateGateway(model, 'edge').listeners.map((l) => l.name)).toEqual(['gateway/edge/8080']);
    expect(translateGateway(model, 'edge').clusters).toEqual([]);

    // An endpoints-only change does not touch the Gateway API picture.
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'] }],
    };
    expect(model.apply([upsert(slice as unknown as KubeObject)]).gatewayApi).toBe(false);

    model.apply([remove('HTTPRoute', 'web', 'shop')]);
    expect(model.gatewayApiStatus().routes).toEqual([]);
    expect(model.gatewayApiGateway('shop/edge')?.listenerStatuses[0].attachedRoutes).toBe(0);
    expect(translateGateway(model, 'shop/edge').routes[0].value).toEqual({ name: 'gateway/shop/edge/8080', virtualHosts: [] });
  });

  it("takes the Gateway's addresses from the Service labelled for it, and drops them when the label goes", () => {
    const model = new MeshModel();
    model.apply([gatewayClass, gateway].map((o) => upsert(o as unknown as KubeObject)));
    expect(model.gatewayApiGateway('shop/edge')?.addresses).toEqual([]);
    // Services labelled for another Gateway, or for a Gateway of this name in another namespace, are not its.
    const lb = (name: string, namespace: string, gatewayName: string) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels: { 'gateway.networking.k8s.io/gateway-name': gatewayName } },
      spec: { type: 'LoadBalancer', clusterIP: '10.0.0.8', ports: [{ name: 'http', port: 80 }] },
      status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } },
    });
    model.apply([lb('other-gw', 'shop', 'other'), lb('edge-gw', 'infra', 'edge')].map((o) => upsert(o as unknown as KubeObject)));
    expect(model.gatewayApiGateway('shop/edge')?.addresses).toEqual([]);
    const own = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'edge-gw', namespace: 'shop', labels: { 'gateway.networking.k8s.io/gateway-name': 'edge' } },
      spec: { type: 'LoadBalancer', clusterIP: '10.0.0.9', ports: [{ name: 'http', port: 80 }] },
      status: { loadBalancer: { ingress: [{ hostname: 'lb.example.com' }] } },
    };
    expect(model.apply([upsert(own as unknown as KubeObject)]).gatewayApi).toBe(true);
    expect(model.gatewayApiGateway('shop/edge')?.addresses).toEqual([{ type: 'Hostname', value: 'lb.example.com' }]);
    // A Service no Gateway API object names changes nothing.
    expect(model.apply([upsert(web as unknown as KubeObject)]).gatewayApi).toBe(false);
    const unlabelled = { ...own, metadata: { name: 'edge-gw', namespace: 'shop' } };
    expect(model.apply([upsert(unlabelled as unknown as KubeObject)]).gatewayApi).toBe(true);
    expect(model.gatewayApiGateway('shop/edge')?.addresses).toEqual([]);
  });

  it('a Gateway of another class is not ours: no listeners, no status', () => {
    const model = new MeshModel();
    const theirs = { ...gateway, spec: { ...gateway.spec, gatewayClassName: 'nginx' } };
    model.apply([gatewayClass, theirs].map((o) => upsert(o as unknown as KubeObject)));
    expect(model.gatewayApiGateways()).toEqual([]);
    expect(translateGateway(model, 'shop/edge').problems).toEqual([
      'gateway shop/edge: no Gateway shop/edge of a GatewayClass naming switchyard.dev/gateway-controller',
    ]);
  });
});

describe('deploy/gateway-api', () => {
  it('holds a GatewayClass naming our controller, valid as Switchyard reads it', async () => {
    const { readFileSync } = await import('node:fs');
    const parsed = parseManifests(readFileSync('deploy/gateway-api/gatewayclass.yaml', 'utf8'), 'gatewayclass.yaml');
    expect(parsed.errors).toEqual([]);
    expect(parsed.objects.map((o) => [o.object.kind, validateObject(o.object)])).toEqual([['GatewayClass', []]]);
    expect((parsed.objects[0].object as { spec: { controllerName: string } }).spec.controllerName).toBe(
      'switchyard.dev/gateway-controller',
    );
  });
});
