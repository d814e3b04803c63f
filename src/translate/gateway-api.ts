// Gateway API gateways: a Gateway of our class (resolved by the model: listeners, attached rules
// in precedence order) becomes, for the gateway proxies that name it `<namespace>/<name>`, one
// Envoy listener per port (HTTP: one chain; HTTPS: one chain per Gateway listener, matched by SNI,
// certificates over SDS), one route configuration per port (a virtual host per hostname), and
// only the clusters, endpoints and secrets those use. Clusters come from the mesh's cluster
// builder, so a backend Service's TrafficPolicy (balancing, health checks, circuit breaking)
// applies; its route-level parts (hashing, retries, timeout) are carried onto the rule's route.
import {
  compare,
  comparePrecedence,
  protoDuration,
  type GatewayInfo,
  type GatewayListenerInfo,
  type GatewayRouteRule,
  type HeaderModifier,
  type MeshModel,
} from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { routedClusters } from './gateway-clusters.js';
import { clusterName, gatewayListenerName } from './names.js';
import { translateOptions, type TranslateOptions } from './options.js';
import { headerMatchers, serviceRoutes, sortByName } from './routes.js';
import { buildTlsSecret } from './secrets.js';
import { gatewayConnectionManager, GATEWAY_SHAPE } from './gateway-hcm.js';
import { perFilterConfig, routeRateLimit, usesRateLimit } from './rate-limit.js';
import { DOWNSTREAM_TLS_TYPE, TLS_INSPECTOR_FILTER } from './envoy-filters.js';

export interface GatewayApiResources {
  clusters: XdsResource[];
  endpoints: XdsResource[];
  routes: XdsResource[];
  listeners: XdsResource[];
  secrets: XdsResource[];
  problems: string[];
  usedServices: string[];
  usedSecrets: string[];
}

/** A gateway name that names a Gateway API Gateway (`<namespace>/<name>`) rather than an Ingress gateway. */
export function isGatewayApiName(gatewayName: string): boolean {
  return gatewayName.includes('/');
}

// ---- matches --------------------------------------------------------------------------------------

function routeMatch(rule: GatewayRouteRule): Record<string, unknown> {
  const { path, headers, queryParams, method } = rule.match;
  const match: Record<string, unknown> =
    path.kind === 'exact'
      ? { path: path.value }
      : path.kind === 'regex'
        ? { safeRegex: { regex: path.value } }
        : path.kind === 'pathPrefix' && path.value !== '/'
          ? { pathSeparatedPrefix: path.value }
          : { prefix: path.value };
  const headerList = headerMatchers(headers, GATEWAY_SHAPE);
  if (method !== undefined) headerList.push({ name: ':method', stringMatch: { exact: method } });
  if (headerList.length) match.headers = headerList;
  if (queryParams.length) {
    match.queryParameters = queryParams.map((q) => ({
      name: q.name,
      stringMatch: q.kind === 'exact' ? { exact: q.value } : { safeRegex: { regex: q.value } },
    }));
  }
  if (rule.routeKind === 'GRPCRoute') match.grpc = {};
  return match;
}

// ---- filters --------------------------------------------------------------------------------------

function headerEdits(modifier: HeaderModifier | undefined, direction: 'request' | 'response'): Record<string, unknown> {
  if (!modifier) return {};
  const add = [
    ...modifier.set.map((h) => ({ header: { key: h.name, value: h.value }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...modifier.add.map((h) => ({ header: { key: h.name, value: h.value }, appendAction: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
  return {
    ...(add.length ? { [`${direction}HeadersToAdd`]: add } : {}),
    ...(modifier.remove.length ? { [`${direction}HeadersToRemove`]: modifier.remove } : {}),
  };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A path replacement: ReplaceFullPath swaps the whole path; ReplacePrefixMatch swaps the matched
 * prefix (a replacement of "/" must not leave "//" behind, hence the pattern).
 */
function pathRewrite(
  rule: GatewayRouteRule,
  path: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string },
): Record<string, unknown> {
  if (path.type === 'ReplaceFullPath') return { regexRewrite: { pattern: { regex: '^/.*$' }, substitution: path.value } };
  const prefix = rule.match.path.value;
  if (path.value === '/' && prefix !== '/') {
    return { regexRewrite: { pattern: { regex: `^${escapeRegex(prefix)}/*` }, substitution: '/' } };
  }
  return { prefixRewrite: path.value };
}

const WELL_KNOWN_PORTS: Record<string, number> = { http: 80, https: 443 };
const REDIRECT_CODES: Record<number, string> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

function redirectAction(rule: GatewayRouteRule): Record<string, unknown> {
  const redirect = rule.filters.redirect!;
  const port = redirect.port ?? (redirect.scheme ? WELL_KNOWN_PORTS[redirect.scheme] : undefined);
  const path = redirect.path ? pathRewrite(rule, redirect.path) : {};
  // A redirect's path uses path_redirect for a full replacement.
  const pathFields = redirect.path?.type === 'ReplaceFullPath' ? { pathRedirect: redirect.path.value } : path;
  return {
    ...(redirect.scheme ? { schemeRedirect: redirect.scheme } : {}),
    ...(redirect.hostname ? { hostRedirect: redirect.hostname } : {}),
    // Without a port, a new scheme brings its well-known port (Envoy leaves 80 / 443 out of Location).
    ...(port !== undefined ? { portRedirect: port } : {}),
    ...pathFields,
    responseCode: REDIRECT_CODES[redirect.statusCode] ?? 'FOUND',
  };
}

// ---- backends ---------------------------------------------------------------------------------------

/** What a backend's TrafficPolicy puts on routes (hashing, retries, timeout), without the destination. */
function policyRouteFields(model: MeshModel, serviceKey: string, port: number): Record<string, unknown> {
  const service = model.service(serviceKey);
  const servicePort = service?.ports.find((p) => p.port === port);
  if (!service || !servicePort) return {};
  const catchAll = serviceRoutes(model, service, servicePort, 'sidecar', GATEWAY_SHAPE).at(-1);
  const { cluster: _cluster, weightedClusters: _weighted, ...rest } = (catchAll?.action ?? {}) as Record<string, unknown>;
  return rest;
}

function forwardAction(model: MeshModel, rule: GatewayRouteRule): Record<string, unknown> {
  const weights = new Map<string, number>();
  for (const backend of rule.backends) {
    const name = clusterName(backend.serviceKey, backend.port);
    weights.set(name, (weights.get(name) ?? 0) + backend.weight);
  }
  const destination =
    weights.size === 1
      ? { cluster: [...weights.keys()][0] }
      : { weightedClusters: { clusters: [...weights.entries()].map(([name, weight]) => ({ name, weight: { value: weight } })) } };
  // The first backend's policy shapes the route (a split's backends share one route).
  const first = rule.backends[0];
  const action: Record<string, unknown> = { ...destination, ...policyRouteFields(model, first.serviceKey, first.port) };
  if (rule.requestTimeoutMs !== undefined) action.timeout = protoDuration(rule.requestTimeoutMs);
  if (rule.backendRequestTimeoutMs !== undefined && rule.backendRequestTimeoutMs > 0) {
    const retry = (action.retryPolicy as Record<string, unknown> | undefined) ?? {};
    action.retryPolicy = { ...retry, perTryTimeout: protoDuration(rule.backendRequestTimeoutMs) };
  }
  const rewrite = rule.filters.rewrite;
  if (rewrite?.hostname) action.hostRewriteLiteral = rewrite.hostname;
  if (rewrite?.path) Object.assign(action, pathRewrite(rule, rewrite.path));
  if (rule.filters.mirrors.length) {
    action.requestMirrorPolicies = rule.filters.mirrors.map((m) => ({ cluster: clusterName(m.serviceKey, m.port) }));
  }
  return action;
}

/**
 * The rate limit an Envoy route carries itself. A limit on its HTTPRoute or GRPCRoute beats one on its listener
 * (carried by the virtual host, which Envoy applies to routes without their own), which beats the
 * backend Service's TrafficPolicy limit.
 */
function ruleRateLimit(model: MeshModel, rule: GatewayRouteRule, listenerLimited: boolean): Record<string, unknown> {
  const attached = model.attachedRateLimit(rule.routeKind, rule.routeKey);
  if (attached) return perFilterConfig(`rate_limit_${rule.routeKind.toLowerCase()}_${rule.routeKey.replace('/', '_')}`, attached.limit);
  if (listenerLimited || rule.backends.length === 0 || rule.filters.redirect) return {};
  return routeRateLimit(model, rule.backends[0].serviceKey);
}

function envoyRoute(model: MeshModel, rule: GatewayRouteRule, listenerLimited: boolean, problems: string[]): Record<string, unknown> {
  const name = `${rule.routeKind}/${rule.routeKey}/rules/${rule.ruleIndex}/matches/${rule.matchIndex}`;
  const edits = { ...headerEdits(rule.filters.requestHeaders, 'request'), ...headerEdits(rule.filters.responseHeaders, 'response') };
  const base = { name, match: routeMatch(rule), ...edits, ...ruleRateLimit(model, rule, listenerLimited) };
  if (rule.filters.redirect) return { ...base, redirect: redirectAction(rule) };
  if (rule.backends.length === 0) {
    // No usable backend: the specification asks for HTTP 500.
    return { ...base, directResponse: { status: 500, body: { inlineString: 'no usable backend for this route: see the route status\n' } } };
  }
  if (rule.invalidWeight > 0) {
    problems.push(
      `${rule.routeKind} ${rule.routeKey}: spec.rules[${rule.ruleIndex}]: backends that cannot be used are left out; their share goes to the others`,
    );
  }
  return { ...base, route: forwardAction(model, rule) };
}

// ---- listeners ------------------------------------------------------------------------------------

/** How closely a listener's hostname matches a host: exact 3, a wildcard by its length, none 0; -1: no match. */
function listenerMatch(listenerHost: string | undefined, host: string): number {
  if (listenerHost === undefined) return 0;
  if (listenerHost === host) return Number.MAX_SAFE_INTEGER;
  if (listenerHost.startsWith('*.') && host.endsWith(listenerHost.slice(1)) && host !== listenerHost.slice(2)) return listenerHost.length;
  return -1;
}

/**
 * The virtual hosts of one port. A request goes to the listener whose hostname matches its host
 * most closely (exact, then the longest wildcard, then none), and only that listener's routes
 * apply: a host's virtual host gets the rules of that listener alone, in precedence order.
 */
function virtualHosts(
  model: MeshModel,
  gateway: GatewayInfo,
  listeners: GatewayListenerInfo[],
  problems: string[],
): Record<string, unknown>[] {
  const byHost = new Map<string, Array<{ listener: GatewayListenerInfo; rule: GatewayRouteRule }>>();
  for (const listener of listeners) {
    for (const rule of listener.rules) {
      for (const host of rule.hostnames) {
        const list = byHost.get(host) ?? [];
        list.push({ listener, rule });
        byHost.set(host, list);
      }
    }
  }
  const hosts = [...byHost.keys()].sort((a, b) => (a === '*' ? 1 : b === '*' ? -1 : compare(a, b)));
  return hosts.map((host) => {
    const owner = [...listeners].sort((a, b) => listenerMatch(b.hostname, host) - listenerMatch(a.hostname, host))[0];
    const rules = byHost
      .get(host)!
      .filter((entry) => entry.listener === owner)
      .map((entry) => entry.rule)
      .sort(comparePrecedence);
    // A limit on the owning listener (or, failing that, the whole Gateway) is the virtual host's.
    const listenerLimit = model.attachedRateLimit('Gateway', gateway.key, owner.name) ?? model.attachedRateLimit('Gateway', gateway.key);
    const seen = new Set<string>();
    const routes: Record<string, unknown>[] = [];
    for (const rule of rules) {
      const route = envoyRoute(model, rule, listenerLimit !== undefined, problems);
      // A rule attached to one listener through two parentRefs appears once.
      if (seen.has(route.name as string)) continue;
      seen.add(route.name as string);
      routes.push(route);
    }
    const limit = listenerLimit
      ? perFilterConfig(`rate_limit_listener_${gateway.namespace}_${gateway.name}_${owner.name}`, listenerLimit.limit)
      : {};
    return { name: host, domains: [host], routes, ...limit };
  });
}

/** Everything the gateway proxies naming Gateway `gatewayKey` (`<namespace>/<name>`) receive, each list sorted by name. */
export function translateGatewayApi(model: MeshModel, gatewayKey: string, overrides: Partial<TranslateOptions> = {}): GatewayApiResources {
  const options = translateOptions(overrides);
  const gateway: GatewayInfo | undefined = model.gatewayApiGateway(gatewayKey);
  const problems: string[] = [];
  if (!gateway) {
    return {
      clusters: [],
      endpoints: [],
      routes: [],
      listeners: [],
      secrets: [],
      problems: [`gateway ${gatewayKey}: no Gateway ${gatewayKey} of a GatewayClass naming switchyard.dev/gateway-controller`],
      usedServices: [],
      usedSecrets: [],
    };
  }
  const byPort = new Map<number, GatewayListenerInfo[]>();
  for (const listener of gateway.listeners) byPort.set(listener.port, [...(byPort.get(listener.port) ?? []), listener]);

  const routes: XdsResource[] = [];
  const listeners: XdsResource[] = [];
  const secrets = new Map<string, XdsResource>();
  for (const [port, group] of [...byPort.entries()].sort(([a], [b]) => a - b)) {
    const name = gatewayListenerName(gatewayKey, port);
    const https = group[0].protocol === 'HTTPS';
    const statPrefix = `gateway_${gateway.namespace}_${gateway.name}_${port}`;
    const config = { name, virtualHosts: virtualHosts(model, gateway, group, problems) };
    const rateLimited = usesRateLimit(config);
    const filterChains: Record<string, unknown>[] = [];
    if (!https) {
      filterChains.push({
        filters: [
          { name: 'envoy.filters.network.http_connection_manager', typedConfig: gatewayConnectionManager(statPrefix, name, rateLimited) },
        ],
      });
    } else {
      // Chains with a hostname first; the one without (if any) takes clients whose SNI no other names.
      const ordered = [...group].sort((a, b) =>
        a.hostname === undefined ? 1 : b.hostname === undefined ? -1 : compare(a.hostname, b.hostname),
      );
      for (const listener of ordered) {
        const configs: Record<string, unknown>[] = [];
        for (const certificate of listener.certificates) {
          const result = buildTlsSecret(model, certificate.namespace, certificate.name);
          if (!result.ok) continue; // the model checked it; a race with a Secret change is caught next flush
          secrets.set(result.resource.name, result.resource);
          configs.push({ name: result.resource.name, sdsConfig: { ads: {}, resourceApiVersion: 'V3' } });
        }
        if (configs.length === 0) continue;
        filterChains.push({
          name: `${name}/${listener.name}`,
          ...(listener.hostname !== undefined ? { filterChainMatch: { serverNames: [listener.hostname] } } : {}),
          transportSocket: {
            name: 'envoy.transport_sockets.tls',
            typedConfig: {
              '@type': DOWNSTREAM_TLS_TYPE,
              commonTlsContext: { tlsCertificateSdsSecretConfigs: configs, alpnProtocols: ['h2', 'http/1.1'] },
            },
          },
          filters: [
            { name: 'envoy.filters.network.http_connection_manager', typedConfig: gatewayConnectionManager(statPrefix, name, rateLimited) },
          ],
        });
      }
      if (filterChains.length === 0) continue;
    }
    routes.push({ typeUrl: TypeUrl.RouteConfiguration, name, value: config });
    listeners.push({
      typeUrl: TypeUrl.Listener,
      name,
      value: {
        name,
        address: { socketAddress: { address: options.gatewayAddress, portValue: port } },
        trafficDirection: 'INBOUND',
        ...(https ? { listenerFilters: [TLS_INSPECTOR_FILTER] } : {}),
        filterChains,
      },
    });
  }

  const { clusters, endpoints, serviceKeys } = routedClusters(model, routes, options);
  return {
    clusters: sortByName(clusters),
    endpoints: sortByName(endpoints),
    routes: sortByName(routes),
    listeners: sortByName(listeners),
    secrets: sortByName([...secrets.values()]),
    problems: [...new Set(problems)],
    usedServices: [...new Set([...gateway.serviceKeys, ...serviceKeys])].sort(compare),
    usedSecrets: gateway.secretKeys,
  };
}
