// /debug/config_dump: the resources a proxy holds, as Envoy's own config dump prints them.
// The dump is built as a real envoy.admin.v3.ConfigDump message around the cached resource
// bytes and printed with the same proto3 JSON conversion as `switchyard render` (snake_case,
// '@type' on every Any, Durations as "5s"), so tools that read Envoy's dumps read this one.
// The resources are the cache's current ones for the node's group and subscription;
// `client_status` says whether the node ACKed (or NACKed) exactly that set — which is when
// "current" equals "what the proxy was last sent and ACKed".
import type { CachedResource, ProxyGroup, ResourceCache } from '../cache/types.js';
import { bytesToProto3Json } from '../envoy/proto-json.js';
import { messageType, SERVED_TYPE_URLS, TYPE_PREFIX, TypeUrl } from '../envoy/protos.js';
import type { ProxyTypeView, ProxyView } from './proxies.js';

type Json = Record<string, unknown>;

const CONFIG_DUMP = 'envoy.admin.v3.ConfigDump';

/** Fields of a Secret that hold key material: the dump keeps where it comes from, never its bytes. */
const SENSITIVE_FIELDS = new Set(['private_key', 'password', 'secret', 'keys', 'pkcs12']);
const INLINE_FIELDS = new Set(['inline_bytes', 'inline_string']);
const REDACTED = '[redacted]';

function redactDataSource(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactDataSource);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value as Json).map(([key, field]) => [key, INLINE_FIELDS.has(key) ? REDACTED : field]));
}

/** A Secret resource (proto3 JSON) with its inline key material replaced by "[redacted]". */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Json).map(([key, field]) => [key, SENSITIVE_FIELDS.has(key) ? redactDataSource(field) : redactSecrets(field)]),
  );
}

/** google.protobuf.Any in protobufjs fromObject form, around bytes that are already encoded. */
function any(typeUrl: string, bytes: Uint8Array): Json {
  // protobufjs' built-in Any keeps the proto field name `type_url`.
  const typeUrlField = messageType('google.protobuf.Any').fields.typeUrl ? 'typeUrl' : 'type_url';
  return { [typeUrlField]: typeUrl, value: bytes };
}

function anyOfMessage(typeName: string, value: Json): Json {
  const type = messageType(typeName);
  return any(TYPE_PREFIX + typeName, type.encode(type.fromObject(value)).finish());
}

interface TypeDumpInput {
  typeUrl: TypeUrl;
  resources: CachedResource[];
  /** The version the client last ACKed for this type; the cache's set version when dumping a group. */
  versionInfo: string;
  /** How the client holds these resources; absent when dumping a group. */
  clientStatus?: 'ACKED' | 'NACKED';
  nack?: { details: string; versionInfo: string };
}

/** One per-type dump (ClustersConfigDump...) as an Any, in fromObject form. */
function typeDump(input: TypeDumpInput): Json {
  const { typeUrl, versionInfo, clientStatus, nack } = input;
  const status: Json = {};
  if (clientStatus) status.clientStatus = clientStatus;
  if (nack) status.errorState = nack;
  const resources = [...input.resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Each entry's version_info is the resource's own version (a hash of its bytes).
  const entry = (r: CachedResource, field: string): Json => ({ versionInfo: r.version, [field]: any(r.typeUrl, r.bytes), ...status });
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return anyOfMessage('envoy.admin.v3.ClustersConfigDump', {
        versionInfo,
        dynamicActiveClusters: resources.map((r) => entry(r, 'cluster')),
      });
    case TypeUrl.ClusterLoadAssignment:
      return anyOfMessage('envoy.admin.v3.EndpointsConfigDump', {
        dynamicEndpointConfigs: resources.map((r) => entry(r, 'endpointConfig')),
      });
    case TypeUrl.Listener:
      return anyOfMessage('envoy.admin.v3.ListenersConfigDump', {
        versionInfo,
        dynamicListeners: resources.map((r) => ({
          name: r.name,
          activeState: { versionInfo: r.version, listener: any(r.typeUrl, r.bytes) },
          ...status,
        })),
      });
    case TypeUrl.RouteConfiguration:
      return anyOfMessage('envoy.admin.v3.RoutesConfigDump', {
        dynamicRouteConfigs: resources.map((r) => entry(r, 'routeConfig')),
      });
    case TypeUrl.Secret:
      return anyOfMessage('envoy.admin.v3.SecretsConfigDump', {
        dynamicActiveSecrets: resources.map((r) => ({ name: r.name, ...entry(r, 'secret') })),
      });
  }
}

/** A ConfigDump of the given per-type dumps, printed as Envoy prints it, secrets redacted. */
function printConfigDump(configs: Json[]): Json[] {
  const type = messageType(CONFIG_DUMP);
  const bytes = type.encode(type.fromObject({ configs })).finish();
  const printed = bytesToProto3Json(CONFIG_DUMP, bytes) as { configs?: Json[] };
  return (printed.configs ?? []).map((config) => {
    if (config['@type'] !== `${TYPE_PREFIX}envoy.admin.v3.SecretsConfigDump`) return config;
    const redacted: Json = { ...config };
    for (const list of ['dynamic_active_secrets', 'dynamic_warming_secrets']) {
      const entries = config[list] as Json[] | undefined;
      if (entries) redacted[list] = entries.map((entry) => ({ ...entry, secret: redactSecrets(entry.secret) }));
    }
    return redacted;
  });
}

function subscribed(all: ReadonlyMap<string, CachedResource>, view: ProxyTypeView): CachedResource[] {
  if (view.wildcard) return [...all.values()];
  return view.names.map((name) => all.get(name)).filter((r): r is CachedResource => r !== undefined);
}

/** Strips the suffix a CDS response carries while removed clusters are held back (make before break). */
function baseVersion(version: string): string {
  const dot = version.indexOf('.');
  return dot === -1 ? version : version.slice(0, dot);
}

/** The dump for one node: every served type it subscribes to, on any of its streams. */
export function nodeConfigDump(cache: ResourceCache, streams: ProxyView[]): Json {
  const latest = streams[streams.length - 1];
  const group: ProxyGroup = latest.group;
  // A node may hold several streams (per-type services, or a reconnect overlapping the old
  // stream): the newest stream's view of a type wins.
  const byType = new Map<string, ProxyTypeView>();
  for (const stream of streams) for (const view of Object.values(stream.types)) byType.set(view.typeUrl, view);

  const configs: Json[] = [];
  for (const typeUrl of SERVED_TYPE_URLS) {
    const view = byType.get(typeUrl);
    if (!view || group === '') continue;
    const current = cache.setVersion(group, typeUrl);
    const input: TypeDumpInput = {
      typeUrl,
      resources: subscribed(cache.resources(group, typeUrl), view),
      versionInfo: view.versionAcked,
    };
    if (view.state === 'SYNCED' && view.versionAcked === current) input.clientStatus = 'ACKED';
    if (view.state === 'NACKED' && baseVersion(view.versionSent) === current) {
      input.clientStatus = 'NACKED';
      input.nack = { details: view.lastNack ?? '', versionInfo: view.versionSent };
    }
    configs.push(typeDump(input));
  }
  return {
    node: {
      id: latest.nodeId,
      group,
      role: latest.role,
      ...(latest.client ? { client: latest.client } : {}),
      degradations: latest.degradations ?? [],
      streams: streams.map((s) => ({ streamId: s.streamId, flavour: s.flavour, peer: s.peer, connectedSince: s.connectedSince })),
      types: Object.fromEntries(
        [...byType.values()].map((v) => [v.typeUrl, { state: v.state, versionSent: v.versionSent, versionAcked: v.versionAcked }]),
      ),
    },
    configs: printConfigDump(configs),
  };
}

/** Without a node: every group's current resources, each as an Envoy-shaped dump. */
export function groupsConfigDump(cache: ResourceCache): Json {
  const groups = [...cache.groups()].sort().map((group) => ({
    group,
    configs: printConfigDump(
      SERVED_TYPE_URLS.filter((typeUrl) => cache.resources(group, typeUrl).size > 0).map((typeUrl) =>
        typeDump({
          typeUrl,
          resources: [...cache.resources(group, typeUrl).values()],
          versionInfo: cache.setVersion(group, typeUrl),
        }),
      ),
    ),
  }));
  return { groups };
}
