// A proxyless gRPC client: @grpc/grpc-js with the xds: resolver of @grpc/grpc-js-xds, pointed at
// Switchyard by an xDS bootstrap. Each client gets its own bootstrap through a channel option, so
// every client (and every test file) has its own xDS client and node id, whatever the process
// already loaded from GRPC_XDS_BOOTSTRAP / GRPC_XDS_BOOTSTRAP_CONFIG (read once per process).
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { WHO_METHOD, type WhoReply, type WhoRequest } from './backends.js';

grpcXds.register();

/** grpc-js-xds reads a per-channel bootstrap from this option (named for tests; it is what lets
 * one process hold several independent xDS clients). */
const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

interface BootstrapOptions {
  xdsPort: number;
  nodeId: string;
  /** Node metadata; Switchyard also recognises gRPC by its user agent without it. */
  role?: 'proxyless' | 'sidecar';
}

/** The gRPC xDS bootstrap (gRFC A27) for a client of Switchyard on 127.0.0.1. */
export function proxylessBootstrap({ xdsPort, nodeId, role = 'proxyless' }: BootstrapOptions): Record<string, unknown> {
  return {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, cluster: 'e2e', locality: { zone: 'local' }, metadata: { 'switchyard.dev/role': role } },
  };
}

/** Channel options that give one channel its own xDS bootstrap. */
export function bootstrapOption(bootstrap: Record<string, unknown>): grpc.ChannelOptions {
  return { [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) };
}

/** A client of the test service: proxyless with an `xds:///` target and `bootstrapOption`, or plain (e.g. through Envoy). */
export class WhoClient {
  readonly client: grpc.Client;

  constructor(
    readonly target: string,
    channelOptions: grpc.ChannelOptions = {},
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.client = new grpc.Client(target, credentials, channelOptions);
  }

  /** One call: the backend's name, or the gRPC error. */
  who(headers: Record<string, string> = {}, deadlineMs = 5000): Promise<string> {
    const metadata = new grpc.Metadata();
    for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<WhoRequest, WhoReply>(
        WHO_METHOD,
        (value) => Buffer.from(JSON.stringify(value)),
        (bytes) => JSON.parse(bytes.toString('utf8')) as WhoReply,
        {},
        metadata,
        { deadline: Date.now() + deadlineMs },
        (err, reply) => (err || !reply ? reject(err ?? new Error('empty reply')) : resolve(reply.backend)),
      );
    });
  }

  /** `n` calls, `concurrency` at a time; counts by backend name (failures under `error:<code>`). */
  async tally(n: number, headers: Record<string, string> = {}, concurrency = 16): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    let started = 0;
    const worker = async () => {
      while (started < n) {
        started++;
        let outcome: string;
        try {
          outcome = await this.who(headers);
        } catch (err) {
          outcome = `error:${(err as grpc.ServiceError).code ?? 'unknown'}`;
        }
        counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    return counts;
  }

  close(): void {
    this.client.close();
  }
}

/** The xDS target of a Service port, as a proxyless client names it. */
export function serviceTarget(name: string, namespace: string, port: number): string {
  return `xds:///${name}.${namespace}.svc.cluster.local:${port}`;
}
