// /debug/config_dump: the resources a proxy holds, shaped like Envoy's own config dump
// (envoy.admin.v3.ConfigDump in proto3 JSON form, lowerCamelCase), so tools that read Envoy's
// dumps can read this one. The resources are the cache's current ones for the node's group and
// subscription; `clientStatus` says whether the node ACKed (or NACKed) that exact set, which is
// what makes "current" equal to "what the proxy was last sent and ACKed".
import type { CachedResource, ProxyGroup, ResourceCache } from '../cache/types.js';
import { decodeMessage, SERVED_TYPE_URLS, TypeUrl } from '../protos.js';
import type { ProxyTypeView, ProxyView } from './proxies.js';

const DUMP_TYPE = 'type.googleapis.com/envoy.admin.v3.';

type Json = Record<string, unknown>;

/** Fields of a Secret that hold key material: a dump shows that they are set, never their bytes. */
const SECRET_FIELDS = new Set(['privateKey', 'password', 'secret', 'keys', 'pkcs12', 'ocspStaple']);
const REDACTED = { inlineString: '[redacted]' };

function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [key, field] of Object.entries(value as Json)) {
    if (SECRET_FIELDS.has(key)) out[key] = Array.isArray(field) ? field.map(() => REDACTED) : REDACTED;
    else out[key] = redactSecrets(field);
  }
  return out;
}

/** A cached resource as an expanded `Any`: `{ '@type': url, ...fields }`. */
export function resourceJson(resource: CachedResource): Json {
  const fields = decodeMessage(resource.typeUrl, resource.bytes);
  const shown = resource.typeUrl === TypeUrl.Secret ? (redactSecrets(fields) as Json) : fields;
  return { '@type': resource.typeUrl, ...shown };
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

function typeDump(input: TypeDumpInput): Json {
  const { typeUrl, resources, versionInfo, clientStatus, nack } = input;
  const extra = (): Json => {
    const fields: Json = {};
    if (clientStatus) fields.clientStatus = clientStatus;
    if (nack) fields.errorState = nack;
    return fields;
  };
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return {
        '@type': `${DUMP_TYPE}ClustersConfigDump`,
        versionInfo,
        dynamicActiveClusters: sorted.map((r) => ({ versionInfo: r.version, cluster: resourceJson(r), ...extra() })),
      };
    case TypeUrl.ClusterLoadAssignment:
      return {
        '@type': `${DUMP_TYPE}EndpointsConfigDump`,
        dynamicEndpointConfigs: sorted.map((r) => ({ versionInfo: r.version, endpointConfig: resourceJson(r), ...extra() })),
      };
    case TypeUrl.Listener:
      return {
        '@type': `${DUMP_TYPE}ListenersConfigDump`,
        versionInfo,
        dynamicListeners: sorted.map((r) => ({
          name: r.name,
          activeState: { versionInfo: r.version, listener: resourceJson(r) },
          ...extra(),
        })),
      };
    case TypeUrl.RouteConfiguration:
      return {
        '@type': `${DUMP_TYPE}RoutesConfigDump`,
        dynamicRouteConfigs: sorted.map((r) => ({ versionInfo: r.version, routeConfig: resourceJson(r), ...extra() })),
      };
    case TypeUrl.Secret:
      return {
        '@type': `${DUMP_TYPE}SecretsConfigDump`,
        dynamicActiveSecrets: sorted.map((r) => ({ name: r.name, versionInfo: r.version, secret: resourceJson(r), ...extra() })),
      };
  }
}

/** Strips the suffix a CDS response carries while removed clusters are held back (make before break). */
function baseVersion(version: string): string {
  const dot = version.indexOf('.');
  return dot === -1 ? version : version.slice(0, dot);
}

function subscribed(all: ReadonlyMap<string, CachedResource>, view: ProxyTypeView): CachedResource[] {
  if (view.wildcard) return [...all.values()];
  return view.names.map((name) => all.get(name)).filter((r): r is CachedResource => r !== undefined);
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
      streams: streams.map((s) => ({ streamId: s.streamId, flavour: s.flavour, peer: s.peer, connectedSince: s.connectedSince })),
      types: Object.fromEntries(
        [...byType.values()].map((v) => [v.typeUrl, { state: v.state, versionSent: v.versionSent, versionAcked: v.versionAcked }]),
      ),
    },
    configs,
  };
}

/** Without a node: every group's current resources, each as an Envoy-shaped dump. */
export function groupsConfigDump(cache: ResourceCache): Json {
  const groups = [...cache.groups()].sort().map((group) => ({
    group,
    configs: SERVED_TYPE_URLS.filter((typeUrl) => cache.resources(group, typeUrl).size > 0).map((typeUrl) =>
      typeDump({
        typeUrl,
        resources: [...cache.resources(group, typeUrl).values()],
        versionInfo: cache.setVersion(group, typeUrl),
      }),
    ),
  }));
  return { groups };
}
