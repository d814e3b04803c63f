// What a profile changes in the bytes a proxy receives (its served shape), and the proxy group
// name that says so. Proxies whose profiles give the same shape share a group, so its
// resources are translated and encoded once for all of them.
import type { ClientProfile } from './profile.js';

/** The policies a Cluster's legacy `lb_policy` field can name. */
export type LbPolicyName = 'maglev' | 'ring_hash' | 'least_request' | 'round_robin' | 'random';

export type MeshRole = 'sidecar' | 'proxyless';

/**
 * Which legacy `lb_policy` values a client reads: Envoy all of them; gRPC (and, conservatively,
 * an unknown client) ROUND_ROBIN and RING_HASH only — anything else NACKs the Cluster there.
 */
export type LegacyLbFamily = 'envoy' | 'grpc';

export const LEGACY_LB_POLICIES: Record<LegacyLbFamily, readonly LbPolicyName[]> = {
  envoy: ['maglev', 'ring_hash', 'least_request', 'round_robin', 'random'],
  grpc: ['ring_hash', 'round_robin'],
};

/**
 * The certificate provider instance (gRFC A29) a proxyless client's bootstrap defines for its
 * workload certificate, and the name Switchyard's TLS contexts give it: one fixed name, so one
 * translation serves every client that has it.
 */
export const WORKLOAD_CERTIFICATE_PROVIDER = 'workload';

/** The flags translation reads. */
export interface ServedShape {
  /** HeaderMatcher.string_match (gRFC A63); false: the legacy exact_match / safe_regex_match / present_match fields. */
  headerStringMatch: boolean;
  /** Hashing policies may be sent; false: ring_hash and maglev are served as round_robin (missing or crashing). */
  ringHash: boolean;
  legacyLb: LegacyLbFamily;
  /**
   * Proxyless only: the node's bootstrap has the `workload` certificate provider instance and the
   * client implements gRFC A29, so TLS naming that instance may be sent (to any other client it
   * is a NACK: gRPC refuses a Cluster or Listener naming an instance its bootstrap lacks).
   */
  workloadTls: boolean;
}

/** What a role's full-featured client gets: a current Envoy for sidecars, a current gRPC for proxyless. */
export function baselineShape(role: MeshRole): ServedShape {
  return { headerStringMatch: true, ringHash: true, legacyLb: role === 'sidecar' ? 'envoy' : 'grpc', workloadTls: false };
}

/**
 * The shape a client of this profile is served in a role. Proxyless clients are gRPC by
 * definition, so their legacy lb_policy stays gRPC's whatever the node calls itself; a sidecar
 * that is not an Envoy (a gRPC or unknown client) reads only gRPC's legacy values.
 */
export function servedShape(profile: ClientProfile, role: MeshRole, certificateProvider = false): ServedShape {
  return {
    headerStringMatch: profile.has('header_string_match'),
    ringHash: profile.has('ring_hash'),
    legacyLb: role === 'sidecar' && profile.identity.implementation === 'envoy' ? 'envoy' : 'grpc',
    workloadTls: role === 'proxyless' && certificateProvider && profile.has('security'),
  };
}

/**
 * The group of a mesh role and shape: the role's name for its baseline, plus one suffix per
 * difference, in this order — `+grpc-lb-policy` (a sidecar that reads only gRPC's legacy lb_policy
 * values), `+legacy-header-match`, `+no-ring-hash`, `+mtls` (a proxyless client with the workload
 * certificate provider). E.g. gRPC C-core 1.51.1 proxyless:
 * `proxyless+legacy-header-match+no-ring-hash`.
 */
export function meshGroupName(role: MeshRole, shape: ServedShape): string {
  const baseline = baselineShape(role);
  let name: string = role;
  if (shape.legacyLb !== baseline.legacyLb) name += '+grpc-lb-policy';
  if (!shape.headerStringMatch) name += '+legacy-header-match';
  if (!shape.ringHash) name += '+no-ring-hash';
  if (shape.workloadTls) name += '+mtls';
  return name;
}

/** The role and shape of a mesh group name; undefined for names that are not mesh groups (gateways). */
export function parseMeshGroup(group: string): { role: MeshRole; shape: ServedShape } | undefined {
  const [role, ...suffixes] = group.split('+');
  if (role !== 'sidecar' && role !== 'proxyless') return undefined;
  const shape = baselineShape(role);
  for (const suffix of suffixes) {
    if (suffix === 'grpc-lb-policy' && role === 'sidecar') shape.legacyLb = 'grpc';
    else if (suffix === 'legacy-header-match') shape.headerStringMatch = false;
    else if (suffix === 'no-ring-hash') shape.ringHash = false;
    else if (suffix === 'mtls' && role === 'proxyless') shape.workloadTls = true;
    else return undefined;
  }
  return meshGroupName(role, shape) === group ? { role, shape } : undefined;
}

/**
 * A sidecar group with a workload shape: the mesh group it shares outbound configuration with,
 * `@`, and the shape's id (`sidecar@Qx3...`). Proxies of one shape share it.
 */
export function workloadGroupName(meshGroup: string, shapeId: string): string {
  return `${meshGroup}@${shapeId}`;
}

/**
 * A sidecar group with an egress scope: the mesh group, `~`, and the scope's id
 * (`sidecar~Hk2...`). Sidecars of namespaces declaring the same scope share it.
 */
export function scopedGroupName(meshGroup: string, scopeId: string): string {
  return `${meshGroup}~${scopeId}`;
}

/** The role part of any group name: `sidecar`, `proxyless`, or `gateway/<name>` as is. */
export function groupRole(group: string): string {
  return group.split(/[+@~]/)[0];
}
