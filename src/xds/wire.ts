// Response bytes, assembled without encoding any resource: the cache holds every resource's
// `Any` and delta `Resource` already encoded, so a response is a few per-stream fields
// followed by length-prefixed copies of those shared bytes, written into one buffer.
import protobuf from 'protobufjs';
import { SERVED_TYPE_URLS } from '../envoy/protos.js';
import { allocateFramed } from './framed.js';

const LENGTH_DELIMITED = 2;

function tag(field: number): number {
  return (field << 3) | LENGTH_DELIMITED;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size++;
  }
  return size;
}

function writeVarint(target: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    target[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  target[offset++] = value;
  return offset;
}

/** `head`, then each message as an entry of the repeated field `field`, then `tail`: one
 * allocation and one copy per message (a response of 3,000 resources is sent to thousands of
 * streams, so per-entry overhead adds up). A response is assembled framed by default (see
 * framed.ts): grpc-js then writes it without a copy. */
function assemble(head: Uint8Array, field: number, messages: readonly Uint8Array[], tail?: Uint8Array, allocate = allocateFramed): Buffer {
  const fieldTag = tag(field);
  const tagSize = varintSize(fieldTag);
  let length = head.length + (tail?.length ?? 0);
  for (const message of messages) length += tagSize + varintSize(message.length) + message.length;
  const out = allocate(length);
  out.set(head, 0);
  let offset = head.length;
  for (const message of messages) {
    offset = writeVarint(out, offset, fieldTag);
    offset = writeVarint(out, offset, message.length);
    out.set(message, offset);
    offset += message.length;
  }
  if (tail) out.set(tail, offset);
  return out;
}

function controlPlane(writer: protobuf.Writer, field: number, identifier: string | undefined): void {
  if (!identifier) return;
  // envoy.config.core.v3.ControlPlane { identifier = 1 }
  writer.uint32(tag(field)).fork().uint32(tag(1)).string(identifier).ldelim();
}

/** The `resources` entries (field 2) of a DiscoveryResponse — each an encoded `Any` — or of a
 * DeltaDiscoveryResponse — each an encoded `Resource` — as one buffer, to share between every
 * stream that sends the same set. */
export function resourceEntriesBytes(messages: readonly Uint8Array[]): Buffer {
  return assemble(new Uint8Array(0), 2, messages, undefined, (length) => Buffer.allocUnsafe(length));
}

interface SotwResponseFields {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  /** Each resource's encoded `google.protobuf.Any`, or the entries already assembled by `resourceEntriesBytes`. */
  resources: readonly Uint8Array[] | Buffer;
  controlPlaneId?: string;
}

/** envoy.service.discovery.v3.DiscoveryResponse:
 *  version_info = 1, resources = 2 (Any), type_url = 4, nonce = 5, control_plane = 6. */
export function sotwResponseBytes(fields: SotwResponseFields): Buffer {
  const head = protobuf.Writer.create();
  if (fields.versionInfo) head.uint32(tag(1)).string(fields.versionInfo);
  head.uint32(tag(4)).string(fields.typeUrl);
  head.uint32(tag(5)).string(fields.nonce);
  controlPlane(head, 6, fields.controlPlaneId);
  if (Buffer.isBuffer(fields.resources)) return assemble(head.finish(), 2, [], fields.resources);
  return assemble(head.finish(), 2, fields.resources);
}

interface DeltaResponseFields {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  /** Each resource's encoded `envoy.service.discovery.v3.Resource`, or the entries already assembled by `resourceEntriesBytes`. */
  resources: readonly Uint8Array[] | Buffer;
  removedResources: readonly string[];
  controlPlaneId?: string;
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse:
 *  system_version_info = 1, resources = 2 (Resource), type_url = 4, nonce = 5,
 *  removed_resources = 6, control_plane = 7. */
export function deltaResponseBytes(fields: DeltaResponseFields): Buffer {
  const head = protobuf.Writer.create();
  if (fields.systemVersionInfo) head.uint32(tag(1)).string(fields.systemVersionInfo);
  head.uint32(tag(4)).string(fields.typeUrl);
  head.uint32(tag(5)).string(fields.nonce);
  for (const name of fields.removedResources) head.uint32(tag(6)).string(name);
  controlPlane(head, 7, fields.controlPlaneId);
  if (Buffer.isBuffer(fields.resources)) return assemble(head.finish(), 2, [], fields.resources);
  return assemble(head.finish(), 2, fields.resources);
}

/**
 * Calls `visit` with each top-level field of a message, in order: its number, wire type, where
 * its key starts, and for a length-delimited field where its content starts and ends. `visit`
 * may return the offset to go on from (past fields it recognised without walking them). False
 * when the bytes do not parse as protobuf fields or `visit` returned false (the caller then
 * decodes the message in full).
 */
function eachField(
  bytes: Uint8Array,
  visit: (field: number, wireType: number, keyStart: number, start: number, end: number) => boolean | number,
): boolean {
  let offset = 0;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (offset >= bytes.length || shift > 28) throw new RangeError('bad varint');
      const byte = bytes[offset++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  try {
    while (offset < bytes.length) {
      const keyStart = offset;
      const key = varint();
      const field = Math.floor(key / 8);
      const wireType = key & 7;
      let start = offset;
      if (wireType === 0) {
        varint();
      } else if (wireType === 1 || wireType === 5) {
        offset += wireType === 1 ? 8 : 4;
      } else if (wireType === LENGTH_DELIMITED) {
        const length = varint();
        start = offset;
        offset += length;
      } else {
        return false;
      }
      if (offset > bytes.length) return false;
      const next = visit(field, wireType, keyStart, start, offset);
      if (next === false) return false;
      if (typeof next === 'number') offset = next;
    }
  } catch {
    return false;
  }
  return true;
}

/** What a DiscoveryRequest says, read without decoding its names: `names` is the raw bytes of its
 * resource_names entries (tags included), to compare with the previous request's. */
export interface SotwRequestPeek {
  versionInfo: string;
  typeUrl: string;
  responseNonce: string;
  hasErrorDetail: boolean;
  names: Buffer;
  /** The one of the expected name lists that the names are, byte for byte. */
  sameAs?: Buffer;
}

const utf8 = new TextDecoder();

/** The key of a resource_names entry (field 3, length-delimited): one byte. */
const NAMES_KEY = tag(3);

/**
 * Walks a DiscoveryRequest's top-level fields (version_info = 1, node = 2, resource_names = 3,
 * type_url = 4, response_nonce = 5, error_detail = 6, resource_locators = 7) without decoding the
 * node or the names. Undefined when the names are not one run of entries (every encoder writes
 * them together; anything else is left to the full decoder) or the bytes do not parse.
 * `expected`: the names of the stream's previous requests (one per type); when the run is one of
 * them exactly, it is stepped over whole (an ACK repeats 1,000 names) and `sameAs` is that one.
 */
export function peekSotwRequest(bytes: Uint8Array, expected: readonly Buffer[] = []): SotwRequestPeek | undefined {
  const peek: SotwRequestPeek = { versionInfo: '', typeUrl: '', responseNonce: '', hasErrorDetail: false, names: Buffer.alloc(0) };
  let namesStart = -1;
  let namesEnd = -1;
  const parsed = eachField(bytes, (field, wireType, keyStart, start, end) => {
    if (wireType !== LENGTH_DELIMITED) return true;
    if (field === 3) {
      if (namesStart === -1) {
        namesStart = keyStart;
        for (const names of expected) {
          const runEnd = keyStart + names.length;
          if (runEnd > bytes.length || bytes[runEnd] === NAMES_KEY || !names.equals(bytes.subarray(keyStart, runEnd))) continue;
          peek.sameAs = names;
          namesEnd = runEnd;
          return runEnd;
        }
      } else if (namesEnd !== keyStart) return false;
      namesEnd = end;
    } else if (field === 1) peek.versionInfo = utf8.decode(bytes.subarray(start, end));
    else if (field === 4) peek.typeUrl = utf8.decode(bytes.subarray(start, end));
    else if (field === 5) peek.responseNonce = utf8.decode(bytes.subarray(start, end));
    else if (field === 6) peek.hasErrorDetail = true;
    return true;
  });
  if (!parsed) return undefined;
  if (namesStart !== -1) peek.names = Buffer.from(bytes.buffer, bytes.byteOffset + namesStart, namesEnd - namesStart);
  return peek;
}

/** The request's bytes without its resource-name entries (`names`, a run found by a peek and a
 * view of `bytes`): what is left decodes to the request's other fields. */
export function withoutNames(bytes: Buffer, names: Buffer): Buffer {
  const start = names.byteOffset - bytes.byteOffset;
  return Buffer.concat([bytes.subarray(0, start), bytes.subarray(start + names.length)]);
}

/**
 * Finds the resource_names_subscribe entries (3) of a DeltaDiscoveryRequest that carries nothing
 * else but node = 1, type_url = 2 and response_nonce = 6 — a stream's first request of a type,
 * usually — without decoding them: `names` is their raw bytes, tags included. Undefined when the
 * names are not one run, the request has other fields, or the bytes do not parse.
 */
export function peekDeltaSubscribe(bytes: Uint8Array): { typeUrl: string; names: Buffer } | undefined {
  let typeUrl = '';
  let namesStart = -1;
  let namesEnd = -1;
  const parsed = eachField(bytes, (field, wireType, keyStart, start, end) => {
    if (wireType !== LENGTH_DELIMITED) return false;
    if (field === 3) {
      if (namesStart === -1) namesStart = keyStart;
      else if (namesEnd !== keyStart) return false;
      namesEnd = end;
    } else if (field === 2) typeUrl = servedTypeUrlAt(bytes, start, end) ?? utf8.decode(bytes.subarray(start, end));
    else if (field !== 1 && field !== 6) return false;
    return true;
  });
  if (!parsed || namesStart === -1) return undefined;
  return { typeUrl, names: Buffer.from(bytes.buffer, bytes.byteOffset + namesStart, namesEnd - namesStart) };
}

/** A DeltaDiscoveryRequest that only names its type and the response it answers. */
export interface DeltaAckPeek {
  typeUrl: string;
  responseNonce: string;
}

/**
 * Reads a DeltaDiscoveryRequest that carries nothing but node = 1, type_url = 2 and
 * response_nonce = 6 — an ACK, most of what a stream receives — without decoding the node.
 * Undefined for anything else (names to subscribe or unsubscribe (3, 4, 8, 9), initial versions
 * (5), an error detail (7), unknown fields) or bytes that do not parse: those are decoded in full.
 */
export function peekDeltaAck(bytes: Uint8Array): DeltaAckPeek | undefined {
  let typeUrl = '';
  let responseNonce = '';
  let offset = 0;
  while (offset < bytes.length) {
    // Keys of fields 1 to 15 are one byte; the fields an ACK has are all length-delimited.
    const key = bytes[offset++]!;
    if (key >= 0x80 || (key & 7) !== LENGTH_DELIMITED) return undefined;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      if (offset >= bytes.length || shift > 28) return undefined;
      const byte = bytes[offset++]!;
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    const start = offset;
    offset += length;
    if (offset > bytes.length) return undefined;
    const field = key >> 3;
    if (field === 2) typeUrl = servedTypeUrlAt(bytes, start, offset) ?? protobuf.util.utf8.read(bytes, start, offset);
    else if (field === 6) responseNonce = protobuf.util.utf8.read(bytes, start, offset);
    else if (field !== 1) return undefined;
  }
  return { typeUrl, responseNonce };
}

const SERVED_TYPE_URL_BYTES = SERVED_TYPE_URLS.map((typeUrl) => ({ typeUrl, bytes: Buffer.from(typeUrl) }));

/** The served type URL spelled by `bytes[start..end)`, without decoding it (thousands of ACKs a push). */
function servedTypeUrlAt(bytes: Uint8Array, start: number, end: number): string | undefined {
  outer: for (const served of SERVED_TYPE_URL_BYTES) {
    if (served.bytes.length !== end - start) continue;
    for (let i = end - start - 1; i >= 0; i--) if (served.bytes[i] !== bytes[start + i]) continue outer;
    return served.typeUrl;
  }
  return undefined;
}
