// Builders for the Kubernetes objects tests feed Switchyard (Services, EndpointSlices,
// TrafficPolicies, Ingresses, Secrets, and their source events): one place, so a test says only what
// it cares about (a name, ports, addresses) and a change to an object's shape is made once.
// Everything defaults to namespace `shop`; objects come back typed, ready for `upsert`.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MeshModel } from '../../src/model/index.js';
import type {
  AccessPolicyObject,
  AccessPolicySpec,
  EndpointSliceObject,
  GatewayClassObject,
  IngressObject,
  KubeObject,
  ResourceKind,
  SecretObject,
  ServiceObject,
  SourceEvent,
  TrafficPolicyObject,
} from '../../src/sources/types.js';

const NAMESPACE = 'shop';

type ServicePort = NonNullable<ServiceObject['spec']['ports']>[number];
type Endpoint = NonNullable<EndpointSliceObject['endpoints']>[number];
type SlicePort = NonNullable<EndpointSliceObject['ports']>[number];

interface Meta {
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

/** The GatewayClass `switchyard`, naming Switchyard's Gateway API controller. */
export function gatewayClass(): GatewayClassObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: 'switchyard' },
    spec: { controllerName: 'switchyard.dev/gateway-controller' },
  } as GatewayClassObject;
}

/** A Service; ports default to one `http` port 8080; `spec` adds fields (type, selector, clusterIP, sessionAffinity...). */
// Ports, endpoints and slice ports are plain objects so a test may also write what the schema
// would refuse (a port without a number, say) to see what the model does with it.
export function service(
  name: string,
  ports: Array<ServicePort | object> = [{ name: 'http', port: 8080 }],
  spec: object = {},
  options: Meta = {},
): ServiceObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: meta(name, options), spec: { ports, ...spec } } as ServiceObject;
}

/** Ready endpoints at these addresses (one address each). */
export function endpointsAt(...addresses: string[]): Endpoint[] {
  return addresses.map((address) => ({ addresses: [address], conditions: { ready: true } }));
}

/** An EndpointSlice `name` of the Service `serviceName`; ports default to one `http` port 8080. */
export function slice(
  name: string,
  serviceName: string,
  endpoints: Array<Endpoint | object>,
  ports: Array<SlicePort | object> = [{ name: 'http', port: 8080 }],
  options: Meta & { addressType?: EndpointSliceObject['addressType'] } = {},
): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta(name, { ...options, labels: { 'kubernetes.io/service-name': serviceName, ...options.labels } }),
    addressType: options.addressType ?? 'IPv4',
    ports: ports as SlicePort[],
    endpoints: endpoints as Endpoint[],
  };
}

/** A TrafficPolicy with this spec (give `targetRef` in it); generation 1 unless said. */
export function policy(
  name: string,
  spec: object,
  generation = 1,
  options: Meta & { creationTimestamp?: string } = {},
): TrafficPolicyObject {
  return {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: meta(name, { generation, ...options }),
    spec,
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
export function ingress(
  name: string,
  rules: Array<{ host?: string; paths: IngressPath[] }>,
  options: Meta & { spec?: object } = {},
): IngressObject {
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

interface PemCertificate {
  certPem: string;
  keyPem: string;
}

/** A `kubernetes.io/tls` Secret holding this certificate and key (stored base64, as the API server serves them). */
export function tlsSecret(name: string, certificate: PemCertificate, options: Meta = {}): SecretObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(name, options),
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(certificate.certPem).toString('base64'), 'tls.key': Buffer.from(certificate.keyPem).toString('base64') },
  };
}

/** An AccessPolicy (namespace-wide unless `spec.targetRef` names a Service). */
export function accessPolicy(
  name: string,
  spec: AccessPolicySpec,
  options: Meta & { generation?: number; creationTimestamp?: string } = {},
): AccessPolicyObject {
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'AccessPolicy', metadata: meta(name, options), spec } as AccessPolicyObject;
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

/** The model of the examples/ folder, read straight from its files. */
export function exampleModel(): MeshModel {
  const events: SourceEvent[] = [];
  for (const file of readdirSync('examples')
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(path.join('examples', file), 'utf8'))) {
      const object = doc.toJS() as KubeObject;
      events.push({
        type: 'upsert',
        ref: { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name },
        object,
      });
    }
  }
  const model = new MeshModel();
  model.apply(events);
  return model;
}
