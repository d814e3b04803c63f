// Response bytes, assembled without encoding any resource: the cache holds every resource's
// `Any` and delta `Resource` already encoded, so a response is a few per-stream fields
// followed by length-prefixed copies of those shared bytes.
import protobuf from 'protobufjs';

const LENGTH_DELIMITED = 2;

function tag(field: number): number {
  return (field << 3) | LENGTH_DELIMITED;
}

/** The length-prefixed entries of one repeated message field, as buffers to concatenate. */
function repeatedMessage(field: number, messages: readonly Uint8Array[], chunks: Uint8Array[]): number {
  let total = 0;
  for (const message of messages) {
    const prefix = protobuf.Writer.create().uint32(tag(field)).uint32(message.length).finish();
    chunks.push(prefix, message);
    total += prefix.length + message.length;
  }
  return total;
}

function controlPlane(writer: protobuf.Writer, field: number, identifier: string | undefined): void {
  if (!identifier) return;
  // envoy.config.core.v3.ControlPlane { identifier = 1 }
  writer.uint32(tag(field)).fork().uint32(tag(1)).string(identifier).ldelim();
}

function concat(head: Uint8Array, chunks: Uint8Array[], chunksLength: number): Buffer {
  return Buffer.concat([head, ...chunks], head.length + chunksLength);
}

/** The `resources` entries of a DiscoveryResponse (field 2) as one buffer, to share between
 * every stream that sends the same set. */
export function sotwResourcesBytes(anyBytes: readonly Uint8Array[]): Buffer {
  const chunks: Uint8Array[] = [];
  const length = repeatedMessage(2, anyBytes, chunks);
  return Buffer.concat(chunks, length);
}

export interface SotwResponseFields {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  /** Each resource's encoded `google.protobuf.Any`, or the entries already assembled by `sotwResourcesBytes`. */
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
  if (Buffer.isBuffer(fields.resources)) return concat(head.finish(), [fields.resources], fields.resources.length);
  const chunks: Uint8Array[] = [];
  const length = repeatedMessage(2, fields.resources, chunks);
  return concat(head.finish(), chunks, length);
}

export interface DeltaResponseFields {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  /** Each resource's encoded `envoy.service.discovery.v3.Resource`. */
  resources: readonly Uint8Array[];
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
  const chunks: Uint8Array[] = [];
  const length = repeatedMessage(2, fields.resources, chunks);
  return concat(head.finish(), chunks, length);
}
