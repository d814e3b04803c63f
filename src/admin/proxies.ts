// Which connected proxies hold what: per stream and type, whether the last response was ACKed,
// is still in flight or was NACKed. Versions alone cannot tell (an EDS response can repeat the
// set version the client already ACKed), so the latest nonce sent, ACKed and NACKed is tracked
// from the server's events; the stream snapshot supplies the rest.
import type { ProxyGroup } from '../cache/types.js';
import type { AckEvent, NackEvent, ResponseSentEvent, StreamClosedEvent, StreamSnapshot, TypeSnapshot } from '../xds/events.js';
import { shortTypeName, type ObservedXdsServer } from './types.js';
import { clientLabel, describeClient, formatVersion, groupRole } from '../clients/index.js';
import type { Degradation } from '../translate/index.js';
import { streamDegradations, type DegradationSource } from './client-degradations.js';

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT SENT';

export interface ProxyTypeView {
  typeUrl: string;
  wildcard: boolean;
  /** Explicitly subscribed names. */
  names: string[];
  versionSent: string;
  versionAcked: string;
  /** SYNCED: the last response was ACKed; STALE: sent, not yet answered; NACKED: the last response was rejected. */
  state: SyncState;
  nackCount: number;
  lastNack?: string;
  /** Resources asked for and kept from this client (a gateway Secret its identity may not read), with why. */
  withheld?: Array<{ name: string; reason: string }>;
}

export interface ProxyView {
  nodeId: string;
  /** '' until the stream's first request names its node. */
  group: string;
  /** sidecar, gateway, proxyless, or unidentified (no request yet). */
  role: string;
  gateway?: string;
  flavour: string;
  peer: string;
  streamId: number;
  /** ISO 8601. */
  connectedSince: string;
  /** By short type name: Cluster, ClusterLoadAssignment, Listener, RouteConfiguration, Secret. */
  types: Record<string, ProxyTypeView>;
  /** Which xDS implementation and version the node says it is; absent until it names its node. */
  client?: ClientView;
  /** What this proxy does not get as its policies say, and why (absent from servers before client profiles). */
  degradations?: Degradation[];
}

export interface ClientView {
  /** envoy, grpc-core, grpc-java, grpc-go, grpc-node, unknown. */
  implementation: string;
  /** The release version, when the node sent one. */
  version?: string;
  /** `grpc-core/1.51.1`: what `status` prints. */
  label: string;
  /** `gRPC C-core 1.51.1 (Python)`. */
  description: string;
  /** The node's user_agent_name and user_agent_version. */
  userAgent: string;
  clientFeatures: string[];
}

interface NonceState {
  sent: string;
  acked: string;
  nacked: string;
}

function roleOfGroup(group: ProxyGroup | undefined): { role: string; gateway?: string } {
  if (group === undefined) return { role: 'unidentified' };
  if (group.startsWith('gateway/')) return { role: 'gateway', gateway: group.slice('gateway/'.length) };
  // Mesh groups are the role plus what the client profile changes: `proxyless+no-ring-hash`.
  return { role: groupRole(group) };
}

export class ProxyTracker {
  private readonly nonces = new Map<number, Map<string, NonceState>>();
  private readonly detachers: Array<() => void> = [];

  constructor(
    private readonly server: ObservedXdsServer,
    private readonly degradations?: DegradationSource,
  ) {
    const onResponse = (event: ResponseSentEvent) => {
      this.state(event.streamId, event.typeUrl).sent = event.nonce;
    };
    const onAck = (event: AckEvent) => {
      this.state(event.streamId, event.typeUrl).acked = event.nonce;
    };
    const onNack = (event: NackEvent) => {
      this.state(event.streamId, event.typeUrl).nacked = event.nonce;
    };
    const onClosed = (event: StreamClosedEvent) => {
      this.nonces.delete(event.streamId);
    };
    server.on('responseSent', onResponse);
    server.on('ack', onAck);
    server.on('nack', onNack);
    server.on('streamClosed', onClosed);
    this.detachers.push(
      () => server.off('responseSent', onResponse),
      () => server.off('ack', onAck),
      () => server.off('nack', onNack),
      () => server.off('streamClosed', onClosed),
    );
  }

  detach(): void {
    for (const detach of this.detachers.splice(0)) detach();
  }

  /** Every open stream, oldest first. */
  proxies(): ProxyView[] {
    return this.server
      .streams()
      .sort((a, b) => a.streamId - b.streamId)
      .map((stream) => this.view(stream));
  }

  view(stream: StreamSnapshot): ProxyView {
    const types: Record<string, ProxyTypeView> = {};
    for (const type of stream.types) {
      const view: ProxyTypeView = {
        typeUrl: type.typeUrl,
        wildcard: type.wildcard,
        names: type.names,
        versionSent: type.versionSent,
        versionAcked: type.versionAcked,
        state: this.syncState(stream.streamId, type),
        nackCount: type.nackCount,
      };
      if (type.lastNack !== undefined) view.lastNack = type.lastNack;
      if (type.withheld !== undefined) view.withheld = type.withheld;
      types[shortTypeName(type.typeUrl) === 'other' ? type.typeUrl : shortTypeName(type.typeUrl)] = view;
    }
    const { role, gateway } = roleOfGroup(stream.group);
    const view: ProxyView = {
      nodeId: stream.nodeId,
      group: stream.group ?? '',
      role,
      flavour: stream.flavour,
      peer: stream.peer,
      streamId: stream.streamId,
      connectedSince: stream.connectedAt.toISOString(),
      types,
      degradations: streamDegradations(this.degradations, stream),
    };
    if (gateway !== undefined) view.gateway = gateway;
    if (stream.client) {
      view.client = {
        implementation: stream.client.implementation,
        ...(stream.client.version ? { version: formatVersion(stream.client.version) } : {}),
        label: clientLabel(stream.client),
        description: describeClient(stream.client),
        userAgent: stream.client.userAgent,
        clientFeatures: stream.client.clientFeatures,
      };
    }
    return view;
  }

  private syncState(streamId: number, type: TypeSnapshot): SyncState {
    const nonces = this.nonces.get(streamId)?.get(type.typeUrl);
    if (nonces && nonces.sent !== '') {
      if (nonces.sent === nonces.acked) return 'SYNCED';
      if (nonces.sent === nonces.nacked) return 'NACKED';
      return 'STALE';
    }
    // Responses sent before the tracker was attached: the versions are the best evidence left.
    if (type.versionSent === '' && type.versionAcked === '' && type.nackCount === 0) return 'NOT SENT';
    if (type.versionSent === type.versionAcked) return 'SYNCED';
    return type.lastNack !== undefined ? 'NACKED' : 'STALE';
  }

  private state(streamId: number, typeUrl: string): NonceState {
    let byType = this.nonces.get(streamId);
    if (!byType) this.nonces.set(streamId, (byType = new Map()));
    let state = byType.get(typeUrl);
    if (!state) byType.set(typeUrl, (state = { sent: '', acked: '', nacked: '' }));
    return state;
  }
}
