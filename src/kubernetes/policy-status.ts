// Policy status in the cluster (TrafficPolicy and AccessPolicy, one writer per kind): while this
// replica leads, each policy's status subresource gets observedGeneration and the model's
// conditions — Accepted and ResolvedRefs, and for TrafficPolicy Programmed (from the model, then
// from what proxies did with the resources: a NACK of a resource that carries the policy turns it
// False with the proxies' message).
// A status is written only when it differs from what the cluster holds (lastTransitionTime
// aside), and a condition keeps its lastTransitionTime while its status stays the same.
import { EventEmitter } from 'node:events';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { log } from '../log.js';
import { KeyedReconciler } from './keyed-reconciler.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { TypeUrl } from '../envoy/protos.js';
import {
  ACCESS_POLICY_PLURAL,
  KubernetesSource,
  TRAFFIC_POLICY_GROUP,
  TRAFFIC_POLICY_PLURAL,
  TRAFFIC_POLICY_VERSION,
} from '../sources/kubernetes.js';
import type { AccessPolicyObject, Condition, ObjectRef, TrafficPolicyObject, TrafficPolicySpec } from '../sources/types.js';
import type { ModelChange } from '../model/index.js';
import type { AckEvent, NackEvent, StreamClosedEvent } from '../xds/events.js';
import type { XdsServer } from '../xds/server.js';
import { degradationSource, policyDegradationMessages } from '../admin/client-degradations.js';
import type { LeaderSignals } from './leader.js';

// ---- NACKs, and which policy they concern --------------------------------------------------------

/** A NACK a proxy has not yet cleared by ACKing a later version of the same type. */
export interface OutstandingNack {
  streamId: number;
  nodeId: string;
  typeUrl: string;
  message: string;
}

/** Keeps the outstanding NACK of every stream and type: set by a NACK, cleared by an ACK of
 * that type or by the stream closing. */
export class NackTracker extends EventEmitter<{ changed: [] }> {
  private readonly nacks = new Map<number, Map<string, OutstandingNack>>();
  private readonly detachers: Array<() => void> = [];

  constructor(server?: XdsServer) {
    super();
    if (server) {
      const onNack = (event: NackEvent) => this.nack(event);
      const onAck = (event: AckEvent) => this.ack(event);
      const onClosed = (event: StreamClosedEvent) => this.closed(event.streamId);
      server.on('nack', onNack);
      server.on('ack', onAck);
      server.on('streamClosed', onClosed);
      this.detachers.push(
        () => server.off('nack', onNack),
        () => server.off('ack', onAck),
        () => server.off('streamClosed', onClosed),
      );
    }
  }

  nack(event: Pick<NackEvent, 'streamId' | 'nodeId' | 'typeUrl' | 'message'>): void {
    let byType = this.nacks.get(event.streamId);
    if (!byType) this.nacks.set(event.streamId, (byType = new Map()));
    byType.set(event.typeUrl, { streamId: event.streamId, nodeId: event.nodeId, typeUrl: event.typeUrl, message: event.message });
    this.emit('changed');
  }

  ack(event: Pick<AckEvent, 'streamId' | 'typeUrl'>): void {
    if (this.nacks.get(event.streamId)?.delete(event.typeUrl)) this.emit('changed');
  }

  closed(streamId: number): void {
    if (this.nacks.delete(streamId)) this.emit('changed');
  }

  outstanding(): OutstandingNack[] {
    return [...this.nacks.values()].flatMap((byType) => [...byType.values()]);
  }

  detach(): void {
    for (const off of this.detachers.splice(0)) off();
  }
}

const TYPE_NAMES: Record<string, string> = {
  [TypeUrl.Cluster]: 'cluster',
  [TypeUrl.ClusterLoadAssignment]: 'endpoints',
  [TypeUrl.RouteConfiguration]: 'route configuration',
  [TypeUrl.Listener]: 'listener',
  [TypeUrl.Secret]: 'secret',
};

const MAX_MESSAGE_LENGTH = 1024;

/** Cluster (and ClusterLoadAssignment) names in a proxy's error message: `<ns>/<service>/<port>`. */
const CLUSTER_NAME = /(?<![\w./-])([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\/([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\/(\d{1,5})(?![\w/])/g;

export function clusterNamesIn(message: string): string[] {
  return [...new Set([...message.matchAll(CLUSTER_NAME)].map((m) => `${m[1]}/${m[2]}/${m[3]}`))];
}

/** The Services whose clusters a policy shapes (its target) and those its routes send to (backends). */
function policyServices(namespace: string, spec: TrafficPolicySpec): { target: string; backends: Set<string> } {
  const backends = new Set<string>();
  for (const entry of spec.split ?? []) backends.add(`${namespace}/${entry.backend}`);
  for (const route of spec.routes ?? []) {
    if (route.backend) backends.add(`${namespace}/${route.backend}`);
    for (const entry of route.split ?? []) backends.add(`${namespace}/${entry.backend}`);
  }
  // A policy on an HTTPRoute or Gateway shapes no Service's clusters.
  const target = (spec.targetRef?.kind ?? 'Service') === 'Service' ? `${namespace}/${spec.targetRef?.name ?? ''}` : '';
  return { target, backends };
}

/** True when a policy puts anything into routes (and so into listeners that embed them). */
function shapesRoutes(spec: TrafficPolicySpec): boolean {
  if ((spec.targetRef?.kind ?? 'Service') !== 'Service') return true; // its rate limit rides in routes
  // A Service's rate limit rides in gateways' routes and in its pods' inbound routes and listener.
  return Boolean(
    spec.routes?.length || spec.split?.length || spec.loadBalancer?.hashOn?.length || spec.timeout || spec.retries || spec.rateLimit,
  );
}

/**
 * The NACKs that concern one policy, as the Programmed condition's message, or undefined.
 *
 * A NACK names no policy; it is attributed by resource name. Clusters and assignments are named
 * `<ns>/<service>/<port>`: a message naming the target Service's cluster concerns the policy (a
 * route configuration's message may also name a backend of its split). A message that names no
 * cluster is attributed conservatively: a rejected cluster or endpoints response to every policy
 * (each one rode in it and none is known to be programmed); a rejected route configuration or
 * listener (one outbound table shared by every Service) to every policy that shapes routes. A
 * message naming only other Services' clusters does not concern the policy.
 */
export function nackedCondition(namespace: string, spec: TrafficPolicySpec, nacks: OutstandingNack[]): string | undefined {
  const { target, backends } = policyServices(namespace, spec);
  const concerning: Array<{ nack: OutstandingNack; resource: string }> = [];
  for (const nack of nacks) {
    const typeName = TYPE_NAMES[nack.typeUrl] ?? nack.typeUrl;
    const routeLike = nack.typeUrl === TypeUrl.RouteConfiguration || nack.typeUrl === TypeUrl.Listener;
    const named = clusterNamesIn(nack.message);
    if (named.length > 0) {
      const hit = named.find((cluster) => {
        const service = cluster.slice(0, cluster.lastIndexOf('/'));
        return service === target || (routeLike && backends.has(service));
      });
      if (hit) concerning.push({ nack, resource: routeLike ? `${typeName} naming ${hit}` : `${typeName} ${hit}` });
      continue;
    }
    if (!routeLike || shapesRoutes(spec)) concerning.push({ nack, resource: `the ${typeName} response` });
  }
  if (concerning.length === 0) return undefined;
  const proxies = new Set(concerning.map((c) => c.nack.nodeId || `stream ${c.nack.streamId}`));
  // The first by resource and message, so the text is stable while the set of NACKs is.
  const first = concerning.sort((a, b) => (a.resource + a.nack.message < b.resource + b.nack.message ? -1 : 1))[0];
  const count = proxies.size;
  const text = `${count} ${count === 1 ? 'proxy' : 'proxies'} NACKed ${first.resource}: ${first.nack.message}`;
  // Proxies' messages can run to kilobytes; a status stays readable in `kubectl get -o yaml`.
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : text;
}

// ---- the status writer ---------------------------------------------------------------------------

interface TrafficPolicyStatus {
  observedGeneration?: number;
  conditions: Condition[];
}

/** Status content without lastTransitionTime, in condition-type order: equal means no write. */
export function statusSignature(status: TrafficPolicyStatus | undefined): string {
  if (!status) return '';
  const conditions = [...(status.conditions ?? [])]
    .map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration ?? null])
    .sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
  return JSON.stringify([status.observedGeneration ?? null, conditions]);
}

/** Kubernetes metav1.Time: RFC 3339 to the second. */
function kubeTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** What differs between the policy kinds whose status the writer keeps. */
interface PolicyKind {
  kind: 'TrafficPolicy' | 'AccessPolicy';
  plural: string;
  /** The source's event for one object of the kind. */
  sourceEvent: 'trafficPolicy' | 'accessPolicy';
  refs(source: KubernetesSource): ObjectRef[];
  current(source: KubernetesSource, namespace: string, name: string): TrafficPolicyObject | AccessPolicyObject | undefined;
  /** The keys of the policies whose model conditions changed in a batch. */
  changed(change: ModelChange): Set<string>;
}

const POLICY_KINDS: Record<PolicyKind['kind'], PolicyKind> = {
  TrafficPolicy: {
    kind: 'TrafficPolicy',
    plural: TRAFFIC_POLICY_PLURAL,
    sourceEvent: 'trafficPolicy',
    refs: (source) => source.trafficPolicyRefs(),
    current: (source, namespace, name) => source.trafficPolicy(namespace, name),
    changed: (change) => change.policyStatus,
  },
  AccessPolicy: {
    kind: 'AccessPolicy',
    plural: ACCESS_POLICY_PLURAL,
    sourceEvent: 'accessPolicy',
    refs: (source) => source.accessPolicyRefs(),
    current: (source, namespace, name) => source.accessPolicy(namespace, name),
    changed: (change) => change.accessPolicyStatus,
  },
};

interface PolicyStatusWriterOptions {
  /** Whose status to write. Default TrafficPolicy. */
  kind?: PolicyKind['kind'];
  kubeConfig: KubeConfig;
  source: KubernetesSource;
  pipeline: Pipeline;
  /** NACKs to turn into Programmed=False; without it Programmed is the model's alone. */
  nacks?: NackTracker;
  /** The connected proxies, for the ClientsDegraded condition (clients that do not get a policy as written). */
  server?: Pick<XdsServer, 'streams' | 'on' | 'off'> & Partial<Pick<XdsServer, 'streamIdentities'>>;
  /** Who may write: only the leader does. */
  leader: LeaderSignals;
  /** Resolves once the model holds the initial state; nothing is written before. */
  ready: Promise<void>;
  /** Batch changes this long before writing. Default 50 ms. */
  batchMs?: number;
  /** Retry a failed write after this long. Default 2000 ms. */
  retryMs?: number;
}

export class PolicyStatusWriter {
  /** Status writes done (successful PATCHes). */
  writes = 0;
  private readonly api: CustomObjectsApi;
  private readonly writer: KeyedReconciler;
  private started = false;
  private isReady = false;
  /** Every policy's ClientsDegraded message while nothing it depends on changed (see degradedMessages). */
  private degraded: Map<string, string> | undefined;
  /** What we last wrote per policy, and the resourceVersion the object had before: until the
   * watch brings the written version, the stale copy must not cause a second write. */
  private readonly lastWrite = new Map<string, { signature: string; staleResourceVersion: string | undefined }>();
  private readonly detachers: Array<() => void> = [];
  private readonly kind: PolicyKind;

  constructor(private readonly options: PolicyStatusWriterOptions) {
    this.api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    const kind = (this.kind = POLICY_KINDS[options.kind ?? 'TrafficPolicy']);
    this.writer = new KeyedReconciler({
      batchMs: options.batchMs,
      retryMs: options.retryMs,
      allKeys: () => kind.refs(options.source).map((ref) => `${ref.namespace}/${ref.name}`),
      canWrite: () => this.isReady && options.leader.isLeader(),
      reconcileOne: (key) => {
        const slash = key.indexOf('/');
        return this.reconcileOne(key.slice(0, slash), key.slice(slash + 1));
      },
    });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const { pipeline, source, leader, nacks } = this.options;
    const onFlushed = (report: { change: ModelChange }) => {
      this.degraded = undefined;
      for (const key of this.kind.changed(report.change)) this.writer.mark(key);
    };
    const onPolicy = (ref: { namespace: string; name: string }) => this.writer.mark(`${ref.namespace}/${ref.name}`);
    const onStarted = () => this.writer.markAll();
    const onLost = () => {
      this.writer.clear();
      this.lastWrite.clear();
    };
    const onNacks = () => {
      this.degraded = undefined;
      this.writer.markAll();
    };
    const onProxies = () => {
      this.degraded = undefined;
      this.writer.markAll();
    };
    this.options.server?.on('streamOpened', onProxies);
    this.options.server?.on('streamClosed', onProxies);
    this.detachers.push(
      () => this.options.server?.off('streamOpened', onProxies),
      () => this.options.server?.off('streamClosed', onProxies),
    );
    pipeline.on('flushed', onFlushed);
    source.on(this.kind.sourceEvent, onPolicy);
    leader.on('started', onStarted);
    leader.on('lost', onLost);
    nacks?.on('changed', onNacks);
    this.detachers.push(
      () => pipeline.off('flushed', onFlushed),
      () => source.off(this.kind.sourceEvent, onPolicy),
      () => leader.off('started', onStarted),
      () => leader.off('lost', onLost),
      () => nacks?.off('changed', onNacks),
    );
    this.options.ready.then(
      () => {
        this.isReady = true;
        this.writer.markAll();
      },
      () => undefined,
    );
  }

  async stop(): Promise<void> {
    const stopped = this.writer.stop();
    for (const detach of this.detachers.splice(0)) detach();
    await stopped;
  }

  /** Every policy's ClientsDegraded message, computed once for all policies (one pass over the
   * streams) and kept until the streams, the model or the NACKs change. */
  private degradedMessages(): Map<string, string> {
    if (!this.degraded) {
      const server = this.options.server;
      const streams = server ? (server.streamIdentities?.() ?? server.streams()) : [];
      this.degraded = policyDegradationMessages(degradationSource(this.options.pipeline), streams);
    }
    return this.degraded;
  }

  /** The status this replica would write for a policy now, or undefined when the model has none. */
  desiredStatus(namespace: string, name: string): TrafficPolicyStatus | undefined {
    const model = this.options.pipeline.model;
    if (this.kind.kind === 'AccessPolicy') {
      const status = model.accessPolicyStatus(namespace, name);
      if (!status) return undefined;
      return {
        ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}),
        conditions: status.conditions.map((c) => ({ ...c })),
      };
    }
    const conditions = model.policyStatus(namespace, name);
    if (!conditions) return undefined;
    const generation = model.policyStatuses().find((s) => s.namespace === namespace && s.name === name)?.observedGeneration;
    const spec = model.policy(namespace, name)?.spec;
    const nacks = this.options.nacks?.outstanding() ?? [];
    const next = conditions.map((condition) => {
      if (condition.type !== 'Programmed' || condition.status !== 'True' || !spec) return { ...condition };
      const nacked = nackedCondition(namespace, spec, nacks);
      return nacked ? { ...condition, status: 'False' as const, reason: 'Nacked', message: nacked } : { ...condition };
    });
    const degraded = this.degradedMessages().get(`${namespace}/${name}`);
    if (degraded) {
      next.push({
        type: 'ClientsDegraded',
        status: 'True',
        reason: 'ClientLimitations',
        message: degraded,
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
      });
    }
    return { ...(generation !== undefined ? { observedGeneration: generation } : {}), conditions: next };
  }

  /** Writes one policy's status if it changed. False when the write failed (retried later). */
  private async reconcileOne(namespace: string, name: string): Promise<boolean> {
    const key = `${namespace}/${name}`;
    const current = this.kind.current(this.options.source, namespace, name);
    const desired = this.desiredStatus(namespace, name);
    if (!current || !desired) return true;
    const signature = statusSignature(desired);
    if (signature === statusSignature(current.status as TrafficPolicyStatus | undefined)) return true;
    const previous = this.lastWrite.get(key);
    if (previous && previous.signature === signature && previous.staleResourceVersion === current.metadata.resourceVersion) return true;

    const now = kubeTime(new Date());
    const existing = new Map((current.status?.conditions ?? []).map((c) => [c.type, c]));
    const conditions = desired.conditions.map((condition) => {
      const before = existing.get(condition.type);
      const lastTransitionTime =
        before && before.status === condition.status && before.lastTransitionTime ? before.lastTransitionTime : now;
      return { ...condition, lastTransitionTime };
    });
    const status = { ...(desired.observedGeneration !== undefined ? { observedGeneration: desired.observedGeneration } : {}), conditions };
    // Checked again just before writing: leadership may have ended while we awaited.
    if (this.writer.isStopped || !this.options.leader.isLeader()) return true;
    try {
      await this.api.patchNamespacedCustomObjectStatus(
        { group: TRAFFIC_POLICY_GROUP, version: TRAFFIC_POLICY_VERSION, plural: this.kind.plural, namespace, name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      this.writes++;
      this.lastWrite.set(key, { signature, staleResourceVersion: current.metadata.resourceVersion });
      log.info(`${this.kind.kind} status written`, {
        policy: key,
        conditions: Object.fromEntries(conditions.map((c) => [c.type, c.status === 'True' ? 'True' : `${c.status} (${c.reason})`])),
      });
      return true;
    } catch (error) {
      const code = (error as { code?: number }).code;
      // Deleted meanwhile: nothing to report on.
      if (code === 404) return true;
      log.warn(`${this.kind.kind} status write failed; retrying`, { policy: key, error: (error as Error).message.split('\n')[0] });
      return false;
    }
  }
}
