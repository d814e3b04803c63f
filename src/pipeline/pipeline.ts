// The path from source events to the cache: events queue up, the debouncer turns a burst
// into one flush, the model says what the batch touched, and only that is translated and
// handed to the cache (which in turn wakes only the streams whose resources changed bytes).
import { EventEmitter } from 'node:events';
import { MeshModel, type ModelChange } from '../model/index.js';
import { translateOptions, type ProxyRole, type TranslateOptions } from '../translate/options.js';
import { degradationsFor, translateAll, translateEndpointsFor, translateGateway, translateServiceClusters, type Degradation } from '../translate/index.js';
import { baselineShape, clientProfile, parseMeshGroup, type ClientIdentity, type ServedShape } from '../clients/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { gatewayGroup, SIDECAR_GROUP, type GroupChange, type ProxyGroup, type ResourceCache } from '../cache/types.js';
import { Debouncer, DEFAULT_DEBOUNCE, type DebounceSettings } from './debounce.js';
import { LbChoiceLog } from './lb-choice-log.js';
import type { SourceEvent } from '../sources/types.js';
import { log } from '../log.js';

/** A mesh group being produced: its role and what its clients understand. */
interface MeshGroup {
  role: ProxyRole;
  shape: ServedShape;
}

const GATEWAY_GROUP_PREFIX = 'gateway/';

/** The gateway name of a `gateway/<name>` group; undefined for the mesh groups. */
export function gatewayNameOfGroup(group: ProxyGroup): string | undefined {
  return group.startsWith(GATEWAY_GROUP_PREFIX) ? group.slice(GATEWAY_GROUP_PREFIX.length) : undefined;
}

/**
 * One flush's per-Service translations. A ClusterLoadAssignment is the same for every group
 * that has its cluster, so it is built once per flush and the same object goes to every group:
 * the cache encodes it once.
 */
class FlushMemo {
  private readonly assignments = new Map<string, Map<string, XdsResource>>();

  constructor(private readonly model: MeshModel) {}

  /** The Service's assignments by cluster name ([] once the Service is gone). */
  endpoints(serviceKey: string): Map<string, XdsResource> {
    let byName = this.assignments.get(serviceKey);
    if (!byName) {
      const resources = this.model.service(serviceKey) ? translateEndpointsFor(this.model, serviceKey, 'sidecar') : [];
      this.assignments.set(serviceKey, (byName = new Map(resources.map((r) => [r.name, r]))));
    }
    return byName;
  }

  /** The assignments of these clusters. */
  endpointsOf(serviceKey: string, clusters: XdsResource[]): XdsResource[] {
    const byName = this.endpoints(serviceKey);
    return clusters.map((c) => byName.get(c.name)).filter((r): r is XdsResource => r !== undefined);
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

export interface PipelineEvents {
  flushed: [FlushReport];
}

export interface PipelineOptions {
  cache: ResourceCache;
  translate?: Partial<TranslateOptions>;
  debounce?: DebounceSettings;
  /** Gateways to build from the first flush on; others start when one of their proxies connects (`ensureGateway`). */
  gateways?: string[];
}

export class Pipeline extends EventEmitter<PipelineEvents> {
  readonly model = new MeshModel();
  private readonly cache: ResourceCache;
  private readonly options: TranslateOptions;
  private readonly debouncer: Debouncer;
  private pending: SourceEvent[] = [];
  /** Per group and service: the cluster names last written, so removals are exact. */
  private readonly written = new Map<string, Set<string>>();
  /**
   * The mesh groups being produced, by name (role + client profile shape): full-featured sidecars
   * always; every other one from its first client on.
   */
  private readonly meshGroups = new Map<ProxyGroup, MeshGroup>([[SIDECAR_GROUP, { role: 'sidecar', shape: baselineShape('sidecar') }]]);
  /** Degradations per role and client profile, for the current model (dropped by every flush). */
  private degradationMemo = new Map<string, Degradation[]>();
  private flushes = 0;
  /** Gateways being produced, by name. */
  private readonly gatewayStates = new Map<string, GatewayState>();
  private readonly lbChoices = new LbChoiceLog();

  constructor(options: PipelineOptions) {
    super();
    this.cache = options.cache;
    this.options = translateOptions(options.translate);
    this.debouncer = new Debouncer(options.debounce ?? DEFAULT_DEBOUNCE, (waitedMs) => this.flush(waitedMs));
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
    this.cache.apply(this.translateGatewayWhole(name));
  }

  /**
   * Starts producing a group when its first proxy connects (the server reports the stream before
   * answering it): a gateway, or a mesh group (role + client profile shape, e.g. `proxyless` or
   * `proxyless+legacy-header-match+no-ring-hash`). Full-featured sidecars are always produced.
   */
  ensureGroup(group: ProxyGroup): void {
    const gateway = gatewayNameOfGroup(group);
    if (gateway !== undefined) return this.ensureGateway(gateway);
    if (this.meshGroups.has(group)) return;
    const mesh = parseMeshGroup(group);
    if (!mesh) {
      log.warn('no such proxy group; nothing is built for it', { group });
      return;
    }
    this.meshGroups.set(group, mesh);
    log.info('mesh group: building its configuration', { group });
    this.cache.apply(this.translateMeshWhole(group, mesh, new FlushMemo(this.model)));
  }

  /** The mesh groups being produced, sorted. */
  groups(): ProxyGroup[] {
    return [...this.meshGroups.keys()].sort();
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

  /** The gateways being produced, sorted. */
  gateways(): string[] {
    return [...this.gatewayStates.keys()].sort();
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
  }

  /** How many flushes have run: a burst of events should cost few. */
  get flushCount(): number {
    return this.flushes;
  }

  stop(): void {
    this.debouncer.cancel();
  }

  private flush(waitedMs: number): void {
    const events = this.pending;
    this.pending = [];
    if (events.length === 0 && this.flushes > 0) return;
    this.flushes++;
    const started = performance.now();
    const change = this.model.apply(events);
    this.lbChoices.update(this.model, change, this.options);
    this.degradationMemo = new Map();
    const memo = new FlushMemo(this.model);
    const groupChanges = [...this.translateMesh(change, memo), ...this.translateGateways(change, events, memo)];
    const changeSet = this.cache.apply(groupChanges);
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
    log.debug('flushed', { events: events.length, changedResources, translateMs: Math.round(ended - started) });
    this.emit('flushed', report);
  }

  /** The mesh groups' changes for one model change: everything on the first batch, else only what it touched. */
  private translateMesh(change: ModelChange, memo: FlushMemo): GroupChange[] {
    const changes: GroupChange[] = [];
    for (const [group, mesh] of this.meshGroups) {
      if (change.all) {
        changes.push(...this.translateMeshWhole(group, mesh, memo));
        continue;
      }
      const { role } = mesh;
      const options = this.groupOptions(mesh);
      // A Service-level change may rename or drop ports; an endpoint change may move Auto's
      // choice (maglev vs ring_hash): either way only that Service's clusters and assignments.
      const clusters: XdsResource[] = [];
      const endpoints: XdsResource[] = [];
      const removed: string[] = [];
      for (const serviceKey of new Set([...change.services, ...change.endpoints])) {
        const fresh = this.model.service(serviceKey) ? translateServiceClusters(this.model, serviceKey, role, options) : [];
        clusters.push(...fresh);
        endpoints.push(...memo.endpointsOf(serviceKey, fresh));
        const key = `${group}|${serviceKey}`;
        const names = new Set(fresh.map((r) => r.name));
        for (const name of this.written.get(key) ?? []) if (!names.has(name)) removed.push(name);
        if (names.size > 0) this.written.set(key, names);
        else this.written.delete(key);
      }
      changes.push(
        { group, typeUrl: TypeUrl.Cluster, upserts: clusters, removals: removed },
        { group, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: endpoints, removals: removed },
      );
      if (change.services.size > 0) {
        // Routes and listeners span Services (one outbound route table): rebuilt whole; the
        // cache compares bytes, so only what really changed is pushed.
        const all = translateAll(this.model, role, options, { endpoints: false, clusters: false });
        changes.push(
          { group, typeUrl: TypeUrl.Listener, set: all.listeners },
          { group, typeUrl: TypeUrl.RouteConfiguration, set: all.routes },
        );
      }
    }
    return changes;
  }

  private groupOptions(mesh: MeshGroup): TranslateOptions {
    return { ...this.options, served: mesh.shape };
  }

  /** Everything a mesh group receives, as complete sets. */
  private translateMeshWhole(group: ProxyGroup, mesh: MeshGroup, memo: FlushMemo): GroupChange[] {
    const all = translateAll(this.model, mesh.role, this.groupOptions(mesh), { endpoints: false });
    const endpoints: XdsResource[] = [];
    for (const key of [...this.written.keys()]) if (key.startsWith(`${group}|`)) this.written.delete(key);
    for (const cluster of all.clusters) {
      // Cluster names are <ns>/<service>/<port>: the Service key is the first two parts.
      const serviceKey = cluster.name.slice(0, cluster.name.lastIndexOf('/'));
      const assignment = memo.endpoints(serviceKey).get(cluster.name);
      if (assignment) endpoints.push(assignment);
      const key = `${group}|${serviceKey}`;
      let names = this.written.get(key);
      if (!names) this.written.set(key, (names = new Set()));
      names.add(cluster.name);
    }
    return [
      { group, typeUrl: TypeUrl.Cluster, set: all.clusters },
      { group, typeUrl: TypeUrl.ClusterLoadAssignment, set: endpoints },
      { group, typeUrl: TypeUrl.Listener, set: all.listeners },
      { group, typeUrl: TypeUrl.RouteConfiguration, set: all.routes },
    ];
  }

  /**
   * Gateways: a change to Ingresses, IngressClasses, or a Service or Secret a gateway uses
   * re-translates that gateway whole (the cache pushes only what changed bytes: a rotated
   * certificate is one Secret); an endpoint change of a Service it uses touches only that
   * Service's clusters and assignments in the gateway's group.
   */
  private translateGateways(change: ModelChange, events: SourceEvent[], memo: FlushMemo): GroupChange[] {
    const changes: GroupChange[] = [];
    const classesChanged = events.some((event) => event.ref.kind === 'IngressClass');
    for (const [name, state] of this.gatewayStates) {
      const whole =
        change.all ||
        classesChanged ||
        change.ingresses.size > 0 ||
        [...change.services].some((key) => state.usedServices.has(key)) ||
        [...change.secrets].some((key) => state.usedSecrets.has(key));
      if (whole) {
        changes.push(...this.translateGatewayWhole(name));
        continue;
      }
      const touched = [...change.endpoints].filter((key) => state.usedServices.has(key));
      if (touched.length === 0) continue;
      const group = gatewayGroup(name);
      const clusters: XdsResource[] = [];
      const endpoints: XdsResource[] = [];
      for (const serviceKey of touched) {
        const fresh = translateServiceClusters(this.model, serviceKey, 'sidecar', this.options).filter((r) => state.clusterNames.has(r.name));
        clusters.push(...fresh);
        endpoints.push(...memo.endpointsOf(serviceKey, fresh));
      }
      changes.push(
        { group, typeUrl: TypeUrl.Cluster, upserts: clusters },
        { group, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: endpoints },
      );
    }
    return changes;
  }

  private translateGatewayWhole(name: string): GroupChange[] {
    const group = gatewayGroup(name);
    const resources = translateGateway(this.model, name, this.options);
    const previous = this.gatewayStates.get(name) ?? emptyGatewayState();
    const problems = new Set(resources.problems);
    for (const problem of problems) {
      if (!previous.problems.has(problem)) log.warn('gateway: configuration left out', { gateway: name, problem });
    }
    this.gatewayStates.set(name, {
      usedServices: new Set(resources.usedServices),
      usedSecrets: new Set(resources.usedSecrets),
      clusterNames: new Set(resources.clusters.map((r) => r.name)),
      problems,
    });
    return [
      { group, typeUrl: TypeUrl.Cluster, set: resources.clusters },
      { group, typeUrl: TypeUrl.ClusterLoadAssignment, set: resources.endpoints },
      { group, typeUrl: TypeUrl.Listener, set: resources.listeners },
      { group, typeUrl: TypeUrl.RouteConfiguration, set: resources.routes },
      { group, typeUrl: TypeUrl.Secret, set: resources.secrets },
    ];
  }
}

function emptyGatewayState(): GatewayState {
  return { usedServices: new Set(), usedSecrets: new Set(), clusterNames: new Set(), problems: new Set() };
}
