// Turns ajv's validation errors into messages a person can act on: the field path in the
// manifest's own terms (spec.split[1].weight), what it must be, and what it was.
import { Ajv, type ErrorObject } from 'ajv';
import { childField } from './field-lines.js';

/** Patterns the schemas use, described in words, so a message says what is expected. */
/** Go's time.ParseDuration syntax, unsigned, as users write it: "1.5s", "250ms", "1m30s", "2h", "0". */
const DURATION_PATTERN = '^(0|(([0-9]{1,9}(\\.[0-9]{0,9})?|\\.[0-9]{1,9})(ns|us|µs|ms|s|m|h)){1,6})$';
export const DNS1123_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const DNS1123_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS1035_LABEL_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
/** Gateway API: a host name, optionally with a leading "*." label. */
export const GATEWAY_HOSTNAME_PATTERN = '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Gateway API's Duration (GEP-2257): up to four number+unit pairs, units h, m, s, ms. */
export const GATEWAY_DURATION_PATTERN = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';
/** An HTTP header name (RFC 7230 token). */
export const HTTP_HEADER_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$";

const PATTERN_HINTS: Record<string, string> = {
  [DURATION_PATTERN]: 'a duration such as "250ms", "1.5s", "1m30s" or "2h"',
  [DNS1123_LABEL_PATTERN]: 'a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit',
  [DNS1123_SUBDOMAIN_PATTERN]: 'a DNS-1123 subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit',
  [DNS1035_LABEL_PATTERN]: 'a DNS-1035 label: lowercase letters, digits and "-", starting with a letter',
  '^/': 'a path starting with "/"',
  [GATEWAY_HOSTNAME_PATTERN]: 'a lower-case host name, optionally starting with "*." (no IP address, no port)',
  [GATEWAY_DURATION_PATTERN]: 'a Gateway API duration such as "10s", "500ms" or "1m30s" (units h, m, s, ms)',
  [HTTP_HEADER_NAME_PATTERN]: "an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)",
  '^[A-Za-z0-9+/]*={0,2}$': 'base64-encoded',
};

const FORMAT_HINTS: Record<string, string> = {
  'date-time': 'an RFC 3339 date-time such as "2024-01-02T15:04:05Z"',
  int32: 'a 32-bit integer',
  int64: 'a 64-bit integer',
};

/**
 * An ajv instance that accepts Kubernetes' OpenAPI dialect: the x-kubernetes-* keywords are
 * declared (so strict mode still catches real typos in our schemas) and the formats
 * Kubernetes uses are defined.
 */
// strictRequired is off: `oneOf: [{required: [a]}, {required: [b]}]` naming properties
// declared beside the oneOf is how Kubernetes schemas say "exactly one of".
export function createKubeAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true });
  for (const keyword of [
    'x-kubernetes-validations',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-int-or-string',
    'x-kubernetes-embedded-resource',
  ]) {
    ajv.addKeyword({ keyword });
  }
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/);
  return ajv;
}

/** `/spec/split/1/weight` -> `spec.split[1].weight`. */
export function fieldPath(instancePath: string, child?: string | number): string {
  const segments = instancePath === '' ? [] : instancePath.slice(1).split('/');
  if (child !== undefined) segments.push(String(child));
  return segments.reduce<string>((out, raw) => childField(out, raw.replace(/~1/g, '/').replace(/~0/g, '~')), '');
}

/** A short rendering of a value for "(got ...)". */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? `integer ${value}` : `number ${value}`;
  return `${typeof value} ${shown(value)}`;
}

const ARTICLES: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean (true or false)',
  null: 'null',
};

function expectedType(type: string | string[]): string {
  const types = Array.isArray(type) ? type : [type];
  return types.map((t) => ARTICLES[t] ?? t).join(' or ');
}

function joinWords(words: string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

/** The property each branch of a `oneOf: [{required: [x]}, ...]` asks for, if it is that shape. */
function exclusiveKeys(branches: unknown): string[] | undefined {
  if (!Array.isArray(branches)) return undefined;
  const keys: string[] = [];
  for (const branch of branches) {
    const required = (branch as { required?: unknown }).required;
    if (!Array.isArray(required) || required.length !== 1 || Object.keys(branch as object).length !== 1) return undefined;
    keys.push(String(required[0]));
  }
  return keys;
}

function describe(error: ErrorObject): string {
  const path = fieldPath(error.instancePath);
  const at = (p: string, text: string) => (p === '' ? text : `${p}: ${text}`);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const hint = known.length ? ` (known fields: ${known.join(', ')})` : ' (this object takes no fields)';
      return at(fieldPath(error.instancePath, String(params.additionalProperty)), `unknown field${hint}`);
    }
    case 'required':
      return at(fieldPath(error.instancePath, String(params.missingProperty)), 'is required');
    case 'type':
      return at(path, `must be ${expectedType(params.type as string | string[])} (got ${typeName(error.data)})`);
    case 'enum':
      return at(path, `must be one of ${(params.allowedValues as unknown[]).join(', ')} (got ${shown(error.data)})`);
    case 'minimum':
      return at(path, `must be at least ${String(params.limit)} (got ${shown(error.data)})`);
    case 'maximum':
      return at(path, `must be at most ${String(params.limit)} (got ${shown(error.data)})`);
    case 'minLength':
      return at(path, params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long`);
    case 'maxLength':
      return at(path, `must be at most ${String(params.limit)} characters long (got ${(error.data as string).length})`);
    case 'minItems':
      return at(path, `must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`);
    case 'maxItems':
      return at(path, `must have at most ${String(params.limit)} items (got ${(error.data as unknown[]).length})`);
    case 'pattern': {
      const pattern = String(params.pattern);
      const hint = PATTERN_HINTS[pattern] ?? `a string matching ${pattern}`;
      return at(path, `must be ${hint} (got ${shown(error.data)})`);
    }
    case 'format': {
      const format = String(params.format);
      return at(path, `must be ${FORMAT_HINTS[format] ?? format} (got ${shown(error.data)})`);
    }
    case 'oneOf': {
      const keys = exclusiveKeys(error.schema);
      if (keys && error.data && typeof error.data === 'object' && !Array.isArray(error.data)) {
        const present = keys.filter((key) => key in (error.data as object));
        return at(path, `must set exactly one of ${keys.join(', ')} (got ${present.length ? joinWords(present) : 'none'})`);
      }
      return at(path, 'must match exactly one of the allowed shapes');
    }
    default:
      return at(path, error.message ?? `fails ${error.keyword}`);
  }
}

/**
 * Messages for a failed validation, one per problem. The errors inside a failed `oneOf`'s
 * branches ("must have required property 'cookie'") are folded into the one oneOf message.
 */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  if (!errors) return [];
  const failedOneOfs = errors.filter((e) => e.keyword === 'oneOf').map((e) => `${e.schemaPath}/`);
  const messages: string[] = [];
  for (const error of errors) {
    if (failedOneOfs.some((prefix) => error.schemaPath.startsWith(prefix))) continue;
    // A wrong type already says everything; the oneOf over its fields would only add noise.
    if (error.keyword === 'oneOf' && (error.data === null || typeof error.data !== 'object' || Array.isArray(error.data))) continue;
    const message = describe(error);
    if (!messages.includes(message)) messages.push(message);
  }
  return messages;
}
