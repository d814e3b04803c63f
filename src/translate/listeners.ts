// Listeners: the sidecar's outbound HTTP listener and a TCP proxy per TCP Service port; for
// proxyless gRPC, an API listener per name a client may ask for.
import { log } from '../log.js';
import type { MeshModel, ServiceInfo, ServicePortInfo } from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import {
  clusterName,
  isHttpPort,
  OUTBOUND_HTTP_LISTENER,
  OUTBOUND_ROUTE_NAME,
  proxylessListenerNames,
  proxylessRouteName,
  tcpListenerName,
} from './names.js';
import type { TranslateOptions } from './options.js';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** An HTTP connection manager that takes its routes from RDS over ADS; the router filter is last (Envoy and gRPC require it). */
function httpConnectionManager(statPrefix: string, routeConfigName: string): Record<string, unknown> {
  return {
    '@type': HCM_TYPE,
    statPrefix,
    rds: { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName },
    httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER_TYPE } }],
  };
}

function socketAddress(address: string, port: number): Record<string, unknown> {
  return { socketAddress: { address, portValue: port } };
}

/** Where the sidecar's listener for one TCP Service port goes, or who already holds that address. */
interface TcpListenerSlot {
  service: ServiceInfo;
  port: ServicePortInfo;
  address: string;
  /** Reached through outbound-http's original destination: the listener does not bind. */
  handOff: boolean;
  /** The listener already on `address:port` (another Service's key, or outbound-http): this port gets none. */
  takenBy?: string;
}

/**
 * The TCP listener of every TCP Service port, in Service key order. Envoy rejects two listeners
 * on one address and port: the first Service by key keeps it, the others are left without one.
 */
export function tcpListenerSlots(model: MeshModel, options: TranslateOptions): TcpListenerSlot[] {
  const owners = new Map<string, string>([[`${options.outboundAddress}:${options.outboundHttpPort}`, OUTBOUND_HTTP_LISTENER]]);
  const slots: TcpListenerSlot[] = [];
  for (const service of model.services()) {
    for (const port of service.ports) {
      if (isHttpPort(port)) continue;
      // With traffic capture, outbound-http hands a connection to the listener of its original
      // destination (the cluster IP), so that listener does not bind. Headless Services have no
      // cluster IP: clients reach pod IPs directly. Without capture, the listener binds locally.
      const handOff = options.captureOriginalDst && service.clusterIP !== undefined;
      if (options.captureOriginalDst && service.headless) continue;
      const address = handOff ? (service.clusterIP as string) : options.outboundAddress;
      const bound = `${address}:${port.port}`;
      const owner = owners.get(bound);
      if (owner === undefined) owners.set(bound, service.key);
      slots.push({ service, port, address, handOff, ...(owner !== undefined ? { takenBy: owner } : {}) });
    }
  }
  return slots;
}

export function buildSidecarListeners(model: MeshModel, options: TranslateOptions): XdsResource[] {
  const listeners: XdsResource[] = [
    {
      typeUrl: TypeUrl.Listener,
      name: OUTBOUND_HTTP_LISTENER,
      value: {
        name: OUTBOUND_HTTP_LISTENER,
        address: socketAddress(options.outboundAddress, options.outboundHttpPort),
        trafficDirection: 'OUTBOUND',
        ...(options.captureOriginalDst ? { useOriginalDst: { value: true } } : {}),
        filterChains: [
          {
            filters: [
              {
                name: 'envoy.filters.network.http_connection_manager',
                typedConfig: httpConnectionManager('outbound_http', OUTBOUND_ROUTE_NAME),
              },
            ],
          },
        ],
      },
    },
  ];
  for (const slot of tcpListenerSlots(model, options)) {
    const { service, port, address, handOff } = slot;
    if (slot.takenBy !== undefined) {
      // Reported by the analysis (TcpPortConflict).
      log.debug('listeners: TCP port already taken by another listener; Service port left without one', {
        service: service.key,
        port: port.port,
      });
      continue;
    }
    const name = tcpListenerName(service.key, port.port);
    const cluster = clusterName(service.key, port.port);
    listeners.push({
      typeUrl: TypeUrl.Listener,
      name,
      value: {
        name,
        address: socketAddress(address, port.port),
        trafficDirection: 'OUTBOUND',
        ...(handOff ? { bindToPort: { value: false } } : {}),
        filterChains: [
          {
            filters: [
              {
                name: 'envoy.filters.network.tcp_proxy',
                typedConfig: {
                  '@type': TCP_PROXY_TYPE,
                  statPrefix: `outbound_tcp_${service.namespace}_${service.name}_${port.port}`,
                  cluster,
                },
              },
            ],
          },
        ],
      },
    });
  }
  return listeners;
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
