// Envoy's protobuf types, loaded from the .proto files that @grpc/grpc-js-xds ships under
// deps/ (never copied into this repo). Everything that encodes or decodes an xDS message
// goes through this one root, so every module agrees on the schema.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';

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
export function envoyProtoDirs(): string[] {
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

/** The message type behind a type URL (or a fully qualified type name). */
export function messageType(typeUrlOrName: string): protobuf.Type {
  const name = typeUrlOrName.startsWith(TYPE_PREFIX)
    ? typeUrlOrName.slice(TYPE_PREFIX.length)
    : typeUrlOrName;
  return envoyRoot().lookupType(name);
}

/**
 * Encodes a plain object (protobufjs `fromObject` form: camelCase fields, enums by name,
 * `Any` as `{ '@type': url, ...fields }`) into protobuf bytes. Unknown fields are an error,
 * not silently dropped: a misspelt field would otherwise vanish from what Envoy receives.
 */
export function encodeMessage(typeUrlOrName: string, value: object): Uint8Array {
  const type = messageType(typeUrlOrName);
  assertKnownFields(type, value, type.fullName.slice(1));
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

const FREE_FORM_TYPES = new Set(['.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue']);

function assertKnownFields(type: protobuf.Type, value: unknown, where: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  if (type.fullName === '.google.protobuf.Any') {
    const typeUrl = (value as Record<string, unknown>)['@type'];
    if (typeof typeUrl !== 'string') throw new Error(`${where}: Any without @type`);
    const inner = messageType(typeUrl);
    const { '@type': _drop, ...rest } = value as Record<string, unknown>;
    assertKnownFields(inner, rest, `${where}(${inner.fullName.slice(1)})`);
    return;
  }
  // Struct, Value and ListValue carry free-form JSON content, not fields.
  if (FREE_FORM_TYPES.has(type.fullName)) return;
  for (const [key, fieldValue] of Object.entries(value as Record<string, unknown>)) {
    const field = type.fields[key];
    if (!field) throw new Error(`${where}: unknown field "${key}" for ${type.fullName.slice(1)}`);
    field.resolve();
    if (!field.resolvedType || !(field.resolvedType instanceof protobuf.Type)) continue;
    const child = field.resolvedType;
    if (field.map) {
      for (const [k, v] of Object.entries(fieldValue as Record<string, unknown>)) {
        assertKnownFields(child, v, `${where}.${key}[${k}]`);
      }
    } else if (field.repeated && Array.isArray(fieldValue)) {
      fieldValue.forEach((item, i) => assertKnownFields(child, item, `${where}.${key}[${i}]`));
    } else {
      assertKnownFields(child, fieldValue, `${where}.${key}`);
    }
  }
}
