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
  /** The spec as written (for status and tools). */
  spec: TrafficPolicySpec;
  /** The same spec normalized: what the translator reads. */
  policy: ServicePolicy;
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
  /** Pods added, changed or deleted (their workload shape may have changed). */
  workloads: Set<string>;
  /** TrafficPolicies whose conditions changed (or that were deleted: `policyStatus` then returns undefined). */
  policyStatus: Set<string>;
  /** Services whose AccessPolicy outcome (mTLS mode, allow rules) changed: their inbound side and the clusters to them. */
  access: Set<string>;
  /** AccessPolicies whose conditions changed (or that were deleted). */
  accessPolicyStatus: Set<string>;
  /** The Gateway API picture (gateways, attached routes, their statuses) changed: re-translate Gateway API gateways. */
  gatewayApi: boolean;
  /** Namespaces whose egress annotation (`switchyard.dev/egress`) changed: their sidecars may change group. */
  namespaces: Set<string>;
  /** The first batch: translate everything. */
  all: boolean;
}

export function emptyChange(): ModelChange {
  return {
    services: new Set(),
    endpoints: new Set(),
    ingresses: new Set(),
    secrets: new Set(),
    workloads: new Set(),
    policyStatus: new Set(),
    access: new Set(),
    accessPolicyStatus: new Set(),
    gatewayApi: false,
    namespaces: new Set(),
    all: false,
  };
}

// ---- TrafficPolicy, normalized (policy.ts) -----------------------------------------------------

type LbPolicyName = 'Auto' | 'RingHash' | 'Maglev' | 'LeastRequest' | 'RoundRobin' | 'Random';

/** One hash key of the route, in the policy's order. */
export type HashKey =
  | { kind: 'header'; name: string; terminal: boolean }
  | { kind: 'cookie'; name: string; ttlMs?: number; path?: string; terminal: boolean }
  | { kind: 'sourceIP'; terminal: boolean }
  | { kind: 'queryParameter'; name: string; terminal: boolean };

export interface PolicyLoadBalancer {
  /** 'Auto' when the policy names none. */
  policy: LbPolicyName;
  /** Empty when the policy asks for no hash keys. */
  hashOn: HashKey[];
  minimumRingSize?: number;
  maximumRingSize?: number;
  maglevTableSize?: number;
  choiceCount?: number;
  activeRequestBias?: number;
}

/** A Service the policy sends to, in the policy's namespace. */
export interface PolicyBackend {
  serviceKey: string;
  /** The Service's name as written (for logs). */
  name: string;
  /** The backend Service's port; unset: the port number of the target port being routed. */
  port?: number;
  weight: number;
}

export type PathMatch = { kind: 'prefix' | 'exact' | 'regex'; value: string };

export type HeaderMatch = { kind: 'exact' | 'regex'; name: string; value: string } | { kind: 'present' | 'absent'; name: string };

export interface PolicyRouteMatch {
  /** A prefix of '/' when the policy gave no path. */
  path: PathMatch;
  headers: HeaderMatch[];
}

export interface PolicyRoute {
  match: PolicyRouteMatch;
  /** One backend (weight 1) or the route's split. */
  backends: PolicyBackend[];
}

export interface PolicyHealthCheck {
  /** An HTTP check; without it, a TCP connect check. */
  http?: { path: string; host?: string };
  timeoutMs: number;
  intervalMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/** A valid TrafficPolicy spec as the translator reads it: defaults filled in, durations in ms. */
export interface ServicePolicy {
  /** `<namespace>/<name>` of the TrafficPolicy. */
  key: string;
  loadBalancer: PolicyLoadBalancer;
  /** The catch-all's weighted backends; empty: the Service itself. */
  split: PolicyBackend[];
  /** Ordered; the first match wins. */
  routes: PolicyRoute[];
  timeoutMs?: number;
  retries?: { attempts: number; retryOn?: string[]; perTryTimeoutMs?: number };
  circuitBreaker?: { maxConnections?: number; maxPendingRequests?: number; maxRequests?: number; maxRetries?: number };
  outlierDetection?: { consecutive5xx?: number; intervalMs?: number; baseEjectionTimeMs?: number; maxEjectionPercent?: number };
  healthCheck?: PolicyHealthCheck;
  preferLocalZone: boolean;
  failoverZones: string[];
  /** On requests: at gateways, and on the inbound HTTP ports of the Service's pods. */
  rateLimit?: RateLimit;
  /** On connections to the inbound TCP ports of the Service's pods. */
  connectionLimit?: RateLimit;
}

/** A token bucket per proxy: `tokensPerFill` every `fillIntervalMs`, at most `maxTokens`. */
export interface RateLimit {
  tokensPerFill: number;
  fillIntervalMs: number;
  maxTokens: number;
}

/** The rate limit a TrafficPolicy attaches to an HTTPRoute, a GRPCRoute or a Gateway (listener). */
export interface AttachedRateLimit {
  /** `<namespace>/<name>` of the TrafficPolicy. */
  policyKey: string;
  limit: RateLimit;
}

// ---- Secrets, normalized (secret.ts) -------------------------------------------------------------

/** A TLS Secret's certificate and key (PEM, checked to parse and to belong together), or why it is unusable. */
export type TlsCertificate = { ok: true; certificatePem: string; keyPem: string } | { ok: false; error: string };

// ---- Ingresses and IngressClasses, normalized (ingress.ts) ----------------------------------------

export interface IngressClassInfo {
  name: string;
  /** spec.controller; '' when unset. */
  controller: string;
  /** ingressclass.kubernetes.io/is-default-class: "true". */
  isDefault: boolean;
}

/** An Ingress path, Kubernetes semantics. Exact: as written. Prefix (and ImplementationSpecific): without trailing slashes, '/' for the root. */
export interface IngressPath {
  exact: boolean;
  path: string;
}

/** What an Ingress backend names: a Service and port as written, or something else (a resource, nothing). */
export type IngressBackendRef = {
  /** `Ingress <ns>/<name>`. */
  label: string;
  /** The backend's field in the Ingress: `spec.defaultBackend`, `spec.rules[i].http.paths[j].backend`. */
  field: string;
} & (
  | { kind: 'service'; serviceKey: string; namespace: string; name: string; port: { number?: number; name?: string } }
  | { kind: 'unsupported'; resourceKind?: string }
);

/** An Ingress backend resolved against the current Services; the error starts with the backend's field. */
export type ResolvedIngressBackend = { ok: true; service: ServiceInfo; port: ServicePortInfo } | { ok: false; error: string };

interface IngressPathRule {
  /** `Ingress <ns>/<name>: spec.rules[i].http.paths[j]`, for problems. */
  where: string;
  /** `<ns>/<name>/rules/<i>/paths/<j>`: the name of the Envoy routes it becomes. */
  routeName: string;
  ruleIndex: number;
  pathIndex: number;
  /** The path, or why it is left out. */
  path: { ok: true; value: IngressPath } | { ok: false; error: string };
  backend: IngressBackendRef;
}

export interface IngressRule {
  /** '*' when the rule names no host. */
  host: string;
  /** Plain HTTP for this host redirects to HTTPS (ssl-redirect, and a TLS entry with a Secret covers it). */
  httpsRedirect: boolean;
  paths: IngressPathRule[];
}

export interface IngressTls {
  /** `Ingress <ns>/<name>: spec.tls[i]`. */
  where: string;
  /** '' when the entry names no Secret. */
  secretName: string;
  /** Empty: the certificate for clients whose SNI no other entry names. */
  hosts: string[];
}

export interface IngressInfo {
  key: string;
  namespace: string;
  name: string;
  /** spec.ingressClassName, else the legacy kubernetes.io/ingress.class annotation. */
  className?: string;
  /** The gateways named by switchyard.dev/gateway; undefined: every gateway serves it. */
  gateways?: string[];
  rules: IngressRule[];
  defaultBackend?: { where: string; routeName: string; backend: IngressBackendRef };
  tls: IngressTls[];
  /** Keys of every Service a backend names (paths left out included). */
  serviceKeys: string[];
}
