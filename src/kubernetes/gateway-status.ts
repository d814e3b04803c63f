// Gateway API status in the cluster: while this replica leads, GatewayClasses of our controller
// get Accepted; our Gateways get Accepted, Programmed, per-listener conditions with
// attachedRoutes, and the addresses of the Service labelled for them; HTTPRoutes and GRPCRoutes
// get one `status.parents[]` entry per parentRef naming a Gateway of ours (entries of other
// controllers are kept). All of it comes from the model (model/gateway-api.ts); on top, a NACK
// from a proxy of the Gateway's group turns its Programmed False, as it does on TrafficPolicy.
// A status is written only when it differs from what the cluster holds (lastTransitionTime
// aside); a condition keeps its lastTransitionTime while its status stays the same.
/* eslint-disable @typescript-eslint/no-explicit-any -- statuses as the API server stores them */
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { log } from '../log.js';
import { KeyedReconciler } from './keyed-reconciler.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { GATEWAY_CONTROLLER, type GatewayInfo } from '../model/index.js';
import { GATEWAY_API_GROUP } from '../sources/gateway-api-schemas.js';
import { API_VERSIONS } from '../sources/kube-schemas.js';
import { GATEWAY_API_PLURALS, type KubernetesSource } from '../sources/kubernetes.js';
import type { Condition, GatewayApiKind, ParentReference } from '../sources/types.js';
import type { StreamSnapshot } from '../xds/events.js';
import type { LeaderSignals } from './leader.js';
import type { NackTracker, OutstandingNack } from './policy-status.js';

const MAX_MESSAGE_LENGTH = 1024;

type StatusKind = Exclude<GatewayApiKind, 'ReferenceGrant'>;
const STATUS_KINDS: readonly StatusKind[] = ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute'];

interface GatewayStatusWriterOptions {
  kubeConfig: KubeConfig;
  source: KubernetesSource;
  pipeline: Pipeline;
  /** NACKs to turn into Programmed=False on the Gateway whose proxies sent them. */
  nacks?: NackTracker;
  /** The connected proxies: which group (Gateway) a NACKing stream belongs to. */
  server?: { streams(): StreamSnapshot[]; streamIdentities?(): Array<Pick<StreamSnapshot, 'streamId' | 'group'>> };
  leader: LeaderSignals;
  /** Resolves once the model holds the initial state; nothing is written before. */
  ready: Promise<void>;
  batchMs?: number;
  retryMs?: number;
}

/** Kubernetes metav1.Time: RFC 3339 to the second. */
function kubeTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** A condition list as compared: no lastTransitionTime, in type order. */
function conditionsSignature(conditions: readonly Condition[] | undefined): unknown {
  return [...(conditions ?? [])]
    .map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration ?? null])
    .sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0));
}

/** Keeps lastTransitionTime from the stored conditions while a condition's status is unchanged. */
function withTransitionTimes(next: readonly Condition[], stored: readonly Condition[] | undefined, now: string): Condition[] {
  const before = new Map((stored ?? []).map((c) => [c.type, c]));
  return next.map((condition) => {
    const previous = before.get(condition.type);
    const lastTransitionTime =
      previous && previous.status === condition.status && previous.lastTransitionTime ? previous.lastTransitionTime : now;
    return { ...condition, lastTransitionTime };
  });
}

/** The same parentRef (defaults filled in), for matching status entries to spec entries. */
function parentRefKey(ref: ParentReference, routeNamespace: string): string {
  return JSON.stringify([
    ref.group ?? GATEWAY_API_GROUP,
    ref.kind ?? 'Gateway',
    ref.namespace ?? routeNamespace,
    ref.name,
    ref.sectionName ?? '',
    ref.port ?? 0,
  ]);
}

/** The NACKs of the proxies serving one Gateway, as Programmed's message, or undefined. */
export function gatewayNackMessage(
  gatewayKey: string,
  nacks: readonly OutstandingNack[],
  streams: ReadonlyArray<Pick<StreamSnapshot, 'streamId' | 'group'>>,
): string | undefined {
  const group = `gateway/${gatewayKey}`;
  const inGroup = new Set(streams.filter((s) => s.group === group).map((s) => s.streamId));
  const concerning = nacks.filter((n) => inGroup.has(n.streamId)).sort((a, b) => (a.typeUrl + a.message < b.typeUrl + b.message ? -1 : 1));
  if (concerning.length === 0) return undefined;
  const proxies = new Set(concerning.map((n) => n.nodeId || `stream ${n.streamId}`)).size;
  const first = concerning[0];
  const type = first.typeUrl.slice(first.typeUrl.lastIndexOf('.') + 1);
  const text = `${proxies} ${proxies === 1 ? 'proxy' : 'proxies'} of this Gateway NACKed its ${type}: ${first.message}`;
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : text;
}

export class GatewayStatusWriter {
  /** Status writes done (successful PATCHes). */
  writes = 0;
  private readonly api: CustomObjectsApi;
  private readonly writer: KeyedReconciler;
  private started = false;
  private isReady = false;
  /** What we last wrote per object and the resourceVersion it had before (see PolicyStatusWriter). */
  private readonly lastWrite = new Map<string, { signature: string; staleResourceVersion: string | undefined }>();
  private readonly detachers: Array<() => void> = [];

  constructor(private readonly options: GatewayStatusWriterOptions) {
    this.api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.writer = new KeyedReconciler({
      batchMs: options.batchMs,
      retryMs: options.retryMs,
      allKeys: () =>
        STATUS_KINDS.flatMap((kind) => options.source.gatewayApiRefs(kind).map((ref) => `${kind}/${ref.namespace}/${ref.name}`)),
      canWrite: () => this.isReady && options.leader.isLeader(),
      reconcileOne: (key) => this.reconcileOne(key),
    });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const { pipeline, source, leader, nacks } = this.options;
    const onFlushed = (report: { change: { gatewayApi: boolean; all: boolean } }) => {
      if (report.change.all || report.change.gatewayApi) this.writer.markAll();
    };
    const onObject = (ref: { kind: string; namespace: string; name: string }) =>
      this.writer.mark(`${ref.kind}/${ref.namespace}/${ref.name}`);
    const onStarted = () => this.writer.markAll();
    const onLost = () => {
      this.writer.clear();
      this.lastWrite.clear();
    };
    const onNacks = () => {
      for (const ref of source.gatewayApiRefs('Gateway')) this.writer.mark(`Gateway/${ref.namespace}/${ref.name}`);
    };
    pipeline.on('flushed', onFlushed);
    source.on('gatewayApi', onObject);
    leader.on('started', onStarted);
    leader.on('lost', onLost);
    nacks?.on('changed', onNacks);
    this.detachers.push(
      () => pipeline.off('flushed', onFlushed),
      () => source.off('gatewayApi', onObject),
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

  /** The Gateway's conditions as written: the model's, with NACKs and a missing address on Programmed. */
  gatewayConditions(gateway: GatewayInfo): Condition[] {
    // Streams are looked at only when some proxy has NACKed, and then only their ids and groups:
    // a full snapshot per Gateway per reconcile costs O(streams x subscriptions).
    const nacks = this.options.nacks?.outstanding() ?? [];
    const server = this.options.server;
    const streams = nacks.length > 0 && server ? (server.streamIdentities?.() ?? server.streams()) : [];
    const nacked = gatewayNackMessage(gateway.key, nacks, streams);
    return gateway.conditions.map((condition) => {
      if (condition.type !== 'Programmed' || condition.status !== 'True') return { ...condition };
      if (nacked) return { ...condition, status: 'False' as const, reason: 'Invalid', message: nacked };
      if (gateway.addresses.length === 0) {
        return {
          ...condition,
          status: 'False' as const,
          reason: 'AddressNotAssigned',
          message: `no address yet: label the gateway proxies' Service in ${gateway.namespace} with gateway.networking.k8s.io/gateway-name: ${gateway.name}`,
        };
      }
      return { ...condition };
    });
  }

  /**
   * The status one object should have, merged with what it holds, or undefined when it is not
   * ours to write (another controller's class, a route naming none of our Gateways).
   */
  private desired(
    kind: StatusKind,
    namespace: string,
    name: string,
    stored: Record<string, any> | undefined,
    now: string,
  ): Record<string, unknown> | undefined {
    const status = this.options.pipeline.model.gatewayApiStatus();
    if (kind === 'GatewayClass') {
      const info = status.classes.find((c) => c.name === name);
      return info && { conditions: withTransitionTimes(info.conditions, stored?.conditions, now) };
    }
    if (kind === 'Gateway') {
      const gateway = status.gateways.find((g) => g.namespace === namespace && g.name === name);
      if (!gateway) return undefined;
      const storedListeners = new Map(
        ((stored?.listeners ?? []) as Array<{ name: string; conditions?: Condition[] }>).map((l) => [l.name, l]),
      );
      return {
        ...(gateway.addresses.length ? { addresses: gateway.addresses } : {}),
        conditions: withTransitionTimes(this.gatewayConditions(gateway), stored?.conditions, now),
        listeners: gateway.listenerStatuses.map((l) => ({
          name: l.name,
          supportedKinds: l.supportedKinds,
          attachedRoutes: l.attachedRoutes,
          conditions: withTransitionTimes(l.conditions, storedListeners.get(l.name)?.conditions, now),
        })),
      };
    }
    const route = status.routes.find((r) => r.kind === kind && r.namespace === namespace && r.name === name);
    const storedParents = (stored?.parents ?? []) as Array<{
      parentRef: ParentReference;
      controllerName: string;
      conditions?: Condition[];
    }>;
    const others = storedParents.filter((p) => p.controllerName !== GATEWAY_CONTROLLER);
    const ours = new Map(
      storedParents.filter((p) => p.controllerName === GATEWAY_CONTROLLER).map((p) => [parentRefKey(p.parentRef, namespace), p]),
    );
    const parents = (route?.parents ?? []).map((p) => ({
      parentRef: p.parentRef,
      controllerName: GATEWAY_CONTROLLER,
      conditions: withTransitionTimes(p.conditions, ours.get(parentRefKey(p.parentRef, namespace))?.conditions, now),
    }));
    // A route that no longer names a Gateway of ours loses our entries (and only ours).
    if (parents.length === 0 && ours.size === 0) return undefined;
    return { parents: [...others, ...parents] };
  }

  /** What is compared: everything but lastTransitionTime. */
  private signature(status: Record<string, any> | undefined): string {
    if (!status) return '';
    return JSON.stringify({
      addresses: status.addresses ?? [],
      conditions: conditionsSignature(status.conditions),
      listeners: (status.listeners ?? []).map((l: Record<string, any>) => [
        l.name,
        l.supportedKinds,
        l.attachedRoutes,
        conditionsSignature(l.conditions),
      ]),
      parents: (status.parents ?? []).map((p: Record<string, any>) => [p.parentRef, p.controllerName, conditionsSignature(p.conditions)]),
    });
  }

  private async reconcileOne(key: string): Promise<boolean> {
    const [kind, namespace, name] = key.split('/') as [StatusKind, string, string];
    const state = this.options.source.gatewayApiState(kind, namespace, name);
    if (!state) return true;
    const now = kubeTime(new Date());
    const desired = this.desired(kind, namespace, name, state.status, now);
    if (!desired) return true;
    const signature = this.signature(desired);
    if (signature === this.signature(state.status)) return true;
    const previous = this.lastWrite.get(key);
    if (previous && previous.signature === signature && previous.staleResourceVersion === state.resourceVersion) return true;
    if (this.writer.isStopped || !this.options.leader.isLeader()) return true;
    const version = API_VERSIONS[kind].split('/')[1];
    const plural = GATEWAY_API_PLURALS[kind];
    // Routes: their parents[] list is shared with other controllers, so the write carries the
    // resourceVersion it was computed from (a conflict is retried with the newer copy).
    const body =
      kind === 'HTTPRoute' || kind === 'GRPCRoute'
        ? { metadata: { resourceVersion: state.resourceVersion }, status: desired }
        : { status: desired };
    try {
      const resource = { group: GATEWAY_API_GROUP, version, plural, name, body };
      if (kind === 'GatewayClass') {
        await this.api.patchClusterCustomObjectStatus(resource, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      } else {
        await this.api.patchNamespacedCustomObjectStatus(
          { ...resource, namespace },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      }
      this.writes++;
      this.lastWrite.set(key, { signature, staleResourceVersion: state.resourceVersion });
      log.info(`${kind} status written`, { object: kind === 'GatewayClass' ? name : `${namespace}/${name}`, status: summary(desired) });
      return true;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 404) return true;
      log.warn(`${kind} status write failed; retrying`, { object: `${namespace}/${name}`, error: (error as Error).message.split('\n')[0] });
      return false;
    }
  }
}

/** `Accepted=True, Programmed=False (Invalid)` for logs. */
function summary(status: Record<string, any>): string {
  const conditions: Condition[] = status.conditions ?? (status.parents ?? []).flatMap((p: { conditions: Condition[] }) => p.conditions);
  return conditions.map((c) => `${c.type}=${c.status}${c.status === 'True' ? '' : ` (${c.reason})`}`).join(', ');
}
