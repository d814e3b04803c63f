// An incremental stream (DeltaAggregatedResources and the per-type Delta* methods): per-resource
// versions, so a response carries only what the client does not already hold.
import type { CachedResource, ChangeSet } from '../cache/types.js';
import type { TypeUrl } from '../envoy/protos.js';
import { LayeredMap } from './layered-map.js';
import { isFullStateType, PUSH_ORDER, removalsDeferred } from './push-order.js';
import type { SharedFullSet } from './shared-sets.js';
import { TypeStateBase, XdsStream, type DecodedRequest, type StreamContext, type StreamTransport } from './stream-base.js';
import type { Subscription } from './subscription-pool.js';
import { deltaResponseBytes, peekDeltaAck, peekDeltaSubscribe, withoutNames } from './wire.js';

interface DeltaRequest extends DecodedRequest {
  resourceNamesSubscribe: readonly string[];
  resourceNamesUnsubscribe: string[];
  initialResourceVersions: Record<string, string>;
  /** The pooled subscription whose bytes the request's names were (those were not decoded). */
  pooled?: Subscription;
  /** The resource_names_subscribe entries' raw bytes, when they are one run (see peekDeltaSubscribe). */
  subscribeBytes?: Buffer;
}

class DeltaTypeState extends TypeStateBase {
  /** The subscribed names. A first request's set comes from the server's pool, shared by every
   * stream that asked for the same names (2,000 sidecars watching 1,000 endpoints each would
   * otherwise hold 2,000 copies); a stream copies it before changing it. */
  declare names: ReadonlySet<string>;
  namesShared = false;
  /** What the client holds, per name: from initial_resource_versions, then from what was sent
   * (over the group's whole set once that went out, shared with the other streams). */
  readonly clientVersions = new LayeredMap<string>();
}

type GroupChanges = NonNullable<ReturnType<ChangeSet['get']>>;

export class DeltaStream extends XdsStream<DeltaTypeState, DeltaRequest> {
  constructor(streamId: number, context: StreamContext, transport: StreamTransport) {
    super(streamId, 'delta', context, transport, 'envoy.service.discovery.v3.DeltaDiscoveryRequest');
  }

  protected newTypeState(typeUrl: string): DeltaTypeState {
    return new DeltaTypeState(typeUrl);
  }

  protected clientHolds(state: DeltaTypeState): Iterable<string> {
    return state.clientVersions.keys();
  }

  /** An ACK names only its type and nonce: once the stream knows its node, those two strings are
   * all that is read of it. A first request names what thousands of streams named before it:
   * when its names are byte for byte a pooled subscription's, they are not decoded. */
  protected override decodeRequest(bytes: Buffer): DeltaRequest {
    const ack = this.group === undefined ? undefined : peekDeltaAck(bytes);
    if (ack) {
      return {
        typeUrl: ack.typeUrl,
        responseNonce: ack.responseNonce,
        resourceNamesSubscribe: [],
        resourceNamesUnsubscribe: [],
        initialResourceVersions: {},
      };
    }
    const subscribe = peekDeltaSubscribe(bytes);
    if (!subscribe) return this.decode(bytes);
    const pooled = this.context.subscriptions.find(subscribe.typeUrl, isFullStateType(subscribe.typeUrl), subscribe.names);
    // Decoded messages keep their defaults on the prototype: set fields on them, never spread them.
    if (!pooled) {
      const request = this.decode(bytes);
      request.subscribeBytes = subscribe.names;
      return request;
    }
    const request = this.decode(withoutNames(bytes, subscribe.names));
    request.resourceNamesSubscribe = pooled.list;
    request.pooled = pooled;
    return request;
  }

  protected handleRequest(request: DeltaRequest, typeUrl: string): void {
    if (request.resourceNamesSubscribe.length > 0) {
      const before = this.types.get(typeUrl)?.names;
      this.checkSubscriptions(typeUrl, (before?.size ?? 0) + request.resourceNamesSubscribe.length, () => {
        const after = new Set(before ?? []);
        for (const name of request.resourceNamesUnsubscribe) after.delete(name);
        for (const name of request.resourceNamesSubscribe) after.add(name);
        return after.size;
      });
    }
    const { state, first } = this.typeState(typeUrl);
    // ACK / NACK only count for the latest response; subscription changes count whatever the nonce.
    if (!first && request.responseNonce === state.lastNonce) this.acknowledge(state, request);
    // An ACK or NACK that changes no subscription asks for nothing more.
    if (!first && request.resourceNamesSubscribe.length === 0 && request.resourceNamesUnsubscribe.length === 0) return;

    const wildcardCapable = isFullStateType(typeUrl);
    const subscribe = request.resourceNamesSubscribe;
    const unsubscribe = request.resourceNamesUnsubscribe;
    const wasWildcard = state.wildcard;

    if (first) {
      for (const [name, version] of Object.entries(request.initialResourceVersions ?? {})) {
        state.clientVersions.set(name, version);
      }
      // The legacy form of wildcard: a first LDS/CDS request that names nothing.
      if (wildcardCapable && subscribe.length === 0) state.wildcard = true;
    }
    for (const name of unsubscribe) {
      if (wildcardCapable && name === '*') {
        state.wildcard = false;
        continue;
      }
      if (state.names.has(name)) this.ownNames(state).delete(name);
    }
    let newlySubscribed: Iterable<string>;
    const all = this.context.cache.resources(this.group!, typeUrl as TypeUrl);
    if (state.names.size === 0 && subscribe.length > 0) {
      // The usual first request: the whole subscription at once. Keep the cache's strings for
      // the names, not the request's fresh copies.
      const pooled =
        request.pooled ??
        this.context.subscriptions.get(typeUrl, subscribe, wildcardCapable, (name) => all.get(name)?.name ?? name, request.subscribeBytes);
      if (wildcardCapable && subscribe.includes('*')) state.wildcard = true;
      state.names = pooled.set;
      state.namesShared = true;
      newlySubscribed = pooled.set;
    } else {
      const added: string[] = (newlySubscribed = []);
      for (const name of subscribe) {
        if (wildcardCapable && name === '*') {
          state.wildcard = true;
          continue;
        }
        if (state.names.has(name)) continue;
        const kept = all.get(name)?.name ?? name;
        added.push(kept);
        this.ownNames(state).add(kept);
      }
    }
    // The client drops what it no longer watches; forget it so a re-subscription sends it again.
    // Only a request that narrows the scope can drop anything: a plain ACK must stay O(1), not
    // O(resources held), or every push costs streams x resources.
    if (wasWildcard && !state.wildcard) {
      for (const name of [...state.clientVersions.keys()]) if (!state.names.has(name)) state.clientVersions.delete(name);
    } else if (!state.wildcard) {
      for (const name of unsubscribe) state.clientVersions.delete(name);
    }

    if (!state.served) {
      if (first || subscribe.length > 0)
        this.respond(
          state,
          [],
          (first ? subscribe : [...newlySubscribed]).filter((n) => n !== '*'),
        );
      return;
    }

    // The usual first request (the wildcard alone, or a pooled subscription naming exactly the
    // group's whole set; nothing held yet): the whole set goes out, decided without looking up
    // each name.
    if (first && state.clientVersions.size === 0 && (state.wildcard ? state.names.size === 0 : state.namesShared)) {
      const whole = this.context.fullSets.get(this.group!, typeUrl as TypeUrl);
      const exactly = state.wildcard || whole.holdsExactly(state.names);
      if (exactly && whole.resources.length > 0 && this.permitted(typeUrl, whole.resources).length === whole.resources.length) {
        this.respond(state, whole.resources, [], whole);
        return;
      }
    }
    const outgoing = new Map<string, CachedResource>();
    const removed = new Set<string>();
    if (first || (state.wildcard && !wasWildcard)) {
      // Everything in scope that the client lacks or holds at another version; what it holds
      // that no longer exists is removed.
      const candidates = state.wildcard ? all.keys() : state.names.values();
      for (const name of candidates) {
        const resource = all.get(name);
        if (resource && state.clientVersions.get(name) !== resource.version) outgoing.set(name, resource);
      }
      for (const name of state.clientVersions.keys()) if (!all.has(name)) removed.add(name);
    }
    for (const name of newlySubscribed) {
      const resource = all.get(name);
      if (!resource) removed.add(name);
      // On the first request the loop above decided it from initial_resource_versions; later, a
      // new subscription is sent even if unchanged (the client may have dropped it).
      else if (!first) outgoing.set(name, resource);
    }
    const sending = this.permitted(typeUrl, [...outgoing.values()]);
    if (sending.length === 0 && removed.size === 0 && !first) return;
    // The whole set going out (a proxy's first request, usually): its entries are assembled once
    // and shared by every stream of the group.
    const whole =
      sending.length > 0 && sending.length === all.size ? this.context.fullSets.get(this.group!, typeUrl as TypeUrl) : undefined;
    this.respond(state, whole?.resources ?? sending, [...removed], whole);
  }

  protected push(changes: GroupChanges): void {
    for (const step of PUSH_ORDER) {
      // The change (shared by the group) first: most steps have none, and the stream's own maps
      // are what a push to thousands of streams waits on memory for.
      const change = changes.get(step.typeUrl);
      if (!change) continue;
      const state = this.types.get(step.typeUrl);
      if (!state) continue;
      const removed: string[] = [];
      const deferred = removalsDeferred(step.typeUrl);
      if (step.phase === 'break' || !deferred) {
        for (const name of change.removed) if (state.clientVersions.has(name)) removed.push(name);
      }
      const outgoing: CachedResource[] = [];
      if (step.phase === 'make') {
        for (const name of change.changed) {
          if (!this.inScope(state, name)) continue;
          const resource = this.context.cache.get(this.group!, state.typeUrl as TypeUrl, name);
          if (resource && state.clientVersions.get(name) !== resource.version) outgoing.push(resource);
        }
      }
      const sending = this.permitted(state.typeUrl, outgoing);
      if (sending.length > 0 || removed.length > 0) this.respond(state, sending, removed, undefined, change);
    }
  }

  /** The stream's own set of names, copied from the pooled one the first time it changes. */
  private ownNames(state: DeltaTypeState): Set<string> {
    if (state.namesShared) {
      state.names = new Set(state.names);
      state.namesShared = false;
    }
    return state.names as Set<string>;
  }

  private inScope(state: DeltaTypeState, name: string): boolean {
    return state.wildcard || state.names.has(name);
  }

  /** `whole`: the group's whole set goes out (its entries assembled once for every stream), in
   * place of `resources`. `change`: a push of that cache change, whose response streams share. */
  private respond(state: DeltaTypeState, resources: CachedResource[], removed: string[], whole?: SharedFullSet, change?: object): void {
    const version = state.served ? this.context.cache.setVersion(this.group!, state.typeUrl as TypeUrl) : '';
    const held = state.clientVersions;
    if (whole && holdsOnly(held, whole.byName, new Set(removed))) {
      // The client is left holding exactly the whole set: keep the set's own map, not a copy.
      held.resetTo(whole.versions);
    } else {
      for (const resource of resources) held.set(resource.name, resource.version);
      for (const name of removed) held.delete(name);
      held.rebaseWhenSame(() => this.context.fullSets.get(this.group!, state.typeUrl as TypeUrl).versions);
    }
    const build = (nonce: string): Buffer =>
      deltaResponseBytes({
        systemVersionInfo: version,
        typeUrl: state.typeUrl,
        nonce,
        resources: whole?.deltaBody ?? resources.map((r) => r.deltaBytes),
        removedResources: removed,
        controlPlaneId: this.context.controlPlaneId,
      });
    // A push, or the whole set (what every proxy connecting gets): one response, built once, for
    // every stream given the same content; 2,000 first responses of ~1 MB were each assembled anew.
    const shared = change ?? whole;
    if (shared) this.sendPush(state, shared, { version, resources, removed }, build);
    else this.send(state, build, version, resources.length, removed.length);
  }
}

/** Whether every name `held` has is in `set` or about to be removed. */
function holdsOnly(held: LayeredMap<string>, set: ReadonlyMap<string, unknown>, removed: ReadonlySet<string>): boolean {
  for (const name of held.keys()) if (!set.has(name) && !removed.has(name)) return false;
  return true;
}
