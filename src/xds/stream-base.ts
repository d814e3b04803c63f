// What SotW and delta streams share: request decoding and validation, the start-up gate,
// node identification, nonces, ACK / NACK bookkeeping, and reporting to the server.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import type { CachedResource, ChangeSet, ProxyGroup, ResourceCache } from '../cache/types.js';
import { log } from '../log.js';
import { markPush } from '../push-trace.js';
import { isServedTypeUrl, messageType, SERVED_TYPE_URLS, type TypeUrl } from '../envoy/protos.js';
import type {
  RefusalReason,
  StreamClosedEvent,
  StreamFlavour,
  StreamIdentity,
  StreamObserver,
  StreamSnapshot,
  TypeSnapshot,
} from './events.js';
import { nodeGroup, NodeGroupError, type NodeInfo } from './node-group.js';
import { identifyClient, type ClientIdentity } from '../clients/index.js';
import type { SendBudget } from './send-budget.js';
import type { SharedFullSets } from './shared-sets.js';
import type { ResponseContent, SharedResponses } from './shared-responses.js';
import type { SubscriptionPool } from './subscription-pool.js';

/** The side of a gRPC call a stream writes to; the server adapts a grpc-js call to it. */
export interface StreamTransport {
  readonly peer: string;
  write(bytes: Buffer): void;
  /** True while the connection does not take what was written (a slow or stalled client): pushes wait. */
  readonly blocked: boolean;
  /** Called once each time a blocked transport has flushed everything. */
  onDrain(listener: () => void): void;
  /** Responses and bytes written and not yet taken by the connection. */
  queued(): { responses: number; bytes: number };
  /** Ends the call with status OK once queued writes are flushed. */
  end(): void;
  /** Ends the call with an error status. */
  fail(code: GrpcStatus, message: string): void;
}

export interface StreamContext {
  cache: ResourceCache;
  fullSets: SharedFullSets;
  /** Push responses shared by the streams of a group that a change gives the same content. */
  sharedResponses: SharedResponses;
  subscriptions: SubscriptionPool;
  observer: StreamObserver;
  /** Resolves when the server may answer; requests wait for it. */
  ready: Promise<void>;
  /** The bound on bytes queued over all streams: requests and pushes wait their turn past it. */
  budget: SendBudget;
  nextNonce(): string;
  controlPlaneId?: string;
  /** Set for the per-type services (StreamClusters, DeltaEndpoints...): the only type URL allowed. */
  fixedTypeUrl?: TypeUrl;
  /** Who may be which node, and who may ask for what; absent, everyone may. */
  guard?: StreamGuard;
  /** Named resources a stream may subscribe to, over all types (a type with no names counts one). */
  maxSubscriptions?: number;
  /** See XdsServerOptions.refineGroup. */
  refineGroup?: (group: ProxyGroup, node: NodeInfo) => ProxyGroup;
}

/** Access decisions for one stream (the server builds one per call, from its client certificate). */
export interface StreamGuard {
  /** Why the client may not speak as this node, or undefined. */
  nodeRefusal(node: NodeInfo): string | undefined;
  /** Whether resources of this type are checked one by one (resourceRefusal); false skips the check. */
  guardsType(typeUrl: string): boolean;
  /** Why the client may not receive this resource now, or undefined. `pending`: the answer is being
   * asked for, and the server calls `accessChanged()` on the stream when it is in. */
  resourceRefusal(group: ProxyGroup, typeUrl: string, name: string): { reason: string; pending: boolean } | undefined;
}

/** What every request flavour carries, as protobufjs decodes it. */
export interface DecodedRequest {
  node?: NodeInfo | null;
  typeUrl: string;
  responseNonce: string;
  errorDetail?: { code?: number; message?: string } | null;
}

/**
 * One type's state on a stream. A class, not an object literal spread into each flavour's own: V8
 * gives every copy of a spread literal a hidden class of its own, so 2,000 streams' states had
 * 8,000 of them and every read of a field on the push and ACK paths was a megamorphic lookup.
 */
export class TypeStateBase {
  readonly served: boolean;
  wildcard = false;
  names: ReadonlySet<string> = new Set();
  /** The nonce of the last response sent for this type; '' before any. */
  lastNonce = '';
  /** Whether the client already ACKed or NACKed `lastNonce`: later requests carrying the same
   * nonce (a subscription change after a NACK, say) are not ACKs of the rejected response. */
  lastNonceAnswered = false;
  /** Whether that answer was a NACK. */
  lastNonceRejected = false;
  versionSent = '';
  versionAcked = '';
  nackCount = 0;
  lastNack: string | undefined = undefined;

  constructor(readonly typeUrl: string) {
    this.served = isServedTypeUrl(typeUrl);
  }
}

/** Ends a stream with INVALID_ARGUMENT: the request was malformed. */
class InvalidRequestError extends Error {}

/** Ends a stream with PERMISSION_DENIED or RESOURCE_EXHAUSTED, reported as a refusal. */
class RefusalError extends Error {
  constructor(
    readonly code: GrpcStatus.PERMISSION_DENIED | GrpcStatus.RESOURCE_EXHAUSTED,
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export abstract class XdsStream<State extends TypeStateBase, Request extends DecodedRequest> {
  readonly connectedAt = new Date();
  nodeId = '';
  group: ProxyGroup | undefined;
  /** Where the stream waits in the server's push queue (the queue's to set), -1 when it does not. */
  pushSlot = -1;
  /** The node as its first request gave it, and the group before `refineGroup` (for `regroup`). */
  private node: NodeInfo | undefined;
  private baseGroup: ProxyGroup | undefined;
  client: ClientIdentity | undefined;
  protected readonly types = new Map<string, State>();
  private closed = false;
  private opened = false;
  private closeReason: string | undefined;
  private queue: Promise<void>;
  /** Requests in `queue` not handled yet; -1 before the first request, which always queues (it waits for the server to be ready). */
  private queuedRequests = -1;
  private readonly requestType: protobuf.Type;
  /** Resources the guard kept from the client, by type and name, with the reason. */
  private readonly withheld = new Map<string, Map<string, string>>();
  /** Types with cache changes not yet sent because the transport was blocked. */
  private readonly heldTypes = new Set<TypeUrl>();
  private coalescedChanges = 0;
  /** Held types wait for the shared send budget (not for this stream's own transport). */
  private waitingForBudget = false;

  constructor(
    readonly streamId: number,
    readonly flavour: StreamFlavour,
    protected readonly context: StreamContext,
    protected readonly transport: StreamTransport,
    requestTypeName: string,
  ) {
    this.requestType = messageType(requestTypeName);
    this.queue = context.ready;
    transport.onDrain(() => this.releaseHeldWhenBudgetAllows());
  }

  /** Takes one raw request off the wire; requests are handled in order, once the server is ready
   * and the send budget has room. */
  receive(bytes: Buffer): void {
    const budget = this.context.budget;
    // The common case — the server is ready, nothing is waiting before this request and the
    // budget has room — is handled at once: a promise turn per ACK is 2,000 per change.
    if (this.queuedRequests === 0 && !budget.exhausted && budget.waiting === 0) {
      this.handleBytes(bytes);
      budget.next();
      return;
    }
    if (this.queuedRequests < 0) this.queuedRequests = 0;
    this.queuedRequests++;
    const handle = (): void => {
      this.queuedRequests--;
      this.handleBytes(bytes);
      budget.next();
    };
    this.queue = this.queue.then(
      // Checking for room and writing in the same tick: when the start-up gate opens for
      // thousands of waiting streams at once, each sees what the ones before it wrote.
      () => budget.whenOpen()?.then(handle) ?? handle(),
      (err: Error) => this.fail(GrpcStatus.UNAVAILABLE, `control plane failed to start: ${err.message}`),
    );
  }

  /** A cache change; only the stream's own group matters. */
  onCacheChange(changes: ChangeSet): void {
    if (this.closed || this.group === undefined) return;
    const ofGroup = changes.get(this.group);
    if (!ofGroup) return;
    const budget = this.context.budget;
    if (this.transport.blocked || this.waitingForBudget || budget.exhausted || budget.waiting > 0) {
      // The client is not reading, or every stream's queue together is full: remember which
      // types changed and send their newest state later, instead of queueing every intermediate
      // version.
      for (const typeUrl of ofGroup.keys()) {
        if (!this.types.has(typeUrl)) continue;
        this.heldTypes.add(typeUrl);
        this.coalescedChanges++;
      }
      if (!this.transport.blocked) this.releaseHeldWhenBudgetAllows();
      return;
    }
    try {
      this.push(ofGroup);
    } catch (err) {
      this.internalError(err as Error);
    }
  }

  /** Access answers changed: the withheld resources are offered again (through the push path, so a
   * blocked client still gets one response of the newest state). */
  accessChanged(): void {
    if (this.closed || this.group === undefined) return;
    const changes: NonNullable<ReturnType<ChangeSet['get']>> = new Map();
    for (const [typeUrl, names] of this.withheld) {
      if (names.size > 0) changes.set(typeUrl as TypeUrl, { changed: new Set(names.keys()), removed: new Set() });
    }
    if (changes.size > 0) this.onCacheChange(new Map([[this.group, changes]]));
  }

  /** The call is over: returns the closed event to report, if the stream had been reported opened. */
  close(reasonIfUnknown: string): StreamClosedEvent | undefined {
    this.closed = true;
    if (!this.opened) return undefined;
    this.opened = false;
    return { ...this.identity(), reason: this.closeReason ?? reasonIfUnknown };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends the stream with OK: the server shuts down, or the client said it is done. */
  end(reason: 'shutdown' | 'client' | 'regroup'): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.transport.end();
  }

  /**
   * Ends the stream (status OK) when `stale` says its group is no longer the node's: the client
   * reconnects, keeping its configuration meanwhile, and is grouped afresh.
   */
  regroup(stale: (group: ProxyGroup, baseGroup: ProxyGroup, node: NodeInfo) => boolean): boolean {
    if (this.closed || this.group === undefined || this.node === undefined || this.baseGroup === undefined) return false;
    if (!stale(this.group, this.baseGroup, this.node)) return false;
    log.info('xDS stream ended: its proxy belongs to another group now and is regrouped when it reconnects', {
      stream: this.streamId,
      node: this.nodeId,
      group: this.group,
    });
    this.end('regroup');
    return true;
  }

  snapshot(): StreamSnapshot {
    const queued = this.transport.queued();
    const types: TypeSnapshot[] = [...this.types.values()].map((state) => {
      const snapshot: TypeSnapshot = {
        typeUrl: state.typeUrl,
        wildcard: state.wildcard,
        names: [...state.names].sort(),
        versionSent: state.versionSent,
        versionAcked: state.versionAcked,
        nackCount: state.nackCount,
      };
      if (state.lastNonce !== '')
        snapshot.lastResponse = !state.lastNonceAnswered ? 'awaiting' : state.lastNonceRejected ? 'nacked' : 'acked';
      if (state.lastNack !== undefined) snapshot.lastNack = state.lastNack;
      const withheld = this.withheld.get(state.typeUrl);
      if (withheld && withheld.size > 0 && this.group !== undefined) {
        const current = this.context.cache.resources(this.group, state.typeUrl as TypeUrl);
        const still = [...withheld].filter(([name]) => current.has(name)).sort(([a], [b]) => (a < b ? -1 : 1));
        if (still.length > 0) snapshot.withheld = still.map(([name, reason]) => ({ name, reason }));
      }
      return snapshot;
    });
    return {
      streamId: this.streamId,
      nodeId: this.nodeId,
      group: this.group,
      ...(this.client ? { client: this.client } : {}),
      flavour: this.flavour,
      peer: this.transport.peer,
      connectedAt: this.connectedAt,
      types,
      queuedResponses: queued.responses,
      queuedBytes: queued.bytes,
      heldTypes: [...this.heldTypes].sort(),
      coalescedChanges: this.coalescedChanges,
    };
  }

  protected abstract handleRequest(request: Request, typeUrl: string): void;
  protected abstract push(changes: NonNullable<ReturnType<ChangeSet['get']>>): void;
  protected abstract newTypeState(typeUrl: string): State;
  /** The names the client holds of a type (what it was sent and has not been told is gone). */
  protected abstract clientHolds(state: State): Iterable<string>;

  /** Of `resources` about to be sent, those the guard lets this client have now. The rest are
   * withheld (not recorded as sent, so they go out once allowed), logged once per reason, and
   * reported to the server. */
  protected permitted(typeUrl: string, resources: CachedResource[]): CachedResource[] {
    const guard = this.context.guard;
    if (!guard || resources.length === 0 || !guard.guardsType(typeUrl)) return resources;
    let withheld = this.withheld.get(typeUrl);
    const allowed: CachedResource[] = [];
    for (const resource of resources) {
      const refusal = guard.resourceRefusal(this.group!, typeUrl, resource.name);
      if (refusal === undefined) {
        withheld?.delete(resource.name);
        allowed.push(resource);
        continue;
      }
      if (!withheld) this.withheld.set(typeUrl, (withheld = new Map()));
      if (withheld.get(resource.name) === refusal.reason) continue;
      withheld.set(resource.name, refusal.reason);
      if (refusal.pending) continue;
      log.warn('resource withheld from an xDS client', {
        stream: this.streamId,
        node: this.nodeId,
        group: this.group,
        typeUrl,
        name: resource.name,
        reason: refusal.reason,
      });
      this.context.observer.withheld({
        streamId: this.streamId,
        nodeId: this.nodeId,
        group: this.group!,
        typeUrl,
        name: resource.name,
        reason: refusal.reason,
      });
    }
    return allowed;
  }

  /** Refuses a request that would take the stream's subscriptions past the cap. `atMost`: a bound
   * on how many names `typeUrl` would have; `exactly` counts them, asked only when the bound would
   * pass the cap (counting means a set of every name: 1,000 per first request). */
  protected checkSubscriptions(typeUrl: string, atMost: number, exactly: () => number = () => atMost): void {
    const max = this.context.maxSubscriptions;
    if (max === undefined) return;
    let others = 0;
    for (const [other, state] of this.types) if (other !== typeUrl) others += Math.max(1, state.names.size);
    if (others + Math.max(1, atMost) <= max) return;
    const total = others + Math.max(1, exactly());
    if (total > max) {
      throw new RefusalError(
        GrpcStatus.RESOURCE_EXHAUSTED,
        'subscriptions-per-stream',
        `too many subscriptions on one stream: this request makes ${total}, the cap (max subscriptions per stream) is ${max}`,
      );
    }
  }

  /** Releases held types on the send budget's turn (at once when it has room). */
  private releaseHeldWhenBudgetAllows(): void {
    if (this.waitingForBudget || this.heldTypes.size === 0) return;
    const budget = this.context.budget;
    const turn = budget.whenOpen();
    if (turn === undefined) {
      this.releaseHeld();
      return;
    }
    this.waitingForBudget = true;
    void turn.then(() => {
      this.waitingForBudget = false;
      // A transport that blocked meanwhile releases on its own drain.
      if (!this.transport.blocked) this.releaseHeld();
      budget.next();
    });
  }

  /** One response per held type, of the newest state. */
  private releaseHeld(): void {
    if (this.closed || this.group === undefined || this.heldTypes.size === 0) return;
    const synthesized: NonNullable<ReturnType<ChangeSet['get']>> = new Map();
    for (const typeUrl of this.heldTypes) {
      const state = this.types.get(typeUrl);
      if (!state) continue;
      const current = this.context.cache.resources(this.group, typeUrl);
      const removed = new Set<string>();
      for (const name of this.clientHolds(state)) if (!current.has(name)) removed.add(name);
      synthesized.set(typeUrl, { changed: new Set(current.keys()), removed });
    }
    this.heldTypes.clear();
    try {
      // push() compares with what the client holds, so only what differs goes out, in push order.
      this.push(synthesized);
    } catch (err) {
      this.internalError(err as Error);
    }
  }

  /** The type's state, and whether this request is the first of its type on the stream. */
  protected typeState(typeUrl: string): { state: State; first: boolean } {
    const existing = this.types.get(typeUrl);
    if (existing) return { state: existing, first: false };
    const state = this.newTypeState(typeUrl);
    this.types.set(typeUrl, state);
    return { state, first: true };
  }

  /** Records an ACK or NACK of the latest response; the caller checked the nonce is current. */
  protected acknowledge(state: State, request: Request): void {
    if (request.responseNonce === '' || state.lastNonce === '' || state.lastNonceAnswered) return;
    state.lastNonceAnswered = true;
    const group = this.group!;
    if (request.errorDetail) {
      state.lastNonceRejected = true;
      const message = request.errorDetail.message ?? '';
      state.nackCount++;
      state.lastNack = message;
      log.warn('xDS client rejected a response', {
        stream: this.streamId,
        node: this.nodeId,
        group,
        typeUrl: state.typeUrl,
        nonce: request.responseNonce,
        version: state.versionSent,
        error: message,
      });
      this.context.observer.nack({
        streamId: this.streamId,
        nodeId: this.nodeId,
        group,
        typeUrl: state.typeUrl,
        nonce: request.responseNonce,
        version: state.versionSent,
        message,
      });
    } else {
      state.versionAcked = state.versionSent;
      this.context.observer.ack({
        streamId: this.streamId,
        nodeId: this.nodeId,
        typeUrl: state.typeUrl,
        version: state.versionSent,
        nonce: request.responseNonce,
      });
    }
  }

  /** Writes a response and records its nonce and version as the type's latest. */
  protected send(state: State, build: (nonce: string) => Buffer, version: string, resourceCount: number, removedCount: number): void {
    if (this.closed) return;
    const nonce = this.context.nextNonce();
    this.write(state, nonce, build(nonce), version, resourceCount, removedCount);
  }

  /** Like `send`, for a push of `change` (the cache's record of one group and type, or a group's
   * whole set): every stream it gives the same content gets the same response, nonce and bytes,
   * built once. */
  protected sendPush(state: State, change: object, content: ResponseContent, build: (nonce: string) => Buffer): void {
    if (this.closed) return;
    const shared = this.context.sharedResponses.get(change, this.flavour, content, state.lastNonce, this.context.nextNonce, build);
    this.write(state, shared.nonce, shared.bytes, content.version, content.resources.length, content.removed.length);
  }

  private write(state: State, nonce: string, bytes: Buffer, version: string, resourceCount: number, removedCount: number): void {
    state.lastNonce = nonce;
    state.lastNonceAnswered = false;
    state.lastNonceRejected = false;
    state.versionSent = version;
    this.transport.write(bytes);
    markPush('firstWrite');
    this.context.observer.responseSent({
      streamId: this.streamId,
      nodeId: this.nodeId,
      typeUrl: state.typeUrl,
      resourceCount,
      removedCount,
      bytes: bytes.length,
      nonce,
      version,
    });
  }

  private handleBytes(bytes: Buffer): void {
    if (this.closed) return;
    try {
      const request = this.decodeRequest(bytes);
      const typeUrl = this.checkTypeUrl(request.typeUrl);
      if (this.group === undefined) this.identify(request.node);
      this.handleRequest(request, typeUrl);
    } catch (err) {
      if (err instanceof RefusalError) {
        this.refuse(err);
      } else if (err instanceof InvalidRequestError || err instanceof NodeGroupError) {
        this.fail(GrpcStatus.INVALID_ARGUMENT, err.message);
      } else {
        this.internalError(err as Error);
      }
    }
  }

  /** The request, decoded; a flavour may recognise a repeat without decoding all of it. */
  protected decodeRequest(bytes: Buffer): Request {
    return this.decode(bytes);
  }

  protected decode(bytes: Buffer): Request {
    try {
      // A plain Uint8Array view: protobufjs' Buffer reader clips a string that runs past the end
      // of the message instead of rejecting it.
      const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
      return this.requestType.decode(view) as unknown as Request;
    } catch (err) {
      throw new InvalidRequestError(`request does not decode as ${this.requestType.fullName.slice(1)}: ${(err as Error).message}`);
    }
  }

  private checkTypeUrl(typeUrl: string): string {
    const fixed = this.context.fixedTypeUrl;
    if (fixed) {
      // A per-type stream may leave type_url empty: the method says the type.
      if (typeUrl === '' || typeUrl === fixed) return fixed;
      throw new InvalidRequestError(`this stream serves only ${fixed}; the request asks for ${typeUrl}`);
    }
    if (typeUrl === '') throw new InvalidRequestError('request without type_url: ADS needs the type URL of every request');
    // The constant for a served type: the stream's per-type state is looked up by it on every request.
    return SERVED_TYPE_URLS.find((served) => served === typeUrl) ?? typeUrl;
  }

  private identify(node: NodeInfo | null | undefined): void {
    if (!node) throw new InvalidRequestError('the first request on a stream must carry the node');
    const base = nodeGroup(node);
    const group = this.context.refineGroup?.(base, node) ?? base;
    const refusal = this.context.guard?.nodeRefusal(node);
    if (refusal !== undefined) {
      this.nodeId = node.id ?? '';
      throw new RefusalError(GrpcStatus.PERMISSION_DENIED, 'node-identity', refusal);
    }
    this.nodeId = node.id ?? '';
    this.group = group;
    this.node = node;
    this.baseGroup = base;
    this.client = identifyClient(node);
    this.opened = true;
    this.context.observer.streamOpened(this.identity());
  }

  private identity(): StreamIdentity {
    return {
      streamId: this.streamId,
      nodeId: this.nodeId,
      group: this.group!,
      flavour: this.flavour,
      peer: this.transport.peer,
      client: this.client!,
    };
  }

  private refuse(refusal: RefusalError): void {
    if (this.closed) return;
    this.context.observer.refused({
      reason: refusal.reason,
      code: GrpcStatus[refusal.code],
      peer: this.transport.peer,
      nodeId: this.nodeId,
      message: refusal.message,
    });
    this.fail(refusal.code, refusal.message);
  }

  private fail(code: GrpcStatus, message: string): void {
    if (this.closed) return;
    log.warn('xDS stream ended with an error', { stream: this.streamId, node: this.nodeId, code: GrpcStatus[code], error: message });
    this.closed = true;
    this.closeReason = message;
    this.transport.fail(code, message);
  }

  private internalError(err: Error): void {
    log.error('xDS stream failed', { stream: this.streamId, node: this.nodeId, error: err.message, stack: err.stack });
    this.fail(GrpcStatus.INTERNAL, `control plane error: ${err.message}`);
  }
}
