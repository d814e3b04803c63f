// Documentation generated from one source, so it cannot drift (`npm run docs`; a test fails
// when a committed file differs from what this produces):
// - the CRD's description of `loadBalancer.policy` comes from the code's Auto rule (autoRuleText);
// - docs/trafficpolicy.md, the TrafficPolicy reference, comes from the CRD's schema: every
//   field with its type, constraints, default and an example value taken from REFERENCE_EXAMPLES
//   (which a test validates against the CRD and checks covers every field);
// - docs/accesspolicy.md, the AccessPolicy reference, the same way from its CRD.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML, { isMap, isScalar, type Scalar } from 'yaml';
import { autoRuleText } from '../src/translate/lb-policy.js';
import { DEFAULT_TRANSLATE_OPTIONS } from '../src/translate/options.js';

export const CRD_FILE = path.join('deploy', 'crds', 'trafficpolicies.switchyard.dev.yaml');
export const REFERENCE_FILE = path.join('docs', 'trafficpolicy.md');
export const ACCESS_POLICY_CRD_FILE = path.join('deploy', 'crds', 'accesspolicies.switchyard.dev.yaml');
export const ACCESS_POLICY_REFERENCE_FILE = path.join('docs', 'accesspolicy.md');

/** Path (in the YAML document) of the policy field's description. */
const POLICY_DESCRIPTION_PATH = [
  'spec',
  'versions',
  0,
  'schema',
  'openAPIV3Schema',
  'properties',
  'spec',
  'properties',
  'loadBalancer',
  'properties',
  'policy',
  'description',
];

export function autoRuleDescription(): string {
  return autoRuleText(DEFAULT_TRANSLATE_OPTIONS.maglevMinEndpoints);
}

/** Folds text into lines of at most `width` characters (words never split). */
function fold(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** The CRD text with the policy description replaced by the Auto rule; everything else byte for byte. */
export function crdWithAutoRule(crdText: string): string {
  const document = YAML.parseDocument(crdText, { keepSourceTokens: true });
  const parent = document.getIn(POLICY_DESCRIPTION_PATH.slice(0, -1), true);
  if (!isMap(parent)) throw new Error(`${CRD_FILE}: no loadBalancer.policy in the v1alpha1 schema`);
  const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === 'description');
  if (!pair || !isScalar(pair.key) || !isScalar(pair.value))
    throw new Error(`${CRD_FILE}: loadBalancer.policy has no description to replace`);
  const keyStart = (pair.key as Scalar).range![0];
  const [valueStart, valueEnd] = (pair.value as Scalar).range!;
  const lineStart = crdText.lastIndexOf('\n', keyStart) + 1;
  const indent = ' '.repeat(keyStart - lineStart + 2);
  const block = `>-\n${fold(autoRuleDescription(), 100 - indent.length)
    .map((line) => indent + line)
    .join('\n')}\n`;
  // A block scalar's range ends after its final line break; a plain scalar's does not.
  const end = crdText[valueEnd - 1] === '\n' ? valueEnd : crdText.indexOf('\n', valueEnd) + 1;
  return crdText.slice(0, valueStart) + block + crdText.slice(end);
}

// ---- the reference ---------------------------------------------------------------------------

/** What Switchyard (or Envoy, when Switchyard leaves the field unset) does when a field is absent. */
export const FIELD_DEFAULTS: Record<string, string> = {
  'spec.targetRef.kind': '`Service`',
  'spec.loadBalancer': 'Auto, with no hash keys (see `policy`)',
  'spec.loadBalancer.policy': '`Auto`',
  'spec.loadBalancer.ringHash.minimumRingSize': "Envoy's (1024)",
  'spec.loadBalancer.ringHash.maximumRingSize': "Envoy's (8388608)",
  'spec.loadBalancer.maglev.tableSize': "Envoy's (65537)",
  'spec.loadBalancer.leastRequest.choiceCount': "Envoy's (2)",
  'spec.loadBalancer.leastRequest.activeRequestBias': "Envoy's (1.0)",
  'spec.loadBalancer.hashOn': 'none; `sessionAffinity: ClientIP` on the Service hashes the source IP',
  'spec.loadBalancer.hashOn[].terminal': 'false',
  'spec.split': 'all requests to the target Service',
  'spec.split[].port': 'the port the request was addressed to',
  'spec.routes': 'none',
  'spec.routes[].port': 'the port the request was addressed to',
  'spec.routes[].match.path': 'any path',
  'spec.timeout': "Envoy's 15s for HTTP ports; none for gRPC and HTTP/2 ports (long streams)",
  'spec.retries': 'no retries',
  'spec.retries.perTryTimeout': 'the whole request timeout',
  'spec.retries.retryOn': '`5xx,connect-failure,refused-stream,reset`; for gRPC ports `unavailable,connect-failure,refused-stream,reset`',
  'spec.circuitBreaker.maxConnections': "Envoy's (1024)",
  'spec.circuitBreaker.maxPendingRequests': "Envoy's (1024)",
  'spec.circuitBreaker.maxRequests': "Envoy's (1024)",
  'spec.circuitBreaker.maxRetries': "Envoy's (3)",
  'spec.outlierDetection.consecutive5xx': "Envoy's (5)",
  'spec.outlierDetection.interval': "Envoy's (10s)",
  'spec.outlierDetection.baseEjectionTime': "Envoy's (30s)",
  'spec.outlierDetection.maxEjectionPercent': "Envoy's (10)",
  'spec.healthCheck': 'no active health check',
  'spec.healthCheck.http.host': 'the cluster name',
  'spec.healthCheck.interval': '10s',
  'spec.healthCheck.timeout': '1s',
  'spec.healthCheck.healthyThreshold': '2',
  'spec.healthCheck.unhealthyThreshold': '3',
  'spec.locality.preferLocalZone': 'false',
  'spec.locality.failoverZones': 'none: every zone has the same priority',
  'spec.rateLimit': 'no limit',
  'spec.rateLimit.burst': 'the rate',
  'spec.rateLimit.connections': 'no connection limit',
  'spec.rateLimit.connections.burst': 'the rate',
};

/** Example policies for the reference: together they set every field (checked by a test). */
export const REFERENCE_EXAMPLES: Array<Record<string, unknown>> = [
  {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'reviews', namespace: 'shop' },
    spec: {
      targetRef: { kind: 'Service', name: 'reviews' },
      loadBalancer: {
        policy: 'RingHash',
        ringHash: { minimumRingSize: 1024, maximumRingSize: 65536 },
        maglev: { tableSize: 65537 },
        leastRequest: { choiceCount: 3, activeRequestBias: 1.5 },
        hashOn: [
          { header: { name: 'x-user-id' }, terminal: true },
          { cookie: { name: 'session', ttl: '1h', path: '/' } },
          { queryParameter: { name: 'cart' } },
          { sourceIP: {} },
        ],
      },
      split: [
        { backend: 'reviews-v1', port: 9080, weight: 90 },
        { backend: 'reviews-v2', port: 9080, weight: 10 },
      ],
      routes: [
        { match: { headers: [{ name: 'x-canary', exact: 'true' }] }, backend: 'reviews-v2', port: 9080 },
        { match: { path: { prefix: '/beta/' }, headers: [{ name: 'x-beta', present: true }] }, backend: 'reviews-v2' },
        { match: { path: { exact: '/healthz' } }, backend: 'reviews-v1' },
        {
          match: { path: { regex: '/v[0-9]+/.*' }, headers: [{ name: 'user-agent', regex: '.*Mobile.*' }] },
          split: [
            { backend: 'reviews-v1', port: 9080, weight: 50 },
            { backend: 'reviews-v2', port: 9080, weight: 50 },
          ],
        },
      ],
      timeout: '15s',
      retries: { attempts: 3, perTryTimeout: '2s', retryOn: ['5xx', 'reset'] },
      circuitBreaker: { maxConnections: 1000, maxPendingRequests: 100, maxRequests: 1000, maxRetries: 3 },
      outlierDetection: { consecutive5xx: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
      healthCheck: {
        http: { path: '/healthz', host: 'reviews.shop' },
        interval: '5s',
        timeout: '1s',
        healthyThreshold: 2,
        unhealthyThreshold: 3,
      },
      locality: { preferLocalZone: true, failoverZones: ['europe-west1-b', 'europe-west1-c'] },
      rateLimit: { requestsPerSecond: 100, burst: 200 },
    },
  },
  {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'payments', namespace: 'shop' },
    spec: {
      targetRef: { name: 'payments' },
      loadBalancer: { policy: 'LeastRequest' },
      healthCheck: { tcp: {}, interval: '10s' },
      rateLimit: { requestsPerMinute: 600, connections: { perSecond: 50, burst: 100 } },
    },
  },
  {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'ledger', namespace: 'shop' },
    spec: {
      targetRef: { name: 'ledger' },
      rateLimit: { connections: { perMinute: 600 } },
    },
  },
  {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'edge-public', namespace: 'infra' },
    spec: {
      targetRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge', sectionName: 'public' },
      rateLimit: { requestsPerSecond: 1000, burst: 2000 },
    },
  },
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type SchemaNode = Record<string, any>;

export interface FieldRow {
  path: string;
  type: string;
  required: boolean;
  constraints: string[];
  description: string;
}

function typeName(node: SchemaNode): string {
  if (node.type === 'array') return `[]${typeName(node.items ?? {})}`;
  if (node.type === 'integer' && node.format) return `integer (${node.format})`;
  if (node.type === 'string' && node.format) return `string (${node.format})`;
  return String(node.type ?? 'any');
}

function constraintsOf(node: SchemaNode): string[] {
  const out: string[] = [];
  const values = node.type === 'array' ? (node.items ?? {}) : node;
  if (Array.isArray(values.enum)) out.push(`one of ${values.enum.map((v: unknown) => `\`${String(v)}\``).join(', ')}`);
  if (values.minimum !== undefined || values.maximum !== undefined) {
    out.push(
      values.maximum === undefined
        ? `≥ ${values.minimum}`
        : values.minimum === undefined
          ? `≤ ${values.maximum}`
          : `${values.minimum}–${values.maximum}`,
    );
  }
  if (values.pattern !== undefined) out.push(`matches \`${values.pattern}\``);
  if (values.minLength !== undefined || values.maxLength !== undefined) {
    out.push(
      values.maxLength === undefined
        ? `at least ${values.minLength} characters`
        : `${values.minLength ?? 0}–${values.maxLength} characters`,
    );
  }
  if (node.type === 'array' && (node.minItems !== undefined || node.maxItems !== undefined)) {
    out.push(node.minItems === undefined ? `at most ${node.maxItems} items` : `${node.minItems}–${node.maxItems} items`);
  }
  const oneOf = (node.type === 'array' ? node.items?.oneOf : node.oneOf) as Array<{ required: string[] }> | undefined;
  if (oneOf) out.push(`exactly one of ${oneOf.map((b) => `\`${b.required.join(', ')}\``).join(', ')}`);
  const rules = [
    ...(node['x-kubernetes-validations'] ?? []),
    ...(node.type === 'array' ? (node.items?.['x-kubernetes-validations'] ?? []) : []),
  ];
  for (const rule of rules as Array<{ message: string }>) out.push(rule.message);
  return out;
}

/** Every field under `spec`, depth first in schema order. */
export function specFields(schema: SchemaNode): FieldRow[] {
  const rows: FieldRow[] = [];
  const walk = (node: SchemaNode, at: string, required: boolean) => {
    rows.push({
      path: at,
      type: typeName(node),
      required,
      constraints: constraintsOf(node),
      description: String(node.description ?? '')
        .replace(/\s+/g, ' ')
        .trim(),
    });
    const object = node.type === 'array' ? (node.items ?? {}) : node;
    const prefix = node.type === 'array' ? `${at}[]` : at;
    for (const [key, child] of Object.entries((object.properties ?? {}) as Record<string, SchemaNode>)) {
      walk(child, `${prefix}.${key}`, ((object.required ?? []) as string[]).includes(key));
    }
  };
  walk(schema.properties.spec, 'spec', true);
  return rows;
}

/** The first value at a field path (`a.b[].c`) in any of the examples. */
export function exampleValue(fieldPath: string, examples = REFERENCE_EXAMPLES): unknown {
  const steps = fieldPath.split('.');
  const find = (value: unknown, index: number): unknown => {
    if (value === undefined) return undefined;
    if (index === steps.length) return value;
    const step = steps[index];
    const array = step.endsWith('[]');
    const next = (value as Record<string, unknown>)[array ? step.slice(0, -2) : step];
    if (!array) return find(next, index + 1);
    if (!Array.isArray(next)) return undefined;
    if (index + 1 === steps.length) return next;
    for (const item of next) {
      const found = find(item, index + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  for (const example of examples) {
    const found = find(example, 0);
    if (found !== undefined) return found;
  }
  return undefined;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function exampleCell(value: unknown): string {
  if (value === undefined) return '';
  if (value !== null && typeof value === 'object') {
    const text = JSON.stringify(value);
    return text.length > 60 ? '(see the example above)' : `\`${cell(text)}\``;
  }
  return `\`${cell(String(value))}\``;
}

/** What differs between the references of our CRDs. */
interface ReferencePage {
  crdFile: string;
  examples: Array<Record<string, unknown>>;
  defaults: Record<string, string>;
  /** How Switchyard uses the schema. */
  validation: string;
  status: string;
}

const TRAFFIC_POLICY_PAGE: ReferencePage = {
  crdFile: CRD_FILE,
  examples: REFERENCE_EXAMPLES,
  defaults: FIELD_DEFAULTS,
  validation:
    'Switchyard validates a TrafficPolicy against this same schema in a manifest folder and in a cluster, and rejects unknown fields (naming them) where Kubernetes would drop them.',
  status:
    "Written by the leader replica: `observedGeneration` and the conditions `Accepted` (the spec is valid), `ResolvedRefs` (the target and backends exist) and `Programmed` (proxies took the configuration; False with the proxies' message when they NACK it), each with `status`, `reason`, `message` and `lastTransitionTime`.",
};

export function trafficPolicyReference(crdText: string): string {
  return crdReference(crdText, TRAFFIC_POLICY_PAGE);
}

function crdReference(crdText: string, page: ReferencePage): string {
  const crd = YAML.parse(crdText) as SchemaNode;
  const version = (crd.spec.versions as SchemaNode[]).find((v) => v.name === 'v1alpha1')!;
  const schema = version.schema.openAPIV3Schema as SchemaNode;
  const kind = crd.spec.names.kind as string;
  const rows = specFields(schema);
  const out: string[] = [];
  out.push(`<!-- Generated by scripts/crd-docs.ts from ${page.crdFile}: run \`npm run docs\`, do not edit. -->`);
  out.push(`# ${kind} reference`);
  out.push('');
  out.push(
    `\`${crd.spec.group}/${version.name}\`, kind \`${kind}\` (short name \`${crd.spec.names.shortNames.join('`, `')}\`), namespaced. ${schema.description ?? ''}`,
  );
  out.push('');
  out.push(page.validation);
  out.push('');
  out.push('## Example');
  out.push('');
  for (const example of page.examples) {
    out.push('```yaml');
    out.push(YAML.stringify(example, { lineWidth: 0 }).trimEnd());
    out.push('```');
    out.push('');
  }
  out.push('## Fields');
  out.push('');
  out.push('| Field | Type | Required | Default | Constraints | Description | Example |');
  out.push('| --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) {
    out.push(
      `| \`${row.path}\` | ${cell(row.type)} | ${row.required ? 'yes' : ''} | ${cell(page.defaults[row.path] ?? '')} | ${cell(row.constraints.join('; '))} | ${cell(row.description)} | ${exampleCell(exampleValue(row.path, page.examples))} |`,
    );
  }
  out.push('');
  out.push('## Printer columns');
  out.push('');
  out.push(`\`kubectl get ${crd.spec.names.plural}\` shows:`);
  out.push('');
  out.push('| Column | From |');
  out.push('| --- | --- |');
  for (const column of version.additionalPrinterColumns as SchemaNode[]) out.push(`| ${column.name} | \`${cell(column.jsonPath)}\` |`);
  out.push('');
  out.push('## Status');
  out.push('');
  out.push(page.status);
  out.push('');
  return out.join('\n');
}

/** What Switchyard does when an AccessPolicy field is absent. */
export const ACCESS_POLICY_DEFAULTS: Record<string, string> = {
  'spec.targetRef': 'every workload of the namespace',
  'spec.targetRef.kind': '`Service`',
  'spec.mtls': "a namespace-wide policy's, else the mesh default (`--mtls-mode`, Permissive)",
  'spec.mode': '`Enforce`',
  'spec.allow': 'no rules: this policy denies nothing',
  'spec.allow[].from': 'anyone, even in plain text',
  'spec.allow[].to': 'every port and request',
};

/** Example AccessPolicies for the reference: together they set every field (checked by a test). */
export const ACCESS_POLICY_EXAMPLES: Array<Record<string, unknown>> = [
  {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name: 'reviews-callers', namespace: 'shop' },
    spec: {
      targetRef: { kind: 'Service', name: 'reviews' },
      mtls: 'Strict',
      mode: 'Enforce',
      allow: [
        {
          from: { namespaces: ['web'] },
          to: {
            ports: [9080],
            paths: [{ prefix: '/api/' }, { exact: '/healthz' }],
            methods: ['GET', 'HEAD'],
            headers: [
              { name: 'x-tenant', exact: 'shop' },
              { name: 'x-version', prefix: 'v2' },
              { name: 'x-request-id', present: true },
            ],
          },
        },
        { from: { serviceAccounts: ['admin', 'ops/backup'], spiffeIds: ['spiffe://cluster.local/ns/ci/sa/smoke'] } },
      ],
    },
  },
  {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name: 'namespace-default', namespace: 'shop' },
    spec: { mtls: 'Permissive', mode: 'DryRun', allow: [{ from: { namespaces: ['shop', 'web'] } }] },
  },
];

const ACCESS_POLICY_PAGE: ReferencePage = {
  crdFile: ACCESS_POLICY_CRD_FILE,
  examples: ACCESS_POLICY_EXAMPLES,
  defaults: ACCESS_POLICY_DEFAULTS,
  validation:
    "Switchyard's validator rejects unknown fields of this schema (naming them) where Kubernetes would drop them. Not yet served: the control plane does not read AccessPolicy objects until the sidecar's inbound listeners land (README, Security).",
  status:
    'Written by the leader replica: `observedGeneration` and the conditions `Accepted` (the spec is valid; False naming the field and the fix) and `ResolvedRefs` (the target Service and the ports exist), each with `status`, `reason`, `message` and `lastTransitionTime`. A refused policy is left out; the others keep working.',
};

export function accessPolicyReference(crdText: string): string {
  return crdReference(crdText, ACCESS_POLICY_PAGE);
}

function main(): void {
  const root = process.cwd();
  const crdPath = path.join(root, CRD_FILE);
  const crdText = readFileSync(crdPath, 'utf8');
  const nextCrd = crdWithAutoRule(crdText);
  if (nextCrd !== crdText) writeFileSync(crdPath, nextCrd);
  mkdirSync(path.join(root, path.dirname(REFERENCE_FILE)), { recursive: true });
  writeFileSync(path.join(root, REFERENCE_FILE), trafficPolicyReference(nextCrd));
  const accessCrd = readFileSync(path.join(root, ACCESS_POLICY_CRD_FILE), 'utf8');
  writeFileSync(path.join(root, ACCESS_POLICY_REFERENCE_FILE), accessPolicyReference(accessCrd));
  process.stdout.write(`wrote ${CRD_FILE} (Auto rule), ${REFERENCE_FILE} and ${ACCESS_POLICY_REFERENCE_FILE}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
