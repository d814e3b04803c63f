// The sidecar's inbound side, per workload shape: one virtual listener `inbound` (where the
// capture rules send inbound connections) with a chain per port the application serves for its
// Services, each to a cluster that reaches the application on 127.0.0.1:<port> — HTTP ports
// through an HTTP connection manager (where mutual TLS, authorization and rate limits go), TCP
// ports through a TCP proxy. Connections to any other port pass through untouched. Built from
// the shape alone: every pod of one shape gets the same bytes.
import { protoDuration, type InboundPort, type WorkloadInfo, type WorkloadShape } from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { http2Upstream } from './clusters.js';
import { httpConnectionManager, tcpProxy } from './listeners.js';
import { BLACKHOLE_CLUSTER, INBOUND_LISTENER, inboundName, PASSTHROUGH_CLUSTER, serverListenerName } from './names.js';
import type { TranslateOptions } from './options.js';

const ORIGINAL_DST_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst';

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

/** Every request on the port goes to the application; long gRPC and HTTP/2 streams are not cut at 15s. */
function inboundRouteConfig(port: InboundPort): XdsResource {
  const name = inboundName(port.port);
  const route = { cluster: name, ...(isHttp2(port) ? { timeout: { seconds: 0 } } : {}) };
  return {
    typeUrl: TypeUrl.RouteConfiguration,
    name,
    value: { name, virtualHosts: [{ name, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route }] }] },
  };
}

export function buildInbound(shape: WorkloadShape, options: TranslateOptions): InboundResources {
  const chains: Record<string, unknown>[] = shape.ports.map((port) => {
    const name = inboundName(port.port);
    const filter = isHttp(port)
      ? { name: 'envoy.filters.network.http_connection_manager', typedConfig: httpConnectionManager(`inbound_${port.port}`, name) }
      : tcpProxy(`inbound_${port.port}`, name);
    return { name, filterChainMatch: { destinationPort: { value: port.port } }, filters: [filter] };
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
      listenerFilters: [{ name: 'envoy.filters.listener.original_dst', typedConfig: { '@type': ORIGINAL_DST_TYPE } }],
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

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/**
 * The Listeners an xDS-enabled gRPC server (gRFC A36) of this pod asks for: one per HTTP port of
 * its shape, named by the pod IP and port it listens on, from the same inbound model as the
 * sidecar's. What gRPC accepts: the address equal to the one it listens on, no listener filters,
 * chains of exactly one filter (the HTTP connection manager, router last), and routes whose
 * action is `non_forwarding_action` (the server handles the call itself; any other action fails
 * the call). The route configuration is inline: one fewer round trip before the server serves.
 * A server listening on 0.0.0.0 asks for a name no pod owns, and gets none.
 */
export function buildServerListeners(workload: WorkloadInfo, shape: WorkloadShape): XdsResource[] {
  if (workload.ip === undefined) return [];
  const ip = workload.ip;
  return shape.ports.filter(isHttp).map((port) => {
    const name = serverListenerName(ip, port.port);
    const routeName = inboundName(port.port);
    const hcm = {
      '@type': HCM_TYPE,
      statPrefix: `inbound_${port.port}`,
      routeConfig: {
        name: routeName,
        virtualHosts: [{ name: routeName, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, nonForwardingAction: {} }] }],
      },
      httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER_TYPE } }],
    };
    return {
      typeUrl: TypeUrl.Listener,
      name,
      value: {
        name,
        address: { socketAddress: { address: ip, portValue: port.port } },
        trafficDirection: 'INBOUND',
        filterChains: [{ name: routeName, filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: hcm }] }],
      },
    };
  });
}
