// The model's normalized shapes: what the translator reads. Keys are `<namespace>/<name>`.
import type { Condition, TrafficPolicySpec, ServiceObject } from '../sources/types.js';

/** How a Service port is spoken: decides HTTP/2 upstreams, HTTP routing or a TCP proxy. */
export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

export interface ServicePortInfo {
  /** '' when the port is unnamed. */
  name: string;
  port: number;
  targetPort?: number | string;
  protocol: PortProtocol;
}

export interface ServiceInfo {
  key: string;
  namespace: string;
  name: string;
  /** clusterIP: None. Still served over EDS with the endpoint IPs. */
  headless: boolean;
  /** The cluster IP when it is a real address. */
  clusterIP?: string;
  /** TCP ports only (UDP and SCTP are not proxied), in manifest order; none for an ExternalName Service. */
  ports: ServicePortInfo[];
  /** sessionAffinity: ClientIP asks for a source-IP hash. */
  clientIPAffinity: boolean;
  object: ServiceObject;
}

/** healthy: ready. draining: serving but not ready, or terminating but still serving. */
export type EndpointHealth = 'healthy' | 'draining';

export interface EndpointInfo {
  address: string;
  port: number;
  health: EndpointHealth;
  /** '' when the EndpointSlice gave no zone. */
  zone: string;
  nodeName?: string;
}

/** The TrafficPolicy spec a Service is served with right now. */
export interface EffectivePolicy {
  /** `<namespace>/<name>` of the TrafficPolicy. */
  policyKey: string;
  spec: TrafficPolicySpec;
  /** false when the policy's current spec is invalid and this is its last good spec. */
  current: boolean;
}

export interface PolicyStatus {
  namespace: string;
  name: string;
  observedGeneration?: number;
  conditions: Condition[];
}

/** What one `apply` touched, so the pipeline re-translates only that. */
export interface ModelChange {
  /** Services whose clusters or routes may have changed (upsert, delete, policy, a backend they route to). */
  services: Set<string>;
  /** Services whose endpoints changed and nothing else. */
  endpoints: Set<string>;
  /** Ingresses to re-translate (changed, or a Service / IngressClass they use changed). */
  ingresses: Set<string>;
  secrets: Set<string>;
  /** TrafficPolicies whose conditions changed (or that were deleted: `policyStatus` then returns undefined). */
  policyStatus: Set<string>;
  /** The first batch: translate everything. */
  all: boolean;
}

export function emptyChange(): ModelChange {
  return { services: new Set(), endpoints: new Set(), ingresses: new Set(), secrets: new Set(), policyStatus: new Set(), all: false };
}

export function isEmptyChange(change: ModelChange): boolean {
  return (
    !change.all &&
    change.services.size === 0 &&
    change.endpoints.size === 0 &&
    change.ingresses.size === 0 &&
    change.secrets.size === 0 &&
    change.policyStatus.size === 0
  );
}
