// Property-based tests of hostile manifests: random YAML text, and the example mesh with one
// field of one object replaced by a random value, through parsing, validation, the model,
// translation and encoding. Nothing may throw; every bad object gets a message.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { ResourceCache } from '../../src/cache/cache.js';
import { gatewayGroup, PROXYLESS_GROUP, SIDECAR_GROUP } from '../../src/cache/types.js';
import { MeshModel } from '../../src/model/index.js';
import { TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import { parseManifests, toSourceEvent } from '../../src/sources/manifests.js';
import type { KubeObject, SourceEvent } from '../../src/sources/types.js';
import { INGRESS_CONTROLLER, translateAll, translateGateway } from '../../src/translate/index.js';

const EXAMPLES = path.resolve('examples');

/** The example mesh plus a gateway (IngressClass, Ingress with TLS, its Secret). */
function baseObjects(): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const file of readdirSync(EXAMPLES)
    .filter((name) => name.endsWith('.yaml'))
    .sort()) {
    const parsed = parseManifests(readFileSync(path.join(EXAMPLES, file), 'utf8'), file);
    expect(parsed.errors).toEqual([]);
    objects.push(...parsed.objects.map((entry) => entry.object));
  }
  const gateway = [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: 'switchyard' },
      spec: { controller: INGRESS_CONTROLLER },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'shop-tls', namespace: 'shop' },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').toString('base64'),
        'tls.key': Buffer.from('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n').toString('base64'),
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'shop', namespace: 'shop', annotations: { 'switchyard.dev/gateway': 'edge' } },
      spec: {
        ingressClassName: 'switchyard',
        tls: [{ hosts: ['shop.example'], secretName: 'shop-tls' }],
        rules: [
          {
            host: 'shop.example',
            http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'reviews', port: { number: 9080 } } } }] },
          },
        ],
      },
    },
  ];
  return [...objects, ...(gateway as unknown as KubeObject[])];
}

/** A copy of `value` with the node reached by `steps` replaced (or deleted when `replacement` is undefined). */
function mutateAt(value: unknown, steps: number[], replacement: unknown): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  let node: Record<string, unknown> | unknown[] = copy;
  for (let i = 0; i < steps.length; i++) {
    const keys = Array.isArray(node) ? node.map((_, index) => index) : Object.keys(node);
    if (keys.length === 0) break;
    const key = keys[steps[i] % keys.length];
    const child = (node as Record<string | number, unknown>)[key];
    const last = i === steps.length - 1 || child === null || typeof child !== 'object';
    if (last) {
      if (replacement === undefined && !Array.isArray(node)) delete (node as Record<string, unknown>)[key as string];
      else (node as Record<string | number, unknown>)[key] = replacement;
      break;
    }
    node = child as Record<string, unknown>;
  }
  return copy;
}

/** Everything downstream of the sources: the model takes the events, every role is translated, the cache encodes it. */
function runMesh(events: SourceEvent[]): void {
  const model = new MeshModel();
  model.apply(events);
  const cache = new ResourceCache();
  // Whatever the input, nothing translated may break a rule Envoy enforces.
  const refused: string[] = [];
  cache.onRefused((resource) => refused.push(...resource.violations));
  for (const [group, role] of [
    [SIDECAR_GROUP, 'sidecar'],
    [PROXYLESS_GROUP, 'proxyless'],
  ] as const) {
    const all = translateAll(model, role);
    cache.apply([
      { group, typeUrl: TypeUrl.Cluster, set: all.clusters },
      { group, typeUrl: TypeUrl.ClusterLoadAssignment, set: all.endpoints },
      { group, typeUrl: TypeUrl.RouteConfiguration, set: all.routes },
      { group, typeUrl: TypeUrl.Listener, set: all.listeners },
    ]);
  }
  const gateway = translateGateway(model, 'edge') as unknown as Record<string, XdsResource[] | unknown>;
  const byType: Array<[string, TypeUrl]> = [
    ['clusters', TypeUrl.Cluster],
    ['endpoints', TypeUrl.ClusterLoadAssignment],
    ['routes', TypeUrl.RouteConfiguration],
    ['listeners', TypeUrl.Listener],
    ['secrets', TypeUrl.Secret],
  ];
  cache.apply(
    byType
      .filter(([key]) => Array.isArray(gateway[key]))
      .map(([key, typeUrl]) => ({ group: gatewayGroup('edge'), typeUrl, set: gateway[key] as XdsResource[] })),
  );
  expect(refused).toEqual([]);
  // Every TrafficPolicy that reached the model has a status with readable conditions.
  for (const status of model.policyStatuses()) {
    for (const condition of (status as unknown as { conditions: Array<{ message: unknown }> }).conditions ?? []) {
      expect(typeof condition.message).toBe('string');
    }
  }
}

function expectUsable(events: SourceEvent[]): void {
  for (const event of events) {
    if (event.type === 'rejected') {
      expect(event.errors.length).toBeGreaterThan(0);
      for (const error of event.errors) expect(error).toMatch(/\S/);
    }
  }
}

describe('hostile manifests', () => {
  const base = baseObjects();

  it('random YAML text parses to objects or located errors, never an exception', () => {
    const yamlish = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({
        unit: fc.constantFrom(
          'a',
          ':',
          ' ',
          '\n',
          '-',
          '{',
          '}',
          '[',
          ']',
          '&',
          '*',
          '!',
          '<<',
          '|',
          '>',
          '"',
          "'",
          '#',
          '---',
          '\t',
          'kind',
          'metadata',
        ),
        maxLength: 120,
      }),
      fc.jsonValue({ maxDepth: 5 }).map((value) => YAML.stringify(value)),
    );
    fc.assert(
      fc.property(yamlish, (text) => {
        const parsed = parseManifests(text, 'fuzz.yaml');
        for (const error of parsed.errors) expect(error.message.startsWith('fuzz.yaml:')).toBe(true);
        const events = parsed.objects.map(({ object, origin }) => toSourceEvent(object, origin));
        expectUsable(events);
        runMesh(events);
      }),
      { numRuns: 300 },
    );
  });

  it('the example mesh with one field replaced by a random value: a message for what is wrong, the rest translated and encoded', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: base.length - 1 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 7 }),
        fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined, freq: 5 }),
        fc.boolean(),
        (index, steps, replacement, throughYaml) => {
          const mutated = mutateAt(base[index], steps, replacement) as KubeObject;
          const objects = base.map((object, i) => (i === index ? mutated : object));
          let events: SourceEvent[];
          if (throughYaml) {
            const text = objects.map((object) => YAML.stringify(object)).join('---\n');
            const parsed = parseManifests(text, 'mesh.yaml');
            events = parsed.objects.map(({ object, origin }) => toSourceEvent(object, origin));
          } else {
            events = objects
              .filter(
                (object) =>
                  object !== null &&
                  typeof object === 'object' &&
                  typeof (object as { metadata?: { name?: unknown } }).metadata?.name === 'string',
              )
              .map((object) => toSourceEvent(object));
          }
          expectUsable(events);
          runMesh(events);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a Service whose namespace cannot even be turned into text is left out, and the rest applies (found by the property above)', () => {
    const index = base.findIndex((object) => object.kind === 'Service');
    const hostile = structuredClone(base[index]) as unknown as { metadata: Record<string, unknown> };
    hostile.metadata.namespace = { toString: 0 };
    const events = base.map((object, i) => toSourceEvent(i === index ? (hostile as unknown as KubeObject) : object));
    expect(() => runMesh(events)).not.toThrow();
    // A batch of nothing but such events is not the model's first batch: the next one still is,
    // and translates everything.
    const model = new MeshModel();
    expect(model.apply([toSourceEvent(hostile as unknown as KubeObject)]).all).toBe(false);
    expect(model.apply(base.map((object) => toSourceEvent(object))).all).toBe(true);
  });

  it('the example mesh with one string replaced by a hostile one: nothing translated breaks a rule Envoy enforces', () => {
    // Every string leaf of every object, as a path of keys and indexes.
    const stringLeaves = (value: unknown, at: Array<string | number> = []): Array<Array<string | number>> => {
      if (typeof value === 'string') return [at];
      if (Array.isArray(value)) return value.flatMap((item, i) => stringLeaves(item, [...at, i]));
      if (value && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => stringLeaves(item, [...at, key]));
      return [];
    };
    const leaves = base.flatMap((object, index) => stringLeaves(object).map((at) => ({ index, at })));
    const hostile = fc.oneof(
      fc.constantFrom(
        '',
        ' ',
        '\n',
        'a\r\nb',
        '\u0000',
        'a\u0001b',
        '\u007f',
        ':',
        '/',
        '//',
        '*',
        '%00',
        '\t',
        'ü',
        '😀',
        'a'.repeat(300),
        '0',
        '-1',
        '65536',
      ),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.string({ unit: fc.constantFrom('a', '/', ':', '.', '-', '\n', '\r', '\u0000', ' ', '*', '?', '#'), maxLength: 10 }),
    );
    fc.assert(
      fc.property(fc.nat({ max: leaves.length - 1 }), hostile, (pick, replacement) => {
        const { index, at } = leaves[pick];
        const mutated = structuredClone(base[index]) as unknown as Record<string | number, unknown>;
        let node = mutated;
        for (const step of at.slice(0, -1)) node = node[step] as Record<string | number, unknown>;
        node[at[at.length - 1]] = replacement;
        const events = base.map((object, i) => toSourceEvent(i === index ? (mutated as unknown as KubeObject) : object));
        expectUsable(events);
        runMesh(events);
      }),
      { numRuns: 300 },
    );
  });

  it('random TrafficPolicy specs are accepted or rejected with a message; translation never throws', () => {
    const durations = fc.oneof(fc.constantFrom('1s', '250ms', '0s', '-1s', '1h', '10x', ''), fc.string({ maxLength: 6 }));
    const numbers = fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.double(), fc.constant(0));
    const spec = fc.record(
      {
        targetRef: fc.record(
          { name: fc.constantFrom('reviews', 'cart', 'missing', ''), kind: fc.constantFrom('Service', 'Pod') },
          { requiredKeys: ['name'] },
        ),
        loadBalancer: fc.record(
          {
            policy: fc.constantFrom('ring_hash', 'maglev', 'least_request', 'round_robin', 'random', 'auto', 'bogus'),
            ringHash: fc.record({ minimumRingSize: numbers, maximumRingSize: numbers }, { requiredKeys: [] }),
            maglev: fc.record({ tableSize: numbers }),
            leastRequest: fc.record({ choiceCount: numbers, activeRequestBias: numbers }, { requiredKeys: [] }),
            hashOn: fc.array(
              fc.oneof(
                fc.record({ header: fc.string({ maxLength: 8 }) }),
                fc.record({ cookie: fc.record({ name: fc.string({ maxLength: 5 }), ttl: durations }) }),
                fc.record({ sourceIp: fc.boolean() }),
                fc.jsonValue({ maxDepth: 2 }),
              ),
              { maxLength: 3 },
            ),
          },
          { requiredKeys: [] },
        ),
        split: fc.array(
          fc.record(
            { backend: fc.constantFrom('reviews-v1', 'reviews-v2', 'ghost', ''), weight: numbers, port: numbers },
            { requiredKeys: ['backend'] },
          ),
          { maxLength: 4 },
        ),
        routes: fc.array(
          fc.record(
            {
              match: fc.oneof(
                fc.record({
                  headers: fc.array(fc.record({ name: fc.string({ maxLength: 6 }), exact: fc.string({ maxLength: 6 }) }), { maxLength: 2 }),
                }),
                fc.record({ pathPrefix: fc.string({ maxLength: 6 }) }),
                fc.jsonValue({ maxDepth: 2 }),
              ),
              backend: fc.constantFrom('reviews-v1', 'reviews-v2', 'nope'),
              port: numbers,
            },
            { requiredKeys: ['match'] },
          ),
          { maxLength: 3 },
        ),
        timeout: durations,
        retries: fc.record(
          {
            attempts: numbers,
            perTryTimeout: durations,
            retryOn: fc.array(fc.constantFrom('5xx', 'reset', 'connect-failure', 'weird'), { maxLength: 3 }),
          },
          { requiredKeys: [] },
        ),
        circuitBreaker: fc.record(
          { maxConnections: numbers, maxPendingRequests: numbers, maxRequests: numbers, maxRetries: numbers },
          { requiredKeys: [] },
        ),
        outlierDetection: fc.record(
          { consecutive5xx: numbers, interval: durations, baseEjectionTime: durations, maxEjectionPercent: numbers },
          { requiredKeys: [] },
        ),
        healthCheck: fc.record(
          { http: fc.record({ path: fc.string({ maxLength: 6 }) }), interval: durations, timeout: durations, healthyThreshold: numbers },
          { requiredKeys: [] },
        ),
        locality: fc.record(
          { preferLocalZone: fc.boolean(), failoverZones: fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }) },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(spec, (policySpec) => {
        const policy = {
          apiVersion: 'switchyard.dev/v1alpha1',
          kind: 'TrafficPolicy',
          metadata: { name: 'fuzzed', namespace: 'shop', generation: 1 },
          spec: policySpec,
        } as unknown as KubeObject;
        const event = toSourceEvent(policy);
        expectUsable([event]);
        const events = [...base.map((object) => toSourceEvent(object)), event];
        runMesh(events);
        const model = new MeshModel();
        model.apply(events);
        if (event.type === 'upsert') {
          const conditions = model.policyStatus('shop', 'fuzzed');
          expect(conditions?.length).toBeGreaterThan(0);
          for (const condition of conditions!) expect(condition.message).toEqual(expect.any(String));
        }
      }),
      { numRuns: 200 },
    );
  });
});
