// The one in-memory picture of the mesh. Sources feed it events; it keeps Services,
// EndpointSlices (merged per Service), TrafficPolicies (checked, with a status and the last
// good spec of each), Ingresses, IngressClasses and Secrets, and says what each batch touched.
// One processor per kind turns an object into what the translator reads: service.ts,
// endpoints.ts, policy.ts (after policy-check.ts), ingress.ts, secret.ts.
import { statusCondition } from './conditions.js';
import { log } from '../log.js';
import { GATEWAY_API_KINDS } from '../sources/types.js';
import type {
  AccessPolicyObject,
  Condition,
  EndpointSliceObject,
  IngressClassObject,
  IngressObject,
  GatewayApiKind,
  GatewayClassObject,
  GatewayObject,
  GRPCRouteObject,
  HTTPRouteObject,
  ReferenceGrantObject,
  KubeObject,
  PodObject,
  SecretObject,
  ServiceObject,
  MtlsMode,
  SourceEvent,
  TrafficPolicyObject,
  TrafficPolicySpec,
} from '../sources/types.js';
import { checkPolicy, isAttachedPolicy } from './policy-check.js';
import { attachedTargetKey, resolveAttachedPolicies, type AttachedKind, type AttachedTarget } from './attached-policy.js';
import { AccessPolicyStore, type ServiceAccess } from './access-policy.js';
import { compare, objectKey, sortInPlace } from './keys.js';
import { toServicePolicy } from './policy.js';
import { serviceInfo } from './service.js';
import { mergeEndpoints } from './endpoints.js';
import { serviceAddresses, type ServiceAddresses } from './addresses.js';
import { tlsCertificate } from './secret.js';
import { selects, terminatesMeshTls, workloadInfo, workloadShape, type WorkloadInfo, type WorkloadShape } from './workload.js';
import { EGRESS_ANNOTATION, holdsEverything, parseEgress, scopeReach, type EgressScope } from './scope.js';
import { ingressClassInfo, ingressInfo, resolveIngressBackend } from './ingress.js';
import { GATEWAY_NAME_LABEL, resolveGatewayApi, type GatewayApiResolution, type GatewayInfo } from './gateway-api.js';
import {
  emptyChange,
  type AttachedRateLimit,
  type EffectivePolicy,
  type EndpointInfo,
  type IngressBackendRef,
  type IngressClassInfo,
  type IngressInfo,
  type ResolvedIngressBackend,
  type ModelChange,
  type PolicyStatus,
  type ServiceInfo,
  type ServicePolicy,
  type ServicePortInfo,
  type TlsCertificate,
} from './types.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const GATEWAY_API_KIND_SET: ReadonlySet<string> = new Set(GATEWAY_API_KINDS);

interface PolicyEntry {
  namespace: string;
  name: string;
  /** The last structurally valid object; undefined when only a rejected version was seen. */
  object?: TrafficPolicyObject;
  /** Schema errors from the source's last `rejected` event, cleared by the next upsert. */
  rejectedErrors?: string[];
  rejectedGeneration?: number;
  /** metadata.creationTimestamp in ms, when it has a valid one: the oldest policy wins a Service. */
  created?: number;
  /** The Service the rejected version names, so a policy never valid still finds its target. */
  rejectedTarget?: string;
  /** The rejected version's targetRef kind and sectionName (an HTTPRoute, GRPCRoute or Gateway target). */
  rejectedTargetKind?: string;
  rejectedSectionName?: string;
}

/**
 * A Service port's merged endpoints, and the next port's: a Service has a port or two, and a list
 * costs less than a map per Service (10,000 of them kept from start-up).
 */
interface MergedPort {
  port: ServicePortInfo;
  endpoints: readonly EndpointInfo[];
  next: MergedPort | undefined;
}

interface SliceEntry {
  serviceKey: string;
  object: EndpointSliceObject;
}

export { objectKey, compare };

/** A Service whose pods all terminate mutual TLS, and their service accounts (sorted). */
export interface MeshDestinationInfo {
  namespace: string;
  serviceAccounts: string[];
}

/**
 * A Service mid-rollout: some of its pods terminate mutual TLS and some do not. An Envoy caller
 * reaches the ones at `addresses` over mutual TLS (checking `serviceAccounts`, theirs) and the
 * others in plain text, choosing per endpoint.
 */
export interface MeshRolloutInfo {
  namespace: string;
  /** The service accounts of the pods that terminate TLS, sorted. */
  serviceAccounts: string[];
  /** The pod IPs that terminate TLS, sorted. */
  addresses: string[];
}

/** A Strict Service whose pods cannot all answer mutual TLS: the pods (keys, sorted) that can and those that cannot. */
export interface StrictTlsGap {
  serviceKey: string;
  tls: string[];
  plain: string[];
}

export class MeshModel {
  private readonly serviceInfos = new Map<string, ServiceInfo>();
  private readonly slices = new Map<string, SliceEntry>();
  /** Per Service key: its slices' keys in the order they came (a Service has one or two: a list, not a set per Service). */
  private readonly slicesByService = new Map<string, string[]>();
  private readonly policies = new Map<string, PolicyEntry>();
  private readonly lastGoodSpecs = new Map<string, TrafficPolicySpec>();
  private readonly statuses = new Map<string, PolicyStatus>();
  /** Service key -> the policy it is served with. */
  private readonly effective = new Map<string, EffectivePolicy>();
  private readonly ingressObjects = new Map<string, IngressObject>();
  private readonly ingressInfoMap = new Map<string, IngressInfo>();
  private readonly ingressClassObjects = new Map<string, IngressClassObject>();
  private readonly ingressClassInfoMap = new Map<string, IngressClassInfo>();
  private readonly secretObjects = new Map<string, SecretObject>();
  /** Parsed once per Secret version, on first use. */
  private readonly certificates = new Map<string, TlsCertificate>();
  /**
   * Merged endpoints per Service and port (found by the port object of its ServiceInfo: no key
   * string built per call, three calls per port at start-up), dropped when the Service or one of
   * its slices changes.
   */
  private readonly endpointCache = new Map<string, MergedPort>();
  private readonly workloads = new Map<string, WorkloadInfo>();
  /** Pod IP -> pod keys with that IP (a finished pod's IP may be reused before it is deleted). */
  private readonly workloadsByIP = new Map<string, Set<string>>();
  private batchSeq = 0;
  /**
   * `services()` until a Service changes: a first flush asks for 10,000 of them sorted several
   * times (the choices' log, the units, the addresses).
   */
  private sortedServices: ServiceInfo[] | undefined;
  /** serviceAddresses of the model as it is now; dropped by every batch. */
  private addressMemo: ServiceAddresses | undefined;
  /** Gateway API objects as written, by kind, then key (GatewayClass: its name). */
  private readonly gatewayApiObjects = new Map<GatewayApiKind, Map<string, KubeObject>>();
  private gatewayApiResolution: GatewayApiResolution = {
    classes: [],
    gateways: [],
    routes: [],
    referencedServices: [],
    referencedSecrets: [],
  };
  /** Keys of the Services labelled as a Gateway's own (their addresses are the Gateway's). */
  private readonly gatewayServiceKeys = new Set<string>();
  private gatewayServicesChanged = false;
  private gatewayApiSignature = '';
  /** The labels of every Namespace (Gateway listeners select route namespaces by them). */
  private readonly namespaceLabels = new Map<string, Record<string, string>>();
  /** Rate limits of TrafficPolicies on HTTPRoutes, GRPCRoutes and Gateways, by attachedTargetKey. */
  private attachedLimits = new Map<string, AttachedRateLimit>();
  private attachedSignature = '[]';
  /** Namespaces with a `switchyard.dev/egress` annotation: its scope, or why it was refused. */
  private readonly namespaceEgress = new Map<string, { scope: EgressScope } | { error: string; value: string }>();
  /** Pods with a `switchyard.dev/egress` annotation of their own (it replaces the namespace's): its scope, or why it was refused. */
  private readonly podEgress = new Map<string, { scope: EgressScope } | { error: string; value: string }>();
  private readonly accessPolicies: AccessPolicyStore;
  /** Services reached over mutual TLS, and their pods' identities (meshDestination). */
  private readonly destinations = new Map<string, MeshDestinationInfo>();
  /** Services some but not all of whose pods terminate mutual TLS (meshRollout). */
  private readonly rollouts = new Map<string, MeshRolloutInfo>();
  /** Strict Services with pods that cannot answer mutual TLS (strictTlsGaps). */
  private readonly strictGaps = new Map<string, StrictTlsGap>();

  /** `defaultMtls`: the mesh-wide mTLS mode of a Service no AccessPolicy sets one for (--mtls-mode). */
  constructor(options: { defaultMtls?: MtlsMode } = {}) {
    this.accessPolicies = new AccessPolicyStore(options.defaultMtls ?? 'Permissive');
  }

  apply(batch: SourceEvent[]): ModelChange {
    const change = emptyChange();
    // Sources check objects before they become events; an object that still names itself with
    // something other than text (a namespace `{toString: 0}` cannot even be printed) is left out.
    const events = batch.filter((event) => {
      if (typeof event.ref.namespace === 'string' && typeof event.ref.name === 'string') return true;
      log.error('model: event not applied', { kind: String(event.ref.kind), error: 'its namespace or name is not a string' });
      return false;
    });
    if (events.length === 0) return change;
    this.batchSeq++;
    this.addressMemo = undefined;
    change.all = this.batchSeq === 1;
    const changedServices = new Set<string>();
    for (const event of events) {
      try {
        this.applyOne(event, change, changedServices);
      } catch (error) {
        // One bad object must not stop the rest of the batch.
        log.error('model: event not applied', { ref: event.ref, error: (error as Error).message });
      }
    }
    // Policies depend on Services and on each other only: an endpoints-only batch skips this.
    const policyInputsChanged = events.some((e) => e.ref.kind === 'Service' || e.ref.kind === 'TrafficPolicy');
    if (policyInputsChanged) this.reevaluatePolicies(change, changedServices);
    // AccessPolicies: a policy event re-evaluates its namespace, a Service event that Service.
    const serviceEvents = events.filter((e) => e.ref.kind === 'Service').map((e) => objectKey(e.ref.namespace, e.ref.name));
    if (serviceEvents.length > 0 || this.accessPolicies.pending) {
      const access = this.accessPolicies.reevaluate(
        serviceEvents,
        (namespace, name) => this.serviceInfos.get(objectKey(namespace, name)),
        (namespace) => this.services().filter((service) => service.namespace === namespace),
        (key) => this.serviceInfos.get(key),
      );
      for (const key of access.services) change.access.add(key);
      for (const key of access.statuses) change.accessPolicyStatus.add(key);
    }
    this.updateMeshDestinations(change, changedServices);
    for (const key of changedServices) change.services.add(key);
    // Services that route to a changed Service (split / route backends) re-translate their routes.
    for (const [serviceKey, policy] of this.effective) {
      const namespace = serviceKey.slice(0, serviceKey.indexOf('/'));
      for (const backend of policyBackends(policy.spec)) {
        if (changedServices.has(objectKey(namespace, backend))) change.services.add(serviceKey);
      }
    }
    // Ingresses that use a changed Service.
    for (const [ingressKey, ingress] of this.ingressInfoMap) {
      if (ingress.serviceKeys.some((key) => changedServices.has(key))) change.ingresses.add(ingressKey);
    }
    // Gateway API: routes depend on Services (ports, protocols), Secrets (certificates), the
    // gateways' own Services (addresses) and each other; resolved again when any of those changed.
    // Only Services and Secrets the Gateway API objects name count (a mesh's other Services do not).
    const referencedServices = new Set(this.gatewayApiResolution.referencedServices);
    const referencedSecrets = new Set(this.gatewayApiResolution.referencedSecrets);
    const gatewayApiInputs =
      this.gatewayServicesChanged ||
      events.some(
        (e) =>
          GATEWAY_API_KIND_SET.has(e.ref.kind) ||
          e.ref.kind === 'Namespace' ||
          (e.ref.kind === 'Service' && referencedServices.has(objectKey(e.ref.namespace, e.ref.name))) ||
          (e.ref.kind === 'Secret' && referencedSecrets.has(objectKey(e.ref.namespace, e.ref.name))),
      );
    this.gatewayServicesChanged = false;
    if (gatewayApiInputs && (change.all || this.hasGatewayApiObjects() || this.gatewayApiResolution.gateways.length > 0)) {
      this.resolveGatewayApi(change);
    }
    // Policies on routes and Gateways depend on the resolution just made.
    if (change.gatewayApi || events.some((e) => e.ref.kind === 'TrafficPolicy' || GATEWAY_API_KIND_SET.has(e.ref.kind))) {
      this.reevaluateAttachedPolicies(change);
    }
    // An endpoints-only change is not reported for a Service whose clusters are re-translated anyway.
    for (const key of change.services) change.endpoints.delete(key);
    return change;
  }

  // ---- Services and endpoints -------------------------------------------------------------

  service(key: string): ServiceInfo | undefined {
    return this.serviceInfos.get(key);
  }

  /** Every Service, sorted by key (a list of the caller's own). */
  services(): ServiceInfo[] {
    return (this.sortedServices ??= [...this.serviceInfos.values()].sort((a, b) => compare(a.key, b.key))).slice();
  }

  /** The endpoints behind one Service port, merged over every EndpointSlice, sorted by zone, address, port. */
  endpoints(serviceKey: string, servicePort: ServicePortInfo): readonly EndpointInfo[] {
    const first = this.endpointCache.get(serviceKey);
    for (let merged = first; merged; merged = merged.next) if (merged.port === servicePort) return merged.endpoints;
    const slices: EndpointSliceObject[] = [];
    for (const sliceKey of this.slicesByService.get(serviceKey) ?? []) {
      const slice = this.slices.get(sliceKey);
      if (slice) slices.push(slice.object);
    }
    const merged = mergeEndpoints(slices, servicePort);
    this.endpointCache.set(serviceKey, { port: servicePort, endpoints: merged, next: first });
    return merged;
  }

  /**
   * Every Service port's addresses (`serviceAddresses`), worked out once per batch: the sidecar
   * route table, the outbound listener and the analysis each read them. Not to be changed by callers.
   */
  addresses(): ServiceAddresses {
    return (this.addressMemo ??= serviceAddresses(this));
  }

  /** Keys of the Services that have EndpointSlices (whether the Service exists or not). */
  slicedServiceKeys(): string[] {
    return [...this.slicesByService.keys()];
  }

  /** The EndpointSlices that name one Service, sorted by slice key. */
  endpointSlicesOf(serviceKey: string): EndpointSliceObject[] {
    // One or two slices per Service, 10,000 Services analysed at start-up: a copy of the keys
    // sorted by insertion (not V8's sort), no intermediate lists.
    const keys = (this.slicesByService.get(serviceKey) ?? []).slice();
    const slices: EndpointSliceObject[] = [];
    for (const key of sortInPlace(keys, compare)) {
      const slice = this.slices.get(key);
      if (slice) slices.push(slice.object);
    }
    return slices;
  }

  // ---- Pods (workloads) -----------------------------------------------------------------------

  /** Every pod, sorted by key. */
  workloadList(): WorkloadInfo[] {
    return [...this.workloads.values()].sort((a, b) => compare(a.key, b.key));
  }

  workload(namespace: string, name: string): WorkloadInfo | undefined {
    return this.workloads.get(objectKey(namespace, name));
  }

  /** The pod with this IP; with several (an IP reused before the old pod was deleted), the first by key. */
  workloadByIP(ip: string): WorkloadInfo | undefined {
    const keys = [...(this.workloadsByIP.get(ip) ?? [])].sort(compare);
    return keys.length ? this.workloads.get(keys[0]) : undefined;
  }

  /** The Services selecting a pod, sorted by key. */
  selectingServices(workload: WorkloadInfo): ServiceInfo[] {
    return this.services().filter((service) => selects(service, workload));
  }

  /** A pod's workload shape: what its inbound configuration depends on. */
  workloadShape(workload: WorkloadInfo): WorkloadShape {
    return workloadShape(
      workload,
      this.selectingServices(workload),
      (key) => this.serviceAccess(key),
      (key) => this.servicePolicy(key),
    );
  }

  // ---- Egress scopes (model/scope.ts) ---------------------------------------------------------

  /** The scope of a namespace's sidecars; undefined: every Service (no annotation, a refused one, or one listing `*\/*`). */
  egressScope(namespace: string): EgressScope | undefined {
    const entry = this.namespaceEgress.get(namespace);
    return entry && 'scope' in entry && !holdsEverything(entry.scope) ? entry.scope : undefined;
  }

  /**
   * The scope of a pod's sidecar. A pod's own annotation replaces its namespace's scope (it does
   * not narrow it: the pod lists everything it reaches, as a workload-selecting Istio Sidecar
   * does); a pod without one, or whose annotation was refused, has its namespace's scope. A scope
   * listing `*\/*` is undefined: every Service, in the unscoped group.
   */
  workloadEgress(workload: Pick<WorkloadInfo, 'key' | 'namespace'>): {
    scope: EgressScope | undefined;
    from: 'pod' | 'namespace';
    /** The pod's own annotation, when it was refused: why. */
    refused?: string;
  } {
    const own = this.podEgress.get(workload.key);
    if (own && 'scope' in own) return { scope: holdsEverything(own.scope) ? undefined : own.scope, from: 'pod' };
    return { scope: this.egressScope(workload.namespace), from: 'namespace', ...(own ? { refused: own.error } : {}) };
  }

  /** Pods whose own egress annotation was refused, with why, sorted by pod. */
  refusedPodEgress(
    keys: Iterable<string> = this.podEgress.keys(),
  ): Array<{ namespace: string; name: string; value: string; error: string }> {
    const refused: Array<{ namespace: string; name: string; value: string; error: string }> = [];
    for (const key of keys) {
      const entry = this.podEgress.get(key);
      const workload = this.workloads.get(key);
      if (!entry || !workload || !('error' in entry)) continue;
      refused.push({ namespace: workload.namespace, name: workload.name, value: entry.value, error: entry.error });
    }
    return refused.sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  }

  /** Namespaces whose egress annotation was refused, with why, sorted by namespace. */
  refusedEgress(): Array<{ namespace: string; value: string; error: string }> {
    return [...this.namespaceEgress.entries()]
      .flatMap(([namespace, entry]) => ('error' in entry ? [{ namespace, value: entry.value, error: entry.error }] : []))
      .sort((a, b) => compare(a.namespace, b.namespace));
  }

  /** The Services a scope reaches: those it holds and what their policies route to. */
  scopeReach(scope: EgressScope): Set<string> {
    return scopeReach(
      scope,
      this.serviceInfos.values(),
      (key) => this.servicePolicy(key),
      (key) => this.serviceInfos.has(key),
    );
  }

  // ---- TrafficPolicies ----------------------------------------------------------------------

  /** The policy a Service is served with: the current spec, its last good spec, or undefined (defaults). */
  effectivePolicy(serviceKey: string): EffectivePolicy | undefined {
    return this.effective.get(serviceKey);
  }

  /** The normalized policy a Service is served with; undefined: the defaults. */
  servicePolicy(serviceKey: string): ServicePolicy | undefined {
    return this.effective.get(serviceKey)?.policy;
  }

  policy(namespace: string, name: string): TrafficPolicyObject | undefined {
    return this.policies.get(objectKey(namespace, name))?.object;
  }

  policyStatus(namespace: string, name: string): Condition[] | undefined {
    return this.statuses.get(objectKey(namespace, name))?.conditions;
  }

  /** Every policy's status, sorted by namespace/name. */
  policyStatuses(): PolicyStatus[] {
    return [...this.statuses.entries()].sort(([a], [b]) => compare(a, b)).map(([, status]) => status);
  }

  // ---- AccessPolicies ---------------------------------------------------------------------------

  /**
   * Who a client reaches through a Service over mutual TLS: the service accounts of the pods it
   * selects, when every one of them runs a sidecar with the workload certificate and the Service's
   * mode is not Disable; undefined otherwise (the cluster stays plain: a pod without a sidecar
   * could not answer TLS).
   */
  meshDestination(serviceKey: string): MeshDestinationInfo | undefined {
    return this.destinations.get(serviceKey);
  }

  /**
   * Recomputes the mesh destination of the Services a batch can have changed it for (their own
   * events, access changes, pods of their namespace) and reports those whose destination changed
   * as changed Services (their clusters are re-translated). Pods scaling with the same service
   * account change nothing.
   */
  private updateMeshDestinations(change: ModelChange, changedServices: Set<string>): void {
    const candidates = new Set<string>([...changedServices, ...change.access]);
    const podNamespaces = new Set([...change.workloads].map((key) => key.slice(0, key.indexOf('/'))));
    // (On the first batch every Service is a changed one already.)
    if (podNamespaces.size > 0) {
      for (const service of this.serviceInfos.values()) if (podNamespaces.has(service.namespace)) candidates.add(service.key);
    }
    if (candidates.size === 0) return;
    // No pod and nothing found before (a mesh fed Services and EndpointSlices only): every
    // Service's answer is none, as it was.
    if (this.workloads.size === 0 && this.destinations.size === 0 && this.rollouts.size === 0 && this.strictGaps.size === 0) return;
    const podsByNamespace = this.workloadsByNamespace();
    for (const key of candidates) {
      const service = this.serviceInfos.get(key);
      let next: MeshDestinationInfo | undefined;
      let rollout: MeshRolloutInfo | undefined;
      let gap: StrictTlsGap | undefined;
      const mode = this.serviceAccess(key).mtls;
      // A namespace without pods (a mesh fed Services and EndpointSlices only): nothing to work out.
      const namespacePods = service ? podsByNamespace.get(service.namespace) : undefined;
      if (service && mode !== 'Disable' && namespacePods) {
        const pods = namespacePods.filter((pod) => selects(service, pod));
        const tls = pods.filter((pod) => terminatesMeshTls(pod, mode));
        if (mode === 'Strict' && tls.length < pods.length) {
          const keys = (list: WorkloadInfo[]) => list.map((pod) => pod.key).sort(compare);
          gap = { serviceKey: key, tls: keys(tls), plain: keys(pods.filter((pod) => !terminatesMeshTls(pod, mode))) };
        }
        const accounts = [...new Set(tls.map((pod) => pod.serviceAccount))].sort(compare);
        if (pods.length > 0 && tls.length === pods.length) next = { namespace: service.namespace, serviceAccounts: accounts };
        else {
          const addresses = [...new Set(tls.flatMap((pod) => (pod.ip !== undefined ? [pod.ip] : [])))].sort(compare);
          if (addresses.length > 0) rollout = { namespace: service.namespace, serviceAccounts: accounts, addresses };
        }
      }
      const changed = !sameJson(this.destinations.get(key), next) || !sameJson(this.rollouts.get(key), rollout);
      setOrDelete(this.destinations, key, next);
      setOrDelete(this.rollouts, key, rollout);
      setOrDelete(this.strictGaps, key, gap);
      if (changed) changedServices.add(key);
    }
  }

  /** Every pod, by namespace. */
  private workloadsByNamespace(): Map<string, WorkloadInfo[]> {
    const podsByNamespace = new Map<string, WorkloadInfo[]>();
    for (const workload of this.workloads.values()) {
      let list = podsByNamespace.get(workload.namespace);
      if (!list) podsByNamespace.set(workload.namespace, (list = []));
      list.push(workload);
    }
    return podsByNamespace;
  }

  /**
   * A Service some but not all of whose pods terminate mutual TLS (a rollout of sidecars or of
   * the proxyless certificate provider), when at least one such pod has an address; undefined
   * otherwise (all of them: meshDestination; none, or Disable: plain text).
   */
  meshRollout(serviceKey: string): MeshRolloutInfo | undefined {
    return this.rollouts.get(serviceKey);
  }

  /** Strict Services whose pods cannot all answer mutual TLS, sorted by Service (the analysis reports them). */
  strictTlsGaps(): StrictTlsGap[] {
    return sortedValues(this.strictGaps);
  }

  /** How a Service's workloads are served: mTLS mode and allow rules (the mesh default without a policy). */
  serviceAccess(serviceKey: string): ServiceAccess {
    return this.accessPolicies.serviceAccess(serviceKey);
  }

  /** The mesh-wide mTLS mode (--mtls-mode). */
  get defaultMtls(): MtlsMode {
    return this.accessPolicies.defaultMtls;
  }

  accessPolicy(namespace: string, name: string): AccessPolicyObject | undefined {
    return this.accessPolicies.policy(namespace, name);
  }

  accessPolicyStatus(namespace: string, name: string): PolicyStatus | undefined {
    return this.accessPolicies.status(namespace, name);
  }

  /** Every AccessPolicy's status, sorted by namespace/name. */
  accessPolicyStatuses(): PolicyStatus[] {
    return this.accessPolicies.allStatuses();
  }

  // ---- Ingresses, IngressClasses and Secrets ------------------------------------------------

  /** Every Ingress, normalized, sorted by key. */
  ingressInfos(): IngressInfo[] {
    return sortedValues(this.ingressInfoMap);
  }

  ingressInfo(namespace: string, name: string): IngressInfo | undefined {
    return this.ingressInfoMap.get(objectKey(namespace, name));
  }

  /** Every IngressClass, normalized, sorted by name. */
  ingressClassInfos(): IngressClassInfo[] {
    return sortedValues(this.ingressClassInfoMap);
  }

  /** The Service and port an Ingress backend names, or what is wrong with it. */
  resolveIngressBackend(backend: IngressBackendRef): ResolvedIngressBackend {
    return resolveIngressBackend(backend, (key) => this.serviceInfos.get(key));
  }

  // The objects as written (status writers, tools).

  ingress(namespace: string, name: string): IngressObject | undefined {
    return this.ingressObjects.get(objectKey(namespace, name));
  }

  ingresses(): IngressObject[] {
    return sortedValues(this.ingressObjects);
  }

  ingressClass(name: string): IngressClassObject | undefined {
    return this.ingressClassObjects.get(name);
  }

  ingressClasses(): IngressClassObject[] {
    return sortedValues(this.ingressClassObjects);
  }

  secret(namespace: string, name: string): SecretObject | undefined {
    return this.secretObjects.get(objectKey(namespace, name));
  }

  secrets(): SecretObject[] {
    return sortedValues(this.secretObjects);
  }

  /** The TLS certificate of a Secret, or why it cannot be served (missing, wrong type, broken PEMs). */
  tlsCertificate(namespace: string, name: string): TlsCertificate {
    const key = objectKey(namespace, name);
    let certificate = this.certificates.get(key);
    if (!certificate) {
      certificate = tlsCertificate(namespace, name, this.secretObjects.get(key));
      if (this.secretObjects.has(key)) this.certificates.set(key, certificate);
    }
    return certificate;
  }

  // ---- Gateway API ----------------------------------------------------------------------------

  /** Gateways of our GatewayClasses, resolved (listeners, attached rules in precedence order, status), sorted by key. */
  gatewayApiGateways(): GatewayInfo[] {
    return this.gatewayApiResolution.gateways;
  }

  gatewayApiGateway(key: string): GatewayInfo | undefined {
    return this.gatewayApiResolution.gateways.find((g) => g.key === key);
  }

  /** Every status the Gateway API objects of ours get (classes, gateways, routes). */
  gatewayApiStatus(): GatewayApiResolution {
    return this.gatewayApiResolution;
  }

  /**
   * The rate limit a TrafficPolicy attaches to an HTTPRoute or GRPCRoute (`<namespace>/<name>`), or to a Gateway:
   * with a listener name, that listener's own; without, the whole Gateway's.
   */
  attachedRateLimit(kind: AttachedKind, key: string, sectionName?: string): AttachedRateLimit | undefined {
    return this.attachedLimits.get(attachedTargetKey(kind, key, sectionName));
  }

  /** A Gateway API object as written. */
  gatewayApiObject<T extends KubeObject>(kind: GatewayApiKind, namespace: string, name: string): T | undefined {
    const key = kind === 'GatewayClass' ? name : objectKey(namespace, name);
    return this.gatewayApiObjects.get(kind)?.get(key) as T | undefined;
  }

  private gatewayApiList<T extends KubeObject>(kind: GatewayApiKind): T[] {
    return sortedValues(this.gatewayApiObjects.get(kind) ?? new Map()) as T[];
  }

  private hasGatewayApiObjects(): boolean {
    return [...this.gatewayApiObjects.values()].some((objects) => objects.size > 0);
  }

  private resolveGatewayApi(change: ModelChange): void {
    const resolution = resolveGatewayApi({
      classes: this.gatewayApiList<GatewayClassObject>('GatewayClass'),
      gateways: this.gatewayApiList<GatewayObject>('Gateway'),
      httpRoutes: this.gatewayApiList<HTTPRouteObject>('HTTPRoute'),
      grpcRoutes: this.gatewayApiList<GRPCRouteObject>('GRPCRoute'),
      grants: this.gatewayApiList<ReferenceGrantObject>('ReferenceGrant'),
      service: (key) => this.serviceInfos.get(key),
      gatewayServices: () => [...this.gatewayServiceKeys].sort(compare).flatMap((key) => this.serviceInfos.get(key) ?? []),
      tlsCertificate: (namespace, name) => this.tlsCertificate(namespace, name),
      namespaceLabels: (namespace) => this.namespaceLabels.get(namespace),
    });
    const signature = JSON.stringify(resolution);
    if (signature === this.gatewayApiSignature) return;
    this.gatewayApiSignature = signature;
    this.gatewayApiResolution = resolution;
    change.gatewayApi = true;
  }

  // ---- event handling -----------------------------------------------------------------------

  private applyOne(event: SourceEvent, change: ModelChange, changedServices: Set<string>): void {
    const { kind, namespace, name } = event.ref;
    const key = kind === 'IngressClass' || kind === 'GatewayClass' || kind === 'Namespace' ? name : objectKey(namespace, name);
    if (event.type === 'rejected') {
      if (kind === 'TrafficPolicy') {
        const entry: PolicyEntry = this.policies.get(key) ?? { namespace, name };
        entry.created ??= creationTime(event.object?.metadata.creationTimestamp);
        entry.rejectedErrors = event.errors.length ? event.errors : ['the object failed schema validation'];
        entry.rejectedGeneration = event.object?.metadata.generation;
        const target = (event.object as TrafficPolicyObject | undefined)?.spec?.targetRef?.name;
        entry.rejectedTarget = typeof target === 'string' && target !== '' ? target : undefined;
        const targetRef = (event.object as TrafficPolicyObject | undefined)?.spec?.targetRef;
        entry.rejectedTargetKind = typeof targetRef?.kind === 'string' ? targetRef.kind : undefined;
        entry.rejectedSectionName = typeof targetRef?.sectionName === 'string' ? targetRef.sectionName : undefined;
        this.policies.set(key, entry);
      } else if (kind === 'AccessPolicy') {
        this.accessPolicies.reject(namespace, name, event.errors, event.object as AccessPolicyObject | undefined);
      } else {
        // The last good version (if any) keeps being served; the analysis reports the errors.
        log.debug('model: object rejected by its source; keeping the last good version', { ref: event.ref, errors: event.errors });
      }
      return;
    }
    const object: KubeObject | undefined = event.type === 'upsert' ? event.object : undefined;
    switch (kind) {
      case 'Service': {
        this.endpointCache.delete(key);
        this.sortedServices = undefined;
        if (object) this.serviceInfos.set(key, serviceInfo(namespace, name, object as ServiceObject));
        else this.serviceInfos.delete(key);
        changedServices.add(key);
        // A Gateway's own Service (labelled for it): its address is the Gateway's.
        const labelled = object?.metadata.labels?.[GATEWAY_NAME_LABEL] !== undefined;
        if (labelled || this.gatewayServiceKeys.has(key)) this.gatewayServicesChanged = true;
        if (labelled) this.gatewayServiceKeys.add(key);
        else this.gatewayServiceKeys.delete(key);
        break;
      }
      case 'EndpointSlice': {
        const previous = this.slices.get(key);
        if (previous) {
          const keys = this.slicesByService.get(previous.serviceKey);
          const at = keys ? keys.indexOf(key) : -1;
          if (at !== -1) keys!.splice(at, 1);
          if (keys?.length === 0) this.slicesByService.delete(previous.serviceKey);
          this.endpointCache.delete(previous.serviceKey);
          change.endpoints.add(previous.serviceKey);
        }
        if (object) {
          const slice = object as EndpointSliceObject;
          const serviceName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
          if (!serviceName) {
            log.warn('model: EndpointSlice without the kubernetes.io/service-name label is ignored', { ref: event.ref });
            this.slices.delete(key);
            break;
          }
          const serviceKey = objectKey(namespace, serviceName);
          this.slices.set(key, { serviceKey, object: slice });
          const keys = this.slicesByService.get(serviceKey);
          if (keys) keys.push(key);
          else this.slicesByService.set(serviceKey, [key]);
          this.endpointCache.delete(serviceKey);
          change.endpoints.add(serviceKey);
        } else {
          this.slices.delete(key);
        }
        break;
      }
      case 'TrafficPolicy':
        if (object) {
          const created = creationTime(object.metadata.creationTimestamp);
          this.policies.set(key, { namespace, name, object: object as TrafficPolicyObject, ...(created !== undefined ? { created } : {}) });
        } else {
          this.policies.delete(key);
          this.lastGoodSpecs.delete(key);
        }
        break;
      case 'AccessPolicy':
        if (object) this.accessPolicies.upsert(object as AccessPolicyObject);
        else this.accessPolicies.remove(namespace, name);
        break;
      case 'Ingress':
        if (object) {
          this.ingressObjects.set(key, object as IngressObject);
          this.ingressInfoMap.set(key, ingressInfo(object as IngressObject));
        } else {
          this.ingressObjects.delete(key);
          this.ingressInfoMap.delete(key);
        }
        change.ingresses.add(key);
        break;
      case 'IngressClass':
        if (object) {
          this.ingressClassObjects.set(key, object as IngressClassObject);
          this.ingressClassInfoMap.set(key, ingressClassInfo(object as IngressClassObject));
        } else {
          this.ingressClassObjects.delete(key);
          this.ingressClassInfoMap.delete(key);
        }
        for (const [ingressKey, ingress] of this.ingressObjects) {
          if (ingress.spec?.ingressClassName === name) change.ingresses.add(ingressKey);
        }
        break;
      case 'Pod': {
        const previous = this.workloads.get(key);
        if (previous?.ip !== undefined) this.workloadsByIP.get(previous.ip)?.delete(key);
        const egress = object?.metadata.annotations?.[EGRESS_ANNOTATION];
        if (egress === undefined) this.podEgress.delete(key);
        else {
          const parsed = parseEgress(namespace, egress);
          this.podEgress.set(key, 'scope' in parsed ? parsed : { error: parsed.error, value: egress });
        }
        if (object) {
          const workload = workloadInfo(namespace, name, object as PodObject);
          this.workloads.set(key, workload);
          if (workload.ip !== undefined) {
            let keys = this.workloadsByIP.get(workload.ip);
            if (!keys) this.workloadsByIP.set(workload.ip, (keys = new Set()));
            keys.add(key);
          }
        } else {
          this.workloads.delete(key);
        }
        change.workloads.add(key);
        break;
      }
      case 'Secret':
        if (object) this.secretObjects.set(key, object as SecretObject);
        else this.secretObjects.delete(key);
        this.certificates.delete(key);
        change.secrets.add(key);
        break;
      case 'Namespace': {
        if (object) this.namespaceLabels.set(name, { ...(object.metadata.labels ?? {}) });
        else this.namespaceLabels.delete(name);
        const before = this.namespaceEgress.get(name);
        const value = object?.metadata.annotations?.[EGRESS_ANNOTATION];
        if (value === undefined) this.namespaceEgress.delete(name);
        else {
          const parsed = parseEgress(name, value);
          this.namespaceEgress.set(name, 'scope' in parsed ? parsed : { error: parsed.error, value });
        }
        const after = this.namespaceEgress.get(name);
        if (JSON.stringify(after) !== JSON.stringify(before)) change.namespaces.add(name);
        break;
      }
      default: {
        let objects = this.gatewayApiObjects.get(kind);
        if (!objects) this.gatewayApiObjects.set(kind, (objects = new Map()));
        if (object) objects.set(key, object);
        else objects.delete(key);
      }
    }
  }

  /**
   * Checks every policy again (they are few, and a Service appearing can make one valid), picks
   * the owner of each Service (the first by `policyPrecedence`), updates statuses and the
   * effective policies, and records what changed.
   */
  private reevaluatePolicies(change: ModelChange, changedServices: Set<string>): void {
    const lookup = (namespace: string, name: string) => this.serviceInfos.get(objectKey(namespace, name));
    const ordered = [...this.policies.entries()].sort(([ka, a], [kb, b]) => policyPrecedence(a.created, ka, b.created, kb));
    const owners = new Map<string, string>(); // service key -> policy key
    const nextEffective = new Map<string, EffectivePolicy>();
    const nextStatuses = new Map<string, PolicyStatus>();

    for (const [policyKey, entry] of ordered) {
      if (this.isAttached(entry)) {
        // Resolved against the Gateway API objects by reevaluateAttachedPolicies.
        const status = this.statuses.get(policyKey);
        if (status) nextStatuses.set(policyKey, status);
        continue;
      }
      // A rejected version is the newest one the user wrote: its generation is the one observed.
      const generation = (entry.rejectedErrors ? entry.rejectedGeneration : undefined) ?? entry.object?.metadata.generation;
      const conditions: Condition[] = [];
      const status: PolicyStatus = {
        namespace: entry.namespace,
        name: entry.name,
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
        conditions,
      };
      nextStatuses.set(policyKey, status);
      const condition = (type: string, ok: boolean, reason: string, message: string) =>
        conditions.push(statusCondition(type, ok, reason, message, generation));

      const spec = entry.object?.spec;
      const issues = spec ? checkPolicy(entry.namespace, spec, lookup) : undefined;
      // A policy whose every version was rejected still names its Service: it is reported against it.
      const targetName = spec ? spec.targetRef?.name : entry.rejectedTarget;
      const targetKey = targetName ? objectKey(entry.namespace, targetName) : undefined;
      const targetFound = issues ? issues.targetFound : targetName !== undefined && lookup(entry.namespace, targetName) !== undefined;
      const previousOwner = targetKey ? owners.get(targetKey) : undefined;

      if (entry.rejectedErrors) {
        condition('Accepted', false, 'Invalid', entry.rejectedErrors.join('; '));
      } else if (issues && issues.spec.length) {
        condition('Accepted', false, 'Invalid', issues.spec.join('; '));
      } else if (previousOwner) {
        condition(
          'Accepted',
          false,
          'Conflicted',
          `spec.targetRef.name: Service ${targetKey} is served by TrafficPolicy ${previousOwner}, which wins: only one policy applies per Service, ` +
            'the oldest by metadata.creationTimestamp, then by namespace/name (a policy without a creationTimestamp comes after those with one)',
        );
      } else {
        condition('Accepted', true, 'Accepted', 'the policy is valid');
      }
      if (issues) {
        if (issues.refs.length) {
          condition('ResolvedRefs', false, issues.targetFound ? 'BackendNotFound' : 'TargetNotFound', issues.refs.join('; '));
        } else {
          condition('ResolvedRefs', true, 'ResolvedRefs', 'every referenced Service and port exists');
        }
      }

      if (!targetKey || !targetFound || previousOwner) {
        condition('Programmed', false, previousOwner ? 'Conflicted' : 'TargetNotFound', 'the policy is not applied to any Service');
        continue;
      }
      owners.set(targetKey, policyKey);
      const valid = !entry.rejectedErrors && issues !== undefined && issues.spec.length === 0 && issues.refs.length === 0;
      if (valid && spec) {
        this.lastGoodSpecs.set(policyKey, spec);
        nextEffective.set(targetKey, { policyKey, spec, current: true, policy: toServicePolicy(policyKey, entry.namespace, spec) });
        condition('Programmed', true, 'Programmed', `applied to Service ${targetKey}`);
        continue;
      }
      const lastGood = this.lastGoodSpecs.get(policyKey);
      if (lastGood && !isAttachedPolicy(lastGood) && objectKey(entry.namespace, lastGood.targetRef.name) === targetKey) {
        nextEffective.set(targetKey, {
          policyKey,
          spec: lastGood,
          current: false,
          policy: toServicePolicy(policyKey, entry.namespace, lastGood),
        });
        condition('Programmed', false, 'LastGoodKept', `Service ${targetKey} keeps being served with this policy's last valid spec`);
      } else {
        condition('Programmed', false, 'DefaultsInUse', `Service ${targetKey} is served with the defaults until the policy is fixed`);
      }
    }

    // Present on one side only: changed, without serialising (every policy on the first batch).
    for (const key of new Set([...this.effective.keys(), ...nextEffective.keys()])) {
      const before = this.effective.get(key);
      const after = nextEffective.get(key);
      if (!before || !after || effectiveSignature(before) !== effectiveSignature(after)) changedServices.add(key);
    }
    for (const key of new Set([...this.statuses.keys(), ...nextStatuses.keys()])) {
      const before = this.statuses.get(key);
      const after = nextStatuses.get(key);
      if (!before || !after || JSON.stringify(before) !== JSON.stringify(after)) change.policyStatus.add(key);
    }
    replaceMap(this.effective, nextEffective);
    replaceMap(this.statuses, nextStatuses);
  }

  /** Whether a policy (its newest version, valid or rejected) targets a route or Gateway. */
  private isAttached(entry: PolicyEntry): boolean {
    if (entry.rejectedErrors) return entry.rejectedTargetKind !== undefined && entry.rejectedTargetKind !== 'Service';
    return isAttachedPolicy(entry.object?.spec);
  }

  /** Checks the policies on routes and Gateways against the Gateway API resolution; see attached-policy.ts. */
  private reevaluateAttachedPolicies(change: ModelChange): void {
    const ordered = [...this.policies.entries()]
      .filter(([, entry]) => this.isAttached(entry))
      .sort(([ka, a], [kb, b]) => policyPrecedence(a.created, ka, b.created, kb));
    const entries = ordered.map(([key, entry]) => {
      const spec = entry.rejectedErrors ? undefined : entry.object?.spec;
      const kind = (spec ? spec.targetRef.kind : entry.rejectedTargetKind) as AttachedKind;
      const name = spec ? spec.targetRef.name : entry.rejectedTarget;
      const sectionName = spec ? spec.targetRef.sectionName : entry.rejectedSectionName;
      const target: AttachedTarget | undefined = name ? { kind, name, ...(sectionName !== undefined ? { sectionName } : {}) } : undefined;
      const generation = (entry.rejectedErrors ? entry.rejectedGeneration : undefined) ?? entry.object?.metadata.generation;
      return {
        key,
        namespace: entry.namespace,
        name: entry.name,
        ...(generation !== undefined ? { generation } : {}),
        ...(spec ? { spec } : {}),
        specIssues: spec ? checkPolicy(entry.namespace, spec, () => undefined).spec : [],
        ...(entry.rejectedErrors ? { rejectedErrors: entry.rejectedErrors } : {}),
        ...(target ? { target } : {}),
      };
    });
    const result = resolveAttachedPolicies(
      entries,
      (namespace, target) => this.attachedTargetProblem(namespace, target),
      this.lastGoodSpecs,
    );
    for (const [key, status] of result.statuses) {
      if (JSON.stringify(this.statuses.get(key)) !== JSON.stringify(status)) change.policyStatus.add(key);
      this.statuses.set(key, status);
    }
    const signature = JSON.stringify([...result.limits.entries()]);
    if (signature !== this.attachedSignature) {
      this.attachedSignature = signature;
      this.attachedLimits = result.limits;
      change.gatewayApi = true;
    }
  }

  /** Why an HTTPRoute, GRPCRoute or Gateway a policy names is not one we serve; undefined when it is. */
  private attachedTargetProblem(namespace: string, target: AttachedTarget): string | undefined {
    const key = objectKey(namespace, target.name);
    const object = this.gatewayApiObject<GatewayObject | HTTPRouteObject | GRPCRouteObject>(target.kind, namespace, target.name);
    if (!object) return `spec.targetRef.name: ${target.kind} ${key} not found in namespace ${namespace}`;
    if (target.kind === 'HTTPRoute' || target.kind === 'GRPCRoute') {
      const ours = this.gatewayApiResolution.routes.some(
        (r) => r.kind === target.kind && `${r.namespace}/${r.name}` === key && r.parents.length,
      );
      return ours ? undefined : `spec.targetRef.name: ${target.kind} ${key} names no Gateway served by Switchyard in its parentRefs`;
    }
    if (!this.gatewayApiGateway(key)) {
      return `spec.targetRef.name: Gateway ${key} is not served by Switchyard (its GatewayClass names another controller, or none exists)`;
    }
    const listeners = gatewayListenerNames(object as GatewayObject);
    if (target.sectionName !== undefined && !listeners.includes(target.sectionName)) {
      return `spec.targetRef.sectionName: Gateway ${key} has no listener ${target.sectionName} (its listeners: ${listeners.join(', ')})`;
    }
    return undefined;
  }
}

// ---- helpers ----------------------------------------------------------------------------------

function gatewayListenerNames(gateway: GatewayObject): string[] {
  return (gateway.spec?.listeners ?? []).map((listener) => listener.name);
}

/**
 * Which of two policies on one Service wins (negative: a), from the objects alone, so every
 * replica and every restart decides the same whatever order events arrived in: the older
 * creationTimestamp, then namespace/name (Gateway API's rule). A policy without one (a folder's
 * manifests usually have none) comes after every timestamped one.
 */
function policyPrecedence(createdA: number | undefined, keyA: string, createdB: number | undefined, keyB: string): number {
  if (createdA !== createdB) {
    if (createdA === undefined) return 1;
    if (createdB === undefined) return -1;
    return createdA - createdB;
  }
  return compare(keyA, keyB);
}

/** metadata.creationTimestamp in ms; undefined when absent or not a date. */
function creationTime(timestamp: unknown): number | undefined {
  if (typeof timestamp !== 'string') return undefined;
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Service names a policy spec routes to (in its own namespace). */
function policyBackends(spec: TrafficPolicySpec): string[] {
  const names: string[] = [];
  for (const entry of spec.split ?? []) names.push(entry.backend);
  for (const route of spec.routes ?? []) {
    if (route.backend) names.push(route.backend);
    for (const entry of route.split ?? []) names.push(entry.backend);
  }
  return names;
}

function effectiveSignature(policy: EffectivePolicy | undefined): string {
  return policy ? JSON.stringify([policy.policyKey, policy.spec]) : '';
}

function replaceMap<K, V>(target: Map<K, V>, source: Map<K, V>): void {
  target.clear();
  for (const [k, v] of source) target.set(k, v);
}

function sortedValues<T>(map: Map<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => compare(a, b)).map(([, v]) => v);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function setOrDelete<V>(map: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}
