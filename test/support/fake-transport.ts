// An xDS stream without gRPC or sockets: the real SotwStream / DeltaStream over a transport that
// records what they write, with the real cache, shared sets and send budget, so protocol
// behaviour (ACK, NACK, nonces, subscriptions, removals) is pinned in fast tests. The socket
// tests (test/integration/xds-*.test.ts) still prove the real wire.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ResourceCache } from '../../src/cache/cache.js';
import type { GroupChange } from '../../src/cache/types.js';
import { encodeMessage } from '../../src/envoy/protos.js';
import { DeltaStream } from '../../src/xds/delta-stream.js';
import type {
  AckEvent,
  NackEvent,
  RefusedEvent,
  ResponseSentEvent,
  StreamIdentity,
  StreamObserver,
  WithheldEvent,
} from '../../src/xds/events.js';
import { SendBudget } from '../../src/xds/send-budget.js';
import { SharedFullSets } from '../../src/xds/shared-sets.js';
import { SharedResponses } from '../../src/xds/shared-responses.js';
import { SotwStream } from '../../src/xds/sotw-stream.js';
import type { StreamContext, StreamTransport } from '../../src/xds/stream-base.js';
import { SubscriptionPool } from '../../src/xds/subscription-pool.js';
import {
  decodeDeltaResponse,
  decodeSotwResponse,
  testNode,
  type DecodedDeltaResponse,
  type DecodedSotwResponse,
  type DeltaRequestFields,
  type SotwRequestFields,
} from './xds-client.js';

/** Records every write; blocks only when a test sets `blocked` (a client that stopped reading). */
class FakeTransport implements StreamTransport {
  readonly peer = 'fake:1';
  blocked = false;
  readonly written: Buffer[] = [];
  ended: { code: GrpcStatus; message: string } | undefined;
  private readonly drainListeners: Array<() => void> = [];

  write(bytes: Buffer): void {
    this.written.push(bytes);
  }
  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }
  /** The client reads again: the stream sends what it held back. */
  drain(): void {
    this.blocked = false;
    for (const listener of this.drainListeners) listener();
  }
  queued(): { responses: number; bytes: number } {
    return { responses: 0, bytes: 0 };
  }
  end(): void {
    this.ended = { code: GrpcStatus.OK, message: '' };
  }
  fail(code: GrpcStatus, message: string): void {
    this.ended = { code, message };
  }
}

/** What the stream reported to the server. */
class RecordingObserver implements StreamObserver {
  readonly opened: StreamIdentity[] = [];
  readonly sent: ResponseSentEvent[] = [];
  readonly acks: AckEvent[] = [];
  readonly nacks: NackEvent[] = [];
  readonly refusals: RefusedEvent[] = [];
  readonly withholdings: WithheldEvent[] = [];
  streamOpened(event: StreamIdentity): void {
    this.opened.push(event);
  }
  responseSent(event: ResponseSentEvent): void {
    this.sent.push(event);
  }
  ack(event: AckEvent): void {
    this.acks.push(event);
  }
  nack(event: NackEvent): void {
    this.nacks.push(event);
  }
  refused(event: RefusedEvent): void {
    this.refusals.push(event);
  }
  withheld(event: WithheldEvent): void {
    this.withholdings.push(event);
  }
}

/** Lets the stream's request queue (a promise chain) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What a test may set on the stream's context: the caps and guards the server would pass. */
export type FakeStreamOptions = Partial<
  Pick<StreamContext, 'maxSubscriptions' | 'guard' | 'fixedTypeUrl' | 'controlPlaneId' | 'refineGroup' | 'ready' | 'budget'>
> & {
  /** Another fake stream of the same server: this one shares its cache, shared sets and responses, pools,
   * send budget and nonces (each stream still has its own transport and observer). */
  sameServerAs?: FakeStream<unknown, unknown>;
};

abstract class FakeStream<Request, Response> {
  readonly cache: ResourceCache;
  readonly transport = new FakeTransport();
  readonly observer = new RecordingObserver();
  /** The server's pool of SotW subscriptions, to see when a request makes the stream rebuild its subscription. */
  readonly subscriptions: SubscriptionPool;
  protected readonly context: StreamContext;
  private read = 0;
  private nonce = 0;
  private identified = false;

  constructor(options: FakeStreamOptions = {}) {
    const { sameServerAs, ...contextOptions } = options;
    const server = sameServerAs?.context;
    this.cache = sameServerAs?.cache ?? new ResourceCache();
    this.subscriptions = sameServerAs?.subscriptions ?? new SubscriptionPool();
    this.context = {
      cache: this.cache,
      fullSets: server?.fullSets ?? new SharedFullSets(this.cache),
      sharedResponses: server?.sharedResponses ?? new SharedResponses(),
      subscriptions: this.subscriptions,
      observer: this.observer,
      ready: Promise.resolve(),
      budget: server?.budget ?? new SendBudget(0),
      nextNonce: server?.nextNonce ?? (() => `n${++this.nonce}`),
      ...contextOptions,
    };
  }

  /** The stream itself, for what the server calls on it (snapshot, accessChanged, regroup, end, close). */
  abstract readonly stream: SotwStream | DeltaStream;
  protected abstract readonly requestType: string;
  protected abstract encodeFields(fields: Request): Record<string, unknown>;
  protected abstract decode(raw: Buffer): Response;

  /** Changes the cache; the stream hears of it as the server would tell it. */
  apply(changes: GroupChange[]): void {
    this.cache.apply(changes);
  }

  /** Sends a request (the first carries `node`, unless it is null) and lets the stream handle it. */
  async request(fields: Request, node: Record<string, unknown> | null = testNode({ id: 'node-1' })): Promise<void> {
    const message = this.encodeFields(fields);
    if (!this.identified && node !== null) message.node = node;
    this.identified = true;
    await this.receive(Buffer.from(encodeMessage(this.requestType, message)));
  }

  /** Lets what the stream queued (requests waiting for the gate or the budget) run. */
  settle(): Promise<void> {
    return settle();
  }

  /** Hands the stream raw bytes as they came off the wire. */
  async receive(bytes: Buffer): Promise<void> {
    this.stream.receive(bytes);
    await settle();
  }

  /** Responses written since the last call. */
  responses(): Response[] {
    const fresh = this.transport.written.slice(this.read).map((raw) => this.decode(raw));
    this.read = this.transport.written.length;
    return fresh;
  }

  /** The single response written since the last call; fails if there were none or several. */
  response(): Response {
    const fresh = this.responses();
    if (fresh.length !== 1) throw new Error(`expected one response, got ${fresh.length}`);
    return fresh[0];
  }

  /** The stream's own view of a type, as /debug/proxies shows it. */
  typeSnapshot(typeUrl: string) {
    return this.stream.snapshot().types.find((t) => t.typeUrl === typeUrl);
  }
}

export class FakeSotwStream extends FakeStream<SotwRequestFields, DecodedSotwResponse> {
  readonly stream: SotwStream;
  protected readonly requestType = 'envoy.service.discovery.v3.DiscoveryRequest';

  constructor(options: FakeStreamOptions = {}) {
    super(options);
    this.stream = new SotwStream(1, this.context, this.transport);
    this.cache.onChange((changes) => this.stream.onCacheChange(changes));
  }

  protected encodeFields(fields: SotwRequestFields): Record<string, unknown> {
    return {
      typeUrl: fields.typeUrl,
      resourceNames: fields.resourceNames ?? [],
      versionInfo: fields.versionInfo ?? '',
      responseNonce: fields.responseNonce ?? '',
      ...(fields.errorDetail ? { errorDetail: fields.errorDetail } : {}),
    };
  }

  protected decode(raw: Buffer): DecodedSotwResponse {
    return decodeSotwResponse(raw);
  }

  ack(response: DecodedSotwResponse, resourceNames: string[]): Promise<void> {
    return this.request({ typeUrl: response.typeUrl, versionInfo: response.versionInfo, responseNonce: response.nonce, resourceNames });
  }

  nack(response: DecodedSotwResponse, resourceNames: string[], acceptedVersion: string): Promise<void> {
    return this.request({
      typeUrl: response.typeUrl,
      versionInfo: acceptedVersion,
      responseNonce: response.nonce,
      resourceNames,
      errorDetail: { code: GrpcStatus.INVALID_ARGUMENT, message: 'rejected by the test' },
    });
  }
}

export class FakeDeltaStream extends FakeStream<DeltaRequestFields, DecodedDeltaResponse> {
  readonly stream: DeltaStream;
  protected readonly requestType = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';

  constructor(options: FakeStreamOptions = {}) {
    super(options);
    this.stream = new DeltaStream(1, this.context, this.transport);
    this.cache.onChange((changes) => this.stream.onCacheChange(changes));
  }

  protected encodeFields(fields: DeltaRequestFields): Record<string, unknown> {
    return {
      typeUrl: fields.typeUrl,
      resourceNamesSubscribe: fields.subscribe ?? [],
      resourceNamesUnsubscribe: fields.unsubscribe ?? [],
      initialResourceVersions: fields.initialResourceVersions ?? {},
      responseNonce: fields.responseNonce ?? '',
      ...(fields.errorDetail ? { errorDetail: fields.errorDetail } : {}),
    };
  }

  protected decode(raw: Buffer): DecodedDeltaResponse {
    return decodeDeltaResponse(raw);
  }

  ack(response: DecodedDeltaResponse): Promise<void> {
    return this.request({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }

  nack(response: DecodedDeltaResponse): Promise<void> {
    return this.request({
      typeUrl: response.typeUrl,
      responseNonce: response.nonce,
      errorDetail: { code: GrpcStatus.INVALID_ARGUMENT, message: 'rejected by the test' },
    });
  }
}
