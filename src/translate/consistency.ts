// Whether one proxy group's resources hang together: every route configuration a listener asks
// for over RDS, every cluster a route or TCP proxy sends to, every assignment an EDS cluster
// waits for and every secret a TLS context fetches over SDS is among the group's resources.
// (go-control-plane's Snapshot.Consistent() checks the same for a snapshot.) A proxy given a
// dangling name waits for it forever (RDS, EDS, SDS) or answers 503 (a cluster).
import { TypeUrl, type XdsResource } from '../envoy/protos.js';

export interface GroupResources {
  clusters: XdsResource[];
  endpoints: XdsResource[];
  routes: XdsResource[];
  listeners: XdsResource[];
  secrets: XdsResource[];
}

type ReferenceKind = 'cluster' | 'endpoints' | 'routeConfiguration' | 'secret';

interface DanglingReference {
  /** What is missing. */
  kind: ReferenceKind;
  name: string;
  /** The resource that names it: "Listener outbound". */
  from: string;
}

const TYPE_NAMES: Partial<Record<string, string>> = {
  [TypeUrl.Cluster]: 'Cluster',
  [TypeUrl.ClusterLoadAssignment]: 'ClusterLoadAssignment',
  [TypeUrl.Listener]: 'Listener',
  [TypeUrl.RouteConfiguration]: 'RouteConfiguration',
  [TypeUrl.Secret]: 'Secret',
};

/** The names a resource refers to, found by walking its value (typed configs are nested objects). */
function referencesOf(resource: XdsResource): Array<{ kind: ReferenceKind; name: string }> {
  const found: Array<{ kind: ReferenceKind; name: string }> = [];
  if (resource.typeUrl === TypeUrl.Cluster) {
    const value = resource.value as { type?: string; edsClusterConfig?: { serviceName?: string } };
    if (value.type === 'EDS' || value.edsClusterConfig)
      found.push({ kind: 'endpoints', name: value.edsClusterConfig?.serviceName || resource.name });
  }
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const object = node as Record<string, unknown>;
    // RouteAction.cluster, TcpProxy.cluster.
    if (typeof object.cluster === 'string') found.push({ kind: 'cluster', name: object.cluster });
    // WeightedCluster.clusters[].name.
    const weighted = object.weightedClusters as { clusters?: Array<{ name?: string }> } | undefined;
    for (const entry of weighted?.clusters ?? []) if (entry.name) found.push({ kind: 'cluster', name: entry.name });
    // HttpConnectionManager.rds.
    const rds = object.rds as { routeConfigName?: string } | undefined;
    if (rds?.routeConfigName) found.push({ kind: 'routeConfiguration', name: rds.routeConfigName });
    // An SDS secret config: { name, sdsConfig }. One read from a file in the pod (a path config
    // source: the workload certificate, the trust bundle) is not ours to serve.
    const sdsConfig = object.sdsConfig as { pathConfigSource?: unknown } | undefined;
    if (typeof object.name === 'string' && sdsConfig !== undefined && sdsConfig.pathConfigSource === undefined) {
      found.push({ kind: 'secret', name: object.name });
    }
    for (const [key, value] of Object.entries(object)) {
      if (key !== 'weightedClusters' && key !== 'rds') walk(value);
    }
  };
  walk(resource.value);
  return found;
}

/** Every name the group's resources refer to that the group does not have; [] when consistent. */
export function danglingReferences(group: GroupResources): DanglingReference[] {
  const have: Record<ReferenceKind, Set<string>> = {
    cluster: new Set(group.clusters.map((r) => r.name)),
    endpoints: new Set(group.endpoints.map((r) => r.name)),
    routeConfiguration: new Set(group.routes.map((r) => r.name)),
    secret: new Set(group.secrets.map((r) => r.name)),
  };
  const dangling: DanglingReference[] = [];
  for (const resource of [...group.listeners, ...group.routes, ...group.clusters]) {
    const seen = new Set<string>();
    for (const ref of referencesOf(resource)) {
      const key = `${ref.kind}|${ref.name}`;
      if (seen.has(key) || have[ref.kind].has(ref.name)) continue;
      seen.add(key);
      dangling.push({ ...ref, from: `${TYPE_NAMES[resource.typeUrl] ?? resource.typeUrl} ${resource.name}` });
    }
  }
  return dangling;
}

export function describeDangling(ref: DanglingReference): string {
  return `${ref.from} names ${ref.kind} "${ref.name}", which the group does not have`;
}

interface ChainMatch {
  destinationPort?: { value?: number };
  prefixRanges?: Array<{ addressPrefix?: string; prefixLen?: { value?: number } }>;
  [criterion: string]: unknown;
}

/**
 * Matches that two filter chains of one listener share (Envoy rejects such a listener). Each
 * chain's match is expanded into one key per destination port and destination range; the other
 * criteria (SNI, protocols, sources) are part of every key as written. [] when all are unique.
 */
export function duplicateChainMatches(listener: XdsResource): string[] {
  const value = listener.value as { filterChains?: Array<{ name?: string; filterChainMatch?: ChainMatch }> };
  const owners = new Map<string, string>();
  const duplicates: string[] = [];
  (value.filterChains ?? []).forEach((chain, index) => {
    const { destinationPort, prefixRanges, ...rest } = chain.filterChainMatch ?? {};
    const others = JSON.stringify(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const ranges = prefixRanges?.length ? prefixRanges.map((r) => `${r.addressPrefix}/${r.prefixLen?.value ?? 0}`) : ['*'];
    const name = chain.name ?? `filterChains[${index}]`;
    for (const range of ranges) {
      const key = `port ${destinationPort?.value ?? '*'}, destination ${range}, ${others}`;
      const owner = owners.get(key);
      if (owner !== undefined) duplicates.push(`Listener ${listener.name}: chains ${owner} and ${name} both match ${key}`);
      else owners.set(key, name);
    }
  });
  return duplicates;
}
