// One ClusterLoadAssignment per cluster: the Service port's endpoints grouped by zone into
// localities, with Envoy health statuses.
import { compare, type MeshModel, type ServiceInfo, type ServicePortInfo } from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { sharedFrozen } from '../envoy/frozen.js';
import { portsForRole } from './clusters.js';
import { clusterName } from './names.js';
import { tlsEndpointMetadata } from './mesh-tls.js';
import { assignmentValue, encodeAssignment, type LocalityGroup } from './assignment-bytes.js';
import type { ProxyRole } from './options.js';

const NO_ADDRESSES: ReadonlySet<string> = new Set();

/**
 * `tlsMatch`: tag the endpoints whose pod terminates mutual TLS of a Service mid-rollout, for a
 * cluster that picks its transport socket per endpoint (Envoy's; the default for sidecars). Other
 * assignments stay untagged, so groups whose clusters do not read the tag get the same bytes as before.
 */
export function buildServiceEndpoints(
  model: MeshModel,
  service: ServiceInfo,
  role: ProxyRole,
  tlsMatch = role === 'sidecar',
): XdsResource[] {
  const failoverZones = model.servicePolicy(service.key)?.failoverZones ?? [];
  const rollout = tlsMatch ? model.meshRollout(service.key) : undefined;
  // Kept by each assignment: one shared empty set for the Services not mid-rollout (most), not one each.
  const tlsAddresses = rollout ? new Set(rollout.addresses) : NO_ADDRESSES;
  return portsForRole(service, role).map((port) => buildLoadAssignment(model, service, port, failoverZones, tlsAddresses));
}

/**
 * Locality handling stays with what Envoy (and gRPC) do natively, for one assignment shared by
 * every caller whatever its zone:
 * - `failoverZones` becomes priorities: the zones listed, in order, are priorities 0, 1, ...;
 *   the zones not listed share the next one. Envoy moves traffic to the next priority only as a
 *   priority's healthy share drops. Priorities are renumbered to be contiguous (gRPC rejects gaps).
 * - `preferLocalZone` is the cluster's zone-aware LB config (see lb-policy.ts): Envoy then
 *   prefers the caller's own zone within a priority, using the caller's node locality.
 * Every locality carries a weight (its endpoint count): gRPC ignores localities without one.
 */
function buildLoadAssignment(
  model: MeshModel,
  service: ServiceInfo,
  port: ServicePortInfo,
  failoverZones: readonly string[],
  tlsAddresses: ReadonlySet<string>,
): XdsResource {
  const name = clusterName(service.key, port.port);
  const endpoints = model.endpoints(service.key, port);
  // The model sorts endpoints by zone first: each zone's endpoints are one run of the list, taken
  // as it is when there is one zone (no map of zones and no list per zone for 10,000 assignments).
  // Zones by name, at priority 0: without failover zones every zone ranks the same (most Services).
  const zones: string[] = [];
  const groups: LocalityGroup[] = [];
  // Indexed, as in lbChoiceFor: no iterator result per endpoint before this is optimized.
  for (let start = 0, end = 0; start < endpoints.length; start = end) {
    const zone = endpoints[start].zone;
    while (end < endpoints.length && endpoints[end].zone === zone) end++;
    const members = start === 0 && end === endpoints.length ? endpoints : endpoints.slice(start, end);
    zones.push(zone);
    groups.push({ locality: sharedLocality(zone), weight: sharedWeight(members.length), priority: 0, members });
  }
  if (failoverZones.length === 0) return new AssignmentResource(name, groups, tlsAddresses);
  const rankOf = (index: number) => {
    const rank = failoverZones.indexOf(zones[index]);
    return rank === -1 ? failoverZones.length : rank;
  };
  const indexes = zones.map((_, index) => index);
  const ranks = [...new Set(indexes.map(rankOf))].sort((a, b) => a - b);
  const ordered = indexes.sort((a, b) => rankOf(a) - rankOf(b) || compare(zones[a], zones[b]));
  return new AssignmentResource(
    name,
    ordered.map((index) => ({ ...groups[index], priority: ranks.indexOf(rankOf(index)) })),
    tlsAddresses,
  );
}

/**
 * An assignment that writes its own bytes (`encode`, what the cache takes) and builds its plain
 * object only when something reads `value` (tests, the config dump, the general path after a
 * refusal). A class: 10,000 of them at start-up, and an object literal with a getter costs several
 * times more to make.
 */
class AssignmentResource implements XdsResource {
  readonly typeUrl = TypeUrl.ClusterLoadAssignment;
  private built: object | undefined;

  constructor(
    readonly name: string,
    private readonly groups: readonly LocalityGroup[],
    private readonly tlsAddresses: ReadonlySet<string>,
  ) {}

  get value(): object {
    return (this.built ??= assignmentValue(this.name, this.groups, this.tlsAddresses, tlsEndpointMetadata));
  }

  encode(): Uint8Array | undefined {
    return encodeAssignment(this.name, this.groups, this.tlsAddresses, tlsEndpointMetadata);
  }

  /** As JSON, a resource like any other: its type, name and value. */
  toJSON(): XdsResource {
    return { typeUrl: this.typeUrl, name: this.name, value: this.value };
  }
}

// A mesh has a few zones and endpoint counts: one frozen object each, shared by every assignment,
// so the encoder and the validation rules work each out once (see envoy/frozen.ts).
const localities = new Map<string, object>();
const weights = new Map<number, object>();

function sharedLocality(zone: string): object {
  return sharedFrozen(localities, zone, () => (zone ? { zone } : {}));
}

function sharedWeight(count: number): object {
  return sharedFrozen(weights, count, () => ({ value: count }));
}
