// Make before break: the order in which one cache change goes out on an ADS stream.
// Envoy's xDS protocol doc: CDS, then EDS for those clusters, then LDS, then RDS for those
// listeners; clusters (and their endpoints) that are no longer referenced go last, once what
// replaced them is out. Secrets warm clusters and listeners the way endpoints do, so new
// secrets go out before the listeners that use them.
import { TypeUrl } from '../envoy/protos.js';

/**
 * - `make`: changed and added resources (for LDS and RDS also removals: nothing depends on a
 *   listener, and a route configuration is only dropped after the listener that used it changed);
 * - `break`: removals held back until everything else went out.
 */
type PushPhase = 'make' | 'break';

interface PushStep {
  typeUrl: TypeUrl;
  phase: PushPhase;
}

export const PUSH_ORDER: readonly PushStep[] = [
  { typeUrl: TypeUrl.Cluster, phase: 'make' },
  { typeUrl: TypeUrl.ClusterLoadAssignment, phase: 'make' },
  { typeUrl: TypeUrl.Secret, phase: 'make' },
  { typeUrl: TypeUrl.Listener, phase: 'make' },
  { typeUrl: TypeUrl.RouteConfiguration, phase: 'make' },
  { typeUrl: TypeUrl.Cluster, phase: 'break' },
  { typeUrl: TypeUrl.ClusterLoadAssignment, phase: 'break' },
  { typeUrl: TypeUrl.Secret, phase: 'break' },
];

/** Types whose removals wait for the break phase. */
export function removalsDeferred(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.ClusterLoadAssignment || typeUrl === TypeUrl.Secret;
}

/** LDS and CDS: wildcard-capable, and every SotW response carries the full set. */
export function isFullStateType(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Cluster;
}
