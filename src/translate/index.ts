// The translator's entry points: the whole picture for a proxy role, and the per-Service pieces
// the pipeline re-translates after a ModelChange. Pure: same model and options, same output.
import type { MeshModel } from '../model/index.js';
import type { XdsResource } from '../envoy/protos.js';
import { buildServiceClusters, buildSidecarBaseClusters, lbChoiceFor, portsForRole } from './clusters.js';
import { buildServiceEndpoints } from './endpoints.js';
import { buildOutboundListener, buildProxylessListeners } from './listeners.js';
import { buildInbound, buildServerListeners, type InboundResources } from './inbound.js';
import type { WorkloadShape } from '../model/index.js';
import { buildOutboundRouteConfigs, buildProxylessRouteConfigs, sortByName } from './routes.js';
import { isHttpPort, outboundRouteName } from './names.js';
import { translateOptions, type ProxyRole, type TranslateOptions } from './options.js';
import type { LbKind } from './lb-policy.js';

export { translateOptions, DEFAULT_TRANSLATE_OPTIONS } from './options.js';
export { lbChoiceFor } from './clusters.js';
export type { OutboundTraffic, ProxyRole, TranslateOptions } from './options.js';
export type { LbChoice, LbKind } from './lb-policy.js';
export { degradationsFor } from './degradations.js';
export type { Degradation } from './degradations.js';
export { INGRESS_CONTROLLER } from '../model/index.js';
export { translateGateway } from './gateway.js';
export { duplicateChainMatches } from './consistency.js';
export { isGatewayApiName, translateGatewayApi } from './gateway-api.js';
export { httpRbacFilter, networkRbacFilter } from './rbac.js';
export {
  inboundTls,
  upstreamMeshTransportSocket,
  destinationSans,
  spiffeId,
  usesEndpointTlsMatch,
  TLS_ENDPOINT_MATCH,
} from './mesh-tls.js';
export type { InboundTls, InboundChainTls, MeshDestination } from './mesh-tls.js';

export interface TranslatedResources {
  clusters: XdsResource[];
  endpoints: XdsResource[];
  routes: XdsResource[];
  listeners: XdsResource[];
  /** Mesh roles carry no secrets; the gateway translator produces them. */
  secrets: XdsResource[];
}

/** Which lists `translateAll` fills (all by default); the ones left out come back empty. */
type TranslateParts = Partial<Record<keyof TranslatedResources, boolean>>;

/** Everything one proxy role receives, each list sorted by name. */
export function translateAll(
  model: MeshModel,
  role: ProxyRole,
  overrides: Partial<TranslateOptions> = {},
  parts: TranslateParts = {},
): TranslatedResources {
  const options = translateOptions(overrides);
  const want = (part: keyof TranslatedResources) => parts[part] !== false;
  const clusters: XdsResource[] = [];
  const endpoints: XdsResource[] = [];
  for (const service of model.services()) {
    if (role === 'sidecar' && options.reach && !options.reach.has(service.key)) continue;
    if (want('clusters')) clusters.push(...buildServiceClusters(model, service, role, options));
    if (want('endpoints')) endpoints.push(...buildServiceEndpoints(model, service, role));
  }
  if (want('clusters') && role === 'sidecar') clusters.push(...buildSidecarBaseClusters(options));
  return {
    clusters: sortByName(clusters),
    endpoints: sortByName(endpoints),
    routes: want('routes') ? translateRoutes(model, role, options) : [],
    listeners: want('listeners') ? translateListeners(model, role, options) : [],
    secrets: [],
  };
}

/**
 * The Clusters of one Service (one per port), or [] when it is gone. Their names all start with
 * `<namespace>/<service>/`, which lets the pipeline find what to remove.
 * Auto's choice looks at the endpoint count, so re-translate clusters for `ModelChange.endpoints`
 * keys too: the cache keeps unchanged bytes and pushes nothing for them.
 */
export function translateServiceClusters(
  model: MeshModel,
  serviceKey: string,
  role: ProxyRole,
  overrides: Partial<TranslateOptions> = {},
): XdsResource[] {
  const service = model.service(serviceKey);
  return service ? sortByName(buildServiceClusters(model, service, role, translateOptions(overrides))) : [];
}

/**
 * The ClusterLoadAssignments of one Service (one per port), or [] when it is gone. `tlsMatch`:
 * tag the endpoints of a Service mid-rollout whose pods terminate mutual TLS, for clusters that
 * pick their transport socket per endpoint (usesEndpointTlsMatch); default: a sidecar's.
 */
export function translateEndpointsFor(model: MeshModel, serviceKey: string, role: ProxyRole, tlsMatch = role === 'sidecar'): XdsResource[] {
  const service = model.service(serviceKey);
  return service ? sortByName(buildServiceEndpoints(model, service, role, tlsMatch)) : [];
}

/** Sidecar: one route configuration per HTTP port. Proxyless: one per Service HTTP port. */
function translateRoutes(model: MeshModel, role: ProxyRole, overrides: Partial<TranslateOptions> = {}): XdsResource[] {
  const options = translateOptions(overrides);
  if (role === 'sidecar') return sortByName(buildOutboundRouteConfigs(model, options));
  return sortByName(model.services().flatMap((service) => buildProxylessRouteConfigs(model, service, options)));
}

function translateListeners(model: MeshModel, role: ProxyRole, overrides: Partial<TranslateOptions> = {}): XdsResource[] {
  const options = translateOptions(overrides);
  if (role === 'sidecar') return [buildOutboundListener(model, options)];
  return sortByName([
    ...model.services().flatMap((service) => buildProxylessListeners(service, options)),
    ...translateServerListeners(model, options),
  ]);
}

/**
 * The sidecar resources that span Services: the outbound listener (every Service's address), the
 * `passthrough` and `blackhole` clusters, and the route configurations of `ports` only (a Service
 * change touches the configurations of its HTTP ports, before and after). A port left without
 * HTTP Services has no configuration: it is not in `routes`.
 */
export function translateSidecarShared(
  model: MeshModel,
  ports: Iterable<number>,
  overrides: Partial<TranslateOptions> = {},
): { listeners: XdsResource[]; clusters: XdsResource[]; routes: XdsResource[] } {
  const options = translateOptions(overrides);
  return {
    listeners: [buildOutboundListener(model, options)],
    clusters: buildSidecarBaseClusters(options),
    routes: buildOutboundRouteConfigs(model, options, ports),
  };
}

/** A workload shape's inbound side: the `inbound` listener, its `inbound|<port>` clusters and route configurations. */
export function translateInbound(shape: WorkloadShape, overrides: Partial<TranslateOptions> = {}): InboundResources {
  const inbound = buildInbound(shape, translateOptions(overrides));
  return { listeners: inbound.listeners, clusters: sortByName(inbound.clusters), routes: sortByName(inbound.routes) };
}

/** The gRFC A36 Listeners of every pod with an IP: what xDS-enabled gRPC servers ask for, sorted by name. */
export function translateServerListeners(model: MeshModel, overrides: Partial<TranslateOptions> = {}): XdsResource[] {
  const options = translateOptions(overrides);
  return sortByName(model.workloadList().flatMap((workload) => buildServerListeners(workload, model.workloadShape(workload), options)));
}

/** The sidecar route configuration names a Service's HTTP ports are in (its ports' numbers). */
export function sidecarRouteNamesOf(model: MeshModel, serviceKey: string): string[] {
  const service = model.service(serviceKey);
  if (!service || service.clusterIP === undefined) return [];
  return service.ports.filter(isHttpPort).map((p) => outboundRouteName(p.port));
}

interface LbExplanation {
  policy: LbKind;
  /** The Cluster's ordered list (the policy and its fallbacks). */
  policies: LbKind[];
  reason: string;
  port: number;
}

/** Why a Service port has its LB policy (for `render` and logs); the first port when none is given. */
export function explainLbChoice(
  model: MeshModel,
  serviceKey: string,
  overrides: Partial<TranslateOptions> = {},
  port?: number,
): LbExplanation | undefined {
  const service = model.service(serviceKey);
  if (!service) return undefined;
  const servicePort = port === undefined ? portsForRole(service, 'sidecar')[0] : service.ports.find((p) => p.port === port);
  if (!servicePort) return undefined;
  const choice = lbChoiceFor(model, service, servicePort, translateOptions(overrides));
  return { policy: choice.policy, policies: choice.policies, reason: choice.reason, port: servicePort.port };
}
