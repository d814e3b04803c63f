// A Kubernetes cluster as a source: one @kubernetes/client-node informer (ListWatch) per kind
// (and per namespace when namespaces are given), their add / update / delete callbacks turned
// into the same validated events the files source emits. The informers resume watches from the
// last resourceVersion, relist on 410 Gone (their cache then reports what vanished while away),
// and hand errors to us: we restart them with backoff and keep the last state served meanwhile.
/* eslint-disable @typescript-eslint/no-explicit-any -- objects as the API server sends them, before they are checked */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  ListWatch,
  NetworkingV1Api,
  Watch,
  type KubernetesObject,
  type KubernetesListObject,
} from '@kubernetes/client-node';
import { log } from '../log.js';
import { markPush } from '../push-trace.js';
import { API_VERSIONS, CLUSTER_SCOPED_KINDS } from './kube-schemas.js';
import { GATEWAY_API_GROUP } from './gateway-api-schemas.js';
import { canonicalJson, normalizeObject, objectRef, toSourceEvent } from './manifests.js';
import {
  refKey,
  GATEWAY_API_KINDS,
  type EventSink,
  type GatewayApiKind,
  type KubeObject,
  type ObjectRef,
  type PodObject,
  type ResourceKind,
  type Source,
  type SourceEvent,
  type TrafficPolicyObject,
  type AccessPolicyObject,
} from './types.js';

export const TRAFFIC_POLICY_GROUP = 'switchyard.dev';
export const TRAFFIC_POLICY_VERSION = 'v1alpha1';
export const TRAFFIC_POLICY_PLURAL = 'trafficpolicies';
export const ACCESS_POLICY_PLURAL = 'accesspolicies';
/** Set by the injection webhook on a pod whose sidecar has the workload certificate (src/injection/sidecar.ts SDS_ANNOTATIONS). */
export const MESH_TLS_ANNOTATION = 'switchyard.dev/sds-workload-certificate';
/** Set by the user on a pod whose proxyless gRPC bootstrap has the workload certificate provider (model PROXYLESS_TLS_ANNOTATION). */
export const PROXYLESS_TLS_ANNOTATION = 'switchyard.dev/certificate-provider';
/** A pod's own egress scope (src/model/scope.ts EGRESS_ANNOTATION; sources/ does not import the model). */
export const POD_EGRESS_ANNOTATION = 'switchyard.dev/egress';
/** The pod annotations the model reads; the informer keeps these and drops the rest. */
const POD_ANNOTATIONS = [MESH_TLS_ANNOTATION, PROXYLESS_TLS_ANNOTATION, POD_EGRESS_ANNOTATION];
const TLS_SECRET_TYPE = 'kubernetes.io/tls';

export interface KubernetesSourceOptions {
  /** A ready kubeconfig (tests). Otherwise loaded from `kubeconfigPath`, KUBECONFIG, ~/.kube/config or the pod's service account. */
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  /** Namespaces to read; empty or absent reads every namespace. */
  namespaces?: string[];
  /** Applied to Services, Ingresses, Secrets and TrafficPolicies. EndpointSlices and
   * IngressClasses are read whole: they carry Kubernetes' labels, not the user's. */
  labelSelector?: string;
  /** The IngressClass whose Ingresses the gateway serves (kept for the gateway translator). */
  ingressClassName?: string;
  /** Page size of list requests. Default 500. */
  pageSize?: number;
  /** Reconnect backoff after a failed list or watch: doubles from initialMs up to maxMs. Defaults 500 ms and 30 s. */
  backoff?: { initialMs?: number; maxMs?: number };
}

/** Loads a kubeconfig: the given file, else KUBECONFIG / ~/.kube/config / in-cluster. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const config = new KubeConfig();
  if (kubeconfigPath) config.loadFromFile(kubeconfigPath);
  else config.loadFromDefault();
  if (!config.getCurrentCluster()) {
    throw new Error(
      kubeconfigPath
        ? `kubeconfig ${kubeconfigPath} has no current cluster; set current-context or pass --kubeconfig with a usable file`
        : 'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account',
    );
  }
  return config;
}

type ListPage = { metadata?: { resourceVersion?: string; continue?: string; _continue?: string }; items: unknown[] };

interface KindSpec {
  kind: ResourceKind;
  /** The watch path: all namespaces when `namespace` is undefined. */
  path(namespace?: string): string;
  list(
    namespace: string | undefined,
    page: { limit: number; _continue?: string; labelSelector?: string; fieldSelector?: string },
  ): Promise<ListPage>;
  usesLabelSelector: boolean;
  fieldSelector?: string;
  /** A kind whose CRDs may not be installed (Gateway API): a 404 means "none", not a failure. */
  optional?: boolean;
  /** A kind the service account may not be allowed to read (Namespaces, with namespaced RBAC): a 403 means "none". */
  mayBeForbidden?: boolean;
}

/** The plural resource name of each Gateway API kind. */
export const GATEWAY_API_PLURALS: Record<GatewayApiKind, string> = {
  GatewayClass: 'gatewayclasses',
  Gateway: 'gateways',
  HTTPRoute: 'httproutes',
  GRPCRoute: 'grpcroutes',
  ReferenceGrant: 'referencegrants',
};

function kindSpecs(config: KubeConfig): KindSpec[] {
  const core = config.makeApiClient(CoreV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const networking = config.makeApiClient(NetworkingV1Api);
  const custom = config.makeApiClient(CustomObjectsApi);
  const namespaced = (prefix: string, plural: string) => (namespace?: string) =>
    namespace === undefined ? `${prefix}/${plural}` : `${prefix}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
  return [
    {
      kind: 'Service',
      path: namespaced('/api/v1', 'services'),
      list: (namespace, page) =>
        namespace === undefined ? core.listServiceForAllNamespaces(page) : core.listNamespacedService({ namespace, ...page }),
      usesLabelSelector: true,
    },
    {
      kind: 'EndpointSlice',
      path: namespaced('/apis/discovery.k8s.io/v1', 'endpointslices'),
      list: (namespace, page) =>
        namespace === undefined
          ? discovery.listEndpointSliceForAllNamespaces(page)
          : discovery.listNamespacedEndpointSlice({ namespace, ...page }),
      usesLabelSelector: false,
    },
    {
      kind: 'Ingress',
      path: namespaced('/apis/networking.k8s.io/v1', 'ingresses'),
      list: (namespace, page) =>
        namespace === undefined ? networking.listIngressForAllNamespaces(page) : networking.listNamespacedIngress({ namespace, ...page }),
      usesLabelSelector: true,
    },
    {
      kind: 'IngressClass',
      path: () => '/apis/networking.k8s.io/v1/ingressclasses',
      list: (_namespace, page) => networking.listIngressClass(page),
      usesLabelSelector: false,
    },
    {
      // Only TLS Secrets: they are all SDS can serve, and reading every Secret would be needless exposure.
      kind: 'Secret',
      path: namespaced('/api/v1', 'secrets'),
      list: (namespace, page) =>
        namespace === undefined ? core.listSecretForAllNamespaces(page) : core.listNamespacedSecret({ namespace, ...page }),
      usesLabelSelector: true,
      fieldSelector: `type=${TLS_SECRET_TYPE}`,
    },
    {
      // Pods: which workload a sidecar or an xDS-enabled gRPC server is (its Services, its ports).
      kind: 'Pod',
      path: namespaced('/api/v1', 'pods'),
      list: (namespace, page) =>
        namespace === undefined ? core.listPodForAllNamespaces(page) : core.listNamespacedPod({ namespace, ...page }),
      usesLabelSelector: false,
    },
    {
      kind: 'TrafficPolicy',
      path: namespaced(`/apis/${TRAFFIC_POLICY_GROUP}/${TRAFFIC_POLICY_VERSION}`, TRAFFIC_POLICY_PLURAL),
      list: (namespace, page) => {
        const resource = { group: TRAFFIC_POLICY_GROUP, version: TRAFFIC_POLICY_VERSION, plural: TRAFFIC_POLICY_PLURAL, ...page };
        return namespace === undefined
          ? (custom.listClusterCustomObject(resource) as Promise<ListPage>)
          : (custom.listNamespacedCustomObject({ namespace, ...resource }) as Promise<ListPage>);
      },
      usesLabelSelector: true,
    },
    {
      // Optional: a cluster without the AccessPolicy CRD is served with the mesh default (--mtls-mode).
      kind: 'AccessPolicy',
      path: namespaced(`/apis/${TRAFFIC_POLICY_GROUP}/${TRAFFIC_POLICY_VERSION}`, ACCESS_POLICY_PLURAL),
      list: (namespace, page) => {
        const resource = { group: TRAFFIC_POLICY_GROUP, version: TRAFFIC_POLICY_VERSION, plural: ACCESS_POLICY_PLURAL, ...page };
        return namespace === undefined
          ? (custom.listClusterCustomObject(resource) as Promise<ListPage>)
          : (custom.listNamespacedCustomObject({ namespace, ...resource }) as Promise<ListPage>);
      },
      usesLabelSelector: true,
      optional: true,
    },
    {
      // Only for their labels: a Gateway listener may select route namespaces by them.
      kind: 'Namespace',
      path: () => '/api/v1/namespaces',
      list: (_namespace, page) => core.listNamespace(page),
      usesLabelSelector: false,
      optional: true,
      mayBeForbidden: true,
    },
    ...GATEWAY_API_KINDS.map((kind): KindSpec => {
      const version = API_VERSIONS[kind].split('/')[1];
      const plural = GATEWAY_API_PLURALS[kind];
      const clusterScoped = CLUSTER_SCOPED_KINDS.has(kind);
      return {
        kind,
        path: clusterScoped
          ? () => `/apis/${GATEWAY_API_GROUP}/${version}/${plural}`
          : namespaced(`/apis/${GATEWAY_API_GROUP}/${version}`, plural),
        list: (namespace, page) => {
          const resource = { group: GATEWAY_API_GROUP, version, plural, ...page };
          return namespace === undefined || clusterScoped
            ? (custom.listClusterCustomObject(resource) as Promise<ListPage>)
            : (custom.listNamespacedCustomObject({ namespace, ...resource }) as Promise<ListPage>);
        },
        // GatewayClasses are few and cluster-wide; routes and Gateways follow the user's selection.
        usesLabelSelector: !clusterScoped,
        optional: true,
      };
    }),
  ];
}

/** A plain JSON copy: typed list items (Dates, class instances) and raw watch objects look alike. */
function plainObject(kind: ResourceKind, object: unknown): Record<string, any> {
  const plain = JSON.parse(JSON.stringify(object)) as Record<string, any>;
  // List items carry no apiVersion / kind; watch objects do.
  plain.apiVersion = API_VERSIONS[kind];
  plain.kind = kind;
  if (plain.metadata) delete plain.metadata.managedFields;
  return plain;
}

/** What the model gets: no status (the model computes a policy's status itself, and a status
 * another writer left malformed must not get the policy rejected; an Ingress's status is what
 * the leader writes, and translating it again would change nothing). */
function modelObject(kind: ResourceKind, plain: Record<string, any>): KubeObject {
  if (kind === 'Pod') return normalizeObject(slimPod(plain));
  const ownStatus =
    kind === 'TrafficPolicy' || kind === 'AccessPolicy' || kind === 'Ingress' || (GATEWAY_API_KINDS as readonly string[]).includes(kind);
  if (!ownStatus || plain.status === undefined) return normalizeObject(plain as KubeObject);
  const { status: _status, ...rest } = plain;
  return normalizeObject(rest as KubeObject);
}

/**
 * A Pod as the model needs it: identity, labels, IP, service account and container ports. The
 * rest (status conditions, volumes, images...) changes often and would only cost memory and
 * no-op events.
 */
function keptAnnotations(annotations: Record<string, unknown> | undefined): { annotations?: Record<string, string> } {
  const kept = POD_ANNOTATIONS.filter((key) => typeof annotations?.[key] === 'string').map((key) => [key, annotations![key] as string]);
  return kept.length > 0 ? { annotations: Object.fromEntries(kept) } : {};
}

function slimPod(plain: Record<string, any>): KubeObject {
  const metadata = plain.metadata ?? {};
  const spec = plain.spec ?? {};
  const status = plain.status ?? {};
  const pod: PodObject = {
    apiVersion: plain.apiVersion,
    kind: 'Pod',
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      ...(metadata.uid !== undefined ? { uid: metadata.uid } : {}),
      ...(metadata.resourceVersion !== undefined ? { resourceVersion: metadata.resourceVersion } : {}),
      ...(metadata.creationTimestamp !== undefined ? { creationTimestamp: metadata.creationTimestamp } : {}),
      ...(metadata.labels !== undefined ? { labels: metadata.labels } : {}),
      // Only the marks of mutual TLS to it (an injected sidecar with a workload certificate,
      // proxyless gRPC with its certificate provider) and the pod's own egress scope.
      ...keptAnnotations(metadata.annotations),
    },
    spec: {
      ...(spec.serviceAccountName !== undefined ? { serviceAccountName: spec.serviceAccountName } : {}),
      containers: (Array.isArray(spec.containers) ? spec.containers : []).map((c: Record<string, any>) => ({
        name: c.name,
        ...(Array.isArray(c.ports)
          ? { ports: c.ports.map((p: Record<string, any>) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol })) }
          : {}),
      })),
    },
    status: {
      ...(status.podIP !== undefined ? { podIP: status.podIP } : {}),
      ...(status.phase !== undefined ? { phase: status.phase } : {}),
    },
  };
  return JSON.parse(JSON.stringify(pod)) as KubeObject;
}

/** A hash of what an event says, without the resourceVersion: equal means the model already has it. */
function fingerprintOf(event: SourceEvent): string {
  if (event.type === 'delete') return 'delete';
  const object = event.object ? { ...event.object, metadata: { ...event.object.metadata, resourceVersion: undefined } } : undefined;
  const text = canonicalJson({ type: event.type, object, errors: event.type === 'rejected' ? event.errors : undefined });
  return createHash('sha256').update(text).digest('base64');
}

/** The HTTP status of a failed list (ApiException.code) or watch (Error.statusCode). */
function httpStatus(error: unknown): number | undefined {
  const e = error as { statusCode?: unknown; code?: unknown } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return typeof e?.code === 'number' ? e.code : undefined;
}

/** The message of the Kubernetes Status an ApiException carries, if any. */
function statusMessage(body: unknown): string | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  const message = (value as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** A failed API call in one line: `HTTP <code>: <the Status message>`. */
export function errorText(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; message?: string; body?: unknown };
    const fromStatus = statusMessage(e.body);
    const code = httpStatus(error);
    if (fromStatus) return code !== undefined ? `HTTP ${code}: ${fromStatus}` : fromStatus;
    // ApiException messages run on with the response body; the first line says it.
    const message = (e.message ?? String(error)).split('\n')[0];
    const shown = code ?? (typeof e.code === 'string' ? e.code : undefined);
    return shown !== undefined && !message.includes(String(shown)) ? `${message} (${shown})` : message;
  }
  return String(error);
}

const REFUSAL_HINTS: Record<number, string> = {
  400: 'a bad request: is --label-selector valid?',
  401: 'not authenticated: check the kubeconfig or the service account token',
  403: 'forbidden: the service account lacks get/list/watch on this kind (deploy/rbac.yaml)',
  404: 'not found: is the TrafficPolicy CRD installed (deploy/crds), and does the namespace exist?',
};

interface IngressState {
  status?: { loadBalancer?: { ingress?: Array<Record<string, any>> } };
  resourceVersion?: string;
}

/** A Gateway API object as stored in the cluster: what the status writer compares with and patches. */
export interface GatewayApiState {
  status?: Record<string, any>;
  resourceVersion?: string;
  generation?: number;
}

interface KubernetesSourceEvents {
  /** A Gateway API object was added, changed (spec or status) or deleted in the cluster. */
  gatewayApi: [ObjectRef];
  /** A TrafficPolicy was added, changed (spec or status) or deleted in the cluster. */
  trafficPolicy: [ObjectRef];
  /** An AccessPolicy was added, changed (spec or status) or deleted in the cluster. */
  accessPolicy: [ObjectRef];
  /** An Ingress was added, changed (spec or status) or deleted in the cluster. */
  ingress: [ObjectRef];
  /** The connection to the API server went down (false) or came back (true). */
  connection: [boolean];
}

/** A watch that ends sooner than this after it opened counts as dropped at once. */
const QUICK_WATCH_END_MS = 1000;

/**
 * The informer's Watch, with two things ListWatch lacks. It opens nothing once stopped (ListWatch
 * checks its stopped flag only before it lists, so a stop that lands while a list or the watch
 * request is in flight would leave a watch open behind it). And it backs off when watches keep
 * ending as soon as they open: ListWatch reopens a cleanly closed watch at once, which against
 * a server that drops every watch would be a tight loop. Failed requests are not counted here;
 * they reach the informer as errors and get its backoff.
 */
class InformerWatch extends Watch {
  stopped = false;
  private quickEnds = 0;
  private delayTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(
    config: KubeConfig,
    private readonly backoff: { initialMs: number; maxMs: number },
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    if (this.stopped) return new AbortController();
    if (this.quickEnds > 0) {
      const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.quickEnds - 1));
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.delayTimer = setTimeout(resolve, delay);
      });
      this.wake = undefined;
      if (this.stopped) return new AbortController();
    }
    const openedAt = Date.now();
    const controller = await super.watch(path, queryParams, callback, (error: unknown) => {
      if (!error) this.quickEnds = Date.now() - openedAt < QUICK_WATCH_END_MS ? this.quickEnds + 1 : 0;
      done(error);
    });
    if (this.stopped) controller.abort();
    return controller;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.delayTimer);
    this.wake?.();
  }
}

/** One informer: a kind in one namespace (or all), restarted with backoff after errors. */
class KindInformer {
  readonly informer: ListWatch<KubernetesObject>;
  private readonly watch: InformerWatch;
  listed = false;
  connected = false;
  private errors = 0;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly spec: KindSpec,
    readonly namespace: string | undefined,
    config: KubeConfig,
    private readonly owner: KubernetesSource,
    private readonly pageSize: number,
    private readonly labelSelector: string | undefined,
    private readonly backoff: { initialMs: number; maxMs: number },
  ) {
    const labels = spec.usesLabelSelector ? labelSelector : undefined;
    // ListWatch passes no allowWatchBookmarks of its own; the Watch keeps a query in the path.
    // With bookmarks the resume version keeps up with the server even for quiet kinds, so a
    // reconnect after the server compacted its history resumes instead of relisting.
    const watchPath = `${spec.path(namespace)}?allowWatchBookmarks=true`;
    this.watch = new InformerWatch(config, backoff);
    this.informer = new ListWatch(watchPath, this.watch, () => this.listAll(), false, labels, spec.fieldSelector);
    this.informer.on('add', (object) => owner.observed(spec.kind, object));
    this.informer.on('update', (object) => owner.observed(spec.kind, object));
    this.informer.on('delete', (object) => owner.removed(spec.kind, object));
    this.informer.on('error', (error) => this.failed(error));
  }

  get description(): string {
    return this.namespace === undefined ? this.spec.kind : `${this.spec.kind} in ${this.namespace}`;
  }

  async start(): Promise<void> {
    const errorsBefore = this.errors;
    await this.informer.start();
    // start() returns once the watch request is answered; no error by then means connected.
    if (!this.stopped && this.errors === errorsBefore) this.setConnected(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch.stop();
    clearTimeout(this.retryTimer);
    await this.informer.stop();
  }

  /** Every page of the list; its resourceVersion is the first page's, where the watch resumes. */
  private async listAll(): Promise<KubernetesListObject<KubernetesObject>> {
    const items: unknown[] = [];
    let resourceVersion: string | undefined;
    let continueToken: string | undefined;
    do {
      const page = await this.spec.list(this.namespace, {
        limit: this.pageSize,
        ...(continueToken ? { _continue: continueToken } : {}),
        ...(this.spec.usesLabelSelector && this.labelSelector ? { labelSelector: this.labelSelector } : {}),
        ...(this.spec.fieldSelector ? { fieldSelector: this.spec.fieldSelector } : {}),
      });
      resourceVersion ??= page.metadata?.resourceVersion;
      items.push(...page.items);
      continueToken = page.metadata?._continue ?? page.metadata?.continue;
    } while (continueToken);
    // The informer applies the items as soon as this resolves, all in microtasks; by the time
    // this callback runs they have reached the owner.
    setImmediate(() => this.onListed());
    return {
      metadata: { resourceVersion },
      items: items.map((item) => plainObject(this.spec.kind, item) as KubernetesObject),
    };
  }

  private onListed(): void {
    if (this.stopped) return;
    this.setConnected(true);
    if (!this.listed) {
      this.listed = true;
      this.owner.informerListed();
    }
  }

  /**
   * The kind's CRD is not installed: there are none of it. That is a state, not an outage, so the
   * informer counts as listed and connected, and looks again now and then for the CRD.
   */
  private absent(code: number): void {
    this.owner.kindAbsent(this, code);
    if (!this.listed) {
      this.listed = true;
      this.owner.informerListed();
    }
    this.setConnected(true);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.start().catch((startError: unknown) => this.failed(startError));
    }, this.backoff.maxMs);
  }

  private setConnected(connected: boolean): void {
    if (connected) this.attempt = 0;
    if (this.connected === connected) return;
    this.connected = connected;
    this.owner.connectionChanged();
  }

  private failed(error: unknown): void {
    if (this.stopped) return;
    const code = httpStatus(error);
    if (this.spec.optional && (code === 404 || (this.spec.mayBeForbidden && code === 403))) return this.absent(code);
    this.errors++;
    this.setConnected(false);
    this.owner.informerFailed(this, error);
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    this.attempt++;
    // Jitter, so replicas do not reconnect in step.
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.start().catch((startError: unknown) => this.failed(startError));
    }, jittered);
  }
}

export class KubernetesSource extends EventEmitter<KubernetesSourceEvents> implements Source {
  readonly config: KubeConfig;
  readonly ingressClassName: string | undefined;
  private readonly informers: KindInformer[] = [];
  private sink: EventSink | undefined;
  /** What the sink has been told: fingerprint of every object's last event, by ref key. */
  private readonly emitted = new Map<string, { ref: ObjectRef; fingerprint: string }>();
  /** The latest TrafficPolicies as stored in the cluster, status included (for the status writer). */
  private readonly trafficPolicies = new Map<string, TrafficPolicyObject>();
  private readonly accessPolicies = new Map<string, AccessPolicyObject>();
  /** The status and resourceVersion of every Ingress as stored in the cluster (for the Ingress status writer). */
  private readonly ingressStates = new Map<string, IngressState>();
  /** Gateway API objects as stored in the cluster, by `<kind>/<namespace>/<name>` (for the Gateway API status writer). */
  private readonly gatewayApiStates = new Map<string, GatewayApiState>();
  /** Kinds whose CRDs were missing, logged once each. */
  private readonly absentLogged = new Set<string>();
  private pending: SourceEvent[] = [];
  private flushScheduled = false;
  private synced = false;
  private stopped = false;
  private wasConnected = false;
  /** Refusals already logged, by informer and message: each is logged once. */
  private readonly refusalsLogged = new Set<string>();
  private outageLogged = false;
  private resolveSynced: (() => void) | undefined;
  private rejectSynced: ((error: Error) => void) | undefined;

  constructor(private readonly options: KubernetesSourceOptions = {}) {
    super();
    this.config = options.kubeConfig ?? loadKubeConfig(options.kubeconfigPath);
    this.ingressClassName = options.ingressClassName;
    const backoff = { initialMs: options.backoff?.initialMs ?? 500, maxMs: options.backoff?.maxMs ?? 30_000 };
    const namespaces = [...new Set(options.namespaces?.filter((n) => n !== '') ?? [])];
    for (const spec of kindSpecs(this.config)) {
      const scopes = CLUSTER_SCOPED_KINDS.has(spec.kind) || namespaces.length === 0 ? [undefined] : namespaces;
      for (const namespace of scopes) {
        this.informers.push(new KindInformer(spec, namespace, this.config, this, options.pageSize ?? 500, options.labelSelector, backoff));
      }
    }
  }

  /** The API server the source reads from. */
  get server(): string {
    return this.config.getCurrentCluster()?.server ?? '';
  }

  async start(sink: EventSink): Promise<void> {
    if (this.sink) throw new Error('KubernetesSource already started');
    this.sink = sink;
    const synced = new Promise<void>((resolve, reject) => {
      this.resolveSynced = resolve;
      this.rejectSynced = reject;
    });
    log.info('reading from the Kubernetes API server', {
      server: this.server,
      namespaces: this.options.namespaces?.length ? this.options.namespaces : 'all',
      labelSelector: this.options.labelSelector,
      informers: this.informers.length,
    });
    // A failing first attempt is retried by the informer itself; only readiness waits.
    for (const informer of this.informers) informer.start().catch((error: unknown) => this.informerFailed(informer, error));
    await synced;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.informers.map((informer) => informer.stop()));
    this.rejectSynced?.(new Error('the Kubernetes source stopped before its initial list completed'));
  }

  /** True while every informer's list and watch are working. */
  connected(): boolean {
    return this.informers.every((informer) => informer.connected);
  }

  /** True once every informer has listed once (the initial state was delivered). */
  hasSynced(): boolean {
    return this.synced;
  }

  /** The TrafficPolicy as last seen in the cluster, status included. */
  trafficPolicy(namespace: string, name: string): TrafficPolicyObject | undefined {
    return this.trafficPolicies.get(`${namespace}/${name}`);
  }

  trafficPolicyRefs(): ObjectRef[] {
    return [...this.trafficPolicies.values()].map((p) => objectRef(p));
  }

  /** The AccessPolicy as last seen in the cluster, status included. */
  accessPolicy(namespace: string, name: string): AccessPolicyObject | undefined {
    return this.accessPolicies.get(`${namespace}/${name}`);
  }

  accessPolicyRefs(): ObjectRef[] {
    return [...this.accessPolicies.values()].map((p) => objectRef(p));
  }

  /** The Ingress's status and resourceVersion as last seen in the cluster. */
  ingressState(namespace: string, name: string): IngressState | undefined {
    return this.ingressStates.get(`${namespace}/${name}`);
  }

  /** `<namespace>/<name>` of every Ingress in the cluster (that the source reads). */
  ingressKeys(): string[] {
    return [...this.ingressStates.keys()];
  }

  /** A Gateway API object's status, resourceVersion and generation as last seen in the cluster. */
  gatewayApiState(kind: GatewayApiKind, namespace: string, name: string): GatewayApiState | undefined {
    return this.gatewayApiStates.get(`${kind}/${namespace}/${name}`);
  }

  /** Every Gateway API object of one kind in the cluster (that the source reads). */
  gatewayApiRefs(kind: GatewayApiKind): ObjectRef[] {
    const prefix = `${kind}/`;
    return [...this.gatewayApiStates.keys()]
      .filter((key) => key.startsWith(prefix))
      .map((key) => {
        const [, namespace, name] = key.split('/');
        return { kind, namespace, name };
      });
  }

  // ---- called by the informers --------------------------------------------------------------

  /** @internal A kind's CRD is not installed. */
  kindAbsent(informer: KindInformer, code: number): void {
    if (this.absentLogged.has(informer.spec.kind)) return;
    this.absentLogged.add(informer.spec.kind);
    if (code === 403) {
      log.warn(
        'Kubernetes API server forbids listing this kind; reading none (Gateway listeners with a namespace selector then admit no route)',
        {
          kind: informer.spec.kind,
          fix: 'grant list/watch on namespaces (deploy/rbac.yaml)',
        },
      );
      return;
    }
    log.info('Kubernetes API server does not serve this kind (its CRD is not installed); reading none until it does', {
      kind: informer.spec.kind,
    });
  }

  /** @internal An object was added or changed. */
  observed(kind: ResourceKind, raw: KubernetesObject): void {
    if (this.stopped) return;
    // The push trace starts here, at the watch event, as the folder source's starts at the file event.
    const noticedAt = performance.now();
    const plain = plainObject(kind, raw);
    const object = modelObject(kind, plain);
    const event = toSourceEvent(object);
    if (kind === 'TrafficPolicy') {
      this.trafficPolicies.set(`${event.ref.namespace}/${event.ref.name}`, normalizeObject(plain as TrafficPolicyObject));
      this.emit('trafficPolicy', event.ref);
    }
    if (kind === 'AccessPolicy') {
      this.accessPolicies.set(`${event.ref.namespace}/${event.ref.name}`, normalizeObject(plain as AccessPolicyObject));
      this.emit('accessPolicy', event.ref);
    }
    if (kind === 'Ingress') {
      this.ingressStates.set(`${event.ref.namespace}/${event.ref.name}`, {
        status: plain.status,
        resourceVersion: plain.metadata?.resourceVersion,
      });
      this.emit('ingress', event.ref);
    }
    if ((GATEWAY_API_KINDS as readonly string[]).includes(kind)) {
      this.gatewayApiStates.set(`${kind}/${event.ref.namespace}/${event.ref.name}`, {
        status: plain.status,
        resourceVersion: plain.metadata?.resourceVersion,
        generation: plain.metadata?.generation,
      });
      this.emit('gatewayApi', event.ref);
    }
    const key = refKey(event.ref);
    const fingerprint = fingerprintOf(event);
    // A relist, or a status-only change, repeats what the model already has.
    if (this.emitted.get(key)?.fingerprint === fingerprint) return;
    this.emitted.set(key, { ref: event.ref, fingerprint });
    if (event.type === 'rejected') log.warn('Kubernetes object rejected', { ref: event.ref, errors: event.errors });
    this.queue(event, noticedAt);
  }

  /** @internal An object was deleted (or vanished while the watch was down). */
  removed(kind: ResourceKind, raw: KubernetesObject): void {
    if (this.stopped) return;
    const ref = objectRef(modelObject(kind, plainObject(kind, raw)));
    if (kind === 'TrafficPolicy') {
      this.trafficPolicies.delete(`${ref.namespace}/${ref.name}`);
      this.emit('trafficPolicy', ref);
    }
    if (kind === 'AccessPolicy' && this.accessPolicies.delete(`${ref.namespace}/${ref.name}`)) this.emit('accessPolicy', ref);
    if (kind === 'Ingress' && this.ingressStates.delete(`${ref.namespace}/${ref.name}`)) this.emit('ingress', ref);
    if (this.gatewayApiStates.delete(`${kind}/${ref.namespace}/${ref.name}`)) this.emit('gatewayApi', ref);
    const key = refKey(ref);
    if (!this.emitted.delete(key)) return;
    this.queue({ type: 'delete', ref });
  }

  /** @internal */
  informerListed(): void {
    if (this.synced || this.stopped) return;
    if (!this.informers.every((informer) => informer.listed)) return;
    this.synced = true;
    const events = this.takePending();
    log.info('Kubernetes initial list done', { objects: events.length });
    // Delivered even when empty: the consumer learns that the initial state is complete.
    this.sink!(events);
    this.resolveSynced?.();
  }

  /** @internal */
  informerFailed(informer: KindInformer, error: unknown): void {
    if (this.stopped) return;
    const message = errorText(error);
    const code = httpStatus(error);
    if (code !== undefined && code >= 400 && code < 500 && ![408, 410, 429].includes(code)) {
      // Refused, not unreachable: a setting or the RBAC rules are wrong; retrying will not fix
      // it, but the cluster's admin might, so the informer keeps trying.
      const key = `${informer.description}|${message}`;
      if (!this.refusalsLogged.has(key)) {
        this.refusalsLogged.add(key);
        log.error(
          'Kubernetes API server refused to list/watch; check the RBAC rules (deploy/rbac.yaml), --namespaces and --label-selector',
          {
            server: this.server,
            informer: informer.description,
            error: message,
            hint: REFUSAL_HINTS[code] ?? 'the request was rejected',
          },
        );
      }
      return;
    }
    if (this.outageLogged) {
      log.debug('Kubernetes list/watch failed; retrying', { informer: informer.description, error: message });
      return;
    }
    // Once per outage, not once per retry.
    this.outageLogged = true;
    log.warn(
      this.synced
        ? 'Kubernetes API server unreachable; serving the last known configuration until it is back'
        : 'Kubernetes API server unreachable; not ready until the initial list completes',
      { server: this.server, informer: informer.description, error: message },
    );
  }

  /** @internal */
  connectionChanged(): void {
    const connected = this.connected();
    if (connected === this.wasConnected) return;
    this.wasConnected = connected;
    if (connected) {
      if (this.outageLogged) log.info('Kubernetes API server reachable again; watching', { server: this.server });
      this.outageLogged = false;
      this.refusalsLogged.clear();
    }
    this.emit('connection', connected);
  }

  private queue(event: SourceEvent, noticedAt?: number): void {
    this.pending.push(event);
    // Before the initial sync, events wait for it; after, a burst becomes one batch.
    if (!this.synced) return;
    markPush('source', noticedAt);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const events = this.takePending();
      markPush('delivered');
      if (events.length > 0 && !this.stopped) this.sink!(events);
    });
  }

  private takePending(): SourceEvent[] {
    const events = this.pending;
    this.pending = [];
    return events;
  }
}
