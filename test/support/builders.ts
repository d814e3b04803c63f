// Builders for the Kubernetes objects tests feed Switchyard: one place, so a test says only what
// it cares about (a name, ports, addresses) and a change to an object's shape is made once.
// Everything defaults to namespace `shop`; objects come back typed, ready for `upsert`.
import type {
  EndpointSliceObject,
  IngressClassObject,
  IngressObject,
  KubeObject,
  ResourceKind,
  SecretObject,
  ServiceObject,
  SourceEvent,
  TrafficPolicyObject,
} from '../../src/sources/types.js';

export const NAMESPACE = 'shop';

export type ServicePort = NonNullable<ServiceObject['spec']['ports']>[number];
export type Endpoint = NonNullable<EndpointSliceObject['endpoints']>[number];
export type SlicePort = NonNullable<EndpointSliceObject['ports']>[number];

export interface Meta {
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function meta(name: string, options: Meta & { generation?: number; creationTimestamp?: string } = {}): KubeObject['metadata'] {
  const { namespace = NAMESPACE, labels, annotations, generation, creationTimestamp } = options;
  return {
    name,
    namespace,
    ...(labels ? { labels } : {}),
    ...(annotations ? { annotations } : {}),
    ...(generation !== undefined ? { generation } : {}),
    ...(creationTimestamp !== undefined ? { creationTimestamp } : {}),
  } as KubeObject['metadata'];
}

/** A Service; ports default to one `http` port 8080; `spec` adds fields (type, selector, clusterIP...). */
export function service(name: string, ports: ServicePort[] = [{ name: 'http', port: 8080 }], options: Meta & { spec?: object } = {}): ServiceObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: meta(name, options), spec: { ports, ...options.spec } } as ServiceObject;
}

/** `count` ready endpoints 10.0.<subnet>.1.. in one zone. */
export function readyEndpoints(count: number, options: { zone?: string; subnet?: number } = {}): Endpoint[] {
  const { zone = 'zone-a', subnet = 0 } = options;
  return Array.from({ length: count }, (_, i) => ({ addresses: [`10.0.${subnet}.${i + 1}`], conditions: { ready: true }, zone }));
}

/** Ready endpoints at these addresses (one address each). */
export function endpointsAt(...addresses: string[]): Endpoint[] {
  return addresses.map((address) => ({ addresses: [address], conditions: { ready: true } }));
}

/**
 * An EndpointSlice of a Service, named `<service>-slice` unless `name` says otherwise. Endpoints
 * are addresses (each ready) or full entries; ports default to one `http` port 8080.
 */
export function endpointSlice(
  serviceName: string,
  endpoints: Array<string | Endpoint>,
  options: Meta & { name?: string; ports?: SlicePort[]; addressType?: EndpointSliceObject['addressType'] } = {},
): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta(options.name ?? `${serviceName}-slice`, { ...options, labels: { 'kubernetes.io/service-name': serviceName, ...options.labels } }),
    addressType: options.addressType ?? 'IPv4',
    ports: options.ports ?? [{ name: 'http', port: 8080 }],
    endpoints: endpoints.map((e) => (typeof e === 'string' ? { addresses: [e], conditions: { ready: true } } : e)),
  };
}

/** A TrafficPolicy for the Service `target` (spec fields besides `targetRef` as given). */
export function trafficPolicy(
  name: string,
  target: string | undefined,
  spec: object = {},
  options: Meta & { generation?: number; creationTimestamp?: string } = {},
): TrafficPolicyObject {
  return {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: meta(name, { generation: 1, ...options }),
    spec: { ...(target !== undefined ? { targetRef: { name: target } } : {}), ...spec },
  } as TrafficPolicyObject;
}

export interface IngressPath {
  path?: string;
  pathType?: 'Prefix' | 'Exact' | 'ImplementationSpecific';
  service: string;
  /** A port number or a port name. */
  port: number | string;
}

/** An Ingress of class `switchyard` with one rule per host; `spec` adds or overrides fields (tls, defaultBackend...). */
export function ingress(name: string, rules: Array<{ host?: string; paths: IngressPath[] }>, options: Meta & { spec?: object } = {}): IngressObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: meta(name, options),
    spec: {
      ingressClassName: 'switchyard',
      rules: rules.map(({ host, paths }) => ({
        ...(host !== undefined ? { host } : {}),
        http: {
          paths: paths.map((p) => ({
            path: p.path ?? '/',
            pathType: p.pathType ?? 'Prefix',
            backend: { service: { name: p.service, port: typeof p.port === 'number' ? { number: p.port } : { name: p.port } } },
          })),
        },
      })),
      ...options.spec,
    },
  } as IngressObject;
}

export function ingressClass(name: string, controller = 'switchyard.dev/gateway'): IngressClassObject {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name }, spec: { controller } };
}

/** A `kubernetes.io/tls` Secret from PEM text (stored base64, as the API server serves it). */
export function tlsSecret(name: string, certPem: string, keyPem: string, options: Meta = {}): SecretObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(name, options),
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(certPem).toString('base64'), 'tls.key': Buffer.from(keyPem).toString('base64') },
  };
}

/** A Pod (as the e2e and kube tests read them: name, labels, IP). Not a kind the model reads. */
export function pod(name: string, ip: string, options: Meta & { node?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta(name, options),
    spec: { ...(options.node ? { nodeName: options.node } : {}), containers: [{ name: 'app', image: 'app' }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

export function upsert(object: KubeObject): SourceEvent {
  return { type: 'upsert', ref: { kind: object.kind, namespace: object.metadata.namespace ?? '', name: object.metadata.name }, object };
}

export function remove(kind: ResourceKind, name: string, namespace = NAMESPACE): SourceEvent {
  return { type: 'delete', ref: { kind, namespace, name } };
}

/** Upserts of every object, in order. */
export function upserts(...objects: KubeObject[]): SourceEvent[] {
  return objects.map(upsert);
}
