// The one analysis: every problem with the user's configuration, as data. It reads the model
// (what is served), the source records (where each object is written, what was rejected and
// why) and the source's own problems (files that are not YAML, kinds not read). `validate`,
// `render`, `serve` (logs, metrics, /debug/problems) and the Kubernetes writers all show its
// output, so they cannot disagree.
import type { ManifestError } from '../sources/manifests.js';
import type {
  EndpointSliceObject,
  GatewayObject,
  ObjectOrigin,
  ObjectRef,
  ResourceKind,
  TrafficPolicyObject,
  TrafficPolicySpec,
  WeightedBackend,
} from '../sources/types.js';
import {
  addressKey,
  checkAccessPolicy,
  checkPolicy,
  DEFAULT_INGRESS_CLASS,
  isOurIngress,
  objectKey,
  ourIngressClasses,
  SERVICE_NAME_LABEL,
  EGRESS_ANNOTATION,
  describeScope,
  MESH_TLS_ANNOTATION,
  PROXYLESS_TLS_ANNOTATION,
  PROXYLESS_TLS_VALUE,
  type IngressBackendRef,
  type MeshModel,
  type ModelChange,
  type ServiceInfo,
  type MtlsMode,
} from '../model/index.js';
import { nearestWord } from '../sources/spelling.js';
import { severityOf, type ProblemCode } from './codes.js';
import type { Problem, ProblemObject } from './problem.js';
import type { SourceRecords } from './records.js';

interface AnalysisInput {
  model: MeshModel;
  records: SourceRecords;
  /** Problems of the sources' own input (a folder's files). */
  sourceProblems?: readonly ManifestError[];
  /** The settings the analysis reads (`serve` passes its translator settings). */
  options?: AnalysisSettings;
}

export interface AnalysisSettings {
  /** Ingresses of this class are ours (default `switchyard`). */
  ingressClass?: string;
  /** The mesh-wide mTLS mode (default Permissive). */
  mtlsMode?: MtlsMode;
}

/** Every problem, sorted by file, line, code and object. */
export function analyze(input: AnalysisInput): Problem[] {
  return new Analysis().run(input);
}

/**
 * The analysis of a running control plane, proportional to the change like the rest of the
 * pipeline: a batch that changed only endpoints re-checks only the EndpointSlices of those
 * Services; anything else (Services, policies, Ingresses, Secrets) re-checks the whole model.
 * The sources' problems and rejections are re-read every time (they are few).
 */
export class Analysis {
  private modelWide: Problem[] = [];
  private readonly byService = new Map<string, Problem[]>();
  /** Pods' own problems (a refused egress annotation), by pod key: re-checked when the pod changes. */
  private readonly byPod = new Map<string, Problem[]>();
  /** Strict Services whose pods cannot all answer mutual TLS: re-checked when any pod changes. */
  private strict: Problem[] = [];
  private analysed = false;

  /** `change`: what the model batch touched since the last run (omitted: everything). */
  run(input: AnalysisInput, change?: ModelChange): Problem[] {
    const ingressClass = input.options?.ingressClass ?? DEFAULT_INGRESS_CLASS;
    const { model, records } = input;
    const fromSources = new Found();
    for (const error of input.sourceProblems ?? []) sourceProblem(fromSources, error);
    const rejected = new Found();
    rejections(rejected, records);

    if (!this.analysed || !change || !endpointsOnly(change)) {
      const found = new Found();
      policies(found, model, records);
      accessPolicies(found, model, records);
      ingresses(found, model, records, ingressClass);
      gatewayApi(found, model);
      outboundAddresses(found, model);
      egressScopes(found, model);
      this.modelWide = found.problems;
      this.byService.clear();
      for (const serviceKey of model.slicedServiceKeys()) this.checkEndpoints(model, serviceKey);
      this.byPod.clear();
      this.checkPods(model);
      this.strict = strictMtls(model);
      this.analysed = true;
    } else {
      for (const serviceKey of change.endpoints) this.checkEndpoints(model, serviceKey);
      for (const podKey of change.workloads) this.byPod.delete(podKey);
      this.checkPods(model, change.workloads);
      if (change.workloads.size > 0) this.strict = strictMtls(model);
    }
    const ofObjects = [...this.byService.values(), ...this.byPod.values(), ...this.strict].flat();
    const aboutObjects = [...rejected.problems, ...this.modelWide, ...ofObjects].map((problem) => {
      const { kind, namespace = '', name } = problem.object;
      return place({ ...problem }, records.origin({ kind: kind as ResourceKind, namespace, name }));
    });
    return sortProblems([...fromSources.problems, ...aboutObjects]);
  }

  /** The pods' own problems: of these pods (default every pod). */
  private checkPods(model: MeshModel, keys?: Iterable<string>): void {
    for (const pod of model.refusedPodEgress(keys)) {
      const found = new Found();
      podEgress(found, model, pod);
      this.byPod.set(objectKey(pod.namespace, pod.name), found.problems);
    }
  }

  private checkEndpoints(model: MeshModel, serviceKey: string): void {
    const found = new Found();
    endpointSlices(found, model, serviceKey);
    if (found.problems.length > 0) this.byService.set(serviceKey, found.problems);
    else this.byService.delete(serviceKey);
  }
}

function endpointsOnly(change: ModelChange): boolean {
  return (
    !change.all &&
    !change.gatewayApi &&
    change.services.size === 0 &&
    change.ingresses.size === 0 &&
    change.secrets.size === 0 &&
    change.policyStatus.size === 0 &&
    change.namespaces.size === 0 &&
    change.accessPolicyStatus.size === 0
  );
}

function sortProblems(problems: Problem[]): Problem[] {
  const text = (p: Problem) => `${p.object.kind}|${p.object.namespace ?? ''}|${p.object.name}|${p.field ?? ''}|${p.message}`;
  return [...problems].sort(
    (a, b) =>
      compare(a.file ?? '\uffff', b.file ?? '\uffff') ||
      (a.line ?? 0) - (b.line ?? 0) ||
      compare(a.code, b.code) ||
      compare(text(a), text(b)),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Collects problems. Those about an object are placed (file, line of the field) when the
 * analysis returns, from where the object is written then: it may have moved since. */
class Found {
  readonly problems: Problem[] = [];
  /** Made with the first problem: a Found per Service's slices, 10,000 at start-up, nearly all empty. */
  private keys: Set<string> | undefined;

  add(
    code: ProblemCode,
    ref: ObjectRef | ProblemObject,
    field: string | undefined,
    message: string,
    fix: string,
    origin?: ObjectOrigin,
  ): void {
    const object: ProblemObject = { kind: ref.kind, ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name };
    const problem: Problem = {
      code,
      severity: severityOf(code),
      object,
      ...(field !== undefined && field !== '' ? { field } : {}),
      message,
      fix,
    };
    // A source's own problem is placed where the source says; the others by their object.
    if (origin) place(problem, origin);
    const key = JSON.stringify([code, object, field, message]);
    this.keys ??= new Set();
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.problems.push(problem);
  }
}

function ref(kind: ResourceKind, namespace: string, name: string): ObjectRef {
  return { kind, namespace, name };
}

function describe(object: ProblemObject): string {
  return object.namespace ? `${object.kind} ${object.namespace}/${object.name}` : `${object.kind} ${object.name}`;
}

const FIELD = String.raw`(?:[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*`;
const LEADING_FIELD = new RegExp(`^(${FIELD}): `);
/** `Service shop/reviews: ` (or `IngressClass switchyard: `) before a source's message. */
const OBJECT_PREFIX = /^[A-Z][A-Za-z]* (?:[^\s:/]+\/)?[^\s:]+: /;

function place(problem: Problem, origin: ObjectOrigin | undefined): Problem {
  delete problem.file;
  delete problem.line;
  if (origin?.file === undefined) return problem;
  problem.file = origin.file;
  const line = (problem.field !== undefined ? origin.fields?.lineOf(problem.field) : undefined) ?? origin.line;
  if (line !== undefined) problem.line = line;
  return problem;
}

/** `spec.timeout: must be ...` -> field `spec.timeout`. */
function leadingField(text: string): string | undefined {
  return LEADING_FIELD.exec(text)?.[1];
}

// ---- the files of a manifest folder -------------------------------------------------------------

const LOCATION_PREFIX = /^.*?:\d+(?::\d+)?: /;

function sourceProblem(found: Found, error: ManifestError): void {
  const text = error.message.startsWith(`${error.file}:`) ? error.message.replace(LOCATION_PREFIX, '') : error.message;
  const object: ProblemObject = error.object ?? { kind: 'File', name: error.file };
  const origin: ObjectOrigin = { file: error.file, line: error.line };
  const about = error.object ? `${describe(object)}: ` : '';
  switch (error.type) {
    case 'syntax':
      found.add(
        'YamlSyntaxError',
        object,
        undefined,
        `${error.file}: ${text}`,
        "fix the YAML at this line; until then the file's last readable objects keep being served",
        origin,
      );
      return;
    case 'unreadable':
      found.add(
        'FileUnreadable',
        object,
        undefined,
        `${error.file}: ${text}`,
        'make the file readable (permissions, size); until then its last readable objects keep being served',
        origin,
      );
      return;
    case 'invalid':
      found.add(
        'InvalidDocument',
        object,
        error.field,
        `${about}${text}`,
        'give the document apiVersion, kind and metadata.name, or remove it',
        origin,
      );
      return;
    case 'duplicate':
      found.add(
        'DuplicateObject',
        object,
        undefined,
        text,
        'remove one of the two definitions, or rename one (the first in path order is served)',
        origin,
      );
      return;
    case 'unknown-kind':
      if (error.suggestion) {
        found.add('UnknownKind', object, 'kind', `${about}${text}`, `write kind: ${error.suggestion}`, origin);
      } else {
        found.add(
          'KindNotRead',
          object,
          'kind',
          `${about}${text}`,
          'nothing to fix if the document is meant for another tool; Switchyard skips it',
          origin,
        );
      }
      return;
  }
}

// ---- objects a source rejected ------------------------------------------------------------------

function rejections(found: Found, records: SourceRecords): void {
  for (const rejection of records.rejections()) {
    for (const error of rejection.errors) {
      const text = error.replace(OBJECT_PREFIX, '');
      const field = leadingField(text);
      found.add('SchemaViolation', rejection.ref, field, error, schemaFix(rejection.ref, field, text));
    }
  }
}

function schemaFix(objectRef: ObjectRef, field: string | undefined, text: string): string {
  const keep =
    objectRef.kind === 'TrafficPolicy'
      ? 'until then the last valid version of the policy (if any) stays applied'
      : `until then the last valid version of the ${objectRef.kind} (if any) keeps being served`;
  const unknown = /: unknown field \(known fields: ([^)]*)\)/.exec(text);
  if (field && unknown) {
    const name = /(?:\.|^)([A-Za-z_][A-Za-z0-9_]*)$/.exec(field)?.[1] ?? field;
    const known = unknown[1].split(', ');
    const meant = nearestWord(name, known);
    return meant ? `did you mean ${meant}? Rename ${field}; ${keep}` : `remove ${field} (this object takes ${unknown[1]}); ${keep}`;
  }
  if (field && /: is required/.test(text)) return `add ${field}; ${keep}`;
  return field ? `correct ${field} as the message says; ${keep}` : `correct the object as the message says; ${keep}`;
}

// ---- TrafficPolicies ----------------------------------------------------------------------------

function policies(found: Found, model: MeshModel, records: SourceRecords): void {
  const lookup = (namespace: string, name: string) => model.service(objectKey(namespace, name));
  for (const status of model.policyStatuses()) {
    const { namespace, name } = status;
    const policyRef = ref('TrafficPolicy', namespace, name);
    const label = `TrafficPolicy ${namespace}/${name}`;
    const condition = (type: string) => status.conditions.find((c) => c.type === type);
    const programmed = condition('Programmed');
    const meanwhile =
      programmed?.status === 'False' && programmed.reason !== 'TargetNotFound' && programmed.reason !== 'Conflicted'
        ? `; meanwhile ${programmed.message}`
        : '';

    const rejection = records.rejection(policyRef);
    if (rejection) {
      // Its schema errors are reported above; a missing target is worth saying as well.
      const targetRef = (rejection.object as TrafficPolicyObject | undefined)?.spec?.targetRef;
      const target = (targetRef?.kind ?? 'Service') === 'Service' ? targetRef?.name : undefined;
      if (typeof target === 'string' && target !== '' && !lookup(namespace, target)) {
        targetNotFound(found, policyRef, label, namespace, target);
      }
    } else {
      const spec = model.policy(namespace, name)?.spec;
      if (spec) {
        const issues = checkPolicy(namespace, spec, lookup);
        for (const issue of issues.spec) {
          const field = leadingField(issue);
          found.add(
            'PolicyInvalid',
            policyRef,
            field,
            `${label}: ${issue}`,
            `correct ${field ?? 'the spec'} as the message says${meanwhile}`,
          );
        }
        for (const issue of issues.refs) {
          const field = leadingField(issue);
          if (field === 'spec.targetRef.name') targetNotFound(found, policyRef, label, namespace, spec.targetRef.name);
          else
            found.add(
              'PolicyBackendNotFound',
              policyRef,
              field,
              `${label}: ${issue}`,
              `create that Service or port, or name one that exists in namespace ${namespace} (a policy's backends are in its own namespace)${meanwhile}`,
            );
        }
        weights(found, policyRef, label, spec);
        connectionLimitUnused(found, model, policyRef, label, namespace, spec);
        // A policy on an HTTPRoute or Gateway: the model resolved its target against the Gateway API objects.
        const resolved = condition('ResolvedRefs');
        if (
          resolved?.status === 'False' &&
          resolved.reason === 'TargetNotFound' &&
          spec.targetRef.kind !== undefined &&
          spec.targetRef.kind !== 'Service'
        ) {
          found.add(
            'PolicyTargetNotFound',
            policyRef,
            leadingField(resolved.message) ?? 'spec.targetRef.name',
            `${label}: ${resolved.message}; the policy applies to nothing`,
            `name ${spec.targetRef.kind === 'Gateway' ? 'a Gateway (and one of its listeners)' : `a${spec.targetRef.kind === 'HTTPRoute' ? 'n' : ''} ${spec.targetRef.kind}`} of namespace ${namespace} ` +
              'that Switchyard serves through its GatewayClass (a policy applies only in its own namespace)',
          );
        }
      }
    }

    const accepted = condition('Accepted');
    if (accepted?.status === 'False' && accepted.reason === 'Conflicted') {
      found.add(
        'PolicyConflict',
        policyRef,
        leadingField(accepted.message) ?? 'spec.targetRef.name',
        `${label}: ${accepted.message}`,
        'merge the two policies into one, or point this one at another target; until then the older policy (by creation time, then namespace/name) is the one applied',
      );
    }
  }
}

// ---- AccessPolicies ----------------------------------------------------------------------------

function accessPolicies(found: Found, model: MeshModel, records: SourceRecords): void {
  const lookup = (namespace: string, name: string) => model.service(objectKey(namespace, name));
  for (const status of model.accessPolicyStatuses()) {
    const { namespace, name } = status;
    const policyRef = ref('AccessPolicy', namespace, name);
    // Schema errors are reported by rejections().
    if (records.rejection(policyRef)) continue;
    const spec = model.accessPolicy(namespace, name)?.spec;
    if (!spec) continue;
    const label = `AccessPolicy ${namespace}/${name}`;
    const issues = checkAccessPolicy(namespace, spec, lookup);
    for (const issue of issues.spec) {
      const field = leadingField(issue);
      found.add(
        'AccessPolicyInvalid',
        policyRef,
        field,
        `${label}: ${issue}`,
        `correct ${field ?? 'the spec'} as the message says; until then the policy's last valid spec (if any) stays applied`,
      );
    }
    for (const issue of issues.refs) {
      const field = leadingField(issue);
      found.add(
        'AccessPolicyRefNotFound',
        policyRef,
        field,
        `${label}: ${issue}`,
        field === 'spec.targetRef.name'
          ? `create that Service, name an existing Service of namespace ${namespace}, or remove targetRef to apply the policy to the whole namespace`
          : 'name a port the Service sends to (its targetPort), or remove the port',
      );
    }
  }
}

function targetNotFound(found: Found, policyRef: ObjectRef, label: string, namespace: string, target: string): void {
  found.add(
    'PolicyTargetNotFound',
    policyRef,
    'spec.targetRef.name',
    `${label}: spec.targetRef.name: Service ${namespace}/${target} not found in namespace ${namespace}; the policy applies to nothing`,
    `create Service ${namespace}/${target}, or name an existing Service of namespace ${namespace} (a policy applies only in its own namespace)`,
  );
}

/** Split weights are relative (Envoy shares traffic in proportion): a sum other than 100 is served
 * proportionally, and said, because it is usually a mistake (90 and 20 meant 90 and 10). */
function weights(found: Found, policyRef: ObjectRef, label: string, spec: TrafficPolicySpec): void {
  const check = (field: string, split: WeightedBackend[] | undefined) => {
    if (!split || split.length === 0) return;
    const total = split.reduce((sum, entry) => sum + (entry.weight > 0 ? entry.weight : 0), 0);
    if (total <= 0 || total === 100) return;
    const shares = split.map(
      (entry) =>
        `${entry.backend}${entry.port !== undefined ? `:${entry.port}` : ''} ${formatPercent((Math.max(0, entry.weight) * 100) / total)}`,
    );
    const scaled = scaleTo100(split.map((entry) => Math.max(0, entry.weight)));
    found.add(
      'WeightsNotHundred',
      policyRef,
      field,
      `${label}: ${field}: weights sum to ${total}, not 100; traffic is shared in proportion: ${shares.join(', ')}`,
      `make the weights sum to 100 (in the same proportion: ${scaled.join(', ')})`,
    );
  };
  check('spec.split', spec.split);
  spec.routes?.forEach((route, i) => check(`spec.routes[${i}].split`, route.split));
}

/** A connection limit on a Service with no TCP port: sidecars apply it only to TCP ports, so it limits nothing. */
function connectionLimitUnused(
  found: Found,
  model: MeshModel,
  policyRef: ObjectRef,
  label: string,
  namespace: string,
  spec: TrafficPolicySpec,
): void {
  if (!spec.rateLimit?.connections || (spec.targetRef.kind ?? 'Service') !== 'Service') return;
  const service = model.service(objectKey(namespace, spec.targetRef.name));
  if (!service || service.ports.length === 0 || service.ports.some((port) => port.protocol === 'tcp')) return;
  const ports = service.ports.map((port) => `${port.port} (${port.protocol})`).join(', ');
  found.add(
    'ConnectionLimitUnused',
    policyRef,
    'spec.rateLimit.connections',
    `${label}: spec.rateLimit.connections: Service ${service.key} has no TCP port (${ports}); ` +
      'connection limits apply to TCP ports only, so this one limits nothing',
    'limit its HTTP ports with requestsPerSecond or requestsPerMinute instead, or remove connections ' +
      '(a port that does not speak HTTP is proxied as TCP when its appProtocol or name says neither http, http2 nor grpc)',
  );
}

function formatPercent(value: number): string {
  return `${Number.isInteger(value) ? value : value.toFixed(1)}%`;
}

/** Whole numbers in the same proportion summing to exactly 100 (largest remainders). */
export function scaleTo100(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return weights.map(() => 0);
  const exact = weights.map((w) => (w * 100) / total);
  const floors = exact.map(Math.floor);
  let left = 100 - floors.reduce((a, b) => a + b, 0);
  const order = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of order) {
    if (left <= 0) break;
    floors[index]++;
    left--;
  }
  return floors;
}

// ---- Ingresses ----------------------------------------------------------------------------------

// ---- Gateway API ------------------------------------------------------------------------------------

const LISTENER_FIXES: Record<string, string> = {
  UnsupportedProtocol: 'use protocol HTTP or HTTPS (with tls.mode Terminate)',
  ProtocolConflict: 'give listeners of different protocols different ports',
  HostnameConflict: 'give listeners on one port different hostnames',
  InvalidCertificateRef: 'name a valid kubernetes.io/tls Secret in tls.certificateRefs',
  RefNotPermitted: "add a ReferenceGrant in the Secret's namespace that lets Gateways of this namespace refer to it",
  InvalidRouteKinds: 'list only HTTPRoute and GRPCRoute in allowedRoutes.kinds',
};

const ROUTE_FIXES: Record<string, string> = {
  NotAllowedByListeners: "attach to a listener whose allowedRoutes admit the route's namespace and kind",
  NoMatchingListenerHostname: "give the route a hostname the listener's hostname covers, or none",
  NoMatchingParent: 'name an existing listener (sectionName, port) that is served; see the Gateway status',
  UnsupportedValue: 'remove the filter Switchyard does not support',
  BackendNotFound: 'name an existing Service and one of its ports',
  RefNotPermitted: "add a ReferenceGrant in the Service's namespace that lets routes of this namespace refer to it",
  InvalidKind: 'name a Service (group "", kind Service)',
  UnsupportedProtocol: 'set the backend port appProtocol to kubernetes.io/h2c or grpc',
};

/** What the Gateway API status says is wrong, as problems: the same reasons, where the objects are. */
function gatewayApi(found: Found, model: MeshModel): void {
  const resolution = model.gatewayApiStatus();
  for (const gateway of resolution.gateways) {
    const object = model.gatewayApiObject<GatewayObject>('Gateway', gateway.namespace, gateway.name);
    gateway.listenerStatuses.forEach((listener) => {
      const index = object?.spec.listeners.findIndex((l) => l.name === listener.name) ?? -1;
      const bad = listener.conditions.find(
        (c) => (c.type === 'Conflicted' ? c.status === 'True' : c.status === 'False') && c.type !== 'Programmed',
      );
      if (!bad) return;
      // A listener may be served with part of it left out: route kinds it cannot take, or one
      // of several certificates.
      const served = listener.conditions.some((c) => c.type === 'Programmed' && c.status === 'True');
      found.add(
        served ? 'GatewayListenerPartlyServed' : 'GatewayListenerNotServed',
        ref('Gateway', gateway.namespace, gateway.name),
        leadingField(bad.message) ?? (index >= 0 ? `spec.listeners[${index}]` : undefined),
        `Gateway ${gateway.key}: listener ${listener.name} is ${served ? 'served, with a problem' : 'not served'} (${bad.type} ${bad.reason}): ${bad.message}`,
        LISTENER_FIXES[bad.reason] ?? 'see the Gateway status',
      );
    });
  }
  for (const route of resolution.routes) {
    const routeRef = ref(route.kind, route.namespace, route.name);
    route.parents.forEach((parent, index) => {
      const label = `${route.kind} ${route.namespace}/${route.name}`;
      const parentName = `${parent.parentRef.namespace ?? route.namespace}/${parent.parentRef.name}`;
      for (const condition of parent.conditions) {
        if (condition.status !== 'False') continue;
        const accepted = condition.type === 'Accepted';
        found.add(
          accepted ? 'GatewayRouteNotAccepted' : 'GatewayRouteRefsNotResolved',
          routeRef,
          leadingField(condition.message) ?? (accepted ? `spec.parentRefs[${index}]` : undefined),
          `${label}: ${accepted ? `not attached to Gateway ${parentName}` : 'a reference does not resolve'} (${condition.reason}): ${condition.message}` +
            (accepted ? '' : ' (its requests get 500)'),
          ROUTE_FIXES[condition.reason] ?? 'see the route status',
        );
      }
    });
  }
}

function ingresses(found: Found, model: MeshModel, records: SourceRecords, ingressClass: string): void {
  const classes = ourIngressClasses(model, ingressClass);
  const badSecrets = new Set<string>();
  for (const ingress of model.ingressInfos()) {
    if (!isOurIngress(model, ingress, ingressClass, classes)) continue;
    const namespace = ingress.namespace;
    const ingressRef = ref('Ingress', namespace, ingress.name);
    const label = `Ingress ${ingress.key}`;
    const backend = (value: IngressBackendRef) => {
      const resolved = model.resolveIngressBackend(value);
      if (resolved.ok) return;
      const field = leadingField(resolved.error) ?? value.field;
      const message = `${label}: ${resolved.error}`;
      const answer = ' (requests for it get 503)';
      const service = value.kind === 'service' ? value : undefined;
      if (field.endsWith('.service.name')) {
        found.add(
          'IngressServiceNotFound',
          ingressRef,
          field,
          message + answer,
          `create Service ${namespace}/${service?.name}, or name an existing Service of namespace ${namespace}`,
        );
      } else if (field.endsWith('.service.port')) {
        const portField =
          service?.port.number !== undefined ? `${field}.number` : service?.port.name !== undefined ? `${field}.name` : field;
        found.add(
          'IngressPortNotFound',
          ingressRef,
          portField,
          message + answer,
          `name one of the Service's TCP ports (by number or by name), or add the port to the Service`,
        );
      } else {
        found.add(
          'IngressBackendUnsupported',
          ingressRef,
          field,
          message + answer,
          'use a service backend (service.name and service.port)',
        );
      }
    };
    if (ingress.defaultBackend) backend(ingress.defaultBackend.backend);
    for (const rule of ingress.rules) for (const path of rule.paths) backend(path.backend);
    ingress.tls.forEach((tls, t) => {
      const field = `spec.tls[${t}].secretName`;
      const hosts = tls.hosts.length ? tls.hosts.join(', ') : 'clients without a matching SNI';
      if (!tls.secretName) {
        found.add(
          'IngressSecretNotFound',
          ingressRef,
          `spec.tls[${t}]`,
          `${label}: ${field}: not set; HTTPS for ${hosts} is left out`,
          "name a kubernetes.io/tls Secret of the Ingress's namespace in secretName",
        );
        return;
      }
      if (!model.secret(namespace, tls.secretName) && records.rejection(ref('Secret', namespace, tls.secretName))) {
        found.add(
          'IngressSecretInvalid',
          ingressRef,
          field,
          `${label}: ${field}: Secret ${namespace}/${tls.secretName} is invalid (see its SchemaViolation) and not served; HTTPS for ${hosts} is left out`,
          `fix Secret ${namespace}/${tls.secretName} as its own problem says`,
        );
        return;
      }
      if (!model.secret(namespace, tls.secretName)) {
        found.add(
          'IngressSecretNotFound',
          ingressRef,
          field,
          `${label}: ${field}: Secret ${namespace}/${tls.secretName} not found; HTTPS for ${hosts} is left out`,
          `create the kubernetes.io/tls Secret ${namespace}/${tls.secretName} (tls.crt and tls.key), or name an existing one`,
        );
        return;
      }
      const secretKey = objectKey(namespace, tls.secretName);
      if (badSecrets.has(secretKey)) return;
      const result = model.tlsCertificate(namespace, tls.secretName);
      if (result.ok) return;
      badSecrets.add(secretKey);
      const keyName = /tls\.(crt|key)/.exec(result.error)?.[0];
      const secretField = /type is/.test(result.error) ? 'type' : keyName ? `data["${keyName}"]` : undefined;
      found.add(
        'IngressSecretInvalid',
        ref('Secret', namespace, tls.secretName),
        secretField,
        `${result.error}; ${label} (${field}) cannot serve HTTPS for ${hosts}`,
        'store a PEM certificate chain in tls.crt and its private key in tls.key, in a Secret of type kubernetes.io/tls',
      );
    });
  }
}

// ---- Mutual TLS under Strict ------------------------------------------------------------------

const LISTED_PODS = 5;

function podList(pods: readonly string[]): string {
  const names = pods.slice(0, LISTED_PODS);
  return pods.length > LISTED_PODS ? `${names.join(', ')} and ${pods.length - LISTED_PODS} more` : names.join(', ');
}

/**
 * Strict Services whose pods cannot all answer mutual TLS (the model keeps them per Service as
 * pods change). Both outages are silent otherwise:
 * - a pod with neither a sidecar holding the workload certificate nor the proxyless certificate
 *   provider: if it runs an xDS gRPC server, that server gets no Listener and stops serving; if it
 *   runs no mesh proxy, it takes plain text and Strict protects nothing (StrictPodWithoutCertificate);
 * - such pods beside pods that do answer TLS: a caller that cannot choose TLS per endpoint
 *   (proxyless gRPC) is sent plain text to every pod, and the TLS pods refuse it (StrictServiceMixedTls).
 * Whether a pod runs a gRPC server is not in the Pod object, so the message names both cases.
 */
function strictMtls(model: MeshModel): Problem[] {
  const found = new Found();
  for (const { serviceKey, tls, plain } of model.strictTlsGaps()) {
    const from = model.serviceAccess(serviceKey).mtlsFrom;
    const slash = from?.indexOf('/') ?? -1;
    const serviceSlash = serviceKey.indexOf('/');
    const serviceName = serviceKey.slice(serviceSlash + 1);
    const object = from
      ? ref('AccessPolicy', from.slice(0, slash), from.slice(slash + 1))
      : ref('Service', serviceKey.slice(0, serviceSlash), serviceName);
    const field = from ? 'spec.mtls' : undefined;
    const why = from
      ? `AccessPolicy ${from}: spec.mtls: Strict applies to Service ${serviceKey}`
      : `Service ${serviceKey}: the mesh default --mtls-mode Strict applies (no AccessPolicy sets its mode)`;
    const relax = from
      ? `set mtls: Permissive for Service ${serviceKey} until then (in this policy, or a policy with targetRef ${serviceName})`
      : `give Service ${serviceKey} an AccessPolicy with mtls: Permissive until then`;
    found.add(
      'StrictPodWithoutCertificate',
      object,
      field,
      `${why}, but its pod${plain.length > 1 ? 's' : ''} ${podList(plain)} ${plain.length > 1 ? 'have' : 'has'} no workload certificate ` +
        `(neither ${MESH_TLS_ANNOTATION}, set when a sidecar is injected with it, nor ${PROXYLESS_TLS_ANNOTATION}: ${PROXYLESS_TLS_VALUE}): ` +
        'an xDS gRPC server there gets no Listener and does not serve, a sidecar without the certificate completes no handshake, ' +
        'and a pod without a mesh proxy takes plain text, unprotected by Strict',
      `on the pod template, add the annotation ${PROXYLESS_TLS_ANNOTATION}: ${PROXYLESS_TLS_VALUE} if it runs xDS gRPC servers whose bootstrap has the workload certificate provider ` +
        `(envoy/proxyless-bootstrap-mtls.json), or inject the sidecar with the workload certificate; ${relax}`,
    );
    if (tls.length === 0) continue;
    found.add(
      'StrictServiceMixedTls',
      object,
      field,
      `${why}, whose pods answer mutual TLS (${podList(tls)}) and plain text (${podList(plain)}): proxyless gRPC callers are sent plain text ` +
        `to every pod (gRPC cannot choose TLS per endpoint), which ${tls.length > 1 ? 'the TLS pods refuse' : `${tls[0]} refuses`}; sidecars and gateways choose per endpoint`,
      `give every pod of Service ${serviceKey} the workload certificate (see StrictPodWithoutCertificate); ${relax}`,
    );
  }
  return found.problems;
}

// ---- Services and endpoints ---------------------------------------------------------------------

/** Two Service ports at one address: a sidecar tells captured connections apart by it, so the second gets none. */
function outboundAddresses(found: Found, model: MeshModel): void {
  for (const { address, owner } of model.addresses().conflicts) {
    const { service, servicePort } = address;
    const index = (service.object.spec?.ports ?? []).findIndex((p) => p.port === servicePort.port && (p.protocol ?? 'TCP') === 'TCP');
    const field = address.headless ? 'spec.clusterIP' : index >= 0 ? `spec.ports[${index}].port` : 'spec.ports';
    const where = addressKey(address.ip, address.port);
    const holder = `port ${owner.servicePort.port} of Service ${owner.service.key}${owner.headless ? ' (a pod of the headless Service)' : ''}`;
    found.add(
      'OutboundAddressConflict',
      ref('Service', service.namespace, service.name),
      field,
      `Service ${service.key}: ${field}: ${where} is also ${holder}; sidecars recognise a captured connection by the address it was made to, so connections to ${where} go to ${owner.service.key} and port ${servicePort.port} of this Service is not reachable through the mesh`,
      'give each Service its own cluster IP (leave spec.clusterIP unset and let Kubernetes allocate one), or a different port',
    );
  }
}

/** A Namespace's egress annotation that does not parse: its sidecars keep reaching every Service. */
function egressScopes(found: Found, model: MeshModel): void {
  for (const { namespace, value, error } of model.refusedEgress()) {
    const field = `metadata.annotations[${JSON.stringify(EGRESS_ANNOTATION)}]`;
    found.add(
      'EgressScopeInvalid',
      ref('Namespace', '', namespace),
      field,
      `Namespace ${namespace}: ${field}: ${JSON.stringify(value)}: ${error}; the scope is not applied, so its sidecars still receive every Service`,
      'write comma-separated <namespace>/<service> hosts, "." for the own namespace and "*" for any, e.g. "./*,shared/*,payments/billing"',
    );
  }
}

/** A Pod's own egress annotation that does not parse: its sidecar keeps its namespace's scope. */
function podEgress(found: Found, model: MeshModel, pod: { namespace: string; name: string; value: string; error: string }): void {
  const field = `metadata.annotations[${JSON.stringify(EGRESS_ANNOTATION)}]`;
  const fallback = model.egressScope(pod.namespace);
  const instead = `its sidecar gets the scope of Namespace ${pod.namespace}: ${fallback ? describeScope(fallback) : 'every Service'}`;
  found.add(
    'PodEgressScopeInvalid',
    ref('Pod', pod.namespace, pod.name),
    field,
    `Pod ${pod.namespace}/${pod.name}: ${field}: ${JSON.stringify(pod.value)}: ${pod.error}; the pod's scope is not applied, so ${instead}`,
    'write comma-separated <namespace>/<service> hosts on the pod template, "." for the pod\'s own namespace and "*" for any, e.g. "./*,shared/*,payments/billing"',
  );
}

function endpointSlices(found: Found, model: MeshModel, serviceKey: string): void {
  const service = model.service(serviceKey);
  for (const object of model.endpointSlicesOf(serviceKey)) {
    if (!service) {
      const namespace = object.metadata.namespace ?? 'default';
      const field = `metadata.labels[${JSON.stringify(SERVICE_NAME_LABEL)}]`;
      found.add(
        'EndpointSliceServiceNotFound',
        ref('EndpointSlice', namespace, object.metadata.name),
        field,
        `EndpointSlice ${namespace}/${object.metadata.name}: ${field}: Service ${serviceKey} not found; these endpoints are not used`,
        `create Service ${serviceKey}, or set the label to the Service these endpoints belong to`,
      );
      continue;
    }
    if (object.addressType === 'FQDN') continue;
    const ports = object.ports ?? [];
    // Indexed, and the slice named only for a problem: 10,000 Services' slices at start-up, nearly all fine.
    for (let j = 0; j < ports.length; j++) {
      const port = ports[j];
      if ((port.protocol ?? 'TCP') !== 'TCP') continue;
      const name = port.name ?? '';
      const named = service.ports.some((p) => p.name === name);
      if (!named || typeof port.port !== 'number') slicePortProblem(found, serviceKey, service, object, j, named);
    }
  }
}

/** What is wrong with a TCP port of a Service's slice: no Service port of its name (`named` false), or no number. */
function slicePortProblem(
  found: Found,
  serviceKey: string,
  service: ServiceInfo,
  object: EndpointSliceObject,
  j: number,
  named: boolean,
): void {
  const port = (object.ports ?? [])[j];
  const namespace = object.metadata.namespace ?? 'default';
  const sliceRef = ref('EndpointSlice', namespace, object.metadata.name);
  const label = `EndpointSlice ${namespace}/${object.metadata.name}`;
  const name = port.name ?? '';
  if (named) {
    const field = `ports[${j}].port`;
    found.add(
      'EndpointPortWithoutNumber',
      sliceRef,
      field,
      `${label}: ${field}: no port number ("all ports"); Envoy needs a port to reach an endpoint, so these endpoints are not used for port ${name ? `"${name}"` : '(unnamed)'} of Service ${serviceKey}`,
      'set the port number the endpoints listen on',
    );
    return;
  }
  const have = service.ports.map((p) => (p.name ? `"${p.name}" (${p.port})` : `unnamed (${p.port})`)).join(', ') || 'none';
  const field = port.name !== undefined ? `ports[${j}].name` : `ports[${j}]`;
  found.add(
    'EndpointPortUnmatched',
    sliceRef,
    field,
    `${label}: ${field}: ${name ? `"${name}"` : 'an unnamed port'} matches no TCP port of Service ${serviceKey} (its ports: ${have}); endpoints are matched to Service ports by name, so port ${port.port ?? '(none)'} of these endpoints is not used`,
    `name the port exactly as the Service port it serves${service.ports.length ? ` (e.g. ${service.ports[0].name ? `"${service.ports[0].name}"` : 'no name, for an unnamed port'})` : ''}`,
  );
}
