// Resource names shared by the translator's modules (see docs/architecture.md, "Names").
import type { ServiceInfo, ServicePortInfo } from '../model/index.js';
import type { TranslateOptions } from './options.js';

/** The sidecar's virtual listeners: every captured outbound / inbound connection lands on one of them. */
export const OUTBOUND_LISTENER = 'outbound';
export const INBOUND_LISTENER = 'inbound';
/** ORIGINAL_DST: a connection goes on to the address it was made to. */
export const PASSTHROUGH_CLUSTER = 'passthrough';
/** No endpoints: a connection is closed. */
export const BLACKHOLE_CLUSTER = 'blackhole';

/**
 * The Listener an xDS-enabled gRPC server (gRFC A36) asks for when it listens on ip:port, by the
 * default `server_listener_resource_name_template` of gRPC's bootstraps.
 */
export function serverListenerName(ip: string, port: number): string {
  return `grpc/server?xds.resource.listening_address=${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

/** The inbound cluster and route configuration of one application port: `inbound|<port>`. */
export function inboundName(port: number): string {
  return `inbound|${port}`;
}

/** The sidecar route configuration of the HTTP Services on one port: the port number, e.g. `80`. */
export function outboundRouteName(port: number): string {
  return String(port);
}

/** Cluster and ClusterLoadAssignment: `<namespace>/<service>/<port>`. */
export function clusterName(serviceKey: string, port: number): string {
  return `${serviceKey}/${port}`;
}

/** The host names a Service answers to, shortest first: name, name.ns, name.ns.svc, name.ns.svc.<domain>. */
export function serviceHostNames(service: ServiceInfo, options: TranslateOptions): string[] {
  const { name, namespace } = service;
  return [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.${options.clusterDomain}`];
}

/** The listener names a proxyless gRPC client asks for (`xds:///<host>:<port>` -> `<host>:<port>`); the first is the canonical one. */
export function proxylessListenerNames(service: ServiceInfo, port: ServicePortInfo, options: TranslateOptions): string[] {
  const [, withNs, withSvc, fqdn] = serviceHostNames(service, options);
  return [fqdn, withNs, withSvc].map((host) => `${host}:${port.port}`);
}

/** Proxyless route configuration of one Service port: shared by its API listeners, named like the canonical one. */
export function proxylessRouteName(service: ServiceInfo, port: ServicePortInfo, options: TranslateOptions): string {
  return proxylessListenerNames(service, port, options)[0];
}

/** Ports that carry HTTP (HTTP/1, HTTP/2, gRPC): they get routes; TCP ports get a TCP proxy. */
export function isHttpPort(port: ServicePortInfo): boolean {
  return port.protocol !== 'tcp';
}

/** A gateway's listener and the route configuration it uses: `gateway/<gateway-name>/<port>`. */
export function gatewayListenerName(gatewayName: string, port: number): string {
  return `gateway/${gatewayName}/${port}`;
}

/** An SDS Secret built from a Kubernetes TLS Secret: `<namespace>/<secretName>`. */
export function tlsSecretName(namespace: string, secretName: string): string {
  return `${namespace}/${secretName}`;
}
