// A state-of-the-world stream (StreamAggregatedResources and the per-type Stream* methods).
// LDS and CDS responses carry the whole subscribed set; EDS, RDS and SDS responses carry only
// the subscribed resources whose bytes the client has not been sent (the protocol allows it
// for those types, and it keeps an endpoint change to one ClusterLoadAssignment on the wire).
import type { CachedResource, ChangeSet } from '../cache/types.js';
import { TypeUrl } from '../envoy/protos.js';
import { LayeredMap } from './layered-map.js';
import { isFullStateType, PUSH_ORDER } from './push-order.js';
import type { SharedFullSet } from './shared-sets.js';
import { TypeStateBase, XdsStream, type DecodedRequest, type StreamContext, type StreamTransport } from './stream-base.js';
import { sameList, type Subscription } from './subscription-pool.js';
import { peekSotwRequest, sotwResponseBytes, withoutNames } from './wire.js';

interface SotwRequest extends DecodedRequest {
  versionInfo: string;
  resourceNames: readonly string[];
  /** The resource_names entries' raw bytes, when they are one run (see peekSotwRequest). */
  namesBytes?: Buffer;
  /** Recognised from the raw bytes as the names of the type's previous request: not decoded. */
  sameNames?: boolean;
  /** Recognised from the raw bytes as a pooled subscription's names: not decoded. */
  pooled?: Subscription;
}

class SotwTypeState extends TypeStateBase {
  /** Wildcard because the client never named anything (legacy), as opposed to asking for `*`. */
  legacyWildcard = false;
  /** What the client was last sent, per name. After a group's whole set went out, that set's own
   * map (shared with the other streams) plus this stream's changes since. */
  readonly sent = new LayeredMap<CachedResource>();
  /** Removed clusters kept in CDS responses until the rest of a change went out (make before break). */
  readonly heldRemovals = new Set<string>();
  /** The names of the last request, as sent: an ACK repeats them, and comparing the list is
   * cheaper than rebuilding the subscription on every ACK. */
  lastRequested: readonly string[] | undefined = undefined;
  /** The same list as on the wire (shared with every stream of the pooled subscription): an ACK
   * whose names are these bytes is recognised without decoding or comparing 1,000 names. */
  lastRequestedBytes: Buffer | undefined = undefined;
}

type GroupChanges = NonNullable<ReturnType<ChangeSet['get']>>;
type TypeChange = NonNullable<ReturnType<GroupChanges['get']>>;

export class SotwStream extends XdsStream<SotwTypeState, SotwRequest> {
  constructor(streamId: number, context: StreamContext, transport: StreamTransport) {
    super(streamId, 'sotw', context, transport, 'envoy.service.discovery.v3.DiscoveryRequest');
  }

  protected newTypeState(typeUrl: string): SotwTypeState {
    return new SotwTypeState(typeUrl);
  }

  protected clientHolds(state: SotwTypeState): Iterable<string> {
    return state.sent.keys();
  }

  /** An ACK repeats every subscribed name: when its names are byte for byte the previous
   * request's, only the few other fields are read. A first request names what thousands of
   * streams named before it: when its names are a pooled subscription's bytes, they are not decoded. */
  protected override decodeRequest(bytes: Buffer): SotwRequest {
    const previous: Buffer[] = [];
    for (const state of this.types.values()) if (state.lastRequestedBytes?.length) previous.push(state.lastRequestedBytes);
    const peek = peekSotwRequest(bytes, previous);
    if (peek && !peek.hasErrorDetail) {
      const typeUrl = peek.typeUrl || this.context.fixedTypeUrl || '';
      const state = this.types.get(typeUrl);
      const last = state?.lastRequestedBytes;
      const sameNames = peek.sameAs !== undefined ? peek.sameAs === last : last?.length === 0 && peek.names.length === 0;
      if (state?.lastRequested && sameNames) {
        const { versionInfo, responseNonce } = peek;
        return { versionInfo, typeUrl: peek.typeUrl, responseNonce, resourceNames: state.lastRequested, sameNames: true };
      }
      const pooled = peek.names.length > 0 ? this.context.subscriptions.find(typeUrl, isFullStateType(typeUrl), peek.names) : undefined;
      if (pooled) {
        // Decoded messages keep their defaults on the prototype: set fields on them, never spread them.
        const request = this.decode(withoutNames(bytes, peek.names));
        request.resourceNames = pooled.list;
        request.pooled = pooled;
        return request;
      }
    }
    const request = this.decode(bytes);
    if (peek) request.namesBytes = peek.names;
    return request;
  }

  protected handleRequest(request: SotwRequest, typeUrl: string): void {
    const known = this.types.get(typeUrl);
    const unchanged = known !== undefined && (request.sameNames === true || sameList(known.lastRequested, request.resourceNames));
    // A SotW request names its whole subscription for the type.
    if (!unchanged) this.checkSubscriptions(typeUrl, request.resourceNames.length, () => new Set(request.resourceNames).size);
    const { state, first } = this.typeState(typeUrl);
    // Only the latest response's nonce counts; anything else is an old request crossing a newer response.
    if (!first && request.responseNonce !== state.lastNonce) return;
    this.acknowledge(state, request);

    if (unchanged && !first) return;
    const added = this.updateSubscription(state, request, first);
    if (!first && added === undefined) return;

    if (!state.served) {
      this.respond(state, []);
      return;
    }
    if (isFullStateType(typeUrl)) {
      this.respondFullSet(state);
      return;
    }
    const fresh = this.unsent(state, added ?? new Set());
    if (fresh.length === 0) return;
    // The whole set going out (a proxy's first EDS request, usually): its entries are assembled
    // once and shared by every stream of the group.
    if (fresh.length === this.context.cache.resources(this.group!, typeUrl as TypeUrl).size) {
      const whole = this.context.fullSets.get(this.group!, typeUrl as TypeUrl);
      this.respond(state, whole.resources, '', whole);
      return;
    }
    this.respond(state, fresh);
  }

  protected push(changes: GroupChanges): void {
    for (const step of PUSH_ORDER) {
      // The change (shared by the group) first: most steps have none.
      const change = changes.get(step.typeUrl);
      if (!change) continue;
      const state = this.types.get(step.typeUrl);
      if (!state) continue;
      if (isFullStateType(step.typeUrl)) {
        if (step.phase === 'make') this.pushFullState(state, change);
        else this.releaseHeldRemovals(state, change);
      } else if (step.phase === 'make') {
        // A removed EDS/RDS/SDS resource cannot be expressed in SotW for these types; the client
        // drops it when it stops asking for it.
        const fresh = this.unsent(state, change.changed);
        if (fresh.length > 0) this.respond(state, fresh, '', undefined, change);
      }
    }
  }

  /** Applies the request's names; returns the names that became subscribed, or undefined if nothing changed. */
  private updateSubscription(state: SotwTypeState, request: SotwRequest, first: boolean): Set<string> | undefined {
    const requested = request.resourceNames;
    const wildcardCapable = isFullStateType(state.typeUrl);
    const explicitWildcard = requested.includes('*');
    const legacyWildcard = wildcardCapable && requested.length === 0 && (first || state.legacyWildcard);
    const wildcard = wildcardCapable && (explicitWildcard || legacyWildcard);
    const known = this.context.cache.resources(this.group!, state.typeUrl as TypeUrl);
    const subscription =
      request.pooled ??
      this.context.subscriptions.get(
        state.typeUrl,
        requested,
        wildcardCapable,
        (name) => known.get(name)?.name ?? name,
        request.namesBytes,
      );
    const names = subscription.set;
    state.lastRequested = subscription.list;
    state.lastRequestedBytes = subscription.raw;

    const added = new Set<string>();
    for (const name of names) if (!state.names.has(name)) added.add(name);
    let removedAny = false;
    for (const name of state.names) {
      if (names.has(name)) continue;
      removedAny = true;
      // The client forgets what it stops watching; a later re-subscription must send it again.
      if (!wildcard) state.sent.delete(name);
    }
    const wildcardChanged = wildcard !== state.wildcard;
    if (wildcardChanged && !wildcard) {
      for (const name of [...state.sent.keys()]) if (!names.has(name)) state.sent.delete(name);
    }
    state.names = names;
    state.wildcard = wildcard;
    state.legacyWildcard = legacyWildcard;
    if (added.size === 0 && !removedAny && !wildcardChanged) return undefined;
    return added;
  }

  private inScope(state: SotwTypeState, name: string): boolean {
    return state.wildcard || state.names.has(name);
  }

  /** Every subscribed resource that exists. */
  private fullSet(state: SotwTypeState): CachedResource[] {
    const all = this.context.cache.resources(this.group!, state.typeUrl as TypeUrl);
    if (state.wildcard) return [...all.values()];
    const subscribed: CachedResource[] = [];
    for (const name of state.names) {
      const resource = all.get(name);
      if (resource) subscribed.push(resource);
    }
    return subscribed;
  }

  /** Of the given names, the subscribed resources whose current bytes the client was not sent. */
  private unsent(state: SotwTypeState, names: Iterable<string>): CachedResource[] {
    const fresh: CachedResource[] = [];
    for (const name of names) {
      if (!this.inScope(state, name)) continue;
      const resource = this.context.cache.get(this.group!, state.typeUrl as TypeUrl, name);
      if (resource && state.sent.get(name)?.version !== resource.version) fresh.push(resource);
    }
    return this.permitted(state.typeUrl, fresh);
  }

  /** `change`: the cache's record of what changed, which the streams of the group share responses by. */
  private pushFullState(state: SotwTypeState, change: TypeChange): void {
    let affected = false;
    for (const name of change.changed) {
      if (!this.inScope(state, name)) continue;
      const resource = this.context.cache.get(this.group!, state.typeUrl as TypeUrl, name);
      if (resource && state.sent.get(name)?.version !== resource.version) affected = true;
    }
    const goneFromClient: string[] = [];
    for (const name of change.removed) if (state.sent.has(name)) goneFromClient.push(name);
    if (!affected && goneFromClient.length === 0) return;

    if (state.typeUrl === TypeUrl.Cluster && goneFromClient.length > 0) {
      // Removed clusters stay until the listeners and routes that replaced them went out: now
      // only new and changed clusters are sent (alongside the held ones), the removal last.
      for (const name of goneFromClient) state.heldRemovals.add(name);
      if (!affected) return;
      const held = [...state.heldRemovals].map((name) => state.sent.get(name)!);
      this.respond(state, [...this.fullSet(state), ...held], '.make', undefined, change);
      return;
    }
    this.respondFullSet(state, change);
  }

  private releaseHeldRemovals(state: SotwTypeState, change: object): void {
    if (state.heldRemovals.size === 0) return;
    state.heldRemovals.clear();
    this.respondFullSet(state, change);
  }

  /** The complete subscribed set; a wildcard set is assembled once and shared by every stream of the group. */
  private respondFullSet(state: SotwTypeState, change?: object): void {
    if (!state.wildcard) {
      this.respond(state, this.fullSet(state), '', undefined, change);
      return;
    }
    this.respond(state, [], '', this.context.fullSets.get(this.group!, state.typeUrl as TypeUrl), change);
  }

  /** Sends `resources` and records them as what the client has; full-state responses also forget the rest.
   * `whole`: the group's whole set goes out (its entries assembled once for every stream), in
   * place of `resources`. `change`: a push of that cache change, whose response streams share. */
  private respond(state: SotwTypeState, listed: CachedResource[], versionSuffix = '', whole?: SharedFullSet, change?: object): void {
    const resources = whole?.resources ?? listed;
    const version = state.served ? this.context.cache.setVersion(this.group!, state.typeUrl as TypeUrl) + versionSuffix : '';
    const sent = state.sent;
    if (whole && (isFullStateType(state.typeUrl) || holdsOnly(sent, whole.byName))) {
      // The client is left holding exactly the whole set: keep the set's own map, not a copy.
      sent.resetTo(whole.byName);
    } else if (isFullStateType(state.typeUrl)) {
      // A full set replaces what the client has.
      sent.clear();
      for (const resource of resources) sent.set(resource.name, resource);
    } else {
      for (const resource of resources) sent.set(resource.name, resource);
      sent.rebaseWhenSame(() => this.context.fullSets.get(this.group!, state.typeUrl as TypeUrl).byName);
    }
    const build = (nonce: string): Buffer =>
      sotwResponseBytes({
        versionInfo: version,
        typeUrl: state.typeUrl,
        nonce,
        resources: whole?.body ?? resources.map((r) => r.anyBytes),
        controlPlaneId: this.context.controlPlaneId,
      });
    // A push, or the whole set (what every proxy connecting gets): one response, built once, for
    // every stream given the same content.
    const shared = change ?? whole;
    if (shared) this.sendPush(state, shared, { version, resources, removed: [] }, build);
    else this.send(state, build, version, resources.length, 0);
  }
}

/** Whether every name in `sent` is in `set`. */
function holdsOnly(sent: LayeredMap<CachedResource>, set: ReadonlyMap<string, CachedResource>): boolean {
  for (const name of sent.keys()) if (!set.has(name)) return false;
  return true;
}
