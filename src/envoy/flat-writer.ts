// A protobuf writer that writes into one growing buffer as it goes, for the direct encoder.
// protobufjs' Writer queues an operation object per value and per nested message and writes them
// all at finish(): for a 10,000-Service mesh that is millions of short-lived objects. The bytes are
// the same: each method writes what protobufjs' BufferWriter method of the same name writes.
import protobuf from 'protobufjs';

const { LongBits, utf8, float } = protobuf.util;

/** A buffer kept between encodes, grown to the largest message written in it so far: a large mesh does not reallocate per resource. */
export class Scratch {
  constructor(public buf: Buffer) {}
}

/** The encoders' scratch: a writer's bytes stay in it only until the next writer on it starts. */
const encoderScratch = new Scratch(Buffer.allocUnsafe(64 * 1024));

export class FlatWriter {
  private buf: Buffer;
  private pos = 0;
  /** Where each open nested message's length goes: one byte is reserved, the content moves if it needs more. */
  private readonly forks: number[] = [];

  constructor(private readonly scratch: Scratch = encoderScratch) {
    this.buf = scratch.buf;
  }

  uint32(value: number): this {
    value >>>= 0;
    this.reserve(5);
    const buf = this.buf;
    let pos = this.pos;
    while (value > 127) {
      buf[pos++] = (value & 127) | 128;
      value >>>= 7;
    }
    buf[pos++] = value;
    this.pos = pos;
    return this;
  }

  int32(value: number): this {
    value |= 0;
    return value < 0 ? this.varint64(LongBits.fromNumber(value)) : this.uint32(value);
  }

  sint32(value: number): this {
    return this.uint32(((value << 1) ^ (value >> 31)) >>> 0);
  }

  fixed32(value: number): this {
    this.reserve(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  sfixed32(value: number): this {
    return this.fixed32(value);
  }

  uint64(value: protobuf.Long | number | string): this {
    return this.varint64(LongBits.from(value));
  }

  int64(value: protobuf.Long | number | string): this {
    return this.uint64(value);
  }

  sint64(value: protobuf.Long | number | string): this {
    return this.varint64(LongBits.from(value).zzEncode());
  }

  fixed64(value: protobuf.Long | number | string): this {
    const bits = LongBits.from(value);
    return this.fixed32(bits.lo).fixed32(bits.hi);
  }

  sfixed64(value: protobuf.Long | number | string): this {
    return this.fixed64(value);
  }

  float(value: number): this {
    this.reserve(4);
    float.writeFloatLE(value, this.buf, this.pos);
    this.pos += 4;
    return this;
  }

  double(value: number): this {
    this.reserve(8);
    float.writeDoubleLE(value, this.buf, this.pos);
    this.pos += 8;
    return this;
  }

  bool(value: boolean): this {
    this.reserve(1);
    this.buf[this.pos++] = value ? 1 : 0;
    return this;
  }

  string(value: string): this {
    const count = value.length;
    if (count < 128) {
      // Short ASCII text (names, addresses, zones): its length is its byte count and fits the one
      // length byte, so it is measured and written in one pass; any other character, and the
      // writer goes back to the general path below.
      this.reserve(1 + count);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      while (i < count) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        buf[start + i++] = code;
      }
      if (i === count) {
        buf[this.pos] = count;
        this.pos = start + count;
        return this;
      }
    }
    const length = count < 40 ? utf8.length(value) : Buffer.byteLength(value);
    this.uint32(length);
    if (length === 0) return this;
    this.reserve(length);
    // protobufjs' BufferWriter: its own UTF-8 writer for short strings, Node's for the others.
    if (count < 40) utf8.write(value, this.buf, this.pos);
    else this.buf.write(value, this.pos, 'utf8');
    this.pos += length;
    return this;
  }

  bytes(value: Uint8Array | string): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : value;
    const length = bytes.length >>> 0;
    this.uint32(length);
    if (length === 0) return this;
    this.reserve(length);
    this.buf.set(bytes, this.pos);
    this.pos += length;
    return this;
  }

  /** How many bytes are written so far (a mark for `rewind`). */
  get length(): number {
    return this.pos;
  }

  /** Drops what was written after `length` was `mark` (no nested message may be open since). */
  rewind(mark: number): void {
    this.pos = mark;
  }

  /** Writes bytes as they are (no length: a message body written before, see `copy`). */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** A copy of what was written since `length` was `mark` (no nested message may be open since). */
  copy(mark: number): Buffer {
    return Buffer.from(this.buf.subarray(mark, this.pos));
  }

  /** Opens a nested message: its length is written by the matching `ldelim`. */
  fork(): this {
    this.reserve(1);
    this.forks.push(this.pos);
    this.pos += 1;
    return this;
  }

  ldelim(): this {
    const at = this.forks.pop()!;
    const start = at + 1;
    const length = this.pos - start;
    if (length < 128) {
      this.buf[at] = length;
      return this;
    }
    const extra = varint32Length(length) - 1;
    this.reserve(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    this.pos += extra;
    let value = length;
    let pos = at;
    while (value > 127) {
      this.buf[pos++] = (value & 127) | 128;
      value >>>= 7;
    }
    this.buf[pos] = value;
    return this;
  }

  /** The bytes written followed by `tail` (a message's bytes after the frame written here), in a buffer of their own. */
  finishWith(tail: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(this.pos + tail.length);
    this.buf.copy(out, 0, 0, this.pos);
    out.set(tail, this.pos);
    return out;
  }

  /** The bytes written, as a view of the scratch: valid only until the next writer on that scratch starts (copy what is kept). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** The bytes written, in a buffer of their own. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  private varint64(bits: { lo: number; hi: number }): this {
    this.reserve(10);
    const buf = this.buf;
    let { lo, hi } = bits;
    let pos = this.pos;
    while (hi) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
    return this;
  }

  /**
   * Makes room for `bytes` more bytes at once: a writer that knows its message will be large grows
   * the buffer once, rather than doubling it (and copying what was written) several times.
   */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
    this.scratch.buf = grown;
  }
}

function varint32Length(value: number): number {
  return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : value < 268435456 ? 4 : 5;
}
