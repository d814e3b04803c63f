// Encodes a plain object (the `encodeMessage` form) straight to protobuf bytes, walking the
// object once: no protobufjs message objects in between (`fromObject` built one per nested
// message, and a 10,000-Service mesh spent most of its encode time and garbage on them), and
// the unknown-field check in the same walk. The bytes are protobufjs' `encode(fromObject(value))`
// exactly: fields in field-number order, every set field written (defaults too), the same value
// conversions. Anything out of the ordinary (an unknown field, a wrong kind of value, an enum name
// the type lacks, a non-string map key) is left to that slower path, which reports it as before.
import protobuf from 'protobufjs';
import { FlatWriter } from './flat-writer.js';
import { isDeepFrozen } from './frozen.js';

/** Thrown inside the walk: this value takes the `fromObject` path. */
const UNHANDLED = new Error('not handled by the direct encoder');

/** Well below protobufjs' own recursion limit (100), so a deep value takes the path that enforces it. */
const MAX_DEPTH = 64;

type Write = (writer: FlatWriter, value: unknown, depth: number) => void;

interface FieldPlan {
  id: number;
  /** Writes a set value (not undefined/null), tag included; writes nothing where `fromObject` would leave it unset. */
  write: Write;
}

interface TypePlan {
  fields: Map<string, FieldPlan>;
  /** Struct, Value, ListValue: keys that are not fields are dropped, as `fromObject` drops them (no unknown-field check). */
  lenient: boolean;
  /** A type this encoder does not handle (proto2 required fields, groups). */
  unsupported: boolean;
  /** google.protobuf.Any (asked once: protobufjs builds `fullName` anew on every read). */
  any: boolean;
  /** Bodies of deeply frozen values of this type, by identity, and the depth they were written at. */
  frozen: WeakMap<object, { bytes: Buffer; depth: number }>;
}

const FREE_FORM_TYPES = new Set(['.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue']);
const ANY = '.google.protobuf.Any';

const plans = new WeakMap<protobuf.Type, TypePlan>();

/**
 * The bytes of `value` as a `type` message, or undefined when the value needs protobufjs'
 * `fromObject` path (which then encodes it, or reports what is wrong with it).
 */
export function encodeDirect(type: protobuf.Type, value: object, lookup: (typeUrl: string) => protobuf.Type): Uint8Array | undefined {
  return writeDirect(type, value, lookup)?.finish();
}

/** As `encodeDirect`, but the bytes are a view of the encoders' scratch: valid only until the next encode. */
export function encodeDirectTransient(
  type: protobuf.Type,
  value: object,
  lookup: (typeUrl: string) => protobuf.Type,
): Uint8Array | undefined {
  return writeDirect(type, value, lookup)?.view();
}

/**
 * Writes `value` as the body of a `type` message (no tag, no length) into a writer that builds the
 * message around it, as if it sat `depth` messages deep in what that writer writes. False when the
 * value needs the `fromObject` path: the writer is then left mid-message, to be dropped.
 */
export function writeMessageBody(
  writer: FlatWriter,
  type: protobuf.Type,
  value: unknown,
  depth: number,
  lookup: (typeUrl: string) => protobuf.Type,
): boolean {
  if (!isPlainObject(value)) return false;
  const plan = planFor(type, lookup);
  if (plan.any) return false;
  try {
    writeMessage(plan, value as Record<string, unknown>, writer, depth, false);
  } catch (error) {
    if (error === UNHANDLED) return false;
    throw error;
  }
  return true;
}

function writeDirect(type: protobuf.Type, value: object, lookup: (typeUrl: string) => protobuf.Type): FlatWriter | undefined {
  const writer = new FlatWriter();
  return writeMessageBody(writer, type, value, 0, lookup) ? writer : undefined;
}

/** A field's tag as written before its value: its number and wire type (2 for messages and strings, else 0). */
export function fieldTag(type: protobuf.Type, field: string): number {
  const f = type.fields[field];
  f.resolve();
  const wire = f.resolvedType instanceof protobuf.Type || f.type === 'string' ? 2 : 0;
  return ((f.id << 3) | wire) >>> 0;
}

function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

// The set fields of one message in field-number order. Most objects list their keys in that order
// already: they are written in one pass as they come (one field lookup per key). A key out of
// order rewinds the writer and takes the sorted path, which checks every key first, as before.
function writeMessage(plan: TypePlan, record: Record<string, unknown>, writer: FlatWriter, depth: number, anyBody: boolean): void {
  if (plan.unsupported || depth > MAX_DEPTH) throw UNHANDLED;
  const start = writer.length;
  let lastId = 0;
  try {
    for (const key in record) {
      const field = plan.fields.get(key);
      if (!field) {
        // An Any's body is the Any object itself: its `@type` is not a field of the message inside.
        if (plan.lenient || (anyBody && key === '@type')) continue;
        throw UNHANDLED;
      }
      const value = record[key];
      if (value === undefined || value === null) continue;
      if (field.id < lastId) {
        writer.rewind(start);
        return writeSorted(plan, record, writer, depth, anyBody);
      }
      lastId = field.id;
      field.write(writer, value, depth);
    }
  } catch (error) {
    // Checking every key before writing, an unknown key later in the object took the slow path
    // before a value's own error could surface: keep that order.
    if (error !== UNHANDLED && unknownKey(plan, record, anyBody)) throw UNHANDLED;
    throw error;
  }
}

function unknownKey(plan: TypePlan, record: Record<string, unknown>, anyBody: boolean): boolean {
  if (plan.lenient) return false;
  for (const key in record) if (!plan.fields.has(key) && !(anyBody && key === '@type')) return true;
  return false;
}

/** A message whose keys are out of field-number order: every key checked, then the set fields sorted. */
function writeSorted(plan: TypePlan, record: Record<string, unknown>, writer: FlatWriter, depth: number, anyBody: boolean): void {
  if (unknownKey(plan, record, anyBody)) throw UNHANDLED;
  const present: Array<{ field: FieldPlan; value: unknown }> = [];
  for (const key in record) {
    const field = plan.fields.get(key);
    const value = record[key];
    if (field && value !== undefined && value !== null) present.push({ field, value });
  }
  present.sort((a, b) => a.field.id - b.field.id);
  for (const { field, value } of present) field.write(writer, value, depth);
}

function planFor(type: protobuf.Type, lookup: (typeUrl: string) => protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = {
    fields: new Map(),
    lenient: FREE_FORM_TYPES.has(type.fullName),
    unsupported: false,
    any: type.fullName === ANY,
    frozen: new WeakMap(),
  };
  // Registered before its fields are planned, so recursive types find it.
  plans.set(type, plan);
  for (const field of type.fieldsArray) {
    field.resolve();
    if (field.required || field.delimited) plan.unsupported = true;
    plan.fields.set(field.name, { id: field.id, write: fieldWriter(field, lookup) });
  }
  return plan;
}

function fieldWriter(field: protobuf.Field, lookup: (typeUrl: string) => protobuf.Type): Write {
  const resolved = field.resolvedType;
  if (field instanceof protobuf.MapField) return mapWriter(field, lookup);
  if (resolved instanceof protobuf.Type) {
    const write = messageBody(resolved, lookup);
    const tag = ((field.id << 3) | 2) >>> 0;
    // A value that is not a plain object (fromObject throws on it) is refused by `write`.
    const one = (writer: FlatWriter, value: unknown, depth: number): void => {
      writer.uint32(tag).fork();
      write(writer, value, depth + 1);
      writer.ldelim();
    };
    if (!field.repeated) return one;
    return (writer, value, depth) => {
      if (!value) return; // fromObject skips a falsy list
      if (!Array.isArray(value)) throw UNHANDLED;
      for (const item of value) {
        if (item === null || item === undefined) throw UNHANDLED;
        one(writer, item, depth);
      }
    };
  }
  const scalar = resolved instanceof protobuf.Enum ? enumConverter(resolved) : scalarConverter(field.type);
  const type = resolved instanceof protobuf.Enum ? 'int32' : field.type;
  const method = writerMethod(type);
  const wireType = protobuf.types.basic[type as keyof typeof protobuf.types.basic];
  if (!field.repeated) {
    const tag = ((field.id << 3) | wireType) >>> 0;
    return (writer, value) => {
      const converted = scalar(value);
      if (converted === SKIP) return;
      method(writer.uint32(tag), converted);
    };
  }
  const packed = field.packed && protobuf.types.packed[type as keyof typeof protobuf.types.packed] !== undefined;
  const listTag = ((field.id << 3) | 2) >>> 0;
  const itemTag = ((field.id << 3) | wireType) >>> 0;
  return (writer, value) => {
    if (!value) return;
    if (!Array.isArray(value)) throw UNHANDLED;
    if (value.length === 0) return;
    // An item fromObject would turn into something else takes that path (what was written is dropped).
    if (packed) writer.uint32(listTag).fork();
    for (const item of value) {
      const converted = scalar(item);
      if (converted === SKIP) throw UNHANDLED;
      method(packed ? writer : writer.uint32(itemTag), converted);
    }
    if (packed) writer.ldelim();
  };
}

/** The body of a message value (without its tag and length): an Any's is `type_url` and the encoded message. */
function messageBody(type: protobuf.Type, lookup: (typeUrl: string) => protobuf.Type): Write {
  if (type.fullName !== ANY) {
    let plan: TypePlan | undefined;
    return (writer, value, depth) => {
      if (!isPlainObject(value)) throw UNHANDLED;
      plan ??= planFor(type, lookup);
      if (!Object.isFrozen(value)) return writeMessage(plan, value as Record<string, unknown>, writer, depth, false);
      // A value that cannot change has the same body every time. Written once at this depth or
      // deeper, nothing in it went past MAX_DEPTH, so it does not here either.
      const memo = plan.frozen.get(value as object);
      if (memo && depth <= memo.depth) return void writer.raw(memo.bytes);
      const start = writer.length;
      writeMessage(plan, value as Record<string, unknown>, writer, depth, false);
      if (!memo && isDeepFrozen(value)) plan.frozen.set(value as object, { bytes: writer.copy(start), depth });
    };
  }
  return (writer, value, depth) => {
    if (!isPlainObject(value)) throw UNHANDLED;
    const record = value as Record<string, unknown>;
    const typeUrl = record['@type'];
    if (typeof typeUrl !== 'string' || !typeUrl.startsWith('type.googleapis.com/')) throw UNHANDLED;
    let inner: protobuf.Type;
    try {
      inner = lookup(typeUrl);
    } catch {
      throw UNHANDLED;
    }
    // Any { type_url = 1; value = 2 }: the value field is written even when the message inside is empty.
    writer.uint32(10).string(typeUrl);
    writer.uint32(18).fork();
    writeMessage(planFor(inner, lookup), record, writer, depth + 1, true);
    writer.ldelim();
  };
}

function mapWriter(field: protobuf.MapField, lookup: (typeUrl: string) => protobuf.Type): Write {
  if (field.keyType !== 'string') {
    return () => {
      throw UNHANDLED;
    };
  }
  const tag = ((field.id << 3) | 2) >>> 0;
  const resolved = field.resolvedType;
  let writeValue: (writer: FlatWriter, value: unknown, depth: number) => void;
  if (resolved instanceof protobuf.Type) {
    const body = messageBody(resolved, lookup);
    writeValue = (writer, value, depth) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw UNHANDLED;
      writer.uint32(18).fork();
      body(writer, value, depth + 1);
      writer.ldelim();
    };
  } else {
    const scalar = resolved instanceof protobuf.Enum ? enumConverter(resolved) : scalarConverter(field.type);
    const type = resolved instanceof protobuf.Enum ? 'int32' : field.type;
    const method = writerMethod(type);
    const valueTag = (16 | protobuf.types.basic[type as keyof typeof protobuf.types.basic]) >>> 0;
    writeValue = (writer, value) => {
      const converted = value === null || value === undefined ? SKIP : scalar(value);
      if (converted === SKIP) throw UNHANDLED;
      method(writer.uint32(valueTag), converted);
    };
  }
  return (writer, value, depth) => {
    if (!value) return;
    if (!isPlainObject(value)) throw UNHANDLED;
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (key === '__proto__') throw UNHANDLED;
      writer.uint32(tag).fork().uint32(10).string(key);
      writeValue(writer, record[key], depth);
      writer.ldelim();
    }
  };
}

/** A value fromObject would leave unset. */
const SKIP = Symbol('skip');
type Convert = (value: unknown) => unknown;

/** fromObject's enum conversion: a name the enum has, or any number; anything else takes the slow path. */
function enumConverter(type: protobuf.Enum): Convert {
  const values = type.values;
  return (value) => {
    if (typeof value === 'number') return value;
    if (typeof value === 'string' && Object.hasOwn(values, value)) return values[value];
    throw UNHANDLED;
  };
}

/** fromObject's conversion of a scalar field's value. */
function scalarConverter(type: string): Convert {
  switch (type) {
    case 'double':
    case 'float':
      return (value) => Number(value);
    case 'uint32':
    case 'fixed32':
      return (value) => (value as number) >>> 0;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return (value) => (value as number) | 0;
    case 'uint64':
    case 'fixed64':
    case 'int64':
    case 'sint64':
    case 'sfixed64': {
      const unsigned = type === 'uint64' || type === 'fixed64';
      const Long = protobuf.util.Long as unknown as { fromValue(value: unknown, unsigned: boolean): protobuf.Long } | undefined;
      if (!Long) {
        return () => {
          throw UNHANDLED;
        };
      }
      return (value) => Long.fromValue(value, unsigned);
    }
    case 'bytes':
      return (value) => {
        if (typeof value === 'string') {
          const buffer = protobuf.util.newBuffer(protobuf.util.base64.length(value));
          protobuf.util.base64.decode(value, buffer, 0);
          return buffer;
        }
        if ((value as { length?: number }).length! >= 0) return value;
        return SKIP;
      };
    case 'string':
      return (value) => String(value);
    case 'bool':
      return (value) => Boolean(value);
    default:
      return () => {
        throw UNHANDLED;
      };
  }
}

type WriteScalar = (writer: FlatWriter, value: unknown) => void;

function writerMethod(type: string): WriteScalar {
  switch (type) {
    case 'double':
      return (w, v) => void w.double(v as number);
    case 'float':
      return (w, v) => void w.float(v as number);
    case 'int32':
      return (w, v) => void w.int32(v as number);
    case 'uint32':
      return (w, v) => void w.uint32(v as number);
    case 'sint32':
      return (w, v) => void w.sint32(v as number);
    case 'fixed32':
      return (w, v) => void w.fixed32(v as number);
    case 'sfixed32':
      return (w, v) => void w.sfixed32(v as number);
    case 'int64':
      return (w, v) => void w.int64(v as protobuf.Long);
    case 'uint64':
      return (w, v) => void w.uint64(v as protobuf.Long);
    case 'sint64':
      return (w, v) => void w.sint64(v as protobuf.Long);
    case 'fixed64':
      return (w, v) => void w.fixed64(v as protobuf.Long);
    case 'sfixed64':
      return (w, v) => void w.sfixed64(v as protobuf.Long);
    case 'bool':
      return (w, v) => void w.bool(v as boolean);
    case 'string':
      return (w, v) => void w.string(v as string);
    case 'bytes':
      return (w, v) => void w.bytes(v as Uint8Array);
    default:
      return () => {
        throw UNHANDLED;
      };
  }
}
