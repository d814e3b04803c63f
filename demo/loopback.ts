// Demo plumbing: the example manifests list pod IPs such as 10.1.1.10, which do not exist on a
// laptop. The demo maps every IPv4 endpoint a.b.c.d (a ≠ 127) to 127.b.c.d — all of 127/8 is
// loopback on Linux — and runs a real gRPC backend there, on the EndpointSlice's port. The files
// in examples/ stay as they are: editing one still changes what Switchyard serves.
import * as grpc from '@grpc/grpc-js';
import type { EventSink, Source, SourceEvent } from '../src/sources/types.js';

/** 10.1.1.10 -> 127.1.1.10; loopback, IPv6 and names stay as they are. */
export function loopbackAddress(address: string): string {
  const parts = address.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p)) || parts[0] === '127') return address;
  return ['127', ...parts.slice(1)].join('.');
}

/** Wraps a source and rewrites EndpointSlice addresses to loopback, remembering the originals for display. */
export class LoopbackSource implements Source {
  /** Loopback address -> the address the manifest gave. */
  readonly originals = new Map<string, string>();

  constructor(private readonly inner: Source) {}

  start(sink: EventSink): Promise<void> {
    return this.inner.start((events) => sink(events.map((event) => this.rewrite(event))));
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  private rewrite(event: SourceEvent): SourceEvent {
    if (event.type === 'delete' || event.object?.kind !== 'EndpointSlice' || event.object.addressType !== 'IPv4') return event;
    const slice = event.object;
    const endpoints = slice.endpoints?.map((endpoint) => ({
      ...endpoint,
      addresses: endpoint.addresses.map((address) => {
        const mapped = loopbackAddress(address);
        this.originals.set(mapped, address);
        return mapped;
      }),
    }));
    return { ...event, object: { ...slice, ...(endpoints ? { endpoints } : {}) } };
  }
}

// ---- the demo service: one unary method that answers with the backend's name ----------------
export const WHO_METHOD = '/switchyard.demo.Whoami/Who';
const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')),
};
export const WHOAMI_SERVICE: grpc.ServiceDefinition = {
  Who: {
    path: WHO_METHOD,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

export interface DemoBackend {
  /** `address:port` as the manifest wrote it. */
  label: string;
  /** Empty when it is serving; else why it could not start. */
  problem: string;
}

/** Real gRPC servers, one per endpoint address and port, started as endpoints appear. */
export class BackendFleet {
  private readonly servers = new Map<string, { server: grpc.Server; backend: DemoBackend }>();

  /** Starts a backend on `address:port` unless one runs there already. */
  ensure(address: string, port: number, label: string): void {
    const key = `${address}:${port}`;
    if (this.servers.has(key)) return;
    const server = new grpc.Server();
    const backend: DemoBackend = { label, problem: 'starting' };
    server.addService(WHOAMI_SERVICE, {
      Who: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { backend: label }),
    });
    this.servers.set(key, { server, backend });
    server.bindAsync(key, grpc.ServerCredentials.createInsecure(), (err) => {
      backend.problem = err ? `cannot listen on ${key}: ${err.message}` : '';
    });
  }

  problems(): string[] {
    return [...this.servers.values()].map((s) => s.backend.problem).filter((p) => p && p !== 'starting');
  }

  get size(): number {
    return this.servers.size;
  }

  stop(): void {
    for (const { server } of this.servers.values()) server.forceShutdown();
    this.servers.clear();
  }
}
