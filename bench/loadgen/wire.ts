// A minimal protobuf wire-format reader and writer for the outer xDS messages. The load
// generator runs thousands of streams in one process: it reads only the fields it needs
// (names, versions, nonces) and keeps resource bytes as slices instead of decoding them.
// Field numbers are those of envoy/service/discovery/v3/discovery.proto.

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** One field of a message: its number, wire type, and (for length-delimited fields) the byte range. */
export interface WireField {
  field: number;
  wireType: number;
  /** Varint value (wire type 0); 0 for others. */
  varint: number;
  start: number;
  end: number;
}

/** Iterates the top-level fields of `buf[start, end)`. Throws on malformed input rather than looping. */
export function* fields(buf: Uint8Array, start = 0, end = buf.length): Generator<WireField> {
  let pos = start;
  while (pos < end) {
    const [key, afterKey] = readVarint(buf, pos);
    pos = afterKey;
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (field === 0) throw new Error(`protobuf wire: field number 0 at byte ${pos}`);
    switch (wireType) {
      case WIRE_VARINT: {
        const [value, next] = readVarint(buf, pos);
        yield { field, wireType, varint: value, start: pos, end: next };
        pos = next;
        break;
      }
      case WIRE_FIXED64:
        yield { field, wireType, varint: 0, start: pos, end: pos + 8 };
        pos += 8;
        break;
      case WIRE_LEN: {
        const [length, next] = readVarint(buf, pos);
        if (next + length > end) throw new Error(`protobuf wire: field ${field} overruns its message`);
        yield { field, wireType, varint: 0, start: next, end: next + length };
        pos = next + length;
        break;
      }
      case WIRE_FIXED32:
        yield { field, wireType, varint: 0, start: pos, end: pos + 4 };
        pos += 4;
        break;
      default:
        throw new Error(`protobuf wire: unsupported wire type ${wireType} for field ${field}`);
    }
  }
  if (pos !== end) throw new Error('protobuf wire: message ends inside a field');
}

/** Where the varint readVarintValue last read ends: a module variable, so a hot loop allocates no tuple per field. */
export let varintEnd = 0;

/** Reads a varint (up to 2^53, enough for lengths and keys); the position after it is left in `varintEnd`. */
export function readVarintValue(buf: Uint8Array, pos: number): number {
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('protobuf wire: truncated varint');
    const byte = buf[pos++]!;
    result += (byte & 0x7f) * multiplier;
    if (byte < 0x80) {
      varintEnd = pos;
      return result;
    }
    multiplier *= 128;
  }
  throw new Error('protobuf wire: varint longer than 10 bytes');
}

/** Reads a varint: [value, the position after it]. */
export function readVarint(buf: Uint8Array, pos: number): [number, number] {
  const value = readVarintValue(buf, pos);
  return [value, varintEnd];
}

const utf8 = new TextDecoder();

export function readString(buf: Uint8Array, f: WireField): string {
  return utf8.decode(buf.subarray(f.start, f.end));
}

/** The first length-delimited field `field` of a message, as a byte range, or undefined. */
export function findField(buf: Uint8Array, field: number, start = 0, end = buf.length): WireField | undefined {
  for (const f of fields(buf, start, end)) if (f.field === field && f.wireType === WIRE_LEN) return f;
  return undefined;
}

// ---- writing ------------------------------------------------------------------------------

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    length++;
  }
  return length;
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}

/** Encodes one length-delimited field (a string, bytes, or an embedded message). */
export function lenField(field: number, payload: Uint8Array | string): Buffer {
  const tag = field * 8 + WIRE_LEN;
  const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const out = Buffer.allocUnsafe(varintLength(tag) + varintLength(length) + length);
  let pos = writeVarint(out, 0, tag);
  pos = writeVarint(out, pos, length);
  if (typeof payload === 'string') out.write(payload, pos, 'utf8');
  else out.set(payload, pos);
  return out;
}

export function varintField(field: number, value: number): Buffer {
  const tag = field * 8 + WIRE_VARINT;
  const out = Buffer.allocUnsafe(varintLength(tag) + varintLength(value));
  writeVarint(out, writeVarint(out, 0, tag), value);
  return out;
}

/** A 32-bit FNV-1a hash of a byte range: compares resource contents without keeping them. */
export function hashBytes(buf: Uint8Array, start = 0, end = buf.length): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash ^= buf[i]!;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
