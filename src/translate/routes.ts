// Routes: the sidecars' RouteConfiguration per HTTP port (`80`: a virtual host per Service with an
// HTTP port 80) and, for proxyless gRPC, one RouteConfiguration per Service port (shared by its API listeners).
import { log } from '../log.js';
import {
  compare,
  protoDuration,
  DEFAULT_RETRY_ON,
  type MeshModel,
  type HeaderMatch,
  type PathMatch,
  type PolicyBackend,
  type PolicyRouteMatch,
  type ServiceAddress,
  type ServiceInfo,
  type ServicePolicy,
  type ServicePortInfo,
} from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { routeHashKeys, routeHashPolicies } from './lb-policy.js';
import { clusterName, isHttpPort, outboundRouteName, PASSTHROUGH_CLUSTER, proxylessRouteName, serviceHostNames } from './names.js';
import { servedShapeOf, type ProxyRole, type TranslateOptions } from './options.js';
import { baselineShape, type ServedShape } from '../clients/index.js';
import { RouteConfigurationWriter } from './route-config-bytes.js';
import { deepFreeze } from '../envoy/frozen.js';

/** The retry conditions gRPC clients implement (gRFC A44); others are dropped for proxyless. */
export const GRPC_RETRY_ON: ReadonlySet<string> = new Set([
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** The HTTP Service ports a sidecar reaches at their cluster IP, by port (the owners of their address only, in its scope). */
export function outboundHttpAddresses(model: MeshModel, reach?: ReadonlySet<string>): Map<number, ServiceAddress[]> {
  const byPort = new Map<number, ServiceAddress[]>();
  for (const address of model.addresses().owned) {
    if (address.headless || !isHttpPort(address.servicePort)) continue;
    if (reach && !reach.has(address.service.key)) continue;
    const list = byPort.get(address.port);
    if (list) list.push(address);
    else byPort.set(address.port, [address]);
  }
  return byPort;
}

/**
 * The sidecar route configuration of one port (named by it, e.g. `80`): a virtual host per HTTP
 * Service on that port, answering to its host names and its cluster IP, each with and without
 * `:port` (the port is implied by the configuration). Envoy rejects one domain in two virtual
 * hosts: short names (`reviews`) can clash across namespaces, and the first Service by key keeps
 * them. A Host no Service claims was still dialled at one of these cluster IPs: it goes on to it.
 */
export function buildOutboundRouteConfig(
  model: MeshModel,
  port: number,
  addresses: readonly ServiceAddress[],
  options: TranslateOptions,
): XdsResource {
  return new OutboundRouteConfig(model, port, addresses, options);
}

/**
 * A sidecar route configuration that writes its own bytes (`encode`, what the cache takes), one
 * virtual host at a time, and builds its plain object only when something reads `value` (tests,
 * render, the general path after a refusal). Both read the model as it is then, like any
 * translation: the pipeline encodes it in the flush that translated it.
 */
class OutboundRouteConfig implements XdsResource {
  readonly typeUrl = TypeUrl.RouteConfiguration;
  readonly name: string;
  private built: object | undefined;

  constructor(
    private readonly model: MeshModel,
    private readonly port: number,
    private readonly addresses: readonly ServiceAddress[],
    private readonly options: TranslateOptions,
  ) {
    this.name = outboundRouteName(port);
  }

  get value(): object {
    if (!this.built) {
      const virtualHosts: object[] = [];
      eachOutboundVirtualHost(this.model, this.port, this.addresses, this.options, (name, domains, routes) => {
        virtualHosts.push({ name, domains, routes });
        return true;
      });
      this.built = { name: this.name, virtualHosts };
    }
    return this.built;
  }

  encode(): Uint8Array | undefined {
    // A virtual host per address, and the passthrough host.
    const writer = new RouteConfigurationWriter(this.name, this.addresses.length + 1);
    eachOutboundVirtualHost(this.model, this.port, this.addresses, this.options, (name, domains, routes) =>
      writer.virtualHost(name, domains, routes),
    );
    return writer.finish();
  }

  /** As JSON, a resource like any other: its type, name and value. */
  toJSON(): XdsResource {
    return { typeUrl: this.typeUrl, name: this.name, value: this.value };
  }
}

/**
 * The virtual hosts of one port's sidecar route configuration, in order, each to `visit` (which
 * stops the walk by returning false), the catch-all `passthrough` host last.
 */
function eachOutboundVirtualHost(
  model: MeshModel,
  port: number,
  addresses: readonly ServiceAddress[],
  options: TranslateOptions,
  visit: (name: string, domains: string[], routes: Record<string, unknown>[]) => boolean,
): void {
  const claimed = new Set<string>();
  const suffix = `:${port}`;
  // With no ':' in any host, a domain with the port can only equal another with the port, and
  // `host:port` is taken exactly when `host` is: the set holds the bare hosts (half the entries;
  // 50,000 rather than 100,000 at 10,000 Services). An IPv6 address or an odd name: every domain.
  const colonFree =
    !options.clusterDomain.includes(':') &&
    addresses.every(({ service, ip }) => !ip.includes(':') && !service.name.includes(':') && !service.namespace.includes(':'));
  // With no '.' in any Service name or namespace either, only the short names can clash: each
  // `name.namespace`, `.svc` and `.svc.<domain>` names its own Service (split at the first two
  // dots), no other host has as many dots and the same labels (an IPv4 address has four numbers),
  // and the owned addresses are distinct (a Service has one per port). Only the short names are
  // claimed then: 10,000 rather than 50,000 at 10,000 Services.
  const onlyShortNamesClash =
    colonFree && addresses.every(({ service }) => !service.name.includes('.') && !service.namespace.includes('.'));
  const claim = (domain: string): boolean => {
    const claimedBefore = claimed.size;
    claimed.add(domain);
    return claimed.size > claimedBefore;
  };
  const shape = servedShapeOf('sidecar', options);
  for (const { service, servicePort, ip } of addresses) {
    const hosts = serviceHostNames(service, options);
    hosts.push(ip.includes(':') ? `[${ip}]` : ip);
    // Each host with the port, then each without; a domain another virtual host has is left out.
    const domains: string[] = [];
    const dropped: string[] = [];
    if (colonFree) {
      const kept: string[] = [];
      const left: string[] = [];
      // The short name first (serviceHostNames' order).
      for (let i = 0; i < hosts.length; i++) {
        const host = hosts[i];
        ((onlyShortNamesClash && i > 0) || claim(host) ? kept : left).push(host);
      }
      for (const host of kept) domains.push(host + suffix);
      domains.push(...kept);
      for (const host of left) dropped.push(host + suffix);
      dropped.push(...left);
    } else {
      for (const domain of [...hosts.map((host) => host + suffix), ...hosts]) (claim(domain) ? domains : dropped).push(domain);
    }
    for (const domain of dropped) log.debug('routes: domain already served by another virtual host', { domain, service: service.key });
    if (domains.length === 0) continue;
    if (!visit(clusterName(service.key, servicePort.port), domains, buildRoutes(model, service, servicePort, 'sidecar', shape))) return;
  }
  visit(PASSTHROUGH_CLUSTER, ['*'], [{ name: 'default', match: MATCH_EVERYTHING, route: { cluster: PASSTHROUGH_CLUSTER } }]);
}

/** The sidecar route configurations of these ports (every port when none are given); a port without HTTP Services has none. */
export function buildOutboundRouteConfigs(model: MeshModel, options: TranslateOptions, ports?: Iterable<number>): XdsResource[] {
  const byPort = outboundHttpAddresses(model, options.reach);
  const wanted = ports === undefined ? [...byPort.keys()] : [...new Set(ports)];
  return wanted
    .sort((a, b) => a - b)
    .flatMap((port) => {
      const addresses = byPort.get(port);
      return addresses ? [buildOutboundRouteConfig(model, port, addresses, options)] : [];
    });
}

/** Proxyless: one RouteConfiguration per HTTP Service port; gRPC matches domains against the target `host:port`. */
export function buildProxylessRouteConfigs(model: MeshModel, service: ServiceInfo, options: TranslateOptions): XdsResource[] {
  return service.ports.filter(isHttpPort).map((port) => {
    const name = proxylessRouteName(service, port, options);
    const hosts = serviceHostNames(service, options);
    const virtualHost = {
      name: clusterName(service.key, port.port),
      domains: [...hosts.map((h) => `${h}:${port.port}`), ...hosts],
      routes: buildRoutes(model, service, port, 'proxyless', servedShapeOf('proxyless', options)),
    };
    return { typeUrl: TypeUrl.RouteConfiguration, name, value: { name, virtualHosts: [virtualHost] } };
  });
}

/** One route of a Service port before it is rendered: the policy's match and the Envoy route action. */
interface ServiceRoute {
  /** `route-<i>` for the policy's routes, `default` for the catch-all. */
  name: string;
  match: PolicyRouteMatch;
  action: Record<string, unknown>;
}

const CATCH_ALL: PolicyRouteMatch = { path: { kind: 'prefix', value: '/' }, headers: [] };
/** The catch-all's Envoy match, which every Service's default route has: one frozen object, so the
 * encoder and the validation rules work it out once (see envoy/frozen.ts), not 10,000 times. */
const MATCH_EVERYTHING = deepFreeze({ prefix: '/' });

/** The routes of one Service port: the policy's `routes` in order, then a catch-all (split or the Service itself). */
export function serviceRoutes(
  model: MeshModel,
  service: ServiceInfo,
  port: ServicePortInfo,
  role: ProxyRole,
  shape: ServedShape = baselineShape(role),
): ServiceRoute[] {
  const policy = model.servicePolicy(service.key);
  // Without ring hash the cluster is served round_robin: hash keys would mean nothing.
  const hashPolicy = shape.ringHash ? routeHashPolicies(routeHashKeys(policy, service.clientIPAffinity), role) : [];
  const common = { ...timeoutFields(policy, port, role), ...retryFields(policy, port, role), ...(hashPolicy.length ? { hashPolicy } : {}) };
  const self = clusterName(service.key, port.port);
  const routes: ServiceRoute[] = (policy?.routes ?? []).map((route, i) => ({
    name: `route-${i}`,
    match: route.match,
    action: { ...destination(model, service, port, role, route.backends, self), ...common },
  }));
  routes.push({
    name: 'default',
    match: CATCH_ALL,
    action: { ...destination(model, service, port, role, policy?.split ?? [], self), ...common },
  });
  return routes;
}

/** The Envoy routes of one Service port. */
function buildRoutes(
  model: MeshModel,
  service: ServiceInfo,
  port: ServicePortInfo,
  role: ProxyRole,
  shape: ServedShape = baselineShape(role),
): Record<string, unknown>[] {
  // In field-number order (match 1, route 2, name 14): the encoder then writes the keys as they come.
  return serviceRoutes(model, service, port, role, shape).map((route) => ({
    match: routeMatch(route.match, shape),
    route: route.action,
    name: route.name,
  }));
}

/**
 * `cluster` or `weightedClusters`. A route must never name a cluster the proxy lacks (routes are
 * not warmed), so backends whose Service or port is gone are left out — which only happens while
 * a policy is served from its last good spec; with none left the Service's own cluster is used.
 */
function destination(
  model: MeshModel,
  service: ServiceInfo,
  port: ServicePortInfo,
  role: ProxyRole,
  backends: readonly PolicyBackend[],
  self: string,
): Record<string, unknown> {
  const weights = new Map<string, number>();
  for (const entry of backends) {
    if (!(entry.weight > 0)) continue;
    const backendPort = entry.port ?? port.port;
    const backend = model.service(entry.serviceKey);
    const target = backend?.ports.find((p) => p.port === backendPort);
    if (!backend || !target || (role === 'proxyless' && !isHttpPort(target))) {
      log.debug('routes: backend has no cluster; left out of the route (the policy status says why)', {
        service: service.key,
        backend: entry.name,
        port: backendPort,
      });
      continue;
    }
    const name = clusterName(backend.key, backendPort);
    weights.set(name, (weights.get(name) ?? 0) + entry.weight);
  }
  if (weights.size === 0) return { cluster: self };
  if (weights.size === 1) return { cluster: [...weights.keys()][0] };
  return {
    weightedClusters: {
      clusters: [...weights.entries()].map(([name, weight]) => ({ name, weight: { value: weight } })),
    },
  };
}

/** An Envoy RouteMatch's path field for a policy path. */
function pathMatchFields(path: PathMatch): Record<string, unknown> {
  return path.kind === 'exact'
    ? { path: path.value }
    : path.kind === 'regex'
      ? { safeRegex: { regex: path.value } }
      : { prefix: path.value };
}

/**
 * Envoy HeaderMatchers for a policy route's header conditions. They go in `string_match` for
 * clients with it (gRFC A63; the other fields are deprecated in Envoy), in the legacy
 * `exact_match` / `safe_regex_match` for clients without it: gRPC before A63 rejects the whole
 * route configuration over a matcher it cannot read.
 */
export function headerMatchers(headers: readonly HeaderMatch[], shape: ServedShape): Record<string, unknown>[] {
  return headers.map((header) => {
    switch (header.kind) {
      case 'exact':
        return shape.headerStringMatch
          ? { name: header.name, stringMatch: { exact: header.value } }
          : { name: header.name, exactMatch: header.value };
      case 'regex': {
        const regex = { regex: header.value };
        return shape.headerStringMatch
          ? { name: header.name, stringMatch: { safeRegex: regex } }
          : { name: header.name, safeRegexMatch: regex };
      }
      // "absent": a present match, inverted.
      case 'absent':
        return { name: header.name, presentMatch: true, invertMatch: true };
      case 'present':
        return { name: header.name, presentMatch: true };
    }
  });
}

function routeMatch(match: PolicyRouteMatch, shape: ServedShape): Record<string, unknown> {
  if (match === CATCH_ALL) return MATCH_EVERYTHING;
  const result = pathMatchFields(match.path);
  if (match.headers.length) result.headers = headerMatchers(match.headers, shape);
  return result;
}

function timeoutFields(policy: ServicePolicy | undefined, port: ServicePortInfo, role: ProxyRole): Record<string, unknown> {
  const ms = policy?.timeoutMs;
  if (role === 'proxyless') {
    // gRPC ignores route.timeout; it honours max_stream_duration.
    return ms !== undefined ? { maxStreamDuration: { maxStreamDuration: protoDuration(ms) } } : {};
  }
  if (ms !== undefined) return { timeout: protoDuration(ms) };
  // Envoy's default 15s route timeout would cut long gRPC and HTTP/2 streams.
  return port.protocol === 'grpc' || port.protocol === 'http2' ? { timeout: { seconds: 0 } } : {};
}

function retryFields(policy: ServicePolicy | undefined, port: ServicePortInfo, role: ProxyRole): Record<string, unknown> {
  const retries = policy?.retries;
  if (!retries) return {};
  let retryOn: readonly string[] = retries.retryOn ?? (port.protocol === 'grpc' ? DEFAULT_RETRY_ON.grpc : DEFAULT_RETRY_ON.http);
  if (role === 'proxyless') {
    retryOn = retryOn.filter((condition) => GRPC_RETRY_ON.has(condition));
    if (retryOn.length === 0) retryOn = ['unavailable'];
  }
  return {
    retryPolicy: {
      retryOn: [...new Set(retryOn)].join(','),
      numRetries: { value: retries.attempts },
      ...(retries.perTryTimeoutMs !== undefined && role === 'sidecar' ? { perTryTimeout: protoDuration(retries.perTryTimeoutMs) } : {}),
    },
  };
}

export function sortByName(resources: XdsResource[]): XdsResource[] {
  return resources.sort((a, b) => compare(a.name, b.name));
}
