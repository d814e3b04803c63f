// The gRPC side of the xDS server: the ADS service (both flavours) and the per-type services,
// defined by hand so responses go out as the bytes the streams assembled (no re-encoding).
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { ChangeSet, ProxyGroup, ResourceCache } from '../cache/types.js';
import type { NodeInfo } from './node-group.js';
import { log } from '../log.js';
import { markPush } from '../push-trace.js';
import { TypeUrl } from '../envoy/protos.js';
import { nodeIdentityRefusal, peerIdentityFromSubjectAltName, type IdentityRule, type PeerIdentity } from '../security/identity.js';
import { GatewaySecretPolicy, type GatewaySecretAccess, type SecretAccessReview } from '../security/gateway-secrets.js';
import { isLoopbackHost, reloadingServerCredentials, type TlsFiles, type XdsServerTls } from '../security/tls.js';
import { DeltaStream } from './delta-stream.js';
import { installFramedWrites } from './framed.js';
import { deepenListenBacklog } from './listen-backlog.js';
import { widenReceiveWindows } from './receive-window.js';
import { installReleasingDecoder } from './releasing-decoder.js';
import type { RefusalReason, RefusedEvent, StreamFlavour, StreamObserver, StreamSnapshot, XdsServerEvents } from './events.js';
import { SendBudget, type SendTicket } from './send-budget.js';
import { SharedFullSets } from './shared-sets.js';
import { SharedResponses } from './shared-responses.js';
import { PushQueue } from './push-queue.js';
import { SotwStream } from './sotw-stream.js';
import { SubscriptionPool } from './subscription-pool.js';
import type { StreamContext, StreamGuard, StreamTransport } from './stream-base.js';

export interface XdsServerOptions {
  cache: ResourceCache;
  /** Streams get no answer until this resolves (or `setReady()` is called), so early clients
   * wait instead of receiving an empty world. */
  ready?: Promise<void>;
  /** Sent as `control_plane.identifier` in every response. */
  controlPlaneId?: string;
  /** How long `shutdown()` lets streams and connections drain before cutting them (default 5000). */
  shutdownGraceMs?: number;
  /** TLS on the xDS port; with `clientCaFile`, mutual TLS. The files are read again when they change. */
  tls?: TlsFiles;
  /** How a client certificate must match the node it claims (needs `tls.clientCaFile` unless `none`).
   * Default: `spiffe` under mutual TLS (a certificate for one node can never ask as another), `none`
   * without; `none` under mutual TLS is an explicit opt-out. */
  identityRule?: IdentityRule;
  /** With `identityRule: 'spiffe'`: the only trust domain accepted. */
  trustDomain?: string;
  /** Gateway name -> client identities (SPIFFE IDs or DNS names; `*` for any client) that may
   * receive its Secrets. A gateway listed here is decided by this map alone. */
  gatewaySecretAccess?: GatewaySecretAccess;
  /** Asks Kubernetes whether a client's service account may read a Secret (gateways not in the
   * map). With neither, no client receives any gateway Secret. */
  secretAccessReview?: SecretAccessReview;
  /** How long a SubjectAccessReview answer is used (default 60000 ms allowed, 10000 ms denied or failed). */
  secretAccessCacheMs?: { allowed?: number; denied?: number };
  limits?: XdsLimits;
  /**
   * Narrows a node's group when it connects, e.g. a sidecar to the group of its workload's shape
   * (the caller knows the model; the server does not). The group stays the stream's until it
   * reconnects.
   */
  refineGroup?: (group: ProxyGroup, node: NodeInfo) => ProxyGroup;
}

export interface XdsLimits {
  /** Open streams in all (default unlimited). */
  maxStreams?: number;
  /** Open streams from one client IP address (default unlimited). */
  maxStreamsPerClient?: number;
  /** Named resources one stream may subscribe to over all types; a type with no names counts one (default unlimited). */
  maxSubscriptionsPerStream?: number;
  /** Largest request message accepted, in bytes (grpc.max_receive_message_length; default 4 MiB).
   * grpc-js itself ends a call whose message is larger, with RESOURCE_EXHAUSTED
   * "Received message larger than max (<size> vs <cap>)", before the server sees it. */
  maxRequestBytes?: number;
  /** Bytes written to one stream and not yet taken by its connection before pushes wait and
   * coalesce (default 4 MiB; the stream also waits whenever grpc-js says its buffer is full). */
  maxQueuedBytesPerStream?: number;
  /** Bytes written to all streams together and not yet taken by their connections before
   * requests wait their turn and pushes are held (default 64 MiB; 0: no bound). It bounds the
   * memory a crowd of proxies connecting at once costs. */
  maxQueuedBytes?: number;
  /** Server pings an idle connection this often (grpc.keepalive_time_ms; default 120000). Each
   * ping wakes the server for one connection: 2,000 proxies pinged every 30 s cost ~2% of a core
   * at rest, every 2 min ~0.4%. Two minutes stays inside the idle timeouts of common cloud load
   * balancers (4–6 min), and our injected sidecars ping the server every 30 s themselves. */
  keepaliveTimeMs?: number;
  /** A ping unanswered for this long closes the connection and frees its streams (grpc.keepalive_timeout_ms; default 10000). */
  keepaliveTimeoutMs?: number;
}

const DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_TOTAL_QUEUED_BYTES = 64 * 1024 * 1024;
const DEFAULT_KEEPALIVE_TIME_MS = 120_000;

type AnyStream = SotwStream | DeltaStream;

/** The grpc-js server options the limits set, each with its default. (grpc-js has no limit on a
 * client's pings: Node's HTTP/2 answers every one, so there is no minimum ping interval to set.) */
export function grpcServerOptions(limits: XdsLimits): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': limits.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    'grpc.keepalive_time_ms': limits.keepaliveTimeMs ?? DEFAULT_KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs ?? 10_000,
    'grpc.keepalive_permit_without_calls': 1,
  };
}

const identity = (bytes: Buffer): Buffer => bytes;

function bidi(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: true,
    responseStream: true,
    // Requests are decoded by the stream, so a request that does not decode ends only that stream
    // with a status that says why.
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

interface ServiceSpec {
  service: string;
  sotwMethod: string;
  deltaMethod: string;
  typeUrl?: TypeUrl;
}

const SERVICES: readonly ServiceSpec[] = [
  {
    service: 'envoy.service.discovery.v3.AggregatedDiscoveryService',
    sotwMethod: 'StreamAggregatedResources',
    deltaMethod: 'DeltaAggregatedResources',
  },
  {
    service: 'envoy.service.cluster.v3.ClusterDiscoveryService',
    sotwMethod: 'StreamClusters',
    deltaMethod: 'DeltaClusters',
    typeUrl: TypeUrl.Cluster,
  },
  {
    service: 'envoy.service.endpoint.v3.EndpointDiscoveryService',
    sotwMethod: 'StreamEndpoints',
    deltaMethod: 'DeltaEndpoints',
    typeUrl: TypeUrl.ClusterLoadAssignment,
  },
  {
    service: 'envoy.service.listener.v3.ListenerDiscoveryService',
    sotwMethod: 'StreamListeners',
    deltaMethod: 'DeltaListeners',
    typeUrl: TypeUrl.Listener,
  },
  {
    service: 'envoy.service.route.v3.RouteDiscoveryService',
    sotwMethod: 'StreamRoutes',
    deltaMethod: 'DeltaRoutes',
    typeUrl: TypeUrl.RouteConfiguration,
  },
  {
    service: 'envoy.service.secret.v3.SecretDiscoveryService',
    sotwMethod: 'StreamSecrets',
    deltaMethod: 'DeltaSecrets',
    typeUrl: TypeUrl.Secret,
  },
];

export class XdsServer extends EventEmitter<XdsServerEvents> {
  private readonly grpcServer: grpc.Server;
  private readonly cache: ResourceCache;
  private readonly fullSets: SharedFullSets;
  private readonly sharedResponses = new SharedResponses();
  private readonly subscriptions = new SubscriptionPool();
  private readonly streamsById = new Map<number, AnyStream>();
  /** Cache changes on their way to the streams, a slice at a time. */
  private readonly pushes = new PushQueue<AnyStream>();
  private readonly ready: Promise<void>;
  private markReady: () => void = () => {};
  private readonly unsubscribeCache: () => void;
  private readonly controlPlaneId: string | undefined;
  private readonly refineGroup: XdsServerOptions['refineGroup'];
  private readonly shutdownGraceMs: number;
  private nextStreamId = 1;
  private nonceCounter = 0;
  private shuttingDown = false;
  private readonly options: XdsServerOptions;
  private readonly limits: XdsLimits;
  private readonly streamsPerClient = new Map<string, number>();
  private tls: XdsServerTls | undefined;
  private readonly budget: SendBudget;
  private readonly secretPolicy: GatewaySecretPolicy;

  constructor(options: XdsServerOptions) {
    super();
    const rule = options.identityRule ?? defaultIdentityRule(options.tls);
    if (rule !== 'none' && !options.tls?.clientCaFile) {
      throw new Error(`identity rule "${rule}" needs mutual TLS: set the TLS certificate, key and client CA`);
    }
    const namedIdentities = Object.values(options.gatewaySecretAccess ?? {}).some((allowed) => allowed.some((name) => name !== '*'));
    if (namedIdentities && !options.tls?.clientCaFile) {
      throw new Error(
        'gateway Secret access rules that name identities need mutual TLS: set the TLS certificate, key and client CA (or allow "*")',
      );
    }
    this.secretPolicy = new GatewaySecretPolicy({
      access: options.gatewaySecretAccess,
      review: options.secretAccessReview,
      trustDomain: options.trustDomain,
      allowedTtlMs: options.secretAccessCacheMs?.allowed,
      deniedTtlMs: options.secretAccessCacheMs?.denied,
    });
    this.secretPolicy.onSettled(() => {
      for (const stream of this.streamsById.values()) stream.accessChanged();
    });
    this.options = { ...options, identityRule: rule };
    this.limits = options.limits ?? {};
    this.grpcServer = new grpc.Server(grpcServerOptions(this.limits));
    if (!deepenListenBacklog(this.grpcServer))
      log.warn("grpc-js has changed: the xDS port listens with Node's default backlog of 511, which a reconnecting fleet overflows");
    if (!widenReceiveWindows(this.grpcServer))
      log.warn("grpc-js has changed: the xDS port keeps HTTP/2's 64 KiB windows, and owes a SotW proxy a window update per ACK");
    if (!installFramedWrites()) log.warn('grpc-js has changed: every response is copied once more on its way out');
    if (!installReleasingDecoder())
      log.warn("grpc-js has changed: each stream keeps its last request's read buffers until its next request");
    this.budget = new SendBudget(this.limits.maxQueuedBytes ?? DEFAULT_MAX_TOTAL_QUEUED_BYTES);
    this.cache = options.cache;
    this.fullSets = new SharedFullSets(options.cache);
    this.controlPlaneId = options.controlPlaneId;
    this.refineGroup = options.refineGroup;
    this.shutdownGraceMs = options.shutdownGraceMs ?? 5000;
    const gate = new Promise<void>((resolve) => {
      this.markReady = resolve;
    });
    // Either opens the gate: the promise resolving, or a call to setReady().
    this.ready = options.ready ? Promise.race([options.ready, gate]) : gate;
    // A rejected start-up promise is reported to each stream when it is used, not as an unhandled rejection.
    this.ready.catch(() => undefined);
    this.unsubscribeCache = this.cache.onChange((changes) => this.dispatch(changes));
    for (const spec of SERVICES) this.addService(spec);
  }

  /** Opens the start-up gate: streams waiting for their first answer get it now. */
  setReady(): void {
    this.markReady();
  }

  /** Listens on host:port (port 0 picks a free one) and resolves with the bound port. */
  start(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      let credentials: grpc.ServerCredentials;
      try {
        credentials = this.credentials();
      } catch (err) {
        reject(err);
        return;
      }
      const mode = this.tls ? (this.tls.mutual ? 'mutual TLS' : 'TLS') : 'plain text';
      if (!this.tls && !isLoopbackHost(host)) {
        log.warn(
          'xDS server listens in PLAIN TEXT on a non-loopback address: anyone who reaches it can read every proxy config and Secret and claim any node; set a TLS certificate, key and client CA',
          {
            address: host,
            port,
          },
        );
      }
      this.grpcServer.bindAsync(address, credentials, (err, boundPort) => {
        if (err) reject(new Error(`xDS server cannot listen on ${address}: ${err.message}`));
        else {
          log.info('xDS server listening', {
            address: host,
            port: boundPort,
            transport: mode,
            identityRule: this.options.identityRule ?? 'none',
          });
          resolve(boundPort);
        }
      });
    });
  }

  /** Stops accepting streams, ends the open ones once their writes are flushed, and resolves when
   * the connections are closed (cutting them after the grace period). */
  shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.unsubscribeCache();
    this.pushes.clear();
    this.budget.close();
    this.tls?.provider.close();
    return new Promise((resolve) => {
      // grpc-js calls tryShutdown back only once every client has closed its connection, and
      // not at all after forceShutdown: a client that keeps an idle connection open (gRPC clients
      // do) must not hold shutdown forever, so the grace timer resolves too.
      const timer = setTimeout(() => {
        log.warn('xDS server shutdown grace period over; closing connections', { graceMs: this.shutdownGraceMs });
        this.grpcServer.forceShutdown();
        resolve();
      }, this.shutdownGraceMs);
      this.grpcServer.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const stream of this.streamsById.values()) stream.end('shutdown');
    });
  }

  /** Closes everything at once (tests). */
  forceShutdown(): void {
    this.shuttingDown = true;
    this.unsubscribeCache();
    this.pushes.clear();
    this.budget.close();
    this.tls?.provider.close();
    this.grpcServer.forceShutdown();
  }

  /**
   * Ends the streams whose group `stale` says is no longer their node's (with `refineGroup`, a
   * sidecar whose pod appeared or changed shape); their clients reconnect into the right group.
   * Returns how many were ended.
   */
  regroup(stale: (group: ProxyGroup, baseGroup: ProxyGroup, node: NodeInfo) => boolean): number {
    let ended = 0;
    for (const stream of this.streamsById.values()) if (stream.regroup(stale)) ended++;
    return ended;
  }

  /** Who is connected — each stream's id, node, group and client — without its per-type state
   * (a snapshot sorts every subscribed name): cheap enough for status writers to call often. */
  streamIdentities(): Array<Pick<StreamSnapshot, 'streamId' | 'nodeId' | 'group' | 'client' | 'flavour'>> {
    return [...this.streamsById.values()].map((s) => ({
      streamId: s.streamId,
      nodeId: s.nodeId,
      group: s.group,
      flavour: s.flavour,
      ...(s.client ? { client: s.client } : {}),
    }));
  }

  /** A snapshot of every open stream. */
  streams(): StreamSnapshot[] {
    return [...this.streamsById.values()].map((stream) => stream.snapshot());
  }

  /** Response bytes queued over all streams, and requests waiting for room. */
  sendQueue(): { bytes: number; waiting: number } {
    return { bytes: this.budget.inFlight, waiting: this.budget.waiting };
  }

  /** Reads the TLS files now if they changed, instead of at the next periodic check (tests, SIGHUP). */
  reloadCertificates(): boolean {
    return this.tls?.provider.check() ?? false;
  }

  private credentials(): grpc.ServerCredentials {
    if (!this.options.tls) return grpc.ServerCredentials.createInsecure();
    // One set of credentials (and one file watcher) however often start() binds.
    this.tls ??= reloadingServerCredentials(this.options.tls);
    return this.tls.credentials;
  }

  private guardFor(call: grpc.ServerDuplexStream<Buffer, Buffer>): StreamGuard {
    const rule = this.options.identityRule ?? 'none';
    const peer = peerIdentityOf(call);
    const policy = { rule, trustDomain: this.options.trustDomain };
    return {
      nodeRefusal: (node) => nodeIdentityRefusal(policy, peer, node),
      guardsType: (typeUrl) => typeUrl === TypeUrl.Secret,
      resourceRefusal: (group, typeUrl, name) => {
        // Sidecars and proxyless clients get no Secrets from the cache; a gateway's are its TLS keys.
        if (typeUrl !== TypeUrl.Secret || !group.startsWith('gateway/')) return undefined;
        const decision = this.secretPolicy.decide(group.slice('gateway/'.length), peer, name);
        return decision.allowed ? undefined : decision;
      },
    };
  }

  /** A refusal before any stream exists (stream caps): the status, a log line and the event. */
  private refuseCall(call: grpc.ServerDuplexStream<Buffer, Buffer>, code: grpc.status, reason: RefusalReason, message: string): void {
    const event: RefusedEvent = { reason, code: grpc.status[code], peer: call.getPeer(), nodeId: '', message };
    log.warn('xDS stream refused', { ...event });
    this.emit('refused', event);
    call.on('error', () => undefined);
    call.emit('error', { code, details: message });
  }

  /** The stream caps; true when the call may open a stream. */
  private admit(call: grpc.ServerDuplexStream<Buffer, Buffer>, clientHost: string): boolean {
    const { maxStreams, maxStreamsPerClient } = this.limits;
    if (maxStreams !== undefined && this.streamsById.size >= maxStreams) {
      this.refuseCall(
        call,
        grpc.status.RESOURCE_EXHAUSTED,
        'total-streams',
        `the control plane has ${this.streamsById.size} streams open, its cap (max streams) is ${maxStreams}; retry later or use another replica`,
      );
      return false;
    }
    const fromClient = this.streamsPerClient.get(clientHost) ?? 0;
    if (maxStreamsPerClient !== undefined && fromClient >= maxStreamsPerClient) {
      this.refuseCall(
        call,
        grpc.status.RESOURCE_EXHAUSTED,
        'streams-per-client',
        `client ${clientHost} has ${fromClient} streams open, the cap (max streams per client address) is ${maxStreamsPerClient}`,
      );
      return false;
    }
    return true;
  }

  private addService(spec: ServiceSpec): void {
    const sotwPath = `/${spec.service}/${spec.sotwMethod}`;
    const deltaPath = `/${spec.service}/${spec.deltaMethod}`;
    const definition: grpc.ServiceDefinition = {
      [spec.sotwMethod]: bidi(sotwPath),
      [spec.deltaMethod]: bidi(deltaPath),
    };
    this.grpcServer.addService(definition, {
      [spec.sotwMethod]: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.open(call, 'sotw', spec.typeUrl),
      [spec.deltaMethod]: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.open(call, 'delta', spec.typeUrl),
    });
  }

  private open(call: grpc.ServerDuplexStream<Buffer, Buffer>, flavour: StreamFlavour, fixedTypeUrl: TypeUrl | undefined): void {
    if (this.shuttingDown) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane is shutting down' });
      return;
    }
    const clientHost = hostOfPeer(call.getPeer());
    if (!this.admit(call, clientHost)) return;
    const streamId = this.nextStreamId++;
    const transport = new CallTransport(call, this.limits.maxQueuedBytesPerStream ?? DEFAULT_MAX_QUEUED_BYTES, this.budget);
    const context: StreamContext = {
      cache: this.cache,
      fullSets: this.fullSets,
      sharedResponses: this.sharedResponses,
      subscriptions: this.subscriptions,
      observer: this.observer,
      ready: this.ready,
      budget: this.budget,
      nextNonce: () => (++this.nonceCounter).toString(36),
      controlPlaneId: this.controlPlaneId,
      fixedTypeUrl,
      guard: this.guardFor(call),
      maxSubscriptions: this.limits.maxSubscriptionsPerStream,
      ...(this.refineGroup ? { refineGroup: this.refineGroup } : {}),
    };
    const stream = flavour === 'sotw' ? new SotwStream(streamId, context, transport) : new DeltaStream(streamId, context, transport);
    this.streamsById.set(streamId, stream);
    this.streamsPerClient.set(clientHost, (this.streamsPerClient.get(clientHost) ?? 0) + 1);

    let finished = false;
    const finish = (reason: string): void => {
      if (finished) return;
      finished = true;
      this.streamsById.delete(streamId);
      const left = (this.streamsPerClient.get(clientHost) ?? 1) - 1;
      if (left > 0) this.streamsPerClient.set(clientHost, left);
      else this.streamsPerClient.delete(clientHost);
      const closed = stream.close(reason);
      if (closed) {
        log.info('xDS stream closed', { ...closed });
        this.emit('streamClosed', closed);
      }
    };
    call.on('data', (bytes: Buffer) => stream.receive(bytes));
    // The client half-closed: it will send nothing more, so the stream is over.
    call.on('end', () => {
      if (!stream.isClosed) stream.end('client');
      finish('client');
    });
    call.on('cancelled', () => finish('client'));
    call.on('error', (err: Error) => finish(err.message));
    call.on('close', () => finish('client'));
    call.on('finish', () => finish('ended'));
  }

  private dispatch(changes: ChangeSet): void {
    markPush('cached');
    for (const [group, byType] of changes) {
      const secrets = group.startsWith('gateway/') ? byType.get(TypeUrl.Secret) : undefined;
      for (const name of secrets?.changed ?? []) this.secretPolicy.forgetSecret(name);
    }
    this.pushes.add(changes, this.streamsById.values());
  }

  private readonly observer: StreamObserver = {
    streamOpened: (event) => {
      log.info('xDS stream opened', { ...event });
      this.emit('streamOpened', event);
    },
    responseSent: (event) => this.emit('responseSent', event),
    ack: (event) => this.emit('ack', event),
    nack: (event) => this.emit('nack', event),
    refused: (event) => this.emit('refused', event),
    withheld: (event) => this.emit('withheld', event),
  };
}

/** The identity rule when none is given: with a client CA every client has a verified certificate,
 * so the node it claims must be the one its SPIFFE ID names. */
export function defaultIdentityRule(tls: TlsFiles | undefined): IdentityRule {
  return tls?.clientCaFile ? 'spiffe' : 'none';
}

/** `127.0.0.1:5000` -> `127.0.0.1`; `[::1]:5000` -> `::1`. */
function hostOfPeer(peer: string): string {
  const bracketed = /^\[([^\]]*)\]:\d+$/.exec(peer);
  if (bracketed) return bracketed[1];
  const colon = peer.lastIndexOf(':');
  return colon > 0 && peer.indexOf(':') === colon ? peer.slice(0, colon) : peer;
}

function peerIdentityOf(call: grpc.ServerDuplexStream<Buffer, Buffer>): PeerIdentity | undefined {
  // grpc-js reports a peer certificate only when it was verified against the client CA.
  const certificate = call.getAuthContext()?.sslPeerCertificate;
  if (!certificate) return undefined;
  return peerIdentityFromSubjectAltName(certificate.subjectaltname);
}

/**
 * Adapts a grpc-js call to a stream transport that knows when the client stops taking data:
 * each write is counted until grpc-js hands it to the connection. Once grpc-js says its buffer is
 * full, or `maxQueuedBytes` are waiting, the transport is blocked: it stops reading requests (HTTP/2
 * flow control then holds the client back too) and the stream holds its pushes until every
 * queued response is gone. Every write also counts against the server's shared budget until it
 * is flushed, or until the call ends (grpc-js does not call back writes of a cancelled call).
 * A class rather than a literal with a getter per call: every push reads `blocked` on every
 * stream, and one getter on the prototype is what V8 can inline.
 */
class CallTransport implements StreamTransport {
  readonly peer: string;
  private isBlocked = false;
  private queuedResponses = 0;
  private queuedBytes = 0;
  private readonly drainListeners: Array<() => void> = [];
  /** Written and not yet flushed, in write order (grpc-js calls back writes in order). An array,
   * not a Set: V8 reallocates a long-lived Set's table in the old generation when its last entry
   * goes, which here was once per stream per push. */
  private readonly unflushed: SendTicket[] = [];

  constructor(
    private readonly call: grpc.ServerDuplexStream<Buffer, Buffer>,
    private readonly maxQueuedBytes: number,
    private readonly budget: SendBudget,
  ) {
    this.peer = call.getPeer();
    const releaseAll = (): void => {
      for (const ticket of this.unflushed) budget.flushed(ticket);
      this.unflushed.length = 0;
    };
    call.on('close', releaseAll);
    call.on('error', releaseAll);
    call.on('cancelled', releaseAll);
  }

  get blocked(): boolean {
    return this.isBlocked;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  queued(): { responses: number; bytes: number } {
    return { responses: this.queuedResponses, bytes: this.queuedBytes };
  }

  write(bytes: Buffer): void {
    // The callback keeps only the length: holding `bytes` until the flush would keep a response
    // that grpc-js had to copy (one not assembled framed) alive twice, long enough to reach the
    // old generation, which only a full GC frees.
    const length = bytes.length;
    this.queuedResponses++;
    this.queuedBytes += length;
    const ticket = this.budget.written(length);
    this.unflushed.push(ticket);
    const accepted = this.call.write(bytes, () => this.flushed(ticket, length));
    if ((!accepted || this.queuedBytes >= this.maxQueuedBytes) && !this.isBlocked) {
      this.isBlocked = true;
      this.call.pause();
    }
  }

  end(): void {
    this.call.end();
  }

  fail(code: grpc.status, message: string): void {
    this.call.emit('error', { code, details: wellFormed(message) });
  }

  private flushed(ticket: SendTicket, length: number): void {
    // Usually the first; not there once the call has ended and released it.
    const i = this.unflushed.indexOf(ticket);
    if (i >= 0) {
      this.unflushed.splice(i, 1);
      this.budget.flushed(ticket);
    }
    this.queuedResponses--;
    this.queuedBytes -= length;
    if (!this.isBlocked || this.queuedResponses > 0) return;
    this.isBlocked = false;
    this.call.resume();
    for (const listener of this.drainListeners) listener();
  }
}

/**
 * The message with lone UTF-16 surrogates replaced: a status message often quotes the client's own
 * bytes (a node's metadata), and grpc-js percent-encodes it with encodeURI, which throws on a lone
 * surrogate — the status is then never sent and the stream stays open.
 */
function wellFormed(message: string): string {
  return message.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
