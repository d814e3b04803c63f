// The CPU floor: a bare @grpc/grpc-js ADS server with no control-plane logic. It serves
// pre-encoded resources (the bytes recorded from the server under test, or the bench's own
// synthetic ones) and, on command, writes one changed resource to every stream that holds
// it — encoding each response once and writing the same buffer to every stream. Its CPU per
// change is the least any ADS server on @grpc/grpc-js can spend on the same fan-out.
import * as grpc from '@grpc/grpc-js';
import { pathToFileURL } from 'node:url';
import {
  CLUSTER_TYPE,
  DELTA_METHOD,
  LISTENER_TYPE,
  SOTW_METHOD,
  encodeAny,
  encodeDeltaResource,
  encodeDeltaResponse,
  encodeSotwResponse,
  parseDeltaRequest,
  parseSotwRequest,
} from './loadgen/xds-messages.js';
import { envoyRoot } from '../src/envoy/protos.js';
import { Mesh, type MeshOptions } from './mesh.js';
import { buildSnapshot, type ResourceSnapshot } from './resources.js';

interface ServedResource {
  version: string;
  any: Buffer;
  deltaResource: Buffer;
}

interface SotwSubscription {
  wildcard: boolean;
  names: string[];
  nameSet: Set<string>;
  key: string;
}

interface SotwStream {
  call: grpc.ServerDuplexStream<Buffer, Buffer>;
  subscriptions: Map<string, SotwSubscription>;
}

interface DeltaStream {
  call: grpc.ServerDuplexStream<Buffer, Buffer>;
  subscriptions: Map<string, { wildcard: boolean; names: Set<string> }>;
}

/** Resources as the floor takes them: type URL -> [name, message bytes, version]. */
export type FloorResources = Array<[string, Array<[string, Uint8Array, string]>]>;

export function snapshotToFloorResources(snapshot: ResourceSnapshot): FloorResources {
  return [...snapshot].map(([typeUrl, byName]) => [typeUrl, [...byName].map(([name, r]) => [name, r.bytes, r.version])]);
}

/** Keeps `stream` in `open` until its call ends, errs or is cancelled (ending our side too). */
function trackWhileOpen<T>(call: grpc.ServerDuplexStream<Buffer, Buffer>, open: Set<T>, stream: T): void {
  open.add(stream);
  const forget = (): void => void open.delete(stream);
  call.on('end', () => {
    forget();
    call.end();
  });
  call.on('error', forget);
  call.on('cancelled', forget);
}

const identity = (buf: Buffer): Buffer => buf;
/** A bidi method that passes messages through as raw bytes. */
export const bytesMethod = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: true,
  responseStream: true,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

const isWildcardType = (typeUrl: string): boolean => typeUrl === CLUSTER_TYPE || typeUrl === LISTENER_TYPE;

export class FloorServer {
  private readonly resources = new Map<string, Map<string, ServedResource>>();
  private readonly generations = new Map<string, number>();
  private readonly sotwStreams = new Set<SotwStream>();
  private readonly deltaStreams = new Set<DeltaStream>();
  /** SotW responses by type, generation and subscription: built once, written to every stream alike. */
  private sotwResponses = new Map<string, Buffer>();
  private server: grpc.Server | undefined;
  nacks = 0;

  /** Replaces everything served (does not push: load before clients connect). */
  load(resources: FloorResources): void {
    this.resources.clear();
    this.sotwResponses.clear();
    for (const [typeUrl, entries] of resources) {
      const byName = new Map<string, ServedResource>();
      for (const [name, bytes, version] of entries) byName.set(name, this.served(typeUrl, name, bytes, version));
      this.resources.set(typeUrl, byName);
      this.generations.set(typeUrl, (this.generations.get(typeUrl) ?? 0) + 1);
    }
  }

  get streamCount(): number {
    return this.sotwStreams.size + this.deltaStreams.size;
  }

  async start(host = '127.0.0.1', port = 0): Promise<number> {
    const server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
    server.addService(
      { StreamAggregatedResources: bytesMethod(SOTW_METHOD), DeltaAggregatedResources: bytesMethod(DELTA_METHOD) },
      {
        StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.serveSotw(call),
        DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.serveDelta(call),
      },
    );
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
    );
    this.server = server;
    return bound;
  }

  async stop(): Promise<void> {
    for (const stream of [...this.sotwStreams, ...this.deltaStreams]) stream.call.end();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Replaces one resource and writes it to every stream that holds it. Returns the number of writes. */
  set(typeUrl: string, name: string, bytes: Uint8Array, version: string): number {
    const byName = this.resources.get(typeUrl) ?? new Map<string, ServedResource>();
    this.resources.set(typeUrl, byName);
    const resource = this.served(typeUrl, name, bytes, version);
    byName.set(name, resource);
    const generation = (this.generations.get(typeUrl) ?? 0) + 1;
    this.generations.set(typeUrl, generation);
    let writes = 0;
    const nonce = `${generation}`;
    let deltaResponse: Buffer | undefined;
    for (const stream of this.deltaStreams) {
      const subscription = stream.subscriptions.get(typeUrl);
      if (!subscription || (!subscription.wildcard && !subscription.names.has(name))) continue;
      deltaResponse ??= encodeDeltaResponse(nonce, [resource.deltaResource], typeUrl, nonce);
      stream.call.write(deltaResponse);
      writes++;
    }
    // State of the world: CDS and LDS responses carry the whole set; EDS and RDS responses
    // need carry only what changed (Envoy keeps the others), so one resource, encoded once.
    let namedResponse: Buffer | undefined;
    for (const stream of this.sotwStreams) {
      const subscription = stream.subscriptions.get(typeUrl);
      if (!subscription || (!subscription.wildcard && !subscription.nameSet.has(name))) continue;
      if (isWildcardType(typeUrl)) stream.call.write(this.sotwResponse(typeUrl, subscription));
      else stream.call.write((namedResponse ??= encodeSotwResponse(nonce, [resource.any], typeUrl, nonce)));
      writes++;
    }
    return writes;
  }

  private served(typeUrl: string, name: string, bytes: Uint8Array, version: string): ServedResource {
    const any = encodeAny(typeUrl, bytes);
    return { version, any, deltaResource: encodeDeltaResource(name, version, any) };
  }

  private sotwResponse(typeUrl: string, subscription: SotwSubscription): Buffer {
    const generation = this.generations.get(typeUrl) ?? 0;
    const cacheKey = `${typeUrl}\n${generation}\n${subscription.wildcard ? '*' : subscription.key}`;
    let response = this.sotwResponses.get(cacheKey);
    if (!response) {
      const byName = this.resources.get(typeUrl) ?? new Map<string, ServedResource>();
      const served = subscription.wildcard
        ? [...byName.values()]
        : subscription.names.map((n) => byName.get(n)).filter((r): r is ServedResource => r !== undefined);
      response = encodeSotwResponse(
        `${generation}`,
        served.map((r) => r.any),
        typeUrl,
        `${generation}`,
      );
      this.sotwResponses.set(cacheKey, response);
    }
    return response;
  }

  private serveSotw(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const stream: SotwStream = { call, subscriptions: new Map() };
    trackWhileOpen(call, this.sotwStreams, stream);
    call.on('data', (buf: Buffer) => {
      const request = parseSotwRequest(buf);
      if (request.isNack) {
        this.nacks++;
        return;
      }
      const names = [...new Set(request.resourceNames)].sort();
      const wildcard = isWildcardType(request.typeUrl) && (names.length === 0 || names.includes('*'));
      const key = names.join('\n');
      const current = stream.subscriptions.get(request.typeUrl);
      // An ACK of the same subscription needs no answer.
      if (current && current.key === key && request.nonce) return;
      const subscription: SotwSubscription = { wildcard, names, nameSet: new Set(names), key };
      stream.subscriptions.set(request.typeUrl, subscription);
      call.write(this.sotwResponse(request.typeUrl, subscription));
    });
  }

  private serveDelta(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const stream: DeltaStream = { call, subscriptions: new Map() };
    trackWhileOpen(call, this.deltaStreams, stream);
    call.on('data', (buf: Buffer) => {
      const request = parseDeltaRequest(buf);
      if (request.isNack) {
        this.nacks++;
        return;
      }
      let subscription = stream.subscriptions.get(request.typeUrl);
      const first = !subscription;
      if (!subscription) {
        subscription = { wildcard: false, names: new Set() };
        stream.subscriptions.set(request.typeUrl, subscription);
      }
      // Legacy wildcard: the first request of a wildcard-capable type with no names.
      if ((first && request.subscribe.length === 0 && isWildcardType(request.typeUrl)) || request.subscribe.includes('*')) {
        subscription.wildcard = true;
      }
      for (const name of request.unsubscribe) subscription.names.delete(name);
      if (request.unsubscribe.includes('*')) subscription.wildcard = false;
      const added = request.subscribe.filter((n) => n !== '*' && !subscription.names.has(n));
      for (const name of added) subscription.names.add(name);
      if (!first && added.length === 0 && !request.subscribe.includes('*')) return; // an ACK
      const byName = this.resources.get(request.typeUrl) ?? new Map<string, ServedResource>();
      const sending =
        first && subscription.wildcard ? [...byName.values()] : added.map((n) => byName.get(n)).filter((r): r is ServedResource => !!r);
      const missing = added.filter((n) => !byName.has(n));
      const generation = `${this.generations.get(request.typeUrl) ?? 0}`;
      call.write(
        encodeDeltaResponse(
          generation,
          sending.map((r) => r.deltaResource),
          request.typeUrl,
          generation,
          missing,
        ),
      );
    });
  }
}

// ---- run as a child process of the bench runner, driven over IPC ----------------------------------

export type FloorCommand =
  | { cmd: 'start'; host: string; port: number }
  | { cmd: 'load'; resources: FloorResources }
  /** Builds the synthetic mesh's resources here (also the `translate` baseline: encoding without Switchyard). */
  | { cmd: 'load-mesh'; mesh: MeshOptions }
  | { cmd: 'set'; typeUrl: string; name: string; bytes: Uint8Array; version: string }
  | { cmd: 'stats' }
  | { cmd: 'stop' };

async function serveOverIpc(): Promise<void> {
  const floor = new FloorServer();
  const reply = (message: object): void => void process.send!(message);
  process.on('message', (message: FloorCommand) => {
    void (async () => {
      try {
        switch (message.cmd) {
          case 'start':
            reply({ type: 'listening', port: await floor.start(message.host, message.port) });
            break;
          case 'load':
            floor.load(message.resources.map(([t, entries]) => [t, entries.map(([n, b, v]) => [n, Buffer.from(b), v])]));
            reply({ type: 'loaded' });
            break;
          case 'load-mesh': {
            envoyRoot(); // loading the .proto files is start-up cost, not encoding
            const before = process.memoryUsage().heapUsed;
            const startedAt = performance.now();
            const snapshot = buildSnapshot(new Mesh(message.mesh));
            const ms = performance.now() - startedAt;
            floor.load(snapshotToFloorResources(snapshot));
            (globalThis as { gc?: () => void }).gc?.();
            const usage = process.memoryUsage();
            reply({ type: 'loaded', ms, heapBefore: before, heapUsed: usage.heapUsed, rss: usage.rss });
            break;
          }
          case 'set':
            reply({ type: 'pushed', writes: floor.set(message.typeUrl, message.name, Buffer.from(message.bytes), message.version) });
            break;
          case 'stats':
            reply({ type: 'stats', streams: floor.streamCount, nacks: floor.nacks });
            break;
          case 'stop':
            await floor.stop();
            reply({ type: 'stopped' });
            process.exit(0);
        }
      } catch (error) {
        reply({ type: 'error', message: (error as Error).message });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
  reply({ type: 'ready' });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.send) void serveOverIpc();
