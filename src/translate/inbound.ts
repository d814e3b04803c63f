// The sidecar's inbound side, per workload shape: one virtual listener `inbound` (where the
// capture rules send inbound connections) with a chain per port the application serves for its
// Services, each to a cluster that reaches the application on 127.0.0.1:<port> — HTTP ports
// through an HTTP connection manager (where mutual TLS, authorization and rate limits go), TCP
// ports through a TCP proxy. Connections to any other port pass through untouched. Built from
// the shape alone: every pod of one shape gets the same bytes.
//
// Each port's AccessPolicy outcome (part of the shape) decides its chains: Strict a TLS chain
// requiring a client certificate from the trust domain (plain text on that port is closed, never
// passed through), Permissive a TLS chain and a plain one (the TLS inspector tells them apart),
// Disable one plain chain; allow rules become the RBAC filter before the router (HTTP) or before
// the TCP proxy (TCP). The port's TrafficPolicy limit (rate-limit.ts), also part of the shape:
// on an HTTP port a token bucket on its inbound route, on a TCP port the connection limit filter
// after RBAC (a refused caller spends no token's worth of the application) and before the TCP proxy.
import { protoDuration, type InboundPort, type ServiceAccess, type WorkloadInfo, type WorkloadShape } from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { http2Upstream } from './clusters.js';
import { httpConnectionManager, tcpProxy } from './listeners.js';
import { BLACKHOLE_CLUSTER, INBOUND_LISTENER, inboundName, PASSTHROUGH_CLUSTER, serverListenerName } from './names.js';
import { servedShapeOf, type TranslateOptions } from './options.js';
import { inboundTls, proxylessServerTransportSocket } from './mesh-tls.js';
import { httpRbacFilter, networkRbacFilter } from './rbac.js';
import { HCM_TYPE, ORIGINAL_DST_FILTER, ROUTER_FILTER, TLS_INSPECTOR_FILTER } from './envoy-filters.js';
import { connectionRateLimitFilter, localRateLimitHttpFilter, perFilterConfig } from './rate-limit.js';

export interface InboundResources {
  listeners: XdsResource[];
  clusters: XdsResource[];
  routes: XdsResource[];
}

function isHttp(port: InboundPort): boolean {
  return port.protocol !== 'tcp';
}

function isHttp2(port: InboundPort): boolean {
  return port.protocol === 'grpc' || port.protocol === 'http2';
}

/** The application on one port of its own pod. */
function inboundCluster(port: InboundPort, options: TranslateOptions): XdsResource {
  const name = inboundName(port.port);
  return {
    typeUrl: TypeUrl.Cluster,
    name,
    value: {
      name,
      type: 'STATIC',
      connectTimeout: protoDuration(options.connectTimeoutMs),
      loadAssignment: {
        clusterName: name,
        endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port.port } } } }] }],
      },
      ...(isHttp2(port) ? http2Upstream() : {}),
    },
  };
}

/**
 * Every request on the port goes to the application; long gRPC and HTTP/2 streams are not cut at
 * 15s. A request limit rides on the route, in the one route configuration (over RDS) that the
 * port's chains (TLS and plain text) name.
 */
function inboundRouteConfig(port: InboundPort): XdsResource {
  const name = inboundName(port.port);
  const route = { cluster: name, ...(isHttp2(port) ? { timeout: { seconds: 0 } } : {}) };
  const limit = port.rateLimit ? perFilterConfig(`inbound_${port.port}_rate_limit`, port.rateLimit) : {};
  return {
    typeUrl: TypeUrl.RouteConfiguration,
    name,
    value: { name, virtualHosts: [{ name, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route, ...limit }] }] },
  };
}

/** A port's access: the one its shape carries, else the mesh default with no rules. */
function accessOf(port: InboundPort, options: TranslateOptions): ServiceAccess {
  return port.access ?? { serviceKey: '', mtls: options.mtlsMode };
}

/**
 * The filters of one inbound port's chain: RBAC (when the port's policies have rules), the rate
 * limit (when its policy sets one), then the HCM (with the router last) or the TCP proxy.
 */
function inboundFilters(port: InboundPort, access: ServiceAccess, options: TranslateOptions): Record<string, unknown>[] {
  const name = inboundName(port.port);
  const statPrefix = `inbound_${port.port}`;
  if (isHttp(port)) {
    const hcm = httpConnectionManager(statPrefix, name);
    const rbac = httpRbacFilter(access, options.trustDomain);
    const limit = port.rateLimit ? localRateLimitHttpFilter() : undefined;
    hcm.httpFilters = [...(rbac ? [rbac] : []), ...(limit ? [limit] : []), ...(hcm.httpFilters as unknown[])];
    return [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: hcm }];
  }
  const rbac = networkRbacFilter(access, options.trustDomain, statPrefix);
  const limit = port.rateLimit ? connectionRateLimitFilter(`${statPrefix}_connection_limit`, statPrefix, port.rateLimit) : undefined;
  return [...(rbac ? [rbac] : []), ...(limit ? [limit] : []), tcpProxy(statPrefix, name)];
}

export function buildInbound(shape: WorkloadShape, options: TranslateOptions): InboundResources {
  let inspectTls = false;
  const chains: Record<string, unknown>[] = shape.ports.flatMap((port) => {
    const name = inboundName(port.port);
    const access = accessOf(port, options);
    const tls = inboundTls(access.mtls, options.trustDomain, isHttp(port));
    if (tls.listenerFilters.length > 0) inspectTls = true;
    const filters = inboundFilters(port, access, options);
    const variants = tls.chains.map((variant) => ({
      name: variant.transportProtocol ? `${name}|${variant.transportProtocol}` : name,
      filterChainMatch: {
        destinationPort: { value: port.port },
        ...(variant.transportProtocol ? { transportProtocol: variant.transportProtocol } : {}),
      },
      filters,
      ...(variant.transportSocket ? { transportSocket: variant.transportSocket } : {}),
    }));
    // Strict: plain text on the port must not fall through to the passthrough chain.
    if (access.mtls === 'Strict') {
      variants.push({
        name: `${name}|plaintext-refused`,
        filterChainMatch: { destinationPort: { value: port.port }, transportProtocol: 'raw_buffer' },
        filters: [tcpProxy(`inbound_${port.port}_plaintext_refused`, BLACKHOLE_CLUSTER)],
      });
    }
    return variants;
  });
  // A connection made to the listener itself (not captured) would loop: closed.
  if (!shape.ports.some((p) => p.port === options.inboundPort)) {
    chains.push({
      name: 'self',
      filterChainMatch: { destinationPort: { value: options.inboundPort } },
      filters: [tcpProxy('inbound_self', BLACKHOLE_CLUSTER)],
    });
  }
  const listener: XdsResource = {
    typeUrl: TypeUrl.Listener,
    name: INBOUND_LISTENER,
    value: {
      name: INBOUND_LISTENER,
      address: { socketAddress: { address: '0.0.0.0', portValue: options.inboundPort } },
      trafficDirection: 'INBOUND',
      listenerFilters: [ORIGINAL_DST_FILTER, ...(inspectTls ? [TLS_INSPECTOR_FILTER] : [])],
      filterChains: chains,
      defaultFilterChain: { name: PASSTHROUGH_CLUSTER, filters: [tcpProxy('inbound_passthrough', PASSTHROUGH_CLUSTER)] },
    },
  };
  return {
    listeners: [listener],
    clusters: shape.ports.map((port) => inboundCluster(port, options)),
    routes: shape.ports.filter(isHttp).map(inboundRouteConfig),
  };
}

/**
 * The Listeners an xDS-enabled gRPC server (gRFC A36) of this pod asks for: one per HTTP port of
 * its shape, named by the pod IP and port it listens on, from the same inbound model as the
 * sidecar's. What gRPC accepts: the address equal to the one it listens on, no listener filters,
 * chains of exactly one filter (the HTTP connection manager, router last), and routes whose
 * action is `non_forwarding_action` (the server handles the call itself; any other action fails
 * the call). The route configuration is inline: one fewer round trip before the server serves.
 * A server listening on 0.0.0.0 asks for a name no pod owns, and gets none.
 * Mutual TLS (gRFC A29): gRPC picks a chain without looking at the first bytes (under A36 a
 * chain asking for transport_protocol `tls` never matches), so one port is either TLS or plain
 * text. Strict: TLS requiring a client certificate, through the `workload` certificate provider —
 * for a pod marked as having it and a node that has it; otherwise no Listener. Permissive and
 * Disable: plain text.
 */
export function buildServerListeners(workload: WorkloadInfo, shape: WorkloadShape, options: TranslateOptions): XdsResource[] {
  if (workload.ip === undefined) return [];
  const ip = workload.ip;
  const tls = workload.proxylessTls && servedShapeOf('proxyless', options).workloadTls;
  return shape.ports.filter(isHttp).flatMap((port) => {
    const name = serverListenerName(ip, port.port);
    const routeName = inboundName(port.port);
    const access = accessOf(port, options);
    // Strict: mutual TLS or nothing. A server that cannot do it (the pod or the node lacks the
    // certificate provider) gets no Listener, so it does not serve rather than serve plain text.
    if (access.mtls === 'Strict' && !tls) return [];
    // gRFC A41: the port's allow rules, before the router (gRPC enforces `rules`, ignores shadow rules).
    const rbac = httpRbacFilter(access, options.trustDomain);
    const hcm = {
      '@type': HCM_TYPE,
      statPrefix: `inbound_${port.port}`,
      routeConfig: {
        name: routeName,
        virtualHosts: [{ name: routeName, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, nonForwardingAction: {} }] }],
      },
      httpFilters: [...(rbac ? [rbac] : []), ROUTER_FILTER],
    };
    return {
      typeUrl: TypeUrl.Listener,
      name,
      value: {
        name,
        address: { socketAddress: { address: ip, portValue: port.port } },
        trafficDirection: 'INBOUND',
        filterChains: [
          {
            name: routeName,
            filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: hcm }],
            ...(access.mtls === 'Strict' ? { transportSocket: proxylessServerTransportSocket() } : {}),
          },
        ],
      },
    };
  });
}
