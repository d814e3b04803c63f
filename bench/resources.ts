// Envoy resources for the synthetic mesh, built here in bench/ (not by Switchyard's
// translator) so the floor server can run on its own: one Cluster and one
// ClusterLoadAssignment per service, the sidecar's `outbound-http` listener and its
// `outbound` route configuration. When a Switchyard run precedes the floor, the floor
// serves the bytes recorded from Switchyard instead.
import { decodeMessage, encodeMessage, TypeUrl } from '../src/envoy/protos.js';
import { hashBytes } from './loadgen/wire.js';
import type { Mesh, MeshService } from './mesh.js';

/** Resource bytes by type URL and name: what the floor server serves. */
export type ResourceSnapshot = Map<string, Map<string, SnapshotResource>>;

export interface SnapshotResource {
  /** The resource message, encoded. */
  bytes: Uint8Array;
  version: string;
}

const ROUTER = {
  name: 'envoy.filters.http.router',
  typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const LB = 'type.googleapis.com/envoy.extensions.load_balancing_policies';

export function clusterFor(s: MeshService): object {
  const policy = s.policy?.spec.loadBalancer?.policy;
  const typed =
    policy === 'RingHash'
      ? {
          name: 'envoy.load_balancing_policies.ring_hash',
          typedConfig: { '@type': `${LB}.ring_hash.v3.RingHash`, minimumRingSize: { value: 1024 } },
        }
      : policy === 'Maglev'
        ? { name: 'envoy.load_balancing_policies.maglev', typedConfig: { '@type': `${LB}.maglev.v3.Maglev`, tableSize: { value: 65537 } } }
        : policy === 'LeastRequest'
          ? {
              name: 'envoy.load_balancing_policies.least_request',
              typedConfig: { '@type': `${LB}.least_request.v3.LeastRequest`, choiceCount: { value: 2 } },
            }
          : { name: 'envoy.load_balancing_policies.round_robin', typedConfig: { '@type': `${LB}.round_robin.v3.RoundRobin` } };
  return {
    name: s.clusterName,
    type: 'EDS',
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    connectTimeout: { seconds: 1 },
    loadBalancingPolicy: { policies: [{ typedExtensionConfig: typed }] },
  };
}

export function clusterLoadAssignmentFor(s: MeshService): object {
  const byZone = new Map<string, object[]>();
  for (const endpoint of s.slice.endpoints ?? []) {
    const zone = endpoint.zone ?? '';
    const list = byZone.get(zone) ?? [];
    list.push({
      endpoint: { address: { socketAddress: { address: endpoint.addresses[0], portValue: 8080 } } },
      healthStatus: endpoint.conditions?.ready === false ? 'UNHEALTHY' : 'HEALTHY',
    });
    byZone.set(zone, list);
  }
  return {
    clusterName: s.clusterName,
    endpoints: [...byZone.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([zone, lbEndpoints]) => ({ locality: { zone }, lbEndpoints })),
  };
}

function routeConfigurationFor(mesh: Mesh): object {
  return {
    name: 'outbound',
    virtualHosts: mesh.services.map((s) => {
      const host = `${s.name}.${s.namespace}.svc.cluster.local`;
      const split = s.policy?.spec.split;
      const hashOn = s.policy?.spec.loadBalancer?.hashOn?.[0];
      const route: Record<string, unknown> = split
        ? { weightedClusters: { clusters: split.map((b) => ({ name: `${s.namespace}/${b.backend}/8080`, weight: { value: b.weight } })) } }
        : { cluster: s.clusterName };
      if (hashOn?.header) route.hashPolicy = [{ header: { headerName: hashOn.header.name } }];
      if (hashOn?.cookie) route.hashPolicy = [{ cookie: { name: hashOn.cookie.name, ttl: { seconds: 3600 } } }];
      return {
        name: s.clusterName,
        domains: [s.name, `${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`, host, `${host}:8080`],
        routes: [{ match: { prefix: '/' }, route }],
      };
    }),
  };
}

function outboundListener(): object {
  return {
    name: 'outbound-http',
    address: { socketAddress: { address: '0.0.0.0', portValue: 15001 } },
    filterChains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typedConfig: {
              '@type': HCM,
              statPrefix: 'outbound',
              rds: { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName: 'outbound' },
              httpFilters: [ROUTER],
            },
          },
        ],
      },
    ],
  };
}

function entry(typeUrl: string, value: object): SnapshotResource {
  const bytes = encodeMessage(typeUrl, value);
  return { bytes, version: hashBytes(bytes).toString(16) };
}

/** Encodes every resource of the mesh. */
export function buildSnapshot(mesh: Mesh): ResourceSnapshot {
  const clusters = new Map<string, SnapshotResource>();
  const assignments = new Map<string, SnapshotResource>();
  for (const s of mesh.services) {
    clusters.set(s.clusterName, entry(TypeUrl.Cluster, clusterFor(s)));
    assignments.set(s.clusterName, entry(TypeUrl.ClusterLoadAssignment, clusterLoadAssignmentFor(s)));
  }
  return new Map([
    [TypeUrl.Cluster, clusters],
    [TypeUrl.ClusterLoadAssignment, assignments],
    [TypeUrl.Listener, new Map([['outbound-http', entry(TypeUrl.Listener, outboundListener())]])],
    [TypeUrl.RouteConfiguration, new Map([['outbound', entry(TypeUrl.RouteConfiguration, routeConfigurationFor(mesh))]])],
  ]);
}

/** The re-encoded ClusterLoadAssignment of one service (after an endpoint change). */
export function encodeClusterLoadAssignment(s: MeshService): SnapshotResource {
  return entry(TypeUrl.ClusterLoadAssignment, clusterLoadAssignmentFor(s));
}

/** Ready addresses of a ClusterLoadAssignment, sorted. */
export function readyAddresses(bytes: Uint8Array): string[] {
  const assignment = decodeMessage(TypeUrl.ClusterLoadAssignment, bytes) as {
    endpoints?: Array<{
      lbEndpoints?: Array<{ endpoint?: { address?: { socketAddress?: { address?: string } } }; healthStatus?: string }>;
    }>;
  };
  const addresses: string[] = [];
  for (const locality of assignment.endpoints ?? []) {
    for (const lb of locality.lbEndpoints ?? []) {
      const status = lb.healthStatus ?? 'UNKNOWN';
      if (status !== 'UNKNOWN' && status !== 'HEALTHY') continue;
      const address = lb.endpoint?.address?.socketAddress?.address;
      if (address) addresses.push(address);
    }
  }
  return addresses.sort();
}
