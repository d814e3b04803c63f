// The Pod processor and workload shapes. A pod becomes a workload: identity (namespace, name,
// IP, service account), labels and container ports. Its shape is what its inbound side depends
// on: the namespace and, for every port of every Service selecting it, the port it listens on
// (the targetPort, a named one resolved through the pod's container ports), its protocol, its
// AccessPolicy outcome and its TrafficPolicy rate limit.
// Pods of one shape get the same inbound configuration, so proxies are grouped by it.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { PodObject } from '../sources/types.js';
import { compare, objectKey } from './keys.js';
import type { PortProtocol, RateLimit, ServiceInfo, ServicePolicy } from './types.js';
import type { MtlsMode, ServiceAccess } from './access-policy.js';

export interface WorkloadInfo {
  key: string;
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  /** status.podIP when it is an address (a pending pod has none). */
  ip?: string;
  /** spec.serviceAccountName, `default` when unset. */
  serviceAccount: string;
  /** TCP container ports, by name where named. */
  containerPorts: ReadonlyArray<{ name: string; port: number }>;
  /** Its sidecar terminates mutual TLS: the injection webhook gave it the workload certificate (MESH_TLS_ANNOTATION). */
  meshTls: boolean;
  /**
   * Its proxyless gRPC has the workload certificate provider (PROXYLESS_TLS_ANNOTATION): under
   * Strict its xDS-enabled servers terminate mutual TLS (gRFC A29), so callers use TLS to it.
   */
  proxylessTls: boolean;
}

/** The annotation the injection webhook sets on a pod whose sidecar reads the workload certificate (injection/sidecar.ts SDS_ANNOTATIONS). */
export const MESH_TLS_ANNOTATION = 'switchyard.dev/sds-workload-certificate';
/**
 * Set by the user on a pod whose proxyless gRPC bootstrap has the `workload` certificate provider
 * (the same key and value its node metadata carries): `switchyard.dev/certificate-provider: workload`.
 */
export const PROXYLESS_TLS_ANNOTATION = 'switchyard.dev/certificate-provider';
export const PROXYLESS_TLS_VALUE = 'workload';

export function workloadInfo(namespace: string, name: string, object: PodObject): WorkloadInfo {
  const ip = object.status?.podIP;
  return {
    key: objectKey(namespace, name),
    namespace,
    name,
    labels: { ...(object.metadata.labels ?? {}) },
    ...(ip !== undefined && isIP(ip) !== 0 ? { ip } : {}),
    serviceAccount: object.spec?.serviceAccountName || 'default',
    meshTls: object.metadata.annotations?.[MESH_TLS_ANNOTATION] !== undefined,
    proxylessTls: object.metadata.annotations?.[PROXYLESS_TLS_ANNOTATION] === PROXYLESS_TLS_VALUE,
    containerPorts: (object.spec?.containers ?? []).flatMap((c) =>
      (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => ({ name: p.name ?? '', port: p.containerPort })),
    ),
  };
}

/**
 * Whether the pod answers mutual TLS on its Service ports under a mode: a sidecar with the
 * workload certificate under Strict or Permissive; a marked proxyless gRPC server only under
 * Strict (gRPC cannot tell TLS from plain text on one port, so Permissive serves it plain text).
 */
export function terminatesMeshTls(pod: WorkloadInfo, mode: MtlsMode): boolean {
  if (mode === 'Disable') return false;
  return pod.meshTls || (pod.proxylessTls && mode === 'Strict');
}

/** Whether a Service selects the pod: same namespace, a non-empty selector, every label equal. */
export function selects(service: ServiceInfo, workload: WorkloadInfo): boolean {
  const selector = service.object.spec?.selector;
  if (service.namespace !== workload.namespace || !selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([label, value]) => workload.labels[label] === value);
}

/** One port the workload serves: where inbound connections for it go. */
export interface InboundPort {
  /** The port the application listens on (the Service's targetPort, resolved). */
  port: number;
  protocol: PortProtocol;
  /** The Service ports that lead here, `<namespace>/<service>:<port>`, sorted. */
  services: string[];
  /** Mutual TLS and who may call (AccessPolicy): those of the first Service by key leading here. */
  access?: ServiceAccess;
  /** The first Service's TrafficPolicy limit that applies here: on requests (HTTP ports) or on connections (TCP ports). */
  rateLimit?: RateLimit;
}

/** What a workload's inbound configuration depends on; equal shapes, equal configuration. */
export interface WorkloadShape {
  namespace: string;
  /** By port; one entry per port the application listens on. */
  ports: InboundPort[];
  /** A short stable id of the shape (a hash of its canonical form). */
  id: string;
}

/**
 * The shape of a workload given the Services selecting it (sorted by key). When two Service
 * ports lead to one application port with different protocols, the first Service by key decides
 * (one port has one protocol). A named targetPort the pod does not declare leads nowhere: as in
 * Kubernetes, that Service port has no endpoint on this pod.
 */
export function workloadShape(
  workload: WorkloadInfo,
  selecting: readonly ServiceInfo[],
  accessOf?: (serviceKey: string) => ServiceAccess,
  policyOf?: (serviceKey: string) => ServicePolicy | undefined,
): WorkloadShape {
  const byPort = new Map<number, InboundPort>();
  for (const service of selecting) {
    for (const servicePort of service.ports) {
      const target = servicePort.targetPort ?? servicePort.port;
      const port = typeof target === 'number' ? target : workload.containerPorts.find((p) => p.name === target)?.port;
      if (port === undefined) continue;
      const policy = policyOf?.(service.key);
      const rateLimit = servicePort.protocol === 'tcp' ? policy?.connectionLimit : policy?.rateLimit;
      const entry: InboundPort = byPort.get(port) ?? {
        port,
        protocol: servicePort.protocol,
        services: [],
        ...(accessOf ? { access: accessOf(service.key) } : {}),
        ...(rateLimit ? { rateLimit } : {}),
      };
      entry.services.push(`${service.key}:${servicePort.port}`);
      byPort.set(port, entry);
    }
  }
  const ports = [...byPort.values()].sort((a, b) => a.port - b.port);
  for (const entry of ports) entry.services.sort(compare);
  // The access (mode and rules) and the rate limit are part of the shape: a policy change moves the pods to a new group.
  const canonical = JSON.stringify([
    workload.namespace,
    ports.map((p) => [
      p.port,
      p.protocol,
      p.services,
      ...(p.access ? [{ ...p.access, serviceKey: undefined }] : []),
      ...(p.rateLimit ? [{ rateLimit: p.rateLimit }] : []),
    ]),
  ]);
  const id = createHash('sha256').update(canonical).digest('base64url').slice(0, 12);
  return { namespace: workload.namespace, ports, id };
}
