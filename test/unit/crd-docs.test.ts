// The generated documentation stays true: the CRD's Auto description is the code's rule, and
// docs/trafficpolicy.md is what the generator makes of the committed CRD. When either fails,
// run `npm run docs` and commit the result.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import {
  ACCESS_POLICY_CRD_FILE,
  ACCESS_POLICY_DEFAULTS,
  ACCESS_POLICY_EXAMPLES,
  ACCESS_POLICY_REFERENCE_FILE,
  accessPolicyReference,
  autoRuleDescription,
  CRD_FILE,
  crdWithAutoRule,
  exampleValue,
  FIELD_DEFAULTS,
  REFERENCE_EXAMPLES,
  REFERENCE_FILE,
  specFields,
  trafficPolicyReference,
} from '../../scripts/crd-docs.js';
import { validateAccessPolicySchema, validateTrafficPolicySchema } from '../../src/sources/crd-schema.js';
import { MeshModel, normalizePolicy } from '../../src/model/index.js';
import type { KubeObject, SourceEvent } from '../../src/sources/types.js';
import { translateAll } from '../../src/translate/index.js';
import { service, trafficPolicy, type JsonObject } from '../support/kube-api-server.js';
import { chooseLb } from '../../src/translate/lb-policy.js';
import { DEFAULT_TRANSLATE_OPTIONS } from '../../src/translate/options.js';

const crdText = readFileSync(CRD_FILE, 'utf8');
const crd = YAML.parse(crdText);
const schema = crd.spec.versions[0].schema.openAPIV3Schema;

describe('the CRD description of Auto', () => {
  it('is the Auto rule from the code (run `npm run docs` when this fails)', () => {
    const description = schema.properties.spec.properties.loadBalancer.properties.policy.description;
    expect(description).toBe(autoRuleDescription());
    expect(crdWithAutoRule(crdText)).toBe(crdText);
  });

  it('replaces only the description when the rule changes', () => {
    const stale = crdText.replace(/Auto \(the default\):/, 'Auto picks RoundRobin:');
    expect(stale).not.toBe(crdText);
    expect(crdWithAutoRule(stale)).toBe(crdText);
  });

  it('says what chooseLb does: LeastRequest without hash keys, Maglev from maglevMinEndpoints when none drain, else RingHash', () => {
    const text = autoRuleDescription();
    const min = DEFAULT_TRANSLATE_OPTIONS.maglevMinEndpoints;
    const facts = (healthy: number, draining: number, hashed: boolean) => ({
      policy: hashed
        ? normalizePolicy('ns/p', 'ns', { targetRef: { name: 'x' }, loadBalancer: { hashOn: [{ header: { name: 'x-user' } }] } })
        : undefined,
      clientIPAffinity: false,
      healthyEndpoints: healthy,
      drainingEndpoints: draining,
    });
    expect(chooseLb(facts(min, 0, false), DEFAULT_TRANSLATE_OPTIONS).policy).toBe('least_request');
    expect(text).toContain('with no hash keys, LeastRequest');
    expect(chooseLb(facts(min, 0, true), DEFAULT_TRANSLATE_OPTIONS).policy).toBe('maglev');
    expect(chooseLb(facts(min - 1, 0, true), DEFAULT_TRANSLATE_OPTIONS).policy).toBe('ring_hash');
    expect(chooseLb(facts(min, 1, true), DEFAULT_TRANSLATE_OPTIONS).policy).toBe('ring_hash');
    expect(text).toContain(
      `Maglev if the Service has at least ${min} endpoints (--maglev-min-endpoints) and none draining, otherwise RingHash`,
    );
    const affinity = chooseLb({ clientIPAffinity: true, healthyEndpoints: 1, drainingEndpoints: 0 }, DEFAULT_TRANSLATE_OPTIONS);
    expect(affinity.policy).toBe('ring_hash');
    expect(text).toContain('sessionAffinity: ClientIP');
  });
});

describe('docs/trafficpolicy.md', () => {
  it('is what the generator makes of the committed CRD (run `npm run docs` when this fails)', () => {
    expect(readFileSync(REFERENCE_FILE, 'utf8')).toBe(trafficPolicyReference(crdText));
  });

  it('lists every field of the spec, each with an example value', () => {
    const rows = specFields(schema);
    const reference = trafficPolicyReference(crdText);
    expect(rows.length).toBeGreaterThan(60);
    for (const row of rows) {
      expect(reference).toContain(`| \`${row.path}\` |`);
      expect([row.path, exampleValue(row.path)]).not.toEqual([row.path, undefined]);
    }
  });

  it('has examples the CRD schema accepts', () => {
    for (const example of REFERENCE_EXAMPLES) expect(validateTrafficPolicySchema(example)).toEqual([]);
  });

  it('gives defaults only for fields that exist', () => {
    const paths = new Set(specFields(schema).map((row) => row.path));
    expect(Object.keys(FIELD_DEFAULTS).filter((path) => !paths.has(path))).toEqual([]);
  });
});

describe('docs/accesspolicy.md', () => {
  const accessText = readFileSync(ACCESS_POLICY_CRD_FILE, 'utf8');
  const accessSchema = YAML.parse(accessText).spec.versions[0].schema.openAPIV3Schema;

  it('is what the generator makes of the committed CRD (run `npm run docs` when this fails)', () => {
    expect(readFileSync(ACCESS_POLICY_REFERENCE_FILE, 'utf8')).toBe(accessPolicyReference(accessText));
  });

  it('lists every field of the spec, each with an example value the CRD schema accepts', () => {
    const reference = accessPolicyReference(accessText);
    const rows = specFields(accessSchema);
    expect(rows.length).toBeGreaterThan(20);
    for (const row of rows) {
      expect(reference).toContain(`| \`${row.path}\` |`);
      expect([row.path, exampleValue(row.path, ACCESS_POLICY_EXAMPLES)]).not.toEqual([row.path, undefined]);
    }
    for (const example of ACCESS_POLICY_EXAMPLES) expect(validateAccessPolicySchema(example)).toEqual([]);
    const paths = new Set(rows.map((row) => row.path));
    expect(Object.keys(ACCESS_POLICY_DEFAULTS).filter((path) => !paths.has(path))).toEqual([]);
  });
});

describe('the defaults docs/trafficpolicy.md states', () => {
  const upsert = (object: JsonObject): SourceEvent =>
    ({
      type: 'upsert',
      ref: { kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name },
      object: object as KubeObject,
    }) as SourceEvent;

  function translated(appProtocol: string) {
    const model = new MeshModel();
    const svc = service('reviews');
    svc.spec.ports[0].appProtocol = appProtocol;
    svc.spec.clusterIP = '10.96.0.1';
    model.apply([
      upsert(svc),
      upsert(trafficPolicy('reviews', 'reviews', { healthCheck: { http: { path: '/healthz' } }, retries: { attempts: 2 } })),
    ]);
    const { clusters, routes } = translateAll(model, 'sidecar');
    const cluster = clusters.find((c) => c.name === 'shop/reviews/9080')!.value as any;
    const vhost = (routes.find((r) => r.name === '9080')!.value as any).virtualHosts.find(
      (v: { name: string }) => v.name === 'shop/reviews/9080',
    );
    return { check: cluster.healthChecks[0], route: vhost.routes[vhost.routes.length - 1].route };
  }

  it('are what the translator does for health checks, retries and timeouts', () => {
    const http = translated('http');
    expect(FIELD_DEFAULTS['spec.healthCheck.interval']).toBe(`${http.check.interval.seconds}s`);
    expect(FIELD_DEFAULTS['spec.healthCheck.timeout']).toBe(`${http.check.timeout.seconds}s`);
    expect(FIELD_DEFAULTS['spec.healthCheck.healthyThreshold']).toBe(String(http.check.healthyThreshold.value));
    expect(FIELD_DEFAULTS['spec.healthCheck.unhealthyThreshold']).toBe(String(http.check.unhealthyThreshold.value));
    expect(http.check.httpHealthCheck.host).toBeUndefined();
    expect(http.route.timeout).toBeUndefined();
    expect(http.route.retryPolicy.perTryTimeout).toBeUndefined();
    const grpc = translated('grpc');
    expect(grpc.route.timeout).toEqual({ seconds: 0 });
    expect(FIELD_DEFAULTS['spec.retries.retryOn']).toBe(
      `\`${http.route.retryPolicy.retryOn}\`; for gRPC ports \`${grpc.route.retryPolicy.retryOn}\``,
    );
  });
});
