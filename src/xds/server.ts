// The gRPC side of the xDS server: the ADS service (both flavours) and the per-type services,
// defined by hand so responses go out as the bytes the streams assembled (no re-encoding).
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { ChangeSet, ResourceCache } from '../cache/types.js';
import { log } from '../log.js';
import { TypeUrl } from '../protos.js';
import { DeltaStream } from './delta-stream.js';
import type { StreamFlavour, StreamObserver, StreamSnapshot, XdsServerEvents } from './events.js';
import { SharedFullSets } from './shared-sets.js';
import { SotwStream } from './sotw-stream.js';
import type { StreamContext, StreamTransport } from './stream-base.js';

export interface XdsServerOptions {
  cache: ResourceCache;
  /** Streams get no answer until this resolves (or `setReady()` is called), so early clients
   * wait instead of receiving an empty world. */
  ready?: Promise<void>;
  /** Sent as `control_plane.identifier` in every response. */
  controlPlaneId?: string;
  /** How long `shutdown()` lets streams and connections drain before cutting them (default 5000). */
  shutdownGraceMs?: number;
}

type AnyStream = SotwStream | DeltaStream;

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
  { service: 'envoy.service.discovery.v3.AggregatedDiscoveryService', sotwMethod: 'StreamAggregatedResources', deltaMethod: 'DeltaAggregatedResources' },
  { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', sotwMethod: 'StreamClusters', deltaMethod: 'DeltaClusters', typeUrl: TypeUrl.Cluster },
  { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', sotwMethod: 'StreamEndpoints', deltaMethod: 'DeltaEndpoints', typeUrl: TypeUrl.ClusterLoadAssignment },
  { service: 'envoy.service.listener.v3.ListenerDiscoveryService', sotwMethod: 'StreamListeners', deltaMethod: 'DeltaListeners', typeUrl: TypeUrl.Listener },
  { service: 'envoy.service.route.v3.RouteDiscoveryService', sotwMethod: 'StreamRoutes', deltaMethod: 'DeltaRoutes', typeUrl: TypeUrl.RouteConfiguration },
  { service: 'envoy.service.secret.v3.SecretDiscoveryService', sotwMethod: 'StreamSecrets', deltaMethod: 'DeltaSecrets', typeUrl: TypeUrl.Secret },
];

export class XdsServer extends EventEmitter<XdsServerEvents> {
  private readonly grpcServer = new grpc.Server();
  private readonly cache: ResourceCache;
  private readonly fullSets: SharedFullSets;
  private readonly streamsById = new Map<number, AnyStream>();
  private readonly ready: Promise<void>;
  private markReady: () => void = () => {};
  private readonly unsubscribeCache: () => void;
  private readonly controlPlaneId: string | undefined;
  private readonly shutdownGraceMs: number;
  private nextStreamId = 1;
  private nonceCounter = 0;
  private shuttingDown = false;

  constructor(options: XdsServerOptions) {
    super();
    this.cache = options.cache;
    this.fullSets = new SharedFullSets(options.cache);
    this.controlPlaneId = options.controlPlaneId;
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
      this.grpcServer.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, boundPort) => {
        if (err) reject(new Error(`xDS server cannot listen on ${address}: ${err.message}`));
        else {
          log.info('xDS server listening', { address: host, port: boundPort });
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
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        log.warn('xDS server shutdown grace period over; closing connections', { graceMs: this.shutdownGraceMs });
        this.grpcServer.forceShutdown();
      }, this.shutdownGraceMs);
      timer.unref();
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
    this.grpcServer.forceShutdown();
  }

  /** A snapshot of every open stream. */
  streams(): StreamSnapshot[] {
    return [...this.streamsById.values()].map((stream) => stream.snapshot());
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
    const streamId = this.nextStreamId++;
    const transport = callTransport(call);
    const context: StreamContext = {
      cache: this.cache,
      fullSets: this.fullSets,
      observer: this.observer,
      ready: this.ready,
      nextNonce: () => (++this.nonceCounter).toString(36),
      controlPlaneId: this.controlPlaneId,
      fixedTypeUrl,
    };
    const stream = flavour === 'sotw' ? new SotwStream(streamId, context, transport) : new DeltaStream(streamId, context, transport);
    this.streamsById.set(streamId, stream);

    let finished = false;
    const finish = (reason: string): void => {
      if (finished) return;
      finished = true;
      this.streamsById.delete(streamId);
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
    for (const stream of this.streamsById.values()) stream.onCacheChange(changes);
  }

  private readonly observer: StreamObserver = {
    streamOpened: (event) => {
      log.info('xDS stream opened', { ...event });
      this.emit('streamOpened', event);
    },
    responseSent: (event) => this.emit('responseSent', event),
    ack: (event) => this.emit('ack', event),
    nack: (event) => this.emit('nack', event),
  };
}

function callTransport(call: grpc.ServerDuplexStream<Buffer, Buffer>): StreamTransport {
  return {
    peer: call.getPeer(),
    write: (bytes) => {
      call.write(bytes);
    },
    end: () => {
      call.end();
    },
    fail: (code, message) => {
      call.emit('error', { code, details: message });
    },
  };
}
