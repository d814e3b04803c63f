// The schemas of our CRDs (TrafficPolicy, AccessPolicy), loaded from deploy/crds/ (the one source
// of truth for their structure) and compiled with ajv. Kubernetes prunes unknown fields of a structural
// schema; here every object closes its properties so a typo is reported, not dropped.
// Kubernetes runs the CRD's CEL rules (x-kubernetes-validations) on the API server; a folder
// of manifests has no API server, so each rule has its equivalent check in code below.
/* eslint-disable @typescript-eslint/no-explicit-any -- the CRD and the objects its CEL rules see are parsed YAML, not typed */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import YAML from 'yaml';
import { maglevTableSizeProblem } from '../envoy/maglev.js';
import { createKubeAjv, describeErrors, fieldPath } from './schema-errors.js';

const CRD_RELATIVE_PATH = path.join('deploy', 'crds', 'trafficpolicies.switchyard.dev.yaml');
const ACCESS_POLICY_CRD_RELATIVE_PATH = path.join('deploy', 'crds', 'accesspolicies.switchyard.dev.yaml');

type SchemaNode = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  /** fieldPath (Kubernetes 1.28+): the field a failed rule is reported on, relative to the object carrying it. */
  'x-kubernetes-validations'?: Array<{ rule: string; message?: string; fieldPath?: string }>;
};

/** Finds the CRD by walking up from this module: src/sources/ under ts-jest, dist/src/sources/ after tsc. */
export function crdFilePath(relativePath = CRD_RELATIVE_PATH): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, relativePath);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find ${relativePath} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The TrafficPolicy CRD document as written. */
export function loadTrafficPolicyCrd(file = crdFilePath()): Record<string, any> {
  return loadCrd(file);
}

function loadCrd(file: string): Record<string, any> {
  return YAML.parse(readFileSync(file, 'utf8')) as Record<string, any>;
}

/** The openAPIV3Schema of the v1alpha1 version. */
export function trafficPolicyOpenApiSchema(crd = loadTrafficPolicyCrd()): SchemaNode {
  return openApiSchema(crd);
}

function openApiSchema(crd: Record<string, any>): SchemaNode {
  const version = (crd.spec?.versions as Array<Record<string, any>> | undefined)?.find((v) => v.name === 'v1alpha1');
  const schema = version?.schema?.openAPIV3Schema as SchemaNode | undefined;
  if (!schema) throw new Error(`the ${String(crd.spec?.names?.kind)} CRD has no v1alpha1 openAPIV3Schema`);
  return schema;
}

/** A copy of the schema in which every object rejects fields it does not declare.
 * The root's `metadata` is left open: Kubernetes validates it itself, and so does manifests.ts. */
function closeObjects(node: SchemaNode, isRoot: boolean): SchemaNode {
  const out: SchemaNode = { ...node };
  if (node.properties) {
    out.properties = Object.fromEntries(
      Object.entries(node.properties).map(([key, child]) => [key, isRoot && key === 'metadata' ? child : closeObjects(child, false)]),
    );
  }
  if (node.items) out.items = closeObjects(node.items, false);
  if (node.type === 'object' && node.additionalProperties === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

// ---- the CEL rules, in code ----------------------------------------------------------------
type Entry = Record<string, unknown>;
const has = (value: Entry, key: string) => value[key] !== undefined;
const portOrZero = (b: Entry) => (typeof b.port === 'number' ? b.port : 0);

/** Each CEL rule of the CRD, keyed by its exact text. A rule without an entry here makes
 * loading the schema fail, so the CRD and the code cannot drift apart silently. */
export const CEL_RULE_CHECKS: Record<string, (self: any) => boolean> = {
  '!has(self.minimumRingSize) || !has(self.maximumRingSize) || self.minimumRingSize <= self.maximumRingSize': (self: Entry) =>
    !has(self, 'minimumRingSize') || !has(self, 'maximumRingSize') || (self.minimumRingSize as number) <= (self.maximumRingSize as number),
  'self.exists(b, b.weight > 0)': (self: Entry[]) => self.some((b) => (b.weight as number) > 0),
  'self.all(a, self.exists_one(b, b.backend == a.backend && (has(b.port) ? b.port : 0) == (has(a.port) ? a.port : 0)))': (self: Entry[]) =>
    self.every((a) => self.filter((b) => b.backend === a.backend && portOrZero(b) === portOrZero(a)).length === 1),
  '(has(self.exact) ? 1 : 0) + (has(self.regex) ? 1 : 0) + (has(self.present) ? 1 : 0) <= 1': (self: Entry) =>
    ['exact', 'regex', 'present'].filter((key) => has(self, key)).length <= 1,
  '!has(self.port) || has(self.backend)': (self: Entry) => !has(self, 'port') || has(self, 'backend'),
  '!has(self.requestsPerSecond) || !has(self.requestsPerMinute)': (self: Entry) =>
    !has(self, 'requestsPerSecond') || !has(self, 'requestsPerMinute'),
  'has(self.requestsPerSecond) || has(self.requestsPerMinute) || has(self.connections)': (self: Entry) =>
    has(self, 'requestsPerSecond') || has(self, 'requestsPerMinute') || has(self, 'connections'),
  '!has(self.burst) || has(self.requestsPerSecond) || has(self.requestsPerMinute)': (self: Entry) =>
    !has(self, 'burst') || has(self, 'requestsPerSecond') || has(self, 'requestsPerMinute'),
  '(has(self.perSecond) ? 1 : 0) + (has(self.perMinute) ? 1 : 0) == 1': (self: Entry) =>
    ['perSecond', 'perMinute'].filter((key) => has(self, key)).length === 1,
  '!has(self.burst) || self.burst >= (has(self.perSecond) ? self.perSecond : (has(self.perMinute) ? self.perMinute : 0))': (self: Entry) =>
    !has(self, 'burst') ||
    (self.burst as number) >= ((has(self, 'perSecond') ? self.perSecond : has(self, 'perMinute') ? self.perMinute : 0) as number),
  '!has(self.burst) || self.burst >= (has(self.requestsPerSecond) ? self.requestsPerSecond : (has(self.requestsPerMinute) ? self.requestsPerMinute : 0))':
    (self: Entry) =>
      !has(self, 'burst') ||
      (self.burst as number) >=
        ((has(self, 'requestsPerSecond') ? self.requestsPerSecond : has(self, 'requestsPerMinute') ? self.requestsPerMinute : 0) as number),
  "!has(self.sectionName) || (has(self.kind) && self.kind == 'Gateway')": (self: Entry) =>
    !has(self, 'sectionName') || self.kind === 'Gateway',
  "!has(self.group) || self.group == ((!has(self.kind) || self.kind == 'Service') ? '' : 'gateway.networking.k8s.io')": (self: Entry) =>
    !has(self, 'group') || self.group === ((self.kind ?? 'Service') === 'Service' ? '' : 'gateway.networking.k8s.io'),
};

/** Every x-kubernetes-validations rule in a schema, with the schema path that carries it. */
interface CelRule {
  at: string;
  rule: string;
  message?: string;
}
export function celRules(schema: SchemaNode, at = ''): CelRule[] {
  const found: CelRule[] = (schema['x-kubernetes-validations'] ?? []).map((v) => ({ at, rule: v.rule, message: v.message }));
  for (const [key, child] of Object.entries(schema.properties ?? {})) found.push(...celRules(child, at ? `${at}.${key}` : key));
  if (schema.items) found.push(...celRules(schema.items, `${at}[]`));
  return found;
}

function checkCelRules(schema: SchemaNode, value: unknown, instancePath: string, messages: string[]): void {
  if (value === undefined || value === null) return;
  for (const { rule, message, fieldPath: at } of schema['x-kubernetes-validations'] ?? []) {
    const path = at ? `${instancePath}${at.replaceAll('.', '/')}` : instancePath;
    if (!CEL_RULE_CHECKS[rule](value)) messages.push(`${fieldPath(path)}: ${message ?? `fails ${rule}`}`);
  }
  if (schema.properties && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(schema.properties)) {
      checkCelRules(child, (value as Entry)[key], `${instancePath}/${key}`, messages);
    }
  }
  if (schema.items && Array.isArray(value)) {
    value.forEach((item, index) => checkCelRules(schema.items as SchemaNode, item, `${instancePath}/${index}`, messages));
  }
}

/** Checks no JSON schema or CEL rule can express cheaply. */
function checkSpecMeaning(spec: Entry, messages: string[]): void {
  const tableSize = (spec.loadBalancer as Entry | undefined)?.maglev as Entry | undefined;
  const size = tableSize?.tableSize;
  const problem = typeof size === 'number' ? maglevTableSizeProblem(size) : undefined;
  if (problem) messages.push(`spec.loadBalancer.maglev.tableSize: ${problem}`);
}

interface CrdSchemaValidator {
  /** Messages of the form `<field path>: <problem>`; empty when the object is valid. */
  validate(object: unknown): string[];
}

/** Compiles the CRD's schema. Throws if the CRD carries a CEL rule with no check in code. */
export function compileTrafficPolicySchema(schema = trafficPolicyOpenApiSchema()): CrdSchemaValidator {
  return compileSchema(schema, 'TrafficPolicy', checkSpecMeaning);
}

function compileSchema(schema: SchemaNode, kind: string, meaning?: (spec: Entry, messages: string[]) => void): CrdSchemaValidator {
  for (const { at, rule } of celRules(schema)) {
    if (!CEL_RULE_CHECKS[rule]) throw new Error(`the ${kind} CRD rule at ${at || '(root)'} has no check in code: ${rule}`);
  }
  const ajvValidate: ValidateFunction = createKubeAjv().compile(closeObjects(schema, true));
  return {
    validate(object: unknown): string[] {
      if (!ajvValidate(object)) return describeErrors(ajvValidate.errors);
      const messages: string[] = [];
      // CEL rules run only on a structurally valid object, as on the API server.
      checkCelRules(schema, object, '', messages);
      const spec = (object as Entry).spec;
      if (meaning && spec && typeof spec === 'object') meaning(spec as Entry, messages);
      return messages;
    },
  };
}

let compiled: CrdSchemaValidator | undefined;

/** Validates a whole TrafficPolicy object (spec and status) against the CRD. */
export function validateTrafficPolicySchema(object: unknown): string[] {
  compiled ??= compileTrafficPolicySchema();
  return compiled.validate(object);
}

let compiledAccessPolicy: CrdSchemaValidator | undefined;

/** Validates a whole AccessPolicy object (spec and status) against its CRD; meaning is checked by the model (checkAccessPolicy). */
export function validateAccessPolicySchema(object: unknown): string[] {
  compiledAccessPolicy ??= compileSchema(openApiSchema(loadCrd(crdFilePath(ACCESS_POLICY_CRD_RELATIVE_PATH))), 'AccessPolicy');
  return compiledAccessPolicy.validate(object);
}
