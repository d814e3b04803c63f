// Edge gateways: the Ingresses of our class become, for one named gateway, an HTTP listener
// and an HTTPS listener (one filter chain per TLS host set, matched by SNI, certificates over
// SDS), their route configurations, and only the clusters, endpoints and secrets those use.
// Ingress backends go through the same route building as sidecar traffic (routes.ts), so a
// TrafficPolicy's split, hashing, retries and timeouts apply to them exactly as in the mesh.
// The model has normalized each Ingress (paths, backends, TLS entries, redirects); this decides
// which ones a gateway serves and renders them.
import {
  compare,
  isOurIngress,
  ourIngressClasses,
  type MeshModel,
  type IngressBackendRef,
  type IngressInfo,
  type IngressPath,
  type PolicyRouteMatch,
} from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { routedClusters } from './gateway-clusters.js';
import { gatewayListenerName, tlsSecretName } from './names.js';
import { translateOptions, type TranslateOptions } from './options.js';
import { headerMatchers, serviceRoutes, sortByName } from './routes.js';
import { buildTlsSecret } from './secrets.js';
import { isGatewayApiName, translateGatewayApi } from './gateway-api.js';
import { gatewayConnectionManager, GATEWAY_SHAPE } from './gateway-hcm.js';
import { routeRateLimit, usesRateLimit } from './rate-limit.js';
import { DOWNSTREAM_TLS_TYPE, TLS_INSPECTOR_FILTER } from './envoy-filters.js';

interface GatewayResources {
  clusters: XdsResource[];
  endpoints: XdsResource[];
  routes: XdsResource[];
  listeners: XdsResource[];
  secrets: XdsResource[];
  /** What is left out and why (bad backends, broken Secrets, conflicting hosts), one line each. */
  problems: string[];
  /** `<namespace>/<name>` of the Ingresses this gateway serves. */
  ingresses: string[];
  /** Service keys whose change can alter this gateway's output. */
  usedServices: string[];
  /** `<namespace>/<name>` of every Secret the served Ingresses name, valid or not. */
  usedSecrets: string[];
}

function servedBy(ingress: IngressInfo, gatewayName: string): boolean {
  return ingress.gateways === undefined || ingress.gateways.includes(gatewayName);
}

/** The Ingresses one gateway serves, sorted by key (older keys win conflicts deterministically). */
function gatewayIngresses(model: MeshModel, gatewayName: string, options: TranslateOptions): IngressInfo[] {
  const classes = ourIngressClasses(model, options.ingressClass);
  return model
    .ingressInfos()
    .filter((ingress) => isOurIngress(model, ingress, options.ingressClass, classes) && servedBy(ingress, gatewayName));
}

// ---- paths --------------------------------------------------------------------------------------

function pathMatch(path: IngressPath): Record<string, unknown> {
  if (path.exact) return { path: path.path };
  return path.path === '/' ? { prefix: '/' } : { pathSeparatedPrefix: path.path };
}

function underPrefix(candidate: string, prefix: string): boolean {
  return prefix === '/' || candidate === prefix || candidate.startsWith(`${prefix}/`);
}

/**
 * A policy route's match narrowed to an Ingress path: both must hold. Returns undefined when
 * they cannot both hold (or, for a regex, when that cannot be expressed).
 */
function combineMatch(ingress: IngressPath, policyMatch: PolicyRouteMatch): Record<string, unknown> | undefined {
  const { path: policyPath, headers } = policyMatch;
  let narrowed: Record<string, unknown> | undefined;
  if (policyPath.kind === 'regex') {
    narrowed = undefined;
  } else if (policyPath.kind === 'exact') {
    const path = policyPath.value;
    const inside = ingress.exact ? path === ingress.path : underPrefix(path, ingress.path);
    narrowed = inside ? { path } : undefined;
  } else {
    const policyPrefix = policyPath.value;
    if (ingress.exact) {
      narrowed = ingress.path.startsWith(policyPrefix) ? { path: ingress.path } : undefined;
    } else if (ingress.path.startsWith(policyPrefix) && policyPrefix.length <= ingress.path.length) {
      // The policy's prefix is wider than the Ingress path: the Ingress path alone decides.
      narrowed = pathMatch(ingress);
    } else if (policyPrefix.startsWith(ingress.path === '/' ? '/' : `${ingress.path}/`)) {
      narrowed = { prefix: policyPrefix };
    } else {
      narrowed = undefined;
    }
  }
  if (!narrowed) return undefined;
  return headers.length ? { ...narrowed, headers: headerMatchers(headers, GATEWAY_SHAPE) } : narrowed;
}

// ---- backends -----------------------------------------------------------------------------------

/** A matched request whose backend is unusable gets 503 rather than falling through to another route. */
function unavailable(name: string, match: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    match,
    directResponse: { status: 503, body: { inlineString: 'no healthy upstream: the Ingress backend is not available\n' } },
  };
}

/** The Envoy routes of one Ingress path: the backend's TrafficPolicy routes narrowed to the path, then its catch-all. */
function backendRoutes(
  model: MeshModel,
  backend: IngressBackendRef,
  path: IngressPath,
  name: string,
  problems: string[],
): Record<string, unknown>[] {
  const resolved = model.resolveIngressBackend(backend);
  if (!resolved.ok) {
    problems.push(`${backend.label}: ${resolved.error}`);
    return [unavailable(name, pathMatch(path))];
  }
  const routes: Record<string, unknown>[] = [];
  for (const route of serviceRoutes(model, resolved.service, resolved.port, 'sidecar', GATEWAY_SHAPE)) {
    const match = combineMatch(path, route.match);
    if (!match) continue;
    routes.push({ name: `${name}/${route.name}`, match, route: route.action, ...routeRateLimit(model, resolved.service.key) });
  }
  return routes;
}

// ---- hosts and routes ---------------------------------------------------------------------------

interface RouteEntry {
  /** Longer paths first, Exact before Prefix, then manifest order; default backends last. */
  rank: [number, number, number, number];
  https: Record<string, unknown>[];
  http: Record<string, unknown>[];
}

function compareRank(a: RouteEntry, b: RouteEntry): number {
  for (let i = 0; i < a.rank.length; i++) if (a.rank[i] !== b.rank[i]) return a.rank[i] - b.rank[i];
  return 0;
}

function virtualHosts(byHost: Map<string, RouteEntry[]>, listener: 'http' | 'https'): Record<string, unknown>[] {
  // '*' last only for readability: Envoy picks the most specific domain whatever the order.
  const hosts = [...byHost.keys()].sort((a, b) => (a === '*' ? 1 : b === '*' ? -1 : compare(a, b)));
  return hosts.map((host) => ({
    name: host,
    domains: [host],
    routes: [...(byHost.get(host) as RouteEntry[])].sort(compareRank).flatMap((entry) => entry[listener]),
  }));
}

// ---- listeners ----------------------------------------------------------------------------------

interface TlsChain {
  secretNamespace: string;
  secretName: string;
  /** Empty: the chain for clients whose SNI no other chain names. */
  hosts: string[];
}

/**
 * One chain per Secret, with the hosts of every `spec.tls` entry naming it. A host claimed by
 * two Secrets, or a second host-less entry, would make Envoy reject the listener: the first
 * (by Ingress key) keeps it.
 */
function planTlsChains(ingresses: IngressInfo[], problems: string[]): TlsChain[] {
  const chains = new Map<string, TlsChain>();
  const hostOwner = new Map<string, string>();
  let defaultChain: string | undefined;
  for (const ingress of ingresses) {
    const namespace = ingress.namespace;
    ingress.tls.forEach((tls) => {
      const where = tls.where;
      if (!tls.secretName) {
        problems.push(`${where}.secretName: is empty; a gateway needs a kubernetes.io/tls Secret to serve these hosts over HTTPS`);
        return;
      }
      const secretKey = tlsSecretName(namespace, tls.secretName);
      const hosts = tls.hosts;
      const chainKey = hosts.length === 0 ? `${secretKey}|*` : secretKey;
      if (hosts.length === 0) {
        if (defaultChain !== undefined && defaultChain !== chainKey) {
          problems.push(
            `${where}.hosts: empty, but Secret ${defaultChain.slice(0, -2)} already serves clients without a matching SNI; entry left out`,
          );
          return;
        }
        defaultChain = chainKey;
      }
      let chain = chains.get(chainKey);
      if (!chain) chains.set(chainKey, (chain = { secretNamespace: namespace, secretName: tls.secretName, hosts: [] }));
      for (const host of hosts) {
        const owner = hostOwner.get(host);
        if (owner !== undefined && owner !== chainKey) {
          problems.push(`${where}.hosts: ${host} already uses Secret ${owner}; this entry's certificate is not used for it`);
          continue;
        }
        if (owner === undefined) {
          hostOwner.set(host, chainKey);
          chain.hosts.push(host);
        }
      }
    });
  }
  return [...chains.entries()]
    .filter(([key, chain]) => chain.hosts.length > 0 || key.endsWith('|*'))
    .sort(([a], [b]) => compare(a, b))
    .map(([, chain]) => ({ ...chain, hosts: [...chain.hosts].sort(compare) }));
}

// ---- the gateway --------------------------------------------------------------------------------

/** Everything the gateway `gatewayName` receives, each list sorted by name. */
export function translateGateway(model: MeshModel, gatewayName: string, overrides: Partial<TranslateOptions> = {}): GatewayResources {
  // `<namespace>/<name>` names a Gateway API Gateway; a plain name, the gateway Ingresses are served to.
  if (isGatewayApiName(gatewayName)) return { ...translateGatewayApi(model, gatewayName, overrides), ingresses: [] };
  const options = translateOptions(overrides);
  const problems: string[] = [];
  const ingresses = gatewayIngresses(model, gatewayName, options);
  const usedServices = new Set<string>();
  const usedSecrets = new Set<string>();
  const byHost = new Map<string, RouteEntry[]>();
  const addEntry = (host: string, entry: RouteEntry) => {
    let list = byHost.get(host);
    if (!list) byHost.set(host, (list = []));
    list.push(entry);
  };
  let defaultBackendOwner: string | undefined;

  ingresses.forEach((ingress, ingressIndex) => {
    const ingressKey = ingress.key;
    for (const tls of ingress.tls) if (tls.secretName) usedSecrets.add(tlsSecretName(ingress.namespace, tls.secretName));
    const noteService = (backend: IngressBackendRef) => {
      if (backend.kind === 'service') usedServices.add(backend.serviceKey);
    };
    const ownHosts = new Set<string>();

    ingress.rules.forEach((rule) => {
      const host = rule.host;
      ownHosts.add(host);
      for (const entry of rule.paths) {
        if (!entry.path.ok) {
          problems.push(entry.path.error);
          continue;
        }
        noteService(entry.backend);
        const path = entry.path.value;
        const name = entry.routeName;
        const https = backendRoutes(model, entry.backend, path, name, problems);
        const http = rule.httpsRedirect ? [{ name, match: pathMatch(path), redirect: { httpsRedirect: true } }] : https;
        addEntry(host, {
          rank: [-path.path.length, path.exact ? 0 : 1, ingressIndex, entry.ruleIndex * 10_000 + entry.pathIndex],
          https,
          http,
        });
      }
    });

    const defaultBackend = ingress.defaultBackend;
    if (defaultBackend) {
      noteService(defaultBackend.backend);
      const root: IngressPath = { exact: false, path: '/' };
      const routes = backendRoutes(model, defaultBackend.backend, root, defaultBackend.routeName, problems);
      const entry: RouteEntry = { rank: [1, 0, ingressIndex, 0], https: routes, http: routes };
      // Requests for this Ingress's hosts that match none of its paths, and requests for any other host.
      for (const host of ownHosts) if (host !== '*') addEntry(host, entry);
      if (defaultBackendOwner === undefined) {
        defaultBackendOwner = ingressKey;
        addEntry('*', entry);
      } else {
        problems.push(
          `${defaultBackend.where}: Ingress ${defaultBackendOwner} already provides the gateway's default backend; this one serves only its own hosts`,
        );
      }
    }
  });

  const httpName = gatewayListenerName(gatewayName, options.gatewayHttpPort);
  const httpsName = gatewayListenerName(gatewayName, options.gatewayHttpsPort);
  const httpConfig = { name: httpName, virtualHosts: virtualHosts(byHost, 'http') };
  const httpsConfig = { name: httpsName, virtualHosts: virtualHosts(byHost, 'https') };
  const routes: XdsResource[] = [{ typeUrl: TypeUrl.RouteConfiguration, name: httpName, value: httpConfig }];
  const listeners: XdsResource[] = [
    {
      typeUrl: TypeUrl.Listener,
      name: httpName,
      value: {
        name: httpName,
        address: { socketAddress: { address: options.gatewayAddress, portValue: options.gatewayHttpPort } },
        trafficDirection: 'INBOUND',
        filterChains: [
          {
            filters: [
              {
                name: 'envoy.filters.network.http_connection_manager',
                typedConfig: gatewayConnectionManager(`gateway_${gatewayName}_http`, httpName, usesRateLimit(httpConfig)),
              },
            ],
          },
        ],
      },
    },
  ];

  // A broken certificate leaves only its own hosts without HTTPS.
  const secrets: XdsResource[] = [];
  const filterChains: Record<string, unknown>[] = [];
  for (const chain of planTlsChains(ingresses, problems)) {
    const result = buildTlsSecret(model, chain.secretNamespace, chain.secretName);
    const hostList = chain.hosts.length ? chain.hosts.join(', ') : 'clients without a matching SNI';
    if (!result.ok) {
      problems.push(`gateway ${gatewayName}: HTTPS for ${hostList} left out: ${result.error}`);
      continue;
    }
    secrets.push(result.resource);
    filterChains.push({
      name: result.resource.name,
      ...(chain.hosts.length ? { filterChainMatch: { serverNames: chain.hosts } } : {}),
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': DOWNSTREAM_TLS_TYPE,
          commonTlsContext: {
            tlsCertificateSdsSecretConfigs: [{ name: result.resource.name, sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }],
            alpnProtocols: ['h2', 'http/1.1'],
          },
        },
      },
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typedConfig: gatewayConnectionManager(`gateway_${gatewayName}_https`, httpsName, usesRateLimit(httpsConfig)),
        },
      ],
    });
  }
  // Envoy rejects a listener without filter chains: no valid certificate, no HTTPS listener.
  if (filterChains.length > 0) {
    routes.push({
      typeUrl: TypeUrl.RouteConfiguration,
      name: httpsName,
      value: httpsConfig,
    });
    listeners.push({
      typeUrl: TypeUrl.Listener,
      name: httpsName,
      value: {
        name: httpsName,
        address: { socketAddress: { address: options.gatewayAddress, portValue: options.gatewayHttpsPort } },
        trafficDirection: 'INBOUND',
        listenerFilters: [TLS_INSPECTOR_FILTER],
        filterChains,
      },
    });
  }

  // Only the clusters the routes name, and their assignments: a gateway does not get the mesh.
  const { clusters, endpoints, serviceKeys } = routedClusters(model, routes, options);
  for (const serviceKey of serviceKeys) usedServices.add(serviceKey);

  return {
    clusters: sortByName(clusters),
    endpoints: sortByName(endpoints),
    routes: sortByName(routes),
    listeners: sortByName(listeners),
    secrets: sortByName(secrets),
    problems,
    ingresses: ingresses.map((i) => i.key),
    usedServices: [...usedServices].sort(compare),
    usedSecrets: [...usedSecrets].sort(compare),
  };
}
