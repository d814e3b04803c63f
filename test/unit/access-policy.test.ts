// The AccessPolicy processor: semantic checks name the field and the fix; policies combine per
// Service (own beats namespace-wide beats the mesh default for mtls, oldest first; allow rules add
// up; DryRun rules only shadow).
import { checkAccessPolicy, MeshModel, serviceAccess, type AccessPolicyEntry, type ServiceInfo } from '../../src/model/index.js';
import { validateObject } from '../../src/sources/manifests.js';
import { MESH_TLS_ANNOTATION as SOURCE_MESH_TLS_ANNOTATION } from '../../src/sources/kubernetes.js';
import { MESH_TLS_ANNOTATION } from '../../src/model/workload.js';
import { SDS_ANNOTATIONS } from '../../src/injection/sidecar.js';
import type { PodObject } from '../../src/sources/types.js';
import { main } from '../../src/cli/main.js';
import { translateSettings } from '../../src/cli/flags.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { translateOptions } from '../../src/translate/index.js';
import { accessPolicy, remove, service, upsert, upserts } from '../support/builders.js';
import type { AccessPolicySpec } from '../../src/sources/types.js';
import { validateAccessPolicySchema } from '../../src/sources/crd-schema.js';

const reviews: ServiceInfo = {
  key: 'shop/reviews',
  namespace: 'shop',
  name: 'reviews',
  headless: false,
  clusterIP: '10.96.0.10',
  ports: [
    { name: 'http', port: 80, targetPort: 9080, protocol: 'http' },
    { name: 'tcp-db', port: 5432, protocol: 'tcp' },
  ],
  clientIPAffinity: false,
  object: {} as ServiceInfo['object'],
};
const lookup = (namespace: string, name: string) => (namespace === 'shop' && name === 'reviews' ? reviews : undefined);

const entry = (name: string, spec: AccessPolicySpec, created?: string): AccessPolicyEntry => ({
  namespace: 'shop',
  name,
  spec,
  ...(created ? { created: Date.parse(created) } : {}),
});

describe('checkAccessPolicy', () => {
  it('accepts a valid policy', () => {
    const spec: AccessPolicySpec = {
      targetRef: { kind: 'Service', name: 'reviews' },
      mtls: 'Strict',
      allow: [
        {
          from: { namespaces: ['shop'], serviceAccounts: ['frontend', 'web/gateway'], spiffeIds: ['spiffe://cluster.local/ns/a/sa/b'] },
          to: { ports: [9080], paths: [{ prefix: '/api/' }], methods: ['GET'], headers: [{ name: 'x-user', present: true }] },
        },
      ],
    };
    expect(checkAccessPolicy('shop', spec, lookup)).toEqual({ spec: [], refs: [] });
  });

  it('names the field and the fix of each mistake', () => {
    const spec: AccessPolicySpec = {
      targetRef: { name: 'reviews' },
      mtls: 'Disable',
      allow: [
        {
          from: {},
          to: {
            ports: [80, 70000],
            paths: [{ exact: 'api' }, {}],
            methods: ['get'],
            headers: [{ name: 'bad header', exact: 'x', present: true }],
          },
        },
        { from: { serviceAccounts: ['a/b/c'], spiffeIds: ['https://x'], namespaces: ['Shop'] } },
      ],
    };
    const issues = checkAccessPolicy('shop', spec, lookup);
    expect(issues.spec).toEqual([
      'spec.allow[0].from: names no namespace, service account or SPIFFE ID; name one, or remove from to admit anyone',
      'spec.allow[0].to.ports[1]: 70000 is not a port (1-65535)',
      'spec.allow[0].to.paths[0].exact: "api" must start with /',
      'spec.allow[0].to.paths[1]: set exactly one of exact or prefix',
      'spec.allow[0].to.methods[0]: "get" is not an HTTP method; write it in capitals, e.g. GET',
      'spec.allow[0].to.headers[0].name: "bad header" is not a valid HTTP header name',
      'spec.allow[0].to.headers[0]: set exactly one of exact, prefix or present',
      "spec.allow[1].from: a caller's identity comes from its client certificate, but mtls is Disable; use Permissive or Strict",
      'spec.allow[1].from.namespaces[0]: "Shop" is not a namespace name',
      'spec.allow[1].from.serviceAccounts[0]: "a/b/c" is not <name> or <namespace>/<name>',
      'spec.allow[1].from.spiffeIds[0]: "https://x" is not a SPIFFE ID; write spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
    ]);
    // Port 80 is the Service's port, not where its pods receive (9080): a reference problem.
    expect(issues.refs).toEqual([
      'spec.allow[0].to.ports[0]: Service shop/reviews sends to no port 80 of its pods (its target ports: 9080, 5432)',
    ]);
    expect(checkAccessPolicy('shop', { targetRef: { name: 'ratings' } }, lookup).refs).toEqual([
      'spec.targetRef.name: Service shop/ratings not found in namespace shop',
    ]);
  });
});

describe('serviceAccess: how policies combine', () => {
  const wide = entry('namespace-default', { mtls: 'Permissive', allow: [{ from: { namespaces: ['shop'] } }] }, '2024-01-01T00:00:00Z');

  it('without policies: the mesh default and no RBAC', () => {
    expect(serviceAccess(reviews, [], 'Permissive')).toEqual({ serviceKey: 'shop/reviews', mtls: 'Permissive' });
    expect(serviceAccess(reviews, [], 'Strict').mtls).toBe('Strict');
  });

  it("a Service's own mtls beats the namespace-wide one, which beats the default; the oldest wins at one level", () => {
    const older = entry('older', { targetRef: { name: 'reviews' }, mtls: 'Strict' }, '2024-02-01T00:00:00Z');
    const newer = entry('newer', { targetRef: { name: 'reviews' }, mtls: 'Disable' }, '2024-03-01T00:00:00Z');
    expect(serviceAccess(reviews, [wide], 'Disable')).toMatchObject({ mtls: 'Permissive', mtlsFrom: 'shop/namespace-default' });
    expect(serviceAccess(reviews, [newer, wide, older], 'Disable')).toMatchObject({ mtls: 'Strict', mtlsFrom: 'shop/older' });
    // Same age: namespace/name decides, never arrival order.
    const a = entry('a', { targetRef: { name: 'reviews' }, mtls: 'Disable' });
    const b = entry('b', { targetRef: { name: 'reviews' }, mtls: 'Strict' });
    expect(serviceAccess(reviews, [b, a], 'Permissive').mtls).toBe('Disable');
    expect(serviceAccess(reviews, [a, b], 'Permissive').mtls).toBe('Disable');
    // Another namespace's or another Service's policy does not apply.
    const other = { ...entry('x', { mtls: 'Strict' }), namespace: 'web' };
    expect(serviceAccess(reviews, [other, entry('y', { targetRef: { name: 'ratings' }, mtls: 'Strict' })], 'Permissive').mtls).toBe(
      'Permissive',
    );
  });

  it('allow rules add up across policies, oldest first; an empty allow denies everything', () => {
    const own = entry(
      'reviews-readers',
      { targetRef: { name: 'reviews' }, allow: [{ from: { serviceAccounts: ['web/gateway'] }, to: { methods: ['GET'] } }] },
      '2024-05-01T00:00:00Z',
    );
    const access = serviceAccess(reviews, [own, wide], 'Permissive');
    expect(access.rules).toEqual([
      {
        name: 'shop/namespace-default/0',
        from: { namespaces: ['shop'], serviceAccounts: [], spiffeIds: [] },
        to: { ports: [], paths: [], methods: [], headers: [] },
      },
      {
        name: 'shop/reviews-readers/0',
        from: { namespaces: [], serviceAccounts: [{ namespace: 'web', name: 'gateway' }], spiffeIds: [] },
        to: { ports: [], paths: [], methods: ['GET'], headers: [] },
      },
    ]);
    expect(access.shadowRules).toBeUndefined();
    expect(serviceAccess(reviews, [entry('deny-all', { allow: [] })], 'Strict').rules).toEqual([]);
  });

  it('DryRun rules are not enforced: shadow rules are what would be, enforcing and dry-run together', () => {
    const trial = entry(
      'trial',
      { targetRef: { name: 'reviews' }, mode: 'DryRun', allow: [{ from: { serviceAccounts: ['frontend'] } }] },
      '2024-06-01T00:00:00Z',
    );
    expect(serviceAccess(reviews, [trial], 'Permissive')).toEqual({
      serviceKey: 'shop/reviews',
      mtls: 'Permissive',
      shadowRules: [
        {
          name: 'shop/trial/0',
          from: { namespaces: [], serviceAccounts: [{ namespace: 'shop', name: 'frontend' }], spiffeIds: [] },
          to: { ports: [], paths: [], methods: [], headers: [] },
        },
      ],
    });
    const both = serviceAccess(reviews, [trial, wide], 'Permissive');
    expect(both.rules?.map((r) => r.name)).toEqual(['shop/namespace-default/0']);
    expect(both.shadowRules?.map((r) => r.name)).toEqual(['shop/namespace-default/0', 'shop/trial/0']);
  });
});

describe('the AccessPolicy CRD schema (deploy/crds/accesspolicies.switchyard.dev.yaml)', () => {
  const object = (spec: unknown) => ({
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name: 'p', namespace: 'shop' },
    spec,
  });

  it('accepts every field, and a namespace-wide policy with nothing but a mode', () => {
    const full = {
      targetRef: { kind: 'Service', name: 'reviews' },
      mtls: 'Strict',
      mode: 'DryRun',
      allow: [
        {
          from: {
            namespaces: ['web'],
            serviceAccounts: ['frontend', 'web/gateway'],
            spiffeIds: ['spiffe://cluster.local/ns/ops/sa/backup'],
          },
          to: {
            ports: [9080],
            paths: [{ exact: '/healthz' }, { prefix: '/api/' }],
            methods: ['GET'],
            headers: [
              { name: 'x-user', present: true },
              { name: 'x-tier', exact: 'gold' },
              { name: 'x-v', prefix: 'v2' },
            ],
          },
        },
      ],
    };
    expect(validateAccessPolicySchema(object(full))).toEqual([]);
    expect(validateAccessPolicySchema(object({ mtls: 'Permissive' }))).toEqual([]);
  });

  it('refuses unknown fields, values outside the enums and ports out of range, naming the field', () => {
    expect(validateAccessPolicySchema(object({ mtls: 'strict', allow: [{ to: { ports: [0] }, form: {} }] }))).toEqual([
      'spec.mtls: must be one of Strict, Permissive, Disable (got "strict")',
      'spec.allow[0].form: unknown field (known fields: from, to)',
      'spec.allow[0].to.ports[0]: must be at least 1 (got 0)',
    ]);
  });
});

describe('AccessPolicies in the model', () => {
  const svc = (name: string) => service(name, [{ name: 'http', port: 80, targetPort: 9080 }]);

  it('applies a valid policy to its Service, names the Services it changes, and reports Accepted / ResolvedRefs', () => {
    const model = new MeshModel({ defaultMtls: 'Permissive' });
    model.apply(upserts(svc('reviews'), svc('ratings'), service('db', [{ name: 'pg', port: 5432 }], {}, { namespace: 'data' })));
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Permissive');

    const change = model.apply([upsert(accessPolicy('reviews-strict', { targetRef: { name: 'reviews' }, mtls: 'Strict', allow: [] }))]);
    expect(change.access).toEqual(new Set(['shop/reviews']));
    expect(change.accessPolicyStatus).toEqual(new Set(['shop/reviews-strict']));
    expect(model.serviceAccess('shop/reviews')).toMatchObject({ mtls: 'Strict', mtlsFrom: 'shop/reviews-strict', rules: [] });
    expect(model.serviceAccess('shop/ratings').mtls).toBe('Permissive');
    const conditions = model.accessPolicyStatus('shop', 'reviews-strict')?.conditions ?? [];
    expect(conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Accepted', 'True', 'Accepted'],
      ['ResolvedRefs', 'True', 'ResolvedRefs'],
    ]);

    // A namespace-wide policy reaches every Service of its namespace, none of another.
    const wide = model.apply([upsert(accessPolicy('shop-wide', { mtls: 'Disable' }))]);
    expect(wide.access).toEqual(new Set(['shop/ratings']));
    expect(model.serviceAccess('shop/ratings').mtls).toBe('Disable');
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Strict');
    expect(model.serviceAccess('data/db').mtls).toBe('Permissive');

    // A status-neutral Service event elsewhere changes no access and no status.
    const unrelated = model.apply([upsert(service('db', [{ name: 'pg', port: 5433 }], {}, { namespace: 'data' }))]);
    expect(unrelated.access.size).toBe(0);
    expect(unrelated.accessPolicyStatus.size).toBe(0);
  });

  it('keeps the last valid spec of a policy turned invalid, and says so', () => {
    const model = new MeshModel();
    model.apply(upserts(svc('reviews'), accessPolicy('p', { targetRef: { name: 'reviews' }, mtls: 'Strict' }, { generation: 1 })));
    const bad = accessPolicy(
      'p',
      { targetRef: { name: 'reviews' }, mtls: 'Disable', allow: [{ from: { namespaces: ['shop'] } }] },
      { generation: 2 },
    );
    const change = model.apply([upsert(bad)]);
    expect(change.access.size).toBe(0);
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Strict');
    const accepted = model.accessPolicyStatus('shop', 'p')?.conditions.find((c) => c.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'Invalid', observedGeneration: 2 });
    expect(accepted?.message).toMatch(/spec\.allow\[0\]\.from: .*mtls is Disable.*last valid spec of this policy stays applied/);

    // A schema rejection is reported the same way and keeps the last valid spec too.
    model.apply([
      {
        type: 'rejected',
        ref: { kind: 'AccessPolicy', namespace: 'shop', name: 'p' },
        errors: ['spec.mtls: must be one of Strict, Permissive, Disable'],
      },
    ]);
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Strict');
    expect(model.accessPolicyStatus('shop', 'p')?.conditions).toHaveLength(1);

    // Deleted: back to the mesh default, and the status goes.
    const gone = model.apply([remove('AccessPolicy', 'p')]);
    expect(gone.access).toEqual(new Set(['shop/reviews']));
    expect(gone.accessPolicyStatus).toEqual(new Set(['shop/p']));
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Permissive');
    expect(model.accessPolicyStatus('shop', 'p')).toBeUndefined();
  });

  it('a target that appears later resolves the policy and changes that Service only', () => {
    const model = new MeshModel({ defaultMtls: 'Strict' });
    model.apply(upserts(svc('ratings'), accessPolicy('p', { targetRef: { name: 'reviews' }, mtls: 'Permissive' })));
    const refs = () => model.accessPolicyStatus('shop', 'p')?.conditions.find((c) => c.type === 'ResolvedRefs');
    expect(refs()).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
    const change = model.apply([upsert(svc('reviews'))]);
    expect(change.access).toEqual(new Set(['shop/reviews']));
    expect(change.accessPolicyStatus).toEqual(new Set(['shop/p']));
    expect(refs()).toMatchObject({ status: 'True' });
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Permissive');
    expect(model.serviceAccess('shop/ratings').mtls).toBe('Strict');
  });

  it('a target Service that goes away takes its access with it, and the policy no longer resolves', () => {
    const model = new MeshModel({ defaultMtls: 'Permissive' });
    model.apply(upserts(svc('reviews'), svc('ratings'), accessPolicy('p', { targetRef: { name: 'reviews' }, mtls: 'Strict' })));
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Strict');
    const change = model.apply([remove('Service', 'reviews')]);
    expect(change.access).toEqual(new Set(['shop/reviews']));
    expect(model.accessPolicyStatus('shop', 'p')?.conditions.find((c) => c.type === 'ResolvedRefs')).toMatchObject({
      status: 'False',
      reason: 'TargetNotFound',
    });
    // Back with no policy of its own, it starts again from the policy that names it.
    model.apply([upsert(svc('reviews'))]);
    expect(model.serviceAccess('shop/reviews').mtls).toBe('Strict');
    expect(model.serviceAccess('shop/ratings').mtls).toBe('Permissive');
  });

  it('reads AccessPolicy manifests: the CRD schema rejects a bad one with the object and field named', () => {
    const errors = validateObject(accessPolicy('p', { mtls: 'Sometimes' as never }));
    expect(errors.join('\n')).toMatch(/^AccessPolicy shop\/p: spec\.mtls/);
    expect(validateObject(accessPolicy('p', { mtls: 'Strict' }))).toEqual([]);
  });
});

describe('the mesh default mode and trust domain from the command line', () => {
  it('--mtls-mode sets the mode of Services without a policy; --trust-domain the translator trust domain, cluster.local when empty', () => {
    const settings = translateOptions(translateSettings({ mtlsMode: 'Strict', trustDomain: '' }));
    expect(settings).toMatchObject({ mtlsMode: 'Strict', trustDomain: 'cluster.local' });
    expect(translateOptions(translateSettings({ trustDomain: 'example.org' }))).toMatchObject({
      mtlsMode: 'Permissive',
      trustDomain: 'example.org',
    });
    const pipeline = new Pipeline({ cache: new ResourceCache(), translate: translateSettings({ mtlsMode: 'Disable' }) });
    pipeline.model.apply([upsert(service('reviews'))]);
    expect(pipeline.model.serviceAccess('shop/reviews').mtls).toBe('Disable');
  });

  it('main refuses a mode it does not know, naming the choices', async () => {
    const out: string[] = [];
    const sink = { write: (text: string) => out.push(text) };
    const code = await main(['render', '--mtls-mode', 'Sometimes'], { stdout: sink, stderr: sink }, {});
    expect(code).toBe(2);
    expect(out.join('')).toMatch(/mtls-mode.*Strict, Permissive, Disable|Strict.*Permissive.*Disable/);
  });
});

describe('mesh destinations: which Services are reached over mutual TLS', () => {
  const pod = (name: string, serviceAccount: string, sidecar: boolean) =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'shop',
        labels: { app: 'reviews' },
        ...(sidecar ? { annotations: { [SDS_ANNOTATIONS.workloadCertificate]: '{}' } } : {}),
      },
      spec: { serviceAccountName: serviceAccount, containers: [{ name: 'app' }] },
      status: { podIP: `10.5.0.${name.length}` },
    }) as PodObject;
  const reviews = service('reviews', [{ name: 'http', port: 80 }], { selector: { app: 'reviews' } });

  it('the annotation the model looks for is the one the injection webhook writes', () => {
    expect(MESH_TLS_ANNOTATION).toBe(SDS_ANNOTATIONS.workloadCertificate);
    expect(SOURCE_MESH_TLS_ANNOTATION).toBe(SDS_ANNOTATIONS.workloadCertificate);
  });

  it('only when every pod runs a sidecar and the mode is not Disable; a change re-translates only when the destination changes', () => {
    const model = new MeshModel();
    model.apply(upserts(reviews, pod('a', 'reviews', false)));
    expect(model.meshDestination('shop/reviews')).toBeUndefined();

    const injected = model.apply([upsert(pod('a', 'reviews', true))]);
    expect(model.meshDestination('shop/reviews')).toEqual({ namespace: 'shop', serviceAccounts: ['reviews'] });
    expect(injected.services.has('shop/reviews')).toBe(true);

    // Scaling with the same identity changes nothing the clusters carry.
    const scaled = model.apply([upsert(pod('bb', 'reviews', true))]);
    expect(scaled.services.size).toBe(0);

    // A pod without a sidecar (mid-rollout): plain again, so it can still be reached.
    model.apply([upsert(pod('ccc', 'reviews', false))]);
    expect(model.meshDestination('shop/reviews')).toBeUndefined();
    model.apply([remove('Pod', 'ccc')]);
    expect(model.meshDestination('shop/reviews')).toEqual({ namespace: 'shop', serviceAccounts: ['reviews'] });

    const disabled = model.apply([upsert(accessPolicy('off', { targetRef: { name: 'reviews' }, mtls: 'Disable' }))]);
    expect(disabled.services.has('shop/reviews')).toBe(true);
    expect(model.meshDestination('shop/reviews')).toBeUndefined();
  });
});
