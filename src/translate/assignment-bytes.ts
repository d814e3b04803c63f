// A ClusterLoadAssignment written straight to bytes from the model's endpoints, without building
// its plain object: on a 10,000-Service mesh the 100,000 endpoints, each a message four deep, were
// the largest part of encoding and checking the first snapshot. The bytes are exactly those of
// `encodeMessage` on the object `assignmentValue` builds (fields in field-number order, the same
// conversions), and the values that vary are checked with Envoy's own compiled rules
// (`fieldPasses`); the parts that do not vary (which oneof is set, which messages are present) are
// the same in every assignment and break no rule. Anything a rule refuses, and anything unusual,
// is left to the general path: encode the object and check it whole, which reports what is wrong.
import protobuf from 'protobufjs';
import type { EndpointInfo } from '../model/index.js';
import { FlatWriter } from '../envoy/flat-writer.js';
import { fieldTag } from '../envoy/direct-encode.js';
import { encodeMessage, messageType } from '../envoy/protos.js';
import { fieldPasses } from '../envoy/validation-rules.js';
import { isDeepFrozen } from '../envoy/frozen.js';

/** One locality of an assignment: a zone's endpoints and the priority its zone ranks at. */
export interface LocalityGroup {
  /** The frozen `Locality` value (shared by every assignment with this zone). */
  locality: object;
  /** The frozen `UInt32Value` weight (its endpoint count). */
  weight: object;
  priority: number;
  members: readonly EndpointInfo[];
}

/** The plain object of an assignment (what `encodeMessage` and the validation rules take). */
export function assignmentValue(
  name: string,
  groups: readonly LocalityGroup[],
  tlsAddresses: ReadonlySet<string>,
  tlsMetadata: () => object,
): object {
  const endpoints = groups.map(({ locality, weight, priority, members }) => ({
    // Always present, empty when the slice gave no zone: gRPC rejects a group without a locality.
    locality,
    lbEndpoints: members.map((endpoint) => {
      const lbEndpoint: Record<string, unknown> = {
        endpoint: { address: { socketAddress: { address: endpoint.address, portValue: endpoint.port } } },
        healthStatus: healthName(endpoint),
      };
      // Set, not spread: 100,000 endpoints at start-up.
      if (tlsAddresses.size > 0 && tlsAddresses.has(endpoint.address)) lbEndpoint.metadata = tlsMetadata();
      return lbEndpoint;
    }),
    loadBalancingWeight: weight,
    ...(priority > 0 ? { priority } : {}),
  }));
  return { clusterName: name, endpoints };
}

function healthName(endpoint: EndpointInfo): 'HEALTHY' | 'DRAINING' {
  return endpoint.health === 'healthy' ? 'HEALTHY' : 'DRAINING';
}

/**
 * The bytes of `assignmentValue(...)`, or undefined when a rule may refuse it (the general path
 * then says which). They are a view of the encoders' scratch, valid only until the next encode.
 */
export function encodeAssignment(
  name: string,
  groups: readonly LocalityGroup[],
  tlsAddresses: ReadonlySet<string>,
  tlsMetadata: () => object,
): Uint8Array | undefined {
  const plan = (layout ??= planLayout());
  if (typeof name !== 'string' || !plan.clusterName(name)) return undefined;
  const metadata = tlsAddresses.size > 0 ? plan.metadataBytes(tlsMetadata) : undefined;
  if (metadata === null) return undefined;
  // The shared parts first: encoding one uses the writer's buffer, so none may be encoded while the assignment is written.
  const parts: Array<{ locality: Uint8Array; weight: Uint8Array }> = [];
  for (const { locality, weight, priority } of groups) {
    const localityBytes = plan.localityBytes(locality);
    const weightBytes = plan.weightBytes(weight);
    if (!localityBytes || !weightBytes || !plan.priority(priority > 0 ? priority : undefined)) return undefined;
    parts.push({ locality: localityBytes, weight: weightBytes });
  }
  const writer = new FlatWriter();
  writer.uint32(plan.tags.clusterName).string(name);
  for (let i = 0; i < groups.length; i++) {
    const { priority, members } = groups[i];
    const { locality: localityBytes, weight: weightBytes } = parts[i];
    writer.uint32(plan.tags.endpoints).fork();
    writer.uint32(plan.tags.locality).bytes(localityBytes);
    for (const endpoint of members) {
      const { address, port } = endpoint;
      if (typeof address !== 'string' || typeof port !== 'number' || !plan.address(address) || !plan.port(port)) return undefined;
      writer.uint32(plan.tags.lbEndpoints).fork();
      writer.uint32(plan.tags.endpoint).fork();
      writer.uint32(plan.tags.address).fork();
      writer.uint32(plan.tags.socketAddress).fork();
      writer.uint32(plan.tags.socketAddressAddress).string(address);
      writer.uint32(plan.tags.portValue).uint32(port);
      writer.ldelim().ldelim().ldelim();
      writer.uint32(plan.tags.healthStatus).int32(endpoint.health === 'healthy' ? plan.healthy : plan.draining);
      if (metadata && tlsAddresses.has(address)) writer.uint32(plan.tags.metadata).bytes(metadata);
      writer.ldelim();
    }
    writer.uint32(plan.tags.loadBalancingWeight).bytes(weightBytes);
    if (priority > 0) writer.uint32(plan.tags.priority).uint32(priority);
    writer.ldelim();
  }
  // The cache copies them once, into the resource it keeps.
  return writer.view();
}

interface Layout {
  tags: Record<
    | 'clusterName'
    | 'endpoints'
    | 'locality'
    | 'lbEndpoints'
    | 'loadBalancingWeight'
    | 'priority'
    | 'endpoint'
    | 'healthStatus'
    | 'metadata'
    | 'address'
    | 'socketAddress'
    | 'socketAddressAddress'
    | 'portValue',
    number
  >;
  healthy: number;
  draining: number;
  clusterName: (value: unknown) => boolean;
  priority: (value: unknown) => boolean;
  address: (value: unknown) => boolean;
  port: (value: unknown) => boolean;
  /** The body of a frozen value of that field, once per value; undefined when a rule refuses it. */
  localityBytes: (value: object) => Uint8Array | undefined;
  weightBytes: (value: object) => Uint8Array | undefined;
  /** The TLS tag's body (one constant); null when a rule refuses it. */
  metadataBytes: (build: () => object) => Uint8Array | null;
}

let layout: Layout | undefined;

/** Field numbers, enum numbers and rules, read from Envoy's protos once. */
function planLayout(): Layout {
  const assignment = messageType('envoy.config.endpoint.v3.ClusterLoadAssignment');
  const locality = messageType('envoy.config.endpoint.v3.LocalityLbEndpoints');
  const lbEndpoint = messageType('envoy.config.endpoint.v3.LbEndpoint');
  const endpoint = messageType('envoy.config.endpoint.v3.Endpoint');
  const address = messageType('envoy.config.core.v3.Address');
  const socketAddress = messageType('envoy.config.core.v3.SocketAddress');
  const health = lbEndpoint.fields.healthStatus;
  health.resolve();
  const healthEnum = health.resolvedType as protobuf.Enum;
  const healthPasses = fieldPasses(lbEndpoint, 'healthStatus');
  if (!healthPasses('HEALTHY') || !healthPasses('DRAINING')) throw new Error('LbEndpoint health statuses HEALTHY and DRAINING must pass');
  let metadata: Uint8Array | null | undefined;
  return {
    tags: {
      clusterName: fieldTag(assignment, 'clusterName'),
      endpoints: fieldTag(assignment, 'endpoints'),
      locality: fieldTag(locality, 'locality'),
      lbEndpoints: fieldTag(locality, 'lbEndpoints'),
      loadBalancingWeight: fieldTag(locality, 'loadBalancingWeight'),
      priority: fieldTag(locality, 'priority'),
      endpoint: fieldTag(lbEndpoint, 'endpoint'),
      healthStatus: fieldTag(lbEndpoint, 'healthStatus'),
      metadata: fieldTag(lbEndpoint, 'metadata'),
      address: fieldTag(endpoint, 'address'),
      socketAddress: fieldTag(address, 'socketAddress'),
      socketAddressAddress: fieldTag(socketAddress, 'address'),
      portValue: fieldTag(socketAddress, 'portValue'),
    },
    healthy: healthEnum.values.HEALTHY,
    draining: healthEnum.values.DRAINING,
    clusterName: fieldPasses(assignment, 'clusterName'),
    priority: fieldPasses(locality, 'priority'),
    address: fieldPasses(socketAddress, 'address'),
    port: fieldPasses(socketAddress, 'portValue'),
    localityBytes: frozenPart(locality, 'locality'),
    weightBytes: frozenPart(locality, 'loadBalancingWeight'),
    metadataBytes(build) {
      if (metadata === undefined) {
        const value = build();
        metadata = fieldPasses(lbEndpoint, 'metadata')(value) ? bodyOf(lbEndpoint, 'metadata', value) : null;
      }
      return metadata;
    },
  };
}

/** A message field's body for a value, checked and encoded once per value object (the translator shares them frozen). */
function frozenPart(type: protobuf.Type, field: string): (value: object) => Uint8Array | undefined {
  const passes = fieldPasses(type, field);
  const memo = new WeakMap<object, Uint8Array | null>();
  return (value) => {
    let bytes = memo.get(value);
    if (bytes === undefined) {
      bytes = passes(value) ? bodyOf(type, field, value) : null;
      // Only a value that cannot change may be remembered.
      if (isDeepFrozen(value)) memo.set(value, bytes);
    }
    return bytes ?? undefined;
  };
}

function bodyOf(type: protobuf.Type, field: string, value: object): Uint8Array {
  const f = type.fields[field];
  f.resolve();
  return encodeMessage((f.resolvedType as protobuf.Type).fullName.slice(1), value);
}
