// Envoy's protobuf types, loaded from the .proto files that @grpc/grpc-js-xds ships under
// deps/ (never copied into this repo). Everything that encodes or decodes an xDS message
// goes through this one root, so every module agrees on the schema.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { encodeDirect, encodeDirectTransient } from './direct-encode.js';

const require = createRequire(import.meta.url);

export const TYPE_PREFIX = 'type.googleapis.com/';

export const TypeUrl = {
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;
export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** One xDS resource as the translator produces it: a plain object in `encodeMessage` form.
 * The translator returns these; the cache encodes each value once. */
export interface XdsResource {
  typeUrl: TypeUrl;
  name: string;
  value: object;
  /**
   * Set by a resource that writes its own bytes without building `value` (a ClusterLoadAssignment:
   * the hottest resource of a large mesh): `encodeMessage(typeUrl, value)`'s bytes exactly, or
   * undefined when the value may break one of Envoy's rules — the cache then encodes and checks `value`.
   * The bytes may be a view of the encoders' scratch buffer (see `encodeMessageTransient`): the
   * caller copies what it keeps before anything else is encoded.
   */
  encode?(): Uint8Array | undefined;
}

/** The type URLs Switchyard serves, in make-before-break order (CDS, EDS, LDS, RDS, SDS). */
export const SERVED_TYPE_URLS: readonly TypeUrl[] = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.Secret,
];

export function isServedTypeUrl(typeUrl: string): typeUrl is TypeUrl {
  return (SERVED_TYPE_URLS as readonly string[]).includes(typeUrl);
}

/** Files whose types (and the types they import) make up the root. Extensions that are
 * only reachable through `Any` (typed_config) must be listed, or they cannot be encoded. */
const ENTRY_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
  'envoy/extensions/load_balancing_policies/pick_first/v3/pick_first.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/admin/v3/config_dump.proto',
];

/** The folder holding Envoy's, xds', googleapis' and protoc-gen-validate's protos. */
function envoyProtoDirs(): string[] {
  const pkgDir = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const deps = path.join(pkgDir, 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d));
}

let cachedRoot: protobuf.Root | undefined;

/** The protobuf root with every Envoy type Switchyard uses; loaded once per process. */
export function envoyRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const dirs = envoyProtoDirs();
  const protobufDir = path.dirname(require.resolve('protobufjs/package.json'));
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string | null => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    // google/protobuf/*.proto come with protobufjs itself.
    const bundled = path.join(protobufDir, target);
    if (existsSync(bundled)) return bundled;
    return target;
  };
  root.loadSync(ENTRY_FILES, { keepCase: false });
  root.resolveAll();
  cachedRoot = root;
  return root;
}

const typesByName = new Map<string, protobuf.Type>();

/** The message type behind a type URL (or a fully qualified type name). */
export function messageType(typeUrlOrName: string): protobuf.Type {
  let type = typesByName.get(typeUrlOrName);
  if (!type) {
    const name = typeUrlOrName.startsWith(TYPE_PREFIX) ? typeUrlOrName.slice(TYPE_PREFIX.length) : typeUrlOrName;
    type = envoyRoot().lookupType(name);
    typesByName.set(typeUrlOrName, type);
  }
  return type;
}

/**
 * Encodes a plain object (protobufjs `fromObject` form: camelCase fields, enums by name,
 * `Any` as `{ '@type': url, ...fields }`) into protobuf bytes. Unknown fields are an error,
 * not silently dropped: a misspelt field would otherwise vanish from what Envoy receives.
 */
export function encodeMessage(typeUrlOrName: string, value: object): Uint8Array {
  const type = messageType(typeUrlOrName);
  return encodeDirect(type, value, messageType) ?? encodeThroughMessages(type, value);
}

/**
 * As `encodeMessage`, but the bytes may be a view of the encoders' scratch buffer, valid only
 * until the next encode: for a caller that hashes them and copies them once into what it keeps.
 */
export function encodeMessageTransient(typeUrlOrName: string, value: object): Uint8Array {
  const type = messageType(typeUrlOrName);
  return encodeDirectTransient(type, value, messageType) ?? encodeThroughMessages(type, value);
}

/** protobufjs' own path (fromObject, then encode), after the unknown-field check: the reference
 * the direct encoder matches, and what reports a value it does not take. */
export function encodeThroughMessages(type: protobuf.Type, value: object): Uint8Array {
  const path: string[] = [];
  const unknown = findUnknownField(guardFor(type), value, path);
  if (unknown) throw new Error(`${guardFor(type).name}${path.join('')}: unknown field "${unknown.key}" for ${unknown.type}`);
  return type.encode(type.fromObject(value as Record<string, unknown>)).finish();
}

/** Decodes protobuf bytes into a plain object in the same form `encodeMessage` takes. */
export function decodeMessage(typeUrlOrName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = messageType(typeUrlOrName);
  return type.toObject(type.decode(bytes), DECODE_OPTIONS) as Record<string, unknown>;
}

/** toObject options that keep what fromObject accepts: enums by name, 64-bit ints as strings, `Any` expanded. */
export const DECODE_OPTIONS: protobuf.IConversionOptions = {
  enums: String,
  longs: String,
  bytes: String,
  defaults: false,
  json: true,
};

// Struct, Value and ListValue carry free-form JSON content, not fields.
const FREE_FORM_TYPES = new Set(['.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue']);

/** What the unknown-field check needs of a message type, computed once per type: protobufjs
 * recomputes names and resolves fields on every access, which made the check the hot spot of
 * encoding a large mesh. */
interface FieldGuard {
  name: string;
  kind: 'message' | 'any' | 'free';
  fields: Map<string, { child?: () => FieldGuard; map: boolean }>;
}

const guards = new WeakMap<protobuf.Type, FieldGuard>();

function guardFor(type: protobuf.Type): FieldGuard {
  let guard = guards.get(type);
  if (guard) return guard;
  const fullName = type.fullName;
  const kind = fullName === '.google.protobuf.Any' ? 'any' : FREE_FORM_TYPES.has(fullName) ? 'free' : 'message';
  guard = { name: fullName.slice(1), kind, fields: new Map() };
  guards.set(type, guard);
  for (const [key, field] of Object.entries(type.fields)) {
    field.resolve();
    const resolved = field.resolvedType;
    const child = resolved instanceof protobuf.Type ? () => guardFor(resolved) : undefined;
    guard.fields.set(key, { child, map: field.map });
  }
  return guard;
}

/** The first field the type does not have, with `path` left pointing at it; undefined if none. */
function findUnknownField(guard: FieldGuard, value: unknown, path: string[]): { key: string; type: string } | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(`[${i}]`);
      const unknown = findUnknownField(guard, value[i], path);
      if (unknown) return unknown;
      path.pop();
    }
    return undefined;
  }
  if (guard.kind === 'free') return undefined;
  const record = value as Record<string, unknown>;
  if (guard.kind === 'any') {
    const typeUrl = record['@type'];
    if (typeof typeUrl !== 'string') return { key: '@type', type: 'google.protobuf.Any (an Any needs its @type)' };
    const inner = guardFor(messageType(typeUrl));
    path.push(`(${inner.name})`);
    for (const key in record) {
      if (key === '@type') continue;
      const unknown = checkField(inner, key, record[key], path);
      if (unknown) return unknown;
    }
    path.pop();
    return undefined;
  }
  for (const key in record) {
    const unknown = checkField(guard, key, record[key], path);
    if (unknown) return unknown;
  }
  return undefined;
}

function checkField(guard: FieldGuard, key: string, fieldValue: unknown, path: string[]): { key: string; type: string } | undefined {
  const field = guard.fields.get(key);
  if (!field) return { key, type: guard.name };
  if (!field.child) return undefined;
  path.push(`.${key}`);
  let unknown: { key: string; type: string } | undefined;
  if (field.map) {
    for (const [k, v] of Object.entries(fieldValue as Record<string, unknown>)) {
      path.push(`[${k}]`);
      unknown = findUnknownField(field.child(), v, path);
      if (unknown) return unknown;
      path.pop();
    }
  } else {
    unknown = findUnknownField(field.child(), fieldValue, path);
  }
  if (!unknown) path.pop();
  return unknown;
}
