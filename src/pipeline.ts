// The path from source events to the cache: events queue up, the debouncer turns a burst
// into one flush, the model says what the batch touched, and only that is translated and
// handed to the cache (which in turn wakes only the streams whose resources changed bytes).
import { EventEmitter } from 'node:events';
import { MeshModel, type ModelChange } from './model/index.js';
import { translateOptions, type ProxyRole, type TranslateOptions } from './translate/options.js';
import { translateAll, translateGateway, translateServiceResources } from './translate/index.js';
import { TypeUrl, type XdsResource } from './protos.js';
import { gatewayGroup, PROXYLESS_GROUP, SIDECAR_GROUP, type GroupChange, type ProxyGroup, type ResourceCache } from './cache/types.js';
import { Debouncer, DEFAULT_DEBOUNCE, type DebounceSettings } from './debounce.js';
import type { SourceEvent } from './sources/types.js';
import { log } from './log.js';

const ROLE_GROUPS: ReadonlyArray<[ProxyRole, ProxyGroup]> = [
  ['sidecar', SIDECAR_GROUP],
  ['proxyless', PROXYLESS_GROUP],
];

const GATEWAY_GROUP_PREFIX = 'gateway/';

/** The gateway name of a `gateway/<name>` group; undefined for the mesh groups. */
export function gatewayNameOfGroup(group: ProxyGroup): string | undefined {
  return group.startsWith(GATEWAY_GROUP_PREFIX) ? group.slice(GATEWAY_GROUP_PREFIX.length) : undefined;
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
  /** Per role and service: the cluster and endpoint names last written, so removals are exact. */
  private readonly written = new Map<string, { clusters: Set<string>; endpoints: Set<string> }>();
  private flushes = 0;
  /** Gateways being produced, by name. */
  private readonly gatewayStates = new Map<string, GatewayState>();

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
    const groupChanges = [...this.translate(change), ...this.translateGateways(change, events)];
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

  /** The cache changes for one model change: everything on the first batch, else only what it touched. */
  private translate(change: ModelChange): GroupChange[] {
    const changes: GroupChange[] = [];
    const meshLevel = change.all || change.services.size > 0;
    for (const [role, group] of ROLE_GROUPS) {
      if (change.all) {
        const all = translateAll(this.model, role, this.options);
        changes.push(
          { group, typeUrl: TypeUrl.Cluster, set: all.clusters },
          { group, typeUrl: TypeUrl.ClusterLoadAssignment, set: all.endpoints },
          { group, typeUrl: TypeUrl.Listener, set: all.listeners },
          { group, typeUrl: TypeUrl.RouteConfiguration, set: all.routes },
        );
        this.rememberWritten(role, all.clusters, all.endpoints);
        continue;
      }
      // A Service-level change may rename or drop ports; an endpoint change may move Auto's
      // choice (maglev vs ring_hash): either way only that Service's clusters and assignments.
      const touched = new Set([...change.services, ...change.endpoints]);
      const upsertClusters: XdsResource[] = [];
      const upsertEndpoints: XdsResource[] = [];
      const removeClusters: string[] = [];
      const removeEndpoints: string[] = [];
      for (const serviceKey of touched) {
        const fresh = this.model.service(serviceKey)
          ? translateServiceResources(this.model, serviceKey, role, this.options)
          : { clusters: [], endpoints: [] };
        const key = `${role}|${serviceKey}`;
        const before = this.written.get(key) ?? { clusters: new Set<string>(), endpoints: new Set<string>() };
        const after = { clusters: new Set(fresh.clusters.map((r) => r.name)), endpoints: new Set(fresh.endpoints.map((r) => r.name)) };
        upsertClusters.push(...fresh.clusters);
        upsertEndpoints.push(...fresh.endpoints);
        for (const name of before.clusters) if (!after.clusters.has(name)) removeClusters.push(name);
        for (const name of before.endpoints) if (!after.endpoints.has(name)) removeEndpoints.push(name);
        if (after.clusters.size + after.endpoints.size > 0) this.written.set(key, after);
        else this.written.delete(key);
      }
      changes.push(
        { group, typeUrl: TypeUrl.Cluster, upserts: upsertClusters, removals: removeClusters },
        { group, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: upsertEndpoints, removals: removeEndpoints },
      );
      if (meshLevel) {
        // Routes and listeners span Services (one outbound route table): rebuilt whole; the
        // cache compares bytes, so only what really changed is pushed.
        const all = translateAll(this.model, role, this.options, { endpoints: false, clusters: false });
        changes.push(
          { group, typeUrl: TypeUrl.Listener, set: all.listeners },
          { group, typeUrl: TypeUrl.RouteConfiguration, set: all.routes },
        );
      }
    }
    return changes;
  }

  /**
   * Gateways: a change to Ingresses, IngressClasses, or a Service or Secret a gateway uses
   * re-translates that gateway whole (the cache pushes only what changed bytes: a rotated
   * certificate is one Secret); an endpoint change of a Service it uses touches only that
   * Service's clusters and assignments in the gateway's group.
   */
  private translateGateways(change: ModelChange, events: SourceEvent[]): GroupChange[] {
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
        const fresh = translateServiceResources(this.model, serviceKey, 'sidecar', this.options);
        clusters.push(...fresh.clusters.filter((r) => state.clusterNames.has(r.name)));
        endpoints.push(...fresh.endpoints.filter((r) => state.clusterNames.has(r.name)));
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

  private rememberWritten(role: ProxyRole, clusters: XdsResource[], endpoints: XdsResource[]): void {
    // Cluster names are <ns>/<service>/<port>: the Service key is the first two parts.
    const serviceOf = (name: string) => name.slice(0, name.lastIndexOf('/'));
    for (const [key] of this.written) if (key.startsWith(`${role}|`)) this.written.delete(key);
    const add = (name: string, kind: 'clusters' | 'endpoints') => {
      const key = `${role}|${serviceOf(name)}`;
      let entry = this.written.get(key);
      if (!entry) this.written.set(key, (entry = { clusters: new Set(), endpoints: new Set() }));
      entry[kind].add(name);
    };
    for (const r of clusters) add(r.name, 'clusters');
    for (const r of endpoints) add(r.name, 'endpoints');
  }
}

function emptyGatewayState(): GatewayState {
  return { usedServices: new Set(), usedSecrets: new Set(), clusterNames: new Set(), problems: new Set() };
}
