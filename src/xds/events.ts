// What the xDS server tells observers (admin pages, metrics) about its streams.
import type { ProxyGroup } from '../cache/types.js';
import type { ClientIdentity } from '../clients/index.js';

export type StreamFlavour = 'sotw' | 'delta';

export interface StreamIdentity {
  /** Unique per server process. */
  streamId: number;
  nodeId: string;
  group: ProxyGroup;
  flavour: StreamFlavour;
  /** The client's address as gRPC reports it, e.g. `127.0.0.1:51234`. */
  peer: string;
  /** Which implementation and version the node says it is. */
  client: ClientIdentity;
}

export interface StreamClosedEvent extends StreamIdentity {
  /** Why the stream ended: `client` (half-close or cancel), `shutdown`, or an error message. */
  reason: string;
}

export interface ResponseSentEvent {
  streamId: number;
  nodeId: string;
  typeUrl: string;
  resourceCount: number;
  /** Names in `removed_resources` (delta only; 0 for SotW). */
  removedCount: number;
  bytes: number;
  nonce: string;
  version: string;
}

export interface AckEvent {
  streamId: number;
  nodeId: string;
  typeUrl: string;
  version: string;
  nonce: string;
}

export interface NackEvent {
  streamId: number;
  nodeId: string;
  group: ProxyGroup;
  typeUrl: string;
  nonce: string;
  /** The version the client rejected. */
  version: string;
  message: string;
}

/** Why the server turned a stream away. */
export type RefusalReason = 'node-identity' | 'total-streams' | 'streams-per-client' | 'subscriptions-per-stream';

/** A stream ended with PERMISSION_DENIED or RESOURCE_EXHAUSTED. */
export interface RefusedEvent {
  reason: RefusalReason;
  /** The gRPC status name: `PERMISSION_DENIED` or `RESOURCE_EXHAUSTED`. */
  code: string;
  peer: string;
  /** '' when the stream was refused before it said which node it is. */
  nodeId: string;
  /** The status message the client received. */
  message: string;
}

export interface XdsServerEvents {
  streamOpened: [StreamIdentity];
  streamClosed: [StreamClosedEvent];
  responseSent: [ResponseSentEvent];
  ack: [AckEvent];
  nack: [NackEvent];
  refused: [RefusedEvent];
  withheld: [WithheldEvent];
}

/** A resource kept from a client that asked for it (a gateway Secret its identity may not read). */
export interface WithheldEvent {
  streamId: number;
  nodeId: string;
  group: ProxyGroup;
  typeUrl: string;
  name: string;
  /** Why, and how to allow it. */
  reason: string;
}

/** Per type URL on one stream. */
export interface TypeSnapshot {
  typeUrl: string;
  wildcard: boolean;
  /** Explicitly subscribed names, sorted. */
  names: string[];
  /** The version of the last response sent, or '' before any. */
  versionSent: string;
  /** The version of the last response the client ACKed, or '' before any. */
  versionAcked: string;
  nackCount: number;
  /** How the client answered the last response sent: not yet, ACK or NACK; absent before any response. */
  lastResponse?: 'awaiting' | 'acked' | 'nacked';
  /** The error message of the last NACK, if the client ever rejected a response. */
  lastNack?: string;
  /** Resources the client asked for and may not have (yet), with the reason. */
  withheld?: Array<{ name: string; reason: string }>;
}

export interface StreamSnapshot {
  streamId: number;
  /** '' and undefined until the first request that carries a node. */
  nodeId: string;
  group: ProxyGroup | undefined;
  /** Undefined until the first request that carries a node. */
  client?: ClientIdentity;
  flavour: StreamFlavour;
  peer: string;
  connectedAt: Date;
  types: TypeSnapshot[];
  /** Responses written but not yet taken by the connection (a client that does not read keeps them here). */
  queuedResponses: number;
  queuedBytes: number;
  /** Types whose changes wait for the queue to drain; they go out as one response of the newest state. */
  heldTypes: string[];
  /** Cache changes folded into a later response because the client was not reading. */
  coalescedChanges: number;
}

/** How a stream reports to the server; the server turns these into events. */
export interface StreamObserver {
  streamOpened(event: StreamIdentity): void;
  responseSent(event: ResponseSentEvent): void;
  ack(event: AckEvent): void;
  nack(event: NackEvent): void;
  refused(event: RefusedEvent): void;
  withheld(event: WithheldEvent): void;
}
