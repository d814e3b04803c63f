// The Gateway API processor: GatewayClasses of our controller, their Gateways, and the HTTPRoutes
// and GRPCRoutes attached to them become what a gateway proxy serves — per listener, the route
// rules that attached, with hostnames intersected and in the specification's precedence order —
// and the status every object gets (conditions and reasons as the specification defines them).
// Pure: the same objects give the same result, whatever order they arrived in.
import { statusCondition } from './conditions.js';
import type {
  BackendObjectReference,
  Condition,
  GatewayClassObject,
  GatewayListenerSpec,
  GatewayObject,
  GRPCRouteObject,
  LabelSelector,
  HTTPRouteFilterSpec,
  HTTPRouteObject,
  ParentReference,
  ReferenceGrantObject,
  RouteBackendRef,
  ServiceObject,
} from '../sources/types.js';
import { durationMs } from '../sources/gateway-api-schemas.js';
import { compare, objectKey } from './keys.js';
import type { HeaderMatch, ServiceInfo, TlsCertificate } from './types.js';

/** The controllerName of the GatewayClasses Switchyard implements. */
export const GATEWAY_CONTROLLER = 'switchyard.dev/gateway-controller';
/** The label naming the Gateway a Service exposes: its addresses become the Gateway's. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

const GROUP = 'gateway.networking.k8s.io';
type RouteKind = 'HTTPRoute' | 'GRPCRoute';
const SUPPORTED_ROUTE_KINDS: readonly RouteKind[] = ['HTTPRoute', 'GRPCRoute'];

// ---- what the translator and the status writer read ---------------------------------------------

/** A path condition. `pathPrefix`: element-wise (HTTPRoute's PathPrefix); `prefix`: plain string prefix (gRPC services). */
export interface GatewayPathMatch {
  kind: 'exact' | 'pathPrefix' | 'prefix' | 'regex';
  value: string;
}

export interface GatewayRouteMatch {
  path: GatewayPathMatch;
  headers: HeaderMatch[];
  queryParams: Array<{ kind: 'exact' | 'regex'; name: string; value: string }>;
  method?: string;
}

export interface HeaderModifier {
  set: Array<{ name: string; value: string }>;
  add: Array<{ name: string; value: string }>;
  remove: string[];
}

export interface GatewayBackend {
  serviceKey: string;
  port: number;
  weight: number;
}

/** The filters of a rule, resolved. */
export interface GatewayRuleFilters {
  requestHeaders?: HeaderModifier;
  responseHeaders?: HeaderModifier;
  redirect?: {
    scheme?: string;
    hostname?: string;
    port?: number;
    statusCode: number;
    path?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string };
  };
  rewrite?: { hostname?: string; path?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string } };
  /** Backends that get a copy of each request (valid ones only). */
  mirrors: GatewayBackend[];
}

/** One match of one rule of a route, as attached to one listener. */
export interface GatewayRouteRule {
  routeKind: RouteKind;
  /** `<namespace>/<name>` of the route. */
  routeKey: string;
  ruleIndex: number;
  matchIndex: number;
  /** The hostnames it serves on this listener (the intersection); ['*'] for any. */
  hostnames: string[];
  match: GatewayRouteMatch;
  filters: GatewayRuleFilters;
  /** The valid backends with weight > 0. */
  backends: GatewayBackend[];
  /** Weight of the backendRefs that cannot be used: requests given to them get HTTP 500, as the specification asks. */
  invalidWeight: number;
  /** 0 disables. */
  requestTimeoutMs?: number;
  backendRequestTimeoutMs?: number;
  /** The route's creationTimestamp in ms (precedence: the older route first). */
  created?: number;
}

export interface GatewayListenerInfo {
  name: string;
  port: number;
  protocol: 'HTTP' | 'HTTPS';
  hostname?: string;
  /** HTTPS: the Secrets (`<namespace>/<name>`) whose certificates it serves, valid and permitted ones only. */
  certificates: Array<{ namespace: string; name: string }>;
  /** Accepted, not conflicted and (HTTPS) with a usable certificate: it gets an Envoy filter chain. */
  programmed: boolean;
  /** In precedence order (first wins). */
  rules: GatewayRouteRule[];
}

export interface ListenerStatusInfo {
  name: string;
  supportedKinds: Array<{ group: string; kind: string }>;
  attachedRoutes: number;
  conditions: Condition[];
}

export interface GatewayInfo {
  key: string;
  namespace: string;
  name: string;
  /** Listeners with status Programmed (the translator serves only these), in spec order. */
  listeners: GatewayListenerInfo[];
  /** Status as the model sees it; the status writer overlays NACKs. */
  conditions: Condition[];
  listenerStatuses: ListenerStatusInfo[];
  addresses: Array<{ type: 'IPAddress' | 'Hostname'; value: string }>;
  /** The gateway's Service, when one is labelled for it. */
  addressService?: string;
  /** Every Service a rule or mirror sends to, and every Secret a listener names (valid or not). */
  serviceKeys: string[];
  secretKeys: string[];
  generation?: number;
}

export interface RouteStatusInfo {
  kind: RouteKind;
  namespace: string;
  name: string;
  /** One entry per parentRef that names a Gateway of ours. */
  parents: Array<{ parentRef: ParentReference; conditions: Condition[] }>;
}

export interface GatewayClassStatusInfo {
  name: string;
  conditions: Condition[];
}

export interface GatewayApiResolution {
  classes: GatewayClassStatusInfo[];
  gateways: GatewayInfo[];
  routes: RouteStatusInfo[];
  /** Every Service a route names and every Secret a listener names, attached or not: a change to
   * one of them can change the resolution; a change to any other cannot. */
  referencedServices: string[];
  referencedSecrets: string[];
}

export interface GatewayApiInput {
  classes: readonly GatewayClassObject[];
  gateways: readonly GatewayObject[];
  httpRoutes: readonly HTTPRouteObject[];
  grpcRoutes: readonly GRPCRouteObject[];
  grants: readonly ReferenceGrantObject[];
  service(key: string): ServiceInfo | undefined;
  /** The Services labelled gateway.networking.k8s.io/gateway-name (the gateways' own Services). */
  gatewayServices(): readonly ServiceInfo[];
  tlsCertificate(namespace: string, name: string): TlsCertificate;
  /** A Namespace's labels; undefined when it is not known (not read, or absent). */
  namespaceLabels(namespace: string): Record<string, string> | undefined;
}

// ---- helpers --------------------------------------------------------------------------------------

function creationTime(timestamp: string | undefined): number | undefined {
  if (timestamp === undefined) return undefined;
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Whether a ReferenceGrant in `toNamespace` lets `fromKind` objects of `fromNamespace` refer to `toKind` `toName`. */
function granted(
  grants: readonly ReferenceGrantObject[],
  fromKind: string,
  fromNamespace: string,
  toGroup: string,
  toKind: string,
  toNamespace: string,
  toName: string,
): boolean {
  return grants.some(
    (grant) =>
      (grant.metadata.namespace ?? 'default') === toNamespace &&
      grant.spec.from.some((from) => from.group === GROUP && from.kind === fromKind && from.namespace === fromNamespace) &&
      grant.spec.to.some((to) => to.group === toGroup && to.kind === toKind && (to.name === undefined || to.name === toName)),
  );
}

/**
 * The hostnames a route serves on a listener (Gateway API's intersection): both unset is any host;
 * a wildcard `*.example.com` matches any name ending in `.example.com`; of two overlapping names
 * the more specific is kept. Empty when they do not meet.
 */
export function intersectHostnames(listenerHost: string | undefined, routeHosts: readonly string[]): string[] {
  if (listenerHost === undefined) return routeHosts.length ? [...new Set(routeHosts)] : ['*'];
  if (routeHosts.length === 0) return [listenerHost];
  const covers = (wildcard: string, host: string) =>
    wildcard.startsWith('*.') && host.endsWith(wildcard.slice(1)) && host !== wildcard.slice(2);
  const result = new Set<string>();
  for (const host of routeHosts) {
    if (host === listenerHost || covers(listenerHost, host)) result.add(host);
    else if (covers(host, listenerHost)) result.add(listenerHost);
  }
  return [...result];
}

type BackendCheck = { ok: true; backend: GatewayBackend } | { ok: false; reason: string; message: string };

function checkBackend(
  input: GatewayApiInput,
  ref: BackendObjectReference & { weight?: number },
  routeKind: RouteKind,
  routeNamespace: string,
  field: string,
): BackendCheck {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if (group !== '' || kind !== 'Service') {
    return {
      ok: false,
      reason: 'InvalidKind',
      message: `${field}: ${group ? `${group}/` : ''}${kind} is not a kind Switchyard routes to; name a Service`,
    };
  }
  const namespace = ref.namespace ?? routeNamespace;
  if (namespace !== routeNamespace && !granted(input.grants, routeKind, routeNamespace, '', 'Service', namespace, ref.name)) {
    return {
      ok: false,
      reason: 'RefNotPermitted',
      message: `${field}: Service ${namespace}/${ref.name} is in another namespace and no ReferenceGrant in ${namespace} allows ${routeKind}s from ${routeNamespace} to refer to it`,
    };
  }
  const serviceKey = objectKey(namespace, ref.name);
  const service = input.service(serviceKey);
  if (!service) return { ok: false, reason: 'BackendNotFound', message: `${field}: Service ${serviceKey} not found` };
  const port = service.ports.find((p) => p.port === ref.port);
  if (!port) {
    const have = service.ports.map((p) => p.port).join(', ') || 'none';
    return {
      ok: false,
      reason: 'BackendNotFound',
      message: `${field}.port: Service ${serviceKey} has no TCP port ${ref.port}; its ports: ${have}`,
    };
  }
  if (routeKind === 'GRPCRoute' && port.protocol !== 'grpc' && port.protocol !== 'http2') {
    return {
      ok: false,
      reason: 'UnsupportedProtocol',
      message: `${field}: port ${port.port} of Service ${serviceKey} does not speak HTTP/2; set its appProtocol to kubernetes.io/h2c (or grpc)`,
    };
  }
  return { ok: true, backend: { serviceKey, port: port.port, weight: ref.weight ?? 1 } };
}

function headerModifier(spec: {
  set?: Array<{ name: string; value: string }>;
  add?: Array<{ name: string; value: string }>;
  remove?: string[];
}): HeaderModifier {
  return { set: [...(spec.set ?? [])], add: [...(spec.add ?? [])], remove: [...(spec.remove ?? [])] };
}

interface RefProblem {
  reason: string;
  message: string;
}

/** A rule's filters, resolved; problems with mirrors' backends are collected. ExtensionRef is not supported. */
function ruleFilters(
  input: GatewayApiInput,
  filters: readonly HTTPRouteFilterSpec[] | undefined,
  routeKind: RouteKind,
  namespace: string,
  field: string,
  problems: RefProblem[],
): { filters: GatewayRuleFilters; unsupported?: string } {
  const result: GatewayRuleFilters = { mirrors: [] };
  let unsupported: string | undefined;
  (filters ?? []).forEach((filter, f) => {
    const at = `${field}.filters[${f}]`;
    switch (filter.type) {
      case 'RequestHeaderModifier':
        if (filter.requestHeaderModifier) result.requestHeaders = headerModifier(filter.requestHeaderModifier);
        break;
      case 'ResponseHeaderModifier':
        if (filter.responseHeaderModifier) result.responseHeaders = headerModifier(filter.responseHeaderModifier);
        break;
      case 'RequestRedirect': {
        const redirect = filter.requestRedirect ?? {};
        const path = redirect.path;
        result.redirect = {
          ...(redirect.scheme !== undefined ? { scheme: redirect.scheme } : {}),
          ...(redirect.hostname !== undefined ? { hostname: redirect.hostname } : {}),
          ...(redirect.port !== undefined ? { port: redirect.port } : {}),
          statusCode: redirect.statusCode ?? 302,
          ...(path
            ? {
                path: { type: path.type, value: (path.type === 'ReplaceFullPath' ? path.replaceFullPath : path.replacePrefixMatch) ?? '/' },
              }
            : {}),
        };
        break;
      }
      case 'URLRewrite': {
        const rewrite = filter.urlRewrite ?? {};
        const path = rewrite.path;
        result.rewrite = {
          ...(rewrite.hostname !== undefined ? { hostname: rewrite.hostname } : {}),
          ...(path
            ? {
                path: { type: path.type, value: (path.type === 'ReplaceFullPath' ? path.replaceFullPath : path.replacePrefixMatch) ?? '/' },
              }
            : {}),
        };
        break;
      }
      case 'RequestMirror': {
        if (!filter.requestMirror) break;
        const check = checkBackend(input, filter.requestMirror.backendRef, routeKind, namespace, `${at}.requestMirror.backendRef`);
        if (check.ok) result.mirrors.push(check.backend);
        else problems.push(check);
        break;
      }
      default:
        unsupported ??= `${at}.type: ${filter.type} filters are not supported by Switchyard`;
    }
  });
  return { filters: result, ...(unsupported ? { unsupported } : {}) };
}

/** Kubernetes label selector semantics; an empty selector selects every namespace. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const expression of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, expression.key);
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (!has || !values.includes(labels[expression.key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[expression.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

// ---- routes -----------------------------------------------------------------------------------

/** One rule's matches and resolution, before attachment to listeners. */
interface PreparedRule {
  ruleIndex: number;
  matches: GatewayRouteMatch[];
  filters: GatewayRuleFilters;
  backends: GatewayBackend[];
  invalidWeight: number;
  requestTimeoutMs?: number;
  backendRequestTimeoutMs?: number;
}

interface PreparedRoute {
  kind: RouteKind;
  namespace: string;
  name: string;
  key: string;
  created?: number;
  generation?: number;
  hostnames: string[];
  parentRefs: ParentReference[];
  rules: PreparedRule[];
  /** ResolvedRefs: the first failing reason, and every message. */
  refProblems: RefProblem[];
  /** A value Switchyard cannot serve (an ExtensionRef filter): the route is not accepted. */
  unsupported?: string;
  serviceKeys: Set<string>;
}

function httpMatches(route: HTTPRouteObject['spec']['rules'] extends Array<infer R> | undefined ? R : never): GatewayRouteMatch[] {
  const matches = route.matches?.length ? route.matches : [{}];
  return matches.map((match) => {
    const type = match.path?.type ?? 'PathPrefix';
    const value = match.path?.value ?? '/';
    const path: GatewayPathMatch =
      type === 'Exact'
        ? { kind: 'exact', value }
        : type === 'RegularExpression'
          ? { kind: 'regex', value }
          : { kind: 'pathPrefix', value: value.replace(/\/+$/, '') || '/' };
    return {
      path,
      headers: (match.headers ?? []).map((h) =>
        h.type === 'RegularExpression'
          ? { kind: 'regex' as const, name: h.name.toLowerCase(), value: h.value }
          : { kind: 'exact' as const, name: h.name.toLowerCase(), value: h.value },
      ),
      queryParams: (match.queryParams ?? []).map((q) => ({
        kind: q.type === 'RegularExpression' ? ('regex' as const) : ('exact' as const),
        name: q.name,
        value: q.value,
      })),
      ...(match.method !== undefined ? { method: match.method } : {}),
    };
  });
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** gRPC matches as paths: `/<service>/<method>`; only a service: its prefix; only a method: a pattern. */
function grpcMatches(rule: NonNullable<GRPCRouteObject['spec']['rules']>[number]): GatewayRouteMatch[] {
  const matches = rule.matches?.length ? rule.matches : [{}];
  return matches.map((match) => {
    const method = match.method;
    let path: GatewayPathMatch = { kind: 'prefix', value: '/' };
    if (method) {
      const regex = method.type === 'RegularExpression';
      const service = method.service;
      const name = method.method;
      if (!regex && service !== undefined && name !== undefined) path = { kind: 'exact', value: `/${service}/${name}` };
      else if (!regex && service !== undefined) path = { kind: 'prefix', value: `/${service}/` };
      else if (!regex) path = { kind: 'regex', value: `/[^/]+/${escapeRegex(name ?? '')}` };
      else path = { kind: 'regex', value: `/${service ?? '[^/]+'}/${name ?? '[^/]+'}` };
    }
    return {
      path,
      headers: (match.headers ?? []).map((h) =>
        h.type === 'RegularExpression'
          ? { kind: 'regex' as const, name: h.name.toLowerCase(), value: h.value }
          : { kind: 'exact' as const, name: h.name.toLowerCase(), value: h.value },
      ),
      queryParams: [],
    };
  });
}

function prepareRoute(input: GatewayApiInput, route: HTTPRouteObject | GRPCRouteObject): PreparedRoute {
  const kind = route.kind;
  const namespace = route.metadata.namespace ?? 'default';
  const name = route.metadata.name;
  const refProblems: RefProblem[] = [];
  const serviceKeys = new Set<string>();
  let unsupported: string | undefined;
  // No rules: the CRD's default, one rule matching every path (and, with no backend, answering 500).
  const specRules = (route.spec.rules ?? [{}]) as NonNullable<HTTPRouteObject['spec']['rules']>;
  const rules: PreparedRule[] = specRules.map((rule, ruleIndex) => {
    const field = `spec.rules[${ruleIndex}]`;
    const resolved = ruleFilters(input, rule.filters, kind, namespace, field, refProblems);
    unsupported ??= resolved.unsupported;
    const backends: GatewayBackend[] = [];
    let invalidWeight = 0;
    ((rule.backendRefs ?? []) as RouteBackendRef[]).forEach((ref, b) => {
      const at = `${field}.backendRefs[${b}]`;
      if ((ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service')
        serviceKeys.add(objectKey(ref.namespace ?? namespace, ref.name));
      if (ref.filters?.length)
        unsupported ??= `${at}.filters: filters on a backendRef are not supported by Switchyard; put them on the rule`;
      const check = checkBackend(input, ref, kind, namespace, at);
      if (!check.ok) {
        refProblems.push(check);
        invalidWeight += ref.weight ?? 1;
        return;
      }
      if (check.backend.weight > 0) backends.push(check.backend);
    });
    for (const mirror of resolved.filters.mirrors) serviceKeys.add(mirror.serviceKey);
    for (const filter of rule.filters ?? []) {
      const mirrorRef = filter.requestMirror?.backendRef;
      if (mirrorRef) serviceKeys.add(objectKey(mirrorRef.namespace ?? namespace, mirrorRef.name));
    }
    const timeouts = kind === 'HTTPRoute' ? (rule as { timeouts?: { request?: string; backendRequest?: string } }).timeouts : undefined;
    return {
      ruleIndex,
      matches: kind === 'HTTPRoute' ? httpMatches(rule as never) : grpcMatches(rule as never),
      filters: resolved.filters,
      backends,
      invalidWeight,
      ...(timeouts?.request !== undefined ? { requestTimeoutMs: durationMs(timeouts.request) } : {}),
      ...(timeouts?.backendRequest !== undefined ? { backendRequestTimeoutMs: durationMs(timeouts.backendRequest) } : {}),
    };
  });
  const created = creationTime(route.metadata.creationTimestamp);
  return {
    kind,
    namespace,
    name,
    key: objectKey(namespace, name),
    ...(created !== undefined ? { created } : {}),
    ...(route.metadata.generation !== undefined ? { generation: route.metadata.generation } : {}),
    hostnames: [...(route.spec.hostnames ?? [])],
    parentRefs: [...(route.spec.parentRefs ?? [])],
    rules,
    refProblems,
    ...(unsupported ? { unsupported } : {}),
    serviceKeys,
  };
}

// ---- precedence -------------------------------------------------------------------------------

const PATH_RANK: Record<GatewayPathMatch['kind'], number> = { exact: 0, regex: 1, pathPrefix: 2, prefix: 2 };

/**
 * The specification's order between two rule matches on one listener (negative: a first): Exact
 * paths, then (our choice where the specification leaves it open) regular expressions, then
 * prefixes, longer values first; then a method match; more header matches; more query
 * parameter matches; then the older route; then the route's namespace/name; then rule and match order.
 */
export function comparePrecedence(a: GatewayRouteRule, b: GatewayRouteRule): number {
  const byKind = PATH_RANK[a.match.path.kind] - PATH_RANK[b.match.path.kind];
  if (byKind !== 0) return byKind;
  if (a.match.path.value.length !== b.match.path.value.length) return b.match.path.value.length - a.match.path.value.length;
  const methodA = a.match.method !== undefined ? 0 : 1;
  const methodB = b.match.method !== undefined ? 0 : 1;
  if (methodA !== methodB) return methodA - methodB;
  if (a.match.headers.length !== b.match.headers.length) return b.match.headers.length - a.match.headers.length;
  if (a.match.queryParams.length !== b.match.queryParams.length) return b.match.queryParams.length - a.match.queryParams.length;
  if (a.created !== b.created) {
    if (a.created === undefined) return 1;
    if (b.created === undefined) return -1;
    return a.created - b.created;
  }
  const byRoute = compare(a.routeKey, b.routeKey) || compare(a.routeKind, b.routeKind);
  if (byRoute !== 0) return byRoute;
  return a.ruleIndex - b.ruleIndex || a.matchIndex - b.matchIndex;
}

// ---- gateways ---------------------------------------------------------------------------------

interface ListenerWork {
  spec: GatewayListenerSpec;
  accepted: { ok: boolean; reason: string; message: string };
  conflicted?: { reason: string; message: string };
  resolvedRefs: { ok: boolean; reason: string; message: string };
  supportedKinds: RouteKind[];
  certificates: Array<{ namespace: string; name: string }>;
  rules: GatewayRouteRule[];
  attachedRoutes: Set<string>;
}

function listenerWork(
  input: GatewayApiInput,
  gateway: GatewayObject,
  spec: GatewayListenerSpec,
  index: number,
  secretKeys: Set<string>,
): ListenerWork {
  const namespace = gateway.metadata.namespace ?? 'default';
  const at = `spec.listeners[${index}]`;
  const work: ListenerWork = {
    spec,
    accepted: { ok: true, reason: 'Accepted', message: 'the listener is valid' },
    resolvedRefs: { ok: true, reason: 'ResolvedRefs', message: 'every reference resolves' },
    supportedKinds: [],
    certificates: [],
    rules: [],
    attachedRoutes: new Set(),
  };
  if (spec.protocol !== 'HTTP' && spec.protocol !== 'HTTPS') {
    work.accepted = {
      ok: false,
      reason: 'UnsupportedProtocol',
      message: `${at}.protocol: ${spec.protocol} is not supported by Switchyard (HTTP and HTTPS are)`,
    };
    return work;
  }
  if (spec.protocol === 'HTTPS' && spec.tls?.mode === 'Passthrough') {
    work.accepted = {
      ok: false,
      reason: 'UnsupportedProtocol',
      message: `${at}.tls.mode: Passthrough needs TLSRoute, which Switchyard does not serve; use Terminate`,
    };
    return work;
  }
  const kinds = spec.allowedRoutes?.kinds;
  if (kinds === undefined) work.supportedKinds = [...SUPPORTED_ROUTE_KINDS];
  else {
    const bad: string[] = [];
    for (const entry of kinds) {
      const known = (entry.group ?? GROUP) === GROUP && (SUPPORTED_ROUTE_KINDS as readonly string[]).includes(entry.kind);
      if (known) {
        if (!work.supportedKinds.includes(entry.kind as RouteKind)) work.supportedKinds.push(entry.kind as RouteKind);
      } else bad.push(`${entry.group ?? GROUP}/${entry.kind}`);
    }
    if (bad.length) {
      work.resolvedRefs = {
        ok: false,
        reason: 'InvalidRouteKinds',
        message: `${at}.allowedRoutes.kinds: ${bad.join(', ')} not supported; Switchyard serves HTTPRoute and GRPCRoute`,
      };
    }
  }
  if (spec.protocol === 'HTTPS') {
    const problems: RefProblem[] = [];
    (spec.tls?.certificateRefs ?? []).forEach((ref, r) => {
      const field = `${at}.tls.certificateRefs[${r}]`;
      const secretNamespace = ref.namespace ?? namespace;
      if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret') {
        problems.push({ reason: 'InvalidCertificateRef', message: `${field}: only core Secrets can hold certificates` });
        return;
      }
      secretKeys.add(objectKey(secretNamespace, ref.name));
      if (secretNamespace !== namespace && !granted(input.grants, 'Gateway', namespace, '', 'Secret', secretNamespace, ref.name)) {
        problems.push({
          reason: 'RefNotPermitted',
          message: `${field}: Secret ${secretNamespace}/${ref.name} is in another namespace and no ReferenceGrant in ${secretNamespace} allows Gateways from ${namespace} to refer to it`,
        });
        return;
      }
      const certificate = input.tlsCertificate(secretNamespace, ref.name);
      if (!certificate.ok) {
        problems.push({ reason: 'InvalidCertificateRef', message: `${field}: ${certificate.error}` });
        return;
      }
      work.certificates.push({ namespace: secretNamespace, name: ref.name });
    });
    if ((spec.tls?.certificateRefs ?? []).length === 0) {
      problems.push({
        reason: 'InvalidCertificateRef',
        message: `${at}.tls.certificateRefs: an HTTPS listener needs a kubernetes.io/tls Secret`,
      });
    }
    if (problems.length && work.resolvedRefs.ok) {
      work.resolvedRefs = { ok: false, reason: problems[0].reason, message: problems.map((p) => p.message).join('; ') };
    }
  }
  return work;
}

/** Listeners sharing a port: different protocols, or one hostname twice, conflict. */
function markConflicts(listeners: ListenerWork[]): void {
  const byPort = new Map<number, ListenerWork[]>();
  for (const work of listeners) {
    if (!work.accepted.ok) continue;
    const list = byPort.get(work.spec.port) ?? [];
    list.push(work);
    byPort.set(work.spec.port, list);
  }
  for (const [port, list] of byPort) {
    const protocols = new Set(list.map((w) => w.spec.protocol));
    if (protocols.size > 1) {
      for (const work of list) {
        work.conflicted = {
          reason: 'ProtocolConflict',
          message: `port ${port} is claimed by listeners of protocols ${[...protocols].sort().join(' and ')}`,
        };
      }
      continue;
    }
    const byHost = new Map<string, ListenerWork[]>();
    for (const work of list) {
      const host = work.spec.hostname ?? '';
      byHost.set(host, [...(byHost.get(host) ?? []), work]);
    }
    for (const [host, same] of byHost) {
      if (same.length < 2) continue;
      for (const work of same) {
        work.conflicted = {
          reason: 'HostnameConflict',
          message: `listeners ${same.map((w) => w.spec.name).join(', ')} all serve ${host || 'every hostname'} on port ${port}`,
        };
      }
    }
  }
}

function listenerProgrammed(work: ListenerWork): boolean {
  return work.accepted.ok && !work.conflicted && (work.spec.protocol !== 'HTTPS' || work.certificates.length > 0);
}

/** The addresses of the Service labelled for this Gateway (the rule the Ingress status uses). */
function gatewayAddresses(
  input: GatewayApiInput,
  namespace: string,
  name: string,
): { service?: string; addresses: GatewayInfo['addresses'] } {
  const service = input.gatewayServices().find((s) => s.namespace === namespace && s.object.metadata.labels?.[GATEWAY_NAME_LABEL] === name);
  if (!service) return { addresses: [] };
  const object = service.object as ServiceObject & {
    spec: { externalIPs?: string[]; clusterIPs?: string[] };
    status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
  };
  const spec = object.spec;
  const values: string[] = [];
  if (spec.type === 'LoadBalancer') {
    for (const entry of object.status?.loadBalancer?.ingress ?? []) {
      const value = entry.ip ?? entry.hostname;
      if (value) values.push(value);
    }
  } else if (spec.externalIPs?.length) values.push(...spec.externalIPs);
  else
    values.push(
      ...(spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip !== 'None' && ip !== ''),
    );
  return {
    service: service.key,
    addresses: values.map((value) => ({ type: /^[0-9.]+$|:/.test(value) ? ('IPAddress' as const) : ('Hostname' as const), value })),
  };
}

// ---- the whole resolution -----------------------------------------------------------------------

export function resolveGatewayApi(input: GatewayApiInput): GatewayApiResolution {
  const ourClasses = input.classes.filter((c) => c.spec.controllerName === GATEWAY_CONTROLLER);
  const classNames = new Set(ourClasses.map((c) => c.metadata.name));
  const classes = ourClasses
    .map((c) => ({
      name: c.metadata.name,
      conditions: [statusCondition('Accepted', true, 'Accepted', `handled by ${GATEWAY_CONTROLLER}`, c.metadata.generation)],
    }))
    .sort((a, b) => compare(a.name, b.name));

  const gatewayObjects = input.gateways
    .filter((g) => classNames.has(g.spec.gatewayClassName))
    .sort((a, b) =>
      compare(objectKey(a.metadata.namespace ?? 'default', a.metadata.name), objectKey(b.metadata.namespace ?? 'default', b.metadata.name)),
    );
  const works = new Map<string, { gateway: GatewayObject; listeners: ListenerWork[]; secretKeys: Set<string>; serviceKeys: Set<string> }>();
  for (const gateway of gatewayObjects) {
    const secretKeys = new Set<string>();
    const listeners = gateway.spec.listeners.map((listener, i) => listenerWork(input, gateway, listener, i, secretKeys));
    markConflicts(listeners);
    works.set(objectKey(gateway.metadata.namespace ?? 'default', gateway.metadata.name), {
      gateway,
      listeners,
      secretKeys,
      serviceKeys: new Set(),
    });
  }

  const routes: RouteStatusInfo[] = [];
  const prepared = [...input.httpRoutes, ...input.grpcRoutes].map((route) => prepareRoute(input, route));
  prepared.sort((a, b) => compare(a.kind, b.kind) || compare(a.key, b.key));
  for (const route of prepared) {
    const status: RouteStatusInfo = { kind: route.kind, namespace: route.namespace, name: route.name, parents: [] };
    for (const parentRef of route.parentRefs) {
      if ((parentRef.group ?? GROUP) !== GROUP || (parentRef.kind ?? 'Gateway') !== 'Gateway') continue;
      const gatewayKey = objectKey(parentRef.namespace ?? route.namespace, parentRef.name);
      const work = works.get(gatewayKey);
      if (!work) continue; // not a Gateway of ours: its controller reports on it
      const generation = route.generation;
      const conditions: Condition[] = [];
      status.parents.push({ parentRef, conditions });
      const accepted = attach(input, route, work.listeners, work.gateway, parentRef);
      if (accepted.ok) for (const key of route.serviceKeys) work.serviceKeys.add(key);
      conditions.push(statusCondition('Accepted', accepted.ok, accepted.reason, accepted.message, generation));
      if (route.refProblems.length) {
        conditions.push(
          statusCondition(
            'ResolvedRefs',
            false,
            route.refProblems[0].reason,
            route.refProblems.map((p) => p.message).join('; '),
            generation,
          ),
        );
      } else {
        conditions.push(statusCondition('ResolvedRefs', true, 'ResolvedRefs', 'every backend reference resolves', generation));
      }
    }
    if (status.parents.length) routes.push(status);
  }

  const gateways: GatewayInfo[] = [];
  for (const [key, work] of works) {
    const { gateway, listeners } = work;
    const generation = gateway.metadata.generation;
    const namespace = gateway.metadata.namespace ?? 'default';
    const listenerStatuses: ListenerStatusInfo[] = listeners.map((l) => {
      const programmed = listenerProgrammed(l);
      return {
        name: l.spec.name,
        supportedKinds: l.supportedKinds.map((kind) => ({ group: GROUP, kind })),
        attachedRoutes: l.attachedRoutes.size,
        conditions: [
          statusCondition('Accepted', l.accepted.ok, l.accepted.reason, l.accepted.message, generation),
          l.conflicted
            ? statusCondition('Conflicted', true, l.conflicted.reason, l.conflicted.message, generation)
            : statusCondition('Conflicted', false, 'NoConflicts', 'no other listener claims this port and hostname', generation),
          statusCondition('ResolvedRefs', l.resolvedRefs.ok, l.resolvedRefs.reason, l.resolvedRefs.message, generation),
          programmed
            ? statusCondition('Programmed', true, 'Programmed', `served on port ${l.spec.port}`, generation)
            : statusCondition('Programmed', false, 'Invalid', 'not served: see the other conditions', generation),
        ],
      };
    });
    const programmedCount = listeners.filter(listenerProgrammed).length;
    const invalid = listeners.filter((l) => !listenerProgrammed(l)).map((l) => l.spec.name);
    const address = gatewayAddresses(input, namespace, gateway.metadata.name);
    gateways.push({
      key,
      namespace,
      name: gateway.metadata.name,
      listeners: listeners.filter(listenerProgrammed).map((l) => ({
        name: l.spec.name,
        port: l.spec.port,
        protocol: l.spec.protocol as 'HTTP' | 'HTTPS',
        ...(l.spec.hostname !== undefined ? { hostname: l.spec.hostname } : {}),
        certificates: l.certificates,
        programmed: true,
        rules: [...l.rules].sort(comparePrecedence),
      })),
      conditions: [
        invalid.length === 0
          ? statusCondition('Accepted', true, 'Accepted', 'the Gateway is valid', generation)
          : statusCondition(
              'Accepted',
              programmedCount > 0,
              'ListenersNotValid',
              `listener${invalid.length > 1 ? 's' : ''} ${invalid.join(', ')} cannot be served; see status.listeners`,
              generation,
            ),
        programmedCount > 0
          ? statusCondition(
              'Programmed',
              true,
              'Programmed',
              `${programmedCount} listener${programmedCount > 1 ? 's' : ''} served to gateway proxies named ${key}`,
              generation,
            )
          : statusCondition('Programmed', false, 'Invalid', 'no listener can be served', generation),
      ],
      listenerStatuses,
      addresses: address.addresses,
      ...(address.service ? { addressService: address.service } : {}),
      serviceKeys: [...work.serviceKeys].sort(compare),
      secretKeys: [...work.secretKeys].sort(compare),
      ...(generation !== undefined ? { generation } : {}),
    });
  }
  const referencedServices = new Set(prepared.flatMap((route) => [...route.serviceKeys]));
  const referencedSecrets = new Set(gateways.flatMap((gateway) => gateway.secretKeys));
  return {
    classes,
    gateways,
    routes,
    referencedServices: [...referencedServices].sort(compare),
    referencedSecrets: [...referencedSecrets].sort(compare),
  };
}

/**
 * Attaches a route to the listeners of one parentRef: those the sectionName and port select,
 * that allow the route's namespace and kind, and whose hostname meets the route's. Adds the
 * rules to each and says whether (and why not) the route was accepted.
 */
function attach(
  input: GatewayApiInput,
  route: PreparedRoute,
  listeners: ListenerWork[],
  gateway: GatewayObject,
  parentRef: ParentReference,
): { ok: boolean; reason: string; message: string } {
  const gatewayNamespace = gateway.metadata.namespace ?? 'default';
  const selected = listeners.filter(
    (l) =>
      (parentRef.sectionName === undefined || l.spec.name === parentRef.sectionName) &&
      (parentRef.port === undefined || l.spec.port === parentRef.port),
  );
  const gatewayName = `Gateway ${gatewayNamespace}/${gateway.metadata.name}`;
  if (selected.length === 0) {
    const what = [
      parentRef.sectionName !== undefined ? `named ${parentRef.sectionName}` : '',
      parentRef.port !== undefined ? `on port ${parentRef.port}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    return { ok: false, reason: 'NoMatchingParent', message: `${gatewayName} has no listener ${what}` };
  }
  if (route.unsupported) return { ok: false, reason: 'UnsupportedValue', message: route.unsupported };
  const allowed = selected.filter((l) => {
    const namespaces = l.spec.allowedRoutes?.namespaces;
    const from = namespaces?.from ?? 'Same';
    const namespaceOk =
      from === 'All' ||
      (from === 'Same' && route.namespace === gatewayNamespace) ||
      (from === 'Selector' && selectorMatches(namespaces?.selector ?? {}, input.namespaceLabels(route.namespace) ?? {}));
    return namespaceOk && l.supportedKinds.includes(route.kind);
  });
  if (allowed.length === 0) {
    const selectors = selected.some((l) => l.spec.allowedRoutes?.namespaces?.from === 'Selector');
    const unknown = selectors && input.namespaceLabels(route.namespace) === undefined;
    return {
      ok: false,
      reason: 'NotAllowedByListeners',
      message:
        `no listener of ${gatewayName} allows ${route.kind}s from namespace ${route.namespace}` +
        (unknown ? ` (the labels of namespace ${route.namespace} are not known, so no namespace selector matches it)` : ''),
    };
  }
  let attached = 0;
  let hostnameMet = false;
  const notReady: string[] = [];
  for (const listener of allowed) {
    const hostnames = intersectHostnames(listener.spec.hostname, route.hostnames);
    if (hostnames.length === 0) continue;
    hostnameMet = true;
    if (!listenerProgrammed(listener)) {
      notReady.push(listener.spec.name);
      continue;
    }
    attached++;
    listener.attachedRoutes.add(`${route.kind}/${route.key}`);
    for (const rule of route.rules) {
      rule.matches.forEach((match, matchIndex) => {
        listener.rules.push({
          routeKind: route.kind,
          routeKey: route.key,
          ruleIndex: rule.ruleIndex,
          matchIndex,
          hostnames: [...hostnames].sort(compare),
          match,
          filters: rule.filters,
          backends: rule.backends,
          invalidWeight: rule.invalidWeight,
          ...(rule.requestTimeoutMs !== undefined ? { requestTimeoutMs: rule.requestTimeoutMs } : {}),
          ...(rule.backendRequestTimeoutMs !== undefined ? { backendRequestTimeoutMs: rule.backendRequestTimeoutMs } : {}),
          ...(route.created !== undefined ? { created: route.created } : {}),
        });
      });
    }
  }
  if (!hostnameMet) {
    return {
      ok: false,
      reason: 'NoMatchingListenerHostname',
      message: `none of the route's hostnames (${route.hostnames.join(', ')}) matches a listener of ${gatewayName} it may attach to`,
    };
  }
  if (attached === 0) {
    return {
      ok: false,
      reason: 'NoMatchingParent',
      message: `listener${notReady.length > 1 ? 's' : ''} ${notReady.join(', ')} of ${gatewayName} cannot be served; see the Gateway's status`,
    };
  }
  return { ok: true, reason: 'Accepted', message: `attached to ${attached} listener${attached > 1 ? 's' : ''} of ${gatewayName}` };
}
