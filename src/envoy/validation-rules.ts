// Envoy's own acceptance rules: the protoc-gen-validate `(validate.rules)` field options and
// `(validate.required)` oneof options in Envoy's .proto files, read from the descriptors
// protobufjs loads (never a hand-kept list). Envoy rejects a whole response when one resource
// breaks one of them, so Switchyard checks every resource before it is sent.
//
// One checker is compiled per message type, on first use, and walks a value in the
// `encodeMessage` form (camelCase fields, enums by name or number, `Any` as `{ '@type', ... }`),
// recursing into nested messages and into every typed `Any`.
import { isIP } from 'node:net';
import protobuf from 'protobufjs';
import { decodeMessage, messageType, TYPE_PREFIX } from './protos.js';
import { isDeepFrozen } from './frozen.js';

/** One broken rule: where (proto field path, snake_case), which rule, and what it demands. */
export interface Violation {
  /** e.g. `load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value` */
  path: string;
  /** The rule as written in the proto, e.g. `uint32.lte`, `message.required`, `oneof.required`. */
  rule: string;
  /** What the value must be, e.g. `must be <= 65535`. */
  message: string;
}

/** Checks one resource (a plain object in `encodeMessage` form, or its protobuf bytes). */
export function validateResource(typeUrlOrName: string, value: object | Uint8Array): Violation[] {
  const plain = value instanceof Uint8Array ? decodeMessage(typeUrlOrName, value) : value;
  return validateMessage(messageType(typeUrlOrName), plain);
}

/** Checks a plain object against any message type's rules (e.g. one outside Envoy's root). */
export function validateMessage(type: protobuf.Type, value: object): Violation[] {
  const out: Violation[] = [];
  checkerFor(type).check(value, [], out);
  return out;
}

/**
 * Whether a value of one field of `type` passes that field's rules (for a message value, every rule
 * inside it too); undefined is the field unset. For a writer that builds a message's bytes itself
 * and checks only the values it varies: the same compiled rules, without a walk of the whole message.
 */
export function fieldPasses(type: protobuf.Type, fieldName: string): (value: unknown) => boolean {
  const field = type.fields[fieldName];
  if (!field) throw new Error(`${type.fullName} has no field ${fieldName}`);
  const check = compileField(field);
  if (!check) return () => true;
  // Reused between calls: a check only pushes and pops, and the answer is whether anything was found.
  const path: Path = [];
  const out: Violation[] = [];
  return (value) => {
    if (out.length > 0) out.length = 0;
    if (value !== undefined && value !== null) check.present(value, path, out);
    else check.absent?.(path, out);
    return out.length === 0;
  };
}

/** `Cluster "shop/cart/80": a.b[0].c: must be <= 65535 (uint32.lte)` */
export function describeViolation(typeUrlOrName: string, name: string, violation: Violation): string {
  const kind = typeUrlOrName.slice(typeUrlOrName.lastIndexOf('.') + 1);
  return `${kind} "${name}": ${violation.path || '(message)'}: ${violation.message} (${violation.rule})`;
}

/** Rule kinds found in the loaded protos that this module does not check (should be none). */
export function unsupportedRules(): string[] {
  return [...unsupported].sort();
}

/** Compiles the checker of every message type under `root` (so `unsupportedRules` is complete). */
export function compileAll(root: protobuf.NamespaceBase): void {
  for (const nested of root.nestedArray) {
    if (nested instanceof protobuf.Type) checkerFor(nested);
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) compileAll(nested);
  }
}

// ---------------------------------------------------------------------------------------------

/** Field names, list indexes (numbers), `[key]` map keys and `<Type>` Any markers. */
type Path = Array<string | number>;
type ValueCheck = (value: unknown, path: Path, out: Violation[]) => void;
type Rules = Record<string, unknown>;

interface FieldCheck {
  key: string;
  /** Called with the field's value when it is set (not undefined/null). */
  present: ValueCheck;
  /** Called when the field is unset; undefined when nothing applies then. */
  absent?: (path: Path, out: Violation[]) => void;
}

interface MessageChecker {
  check: ValueCheck;
}

const FREE_FORM_TYPES = new Set(['.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue']);
const WRAPPERS: Record<string, string> = {
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
};

const checkers = new WeakMap<protobuf.Type, MessageChecker>();
const unsupported = new Set<string>();
const NO_CHECK: MessageChecker = { check: () => undefined };

function checkerFor(type: protobuf.Type): MessageChecker {
  let checker = checkers.get(type);
  if (checker) return checker;
  if (FREE_FORM_TYPES.has(type.fullName) || type.options?.['(validate.disabled)'] || type.options?.['(validate.ignored)']) {
    checkers.set(type, NO_CHECK);
    return NO_CHECK;
  }
  if (type.fullName === '.google.protobuf.Any') {
    // A bare Any (no field rules): still check the message inside.
    checker = { check: anyCheck({}, 'any') };
    checkers.set(type, checker);
    return checker;
  }
  // The walk visits the keys a value has (few) rather than every field a type has (Cluster: ~60);
  // only the fields whose unset value breaks a rule are looked at when absent.
  const byKey = new Map<string, FieldCheck>();
  const absentChecks: FieldCheck[] = [];
  const oneofs: Array<{ name: string; keys: string[] }> = [];
  // Deeply frozen values found to break no rule: they never will (a constant shared by many resources is checked once).
  const clean = new WeakSet<object>();
  // Registered before compiling the fields, so recursive types find it.
  checker = {
    check(value, path, out) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
      const frozen = Object.isFrozen(value);
      if (frozen && clean.has(value)) return;
      const found = out.length;
      checkRecord(value as Record<string, unknown>, path, out);
      if (frozen && out.length === found && isDeepFrozen(value)) clean.add(value);
    },
  };
  const checkRecord = (record: Record<string, unknown>, path: Path, out: Violation[]): void => {
    for (const key in record) {
      const fieldValue = record[key];
      if (fieldValue === undefined || fieldValue === null) continue;
      byKey.get(key)?.present(fieldValue, path, out);
    }
    for (const field of absentChecks) {
      const fieldValue = record[field.key];
      if (fieldValue === undefined || fieldValue === null) field.absent!(path, out);
    }
    for (const oneof of oneofs) {
      if (!isAnySet(record, oneof.keys)) {
        out.push({
          path: joinPath(path, oneof.name),
          rule: 'oneof.required',
          message: `one of ${oneof.keys.map(snakeCase).join(', ')} must be set`,
        });
      }
    }
  };
  checkers.set(type, checker);
  for (const field of type.fieldsArray) {
    const compiled = compileField(field);
    if (!compiled) continue;
    byKey.set(compiled.key, compiled);
    if (compiled.absent) absentChecks.push(compiled);
  }
  for (const oneof of type.oneofsArray) {
    if (oneof.options?.['(validate.required)']) oneofs.push({ name: snakeCase(oneof.name), keys: oneof.oneof.slice() });
  }
  return checker;
}

function isAnySet(record: Record<string, unknown>, keys: string[]): boolean {
  for (const key of keys) if (record[key] !== undefined && record[key] !== null) return true;
  return false;
}

/** The field's `(validate.rules)`, merged when written as several options. */
function fieldRules(field: protobuf.Field): Rules | undefined {
  let rules: Rules | undefined;
  for (const option of (field.parsedOptions ?? []) as Array<Record<string, unknown>>) {
    const value = option['(validate.rules)'];
    if (value && typeof value === 'object') rules = deepMerge(rules ?? {}, value as Rules);
  }
  return rules;
}

function deepMerge(into: Rules, from: Rules): Rules {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    if (isPlainObject(existing) && isPlainObject(value)) into[key] = deepMerge({ ...existing }, value);
    else into[key] = value;
  }
  return into;
}

function isPlainObject(value: unknown): value is Rules {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function compileField(field: protobuf.Field): FieldCheck | undefined {
  field.resolve();
  const rules = fieldRules(field) ?? {};
  const label = snakeCase(field.name);
  const resolved = field.resolvedType;
  const isMessage = resolved instanceof protobuf.Type;
  if (!isMessage && Object.keys(rules).length === 0) return undefined;

  if (field.map) {
    const mapField = field as unknown as protobuf.MapField;
    const mapRules = (rules.map ?? {}) as Rules;
    noteUnsupported('map', mapRules, ['min_pairs', 'max_pairs', 'no_sparse', 'keys', 'values', 'ignore_empty']);
    const keyCheck = isPlainObject(mapRules.keys)
      ? elementCheck(scalarKind(mapField.keyType, undefined), undefined, mapRules.keys)
      : undefined;
    const valueCheck = elementCheck(scalarKind(field.type, resolved), resolved, (mapRules.values ?? {}) as Rules);
    const minPairs = num(mapRules.min_pairs);
    const maxPairs = num(mapRules.max_pairs);
    const countCheck = (count: number, path: Path, out: Violation[]): void => {
      if (mapRules.ignore_empty && count === 0) return;
      if (minPairs !== undefined && count < minPairs)
        out.push({ path: joinPath(path, label), rule: 'map.min_pairs', message: `must have at least ${minPairs} entries` });
      if (maxPairs !== undefined && count > maxPairs)
        out.push({ path: joinPath(path, label), rule: 'map.max_pairs', message: `must have at most ${maxPairs} entries` });
    };
    return {
      key: field.name,
      present(value, path, out) {
        if (typeof value !== 'object' || value === null) return;
        const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
        countCheck(entries.length, path, out);
        for (const [k, v] of entries) {
          path.push(label, `[${String(k)}]`);
          if (keyCheck) keyCheck(mapField.keyType === 'string' ? String(k) : k, path, out);
          if (valueCheck && v !== undefined && v !== null) valueCheck(v, path, out);
          path.pop();
          path.pop();
        }
      },
      absent: minPairs ? (path, out) => countCheck(0, path, out) : undefined,
    };
  }

  if (field.repeated) {
    const repeatedRules = (rules.repeated ?? {}) as Rules;
    noteUnsupported('repeated', repeatedRules, ['min_items', 'max_items', 'unique', 'items', 'ignore_empty']);
    const itemCheck = elementCheck(scalarKind(field.type, resolved), resolved, (repeatedRules.items ?? {}) as Rules);
    const minItems = num(repeatedRules.min_items);
    const maxItems = num(repeatedRules.max_items);
    const unique = repeatedRules.unique === true;
    const listCheck = (list: unknown[], path: Path, out: Violation[]): void => {
      if (repeatedRules.ignore_empty && list.length === 0) return;
      if (minItems !== undefined && list.length < minItems)
        out.push({
          path: joinPath(path, label),
          rule: 'repeated.min_items',
          message: `must have at least ${minItems} item${minItems === 1 ? '' : 's'}`,
        });
      if (maxItems !== undefined && list.length > maxItems)
        out.push({ path: joinPath(path, label), rule: 'repeated.max_items', message: `must have at most ${maxItems} items` });
      if (unique) {
        const seen = new Set<unknown>();
        for (const item of list) {
          const key =
            resolved instanceof protobuf.Enum ? enumNumber(resolved, item) : typeof item === 'object' ? JSON.stringify(item) : item;
          if (seen.has(key)) {
            out.push({
              path: joinPath(path, label),
              rule: 'repeated.unique',
              message: `items must be unique (${JSON.stringify(item)} repeats)`,
            });
            break;
          }
          seen.add(key);
        }
      }
    };
    return {
      key: field.name,
      present(value, path, out) {
        if (!Array.isArray(value)) return;
        listCheck(value, path, out);
        if (!itemCheck) return;
        for (let i = 0; i < value.length; i++) {
          if (value[i] === undefined || value[i] === null) continue;
          path.push(label, i);
          itemCheck(value[i], path, out);
          path.pop();
          path.pop();
        }
      },
      absent: minItems ? (path, out) => listCheck([], path, out) : undefined,
    };
  }

  const kind = scalarKind(field.type, resolved);
  const check = elementCheck(kind, resolved, rules);
  // Presence: message fields, oneof members and proto3 `optional` are checked only when set;
  // other scalars always have a value (their default), and that value must pass too.
  // A oneof member's rules, `required` included, apply only when that member is the one set.
  const required =
    isMessage &&
    !field.partOf &&
    Boolean(
      (rules.message as Rules | undefined)?.required ||
      (rules.duration as Rules | undefined)?.required ||
      (rules.timestamp as Rules | undefined)?.required ||
      (rules.any as Rules | undefined)?.required,
    );
  const requiredRule = (rules.message as Rules | undefined)?.required ? 'message.required' : `${kind}.required`;
  let absent: FieldCheck['absent'];
  if (required) {
    absent = (path, out) => out.push({ path: joinPath(path, label), rule: requiredRule, message: 'is required' });
  } else if (!isMessage && !field.partOf && check) {
    // An unset scalar is its default value; most rules pass it (a port <= 65535 is), and those
    // need no check at run time.
    const fallback = defaultValue(kind);
    const probe: Violation[] = [];
    check(fallback, [], probe);
    if (probe.length > 0) {
      absent = (path, out) => {
        path.push(label);
        check(fallback, path, out);
        path.pop();
      };
    }
  }
  if (!check) return absent ? { key: field.name, present: () => undefined, absent } : undefined;
  return {
    key: field.name,
    present(value, path, out) {
      path.push(label);
      check(value, path, out);
      path.pop();
    },
    absent,
  };
}

/** The rule family a field's values belong to: a scalar type, `enum`, a well-known message or `message`. */
function scalarKind(type: string, resolved: protobuf.ReflectionObject | null | undefined): string {
  if (resolved instanceof protobuf.Enum) return 'enum';
  if (resolved instanceof protobuf.Type) {
    const name = resolved.fullName;
    if (name === '.google.protobuf.Duration') return 'duration';
    if (name === '.google.protobuf.Timestamp') return 'timestamp';
    if (name === '.google.protobuf.Any') return 'any';
    if (WRAPPERS[name]) return `wrapper:${WRAPPERS[name]}`;
    return 'message';
  }
  return type;
}

function defaultValue(kind: string): unknown {
  if (kind === 'string') return '';
  if (kind === 'bytes') return new Uint8Array(0);
  if (kind === 'bool') return false;
  return 0;
}

const NUMERIC = new Set([
  'double',
  'float',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
]);

/** The check of one value (a single field's value, one list item, one map key or value). */
function elementCheck(kind: string, resolved: protobuf.ReflectionObject | null | undefined, rules: Rules): ValueCheck | undefined {
  if (kind === 'message') {
    const messageRules = (rules.message ?? {}) as Rules;
    noteUnsupported('message', messageRules, ['required', 'skip']);
    if (messageRules.skip) return undefined;
    const type = resolved as protobuf.Type;
    let checker: MessageChecker | undefined;
    return (value, path, out) => (checker ??= checkerFor(type)).check(value, path, out);
  }
  if (kind === 'any') return anyCheck((rules.any ?? {}) as Rules, 'any');
  if (kind === 'duration' || kind === 'timestamp') return timeCheck(kind, (rules[kind] ?? {}) as Rules);
  if (kind.startsWith('wrapper:')) {
    const inner = kind.slice('wrapper:'.length);
    const check = elementCheck(inner, undefined, rules);
    // Wrapper rules apply to the wrapped value; an unset wrapper is not checked.
    return check ? (value, path, out) => check((value as { value?: unknown }).value ?? defaultValue(inner), path, out) : undefined;
  }
  if (kind === 'enum') return enumCheck(resolved as protobuf.Enum, (rules.enum ?? {}) as Rules);
  const own = rules[kind] as Rules | undefined;
  if (!own) return undefined;
  if (kind === 'string') return stringCheck(own);
  if (kind === 'bytes') return bytesCheck(own);
  if (kind === 'bool') {
    noteUnsupported('bool', own, ['const']);
    return own.const === undefined
      ? undefined
      : (value, path, out) => {
          if (Boolean(value) !== own.const) out.push({ path: joinPath(path), rule: 'bool.const', message: `must be ${String(own.const)}` });
        };
  }
  if (NUMERIC.has(kind)) return numberCheck(kind, own, toNumber, String);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Rule families

function numberCheck(
  family: string,
  rules: Rules,
  read: (value: unknown) => number | undefined,
  show: (n: number) => string,
): ValueCheck | undefined {
  noteUnsupported(family, rules, ['const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'ignore_empty']);
  const constant = read(rules.const);
  const gt = read(rules.gt);
  const gte = read(rules.gte);
  const lt = read(rules.lt);
  const lte = read(rules.lte);
  const inList = list(rules.in).map(read);
  const notIn = list(rules.not_in).map(read);
  const lower = gt ?? gte;
  const upper = lt ?? lte;
  const lowerRule = gt !== undefined ? 'gt' : 'gte';
  const upperRule = lt !== undefined ? 'lt' : 'lte';
  const aboveLower = (n: number): boolean => (gt !== undefined ? n > gt : n >= (gte as number));
  const belowUpper = (n: number): boolean => (lt !== undefined ? n < lt : n <= (lte as number));
  // PGV: with both bounds and upper < lower, the valid values are those *outside* the range.
  const exclusive = lower !== undefined && upper !== undefined && upper < lower;
  const symbol = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;
  return (value, path, out) => {
    const n = read(value);
    if (n === undefined) return;
    if (rules.ignore_empty && n === 0) return;
    if (constant !== undefined && n !== constant)
      out.push({ path: joinPath(path), rule: `${family}.const`, message: `must equal ${show(constant)}` });
    if (exclusive) {
      if (!aboveLower(n) && !belowUpper(n)) {
        out.push({
          path: joinPath(path),
          rule: `${family}.${lowerRule}/${upperRule}`,
          message: `must be ${symbol[lowerRule]} ${show(lower)} or ${symbol[upperRule]} ${show(upper)}`,
        });
      }
    } else {
      if (lower !== undefined && !aboveLower(n))
        out.push({ path: joinPath(path), rule: `${family}.${lowerRule}`, message: `must be ${symbol[lowerRule]} ${show(lower)}` });
      if (upper !== undefined && !belowUpper(n))
        out.push({ path: joinPath(path), rule: `${family}.${upperRule}`, message: `must be ${symbol[upperRule]} ${show(upper)}` });
    }
    if (inList.length > 0 && !inList.includes(n))
      out.push({
        path: joinPath(path),
        rule: `${family}.in`,
        message: `must be one of ${inList.map((v) => show(v as number)).join(', ')}`,
      });
    if (notIn.includes(n)) out.push({ path: joinPath(path), rule: `${family}.not_in`, message: `must not be ${show(n)}` });
  };
}

function enumCheck(type: protobuf.Enum, rules: Rules): ValueCheck | undefined {
  noteUnsupported('enum', rules, ['const', 'defined_only', 'in', 'not_in']);
  const numbers = numberCheck(
    'enum',
    { const: rules.const, in: rules.in, not_in: rules.not_in },
    toNumber,
    (n) => type.valuesById[n] ?? String(n),
  );
  const definedOnly = rules.defined_only === true;
  if (!definedOnly && rules.const === undefined && list(rules.in).length === 0 && list(rules.not_in).length === 0) return undefined;
  return (value, path, out) => {
    const n = enumNumber(type, value);
    if (n === undefined || (definedOnly && type.valuesById[n] === undefined)) {
      if (definedOnly)
        out.push({
          path: joinPath(path),
          rule: 'enum.defined_only',
          message: `must be a value of ${type.name} (got ${JSON.stringify(value)})`,
        });
      return;
    }
    numbers?.(n, path, out);
  };
}

function enumNumber(type: protobuf.Enum, value: unknown): number | undefined {
  if (typeof value === 'string') return type.values[value];
  return toNumber(value);
}

/* eslint-disable no-control-regex -- these rules are about control characters */
const WELL_KNOWN_REGEX: Record<string, { strict: RegExp; loose: RegExp }> = {
  // RFC 7230 token (optionally a pseudo-header), and field-value without control characters;
  // the loose form (strict: false) only forbids NUL, CR and LF.
  HTTP_HEADER_NAME: { strict: /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/, loose: /^[^\u0000\u000A\u000D]*$/ },
  HTTP_HEADER_VALUE: { strict: /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/, loose: /^[^\u0000\u000A\u000D]*$/ },
};
/* eslint-enable no-control-regex */

function stringCheck(rules: Rules): ValueCheck {
  noteUnsupported('string', rules, [
    'const',
    'len',
    'min_len',
    'max_len',
    'len_bytes',
    'min_bytes',
    'max_bytes',
    'pattern',
    'prefix',
    'suffix',
    'contains',
    'not_contains',
    'in',
    'not_in',
    'well_known_regex',
    'strict',
    'ignore_empty',
    'ip',
    'ipv4',
    'ipv6',
    'hostname',
    'address',
    'uuid',
  ]);
  const checks: Array<{ rule: string; message: string; ok: (s: string) => boolean }> = [];
  const add = (rule: string, message: string, ok: (s: string) => boolean): void => {
    checks.push({ rule: `string.${rule}`, message, ok });
  };
  const n = (key: string): number | undefined => num(rules[key]);
  // The bounds are read once here, not at every check.
  const len = n('len');
  const minLen = n('min_len');
  const maxLen = n('max_len');
  const lenBytes = n('len_bytes');
  const minBytes = n('min_bytes');
  const maxBytes = n('max_bytes');
  if (rules.const !== undefined) add('const', `must equal ${JSON.stringify(rules.const)}`, (s) => s === rules.const);
  if (len !== undefined) add('len', `must be exactly ${len} characters`, (s) => codePoints(s) === len);
  // A string has between length / 2 and length code points: most lengths decide without counting them.
  if (minLen !== undefined)
    add(
      'min_len',
      minLen === 1 ? 'must not be empty' : `must be at least ${minLen} characters`,
      (s) => s.length >= minLen && (s.length >= 2 * minLen || codePoints(s) >= minLen),
    );
  if (maxLen !== undefined) add('max_len', `must be at most ${maxLen} characters`, (s) => s.length <= maxLen || codePoints(s) <= maxLen);
  if (lenBytes !== undefined) add('len_bytes', `must be exactly ${lenBytes} bytes`, (s) => Buffer.byteLength(s) === lenBytes);
  if (minBytes !== undefined) add('min_bytes', `must be at least ${minBytes} bytes`, (s) => Buffer.byteLength(s) >= minBytes);
  if (maxBytes !== undefined) add('max_bytes', `must be at most ${maxBytes} bytes`, (s) => Buffer.byteLength(s) <= maxBytes);
  if (typeof rules.pattern === 'string') {
    const pattern = new RegExp(rules.pattern, 'u');
    add('pattern', `must match ${JSON.stringify(rules.pattern)}`, (s) => pattern.test(s));
  }
  if (typeof rules.prefix === 'string')
    add('prefix', `must start with ${JSON.stringify(rules.prefix)}`, (s) => s.startsWith(rules.prefix as string));
  if (typeof rules.suffix === 'string')
    add('suffix', `must end with ${JSON.stringify(rules.suffix)}`, (s) => s.endsWith(rules.suffix as string));
  if (typeof rules.contains === 'string')
    add('contains', `must contain ${JSON.stringify(rules.contains)}`, (s) => s.includes(rules.contains as string));
  if (typeof rules.not_contains === 'string')
    add('not_contains', `must not contain ${JSON.stringify(rules.not_contains)}`, (s) => !s.includes(rules.not_contains as string));
  const inList = list(rules.in);
  if (inList.length > 0) add('in', `must be one of ${inList.map((v) => JSON.stringify(v)).join(', ')}`, (s) => inList.includes(s));
  const notIn = list(rules.not_in);
  if (notIn.length > 0) add('not_in', `must not be one of ${notIn.map((v) => JSON.stringify(v)).join(', ')}`, (s) => !notIn.includes(s));
  if (typeof rules.well_known_regex === 'string' && WELL_KNOWN_REGEX[rules.well_known_regex]) {
    const regex = WELL_KNOWN_REGEX[rules.well_known_regex];
    const strict = rules.strict !== false;
    const pattern = strict ? regex.strict : regex.loose;
    const what = rules.well_known_regex === 'HTTP_HEADER_NAME' ? 'an HTTP header name' : 'an HTTP header value';
    add('well_known_regex', `must be ${what}${strict ? '' : ' (no NUL, CR or LF)'}`, (s) => pattern.test(s));
  } else if (rules.well_known_regex !== undefined) {
    unsupported.add(`string.well_known_regex=${String(rules.well_known_regex)}`);
  }
  if (rules.ip) add('ip', 'must be an IP address', (s) => isIP(s) !== 0);
  if (rules.ipv4) add('ipv4', 'must be an IPv4 address', (s) => isIP(s) === 4);
  if (rules.ipv6) add('ipv6', 'must be an IPv6 address', (s) => isIP(s) === 6);
  if (rules.hostname) add('hostname', 'must be a hostname', isHostname);
  if (rules.address) add('address', 'must be a hostname or an IP address', (s) => isIP(s) !== 0 || isHostname(s));
  if (rules.uuid)
    add('uuid', 'must be a UUID', (s) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s));
  return (value, path, out) => {
    if (typeof value !== 'string') return;
    if (rules.ignore_empty && value === '') return;
    for (const check of checks) if (!check.ok(value)) out.push({ path: joinPath(path), rule: check.rule, message: check.message });
  };
}

function bytesCheck(rules: Rules): ValueCheck {
  noteUnsupported('bytes', rules, [
    'const',
    'len',
    'min_len',
    'max_len',
    'prefix',
    'suffix',
    'contains',
    'in',
    'not_in',
    'ignore_empty',
    'ip',
    'ipv4',
    'ipv6',
  ]);
  const asBuffer = (v: unknown): Buffer | undefined =>
    typeof v === 'string'
      ? Buffer.from(v, 'base64')
      : v instanceof Uint8Array
        ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
        : undefined;
  // Rule values come from the proto text: escapes already decoded to characters, one per byte.
  const ruleBytes = (v: unknown): Buffer => Buffer.from(String(v), 'latin1');
  const checks: Array<{ rule: string; message: string; ok: (b: Buffer) => boolean }> = [];
  const n = (key: string): number | undefined => num(rules[key]);
  if (rules.const !== undefined)
    checks.push({ rule: 'const', message: 'must equal the given bytes', ok: (b) => b.equals(ruleBytes(rules.const)) });
  if (n('len') !== undefined) checks.push({ rule: 'len', message: `must be exactly ${n('len')} bytes`, ok: (b) => b.length === n('len') });
  if (n('min_len') !== undefined)
    checks.push({ rule: 'min_len', message: `must be at least ${n('min_len')} bytes`, ok: (b) => b.length >= n('min_len')! });
  if (n('max_len') !== undefined)
    checks.push({ rule: 'max_len', message: `must be at most ${n('max_len')} bytes`, ok: (b) => b.length <= n('max_len')! });
  if (rules.prefix !== undefined)
    checks.push({
      rule: 'prefix',
      message: 'must start with the given bytes',
      ok: (b) => b.subarray(0, ruleBytes(rules.prefix).length).equals(ruleBytes(rules.prefix)),
    });
  if (rules.suffix !== undefined)
    checks.push({
      rule: 'suffix',
      message: 'must end with the given bytes',
      ok: (b) =>
        b.length >= ruleBytes(rules.suffix).length && b.subarray(b.length - ruleBytes(rules.suffix).length).equals(ruleBytes(rules.suffix)),
    });
  if (rules.contains !== undefined)
    checks.push({ rule: 'contains', message: 'must contain the given bytes', ok: (b) => b.includes(ruleBytes(rules.contains)) });
  if (list(rules.in).length > 0)
    checks.push({ rule: 'in', message: 'must be one of the given values', ok: (b) => list(rules.in).some((v) => b.equals(ruleBytes(v))) });
  if (list(rules.not_in).length > 0)
    checks.push({
      rule: 'not_in',
      message: 'must not be one of the given values',
      ok: (b) => !list(rules.not_in).some((v) => b.equals(ruleBytes(v))),
    });
  if (rules.ip) checks.push({ rule: 'ip', message: 'must be 4 or 16 bytes (an IP address)', ok: (b) => b.length === 4 || b.length === 16 });
  if (rules.ipv4) checks.push({ rule: 'ipv4', message: 'must be 4 bytes (an IPv4 address)', ok: (b) => b.length === 4 });
  if (rules.ipv6) checks.push({ rule: 'ipv6', message: 'must be 16 bytes (an IPv6 address)', ok: (b) => b.length === 16 });
  return (value, path, out) => {
    const bytes = asBuffer(value);
    if (!bytes) return;
    if (rules.ignore_empty && bytes.length === 0) return;
    for (const check of checks)
      if (!check.ok(bytes)) out.push({ path: joinPath(path), rule: `bytes.${check.rule}`, message: check.message });
  };
}

/** Duration and Timestamp rules; values compared in nanoseconds. */
function timeCheck(family: 'duration' | 'timestamp', rules: Rules): ValueCheck {
  noteUnsupported(
    family,
    rules,
    family === 'duration'
      ? ['required', 'const', 'lt', 'lte', 'gt', 'gte']
      : ['required', 'const', 'lt', 'lte', 'gt', 'gte', 'lt_now', 'gt_now', 'within'],
  );
  const read = (v: unknown): number | undefined => (isPlainObject(v) ? nanos(v) : undefined);
  const show = family === 'duration' ? showDuration : (n: number) => new Date(n / 1e6).toISOString();
  const { required: _required, lt_now: ltNow, gt_now: gtNow, within, ...bounds } = rules;
  const boundsCheck = numberCheck(family, bounds, read, show);
  const nowChecks = ltNow || gtNow || within;
  return (value, path, out) => {
    if (!isPlainObject(value)) return;
    boundsCheck?.(value, path, out);
    if (!nowChecks) return;
    const n = nanos(value);
    const now = Date.now() * 1e6;
    if (ltNow && !(n < now)) out.push({ path: joinPath(path), rule: 'timestamp.lt_now', message: 'must be in the past' });
    if (gtNow && !(n > now)) out.push({ path: joinPath(path), rule: 'timestamp.gt_now', message: 'must be in the future' });
    if (isPlainObject(within) && Math.abs(n - now) > nanos(within))
      out.push({ path: joinPath(path), rule: 'timestamp.within', message: `must be within ${showDuration(nanos(within))} of now` });
  };
}

function nanos(value: Rules): number {
  return (toNumber(value.seconds) ?? 0) * 1e9 + (toNumber(value.nanos) ?? 0);
}

function showDuration(n: number): string {
  return `${n / 1e9}s`;
}

function anyCheck(rules: Rules, family: string): ValueCheck {
  noteUnsupported(family, rules, ['required', 'in', 'not_in']);
  const inList = list(rules.in).map(String);
  const notIn = list(rules.not_in).map(String);
  return (value, path, out) => {
    if (!isPlainObject(value)) return;
    const typeUrl = value['@type'] ?? value.typeUrl ?? value.type_url;
    if (typeof typeUrl !== 'string') return;
    if (inList.length > 0 && !inList.includes(typeUrl))
      out.push({ path: joinPath(path), rule: 'any.in', message: `must be one of ${inList.join(', ')}` });
    if (notIn.includes(typeUrl)) out.push({ path: joinPath(path), rule: 'any.not_in', message: `must not be ${typeUrl}` });
    let type: protobuf.Type;
    try {
      type = messageType(typeUrl.startsWith(TYPE_PREFIX) ? typeUrl : typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
    } catch {
      return; // a type Switchyard cannot name is the encoder's error, not a rule's
    }
    // `{ typeUrl, value: bytes }` form (as decoded without expanding): check the bytes.
    const inner = value['@type'] === undefined && value.value instanceof Uint8Array ? type.toObject(type.decode(value.value)) : value;
    path.push(anyMarker(type));
    checkerFor(type).check(inner, path, out);
    path.pop();
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const anyMarkers = new WeakMap<protobuf.Type, string>();

function anyMarker(type: protobuf.Type): string {
  let marker = anyMarkers.get(type);
  if (marker === undefined) anyMarkers.set(type, (marker = `<${type.name}>`));
  return marker;
}

function noteUnsupported(family: string, rules: Rules, known: string[]): void {
  for (const key of Object.keys(rules)) if (!known.includes(key)) unsupported.add(`${family}.${key}`);
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const n = Number(value);
    return Number.isNaN(n) && value !== 'NaN' ? undefined : n;
  }
  if (typeof value === 'bigint') return Number(value);
  if (value && typeof value === 'object' && 'low' in value && 'high' in value) {
    const long = value as { low: number; high: number; unsigned?: boolean };
    return new protobuf.util.LongBits(long.low >>> 0, long.high >>> 0).toNumber(Boolean(long.unsigned));
  }
  return undefined;
}

function num(value: unknown): number | undefined {
  return value === undefined ? undefined : toNumber(value);
}

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function codePoints(s: string): number {
  // UTF-16 units equal code points unless there are surrogate pairs.
  return /[\uD800-\uDBFF]/.test(s) ? [...s].length : s.length;
}

function isHostname(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(label));
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `a.b[0].c` from path segments: names are joined with dots, `[i]` and `<Type>` attach. */
function joinPath(path: Path, last?: string): string {
  const parts = last === undefined ? path : [...path, last];
  let text = '';
  for (const part of parts) {
    if (typeof part === 'number') text += `[${part}]`;
    else if (part.startsWith('[')) text += part;
    else if (part.startsWith('<')) text += part;
    else text += text === '' ? part : `.${part}`;
  }
  return text;
}
