// A protocol test client that plays Envoy's side of xDS over real gRPC: it opens ADS (or
// per-type) streams of either flavour, sends requests with a node, waits for responses by
// type, and decodes every response and every resource inside it with Envoy's own protos.
//
//   const client = new XdsTestClient(port);
//   const ads = client.sotw();                                   // or client.delta()
//   ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'envoy-1' }) });
//   const cds = await ads.next(TypeUrl.Cluster);                 // DecodedSotwResponse
//   ads.ack(cds);                                                // or ads.nack(cds, 'why')
//   await ads.barrier();                                         // everything sent so far has arrived
//   client.close();
import * as grpc from '@grpc/grpc-js';
import { decodeMessage, encodeMessage, messageType } from '../../src/envoy/protos.js';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_SOTW_METHOD = `${ADS}/StreamAggregatedResources`;
export const ADS_DELTA_METHOD = `${ADS}/DeltaAggregatedResources`;

/** How the tests describe a node; `testNode` turns it into an envoy.config.core.v3.Node. */
export interface TestNode {
  id: string;
  /** switchyard.dev/role */
  role?: string;
  /** switchyard.dev/gateway */
  gateway?: string;
  userAgentName?: string;
  userAgentVersion?: string;
  /** Envoy's build version (major, minor, patch). */
  envoyVersion?: [number, number, number];
  /** Other metadata strings, e.g. the workload keys the injector writes (`switchyard.dev/pod`). */
  metadata?: Record<string, string>;
}

export function testNode(node: TestNode): Record<string, unknown> {
  const fields: Record<string, { stringValue: string }> = {};
  if (node.role !== undefined) fields['switchyard.dev/role'] = { stringValue: node.role };
  if (node.gateway !== undefined) fields['switchyard.dev/gateway'] = { stringValue: node.gateway };
  for (const [key, value] of Object.entries(node.metadata ?? {})) fields[key] = { stringValue: value };
  const message: Record<string, unknown> = { id: node.id, cluster: 'test', metadata: { fields } };
  message.userAgentName = node.userAgentName ?? 'envoy';
  if (node.userAgentVersion !== undefined) message.userAgentVersion = node.userAgentVersion;
  if (node.envoyVersion) {
    const [majorNumber, minorNumber, patch] = node.envoyVersion;
    message.userAgentBuildVersion = { version: { majorNumber, minorNumber, patch } };
  }
  return message;
}

export interface DecodedResource {
  /** The resource's name (delta: Resource.name; SotW: the name inside the message). */
  name: string;
  /** Delta only: Resource.version. */
  version?: string;
  typeUrl: string;
  /** The resource decoded with Envoy's protos, in `decodeMessage` form. */
  value: Record<string, unknown>;
}

export interface DecodedSotwResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  controlPlane?: string;
  resources: DecodedResource[];
  /** Resource names, in response order. */
  names: string[];
  raw: Buffer;
}

export interface DecodedDeltaResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  controlPlane?: string;
  resources: DecodedResource[];
  names: string[];
  removedResources: string[];
  raw: Buffer;
}

interface StreamStatus {
  code: grpc.status;
  details: string;
}

/** The name a resource carries inside its message (a ClusterLoadAssignment calls it cluster_name). */
function resourceName(value: Record<string, unknown>): string {
  return String(value.name ?? value.clusterName ?? '');
}

/** google.protobuf.Any as protobufjs decodes it (its built-in Any keeps the snake_case field name). */
interface AnyMessage {
  type_url?: string;
  typeUrl?: string;
  value: Uint8Array;
}

let barrierCounter = 0;

abstract class TestStream<Response extends { typeUrl: string; names: string[] }> {
  /** Every response received, in order (barrier responses included). */
  readonly received: Response[] = [];
  /** Anything the server did that a real client would reject: undecodable bytes, a name twice in a response. */
  readonly protocolErrors: string[] = [];
  /** Resolves with the status once the server ends the stream. */
  readonly status: Promise<StreamStatus>;
  protected readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly unconsumed: Response[] = [];
  private waiters: Array<() => void> = [];
  private ended: StreamStatus | undefined;

  constructor(client: grpc.Client, method: string) {
    this.call = client.makeBidiStreamRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    this.status = new Promise((resolve) => {
      this.call.on('status', (status: grpc.StatusObject) => {
        this.ended = { code: status.code, details: status.details };
        resolve(this.ended);
        this.wake();
      });
    });
    // Errors also arrive as a status; without a listener an error status would throw.
    this.call.on('error', () => undefined);
    this.call.on('data', (raw: Buffer) => {
      let response: Response;
      try {
        response = this.decode(raw);
      } catch (err) {
        this.protocolErrors.push(`response does not decode: ${(err as Error).message}`);
        return;
      }
      const seen = new Set<string>();
      for (const name of response.names) {
        if (seen.has(name)) this.protocolErrors.push(`${response.typeUrl}: "${name}" twice in one response`);
        seen.add(name);
      }
      this.received.push(response);
      this.unconsumed.push(response);
      this.wake();
    });
  }

  /** The oldest response of `typeUrl` not yet taken by `next`; waits up to `timeoutMs` for one. */
  next(typeUrl: string, timeoutMs = 5000): Promise<Response> {
    return this.take((r) => r.typeUrl === typeUrl, `a ${typeUrl} response`, timeoutMs);
  }

  /** The oldest response of any type not yet taken. */
  nextAny(timeoutMs = 5000): Promise<Response> {
    return this.take(() => true, 'any response', timeoutMs);
  }

  /** Responses received but not yet taken by `next`, of one type or all. */
  pending(typeUrl?: string): Response[] {
    return this.unconsumed.filter((r) => typeUrl === undefined || r.typeUrl === typeUrl);
  }

  /**
   * Sends a request for a type URL the server does not serve and waits for the answer: the
   * server handles a stream's requests in order, so whatever it was going to send in reply to
   * earlier requests has arrived by then.
   */
  async barrier(timeoutMs = 5000): Promise<void> {
    const typeUrl = `type.googleapis.com/switchyard.test.Barrier${++barrierCounter}`;
    this.requestUnserved(typeUrl);
    await this.next(typeUrl, timeoutMs);
  }

  /** Sends bytes as they are (for malformed requests). */
  sendRaw(bytes: Uint8Array): void {
    this.call.write(Buffer.from(bytes));
  }

  /** Half-closes the stream, the way a client says it is done. */
  close(): void {
    this.call.end();
  }

  /** Cancels the call. */
  cancel(): void {
    this.call.cancel();
  }

  protected abstract decode(raw: Buffer): Response;
  protected abstract requestUnserved(typeUrl: string): void;

  protected send(messageTypeName: string, request: Record<string, unknown>): void {
    this.call.write(Buffer.from(encodeMessage(messageTypeName, request)));
  }

  private take(match: (r: Response) => boolean, what: string, timeoutMs: number): Promise<Response> {
    return new Promise((resolve, reject) => {
      const attempt = (): boolean => {
        const index = this.unconsumed.findIndex(match);
        if (index >= 0) {
          resolve(this.unconsumed.splice(index, 1)[0]);
          return true;
        }
        if (this.ended) {
          reject(new Error(`waiting for ${what}: the stream ended with ${grpc.status[this.ended.code]} "${this.ended.details}"`));
          return true;
        }
        return false;
      };
      if (attempt()) return;
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const got = this.unconsumed.map((r) => `${r.typeUrl}[${r.names.join(',')}]`).join(' ');
        reject(new Error(`no ${what} within ${timeoutMs} ms; unconsumed: ${got || 'none'}`));
      }, timeoutMs);
      const waiter = (): void => {
        if (attempt()) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== waiter);
        }
      };
      this.waiters.push(waiter);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function decodeAny(any: AnyMessage): { typeUrl: string; value: Record<string, unknown> } {
  const typeUrl = any.typeUrl ?? any.type_url ?? '';
  return { typeUrl, value: decodeMessage(typeUrl, any.value) };
}

function controlPlaneOf(message: { controlPlane?: { identifier?: string } | null }): string | undefined {
  return message.controlPlane?.identifier || undefined;
}

export interface SotwRequestFields {
  typeUrl: string;
  resourceNames?: string[];
  versionInfo?: string;
  responseNonce?: string;
  /** Makes the request a NACK. */
  errorDetail?: { code: number; message: string };
  node?: Record<string, unknown>;
}

export class SotwTestStream extends TestStream<DecodedSotwResponse> {
  /** The names last requested per type, reused by ack / nack. */
  private readonly lastNames = new Map<string, string[]>();

  request(fields: SotwRequestFields): void {
    const names = fields.resourceNames ?? this.lastNames.get(fields.typeUrl) ?? [];
    this.lastNames.set(fields.typeUrl, names);
    this.send('envoy.service.discovery.v3.DiscoveryRequest', {
      typeUrl: fields.typeUrl,
      resourceNames: names,
      versionInfo: fields.versionInfo ?? '',
      responseNonce: fields.responseNonce ?? '',
      ...(fields.errorDetail ? { errorDetail: fields.errorDetail } : {}),
      ...(fields.node ? { node: fields.node } : {}),
    });
  }

  /** ACKs a response: its version and nonce, the same names as before (or new ones). */
  ack(response: DecodedSotwResponse, resourceNames?: string[]): void {
    this.request({ typeUrl: response.typeUrl, versionInfo: response.versionInfo, responseNonce: response.nonce, resourceNames });
  }

  /** NACKs a response: the nonce with an error; the version stays the last accepted one. */
  nack(response: DecodedSotwResponse, message: string, acceptedVersion = ''): void {
    this.request({
      typeUrl: response.typeUrl,
      versionInfo: acceptedVersion,
      responseNonce: response.nonce,
      errorDetail: { code: grpc.status.INVALID_ARGUMENT, message },
    });
  }

  protected requestUnserved(typeUrl: string): void {
    this.request({ typeUrl });
  }

  protected decode(raw: Buffer): DecodedSotwResponse {
    return decodeSotwResponse(raw);
  }
}

export interface DeltaRequestFields {
  typeUrl: string;
  subscribe?: string[];
  unsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
  node?: Record<string, unknown>;
}

export class DeltaTestStream extends TestStream<DecodedDeltaResponse> {
  request(fields: DeltaRequestFields): void {
    this.send('envoy.service.discovery.v3.DeltaDiscoveryRequest', {
      typeUrl: fields.typeUrl,
      resourceNamesSubscribe: fields.subscribe ?? [],
      resourceNamesUnsubscribe: fields.unsubscribe ?? [],
      initialResourceVersions: fields.initialResourceVersions ?? {},
      responseNonce: fields.responseNonce ?? '',
      ...(fields.errorDetail ? { errorDetail: fields.errorDetail } : {}),
      ...(fields.node ? { node: fields.node } : {}),
    });
  }

  ack(response: DecodedDeltaResponse): void {
    this.request({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }

  nack(response: DecodedDeltaResponse, message: string): void {
    this.request({
      typeUrl: response.typeUrl,
      responseNonce: response.nonce,
      errorDetail: { code: grpc.status.INVALID_ARGUMENT, message },
    });
  }

  protected requestUnserved(typeUrl: string): void {
    this.request({ typeUrl, subscribe: ['probe'] });
  }

  protected decode(raw: Buffer): DecodedDeltaResponse {
    return decodeDeltaResponse(raw);
  }
}

/** One gRPC channel to the server; streams of either flavour on it. */
export class XdsTestClient {
  private readonly client: grpc.Client;

  constructor(port: number, host = '127.0.0.1') {
    this.client = new grpc.Client(`${host}:${port}`, grpc.credentials.createInsecure());
  }

  /** A state-of-the-world stream: ADS, or a per-type method path such as
   *  `/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters`. */
  sotw(method = ADS_SOTW_METHOD): SotwTestStream {
    return new SotwTestStream(this.client, method);
  }

  /** A delta stream: ADS, or a per-type method path. */
  delta(method = ADS_DELTA_METHOD): DeltaTestStream {
    return new DeltaTestStream(this.client, method);
  }

  close(): void {
    this.client.close();
  }
}

/** Decodes a response as a client would, resources and all. */
export function decodeSotwResponse(raw: Buffer): DecodedSotwResponse {
  const type = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const message = type.decode(raw) as unknown as {
    versionInfo: string;
    typeUrl: string;
    nonce: string;
    resources: AnyMessage[];
    controlPlane?: { identifier?: string } | null;
  };
  const resources = message.resources.map((any) => {
    const decoded = decodeAny(any);
    return { name: resourceName(decoded.value), ...decoded };
  });
  return {
    versionInfo: message.versionInfo,
    typeUrl: message.typeUrl,
    nonce: message.nonce,
    controlPlane: controlPlaneOf(message),
    resources,
    names: resources.map((r) => r.name),
    raw,
  };
}

/** Decodes a response as a client would, resources and all. */
export function decodeDeltaResponse(raw: Buffer): DecodedDeltaResponse {
  const type = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const message = type.decode(raw) as unknown as {
    systemVersionInfo: string;
    typeUrl: string;
    nonce: string;
    resources: Array<{ name: string; version: string; resource?: AnyMessage | null }>;
    removedResources: string[];
    controlPlane?: { identifier?: string } | null;
  };
  const resources = message.resources.map((entry) => {
    if (!entry.resource) throw new Error(`delta resource "${entry.name}" has no resource`);
    const decoded = decodeAny(entry.resource);
    const inner = resourceName(decoded.value);
    if (inner !== entry.name) throw new Error(`delta resource named "${entry.name}" holds "${inner}"`);
    return { name: entry.name, version: entry.version, ...decoded };
  });
  return {
    systemVersionInfo: message.systemVersionInfo,
    typeUrl: message.typeUrl,
    nonce: message.nonce,
    controlPlane: controlPlaneOf(message),
    resources,
    names: resources.map((r) => r.name),
    removedResources: [...message.removedResources],
    raw,
  };
}
