// What every source (a folder of manifests, a Kubernetes cluster) emits, and the shapes of
// the objects it carries. Sources check structure (the CRD's OpenAPI schema, required
// fields); the model checks meaning (references, one policy per Service).
import type { ManifestError } from './manifests.js';

export type ResourceKind =
  | 'Service'
  | 'EndpointSlice'
  | 'Ingress'
  | 'IngressClass'
  | 'Secret'
  | 'TrafficPolicy'
  | 'AccessPolicy'
  | 'Namespace'
  | 'Pod'
  | GatewayApiKind;

/** The Gateway API kinds Switchyard reads (standard channel). */
export type GatewayApiKind = 'GatewayClass' | 'Gateway' | 'HTTPRoute' | 'GRPCRoute' | 'ReferenceGrant';

export const GATEWAY_API_KINDS: readonly GatewayApiKind[] = ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'ReferenceGrant'];

export const RESOURCE_KINDS: readonly ResourceKind[] = [
  'Service',
  'EndpointSlice',
  'Ingress',
  'IngressClass',
  'Secret',
  'TrafficPolicy',
  'AccessPolicy',
  'Namespace',
  ...GATEWAY_API_KINDS,
  'Pod',
];

/** Identifies one object. `namespace` is '' for cluster-scoped kinds (IngressClass). */
export interface ObjectRef {
  kind: ResourceKind;
  namespace: string;
  name: string;
}

export function refKey(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

interface ObjectMeta {
  name: string;
  namespace?: string;
  generation?: number;
  /** RFC 3339, set by the API server; manifests in a folder usually have none. */
  creationTimestamp?: string;
  resourceVersion?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface KubeObjectBase {
  apiVersion: string;
  kind: ResourceKind;
  metadata: ObjectMeta;
}

// ---- core/v1 Service ----------------------------------------------------------------
export interface ServicePortSpec {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string; // http, http2, h2c, grpc, tcp (also kubernetes.io/h2c)
}
export interface ServiceObject extends KubeObjectBase {
  kind: 'Service';
  spec: {
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
    clusterIP?: string; // 'None' for headless
    ports?: ServicePortSpec[];
    selector?: Record<string, string>;
    sessionAffinity?: 'None' | 'ClientIP';
  };
}

// ---- discovery.k8s.io/v1 EndpointSlice ------------------------------------------------
export interface EndpointSliceObject extends KubeObjectBase {
  kind: 'EndpointSlice';
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    zone?: string;
    nodeName?: string;
    hostname?: string;
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }>;
  ports?: Array<{ name?: string; port?: number | null; protocol?: string; appProtocol?: string }>;
  // metadata.labels['kubernetes.io/service-name'] names the Service.
}

// ---- networking.k8s.io/v1 Ingress and IngressClass -------------------------------------
export interface IngressBackend {
  service?: { name: string; port: { number?: number; name?: string } };
  resource?: { apiGroup?: string; kind: string; name: string };
}
export interface IngressObject extends KubeObjectBase {
  kind: 'Ingress';
  spec: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    tls?: Array<{ hosts?: string[]; secretName?: string }>;
    rules?: Array<{
      host?: string;
      http?: {
        paths: Array<{ path?: string; pathType: 'Exact' | 'Prefix' | 'ImplementationSpecific'; backend: IngressBackend }>;
      };
    }>;
  };
}
export interface IngressClassObject extends KubeObjectBase {
  kind: 'IngressClass';
  spec: { controller?: string; parameters?: unknown };
}

// ---- core/v1 Pod (only what maps a workload to its Services; the Kubernetes source keeps no more) ----
export interface PodObject extends KubeObjectBase {
  kind: 'Pod';
  spec?: {
    serviceAccountName?: string;
    containers?: Array<{ name: string; ports?: Array<{ name?: string; containerPort: number; protocol?: string }> }>;
  };
  status?: { podIP?: string; phase?: string };
}

// ---- core/v1 Secret ---------------------------------------------------------------------
export interface SecretObject extends KubeObjectBase {
  kind: 'Secret';
  type?: string; // kubernetes.io/tls
  data?: Record<string, string>; // base64
  stringData?: Record<string, string>;
}

// ---- switchyard.dev/v1alpha1 TrafficPolicy -------------------------------------------------
/** Durations are Kubernetes-style strings: "250ms", "5s", "1m30s". */
export type DurationString = string;

export type LoadBalancerPolicy = 'Auto' | 'RingHash' | 'Maglev' | 'LeastRequest' | 'RoundRobin' | 'Random';

export interface HashOnEntry {
  header?: { name: string };
  cookie?: { name: string; ttl?: DurationString; path?: string };
  sourceIP?: Record<string, never>;
  queryParameter?: { name: string };
  /** Stop at this key when it is present (Envoy's hash_policy.terminal). */
  terminal?: boolean;
}

export interface WeightedBackend {
  /** A Service in the policy's namespace. */
  backend: string;
  /** The backend Service's port; defaults to the target's port number. */
  port?: number;
  weight: number;
}

export interface RouteMatchSpec {
  path?: { prefix?: string; exact?: string; regex?: string };
  headers?: Array<{ name: string; exact?: string; regex?: string; present?: boolean }>;
}

export type PolicyTargetKind = 'Service' | 'HTTPRoute' | 'GRPCRoute' | 'Gateway';

export interface TrafficPolicySpec {
  /** A Service (the default), or for rateLimit alone an HTTPRoute, GRPCRoute or Gateway (sectionName: one listener). */
  targetRef: { group?: '' | 'gateway.networking.k8s.io'; kind?: PolicyTargetKind; name: string; sectionName?: string };
  loadBalancer?: {
    policy?: LoadBalancerPolicy;
    ringHash?: { minimumRingSize?: number; maximumRingSize?: number };
    maglev?: { tableSize?: number };
    leastRequest?: { choiceCount?: number; activeRequestBias?: number };
    hashOn?: HashOnEntry[];
  };
  /** Weighted backends for every request that no `routes` entry matched. */
  split?: WeightedBackend[];
  /** Ordered; the first match wins. Each sends to one backend or to a split. */
  routes?: Array<{ match: RouteMatchSpec; backend?: string; port?: number; split?: WeightedBackend[] }>;
  timeout?: DurationString;
  retries?: { attempts: number; perTryTimeout?: DurationString; retryOn?: string[] };
  circuitBreaker?: { maxConnections?: number; maxPendingRequests?: number; maxRequests?: number; maxRetries?: number };
  outlierDetection?: {
    consecutive5xx?: number;
    interval?: DurationString;
    baseEjectionTime?: DurationString;
    maxEjectionPercent?: number;
  };
  healthCheck?: {
    http?: { path: string; host?: string };
    tcp?: Record<string, never>;
    interval?: DurationString;
    timeout?: DurationString;
    healthyThreshold?: number;
    unhealthyThreshold?: number;
  };
  locality?: { preferLocalZone?: boolean; failoverZones?: string[] };
  /** Local (per proxy) token buckets: on requests to the Service (gateways, sidecars' inbound HTTP ports) and on
   * connections to its TCP ports (sidecars' inbound side). */
  rateLimit?: {
    requestsPerSecond?: number;
    requestsPerMinute?: number;
    burst?: number;
    connections?: { perSecond?: number; perMinute?: number; burst?: number };
  };
}

export interface Condition {
  type: string; // Accepted | ResolvedRefs | Programmed
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface TrafficPolicyObject extends KubeObjectBase {
  kind: 'TrafficPolicy';
  spec: TrafficPolicySpec;
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

// ---- core/v1 Namespace (only its labels: Gateway listeners select route namespaces by them) ----
export interface NamespaceObject extends KubeObjectBase {
  kind: 'Namespace';
}

// ---- gateway.networking.k8s.io (Gateway API, standard channel) -------------------------------------
// Only the fields Switchyard reads; see README "Gateway API" for the release they follow.

/** A reference to a parent (a Gateway) from a route. */
export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface SecretObjectReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

export interface GatewayListenerSpec {
  name: string;
  hostname?: string;
  port: number;
  protocol: string; // HTTP | HTTPS | TLS | TCP | UDP | a domain-prefixed name
  tls?: { mode?: 'Terminate' | 'Passthrough'; certificateRefs?: SecretObjectReference[] };
  allowedRoutes?: {
    namespaces?: { from?: 'All' | 'Same' | 'Selector'; selector?: LabelSelector };
    kinds?: Array<{ group?: string; kind: string }>;
  };
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

export interface GatewayClassObject extends KubeObjectBase {
  kind: 'GatewayClass';
  spec: { controllerName: string; description?: string };
  status?: { conditions?: Condition[] };
}

export interface ListenerStatus {
  name: string;
  supportedKinds: Array<{ group?: string; kind: string }>;
  attachedRoutes: number;
  conditions: Condition[];
}

export interface GatewayStatus {
  addresses?: Array<{ type?: string; value: string }>;
  conditions?: Condition[];
  listeners?: ListenerStatus[];
}

export interface GatewayObject extends KubeObjectBase {
  kind: 'Gateway';
  spec: { gatewayClassName: string; listeners: GatewayListenerSpec[]; addresses?: Array<{ type?: string; value: string }> };
  status?: GatewayStatus;
}

export interface HTTPHeaderSpec {
  name: string;
  value: string;
}

export interface HeaderModifierSpec {
  set?: HTTPHeaderSpec[];
  add?: HTTPHeaderSpec[];
  remove?: string[];
}

export interface BackendObjectReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
}

export interface HTTPPathModifierSpec {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRouteFilterSpec {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestRedirect' | 'URLRewrite' | 'RequestMirror' | 'ExtensionRef';
  requestHeaderModifier?: HeaderModifierSpec;
  responseHeaderModifier?: HeaderModifierSpec;
  requestRedirect?: { scheme?: 'http' | 'https'; hostname?: string; path?: HTTPPathModifierSpec; port?: number; statusCode?: number };
  urlRewrite?: { hostname?: string; path?: HTTPPathModifierSpec };
  requestMirror?: { backendRef: BackendObjectReference };
  extensionRef?: { group: string; kind: string; name: string };
}

export interface HTTPRouteMatchSpec {
  path?: { type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; value?: string };
  headers?: Array<{ type?: 'Exact' | 'RegularExpression'; name: string; value: string }>;
  queryParams?: Array<{ type?: 'Exact' | 'RegularExpression'; name: string; value: string }>;
  method?: string;
}

export interface RouteBackendRef extends BackendObjectReference {
  weight?: number;
  filters?: HTTPRouteFilterSpec[];
}

export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface HTTPRouteObject extends KubeObjectBase {
  kind: 'HTTPRoute';
  spec: {
    parentRefs?: ParentReference[];
    hostnames?: string[];
    rules?: Array<{
      matches?: HTTPRouteMatchSpec[];
      filters?: HTTPRouteFilterSpec[];
      backendRefs?: RouteBackendRef[];
      timeouts?: { request?: string; backendRequest?: string };
    }>;
  };
  status?: { parents?: RouteParentStatus[] };
}

export interface GRPCRouteMatchSpec {
  method?: { type?: 'Exact' | 'RegularExpression'; service?: string; method?: string };
  headers?: Array<{ type?: 'Exact' | 'RegularExpression'; name: string; value: string }>;
}

export interface GRPCRouteObject extends KubeObjectBase {
  kind: 'GRPCRoute';
  spec: {
    parentRefs?: ParentReference[];
    hostnames?: string[];
    rules?: Array<{ matches?: GRPCRouteMatchSpec[]; filters?: HTTPRouteFilterSpec[]; backendRefs?: RouteBackendRef[] }>;
  };
  status?: { parents?: RouteParentStatus[] };
}

export interface ReferenceGrantObject extends KubeObjectBase {
  kind: 'ReferenceGrant';
  spec: { from: Array<{ group: string; kind: string; namespace: string }>; to: Array<{ group: string; kind: string; name?: string }> };
}

export type GatewayApiObject = GatewayClassObject | GatewayObject | HTTPRouteObject | GRPCRouteObject | ReferenceGrantObject;

export type KubeObject =
  | ServiceObject
  | EndpointSliceObject
  | IngressObject
  | IngressClassObject
  | SecretObject
  | TrafficPolicyObject
  | AccessPolicyObject
  | GatewayApiObject
  | PodObject;

// ---- switchyard.dev/v1alpha1 AccessPolicy --------------------------------------------------
export type MtlsMode = 'Strict' | 'Permissive' | 'Disable';

/** Who a rule admits: any of the listed namespaces, service accounts or SPIFFE IDs (absent: anyone). */
export interface AccessSourceSpec {
  namespaces?: string[];
  /** `<name>` (the policy's namespace) or `<namespace>/<name>`. */
  serviceAccounts?: string[];
  spiffeIds?: string[];
}

/** What a rule opens: every listed field must match; within a field, any entry (absent: everything). */
export interface AccessTargetSpec {
  /** The workload's ports: where the connection arrives at the pod (the Service's target port). */
  ports?: number[];
  /** HTTP only. */
  paths?: Array<{ exact?: string; prefix?: string }>;
  methods?: string[];
  headers?: Array<{ name: string; exact?: string; prefix?: string; present?: boolean }>;
}

export interface AccessPolicySpec {
  /** The Service whose workloads it applies to; absent: every workload in the namespace. */
  targetRef?: { kind?: 'Service'; name: string };
  mtls?: MtlsMode;
  mode?: 'Enforce' | 'DryRun';
  /** Present (even empty): the selected workloads deny every request no rule admits. */
  allow?: Array<{ from?: AccessSourceSpec; to?: AccessTargetSpec }>;
}

export interface AccessPolicyObject extends KubeObjectBase {
  kind: 'AccessPolicy';
  spec: AccessPolicySpec;
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

/** Where an object came from, so errors can point at it (file and line, or the API server). */
export interface ObjectOrigin {
  file?: string;
  /** The line the object starts on. */
  line?: number;
  /** The line of each field (folder mode), so problems point at the field. */
  fields?: { lineOf(field: string): number | undefined };
}

// ---- events ----------------------------------------------------------------------------------
export type SourceEvent =
  /** The object passed structural validation and replaces any earlier version. */
  | { type: 'upsert'; ref: ObjectRef; object: KubeObject; origin?: ObjectOrigin }
  | { type: 'delete'; ref: ObjectRef }
  /** The object failed structural validation. The model keeps serving its last good
   * version (if any) and reports the errors (TrafficPolicy: as a status condition). */
  | { type: 'rejected'; ref: ObjectRef; errors: string[]; object?: KubeObject; origin?: ObjectOrigin };

export type EventSink = (events: SourceEvent[]) => void;

export interface Source {
  /** Starts watching. Resolves once the initial state has been delivered to `sink`. */
  start(sink: EventSink): Promise<void>;
  stop(): Promise<void>;
  /** False while a remote source (the Kubernetes API server) is unreachable. */
  connected?(): boolean;
  /** Problems in the source's input that are not objects (a folder: YAML syntax, unknown kinds, duplicates). */
  problems?(): ManifestError[];
  /** Where an object is written now: an object that only moved (no event) has a new line. */
  originOf?(ref: ObjectRef): ObjectOrigin | undefined;
  /** Calls `listener` whenever `problems()` or `originOf` changes without an event being sent. */
  onProblemsChanged?(listener: () => void): void;
}
