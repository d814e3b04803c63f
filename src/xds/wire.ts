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
