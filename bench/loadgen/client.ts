// One simulated Envoy on one ADS stream: subscribes the way Envoy does (wildcard CDS and LDS,
// then EDS by the names of the EDS clusters it received and RDS by the route names its
// listeners reference), ACKs every response and never NACKs. It keeps counters and a few
// shared, interned structures so that thousands of clients fit in one thread.
import {
  CLA_TYPE,
  CLUSTER_TYPE,
  DELTA_METHOD,
  LISTENER_TYPE,
  ROUTE_TYPE,
  SOTW_METHOD,
  encodeDeltaRequest,
  encodeNode,
  encodeSotwRequest,
  encodeSotwResourceNames,
} from './xds-messages.js';
import { GrpcStream } from './grpc-stream.js';
import { positionOf, ResponseMemo, scanResponse, type ParsedResources, type ResponseHead } from './responses.js';

const ENVOY_DEFAULT_WINDOW_BYTES = 256 * 1024 * 1024;

export const nowMs = (): number => performance.timeOrigin + performance.now();

/** An interned, immutable list of names a client subscribes to; shared by every client with the same list. */
export interface Subscription {
  readonly key: string;
  readonly names: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** DiscoveryRequest.resource_names (and a first DeltaDiscoveryRequest.resource_names_subscribe), encoded once. */
  readonly encoded: Buffer;
}

/** An interned map from a wildcard resource (cluster, listener) to the names it makes the client fetch. */
export interface DerivedSet {
  readonly key: string;
  readonly entries: ReadonlyMap<string, readonly string[]>;
  readonly subscription: Subscription;
}

/** What the clients of one thread share, so equal subscriptions are stored once. */
export class SharedState {
  /** Resource regions already parsed by some client of this thread. */
  readonly memo = new ResponseMemo();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly derivedSets = new Map<string, DerivedSet>();

  subscription(names: Iterable<string>): Subscription {
    const sorted = [...new Set(names)].sort();
    const key = sorted.join('\n');
    let subscription = this.subscriptions.get(key);
    if (!subscription) {
      subscription = {
        key,
        names: sorted,
        index: new Map(sorted.map((name, i) => [name, i])),
        encoded: encodeSotwResourceNames(sorted),
      };
      this.subscriptions.set(key, subscription);
    }
    return subscription;
  }

  derivedSet(entries: Map<string, readonly string[]>): DerivedSet {
    const key = [...entries.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, derived]) => `${name}=${derived.join(',')}`)
      .join('\n');
    let set = this.derivedSets.get(key);
    if (!set) {
      const derived: string[] = [];
      for (const names of entries.values()) derived.push(...names);
      set = { key, entries, subscription: this.subscription(derived) };
      this.derivedSets.set(key, set);
    }
    return set;
  }
}

/** What a client watches for during a change: the moment a resource's bytes differ from `oldHash`. */
export interface Watch {
  typeUrl: string;
  name: string;
  oldHash: number;
}

export interface TypeStats {
  responses: number;
  bytes: number;
  lastVersion: string;
  lastResponseAt: number;
}

interface TypeState extends TypeStats {
  lastNonce: string;
  /** Wildcard types: the resources seen and what they make the client fetch. */
  derived?: DerivedSet;
  /** Named types: the current subscription and which of its names have arrived. */
  subscription?: Subscription;
  received?: Uint8Array;
  receivedCount: number;
  /** A hash of every resource's bytes by subscription index (only with `hashAll`). */
  hashes?: Uint32Array;
  answered: boolean;
}

export interface ClientOptions {
  index: number;
  target: string;
  delta: boolean;
  shared: SharedState;
  /** Keep a hash of every EDS and RDS resource, for final-state checks. */
  hashAll?: boolean;
  /** Keep every resource's bytes by type and name (the recorder that feeds the floor server). */
  record?: boolean;
  onSynced?: (client: AdsClient) => void;
  onWatchSeen?: (client: AdsClient) => void;
  onError?: (client: AdsClient, error: Error) => void;
}

/** A resource as the recorder saw it: the message bytes, its delta version, and the hash of its bytes. */
export interface RecordedResource {
  bytes: Buffer;
  version: string;
  hash: number;
}

const ALL_TYPES = [CLUSTER_TYPE, LISTENER_TYPE, CLA_TYPE, ROUTE_TYPE];

export class AdsClient {
  readonly index: number;
  readonly delta: boolean;
  startedAt = 0;
  syncedAt = 0;
  totalBytes = 0;
  responses = 0;
  error: Error | undefined;
  /** Bytes received when the current watch began. */
  bytesAtWatch = 0;
  watch: Watch | undefined;
  watchSeenAt = 0;
  /** With `record`: type URL -> name -> the latest resource. */
  readonly recorded = new Map<string, Map<string, RecordedResource>>();

  private readonly options: ClientOptions;
  private readonly types = new Map<string, TypeState>();
  private stream: GrpcStream | undefined;
  private node: Buffer | undefined;
  private stopping = false;

  constructor(options: ClientOptions) {
    this.options = options;
    this.index = options.index;
    this.delta = options.delta;
    for (const typeUrl of ALL_TYPES) {
      this.types.set(typeUrl, {
        responses: 0,
        bytes: 0,
        lastVersion: '',
        lastResponseAt: 0,
        lastNonce: '',
        receivedCount: 0,
        answered: false,
      });
    }
    if (options.record) for (const typeUrl of ALL_TYPES) this.recorded.set(typeUrl, new Map());
  }

  start(): void {
    this.startedAt = nowMs();
    // Every simulated Envoy gets its own HTTP/2 connection, as real proxies do.
    this.stream = new GrpcStream({
      target: this.options.target,
      path: this.delta ? DELTA_METHOD : SOTW_METHOD,
      // Envoy's HTTP/2 flow-control windows (stream and connection: 256 MiB by default, see
      // Http2ProtocolOptions), not grpc-js's 64 KiB: with those, a proxy's ~1 MB first response
      // waited on ~17 window updates, each a turn of this generator's busy event loop.
      windowBytes: ENVOY_DEFAULT_WINDOW_BYTES,
      onMessage: (buf) => {
        try {
          this.onResponse(buf);
        } catch (error) {
          this.fail(error as Error);
        }
      },
      onError: (error) => {
        if (!this.stopping) this.fail(error);
      },
      onEnd: () => {
        if (!this.stopping) this.fail(new Error(`client ${this.index}: the server ended the stream`));
      },
    });
    this.node = encodeNode(`sidecar~10.0.0.${this.index % 250}~bench-${this.index}.bench~bench.svc.cluster.local`, 'bench', {
      'switchyard.dev/role': 'sidecar',
    });
    // Envoy on ADS: wildcard CDS and LDS first.
    this.send(CLUSTER_TYPE, {});
    this.send(LISTENER_TYPE, {});
  }

  stop(): void {
    this.stopping = true;
    this.stream?.cancel();
  }

  get synced(): boolean {
    return this.syncedAt > 0;
  }

  typeStats(typeUrl: string): TypeStats {
    const state = this.types.get(typeUrl)!;
    return { responses: state.responses, bytes: state.bytes, lastVersion: state.lastVersion, lastResponseAt: state.lastResponseAt };
  }

  /** With `hashAll`: the hash of each named resource of a type the client holds. */
  resourceHashes(typeUrl: string): Map<string, number> {
    const state = this.types.get(typeUrl)!;
    const result = new Map<string, number>();
    if (!state.subscription || !state.hashes || !state.received) return result;
    state.subscription.names.forEach((name, i) => {
      if (state.received![i]) result.set(name, state.hashes![i]!);
    });
    return result;
  }

  beginWatch(watch: Watch): void {
    this.watch = watch;
    this.watchSeenAt = 0;
    this.bytesAtWatch = this.totalBytes;
  }

  private fail(error: Error): void {
    if (this.error) return;
    this.error = error;
    this.options.onError?.(this, error);
  }

  private send(
    typeUrl: string,
    request: { versionInfo?: string; nonce?: string; subscribe?: readonly string[]; unsubscribe?: readonly string[]; whole?: boolean },
  ): void {
    const node = this.node;
    this.node = undefined; // only the first request of a stream carries the node
    const state = this.types.get(typeUrl);
    const bytes = this.delta
      ? encodeDeltaRequest({
          node,
          typeUrl,
          // A first subscription is the whole shared set: its names encoded once for every client.
          ...(request.whole ? { encodedSubscribe: state!.subscription!.encoded } : { subscribe: request.subscribe }),
          unsubscribe: request.unsubscribe,
          nonce: request.nonce,
        })
      : encodeSotwRequest({
          node,
          typeUrl,
          versionInfo: request.versionInfo,
          nonce: request.nonce,
          encodedResourceNames: state?.subscription?.encoded,
        });
    this.stream!.write(bytes);
  }

  private onResponse(buf: Buffer): void {
    const at = nowMs();
    this.totalBytes += buf.length;
    this.responses++;
    const head = scanResponse(buf, this.delta);
    const state = this.types.get(head.typeUrl);
    if (!state) {
      // Not a type this client asked for: ACK it and move on.
      this.send(head.typeUrl, { versionInfo: head.version, nonce: head.nonce });
      return;
    }
    this.count(state, buf.length, head.version, at);
    state.lastNonce = head.nonce;
    const parsed = this.options.shared.memo.parse(head.region, head.typeUrl, this.delta);
    this.checkWatch(head.typeUrl, parsed, at);
    let followUp: string | undefined;
    if (this.isWildcard(head.typeUrl)) {
      // CDS and LDS: SotW responses are the whole set; delta ones add to and remove from it.
      let next: DerivedSet;
      if (!this.delta || (!state.derived && head.removed.length === 0)) {
        next =
          (parsed.wholeSet as DerivedSet | undefined) ??
          this.options.shared.derivedSet(new Map(parsed.names.map((n, i) => [n, parsed.derived![i]!])));
        parsed.wholeSet = next;
      } else {
        const entries = new Map(state.derived?.entries ?? []);
        for (const name of head.removed) entries.delete(name);
        parsed.names.forEach((name, i) => entries.set(name, parsed.derived![i]!));
        next = this.options.shared.derivedSet(entries);
      }
      const previous = state.derived;
      state.derived = next;
      if (previous?.subscription !== next.subscription) followUp = head.typeUrl === CLUSTER_TYPE ? CLA_TYPE : ROUTE_TYPE;
    } else if (state.subscription) {
      for (const name of head.removed) {
        const i = state.subscription.index.get(name);
        if (i !== undefined && state.received![i]) {
          state.received![i] = 0;
          state.receivedCount--;
        }
      }
      // EDS and RDS, delta or SotW: a response may carry only what changed (only CDS and LDS
      // SotW responses are whole sets), so it updates and never removes by absence.
      const index = state.subscription.index;
      const received = state.received!;
      for (let k = 0; k < parsed.names.length; k++) {
        const i = index.get(parsed.names[k]!);
        if (i === undefined) continue;
        if (!received[i]) {
          received[i] = 1;
          state.receivedCount++;
        }
        if (state.hashes) state.hashes[i] = parsed.hashes[k]!;
      }
    }
    if (this.options.record) this.record(head, parsed);
    this.send(head.typeUrl, { versionInfo: head.version, nonce: head.nonce });
    if (followUp) this.subscribeNamed(followUp);
    if (!this.syncedAt && this.isComplete()) {
      this.syncedAt = at;
      this.options.onSynced?.(this);
    }
  }

  private record(head: ResponseHead, parsed: ParsedResources): void {
    let recorded = this.recorded.get(head.typeUrl);
    if (!recorded || (!this.delta && this.isWildcard(head.typeUrl))) {
      recorded = new Map();
      this.recorded.set(head.typeUrl, recorded);
    }
    for (const name of head.removed) recorded.delete(name);
    parsed.names.forEach((name, k) => {
      const bytes = Buffer.from(head.region.subarray(parsed.starts[k], parsed.ends[k]));
      const hash = parsed.hashes[k]!;
      recorded!.set(name, { bytes, version: parsed.versions[k] || hash.toString(16), hash });
    });
  }

  private count(state: TypeState, bytes: number, version: string, at: number): void {
    state.responses++;
    state.bytes += bytes;
    state.lastVersion = version;
    state.lastResponseAt = at;
    state.answered = true;
  }

  private checkWatch(typeUrl: string, parsed: ParsedResources, at: number): void {
    const watch = this.watch;
    if (!watch || this.watchSeenAt || watch.typeUrl !== typeUrl) return;
    const k = positionOf(parsed, watch.name);
    if (k >= 0 && parsed.hashes[k] !== watch.oldHash) {
      this.watchSeenAt = at;
      this.options.onWatchSeen?.(this);
    }
  }

  private isWildcard(typeUrl: string): boolean {
    return typeUrl === CLUSTER_TYPE || typeUrl === LISTENER_TYPE;
  }

  /** Moves a named type (EDS, RDS) to the subscription its wildcard type now implies. */
  private subscribeNamed(typeUrl: string): void {
    const source = this.types.get(typeUrl === CLA_TYPE ? CLUSTER_TYPE : LISTENER_TYPE)!;
    const state = this.types.get(typeUrl)!;
    const next = source.derived!.subscription;
    const previous = state.subscription;
    const received = new Uint8Array(next.names.length);
    const hashes = this.options.hashAll ? new Uint32Array(next.names.length) : undefined;
    let receivedCount = 0;
    if (previous && state.received) {
      next.names.forEach((name, i) => {
        const j = previous.index.get(name);
        if (j !== undefined && state.received![j]) {
          received[i] = 1;
          receivedCount++;
          if (hashes) hashes[i] = state.hashes![j]!;
        }
      });
    }
    state.subscription = next;
    state.received = received;
    state.receivedCount = receivedCount;
    state.hashes = hashes;
    if (this.delta) {
      if (!previous) {
        if (next.names.length > 0) this.send(typeUrl, { whole: true });
      } else {
        const subscribe = next.names.filter((name) => !previous.index.has(name));
        const unsubscribe = previous.names.filter((name) => !next.index.has(name));
        if (subscribe.length || unsubscribe.length) this.send(typeUrl, { subscribe, unsubscribe });
      }
    } else {
      // State of the world: the request names the whole new set; keep the last version seen.
      this.send(typeUrl, { versionInfo: state.lastVersion || undefined, nonce: state.lastNonce || undefined });
    }
  }

  private isComplete(): boolean {
    const cds = this.types.get(CLUSTER_TYPE)!;
    const lds = this.types.get(LISTENER_TYPE)!;
    if (!cds.answered || !lds.answered) return false;
    for (const typeUrl of [CLA_TYPE, ROUTE_TYPE]) {
      const state = this.types.get(typeUrl)!;
      const wanted = state.subscription?.names.length ?? 0;
      if (state.receivedCount < wanted) return false;
    }
    return true;
  }
}
