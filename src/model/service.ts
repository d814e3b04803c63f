// The Service processor: a Service becomes its TCP ports, each with the protocol it is spoken
// in, its cluster IP (or headless) and whether it asks for client-IP affinity.
import { isIP } from 'node:net';
import type { ServiceObject, ServicePortSpec } from '../sources/types.js';
import { objectKey } from './keys.js';
import type { PortProtocol, ServiceInfo } from './types.js';

export function serviceInfo(namespace: string, name: string, object: ServiceObject): ServiceInfo {
  const spec = object.spec ?? {};
  const clusterIP = spec.clusterIP;
  const headless = clusterIP === 'None';
  return {
    key: objectKey(namespace, name),
    namespace,
    name,
    headless,
    // Only a real address: sidecars match captured connections on it.
    ...(clusterIP && !headless && isIP(clusterIP) !== 0 ? { clusterIP } : {}),
    // An ExternalName Service is a DNS alias with no endpoints: nothing to proxy, so no ports.
    ports: (spec.type === 'ExternalName' ? [] : (spec.ports ?? []))
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
      .map((p) => ({
        name: p.name ?? '',
        port: p.port,
        ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
        protocol: portProtocol(p),
      })),
    clientIPAffinity: spec.sessionAffinity === 'ClientIP',
    object,
  };
}

/**
 * How a Service port is spoken. HTTP, HTTP/2 or gRPC only when the port says so (Istio's rule,
 * docs/architecture.md): its `appProtocol`, or without one its name being the protocol or `<protocol>-…`
 * (`http`, `http-web`, `http2-api`, `grpc-payments`). Anything else is TCP: parsing an unknown
 * protocol (redis, mysql, postgres…) as HTTP breaks its traffic, a TCP proxy never does.
 */
function portProtocol(port: ServicePortSpec): PortProtocol {
  if (port.appProtocol !== undefined) return APP_PROTOCOLS.get(port.appProtocol.toLowerCase()) ?? 'tcp';
  const name = (port.name ?? '').toLowerCase();
  for (const [prefix, protocol] of NAME_PROTOCOLS) {
    if (name === prefix || name.startsWith(`${prefix}-`)) return protocol;
  }
  return 'tcp';
}

/**
 * appProtocol values (IANA service names and Kubernetes' `kubernetes.io/…` names) that are HTTP.
 * `grpc-web` is HTTP/1.1 from browsers, so it is routed as HTTP without forcing HTTP/2 upstream.
 * `kubernetes.io/ws` / `wss` stay TCP: the HTTP listener does not enable WebSocket upgrades, and
 * wss is TLS the proxy cannot read.
 */
const APP_PROTOCOLS = new Map<string, PortProtocol>([
  ['http', 'http'],
  ['kubernetes.io/http', 'http'],
  ['grpc-web', 'http'],
  ['http2', 'http2'],
  ['h2c', 'http2'],
  ['kubernetes.io/h2c', 'http2'],
  ['grpc', 'grpc'],
  ['kubernetes.io/grpc', 'grpc'],
]);

/** Port-name protocols, `grpc-web` before `grpc` (it would otherwise read as gRPC with suffix "web"). */
const NAME_PROTOCOLS: ReadonlyArray<[string, PortProtocol]> = [
  ['grpc-web', 'http'],
  ['grpc', 'grpc'],
  ['http2', 'http2'],
  ['h2c', 'http2'],
  ['http', 'http'],
];
