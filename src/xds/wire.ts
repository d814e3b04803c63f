// Response bytes, assembled without encoding any resource: the cache holds every resource's
// `Any` and delta `Resource` already encoded, so a response is a few per-stream fields
// followed by length-prefixed copies of those shared bytes, written into one buffer.
import protobuf from 'protobufjs';

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
 * streams, so per-entry overhead adds up). */
function assemble(head: Uint8Array, field: number, messages: readonly Uint8Array[], tail?: Uint8Array): Buffer {
  const fieldTag = tag(field);
  const tagSize = varintSize(fieldTag);
  let length = head.length + (tail?.length ?? 0);
  for (const message of messages) length += tagSize + varintSize(message.length) + message.length;
  const out = Buffer.allocUnsafe(length);
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
  return assemble(new Uint8Array(0), 2, messages);
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

/** What a DiscoveryRequest says, read without decoding its names: `names` is the raw bytes of its
 * resource_names entries (tags included), to compare with the previous request's. */
export interface SotwRequestPeek {
  versionInfo: string;
  typeUrl: string;
  responseNonce: string;
  hasErrorDetail: boolean;
  names: Buffer;
}

const utf8 = new TextDecoder();

/**
 * Walks a DiscoveryRequest's top-level fields (version_info = 1, node = 2, resource_names = 3,
 * type_url = 4, response_nonce = 5, error_detail = 6, resource_locators = 7) without decoding the
 * node or the names. Undefined when the names are not one run of entries (every encoder writes
 * them together; anything else is left to the full decoder) or the bytes do not parse.
 */
export function peekSotwRequest(bytes: Uint8Array): SotwRequestPeek | undefined {
  const peek: SotwRequestPeek = { versionInfo: '', typeUrl: '', responseNonce: '', hasErrorDetail: false, names: Buffer.alloc(0) };
  let namesStart = -1;
  let namesEnd = -1;
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
      const fieldStart = offset;
      const key = varint();
      const field = Math.floor(key / 8);
      const wireType = key & 7;
      if (wireType === 0) {
        varint();
      } else if (wireType === 1 || wireType === 5) {
        offset += wireType === 1 ? 8 : 4;
      } else if (wireType === LENGTH_DELIMITED) {
        const length = varint();
        const start = offset;
        offset += length;
        if (offset > bytes.length) return undefined;
        if (field === 3) {
          if (namesStart === -1) namesStart = fieldStart;
          else if (namesEnd !== fieldStart) return undefined;
          namesEnd = offset;
          continue;
        }
        if (field === 1) peek.versionInfo = utf8.decode(bytes.subarray(start, offset));
        else if (field === 4) peek.typeUrl = utf8.decode(bytes.subarray(start, offset));
        else if (field === 5) peek.responseNonce = utf8.decode(bytes.subarray(start, offset));
        else if (field === 6) peek.hasErrorDetail = true;
      } else {
        return undefined;
      }
      if (offset > bytes.length) return undefined;
    }
  } catch {
    return undefined;
  }
  if (namesStart !== -1) peek.names = Buffer.from(bytes.buffer, bytes.byteOffset + namesStart, namesEnd - namesStart);
  return peek;
}
