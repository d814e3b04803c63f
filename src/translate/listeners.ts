// Listeners: the sidecar's virtual outbound listener (every captured outbound connection, sorted
// by its original destination); for proxyless gRPC, an API listener per name a client may ask for.
import { compare, type MeshModel, type ServiceAddress, type ServiceInfo } from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import {
  BLACKHOLE_CLUSTER,
  clusterName,
  isHttpPort,
  OUTBOUND_LISTENER,
  outboundRouteName,
  PASSTHROUGH_CLUSTER,
  proxylessListenerNames,
  proxylessRouteName,
} from './names.js';
import type { TranslateOptions } from './options.js';
import { HCM_TYPE, ORIGINAL_DST_FILTER, ROUTER_FILTER } from './envoy-filters.js';

const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** An HTTP connection manager that takes its routes from RDS over ADS; the router filter is last (Envoy and gRPC require it). */
export function httpConnectionManager(statPrefix: string, routeConfigName: string): Record<string, unknown> {
  return {
    '@type': HCM_TYPE,
    statPrefix,
    rds: { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName },
    httpFilters: [ROUTER_FILTER],
  };
}

function socketAddress(address: string, port: number): Record<string, unknown> {
  return { socketAddress: { address, portValue: port } };
}

export function tcpProxy(statPrefix: string, cluster: string): Record<string, unknown> {
  return { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP_PROXY_TYPE, statPrefix, cluster } };
}

function hostRange(ip: string): Record<string, unknown> {
  return { addressPrefix: ip, prefixLen: { value: ip.includes(':') ? 128 : 32 } };
}

/** Appends in place: copying the list per address made the listener quadratic in Services per port. */
function appendTo<K>(lists: Map<K, ServiceAddress[]>, key: K, address: ServiceAddress): void {
  const list = lists.get(key);
  if (list) list.push(address);
  else lists.set(key, [address]);
}

function statName(service: ServiceInfo, port: number): string {
  return `${service.namespace}_${service.name}_${port}`;
}

/**
 * The one outbound listener every sidecar shares (it depends on the mesh, not on the workload).
 * The capture rules send every outbound TCP connection to it; `original_dst` restores the address
 * the application dialled, and the filter chain of that address takes it:
 * - a Service's cluster IP and port: a TCP proxy to its cluster, or for HTTP ports the HTTP
 *   connection manager with that port's route configuration (one chain per port, all its cluster IPs);
 * - a headless Service's pod IP and port: on to exactly that pod (stateful sets address pods);
 * - the listener's own port (a connection made to the proxy itself, not captured): closed, not looped;
 * - anything else: on to its original destination, or closed in registry-only mode — as is a
 *   Service outside the group's egress scope (`options.reach`): it has no chain.
 * Chains match on destination address and port only, so no TLS or HTTP inspector is needed: an
 * inspector would only wait for client bytes, which server-first protocols (MySQL, SMTP) never send.
 * Each address belongs to one Service port (model `serviceAddresses`); one claimed twice is left
 * out and reported (OutboundAddressConflict), so no two chains share a match.
 */
export function buildOutboundListener(model: MeshModel, options: TranslateOptions): XdsResource {
  const httpByPort = new Map<number, ServiceAddress[]>();
  const chains: Array<{ port: number; chain: Record<string, unknown> }> = [];
  const headless = new Map<string, ServiceAddress[]>();
  for (const address of model.addresses().owned) {
    const { service, servicePort } = address;
    if (options.reach && !options.reach.has(service.key)) continue;
    if (address.headless) {
      const name = clusterName(service.key, servicePort.port) + (address.port !== servicePort.port ? `|${address.port}` : '');
      appendTo(headless, name, address);
    } else if (isHttpPort(servicePort)) {
      appendTo(httpByPort, address.port, address);
    } else {
      const cluster = clusterName(service.key, servicePort.port);
      chains.push({
        port: address.port,
        chain: {
          name: cluster,
          filterChainMatch: { destinationPort: { value: address.port }, prefixRanges: [hostRange(address.ip)] },
          filters: [tcpProxy(`outbound_${statName(service, servicePort.port)}`, cluster)],
        },
      });
    }
  }
  for (const [port, addresses] of httpByPort) {
    chains.push({
      port,
      chain: {
        name: `http/${port}`,
        filterChainMatch: { destinationPort: { value: port }, prefixRanges: addresses.map((a) => hostRange(a.ip)) },
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typedConfig: httpConnectionManager(`outbound_${port}`, outboundRouteName(port)),
          },
        ],
      },
    });
  }
  for (const [name, addresses] of headless) {
    const [{ service, servicePort, port }] = addresses;
    chains.push({
      port,
      chain: {
        name,
        filterChainMatch: { destinationPort: { value: port }, prefixRanges: addresses.map((a) => hostRange(a.ip)) },
        filters: [tcpProxy(`outbound_${statName(service, servicePort.port)}`, PASSTHROUGH_CLUSTER)],
      },
    });
  }
  chains.push({
    port: options.outboundPort,
    chain: {
      name: 'self',
      filterChainMatch: { destinationPort: { value: options.outboundPort } },
      filters: [tcpProxy('outbound_self', BLACKHOLE_CLUSTER)],
    },
  });
  chains.sort((a, b) => a.port - b.port || compare(String(a.chain.name), String(b.chain.name)));
  const fallback = options.outboundTraffic === 'registry-only' ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
  return {
    typeUrl: TypeUrl.Listener,
    name: OUTBOUND_LISTENER,
    value: {
      name: OUTBOUND_LISTENER,
      address: socketAddress('0.0.0.0', options.outboundPort),
      trafficDirection: 'OUTBOUND',
      listenerFilters: [ORIGINAL_DST_FILTER],
      filterChains: chains.map((c) => c.chain),
      defaultFilterChain: { name: fallback, filters: [tcpProxy(`outbound_${fallback}`, fallback)] },
    },
  };
}

/**
 * API listeners for proxyless gRPC, for every HTTP port of the Service and under each name a
 * client may dial (`name.ns.svc.<domain>:port`, `name.ns:port`, `name.ns.svc:port`), all
 * sharing one route configuration. They are made ahead of time rather than on demand: the
 * translator is pure and does not see subscriptions, every proxyless client then shares one
 * cached set, and a client's first request is answered at once from the cache.
 * The bare `name:port` is left out: it only means something inside the caller's namespace.
 */
export function buildProxylessListeners(service: ServiceInfo, options: TranslateOptions): XdsResource[] {
  const listeners: XdsResource[] = [];
  for (const port of service.ports.filter(isHttpPort)) {
    const routeName = proxylessRouteName(service, port, options);
    for (const name of proxylessListenerNames(service, port, options)) {
      listeners.push({
        typeUrl: TypeUrl.Listener,
        name,
        value: {
          name,
          apiListener: { apiListener: httpConnectionManager(`proxyless_${service.namespace}_${service.name}_${port.port}`, routeName) },
        },
      });
    }
  }
  return listeners;
}
