// A small Kubernetes API server for tests: the real HTTP list/watch protocol for the kinds
// Switchyard reads (plus Leases, events.k8s.io Events, MutatingWebhookConfigurations, the
// TrafficPolicy and Ingress status subresources, and SubjectAccessReviews with an answer the test
// sets), so the real
// @kubernetes/client-node informers and API clients run against it unchanged.
//
// What it keeps from the real thing: one global resourceVersion counter; list with
// resourceVersion, labelSelector, fieldSelector, limit and continue; watch as a stream of JSON
// lines (ADDED / MODIFIED / DELETED / BOOKMARK, and ERROR with a 410 Status for a version
// older than the kept history); a bounded event history per resource type; metadata.generation
// bumped on spec changes only; the status subresource (PUT, merge-patch PATCH); optimistic
// concurrency (409 Conflict on a stale resourceVersion, 409 AlreadyExists on create).
// What it leaves out: authentication (the bearer token only names the client, for counting
// writes), admission, field managers, protobuf, and every kind it does not list below.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { TypeUrl } from '../../src/envoy/protos.js';
import { testNode, type DecodedSotwResponse, type SotwTestStream, type XdsTestClient } from './xds-client.js';

interface ResourceType {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Has a status subresource: writes to the main resource keep the stored status. */
  statusSubresource?: boolean;
}

const RESOURCE_TYPES: readonly ResourceType[] = [
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  { group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', kind: 'Ingress', namespaced: true, statusSubresource: true },
  { group: 'networking.k8s.io', version: 'v1', plural: 'ingressclasses', kind: 'IngressClass', namespaced: false },
  {
    group: 'switchyard.dev',
    version: 'v1alpha1',
    plural: 'trafficpolicies',
    kind: 'TrafficPolicy',
    namespaced: true,
    statusSubresource: true,
  },
  {
    group: 'switchyard.dev',
    version: 'v1alpha1',
    plural: 'accesspolicies',
    kind: 'AccessPolicy',
    namespaced: true,
    statusSubresource: true,
  },
  // Gateway API (standard channel), with the status subresource the upstream CRDs declare.
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    plural: 'gatewayclasses',
    kind: 'GatewayClass',
    namespaced: false,
    statusSubresource: true,
  },
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', kind: 'Gateway', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', kind: 'HTTPRoute', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', kind: 'GRPCRoute', namespaced: true, statusSubresource: true },
  { group: 'gateway.networking.k8s.io', version: 'v1beta1', plural: 'referencegrants', kind: 'ReferenceGrant', namespaced: true },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'mutatingwebhookconfigurations',
    kind: 'MutatingWebhookConfiguration',
    namespaced: false,
  },
];

export type JsonObject = Record<string, any>;

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEntry {
  type: WatchEventType;
  object: JsonObject;
  /** The object before the change (for label-selector transitions). */
  previous?: JsonObject;
  rv: number;
}

interface TypeStore {
  type: ResourceType;
  objects: Map<string, JsonObject>;
  history: HistoryEntry[];
  /** A watch must start at or after this version; older ones get 410 Gone. */
  compactedRv: number;
}

interface Watcher {
  store: TypeStore;
  namespace?: string;
  labelSelector: Selector;
  fieldSelector: Selector;
  bookmarks: boolean;
  client: string;
  response: http.ServerResponse;
  bookmarkTimer?: NodeJS.Timeout;
  /** BOOKMARK events this watch was sent. */
  bookmarksSent: number;
  timeoutTimer?: NodeJS.Timeout;
}

interface KubeApiServerOptions {
  /** 0 picks a free port. */
  port?: number;
  /** Events kept per resource type for watches that resume; older versions get 410. Default 1000. */
  historyLimit?: number;
  /** How often a watch that asked for bookmarks gets one. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** Kinds this server does not serve (a cluster without those CRDs): their paths answer 404. */
  withoutKinds?: string[];
}

interface WriteRecord {
  client: string;
  method: string;
  path: string;
  body?: JsonObject;
}

export interface SubjectAccessReviewSpec {
  user: string;
  groups?: string[];
  resourceAttributes: { group?: string; version?: string; resource?: string; verb?: string; namespace?: string; name?: string };
}

type Requirement = { key: string; op: '=' | '!=' | 'exists' | '!exists'; value?: string };
type Selector = Requirement[];

function parseSelector(text: string | null): Selector {
  if (!text) return [];
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part): Requirement => {
      const notEqual = part.indexOf('!=');
      if (notEqual > 0) return { key: part.slice(0, notEqual), op: '!=', value: part.slice(notEqual + 2) };
      const equal = part.indexOf('=');
      if (equal > 0) return { key: part.slice(0, equal), op: '=', value: part.slice(equal).replace(/^==?/, '') };
      if (part.startsWith('!')) return { key: part.slice(1), op: '!exists' };
      return { key: part, op: 'exists' };
    });
}

function matches(selector: Selector, values: (key: string) => string | undefined): boolean {
  return selector.every(({ key, op, value }) => {
    const actual = values(key);
    if (op === 'exists') return actual !== undefined;
    if (op === '!exists') return actual === undefined;
    if (op === '=') return actual === value;
    return actual !== value;
  });
}

function fieldValue(object: JsonObject, path: string): string | undefined {
  let value: unknown = object;
  for (const part of path.split('.')) value = value && typeof value === 'object' ? (value as JsonObject)[part] : undefined;
  return value === undefined || value === null ? undefined : String(value);
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: JsonObject = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as JsonObject) } : {};
  for (const [key, value] of Object.entries(patch as JsonObject)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function status(code: number, reason: string, message: string): JsonObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The part of an object whose change bumps metadata.generation. */
function specOf(object: JsonObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = object;
  return JSON.stringify(rest);
}

export class KubeApiServer {
  private readonly server: http.Server;
  private readonly stores = new Map<string, TypeStore>();
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly historyLimit: number;
  private readonly bookmarkIntervalMs: number;
  private rv = 1;
  private uidCounter = 0;
  private portNumber = 0;
  private watchesBlocked = false;
  private watchesEndAtOnce = false;
  private readonly blockedClients = new Set<string>();
  private readonly injectedFailures: Array<{ method: string; kind: string; code: number; left: number }> = [];
  private readonly holds: Array<{ method: string; pathEnd: string; arrived: () => void; released: Promise<void> }> = [];
  private listsBlocked = false;
  /** Every create / update / patch / delete, in order, with the client that sent it. */
  readonly writes: WriteRecord[] = [];
  /** Every list and watch request, in order. */
  readonly reads: Array<{
    kind: string;
    watch: boolean;
    resourceVersion: string;
    bookmarks: boolean;
    continued: boolean;
    fieldSelector: string;
  }> = [];
  /** Every GET of one object, in order. */
  readonly objectReads: Array<{ kind: string; name: string; client: string }> = [];
  /** Every SubjectAccessReview asked, in order. */
  readonly accessReviews: SubjectAccessReviewSpec[] = [];
  /** Answers SubjectAccessReviews: true / false, a status with a reason, or 'error' for a 500. Default: deny
   * (a cluster where nothing was granted). */
  accessReviewAnswer: (spec: SubjectAccessReviewSpec) => boolean | { allowed: boolean; reason?: string } | 'error' = () => false;
  /** How many watches were answered 410 Gone (too old a resourceVersion). */
  goneSent = 0;
  /** How many BOOKMARK events were sent. */
  bookmarksSent = 0;

  constructor(options: KubeApiServerOptions = {}) {
    this.historyLimit = options.historyLimit ?? 1000;
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
    this.portNumber = options.port ?? 0;
    for (const type of RESOURCE_TYPES.filter((t) => !options.withoutKinds?.includes(t.kind)))
      this.stores.set(this.typeKey(type.group, type.plural), { type, objects: new Map(), history: [], compactedRv: 0 });
    this.server = http.createServer((request, response) => this.handle(request, response));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  /** The current global resourceVersion. */
  get resourceVersion(): number {
    return this.rv;
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.portNumber, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.portNumber = (this.server.address() as AddressInfo).port;
    return this.portNumber;
  }

  /** Stops listening and cuts every connection, like an API server that went away. State is kept. */
  async stop(): Promise<void> {
    for (const watcher of [...this.watchers]) this.endWatch(watcher);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Listens again on the same port with the same objects and versions. */
  async restart(): Promise<void> {
    await this.start();
  }

  /** A kubeconfig pointing at this server; `client` is sent as the bearer token and names the
   * client in `writes`. */
  kubeConfig(client = 'test'): KubeConfig {
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'test', server: this.url, skipTLSVerify: true }],
      users: [{ name: client, token: client }],
      contexts: [{ name: 'test', cluster: 'test', user: client }],
      currentContext: 'test',
    });
    return config;
  }

  /** The same kubeconfig as YAML, for --kubeconfig files. */
  kubeConfigYaml(client = 'test'): string {
    return this.kubeConfig(client).exportConfig();
  }

  // ---- test controls ---------------------------------------------------------------------------

  /** Creates or replaces an object (kind and apiVersion pick the resource type). */
  apply(object: JsonObject): JsonObject {
    const store = this.storeForKind(object.kind);
    const key = this.objectKey(store.type, object.metadata?.namespace, object.metadata?.name);
    const existing = store.objects.get(key);
    if (!existing) return this.create(store, object);
    const next = clone(object);
    next.metadata = { ...next.metadata, resourceVersion: undefined };
    return this.update(store, next, false);
  }

  /** Replaces only the status of an object (as a controller's status write would). */
  applyStatus(object: JsonObject): JsonObject {
    const store = this.storeForKind(object.kind);
    const next = clone(object);
    next.metadata = { ...next.metadata, resourceVersion: undefined };
    return this.update(store, next, true);
  }

  delete(kind: string, namespace: string | undefined, name: string): boolean {
    const store = this.storeForKind(kind);
    const key = this.objectKey(store.type, namespace, name);
    if (!store.objects.has(key)) return false;
    this.remove(store, key);
    return true;
  }

  get(kind: string, namespace: string | undefined, name: string): JsonObject | undefined {
    const store = this.storeForKind(kind);
    const object = store.objects.get(this.objectKey(store.type, namespace, name));
    return object && clone(object);
  }

  /** Ends every open watch cleanly (the client sees the stream close and reconnects). */
  dropWatches(): number {
    const count = this.watchers.size;
    for (const watcher of [...this.watchers]) this.endWatch(watcher);
    return count;
  }

  /** The next `count` requests with this method for this kind fail with `code` (409 answers as a
   * conflict would, anything else as an internal error). */
  failNext(method: string, kind: string, code: number, count = 1): void {
    this.injectedFailures.push({ method, kind, code, left: count });
  }

  /** The next request with this method whose path ends with `pathEnd` waits, unanswered, until
   * `release()`: a request in flight for as long as the test needs. */
  holdNext(method: string, pathEnd: string): { arrived: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const arrivedPromise = new Promise<void>((resolve) => (arrived = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ method, pathEnd, arrived, released });
    return { arrived: arrivedPromise, release };
  }

  /** While set, every watch is answered 200 and ended at once, with no events. */
  endWatchesAtOnce(enabled: boolean): void {
    this.watchesEndAtOnce = enabled;
  }

  /** While blocked, watch requests are answered 503 (lists too, with `lists`). */
  blockWatches(blocked: boolean, options: { lists?: boolean } = {}): void {
    this.watchesBlocked = blocked;
    this.listsBlocked = blocked && (options.lists ?? false);
  }

  /** While blocked, every request from `client` (its bearer token) is answered 503 and its open
   * watches are cut: a replica cut off from the API server while the others are not. */
  blockClient(client: string, blocked: boolean): void {
    if (!blocked) {
      this.blockedClients.delete(client);
      return;
    }
    this.blockedClients.add(client);
    for (const watcher of [...this.watchers]) if (watcher.client === client) this.endWatch(watcher);
  }

  /** Forgets every event so far: a watch resuming from an older version gets 410 Gone. */
  compact(): void {
    for (const store of this.stores.values()) {
      store.history = [];
      store.compactedRv = this.rv;
    }
  }

  openWatches(kind?: string): number {
    return [...this.watchers].filter((w) => kind === undefined || w.store.type.kind === kind).length;
  }

  /** The fewest BOOKMARK events any open watch that asked for them has been sent. */
  fewestBookmarks(): number {
    const counts = [...this.watchers].filter((w) => w.bookmarks).map((w) => w.bookmarksSent);
    return counts.length === 0 ? 0 : Math.min(...counts);
  }

  /** Status writes (PUT or PATCH of trafficpolicies/<name>/status) per client. */
  statusWrites(client?: string): number {
    return this.writes.filter(
      (w) => w.path.endsWith('/status') && w.path.includes('/trafficpolicies/') && (client === undefined || w.client === client),
    ).length;
  }

  /** Every stored object of a kind, in key order. */
  objectsOf(kind: string): JsonObject[] {
    const store = this.storeForKind(kind);
    return [...store.objects.keys()].sort().map((key) => clone(store.objects.get(key)!));
  }

  // ---- store ---------------------------------------------------------------------------------------

  private typeKey(group: string, plural: string): string {
    return `${group}/${plural}`;
  }

  private storeForKind(kind: unknown): TypeStore {
    for (const store of this.stores.values()) if (store.type.kind === kind) return store;
    throw new Error(`test API server: unknown kind ${String(kind)}`);
  }

  private objectKey(type: ResourceType, namespace: string | undefined, name: string | undefined): string {
    if (!name) throw new HttpError(422, 'Invalid', `${type.kind}: metadata.name: Required value`);
    if (type.namespaced && !namespace) throw new HttpError(422, 'Invalid', `${type.kind} ${name}: metadata.namespace: Required value`);
    return type.namespaced ? `${namespace}/${name}` : name;
  }

  private nextRv(): string {
    this.rv += 1;
    return String(this.rv);
  }

  private record(store: TypeStore, entry: HistoryEntry): void {
    store.history.push(entry);
    while (store.history.length > this.historyLimit) {
      const dropped = store.history.shift()!;
      store.compactedRv = Math.max(store.compactedRv, dropped.rv);
    }
    for (const watcher of this.watchers) if (watcher.store === store) this.deliver(watcher, entry);
  }

  private create(store: TypeStore, input: JsonObject): JsonObject {
    const type = store.type;
    const object = clone(input);
    object.apiVersion = type.group ? `${type.group}/${type.version}` : type.version;
    object.kind = type.kind;
    object.metadata = { ...(object.metadata ?? {}) };
    if (!type.namespaced) delete object.metadata.namespace;
    const key = this.objectKey(type, object.metadata.namespace, object.metadata.name);
    if (store.objects.has(key)) {
      throw new HttpError(409, 'AlreadyExists', `${type.plural}.${type.group || 'core'} "${object.metadata.name}" already exists`);
    }
    this.uidCounter += 1;
    object.metadata.uid = `uid-${this.uidCounter}`;
    object.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    object.metadata.generation = 1;
    const rv = this.nextRv();
    object.metadata.resourceVersion = rv;
    store.objects.set(key, object);
    this.record(store, { type: 'ADDED', object: clone(object), rv: Number(rv) });
    return clone(object);
  }

  /** Replaces an object (or only its status). A set resourceVersion must match the stored one. */
  private update(store: TypeStore, input: JsonObject, statusOnly: boolean): JsonObject {
    const type = store.type;
    const key = this.objectKey(type, input.metadata?.namespace, input.metadata?.name);
    const existing = store.objects.get(key);
    if (!existing) throw new HttpError(404, 'NotFound', `${type.plural}.${type.group || 'core'} "${input.metadata?.name}" not found`);
    const expected = input.metadata?.resourceVersion;
    if (expected !== undefined && expected !== '' && expected !== existing.metadata.resourceVersion) {
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${type.plural}.${type.group || 'core'} "${existing.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    let next: JsonObject;
    if (statusOnly) {
      next = clone(existing);
      if (input.status === undefined) delete next.status;
      else next.status = clone(input.status);
    } else {
      next = clone(input);
      next.apiVersion = existing.apiVersion;
      next.kind = existing.kind;
      // Fields the server owns.
      next.metadata = {
        ...next.metadata,
        uid: existing.metadata.uid,
        creationTimestamp: existing.metadata.creationTimestamp,
        generation: existing.metadata.generation,
      };
      if (!type.namespaced) delete next.metadata.namespace;
      if (type.statusSubresource) {
        if (existing.status === undefined) delete next.status;
        else next.status = clone(existing.status);
      }
      if (specOf(next) !== specOf(existing)) next.metadata.generation = (existing.metadata.generation ?? 1) + 1;
    }
    if (
      JSON.stringify({ ...next, metadata: { ...next.metadata, resourceVersion: '' } }) ===
      JSON.stringify({ ...existing, metadata: { ...existing.metadata, resourceVersion: '' } })
    ) {
      // A no-op write changes nothing, not even the resourceVersion.
      return clone(existing);
    }
    const rv = this.nextRv();
    next.metadata.resourceVersion = rv;
    store.objects.set(key, next);
    this.record(store, { type: 'MODIFIED', object: clone(next), previous: existing, rv: Number(rv) });
    return clone(next);
  }

  private remove(store: TypeStore, key: string): JsonObject {
    const existing = store.objects.get(key)!;
    store.objects.delete(key);
    const rv = this.nextRv();
    const gone = clone(existing);
    gone.metadata.resourceVersion = rv;
    this.record(store, { type: 'DELETED', object: gone, rv: Number(rv) });
    return clone(gone);
  }

  // ---- HTTP ------------------------------------------------------------------------------------------

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const held = this.holds.findIndex((h) => h.method === request.method && (request.url ?? '').split('?')[0].endsWith(h.pathEnd));
      if (held >= 0) {
        const [hold] = this.holds.splice(held, 1);
        hold.arrived();
        await hold.released;
      }
      try {
        this.route(request, response, Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        if (error instanceof HttpError) this.send(response, error.code, status(error.code, error.reason, error.message));
        else this.send(response, 500, status(500, 'InternalError', (error as Error).message));
      }
    });
  }

  private send(response: http.ServerResponse, code: number, body: JsonObject): void {
    if (response.headersSent) {
      response.end();
      return;
    }
    response.writeHead(code, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(body));
  }

  private route(request: http.IncomingMessage, response: http.ServerResponse, body: string): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter((p) => p !== '');
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api') {
      group = '';
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis') {
      group = parts[1];
      version = parts[2];
      rest = parts.slice(3);
    } else {
      throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    }
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource, ...extra] = rest;
    if (group === 'authorization.k8s.io' && version === 'v1' && plural === 'subjectaccessreviews' && name === undefined) {
      this.reviewAccess(request, response, body);
      return;
    }
    const store = this.stores.get(this.typeKey(group, plural ?? ''));
    if (!store || store.type.version !== version || extra.length > 0) {
      throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    }
    if (namespace !== undefined && !store.type.namespaced) {
      throw new HttpError(404, 'NotFound', `${store.type.kind} is cluster-scoped (${url.pathname})`);
    }
    if (subresource !== undefined && (subresource !== 'status' || !store.type.statusSubresource)) {
      throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    }
    const method = request.method ?? 'GET';
    const client = (request.headers.authorization ?? '').replace(/^Bearer\s+/i, '') || 'anonymous';
    if (this.blockedClients.has(client)) throw new HttpError(503, 'ServiceUnavailable', `client ${client} is cut off (test control)`);
    if (method !== 'GET') {
      let recorded: JsonObject | undefined;
      try {
        recorded = body ? (JSON.parse(body) as JsonObject) : undefined;
      } catch {
        // Refused below with 400.
      }
      this.writes.push({ client, method, path: url.pathname, body: recorded });
    }
    const injected = this.injectedFailures.find((f) => f.method === method && f.kind === store.type.kind && f.left > 0);
    if (injected) {
      injected.left--;
      if (injected.code === 409)
        throw new HttpError(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${store.type.plural} "${name}": the object has been modified (test control)`,
        );
      throw new HttpError(injected.code, 'InternalError', `injected failure (test control)`);
    }
    const parsedBody = (): JsonObject => {
      try {
        return JSON.parse(body) as JsonObject;
      } catch (error) {
        throw new HttpError(400, 'BadRequest', `request body is not JSON: ${(error as Error).message}`);
      }
    };

    if (method === 'GET' && name === undefined) {
      this.reads.push({
        kind: store.type.kind,
        watch: url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1',
        resourceVersion: url.searchParams.get('resourceVersion') ?? '',
        bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
        continued: url.searchParams.has('continue'),
        fieldSelector: url.searchParams.get('fieldSelector') ?? '',
      });
      if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
        if (this.watchesBlocked) throw new HttpError(503, 'ServiceUnavailable', 'watches are unavailable (test control)');
        this.watch(store, namespace, url.searchParams, response, client);
        return;
      }
      if (this.listsBlocked) throw new HttpError(503, 'ServiceUnavailable', 'lists are unavailable (test control)');
      this.send(response, 200, this.list(store, namespace, url.searchParams));
      return;
    }
    if (method === 'GET') {
      this.objectReads.push({ kind: store.type.kind, name, client });
      const object = store.objects.get(this.objectKey(store.type, namespace, name));
      if (!object) throw new HttpError(404, 'NotFound', `${store.type.plural}.${store.type.group || 'core'} "${name}" not found`);
      this.send(response, 200, object);
      return;
    }
    if (method === 'POST' && name === undefined) {
      const input = parsedBody();
      input.metadata = { ...(input.metadata ?? {}), ...(namespace !== undefined ? { namespace } : {}) };
      this.send(response, 201, this.create(store, input));
      return;
    }
    if (name === undefined) throw new HttpError(405, 'MethodNotAllowed', `${method} needs an object name`);
    const key = this.objectKey(store.type, namespace, name);
    if (method === 'PUT') {
      const input = parsedBody();
      if (input.metadata?.name !== name)
        throw new HttpError(400, 'BadRequest', `metadata.name ${input.metadata?.name} does not match the URL (${name})`);
      input.metadata = { ...input.metadata, ...(namespace !== undefined ? { namespace } : {}) };
      this.send(response, 200, this.update(store, input, subresource === 'status'));
      return;
    }
    if (method === 'PATCH') {
      const contentType = (request.headers['content-type'] ?? '').split(';')[0].trim();
      if (contentType !== 'application/merge-patch+json') {
        throw new HttpError(
          415,
          'UnsupportedMediaType',
          `the test API server takes application/merge-patch+json patches (got ${contentType || 'none'})`,
        );
      }
      const existing = store.objects.get(key);
      if (!existing) throw new HttpError(404, 'NotFound', `${store.type.plural}.${store.type.group || 'core'} "${name}" not found`);
      const patched = mergePatch(clone(existing), parsedBody()) as JsonObject;
      patched.metadata = { ...patched.metadata, name, ...(namespace !== undefined ? { namespace } : {}) };
      // A patch that names no resourceVersion applies to whatever is stored.
      if (patched.metadata.resourceVersion === existing.metadata.resourceVersion) patched.metadata.resourceVersion = undefined;
      this.send(response, 200, this.update(store, patched, subresource === 'status'));
      return;
    }
    if (method === 'DELETE') {
      if (!store.objects.has(key))
        throw new HttpError(404, 'NotFound', `${store.type.plural}.${store.type.group || 'core'} "${name}" not found`);
      this.send(response, 200, this.remove(store, key));
      return;
    }
    throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported`);
  }

  /** authorization.k8s.io/v1 SubjectAccessReview: answered by `accessReviewAnswer`, recorded in `accessReviews`. */
  private reviewAccess(request: http.IncomingMessage, response: http.ServerResponse, body: string): void {
    if (request.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', 'subjectaccessreviews only take POST (create)');
    let review: JsonObject;
    try {
      review = JSON.parse(body) as JsonObject;
    } catch (error) {
      throw new HttpError(400, 'BadRequest', `request body is not JSON: ${(error as Error).message}`);
    }
    const spec = review.spec as SubjectAccessReviewSpec | undefined;
    if (!spec?.user || !spec.resourceAttributes)
      throw new HttpError(400, 'BadRequest', 'spec.user and spec.resourceAttributes are required');
    this.accessReviews.push(clone(spec));
    const answer = this.accessReviewAnswer(spec);
    if (answer === 'error') throw new HttpError(500, 'InternalError', 'the authorizer failed (test control)');
    const verdict = typeof answer === 'boolean' ? { allowed: answer } : answer;
    this.send(response, 201, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: {}, spec, status: verdict });
  }

  private selected(store: TypeStore, namespace: string | undefined, labels: Selector, fields: Selector, object: JsonObject): boolean {
    if (namespace !== undefined && object.metadata?.namespace !== namespace) return false;
    return matches(labels, (key) => object.metadata?.labels?.[key]) && matches(fields, (key) => fieldValue(object, key));
  }

  private list(store: TypeStore, namespace: string | undefined, params: URLSearchParams): JsonObject {
    const labels = parseSelector(params.get('labelSelector'));
    const fields = parseSelector(params.get('fieldSelector'));
    const limit = Number(params.get('limit') ?? '0');
    let listRv = this.rv;
    let after = '';
    const token = params.get('continue');
    if (token) {
      const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { rv: number; after: string };
      if (decoded.rv < store.compactedRv) {
        throw new HttpError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
      }
      listRv = decoded.rv;
      after = decoded.after;
    }
    const keys = [...store.objects.keys()].sort();
    const items: JsonObject[] = [];
    let next: string | undefined;
    for (const key of keys) {
      if (after && key <= after) continue;
      const object = store.objects.get(key)!;
      if (!this.selected(store, namespace, labels, fields, object)) continue;
      if (limit > 0 && items.length === limit) {
        next = Buffer.from(JSON.stringify({ rv: listRv, after: items.length ? keyOfLast(items, store.type) : after })).toString('base64');
        break;
      }
      // Like the real server, list items carry no apiVersion or kind.
      const { apiVersion: _a, kind: _k, ...item } = object;
      items.push(clone(item));
    }
    const type = store.type;
    return {
      apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
      kind: `${type.kind}List`,
      metadata: { resourceVersion: String(listRv), ...(next ? { continue: next } : {}) },
      items,
    };
  }

  private watch(
    store: TypeStore,
    namespace: string | undefined,
    params: URLSearchParams,
    response: http.ServerResponse,
    client: string,
  ): void {
    const watcher: Watcher = {
      client,
      store,
      namespace,
      labelSelector: parseSelector(params.get('labelSelector')),
      fieldSelector: parseSelector(params.get('fieldSelector')),
      bookmarks: params.get('allowWatchBookmarks') === 'true',
      bookmarksSent: 0,
      response,
    };
    response.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    response.flushHeaders();
    if (this.watchesEndAtOnce) {
      response.end();
      return;
    }
    const fromText = params.get('resourceVersion') ?? '';
    const from = fromText === '' ? 0 : Number(fromText);
    if (fromText !== '' && fromText !== '0' && (!Number.isInteger(from) || from < store.compactedRv)) {
      // Too old: the client must list again.
      this.goneSent++;
      response.end(
        `${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${fromText} (${store.compactedRv})`) })}\n`,
      );
      return;
    }
    this.watchers.add(watcher);
    response.on('close', () => this.forgetWatch(watcher));
    if (from === 0) {
      // No version: the current state as ADDED events, then changes.
      for (const key of [...store.objects.keys()].sort()) {
        const object = store.objects.get(key)!;
        if (this.selected(store, namespace, watcher.labelSelector, watcher.fieldSelector, object))
          this.writeEvent(watcher, 'ADDED', object);
      }
    } else {
      for (const entry of store.history) if (entry.rv > from) this.deliver(watcher, entry);
    }
    if (watcher.bookmarks) {
      watcher.bookmarkTimer = setInterval(() => {
        const type = store.type;
        this.bookmarksSent++;
        watcher.bookmarksSent++;
        this.writeEvent(watcher, 'BOOKMARK', {
          apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
          kind: type.kind,
          metadata: { resourceVersion: String(this.rv) },
        });
      }, this.bookmarkIntervalMs);
    }
    const timeoutSeconds = Number(params.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) watcher.timeoutTimer = setTimeout(() => this.endWatch(watcher), timeoutSeconds * 1000);
  }

  /** Sends one history entry to a watcher, turning label changes into ADDED / DELETED as the real server does. */
  private deliver(watcher: Watcher, entry: HistoryEntry): void {
    const now = this.selected(watcher.store, watcher.namespace, watcher.labelSelector, watcher.fieldSelector, entry.object);
    if (entry.type !== 'MODIFIED') {
      if (now) this.writeEvent(watcher, entry.type, entry.object);
      return;
    }
    const before = entry.previous
      ? this.selected(watcher.store, watcher.namespace, watcher.labelSelector, watcher.fieldSelector, entry.previous)
      : now;
    if (now && before) this.writeEvent(watcher, 'MODIFIED', entry.object);
    else if (now) this.writeEvent(watcher, 'ADDED', entry.object);
    else if (before) this.writeEvent(watcher, 'DELETED', entry.object);
  }

  private writeEvent(watcher: Watcher, type: string, object: JsonObject): void {
    if (watcher.response.writableEnded) return;
    watcher.response.write(`${JSON.stringify({ type, object })}\n`);
  }

  private endWatch(watcher: Watcher): void {
    this.forgetWatch(watcher);
    watcher.response.end();
  }

  private forgetWatch(watcher: Watcher): void {
    clearInterval(watcher.bookmarkTimer);
    clearTimeout(watcher.timeoutTimer);
    this.watchers.delete(watcher);
  }
}

function keyOfLast(items: JsonObject[], type: ResourceType): string {
  const last = items[items.length - 1];
  return type.namespaced ? `${last.metadata.namespace}/${last.metadata.name}` : last.metadata.name;
}

// ---- fixtures and helpers for the Kubernetes-mode integration tests ------------------------------
export const NS = 'shop';

export function service(name: string, port = 9080, labels: Record<string, string> = {}): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS, labels },
    spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 8080, appProtocol: 'http' }] },
  };
}

export function endpointSlice(serviceName: string, addresses: string[], port = 8080): JsonObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${serviceName}-abc12`, namespace: NS, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: addresses.map((address) => ({
      addresses: [address],
      conditions: { ready: true, serving: true, terminating: false },
      zone: 'zone-a',
    })),
  };
}

export function trafficPolicy(name: string, target: string, spec: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name, namespace: NS },
    spec: { targetRef: { kind: 'Service', name: target }, ...spec },
  };
}

export function ingress(name: string, backend: string, port = 9080): JsonObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: NS },
    spec: {
      ingressClassName: 'switchyard',
      rules: [
        {
          host: 'shop.example.com',
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: backend, port: { number: port } } } }] },
        },
      ],
    },
  };
}

export function ingressClass(name: string, controller = 'switchyard.dev/gateway'): JsonObject {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name }, spec: { controller } };
}

export function tlsSecret(name: string, cert = 'Y2VydA=='): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NS },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': cert, 'tls.key': 'a2V5' },
  };
}

/** Polls until `check` returns a value other than undefined/false; fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** An Envoy-like SotW ADS stream subscribed to every cluster; `clusters` waits for a CDS
 * response matching a condition, ACKing every response on the way. */
export class ClusterWatcher {
  readonly ads: SotwTestStream;
  latest: DecodedSotwResponse | undefined;

  constructor(client: XdsTestClient, nodeId: string) {
    this.ads = client.sotw();
    this.ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: nodeId }) });
  }

  /** Waits for a CDS response whose Service clusters (`<ns>/<service>/<port>`; not the sidecar's `passthrough` and `blackhole`) satisfy `condition`. */
  async clusters(
    what: string,
    test: (names: string[], response: DecodedSotwResponse) => boolean,
    timeoutMs = 10_000,
  ): Promise<DecodedSotwResponse> {
    const condition = (names: string[], response: DecodedSotwResponse) =>
      test(
        names.filter((name) => name.includes('/')),
        response,
      );
    if (this.latest && condition(this.latest.names, this.latest)) return this.latest;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for clusters: ${what} (last: ${JSON.stringify(this.latest?.names)})`);
      let response: DecodedSotwResponse;
      try {
        response = await this.ads.next(TypeUrl.Cluster, remaining);
      } catch {
        throw new Error(`timed out waiting for clusters: ${what} (last: ${JSON.stringify(this.latest?.names)})`);
      }
      this.latest = response;
      this.ads.ack(response);
      if (condition(response.names, response)) return response;
    }
  }

  /** Endpoint addresses of one cluster (EDS), fetched on a fresh request. */
  async endpoints(clusterName: string): Promise<string[]> {
    this.ads.request({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNames: [clusterName] });
    const eds = await this.ads.next(TypeUrl.ClusterLoadAssignment);
    this.ads.ack(eds);
    return endpointAddresses(eds, clusterName);
  }
}

function endpointAddresses(eds: DecodedSotwResponse, clusterName: string): string[] {
  const resource = eds.resources.find((r) => r.name === clusterName);
  if (!resource) return [];
  const value = resource.value as {
    endpoints?: Array<{ lbEndpoints?: Array<{ endpoint?: { address?: { socketAddress?: { address?: string } } } }> }>;
  };
  return (value.endpoints ?? [])
    .flatMap((locality) => locality.lbEndpoints ?? [])
    .map((lb) => lb.endpoint?.address?.socketAddress?.address ?? '')
    .sort();
}

/** The load-balancing policy names of a decoded cluster, in order. */
export function lbPolicyNames(response: DecodedSotwResponse, clusterName: string): string[] {
  const resource = response.resources.find((r) => r.name === clusterName);
  const policies =
    (resource?.value as { loadBalancingPolicy?: { policies?: Array<{ typedExtensionConfig?: { name?: string } }> } })?.loadBalancingPolicy
      ?.policies ?? [];
  return policies.map((p) => p.typedExtensionConfig?.name ?? '');
}
