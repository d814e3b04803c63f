// The model's processors: what each input kind becomes before the translator sees it. The
// translator's own tests prove the rendered bytes; these pin the normalized picture itself, so a
// new translate function can rely on it (durations in ms, defaults filled in, paths and TLS
// hosts decided, references resolved against the current Services).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HEALTH_CHECK_DEFAULTS, MeshModel, normalizePolicy } from '../../src/model/index.js';
import type { IngressObject, PodObject, SecretObject } from '../../src/sources/types.js';
import { remove, service, tlsSecret, upsert } from '../support/builders.js';
import { selfSigned, shopIngress } from './gateway-fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('the TrafficPolicy processor', () => {
  it('turns durations into milliseconds and fills in the health-check defaults', () => {
    const policy = normalizePolicy('shop/p', 'shop', {
      targetRef: { name: 'api' },
      timeout: '1m30s',
      retries: { attempts: 2, perTryTimeout: '250ms' },
      outlierDetection: { interval: '10s', baseEjectionTime: '30s' },
      healthCheck: { http: { path: '/healthz' }, interval: '5s' },
    });
    expect(policy.timeoutMs).toBe(90_000);
    expect(policy.retries).toEqual({ attempts: 2, perTryTimeoutMs: 250 });
    expect(policy.outlierDetection).toEqual({ intervalMs: 10_000, baseEjectionTimeMs: 30_000 });
    expect(policy.healthCheck).toEqual({
      http: { path: '/healthz' },
      intervalMs: 5000,
      timeoutMs: HEALTH_CHECK_DEFAULTS.timeoutMs,
      healthyThreshold: HEALTH_CHECK_DEFAULTS.healthyThreshold,
      unhealthyThreshold: HEALTH_CHECK_DEFAULTS.unhealthyThreshold,
    });
  });

  it('defaults the LB policy to Auto and gives each hash key one kind, cookie TTLs in ms', () => {
    expect(normalizePolicy('shop/p', 'shop', { targetRef: { name: 'api' } }).loadBalancer).toEqual({ policy: 'Auto', hashOn: [] });
    const lb = normalizePolicy('shop/p', 'shop', {
      targetRef: { name: 'api' },
      loadBalancer: {
        policy: 'Maglev',
        maglev: { tableSize: 65537 },
        hashOn: [{ cookie: { name: 'session', ttl: '1h', path: '/' }, terminal: true }, { sourceIP: {} }, { header: { name: 'x-user' } }],
      },
    }).loadBalancer;
    expect(lb).toEqual({
      policy: 'Maglev',
      maglevTableSize: 65537,
      hashOn: [
        { kind: 'cookie', name: 'session', ttlMs: 3_600_000, path: '/', terminal: true },
        { kind: 'sourceIP', terminal: false },
        { kind: 'header', name: 'x-user', terminal: false },
      ],
    });
  });

  it('resolves backends to Service keys in the policy namespace and a single backend to weight 1', () => {
    const policy = normalizePolicy('shop/p', 'shop', {
      targetRef: { name: 'api' },
      split: [
        { backend: 'v1', weight: 90 },
        { backend: 'v2', port: 9090, weight: 10 },
      ],
      routes: [
        {
          match: {
            headers: [
              { name: 'x-canary', present: false },
              { name: 'x-env', exact: 'dev' },
            ],
          },
          backend: 'v2',
        },
        { match: { path: { exact: '/login' } }, backend: 'v1', port: 8081 },
      ],
    });
    expect(policy.split).toEqual([
      { serviceKey: 'shop/v1', name: 'v1', weight: 90 },
      { serviceKey: 'shop/v2', name: 'v2', port: 9090, weight: 10 },
    ]);
    expect(policy.routes).toEqual([
      {
        match: {
          path: { kind: 'prefix', value: '/' },
          headers: [
            { kind: 'absent', name: 'x-canary' },
            { kind: 'exact', name: 'x-env', value: 'dev' },
          ],
        },
        backends: [{ serviceKey: 'shop/v2', name: 'v2', weight: 1 }],
      },
      {
        match: { path: { kind: 'exact', value: '/login' }, headers: [] },
        backends: [{ serviceKey: 'shop/v1', name: 'v1', port: 8081, weight: 1 }],
      },
    ]);
    expect(policy.retries).toBeUndefined();
    expect(policy.failoverZones).toEqual([]);
    expect(policy.preferLocalZone).toBe(false);
  });

  it('is what the model serves a Service with, and follows the last good spec', () => {
    const model = new MeshModel();
    const policyObject = (timeout: string) => ({
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy' as const,
      metadata: { name: 'p', namespace: 'shop' },
      spec: { targetRef: { name: 'api' }, timeout },
    });
    model.apply([upsert(service('api', [{ name: 'http', port: 8080 }])), upsert(policyObject('2s'))]);
    expect(model.servicePolicy('shop/api')).toMatchObject({ key: 'shop/p', timeoutMs: 2000 });
    model.apply([upsert(policyObject('soon'))]);
    expect(model.servicePolicy('shop/api')).toMatchObject({ key: 'shop/p', timeoutMs: 2000 });
    expect(model.servicePolicy('shop/other')).toBeUndefined();
  });

  it('two policies holding one spec object each stay their own policy', () => {
    const model = new MeshModel();
    const spec = { targetRef: { name: 'api' }, timeout: '3s' };
    const inNamespace = (namespace: string) => ({
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy' as const,
      metadata: { name: 'p', namespace },
      spec,
    });
    const api = (namespace: string) => service('api', [{ name: 'http', port: 8080 }], {}, { namespace });
    model.apply([upsert(api('shop')), upsert(api('ads')), upsert(inNamespace('shop')), upsert(inNamespace('ads'))]);
    expect(model.servicePolicy('shop/api')).toMatchObject({ key: 'shop/p', timeoutMs: 3000 });
    expect(model.servicePolicy('ads/api')).toMatchObject({ key: 'ads/p', timeoutMs: 3000 });
  });
});

describe('the Ingress processor', () => {
  const model = new MeshModel();
  const ingress: IngressObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: 'web',
      namespace: 'shop',
      annotations: {
        'kubernetes.io/ingress.class': 'legacy',
        'switchyard.dev/gateway': ' edge , internal',
        'switchyard.dev/ssl-redirect': 'true',
      },
    },
    spec: {
      tls: [{ hosts: ['*.example.com'], secretName: 'wild' }, { hosts: ['plain.example.org'] }],
      rules: [
        {
          host: 'shop.example.com',
          http: {
            paths: [
              { path: '/cart/', pathType: 'Prefix', backend: { service: { name: 'cart', port: { name: 'http' } } } },
              { path: '/a?b', pathType: 'Exact', backend: { service: { name: 'cart', port: { number: 80 } } } },
              { pathType: 'ImplementationSpecific', backend: { resource: { kind: 'Bucket', name: 'b' } } },
            ],
          },
        },
        {
          host: 'plain.example.org',
          http: { paths: [{ path: '/x', pathType: 'Exact', backend: { service: { name: 'cart', port: { number: 80 } } } }] },
        },
        { host: 'deep.a.example.com', http: { paths: [] } },
        { host: 'a.io', http: { paths: [] } },
      ],
    },
  };
  model.apply([
    upsert(ingress),
    upsert(
      service('cart', [
        { name: 'http', port: 80 },
        { name: 'admin', port: 9000 },
      ]),
    ),
  ]);
  const info = model.ingressInfo('shop', 'web')!;

  it('reads the class, the gateways and the TLS entries', () => {
    expect(info.className).toBe('legacy');
    expect(info.gateways).toEqual(['edge', 'internal']);
    expect(info.tls).toEqual([
      { where: 'Ingress shop/web: spec.tls[0]', secretName: 'wild', hosts: ['*.example.com'] },
      { where: 'Ingress shop/web: spec.tls[1]', secretName: '', hosts: ['plain.example.org'] },
    ]);
    expect(info.serviceKeys).toEqual(['shop/cart', 'shop/cart', 'shop/cart']);
  });

  it('redirects to HTTPS only the hosts a TLS entry with a Secret covers (one label under a wildcard)', () => {
    expect(info.rules.map((rule) => [rule.host, rule.httpsRedirect])).toEqual([
      ['shop.example.com', true],
      ['plain.example.org', false],
      ['deep.a.example.com', false],
      ['a.io', false], // shorter than the wildcard's suffix: not under it
    ]);
  });

  it('normalizes paths the Kubernetes way and names what is left out, with the field', () => {
    const [prefix, query, resource] = info.rules[0].paths;
    expect(prefix.path).toEqual({ ok: true, value: { exact: false, path: '/cart' } });
    expect(prefix.routeName).toBe('shop/web/rules/0/paths/0');
    expect(query.path).toEqual({
      ok: false,
      error:
        'Ingress shop/web: spec.rules[0].http.paths[1].path: "/a?b" contains ? or #, which never occur in a request path; path left out',
    });
    expect(resource.path).toEqual({ ok: true, value: { exact: false, path: '/' } });
    expect(model.resolveIngressBackend(resource.backend)).toEqual({
      ok: false,
      error: 'spec.rules[0].http.paths[2].backend: resource backends (Bucket) are not supported; name a Service',
    });
  });

  it('resolves a backend port by name or number against the current Service', () => {
    const byName = model.resolveIngressBackend(info.rules[0].paths[0].backend);
    expect(byName.ok && byName.port.port).toBe(80);
    model.apply([upsert(service('cart', [{ name: 'web', port: 8080 }]))]);
    expect(model.resolveIngressBackend(info.rules[0].paths[0].backend)).toEqual({
      ok: false,
      error: 'spec.rules[0].http.paths[0].backend.service.port: Service shop/cart has no TCP port "http"; its ports: 8080 (web)',
    });
  });

  it('takes the only port of a Service for a backend that names none, and says so when there are several', () => {
    const portless = new MeshModel();
    const backend = (service: string) => ({
      kind: 'service' as const,
      label: 'Ingress shop/web',
      field: 'spec.defaultBackend',
      serviceKey: `shop/${service}`,
      namespace: 'shop',
      name: service,
      port: {},
    });
    portless.apply([
      upsert(service('one', [{ name: 'http', port: 8080 }])),
      upsert(
        service('two', [
          { name: 'http', port: 80 },
          { name: 'admin', port: 9000 },
        ]),
      ),
    ]);
    const one = portless.resolveIngressBackend(backend('one'));
    expect(one.ok && one.port.port).toBe(8080);
    expect(portless.resolveIngressBackend(backend('two'))).toEqual({
      ok: false,
      error: 'spec.defaultBackend.service.port: Service shop/two has no TCP port (none given); its ports: 80 (http), 9000 (admin)',
    });
  });

  it('knows an IngressClass by controller and default annotation', () => {
    const classes = new MeshModel();
    classes.apply([
      upsert({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'IngressClass',
        metadata: { name: 'ours', namespace: '', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
        spec: { controller: 'switchyard.dev/ingress-controller' },
      }),
    ]);
    expect(classes.ingressClassInfos()).toEqual([{ name: 'ours', controller: 'switchyard.dev/ingress-controller', isDefault: true }]);
  });

  it('gives the fixture Ingress one service reference per path', () => {
    const fixture = new MeshModel();
    fixture.apply([upsert(shopIngress())]);
    const [only] = fixture.ingressInfos();
    expect(only.serviceKeys.length).toBe(only.rules.reduce((n, rule) => n + rule.paths.length, 0) + (only.defaultBackend ? 1 : 0));
  });
});

describe('the Secret processor', () => {
  it('serves a matching certificate and key, says why a Secret is unusable, and follows changes', () => {
    const model = new MeshModel();
    expect(model.tlsCertificate('shop', 'tls')).toEqual({ ok: false, error: 'Secret shop/tls: not found' });
    const first = selfSigned('shop.example.com');
    model.apply([upsert(tlsSecret('tls', first))]);
    expect(model.tlsCertificate('shop', 'tls')).toEqual({ ok: true, certificatePem: first.certPem, keyPem: first.keyPem });

    const second = selfSigned('shop.example.com');
    const mismatched: SecretObject = tlsSecret('tls', { ...first, keyPem: second.keyPem });
    model.apply([upsert(mismatched)]);
    expect(model.tlsCertificate('shop', 'tls')).toEqual({
      ok: false,
      error: 'Secret shop/tls: tls.key does not match the certificate in tls.crt',
    });

    model.apply([upsert({ ...mismatched, type: 'Opaque' })]);
    expect(model.tlsCertificate('shop', 'tls')).toEqual({
      ok: false,
      error: 'Secret shop/tls: type is "Opaque"; TLS certificates need type kubernetes.io/tls',
    });
    model.apply([remove('Secret', 'tls')]);
    expect(model.tlsCertificate('shop', 'tls').ok).toBe(false);
  });
});

describe('the Pod processor', () => {
  const pod = (name: string, ip: string) =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'shop', labels: { app: 'api' } },
      spec: { containers: [{ name: 'app' }] },
      status: { podIP: ip },
    }) as PodObject;

  it('finds a pod by its IP; of two holding one IP (reused before the old pod went), the first by key', () => {
    const model = new MeshModel();
    model.apply([upsert(pod('api-b', '10.5.0.1')), upsert(pod('api-a', '10.5.0.1')), upsert(pod('api-c', '10.5.0.2'))]);
    expect(model.workloadByIP('10.5.0.1')?.name).toBe('api-a');
    expect(model.workloadByIP('10.5.0.2')?.name).toBe('api-c');
    expect(model.workloadByIP('10.5.0.3')).toBeUndefined();
    model.apply([remove('Pod', 'api-a')]);
    expect(model.workloadByIP('10.5.0.1')?.name).toBe('api-b');
  });
});

describe('the boundary between model and translator', () => {
  it('translate/ reads only the model: no file imports sources/', () => {
    const dir = path.join(here, '..', '..', 'src', 'translate');
    const offenders = readdirSync(dir)
      .filter((file) => file.endsWith('.ts'))
      .filter((file) => /from\s+['"][^'"]*\/sources\//.test(readFileSync(path.join(dir, file), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
