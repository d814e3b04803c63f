// A synthetic mesh, deterministic from a seed: S Services with E endpoints each across two
// zones, a share of them with TrafficPolicies (ring hash, maglev, least request, splits), as
// the source events a Kubernetes source would emit. Also the single-endpoint changes the
// churn and burst scenarios apply.
import type { EndpointSliceObject, ServiceObject, SourceEvent, TrafficPolicyObject, TrafficPolicySpec } from '../src/sources/types.js';

export interface MeshOptions {
  services: number;
  endpointsPerService: number;
  seed?: number;
  /** Share of services (0..1) with a TrafficPolicy. */
  policyShare?: number;
  /** Services per namespace. */
  servicesPerNamespace?: number;
}

export const SERVICE_PORT = 8080;
export const ZONES = ['zone-a', 'zone-b'] as const;

export interface MeshService {
  namespace: string;
  name: string;
  /** The cluster and ClusterLoadAssignment name: `<namespace>/<service>/<port>`. */
  clusterName: string;
  service: ServiceObject;
  slice: EndpointSliceObject;
  policy?: TrafficPolicyObject;
}

export interface EndpointChange {
  /** The EndpointSlice upsert. */
  event: SourceEvent;
  service: MeshService;
  /** What changed, for the printed log. */
  description: string;
}

/** A small, fast, seedable PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Mesh {
  readonly services: MeshService[] = [];
  private readonly random: () => number;
  private nextAddress = 0;
  private changeCount = 0;

  constructor(readonly options: MeshOptions) {
    if (!Number.isInteger(options.services) || options.services < 1)
      throw new Error(`mesh: services must be a positive integer, got ${options.services}`);
    if (!Number.isInteger(options.endpointsPerService) || options.endpointsPerService < 1) {
      throw new Error(`mesh: endpointsPerService must be a positive integer, got ${options.endpointsPerService}`);
    }
    this.random = seededRandom(options.seed ?? 1);
    const perNamespace = options.servicesPerNamespace ?? 50;
    const policyShare = options.policyShare ?? 0.2;
    for (let i = 0; i < options.services; i++) {
      const namespace = `ns-${Math.floor(i / perNamespace)}`;
      const name = `svc-${i}`;
      const service: ServiceObject = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace, resourceVersion: '1' },
        spec: {
          type: 'ClusterIP',
          clusterIP: this.ip(172, i),
          ports: [{ name: 'http', port: SERVICE_PORT, targetPort: SERVICE_PORT, protocol: 'TCP', appProtocol: 'http' }],
          selector: { app: name },
        },
      };
      const slice: EndpointSliceObject = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-slice`, namespace, resourceVersion: '1', labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: Array.from({ length: options.endpointsPerService }, (_, e) => ({
          addresses: [this.freshAddress()],
          conditions: { ready: true, serving: true, terminating: false },
          zone: ZONES[e % ZONES.length],
          nodeName: `node-${e % 16}`,
          targetRef: { kind: 'Pod', name: `${name}-${e}`, namespace },
        })),
        ports: [{ name: 'http', port: SERVICE_PORT, protocol: 'TCP', appProtocol: 'http' }],
      };
      const meshService: MeshService = { namespace, name, clusterName: `${namespace}/${name}/${SERVICE_PORT}`, service, slice };
      if (this.random() < policyShare) meshService.policy = this.policyFor(meshService, i, perNamespace);
      this.services.push(meshService);
    }
  }

  /** Every object as upsert events: Services first, then EndpointSlices, then TrafficPolicies. */
  initialEvents(): SourceEvent[] {
    const events: SourceEvent[] = [];
    for (const s of this.services) events.push(upsert(s.service));
    for (const s of this.services) events.push(upsert(s.slice));
    for (const s of this.services) if (s.policy) events.push(upsert(s.policy));
    return events;
  }

  clusterNames(): string[] {
    return this.services.map((s) => s.clusterName);
  }

  /**
   * One endpoint of one service changes: alternately its address (a pod replaced) or its
   * readiness flips. Returns the service's whole EndpointSlice as an upsert, as the API server would.
   */
  endpointChange(serviceIndex?: number): EndpointChange {
    const index = serviceIndex ?? Math.floor(this.random() * this.services.length);
    const target = this.services[index];
    if (!target) throw new Error(`mesh: no service ${index} (the mesh has ${this.services.length})`);
    const endpoints = target.slice.endpoints!;
    const e = Math.floor(this.random() * endpoints.length);
    // A new address for an endpoint that is not ready changes nothing the proxies get (not-ready
    // endpoints are not sent), so no proxy would see it: the address change takes a ready one.
    const ready = (x: (typeof endpoints)[number]): boolean => x.conditions?.ready ?? true;
    const served = [...endpoints.slice(e), ...endpoints.slice(0, e)].find(ready);
    let endpoint = endpoints[e]!;
    let description: string;
    if (this.changeCount++ % 2 === 0 && served) {
      endpoint = served;
      const before = endpoint.addresses[0];
      endpoint.addresses = [this.freshAddress()];
      description = `${target.clusterName}: endpoint ${before} -> ${endpoint.addresses[0]}`;
    } else {
      const nowReady = !ready(endpoint);
      endpoint.conditions = { ready: nowReady, serving: nowReady, terminating: false };
      description = `${target.clusterName}: endpoint ${endpoint.addresses[0]} ready=${nowReady}`;
    }
    const version = Number(target.slice.metadata.resourceVersion ?? '1') + 1;
    target.slice = {
      ...target.slice,
      metadata: { ...target.slice.metadata, resourceVersion: String(version) },
      endpoints: endpoints.map((x) => ({ ...x })),
    };
    return { event: upsert(target.slice), service: target, description };
  }

  private policyFor(s: MeshService, i: number, perNamespace: number): TrafficPolicyObject {
    const kind = Math.floor(this.random() * 4);
    let spec: TrafficPolicySpec;
    if (kind === 0) {
      spec = {
        targetRef: { kind: 'Service', name: s.name },
        loadBalancer: { policy: 'RingHash', ringHash: { minimumRingSize: 1024 }, hashOn: [{ header: { name: 'x-user' } }] },
      };
    } else if (kind === 1) {
      spec = {
        targetRef: { kind: 'Service', name: s.name },
        loadBalancer: { policy: 'Maglev', hashOn: [{ cookie: { name: 'session', ttl: '1h' } }] },
      };
    } else if (kind === 2) {
      spec = {
        targetRef: { kind: 'Service', name: s.name },
        loadBalancer: { policy: 'LeastRequest', leastRequest: { choiceCount: 2 } },
        timeout: '5s',
      };
    } else {
      // A canary split with another service of the same namespace: the previous one, or the next
      // one for the first (a backend may appear only once in a split). Alone in its namespace, a
      // service gets retries without a split.
      const next = i + 1 < this.options.services && (i + 1) % perNamespace !== 0 ? i + 1 : undefined;
      const sibling = i % perNamespace === 0 ? next : i - 1;
      spec = {
        targetRef: { kind: 'Service', name: s.name },
        ...(sibling === undefined
          ? {}
          : {
              split: [
                { backend: s.name, weight: 90 },
                { backend: `svc-${sibling}`, weight: 10 },
              ],
            }),
        retries: { attempts: 2, retryOn: ['5xx'] },
      };
    }
    return {
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: `${s.name}-policy`, namespace: s.namespace, generation: 1, resourceVersion: '1' },
      spec,
    };
  }

  private ip(first: number, n: number): string {
    return `${first}.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  }

  private freshAddress(): string {
    return this.ip(10, ++this.nextAddress);
  }
}

function upsert(object: ServiceObject | EndpointSliceObject | TrafficPolicyObject): SourceEvent {
  return {
    type: 'upsert',
    ref: { kind: object.kind, namespace: object.metadata.namespace ?? '', name: object.metadata.name },
    object,
  };
}
