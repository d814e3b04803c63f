// Which connected proxies hold what: per stream and type, whether the last response was ACKed,
// is still in flight or was NACKed. Versions alone cannot tell (an EDS response can repeat the
// set version the client already ACKed): the stream snapshot says how the client answered its
// last response, so nothing is tracked per response or ACK here.
import type { ProxyGroup } from '../cache/types.js';
import type { StreamSnapshot, TypeSnapshot } from '../xds/events.js';
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

function roleOfGroup(group: ProxyGroup | undefined): { role: string; gateway?: string } {
  if (group === undefined) return { role: 'unidentified' };
  if (group.startsWith('gateway/')) return { role: 'gateway', gateway: group.slice('gateway/'.length) };
  // Mesh groups are the role plus what the client profile changes: `proxyless+no-ring-hash`.
  return { role: groupRole(group) };
}

export class ProxyTracker {
  constructor(
    private readonly server: ObservedXdsServer,
    private readonly degradations?: DegradationSource,
  ) {}

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
        state: this.syncState(type),
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

  private syncState(type: TypeSnapshot): SyncState {
    if (type.lastResponse === 'acked') return 'SYNCED';
    if (type.lastResponse === 'nacked') return 'NACKED';
    if (type.lastResponse === 'awaiting') return 'STALE';
    return 'NOT SENT';
  }
}
