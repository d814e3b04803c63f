// Real gRPC backends on loopback: each answers `Who` with its own name, so a client can count
// where its calls went. Backends of one test share one port on different 127.x.y.z addresses
// (all of 127/8 is loopback on Linux), the way pods share a container port on different IPs,
// so one EndpointSlice with one port lists them all.
import * as grpc from '@grpc/grpc-js';
// The e2e backends run the demo's hand-written Whoami service (gRPC carries any bytes; the messages are JSON).
import { WHO_METHOD, WHOAMI_SERVICE } from '../../../demo/loopback.js';

export interface WhoRequest {
  key?: string;
}
export interface WhoReply {
  backend: string;
}

export { WHO_METHOD };

export interface Backend {
  name: string;
  address: string;
  port: number;
  /** Calls answered (successes and injected failures). */
  readonly calls: number;
  /** When set, the backend fails calls with UNAVAILABLE: every `n`-th call starting with the first (n=2: 1st, 3rd, ...). */
  failEvery(n: number | undefined): void;
  stop(): Promise<void>;
}

class WhoamiBackend implements Backend {
  calls = 0;
  private failPeriod: number | undefined;
  readonly server = new grpc.Server();
  port = 0;

  constructor(
    readonly name: string,
    readonly address: string,
  ) {
    this.server.addService(WHOAMI_SERVICE, {
      Who: (call: grpc.ServerUnaryCall<WhoRequest, WhoReply>, callback: grpc.sendUnaryData<WhoReply>) => {
        const index = this.calls++;
        if (this.failPeriod !== undefined && index % this.failPeriod === 0) {
          callback({ code: grpc.status.UNAVAILABLE, details: `${this.name}: injected failure` });
          return;
        }
        callback(null, { backend: this.name });
      },
    });
  }

  failEvery(n: number | undefined): void {
    this.failPeriod = n;
    this.calls = 0;
  }

  bind(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${this.address}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
        if (err) reject(err);
        else resolve(bound);
      });
    });
  }

  /** Lets calls in flight finish for up to a second, then cuts the connections. */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** A random 127.a.b.0/24 per process, so parallel test files (and other users of this machine) do not collide. */
function loopbackNet(): string {
  return `127.${10 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}`;
}

export interface BackendSet {
  /** Shared by every backend in the set. */
  port: number;
  backends: Map<string, Backend>;
  get(name: string): Backend;
  /** Starts one more backend on the set's port (next free address). */
  add(name: string): Promise<Backend>;
  stop(): Promise<void>;
}

/**
 * Starts one backend per name, on 127.a.b.1, .2, ... and one common port. The first backend takes
 * an ephemeral port; if another address already uses it the whole set retries.
 */
export async function startBackends(names: string[]): Promise<BackendSet> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const net = loopbackNet();
    const started: WhoamiBackend[] = [];
    try {
      let port = 0;
      for (const [i, name] of names.entries()) {
        const backend = new WhoamiBackend(name, `${net}.${i + 1}`);
        started.push(backend);
        port = await backend.bind(port);
        backend.port = port;
      }
      return makeSet(net, port, started);
    } catch {
      await Promise.all(started.map((b) => b.stop()));
    }
  }
  throw new Error(`could not start backends ${names.join(', ')} on one shared loopback port`);
}

function makeSet(net: string, port: number, initial: WhoamiBackend[]): BackendSet {
  const backends = new Map<string, Backend>(initial.map((b) => [b.name, b]));
  let nextHost = initial.length + 1;
  return {
    port,
    backends,
    get(name) {
      const backend = backends.get(name);
      if (!backend) throw new Error(`no backend named ${name}`);
      return backend;
    },
    async add(name) {
      const backend = new WhoamiBackend(name, `${net}.${nextHost++}`);
      backend.port = await backend.bind(port);
      backends.set(name, backend);
      return backend;
    },
    async stop() {
      await Promise.all([...backends.values()].map((b) => b.stop()));
    },
  };
}
