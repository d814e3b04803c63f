// The path from source events to the cache: events queue up, the debouncer turns a burst
// into one flush, the model says what the batch touched, and only that is translated and
// handed to the cache (which in turn wakes only the streams whose resources changed bytes).
import { EventEmitter } from 'node:events';
import {
  describeScope,
  emptyChange,
  MeshModel,
  objectKey,
  type EgressScope,
  type ModelChange,
  type WorkloadShape,
} from '../model/index.js';
import {
  degradationsFor,
  translateAll,
  translateEndpointsFor,
  usesEndpointTlsMatch,
  translateGateway,
  isGatewayApiName,
  translateOptions,
  translateServiceClusters,
  translateSidecarShared,
  translateInbound,
  sidecarRouteNamesOf,
  type Degradation,
  type ProxyRole,
  type TranslateOptions,
} from '../translate/index.js';
import {
  baselineShape,
  clientProfile,
  parseMeshGroup,
  scopedGroupName,
  workloadGroupName,
  type ClientIdentity,
  type ServedShape,
} from '../clients/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import {
  gatewayGroup,
  isEncoded,
  SIDECAR_GROUP,
  type ChangeSet,
  type GroupChange,
  type OfferedResource,
  type ProxyGroup,
  type ResourceCache,
} from '../cache/types.js';
import { Debouncer, DEFAULT_DEBOUNCE, type DebounceSettings } from './debounce.js';
import { LbChoiceLog } from './lb-choice-log.js';
import { refKey, type Source, type SourceEvent } from '../sources/types.js';
import type { ManifestError } from '../sources/manifests.js';
import type { Problem, ProblemObject } from '../analysis/problem.js';
import { Analysis, ProblemTracker, SourceRecords } from '../analysis/index.js';
import { log } from '../log.js';
import { markPush } from '../push-trace.js';

/** A mesh group being produced: its role and what its clients understand. */
interface MeshGroup {
  role: ProxyRole;
  shape: ServedShape;
}

const GATEWAY_GROUP_PREFIX = 'gateway/';

/** The workload a proxy's node metadata names (xds/ reads it; the pipeline knows the model). */
export interface WorkloadRef {
  namespace?: string;
  pod?: string;
  podIP?: string;
}

/**
 * A sidecar group with a workload shape: the outbound side of its mesh group (the very same
 * resource objects, so they are encoded once) plus the shape's inbound side, built once — the
 * inbound side is a function of the shape alone, so a shape's group never needs re-translating.
 */
interface WorkloadGroup {
  meshGroup: ProxyGroup;
  shape: WorkloadShape;
  inbound: { listeners: XdsResource[]; clusters: XdsResource[]; routes: XdsResource[] };
  built: boolean;
}

/** A copy of a change whose sets a deferred analysis may add to (every set of it, whatever the model adds). */
function copyChange(change: ModelChange): ModelChange {
  const copy: Record<string, unknown> = { ...change };
  for (const [key, value] of Object.entries(copy)) if (value instanceof Set) copy[key] = new Set(value);
  return copy as unknown as ModelChange;
}

/** Adds `change` to `into`: the union of their sets. */
function mergeChange(into: ModelChange, change: ModelChange): void {
  const target = into as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(change)) {
    if (value instanceof Set) for (const item of value) (target[key] as Set<unknown>).add(item);
  }
  into.all ||= change.all;
}

/**
 * A sidecar group of an egress scope (`<mesh group>~<scope id>`): its mesh group's resources for
 * the Services the scope reaches (the very same objects, encoded once) and its own listener and
 * route configurations over those Services only. Services outside the reach cost it nothing.
 */
interface ScopedGroup {
  meshGroup: ProxyGroup;
  scope: EgressScope;
  /** The Services its resources were last built for. */
  reach: Set<string>;
  built: boolean;
}

/** Where a derived group (scoped or workload) takes its per-Service resources from: its mesh group's last translation. */
interface DerivedFrom {
  meshGroup: ProxyGroup;
  /** Only these Services (a scope's reach); unset: every Service. */
  reach?: ReadonlySet<string>;
}

/** The gateway name of a `gateway/<name>` group; undefined for the mesh groups. */
function gatewayNameOfGroup(group: ProxyGroup): string | undefined {
  return group.startsWith(GATEWAY_GROUP_PREFIX) ? group.slice(GATEWAY_GROUP_PREFIX.length) : undefined;
}

/**
 * One flush's per-Service translations. A ClusterLoadAssignment is the same for every group
 * that has its cluster, so it is built and encoded once per flush and the same encoded resource
 * goes to every group. The exception: an Envoy cluster to a Service mid-rollout picks TLS per
 * endpoint, and only its assignment carries the endpoints' TLS tag (a second variant, built only
 * then), so the other groups' bytes do not move.
 */
class FlushMemo {
  /**
   * By Service key: the encoded assignments, and the tagged variant (`tlsMatch`). A list, not a
   * map by name: a Service has an assignment or two, and 10,000 of them live until the flush ends.
   */
  private readonly assignments = new Map<string, OfferedResource[]>();
  private readonly tagged = new Map<string, OfferedResource[]>();

  constructor(
    private readonly model: MeshModel,
    private readonly encode: (resource: XdsResource) => OfferedResource,
  ) {}

  /** The Service's encoded assignments ([] once the Service is gone); `tlsMatch`: the tagged variant. */
  endpoints(serviceKey: string, tlsMatch = false): OfferedResource[] {
    const memo = tlsMatch ? this.tagged : this.assignments;
    let encoded = memo.get(serviceKey);
    if (!encoded) {
      const resources = this.model.service(serviceKey) ? translateEndpointsFor(this.model, serviceKey, 'sidecar', tlsMatch) : [];
      memo.set(serviceKey, (encoded = resources.map(this.encode)));
    }
    return encoded;
  }

  /** The assignments of these clusters, each in the variant its cluster reads. */
  endpointsOf(serviceKey: string, clusters: XdsResource[]): OfferedResource[] {
    const found: OfferedResource[] = [];
    for (const cluster of clusters) {
      const assignment = this.endpoints(serviceKey, usesEndpointTlsMatch(cluster)).find((r) => r.name === cluster.name);
      if (assignment) found.push(assignment);
    }
    return found;
  }
}

/** A resource the cache could not encode, thrown while a unit is built: the unit fails at the cache stage. */
class EncodeFailure extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** What the last full translation of a gateway used, so later changes re-translate it only when they matter. */
interface GatewayState {
  usedServices: Set<string>;
  usedSecrets: Set<string>;
  clusterNames: Set<string>;
  /** Logged once each, until they go away. */
  problems: Set<string>;
}

export interface FlushReport {
  /** Source events in this flush, by kind. */
  eventCounts: Record<string, number>;
  translateSeconds: number;
  debounceWaitSeconds: number;
  /** Resources whose bytes changed or that went away, over every group and type. */
  changedResources: number;
  change: ModelChange;
  /** performance.now() when the flush ended. */
  at: number;
}

/** A part of a flush that could not be translated or stored; its last good resources are still served. */
export interface TranslateFailure {
  /** Code `TranslationFailed`, on the Service or proxy group (`kind: ProxyGroup`) whose configuration failed. */
  problem: Problem;
  /** Where it failed: building the resources, or the cache refusing them (an encode error). */
  stage: 'translate' | 'cache';
  /** The objects the failed part was translating. */
  keys: string[];
  error: string;
}

export interface PipelineEvents {
  flushed: [FlushReport];
  /** Emitted on every failed attempt (a failing part is retried, so it may repeat). */
  translateFailed: [TranslateFailure];
  /** A part that had failed went out: its problem is over. */
  translateRecovered: [Problem];
}

/** Backoff of retries after a failed flush when no new event comes: doubles from initialMs up to maxMs. */
export interface RetrySettings {
  initialMs: number;
  maxMs: number;
}

const DEFAULT_RETRY: RetrySettings = { initialMs: 1000, maxMs: 60_000 };

interface PipelineOptions {
  cache: ResourceCache;
  translate?: Partial<TranslateOptions>;
  debounce?: DebounceSettings;
  /** Gateways to build from the first flush on; others start when one of their proxies connects (`ensureGateway`). */
  gateways?: string[];
  retry?: RetrySettings;
}

export class Pipeline extends EventEmitter<PipelineEvents> {
  readonly model: MeshModel;
  /**
   * Every current configuration problem — the analysis after every flush, plus the parts that
   * fail to translate — with `problemsChanged(added, removed)` / `onProblems` for listeners.
   */
  readonly problemTracker = new ProblemTracker();
  /** Where objects are written and what the sources rejected: the analysis's view beside the model. */
  private readonly records = new SourceRecords();
  private readonly problemSources: Array<() => readonly ManifestError[]> = [];
  private readonly analysis = new Analysis();
  private readonly cache: ResourceCache;
  private readonly options: TranslateOptions;
  private readonly debouncer: Debouncer;
  private pending: SourceEvent[] = [];
  /** Per group, per Service key: the cluster names last written, so removals are exact. */
  private readonly written = new Map<ProxyGroup, Map<string, string[]>>();
  /** Per sidecar group, per Service: the route configurations (ports) it was last written into. */
  private readonly sidecarRouteNames = new Map<ProxyGroup, Map<string, string[]>>();
  /**
   * The mesh groups being produced, by name (role + client profile shape): full-featured sidecars
   * always; every other one from its first client on.
   */
  private readonly meshGroups = new Map<ProxyGroup, MeshGroup>([[SIDECAR_GROUP, { role: 'sidecar', shape: baselineShape('sidecar') }]]);
  /** Sidecar groups of a workload shape, by name (`sidecar@<shape id>`), from their first proxy on. */
  private readonly workloadGroups = new Map<ProxyGroup, WorkloadGroup>();
  /** Sidecar groups of an egress scope, by name (`sidecar~<scope id>`), from their first proxy on. */
  private readonly scopedGroups = new Map<ProxyGroup, ScopedGroup>();
  /**
   * Per mesh group, per Service key: the clusters and assignments last translated, so scoped and
   * workload groups get the very same objects (encoded once) without translating. By group, then
   * by the model's own key strings: no key built and hashed anew per Service and flush.
   */
  private readonly lastTranslated = new Map<ProxyGroup, Map<string, { clusters: OfferedResource[]; endpoints: OfferedResource[] }>>();
  /** Degradations per role and client profile, for the current model (dropped by every flush). */
  private degradationMemo = new Map<string, Degradation[]>();
  private flushes = 0;
  /** How long the first flush (start-up: the whole mesh) took, for whoever subscribed too late to hear its report. */
  private firstSeconds: number | undefined;
  /** Gateways being produced, by name. */
  private readonly gatewayStates = new Map<string, GatewayState>();
  private readonly lbChoices = new LbChoiceLog();
  /** What failed and is translated again by the next flush. */
  private retry = emptyRetry();
  private retryTimer: NodeJS.Timeout | undefined;
  /** The analysis waiting to run after debounced flushes, and what they changed (undefined: everything). */
  private analysisTimer: NodeJS.Immediate | undefined;
  private deferredChange: ModelChange | undefined;
  /** Consecutive flushes that left something to retry: the backoff's exponent. */
  private retryRound = 0;
  private readonly retrySettings: RetrySettings;
  /** Failing units by id, until they go out. */
  private readonly failures = new Map<string, Problem>();

  constructor(options: PipelineOptions) {
    super();
    this.cache = options.cache;
    this.options = translateOptions(options.translate);
    this.model = new MeshModel({ defaultMtls: this.options.mtlsMode });
    this.retrySettings = options.retry ?? DEFAULT_RETRY;
    this.debouncer = new Debouncer(options.debounce ?? DEFAULT_DEBOUNCE, (waitedMs) => this.flush(waitedMs, true));
    for (const name of options.gateways ?? []) this.gatewayStates.set(name, emptyGatewayState());
  }

  /**
   * Starts producing the group `gateway/<name>`: translated and written to the cache now, so a
   * gateway's first request (the server calls this when its stream opens) is answered with its
   * listeners rather than an empty world. Later flushes keep it current. Idempotent.
   */
  ensureGateway(name: string): void {
    if (this.gatewayStates.has(name)) return;
    this.gatewayStates.set(name, emptyGatewayState());
    log.info('gateway: building its configuration', { gateway: name });
    this.store(this.gatewayWholeUnit(name, []));
    this.scheduleRetry();
  }

  /**
   * Starts producing a group when its first proxy connects (the server reports the stream before
   * answering it): a gateway, or a mesh group (role + client profile shape, e.g. `proxyless` or
   * `proxyless+legacy-header-match+no-ring-hash`). Full-featured sidecars are always produced.
   */
  ensureGroup(group: ProxyGroup): void {
    const gateway = gatewayNameOfGroup(group);
    if (gateway !== undefined) return this.ensureGateway(gateway);
    const workload = this.workloadGroups.get(group);
    if (workload) return this.ensureWorkloadGroup(group, workload);
    const scoped = this.scopedGroups.get(group);
    if (scoped) return this.ensureScopedGroup(group, scoped);
    if (this.meshGroups.has(group)) return;
    const mesh = parseMeshGroup(group);
    if (!mesh) {
      log.warn('no such proxy group; nothing is built for it', { group });
      return;
    }
    this.meshGroups.set(group, mesh);
    log.info('mesh group: building its configuration', { group });
    const services = this.model.services().map((s) => s.key);
    this.store(this.meshGroupUnits(group, mesh, services, true, this.flushMemo()));
    this.scheduleRetry();
  }

  /**
   * Encodes a translated resource now (the cache's `encode`): the units of a flush then hold
   * bytes, and the plain objects die young instead of living until the batch is applied — on a
   * 10,000-Service first flush they were a third of its CPU in garbage collection.
   */
  private readonly encodeNow = (resource: OfferedResource, group?: ProxyGroup): OfferedResource => {
    if (!this.cache.encode || isEncoded(resource)) return resource;
    try {
      return this.cache.encode(resource, group);
    } catch (error) {
      throw new EncodeFailure(error);
    }
  };

  private flushMemo(): FlushMemo {
    return new FlushMemo(this.model, (resource) => this.encodeNow(resource));
  }

  /** The mesh groups being produced (scoped and workload groups included), sorted. */
  groups(): ProxyGroup[] {
    return [...this.meshGroups.keys(), ...this.scopedGroups.keys(), ...this.workloadGroups.keys()].sort();
  }

  /**
   * The group of a sidecar whose node names its workload: its mesh group plus the shape of its
   * pod (found by namespace and name, else by IP), within its egress scope (`<mesh group>~<scope
   * id>`; the pod's own annotation, else its namespace's) when there is one. A pod not known yet
   * gets the (scoped) mesh group — the outbound side only — until the proxy reconnects; every
   * other role its group as is.
   */
  workloadGroup(group: ProxyGroup, ref: WorkloadRef): ProxyGroup {
    if (parseMeshGroup(group)?.role !== 'sidecar') return group;
    const pod =
      (ref.namespace !== undefined && ref.pod !== undefined ? this.model.workload(ref.namespace, ref.pod) : undefined) ??
      (ref.podIP !== undefined ? this.model.workloadByIP(ref.podIP) : undefined);
    // A known pod's own annotation replaces its namespace's scope; otherwise the namespace's.
    const scope = pod
      ? this.model.workloadEgress(pod).scope
      : ref.namespace !== undefined
        ? this.model.egressScope(ref.namespace)
        : undefined;
    const base = scope ? this.scopedGroup(group, scope) : group;
    if (!pod) {
      if (ref.pod !== undefined || ref.podIP !== undefined)
        log.info('sidecar of a pod not known (yet): served the outbound side only until it reconnects', { group: base, ...ref });
      return base;
    }
    const shape = this.model.workloadShape(pod);
    const name = workloadGroupName(base, shape.id);
    if (!this.workloadGroups.has(name)) {
      const inbound = translateInbound(shape, this.options);
      this.workloadGroups.set(name, { meshGroup: base, shape, inbound, built: false });
    }
    return name;
  }

  /** The group of a mesh group's sidecars in an egress scope (registered; built on its first proxy). */
  private scopedGroup(meshGroup: ProxyGroup, scope: EgressScope): ProxyGroup {
    const name = scopedGroupName(meshGroup, scope.id);
    if (!this.scopedGroups.has(name)) this.scopedGroups.set(name, { meshGroup, scope, reach: new Set(), built: false });
    return name;
  }

  /** Builds a scoped group on its first proxy: the Services its scope reaches, from its mesh group's translation. */
  private ensureScopedGroup(name: ProxyGroup, scoped: ScopedGroup): void {
    if (scoped.built) return;
    this.ensureGroup(scoped.meshGroup);
    const mesh = this.meshGroups.get(scoped.meshGroup);
    if (!mesh) return;
    scoped.reach = this.model.scopeReach(scoped.scope);
    log.info('scoped group: building its configuration', { group: name, scope: describeScope(scoped.scope), services: scoped.reach.size });
    const units = this.meshGroupUnits(name, mesh, [...scoped.reach], true, this.flushMemo(), {
      meshGroup: scoped.meshGroup,
      reach: scoped.reach,
    });
    scoped.built = true;
    this.store(units);
    this.scheduleRetry();
  }

  /**
   * What a client of this identity, in this group, does not get as its policies say (empty for
   * gateways, which are served as current Envoys). Computed once per flush and profile.
   */
  clientDegradations(group: ProxyGroup, client: ClientIdentity): Degradation[] {
    const mesh = parseMeshGroup(group);
    if (!mesh) return [];
    const profile = clientProfile(client);
    const key = `${mesh.role}|${profile.key}|${client.language ?? ''}`;
    let found = this.degradationMemo.get(key);
    if (!found) this.degradationMemo.set(key, (found = degradationsFor(this.model, mesh.role, profile, this.options)));
    return found;
  }

  /**
   * Builds a workload group on its first proxy: its mesh group's resources (translated for it
   * once) plus its inbound side. Later flushes give it what they give its mesh group.
   */
  private ensureWorkloadGroup(name: ProxyGroup, workload: WorkloadGroup): void {
    if (workload.built) return;
    this.ensureGroup(workload.meshGroup);
    const scoped = this.scopedGroups.get(workload.meshGroup);
    const meshGroup = scoped?.meshGroup ?? workload.meshGroup;
    const mesh = this.meshGroups.get(meshGroup);
    if (!mesh) return;
    log.info('workload group: building its configuration', { group: name, namespace: workload.shape.namespace });
    const services = scoped ? [...scoped.reach] : this.model.services().map((s) => s.key);
    const units = this.meshGroupUnits(name, mesh, services, true, this.flushMemo(), {
      meshGroup,
      ...(scoped ? { reach: scoped.reach } : {}),
    });
    for (const unit of units) for (const change of unit.changes) Object.assign(change, withInbound(change, workload));
    units.push({
      spec: {
        id: `${name}|inbound`,
        object: { kind: 'ProxyGroup', name },
        what: `the inbound side of group ${name}`,
        keys: [],
        markRetry: () => {
          workload.built = false;
        },
      },
      changes: [
        { group: name, typeUrl: TypeUrl.Cluster, upserts: workload.inbound.clusters },
        { group: name, typeUrl: TypeUrl.RouteConfiguration, upserts: workload.inbound.routes },
      ],
      commit() {},
    });
    workload.built = true;
    this.store(units);
    this.scheduleRetry();
  }

  /**
   * Whether a sidecar stream's group went stale with this change: its pod appeared (it was served
   * the outbound side only), changed (its shape, or its own egress annotation), a changed Service
   * now selects it or no longer does, or its namespace's egress scope changed (which matters only
   * to a pod without a scope of its own). Only streams the change can concern are looked at again.
   */
  isStaleGroup(group: ProxyGroup, baseGroup: ProxyGroup, ref: WorkloadRef, change: ModelChange): boolean {
    if (parseMeshGroup(baseGroup)?.role !== 'sidecar') return false;
    if (ref.pod === undefined && ref.podIP === undefined && ref.namespace === undefined) return false;
    const named = ref.namespace !== undefined && ref.pod !== undefined ? `${ref.namespace}/${ref.pod}` : undefined;
    const byIP = ref.podIP !== undefined ? this.model.workloadByIP(ref.podIP)?.key : undefined;
    const withoutPod = !this.workloadGroups.has(group);
    const podChanged =
      (named !== undefined && change.workloads.has(named)) ||
      (byIP !== undefined && change.workloads.has(byIP)) ||
      (withoutPod && change.workloads.size > 0);
    // Services select pods of their own namespace only.
    const namespace = this.workloadGroups.get(group)?.shape.namespace;
    // An AccessPolicy outcome is part of the shape too.
    const touched = [...change.services, ...change.access];
    const servicesChanged = touched.length > 0 && (withoutPod || touched.some((key) => key.startsWith(`${namespace}/`)));
    const ownNamespace = ref.namespace ?? namespace ?? byIP?.slice(0, byIP.indexOf('/'));
    const scopeChanged = ownNamespace !== undefined && change.namespaces.has(ownNamespace);
    if (!podChanged && !servicesChanged && !scopeChanged) return false;
    return this.workloadGroup(baseGroup, ref) !== group;
  }

  /** The gateways being produced, sorted. */
  gateways(): string[] {
    return [...this.gatewayStates.keys()].sort();
  }

  /** Adds a source's own problems (a folder's files) to the analysis, and its word on where objects are written now. */
  addProblemSource(source: Pick<Source, 'problems' | 'originOf'>): void {
    if (source.problems) {
      const problems = source.problems.bind(source);
      this.problemSources.push(() => problems());
    }
    if (source.originOf) this.records.addLocator(source.originOf.bind(source));
  }

  /**
   * Runs the analysis and updates `problemTracker`. Called after every flush (with what it
   * changed; undefined: everything), and by sources whose own problems changed without any
   * object changing (a syntax error fixed, an object that moved down its file).
   */
  refreshProblems(change: ModelChange | undefined = emptyChange()): void {
    if (this.flushes === 0) return; // before the initial state, every object would look missing
    try {
      const sourceProblems = this.problemSources.flatMap((problems) => problems());
      const found = this.analysis.run({ model: this.model, records: this.records, sourceProblems, options: this.options }, change);
      this.problemTracker.update([...found, ...this.failures.values()]);
    } catch (error) {
      // The diagnosis must never stop configuration from being served.
      log.error('analysis failed; problems not updated', { error: (error as Error).message });
    }
  }

  /** Queues events; they reach the cache after the debounce. */
  push(events: SourceEvent[]): void {
    if (events.length === 0) return;
    for (const event of events) this.pending.push(event);
    this.debouncer.poke();
  }

  /** Applies whatever is queued now (start-up, tests, shutdown). */
  flushNow(): void {
    this.debouncer.cancel();
    this.flush(0);
    // An analysis an earlier flush deferred runs now as well: whoever flushes now (start-up before
    // ready, tests, shutdown) reads the problems next.
    if (this.analysisTimer !== undefined) {
      clearImmediate(this.analysisTimer);
      this.analysisTimer = undefined;
      this.refreshProblems(this.deferredChange);
    }
  }

  /** The first flush's `translateSeconds` (undefined before it). */
  get firstFlushSeconds(): number | undefined {
    return this.firstSeconds;
  }

  /** How many flushes have run: a burst of events should cost few. */
  get flushCount(): number {
    return this.flushes;
  }

  /** Parts of the configuration that currently fail to translate (code `TranslationFailed`). */
  problems(): Problem[] {
    return [...this.failures.values()];
  }

  stop(): void {
    this.debouncer.cancel();
    if (this.analysisTimer) clearImmediate(this.analysisTimer);
    this.analysisTimer = undefined;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /**
   * The analysis of a debounced flush runs on a later turn of the event loop: the responses the
   * flush wrote leave the process first. Flushes before it runs add their changes to it.
   */
  private deferAnalysis(change: ModelChange | undefined): void {
    const pending = this.deferredChange;
    if (this.analysisTimer === undefined) this.deferredChange = change && copyChange(change);
    else if (change === undefined || pending === undefined) this.deferredChange = undefined;
    else mergeChange(pending, change);
    this.analysisTimer ??= setImmediate(() => {
      this.analysisTimer = undefined;
      this.refreshProblems(this.deferredChange);
    });
  }

  private flush(waitedMs: number, deferAnalysis = false): void {
    const events = this.pending;
    this.pending = [];
    const retry = this.retry;
    this.retry = emptyRetry();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (events.length === 0 && this.flushes > 0 && isEmptyRetry(retry)) return;
    this.flushes++;
    markPush('flush');
    const started = performance.now();
    let change = emptyChange();
    let modelApplied = false;
    let changeSet: ChangeSet = new Map();
    this.records.apply(events);
    try {
      change = this.model.apply(events);
      modelApplied = true;
      markPush('model');
      this.degradationMemo = new Map();
      try {
        this.lbChoices.update(this.model, change, this.options);
      } catch (error) {
        // Only a log of the choices: it must not hold back the configuration itself.
        log.error('load-balancing choices not logged', { error: (error as Error).message });
      }
      for (const key of retry.services) {
        change.services.add(key);
        change.endpoints.delete(key);
      }
      const memo = this.flushMemo();
      const units = [...this.meshUnits(change, memo), ...this.gatewayUnits(change, events, memo, retry.gateways)];
      markPush('translated');
      changeSet = this.store(units);
    } catch (error) {
      // Not one unit's failure (those are caught where they happen): the model itself. Retry
      // everything, so nothing the batch touched is left behind.
      for (const service of this.model.services()) this.retry.services.add(objectKey(service.namespace, service.name));
      for (const name of this.gatewayStates.keys()) this.retry.gateways.add(name);
      this.failed(
        {
          id: 'flush',
          object: { kind: 'ProxyGroup', name: '*' },
          what: 'the flush',
          keys: events.map((e) => refKey(e.ref)),
          markRetry() {},
        },
        'translate',
        error,
      );
    }
    this.scheduleRetry();
    let changedResources = 0;
    for (const byType of changeSet.values()) {
      for (const { changed, removed } of byType.values()) changedResources += changed.size + removed.size;
    }
    const ended = performance.now();
    const eventCounts: Record<string, number> = {};
    for (const event of events) eventCounts[event.ref.kind] = (eventCounts[event.ref.kind] ?? 0) + 1;
    const report: FlushReport = {
      eventCounts,
      translateSeconds: (ended - started) / 1000,
      debounceWaitSeconds: waitedMs / 1000,
      changedResources,
      change,
      at: ended,
    };
    this.firstSeconds ??= report.translateSeconds;
    log.debug('flushed', { events: events.length, changedResources, translateMs: Math.round(ended - started) });
    this.emit('flushed', report);
    markPush('flushed');
    // After the push: the diagnosis never delays configuration.
    if (deferAnalysis) this.deferAnalysis(modelApplied ? change : undefined);
    else this.refreshProblems(modelApplied ? change : undefined);
  }

  /**
   * Writes the units to the cache in one batch (one push per stream). The cache applies a batch
   * atomically, so when it refuses one (a resource it cannot encode) every unit is tried on its
   * own: the good ones go out, the one at fault keeps its last good resources and is retried.
   */
  private store(units: WorkUnit[]): ChangeSet {
    if (units.length === 0) return new Map();
    try {
      const changeSet = this.cache.apply(units.flatMap((unit) => unit.changes));
      for (const unit of units) this.succeeded(unit);
      return changeSet;
    } catch (error) {
      if (units.length === 1) {
        this.failed(units[0].spec, 'cache', error);
        return new Map();
      }
    }
    const merged: ChangeSet = new Map();
    for (const unit of units) {
      try {
        for (const [group, byType] of this.cache.apply(unit.changes)) {
          const into = merged.get(group) ?? new Map();
          for (const [typeUrl, sets] of byType) into.set(typeUrl, sets);
          merged.set(group, into);
        }
        this.succeeded(unit);
      } catch (error) {
        this.failed(unit.spec, 'cache', error);
      }
    }
    return merged;
  }

  /**
   * Builds one unit and encodes what it produced; a translation that throws, or a resource the
   * cache cannot encode, leaves the unit out (and marks it for retry).
   */
  private unit(spec: UnitSpec, build: () => { changes: GroupChange[]; commit?: () => void }): WorkUnit[] {
    try {
      const { changes, commit } = build();
      for (const change of changes) {
        const list = change.set ?? change.upserts;
        // Mesh groups hand over encoded resources already: no copy of their lists then.
        if (!list || list.every(isEncoded)) continue;
        const encode = (resource: OfferedResource) => this.encodeNow(resource, change.group);
        if (change.set) change.set = change.set.map(encode);
        else if (change.upserts) change.upserts = change.upserts.map(encode);
      }
      return [{ spec, changes, commit: commit ?? noCommit }];
    } catch (error) {
      this.failed(spec, error instanceof EncodeFailure ? 'cache' : 'translate', error);
      return [];
    }
  }

  private succeeded(unit: WorkUnit): void {
    unit.commit();
    // Most flushes follow no failure: no unit's id to build and look up then.
    if (this.failures.size === 0) return;
    const problem = this.failures.get(unit.spec.id);
    if (!problem) return;
    this.failures.delete(unit.spec.id);
    log.info('translation recovered', { what: unit.spec.what });
    this.emit('translateRecovered', problem);
  }

  private failed(unit: UnitSpec, stage: TranslateFailure['stage'], error: unknown): void {
    unit.markRetry();
    const message = error instanceof Error ? error.message : String(error);
    log.error('translation failed; the last good configuration is still served', {
      what: unit.what,
      stage,
      keys: unit.keys,
      error: message,
    });
    const problem: Problem = {
      code: 'TranslationFailed',
      severity: 'error',
      object: unit.object,
      message: `${stage === 'cache' ? 'storing' : 'translating'} ${unit.what} failed: ${message}; the last good configuration is still served and it is retried`,
      fix: 'Check the objects named (a value Envoy cannot take); if they look right, report the error with them: it is a Switchyard bug.',
    };
    this.failures.set(unit.id, problem);
    this.emit('translateFailed', { problem, stage, keys: unit.keys, error: message });
  }

  /** Failed units are retried by the next flush; with none coming, after a backoff that doubles while they keep failing. */
  private scheduleRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (isEmptyRetry(this.retry)) {
      this.retryRound = 0;
      return;
    }
    const delay = Math.min(this.retrySettings.initialMs * 2 ** this.retryRound, this.retrySettings.maxMs);
    this.retryRound++;
    this.retryTimer = setTimeout(() => this.flush(0), delay);
    this.retryTimer.unref();
  }

  /** The mesh groups' units for one model change: every Service on the first batch, else only what it touched. */
  private meshUnits(change: ModelChange, memo: FlushMemo): WorkUnit[] {
    const units: WorkUnit[] = [];
    // The outbound listener has a chain per pod of a headless Service: its endpoints shape it.
    const headlessEndpoints = [...change.endpoints].some((key) => this.model.service(key)?.headless === true);
    for (const [group, mesh] of this.meshGroups) {
      const services = change.all ? this.model.services().map((s) => s.key) : [...new Set([...change.services, ...change.endpoints])];
      // Proxyless: pods carry the gRFC A36 server listeners (by pod IP and port).
      const shared =
        change.all ||
        change.services.size > 0 ||
        (mesh.role === 'sidecar' ? headlessEndpoints : change.workloads.size > 0 || change.access.size > 0);
      const groupUnits = this.meshGroupUnits(group, mesh, services, shared, memo);
      this.mirrorToWorkloads(groupUnits, group);
      units.push(...groupUnits);
      // After the mesh group's units: they translate what the scoped groups take.
      for (const [name, scoped] of this.scopedGroups) {
        if (scoped.meshGroup !== group || !scoped.built) continue;
        const scopedUnits = this.scopedUnits(name, scoped, mesh, change);
        this.mirrorToWorkloads(scopedUnits, name);
        units.push(...scopedUnits);
      }
    }
    return units;
  }

  /** Gives the built workload groups of this base group the same changes. */
  private mirrorToWorkloads(units: WorkUnit[], base: ProxyGroup): void {
    for (const [name, workload] of this.workloadGroups) {
      if (workload.meshGroup === base && workload.built) mirror(units, base, name, workload);
    }
  }

  /**
   * A scoped group's units for one change: only the Services it reaches, or reached before the
   * change (they leave it), or reaches now (they enter it: a new Service its scope holds, a new
   * split backend). An endpoint change of a Service outside its reach gives it nothing.
   */
  private scopedUnits(name: ProxyGroup, scoped: ScopedGroup, mesh: MeshGroup, change: ModelChange): WorkUnit[] {
    const before = scoped.reach;
    // Reach follows Services and their policies (a policy change reaches the model as its Service's).
    const after = change.all || change.services.size > 0 ? this.model.scopeReach(scoped.scope) : before;
    const moved = new Set<string>();
    for (const key of before) if (!after.has(key)) moved.add(key);
    for (const key of after) if (!before.has(key)) moved.add(key);
    const candidates = change.all ? [...after, ...moved] : [...change.services, ...change.endpoints, ...moved];
    const services = [...new Set(candidates)].filter((key) => after.has(key) || before.has(key));
    if (services.length === 0) return [];
    const shared =
      change.all || services.some((key) => change.services.has(key) || moved.has(key) || this.model.service(key)?.headless === true);
    scoped.reach = after;
    return this.meshGroupUnits(name, mesh, services, shared, this.flushMemo(), { meshGroup: scoped.meshGroup, reach: after });
  }

  /**
   * One mesh group's units, translated for its role and served shape: per Service its clusters
   * and assignments (a Service-level change may rename or drop ports; an endpoint change may
   * move Auto's choice), and, when Services changed, the group's routes and listeners, which
   * span Services (one outbound route table): rebuilt whole; the cache compares bytes, so only
   * what really changed is pushed.
   */
  private meshGroupUnits(
    group: ProxyGroup,
    mesh: MeshGroup,
    services: string[],
    routes: boolean,
    memo: FlushMemo,
    from?: DerivedFrom,
  ): WorkUnit[] {
    const { role } = mesh;
    // Completed once here, so the translator takes them as they are for each Service.
    const options = translateOptions({ ...this.options, served: mesh.shape, ...(from?.reach ? { reach: from.reach } : {}) });
    // The baseline groups are named after their role; a profile's group is named in full.
    const whose = group === role ? role : `${role} (group ${group})`;
    const units: WorkUnit[] = [];
    const retryService = (serviceKey: string): void => void this.retry.services.add(serviceKey);
    const written = mapOf(this.written, group);
    // A derived group reads its mesh group's translations; a mesh group keeps its own.
    const lastTranslated = mapOf(this.lastTranslated, from ? from.meshGroup : group);
    for (const serviceKey of services) {
      const spec = new ServiceUnitSpec(group, serviceKey, whose, retryService);
      units.push(
        ...this.unit(spec, () => {
          let fresh: OfferedResource[];
          let endpoints: OfferedResource[];
          if (from) {
            // A derived group takes its mesh group's objects (translated, or kept as last good, just before).
            const last = from.reach && !from.reach.has(serviceKey) ? undefined : lastTranslated.get(serviceKey);
            fresh = last?.clusters ?? [];
            endpoints = last?.endpoints ?? [];
          } else {
            const translated = this.model.service(serviceKey) ? translateServiceClusters(this.model, serviceKey, role, options) : [];
            endpoints = memo.endpointsOf(serviceKey, translated);
            // Kept for the derived groups: encoded, so they share the bytes rather than keep the translated objects.
            fresh = translated.map((r) => this.encodeNow(r, group));
            if (fresh.length > 0) lastTranslated.set(serviceKey, { clusters: fresh, endpoints });
            else lastTranslated.delete(serviceKey);
          }
          // A list, not a set: a Service has a cluster or two, and 10,000 of them keep theirs.
          const names = fresh.map((r) => r.name);
          const removed = (written.get(serviceKey) ?? []).filter((n) => !names.includes(n));
          return {
            changes: [
              { group, typeUrl: TypeUrl.Cluster, upserts: fresh, removals: removed },
              { group, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: endpoints, removals: removed },
            ],
            commit: () => {
              if (names.length > 0) written.set(serviceKey, names);
              else written.delete(serviceKey);
            },
          };
        }),
      );
    }
    if (routes) {
      const spec = {
        id: `${group}|routes`,
        object: { kind: 'ProxyGroup', name: group },
        what: `the ${whose} routes and listeners`,
        keys: services,
        // Any changed Service re-translates the routes; retrying them all is simplest.
        markRetry: () => {
          for (const key of services) this.retry.services.add(key);
        },
      };
      units.push(
        ...this.unit(spec, () =>
          role === 'sidecar' ? this.sidecarSharedChanges(group, services, options) : this.proxylessShared(group, options),
        ),
      );
    }
    return units;
  }

  /** Proxyless: the API listeners and route configurations of every Service, rebuilt whole (the cache pushes what changed bytes). */
  private proxylessShared(group: ProxyGroup, options: TranslateOptions): { changes: GroupChange[] } {
    const all = translateAll(this.model, 'proxyless', options, { endpoints: false, clusters: false });
    return {
      changes: [
        { group, typeUrl: TypeUrl.Listener, set: all.listeners },
        { group, typeUrl: TypeUrl.RouteConfiguration, set: all.routes },
      ],
    };
  }

  /**
   * Sidecars: the outbound listener (one resource, every Service's address) and the route
   * configurations of the HTTP ports the changed Services had or have now — not the others.
   */
  private sidecarSharedChanges(
    group: ProxyGroup,
    services: string[],
    options: TranslateOptions,
  ): { changes: GroupChange[]; commit: () => void } {
    const previous = this.sidecarRouteNames.get(group) ?? new Map<string, string[]>();
    const next = new Map(previous);
    const touched = new Set<string>();
    for (const key of new Set(services)) {
      for (const name of previous.get(key) ?? []) touched.add(name);
      const now = options.reach && !options.reach.has(key) ? [] : sidecarRouteNamesOf(this.model, key);
      for (const name of now) touched.add(name);
      if (now.length > 0) next.set(key, now);
      else next.delete(key);
    }
    const shared = translateSidecarShared(this.model, [...touched].map(Number), options);
    const produced = new Set(shared.routes.map((r) => r.name));
    return {
      changes: [
        { group, typeUrl: TypeUrl.Listener, set: shared.listeners },
        { group, typeUrl: TypeUrl.Cluster, upserts: shared.clusters },
        {
          group,
          typeUrl: TypeUrl.RouteConfiguration,
          upserts: shared.routes,
          removals: [...touched].filter((name) => !produced.has(name)),
        },
      ],
      commit: () => this.sidecarRouteNames.set(group, next),
    };
  }

  /**
   * Gateways: a change to Ingresses, IngressClasses, or a Service or Secret a gateway uses
   * re-translates that gateway whole (the cache pushes only what changed bytes: a rotated
   * certificate is one Secret); an endpoint change of a Service it uses touches only that
   * Service's clusters and assignments in the gateway's group.
   */
  private gatewayUnits(change: ModelChange, events: SourceEvent[], memo: FlushMemo, retry: Set<string>): WorkUnit[] {
    const units: WorkUnit[] = [];
    const classesChanged = events.some((event) => event.ref.kind === 'IngressClass');
    const batchKeys = [...change.ingresses, ...change.services, ...change.secrets];
    for (const [name, state] of this.gatewayStates) {
      const whole =
        change.all ||
        retry.has(name) ||
        classesChanged ||
        change.ingresses.size > 0 ||
        (change.gatewayApi && isGatewayApiName(name)) ||
        [...change.services].some((key) => state.usedServices.has(key)) ||
        [...change.secrets].some((key) => state.usedSecrets.has(key));
      if (whole) {
        units.push(...this.gatewayWholeUnit(name, batchKeys));
        continue;
      }
      const touched = [...change.endpoints].filter((key) => state.usedServices.has(key));
      if (touched.length === 0) continue;
      const group = gatewayGroup(name);
      const spec = { ...gatewayUnitSpec(name, touched), markRetry: () => this.retry.gateways.add(name) };
      units.push(
        ...this.unit(spec, () => {
          const clusters: XdsResource[] = [];
          const endpoints: OfferedResource[] = [];
          for (const serviceKey of touched) {
            const fresh = translateServiceClusters(this.model, serviceKey, 'sidecar', this.options).filter((r) =>
              state.clusterNames.has(r.name),
            );
            clusters.push(...fresh);
            endpoints.push(...memo.endpointsOf(serviceKey, fresh));
          }
          return {
            changes: [
              { group, typeUrl: TypeUrl.Cluster, upserts: clusters },
              { group, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: endpoints },
            ],
          };
        }),
      );
    }
    return units;
  }

  private gatewayWholeUnit(name: string, keys: string[]): WorkUnit[] {
    const spec = { ...gatewayUnitSpec(name, keys), markRetry: () => this.retry.gateways.add(name) };
    return this.unit(spec, () => {
      const group = gatewayGroup(name);
      const resources = translateGateway(this.model, name, this.options);
      const previous = this.gatewayStates.get(name) ?? emptyGatewayState();
      const problems = new Set(resources.problems);
      return {
        changes: [
          { group, typeUrl: TypeUrl.Cluster, set: resources.clusters },
          { group, typeUrl: TypeUrl.ClusterLoadAssignment, set: resources.endpoints },
          { group, typeUrl: TypeUrl.Listener, set: resources.listeners },
          { group, typeUrl: TypeUrl.RouteConfiguration, set: resources.routes },
          { group, typeUrl: TypeUrl.Secret, set: resources.secrets },
        ],
        commit: () => {
          for (const problem of problems) {
            if (!previous.problems.has(problem)) log.warn('gateway: configuration left out', { gateway: name, problem });
          }
          this.gatewayStates.set(name, {
            usedServices: new Set(resources.usedServices),
            usedSecrets: new Set(resources.usedSecrets),
            clusterNames: new Set(resources.clusters.map((r) => r.name)),
            problems,
          });
        },
      };
    });
  }
}

/**
 * One part of a flush that fails on its own: a Service's clusters for one mesh group, a mesh
 * group's routes and listeners, a gateway. A failing unit is left out (its last good resources stay served).
 */
interface WorkUnit {
  spec: UnitSpec;
  changes: GroupChange[];
  /** Records what was written; runs only once the cache took the unit's changes. */
  commit(): void;
}

/** What a unit is about: named in the logs and the problem when it fails. */
interface UnitSpec {
  /** Stable across flushes: a unit that fails again is the same problem. */
  readonly id: string;
  readonly object: ProblemObject;
  /** For logs and the problem's message: "the sidecar clusters of Service shop/cart". */
  readonly what: string;
  /** The objects the unit was translating (logged with the error). */
  readonly keys: string[];
  markRetry(): void;
}

/**
 * A mesh group's unit for one Service's clusters and assignments. It describes itself only when
 * asked (a failure): 10,000 of them at start-up, each alive until the batch is stored.
 */
class ServiceUnitSpec implements UnitSpec {
  constructor(
    private readonly group: ProxyGroup,
    private readonly serviceKey: string,
    /** The group's role, as `what` names it. */
    private readonly whose: string,
    private readonly retry: (serviceKey: string) => void,
  ) {}

  get id(): string {
    return `${this.group}|${this.serviceKey}`;
  }

  get object(): ProblemObject {
    const [namespace, name] = this.serviceKey.split('/');
    return { kind: 'Service', namespace, name };
  }

  get what(): string {
    return `the ${this.whose} clusters of Service ${this.serviceKey}`;
  }

  get keys(): string[] {
    return [this.serviceKey];
  }

  markRetry(): void {
    this.retry(this.serviceKey);
  }
}

function gatewayUnitSpec(name: string, keys: string[]): Omit<UnitSpec, 'markRetry'> {
  const group = gatewayGroup(name);
  return { id: group, object: { kind: 'ProxyGroup', name: group }, what: `the configuration of gateway ${name}`, keys };
}

function noCommit(): void {}

/** The inner map of `outer` for `key`, made when first asked for. */
function mapOf<K, V>(outer: Map<ProxyGroup, Map<K, V>>, key: ProxyGroup): Map<K, V> {
  let inner = outer.get(key);
  if (!inner) outer.set(key, (inner = new Map()));
  return inner;
}

/** A workload group's Listener set carries its inbound listener beside the shared ones. */
function withInbound(change: GroupChange, workload: WorkloadGroup): GroupChange {
  if (change.typeUrl !== TypeUrl.Listener || change.set === undefined) return change;
  return { ...change, set: [...change.set, ...workload.inbound.listeners] };
}

/** Gives a workload group the same changes (the same resource objects) as its mesh group. */
function mirror(units: WorkUnit[], from: ProxyGroup, to: ProxyGroup, workload: WorkloadGroup): void {
  for (const unit of units) {
    const copies = unit.changes.filter((c) => c.group === from).map((c) => withInbound({ ...c, group: to }, workload));
    unit.changes.push(...copies);
  }
}

/** What failed and is translated again by the next flush. */
interface RetryState {
  services: Set<string>;
  gateways: Set<string>;
}

function emptyRetry(): RetryState {
  return { services: new Set(), gateways: new Set() };
}

function isEmptyRetry(retry: RetryState): boolean {
  return retry.services.size === 0 && retry.gateways.size === 0;
}

function emptyGatewayState(): GatewayState {
  return { usedServices: new Set(), usedSecrets: new Set(), clusterNames: new Set(), problems: new Set() };
}
