// Envoy resources as the proto3 JSON Envoy's own config dump prints: snake_case field names
// (Envoy dumps with preserved proto field names), '@type' on the resource and on every Any,
// Durations as "5s", wrappers as plain values, 64-bit integers as strings, enums by name,
// default values left out. The value goes through real protobuf bytes first, so what is
// printed is exactly what a proxy receives.
import protobuf from 'protobufjs';
import { DECODE_OPTIONS, encodeMessage, messageType, TYPE_PREFIX } from './protos.js';

interface Proto3JsonOptions {
  /** 'proto' (default): snake_case, as Envoy's config dump; 'json': lowerCamelCase json names. */
  fieldNames?: 'proto' | 'json';
}

/** `value` in encodeMessage form (camelCase, wrappers as { value }) -> Envoy's config-dump JSON. */
export function toProto3Json(typeUrlOrName: string, value: object, options: Proto3JsonOptions = {}): Record<string, unknown> {
  return bytesToProto3Json(typeUrlOrName, encodeMessage(typeUrlOrName, value), options);
}

/** Encoded bytes of a resource -> Envoy's config-dump JSON. */
export function bytesToProto3Json(typeUrlOrName: string, bytes: Uint8Array, options: Proto3JsonOptions = {}): Record<string, unknown> {
  const type = messageType(typeUrlOrName);
  const plain = type.toObject(type.decode(bytes), DECODE_OPTIONS) as Record<string, unknown>;
  const converted = convertMessage(type, plain, options.fieldNames ?? 'proto');
  const typeUrl = TYPE_PREFIX + type.fullName.slice(1);
  return { '@type': typeUrl, ...(converted as Record<string, unknown>) };
}

const WRAPPER_DEFAULTS: Record<string, unknown> = {
  '.google.protobuf.DoubleValue': 0,
  '.google.protobuf.FloatValue': 0,
  '.google.protobuf.Int64Value': '0',
  '.google.protobuf.UInt64Value': '0',
  '.google.protobuf.Int32Value': 0,
  '.google.protobuf.UInt32Value': 0,
  '.google.protobuf.BoolValue': false,
  '.google.protobuf.StringValue': '',
  '.google.protobuf.BytesValue': '',
};

function convertMessage(type: protobuf.Type, value: unknown, names: 'proto' | 'json'): unknown {
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  const fullName = type.fullName;
  if (fullName in WRAPPER_DEFAULTS) return object.value ?? WRAPPER_DEFAULTS[fullName];
  switch (fullName) {
    case '.google.protobuf.Duration':
      return formatDuration(object.seconds, object.nanos);
    case '.google.protobuf.Timestamp':
      return formatTimestamp(object.seconds, object.nanos);
    case '.google.protobuf.FieldMask':
      return ((object.paths as string[] | undefined) ?? []).map((p) => (names === 'json' ? p : snakeCase(p))).join(',');
    case '.google.protobuf.Struct':
      return structToJson(object);
    case '.google.protobuf.Value':
      return valueToJson(object);
    case '.google.protobuf.ListValue':
      return ((object.values as unknown[] | undefined) ?? []).map((v) => valueToJson(v as Record<string, unknown>));
    case '.google.protobuf.Any':
      return convertAny(object, names);
  }
  const result: Record<string, unknown> = {};
  for (const [key, fieldValue] of Object.entries(object)) {
    const field = type.fields[key];
    if (!field) {
      result[key] = fieldValue;
      continue;
    }
    field.resolve();
    if (isDefaultScalar(field, fieldValue)) continue;
    const child = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const convert = (v: unknown) => (child ? convertMessage(child, v, names) : v);
    const outName = names === 'json' ? jsonName(field) : snakeCase(field.name);
    if (field.map) {
      result[outName] = Object.fromEntries(Object.entries(fieldValue as Record<string, unknown>).map(([k, v]) => [k, convert(v)]));
    } else if (field.repeated && Array.isArray(fieldValue)) {
      result[outName] = fieldValue.map(convert);
    } else {
      result[outName] = convert(fieldValue);
    }
  }
  return result;
}

/**
 * protobufjs writes a proto3 scalar that was set to its default, so it comes back from
 * decoding; proto3 JSON (and Envoy) leave such values out. Oneof members keep their presence.
 */
function isDefaultScalar(field: protobuf.Field, value: unknown): boolean {
  if (field.repeated || field.map || field.partOf) return false;
  if (field.resolvedType instanceof protobuf.Type) return false;
  if (field.resolvedType instanceof protobuf.Enum) {
    const zero = field.resolvedType.valuesById[0];
    return value === zero || value === 0;
  }
  return value === 0 || value === '0' || value === false || value === '';
}

/** protobufjs expands a known Any into { '@type', ...fields }; a well-known type inside goes under `value`. */
function convertAny(object: Record<string, unknown>, names: 'proto' | 'json'): unknown {
  const typeUrl = object['@type'];
  if (typeof typeUrl !== 'string') return object;
  const { '@type': _drop, ...rest } = object;
  const inner = messageType(typeUrl);
  const converted = convertMessage(inner, rest, names);
  if (converted === null || typeof converted !== 'object' || Array.isArray(converted)) {
    return { '@type': typeUrl, value: converted };
  }
  return { '@type': typeUrl, ...(converted as Record<string, unknown>) };
}

function asNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Number(value);
  return 0;
}

/** "5s", "0.250s", "1.000000001s": seconds with 0, 3, 6 or 9 fractional digits. */
export function formatDuration(secondsValue: unknown, nanosValue: unknown): string {
  const seconds = asNumber(secondsValue);
  const nanos = asNumber(nanosValue);
  const negative = seconds < 0 || nanos < 0;
  const whole = Math.abs(seconds);
  const fraction = Math.abs(nanos);
  let text = String(whole);
  if (fraction) {
    let digits = String(fraction).padStart(9, '0');
    while (digits.length > 3 && digits.endsWith('000')) digits = digits.slice(0, -3);
    text += `.${digits}`;
  }
  return `${negative ? '-' : ''}${text}s`;
}

function formatTimestamp(secondsValue: unknown, nanosValue: unknown): string {
  const ms = asNumber(secondsValue) * 1000 + Math.floor(asNumber(nanosValue) / 1_000_000);
  return new Date(ms).toISOString();
}

function structToJson(object: Record<string, unknown>): Record<string, unknown> {
  const fields = (object.fields as Record<string, Record<string, unknown>> | undefined) ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToJson(v)]));
}

function valueToJson(value: Record<string, unknown>): unknown {
  if (value.nullValue !== undefined) return null;
  if (value.numberValue !== undefined) return value.numberValue;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.structValue !== undefined) return structToJson(value.structValue as Record<string, unknown>);
  if (value.listValue !== undefined) {
    return (((value.listValue as Record<string, unknown>).values as unknown[] | undefined) ?? []).map((v) =>
      valueToJson(v as Record<string, unknown>),
    );
  }
  return null;
}

/** The proto field name: protobufjs keeps the camelCase form, which maps back one to one. */
function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** protoc's json_name: an underscore is dropped and the next character upper-cased (consecutive_5xx -> consecutive5xx). */
function jsonName(field: protobuf.Field): string {
  return field.name.replace(/_(.)/g, (_m, c: string) => c.toUpperCase());
}

// ---- the other way: proto3 JSON (a bootstrap file) -> encodeMessage form ------------------------

/**
 * proto3 JSON as Envoy reads it (snake_case or lowerCamelCase names, "5s" durations, plain
 * wrapper values, `@type` on Any, free-form Struct) -> the plain object `encodeMessage` takes.
 * A field the type does not have is an error naming its path: Envoy would reject it too.
 */
export function fromProto3Json(typeUrlOrName: string, json: unknown): Record<string, unknown> {
  const type = messageType(typeUrlOrName);
  const converted = parseMessage(type, json, type.fullName.slice(1));
  if (converted === null || typeof converted !== 'object' || Array.isArray(converted)) {
    throw new Error(`${type.fullName.slice(1)}: expected a JSON object`);
  }
  return converted as Record<string, unknown>;
}

function fieldByJsonKey(type: protobuf.Type, key: string): protobuf.Field | undefined {
  // protobufjs (keepCase: false) names fields in lowerCamelCase; proto3 JSON accepts both spellings.
  const camel = key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  return type.fields[key] ?? type.fields[camel] ?? Object.values(type.fields).find((f) => jsonName(f) === key || snakeCase(f.name) === key);
}

function parseMessage(type: protobuf.Type, json: unknown, where: string): unknown {
  const fullName = type.fullName;
  if (fullName in WRAPPER_DEFAULTS) return { value: json };
  switch (fullName) {
    case '.google.protobuf.Duration':
      return parseDuration(json, where);
    case '.google.protobuf.Struct':
      return jsonToStruct(json, where);
    case '.google.protobuf.Value':
      return jsonToValue(json);
    case '.google.protobuf.ListValue':
      return { values: (json as unknown[]).map(jsonToValue) };
    case '.google.protobuf.Any':
      return parseAny(json, where);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${where}: expected an object for ${fullName.slice(1)}, got ${JSON.stringify(json)}`);
  }
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const field = fieldByJsonKey(type, key);
    const path = `${where}.${key}`;
    if (!field) throw new Error(`${path}: unknown field for ${fullName.slice(1)}`);
    field.resolve();
    const child = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const convert = (v: unknown, at: string) => (child ? parseMessage(child, v, at) : v);
    if (field.map) {
      result[field.name] = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, convert(v, `${path}[${k}]`)]),
      );
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw new Error(`${path}: expected a list`);
      result[field.name] = value.map((v, i) => convert(v, `${path}[${i}]`));
    } else {
      result[field.name] = convert(value, path);
    }
  }
  return result;
}

function parseAny(json: unknown, where: string): Record<string, unknown> {
  const object = json as Record<string, unknown>;
  const typeUrl = object?.['@type'];
  if (typeof typeUrl !== 'string') throw new Error(`${where}: an Any needs "@type"`);
  let inner: protobuf.Type;
  try {
    inner = messageType(typeUrl);
  } catch {
    throw new Error(`${where}: unknown type ${typeUrl}`);
  }
  const { '@type': _drop, ...rest } = object;
  // A well-known type inside an Any is written as { "@type", "value": <its JSON> }.
  const body = inner.fullName.startsWith('.google.protobuf.') && 'value' in rest ? rest.value : rest;
  const converted = parseMessage(inner, body, `${where}(${inner.fullName.slice(1)})`);
  return { '@type': typeUrl, ...(converted as Record<string, unknown>) };
}

/** "5s", "0.25s", "1.000000001s" -> { seconds, nanos }. */
function parseDuration(json: unknown, where: string): { seconds: number; nanos?: number } {
  const match = typeof json === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(json) : null;
  if (!match) throw new Error(`${where}: a duration is written like "5s" or "0.250s", got ${JSON.stringify(json)}`);
  const sign = match[1] ? -1 : 1;
  const seconds = sign * Number(match[2]);
  const nanos = match[3] ? sign * Number(match[3].padEnd(9, '0')) : 0;
  return nanos ? { seconds, nanos } : { seconds };
}

function jsonToStruct(json: unknown, where: string): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${where}: expected an object`);
  return { fields: Object.fromEntries(Object.entries(json as Record<string, unknown>).map(([k, v]) => [k, jsonToValue(v)])) };
}

function jsonToValue(json: unknown): Record<string, unknown> {
  if (json === null || json === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof json === 'number') return { numberValue: json };
  if (typeof json === 'string') return { stringValue: json };
  if (typeof json === 'boolean') return { boolValue: json };
  if (Array.isArray(json)) return { listValue: { values: json.map(jsonToValue) } };
  return { structValue: jsonToStruct(json, '') };
}
