import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CEL_RULE_CHECKS,
  celRules,
  compileTrafficPolicySchema,
  crdFilePath,
  loadTrafficPolicyCrd,
  trafficPolicyOpenApiSchema,
  validateTrafficPolicySchema,
} from '../../src/sources/crd-schema.js';
import type { HashOnEntry, RouteMatchSpec, TrafficPolicySpec, WeightedBackend } from '../../src/sources/types.js';

type Routes = NonNullable<TrafficPolicySpec['routes']>[number];
type LoadBalancer = NonNullable<TrafficPolicySpec['loadBalancer']>;
type HealthCheck = NonNullable<TrafficPolicySpec['healthCheck']>;

// `Record<keyof T, true>` object literals: `npm run typecheck` fails if a key of the
// TypeScript type is missing here or one is added that the type lacks, so these lists
// follow types.ts and the test below holds the CRD to them.
const SPEC_KEYS: Record<keyof TrafficPolicySpec, true> = {
  targetRef: true,
  loadBalancer: true,
  split: true,
  routes: true,
  timeout: true,
  retries: true,
  circuitBreaker: true,
  outlierDetection: true,
  healthCheck: true,
  locality: true,
  rateLimit: true,
};
const NESTED_KEYS: Record<string, Record<string, true>> = {
  'spec.targetRef': { group: true, kind: true, name: true, sectionName: true } satisfies Record<keyof TrafficPolicySpec['targetRef'], true>,
  'spec.loadBalancer': { policy: true, ringHash: true, maglev: true, leastRequest: true, hashOn: true } satisfies Record<
    keyof LoadBalancer,
    true
  >,
  'spec.loadBalancer.ringHash': { minimumRingSize: true, maximumRingSize: true } satisfies Record<
    keyof NonNullable<LoadBalancer['ringHash']>,
    true
  >,
  'spec.loadBalancer.maglev': { tableSize: true } satisfies Record<keyof NonNullable<LoadBalancer['maglev']>, true>,
  'spec.loadBalancer.leastRequest': { choiceCount: true, activeRequestBias: true } satisfies Record<
    keyof NonNullable<LoadBalancer['leastRequest']>,
    true
  >,
  'spec.loadBalancer.hashOn[]': { header: true, cookie: true, sourceIP: true, queryParameter: true, terminal: true } satisfies Record<
    keyof HashOnEntry,
    true
  >,
  'spec.loadBalancer.hashOn[].header': { name: true } satisfies Record<keyof NonNullable<HashOnEntry['header']>, true>,
  'spec.loadBalancer.hashOn[].queryParameter': { name: true } satisfies Record<keyof NonNullable<HashOnEntry['queryParameter']>, true>,
  'spec.loadBalancer.hashOn[].cookie': { name: true, ttl: true, path: true } satisfies Record<
    keyof NonNullable<HashOnEntry['cookie']>,
    true
  >,
  'spec.split[]': { backend: true, port: true, weight: true } satisfies Record<keyof WeightedBackend, true>,
  'spec.routes[]': { match: true, backend: true, port: true, split: true } satisfies Record<keyof Routes, true>,
  'spec.routes[].split[]': { backend: true, port: true, weight: true } satisfies Record<keyof WeightedBackend, true>,
  'spec.routes[].match': { path: true, headers: true } satisfies Record<keyof RouteMatchSpec, true>,
  'spec.routes[].match.path': { prefix: true, exact: true, regex: true } satisfies Record<keyof NonNullable<RouteMatchSpec['path']>, true>,
  'spec.routes[].match.headers[]': { name: true, exact: true, regex: true, present: true } satisfies Record<
    keyof NonNullable<RouteMatchSpec['headers']>[number],
    true
  >,
  'spec.retries': { attempts: true, perTryTimeout: true, retryOn: true } satisfies Record<
    keyof NonNullable<TrafficPolicySpec['retries']>,
    true
  >,
  'spec.circuitBreaker': { maxConnections: true, maxPendingRequests: true, maxRequests: true, maxRetries: true } satisfies Record<
    keyof NonNullable<TrafficPolicySpec['circuitBreaker']>,
    true
  >,
  'spec.outlierDetection': { consecutive5xx: true, interval: true, baseEjectionTime: true, maxEjectionPercent: true } satisfies Record<
    keyof NonNullable<TrafficPolicySpec['outlierDetection']>,
    true
  >,
  'spec.healthCheck': {
    http: true,
    tcp: true,
    interval: true,
    timeout: true,
    healthyThreshold: true,
    unhealthyThreshold: true,
  } satisfies Record<keyof HealthCheck, true>,
  'spec.healthCheck.http': { path: true, host: true } satisfies Record<keyof NonNullable<HealthCheck['http']>, true>,
  'spec.locality': { preferLocalZone: true, failoverZones: true } satisfies Record<keyof NonNullable<TrafficPolicySpec['locality']>, true>,
  'spec.rateLimit': { requestsPerSecond: true, requestsPerMinute: true, burst: true, connections: true } satisfies Record<
    keyof NonNullable<TrafficPolicySpec['rateLimit']>,
    true
  >,
  'spec.rateLimit.connections': { perSecond: true, perMinute: true, burst: true } satisfies Record<
    keyof NonNullable<NonNullable<TrafficPolicySpec['rateLimit']>['connections']>,
    true
  >,
};

type Node = Record<string, any>;

/** The schema node at a dotted path with `[]` for array items. */
function nodeAt(root: Node, dotted: string): Node {
  let node = root;
  for (const part of dotted.split('.')) {
    const name = part.replace(/\[\]/g, '');
    node = node.properties?.[name];
    expect(node).toBeDefined();
    for (let i = 0; i < (part.match(/\[\]/g) ?? []).length; i++) node = node.items;
  }
  return node;
}

/** Every schema node with its path (properties and items; not inside oneOf). */
function* walk(node: Node, at = '(root)'): Generator<[string, Node]> {
  yield [at, node];
  for (const [key, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) yield* walk(child, `${at}.${key}`);
  if (node.items) yield* walk(node.items, `${at}[]`);
}

const VALUE_KEYWORDS = new Set([
  'type',
  'description',
  'properties',
  'items',
  'required',
  'enum',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
  'oneOf',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
]);

describe('the TrafficPolicy CRD', () => {
  const crd = loadTrafficPolicyCrd();
  const schema = trafficPolicyOpenApiSchema(crd) as Node;

  it('is found from the source tree and parses as one apiextensions.k8s.io/v1 CRD', () => {
    const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    expect(crdFilePath()).toBe(path.join(repoRoot, 'deploy/crds/trafficpolicies.switchyard.dev.yaml'));
    expect(Object.keys(crd).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.metadata.name).toBe('trafficpolicies.switchyard.dev');
    expect(Object.keys(crd.spec).sort()).toEqual(['group', 'names', 'scope', 'versions']);
    expect(crd.spec.group).toBe('switchyard.dev');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toEqual({
      kind: 'TrafficPolicy',
      listKind: 'TrafficPolicyList',
      plural: 'trafficpolicies',
      singular: 'trafficpolicy',
      shortNames: ['tp'],
    });
  });

  it('serves and stores v1alpha1, with the status subresource and printer columns', () => {
    expect(crd.spec.versions).toHaveLength(1);
    const [version] = crd.spec.versions;
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    expect(version.additionalPrinterColumns.map((c: Node) => [c.name, c.jsonPath])).toEqual([
      ['Target', '.spec.targetRef.name'],
      ['Policy', '.spec.loadBalancer.policy'],
      ['Split', '.spec.split[*].backend'],
      ['Accepted', '.status.conditions[?(@.type=="Accepted")].status'],
      ['Programmed', '.status.conditions[?(@.type=="Programmed")].status'],
      ['Age', '.metadata.creationTimestamp'],
    ]);
  });

  it('is structural: every node has a type, oneOf branches only require declared fields, no additionalProperties', () => {
    const problems: string[] = [];
    for (const [at, node] of walk(schema)) {
      if (typeof node.type !== 'string') problems.push(`${at}: no type`);
      for (const key of Object.keys(node)) if (!VALUE_KEYWORDS.has(key)) problems.push(`${at}: keyword ${key}`);
      if (node.type === 'object' && node.properties === undefined && at !== '(root).metadata') {
        // An object without properties takes no fields: only the empty markers sourceIP and tcp.
        if (!/\.(sourceIP|tcp)$/.test(at)) problems.push(`${at}: object without properties`);
      }
      for (const branch of (node.oneOf ?? []) as Node[]) {
        expect(Object.keys(branch)).toEqual(['required']);
        for (const field of branch.required as string[])
          if (!node.properties?.[field]) problems.push(`${at}: oneOf requires undeclared ${field}`);
      }
      for (const field of (node.required ?? []) as string[])
        if (!node.properties?.[field]) problems.push(`${at}: requires undeclared ${field}`);
    }
    expect(problems).toEqual([]);
  });

  it('declares exactly the fields of TrafficPolicySpec, at every level', () => {
    expect(Object.keys(schema.properties.spec.properties).sort()).toEqual(Object.keys(SPEC_KEYS).sort());
    for (const [at, keys] of Object.entries(NESTED_KEYS)) {
      expect([at, Object.keys(nodeAt(schema, at).properties).sort()]).toEqual([at, Object.keys(keys).sort()]);
    }
    // The empty markers stay empty, and the policy enum is the LoadBalancerPolicy union.
    expect(nodeAt(schema, 'spec.loadBalancer.hashOn[].sourceIP')).toEqual({ type: 'object' });
    expect(nodeAt(schema, 'spec.healthCheck.tcp')).toEqual({ type: 'object' });
    expect(nodeAt(schema, 'spec.loadBalancer.policy').enum).toEqual(['Auto', 'RingHash', 'Maglev', 'LeastRequest', 'RoundRobin', 'Random']);
    expect(nodeAt(schema, 'spec.retries').required).toEqual(['attempts']);
    expect(nodeAt(schema, 'spec.split[]').required).toEqual(['backend', 'weight']);
  });

  it('describes the status with observedGeneration and conditions keyed by type', () => {
    expect(Object.keys(schema.properties.status.properties)).toEqual(['observedGeneration', 'conditions']);
    const conditions = schema.properties.status.properties.conditions;
    expect(conditions['x-kubernetes-list-map-keys']).toEqual(['type']);
    expect(Object.keys(conditions.items.properties).sort()).toEqual(
      ['lastTransitionTime', 'message', 'observedGeneration', 'reason', 'status', 'type'].sort(),
    );
  });

  it('has a check in code for every CEL rule, and no check for a rule it lacks', () => {
    const rules = celRules(schema).map((r) => r.rule);
    expect(rules.length).toBeGreaterThan(0);
    expect([...new Set(rules)].sort()).toEqual(Object.keys(CEL_RULE_CHECKS).sort());
    for (const found of celRules(schema)) expect(found.message).toEqual(expect.any(String));
  });

  it('compiles with ajv in strict mode despite the x-kubernetes-* keywords, and refuses a rule without a check', () => {
    expect(() => compileTrafficPolicySchema(schema)).not.toThrow();
    const withNewRule = structuredClone(schema);
    withNewRule.properties.spec.properties.timeout['x-kubernetes-validations'] = [{ rule: 'self != "0s"', message: 'no zero' }];
    expect(() => compileTrafficPolicySchema(withNewRule)).toThrow(
      'the TrafficPolicy CRD rule at spec.timeout has no check in code: self != "0s"',
    );
  });
});

describe('the CRD on rate limits (schema and the code twins of its CEL rules)', () => {
  const fieldsOf = (rateLimit: unknown, kind = 'Service') =>
    validateTrafficPolicySchema({
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: 'p', namespace: 'shop' },
      spec: { targetRef: { kind, name: 'api' }, rateLimit },
    }).map((message) => message.slice(0, message.indexOf(':')));

  it('takes a request limit, a connection limit, or both', () => {
    expect(fieldsOf({ requestsPerSecond: 10, burst: 20 })).toEqual([]);
    expect(fieldsOf({ connections: { perMinute: 600, burst: 600 } })).toEqual([]);
    expect(fieldsOf({ requestsPerMinute: 60, connections: { perSecond: 5 } })).toEqual([]);
    expect(fieldsOf({ requestsPerSecond: 10 }, 'GRPCRoute')).toEqual([]);
  });

  it('refuses each bad limit naming its field', () => {
    expect(fieldsOf({})).toEqual(['spec.rateLimit']);
    expect(fieldsOf({ requestsPerSecond: 1, requestsPerMinute: 60 })).toEqual(['spec.rateLimit']);
    expect(fieldsOf({ burst: 5, connections: { perSecond: 1 } })).toEqual(['spec.rateLimit.burst']);
    expect(fieldsOf({ connections: {} })).toEqual(['spec.rateLimit.connections']);
    expect(fieldsOf({ connections: { perSecond: 1, perMinute: 60 } })).toEqual(['spec.rateLimit.connections']);
    expect(fieldsOf({ connections: { perSecond: 10, burst: 9 } })).toEqual(['spec.rateLimit.connections.burst']);
    expect(fieldsOf({ connections: { perSecond: 0 } })).toEqual(['spec.rateLimit.connections.perSecond']);
    expect(fieldsOf({ connections: { perSecond: 1, rate: 2 } })).toEqual(['spec.rateLimit.connections.rate']);
  });
});
