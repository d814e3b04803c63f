// Which proxy group a connecting node belongs to, from what its first request says about it:
// its role (metadata, or its user agent), and for mesh roles its client profile's served shape.
import { gatewayGroup, type ProxyGroup } from '../cache/types.js';
import { log } from '../log.js';
import {
  clientProfile,
  identifyClient,
  meshGroupName,
  servedShape,
  WORKLOAD_CERTIFICATE_PROVIDER,
  type ClientNode,
  type MeshRole,
} from '../clients/index.js';

const ROLE_KEY = 'switchyard.dev/role';
const GATEWAY_KEY = 'switchyard.dev/gateway';
/**
 * Proxyless gRPC: names the certificate provider instance of the node's bootstrap holding its
 * workload certificate (gRFC A29); only such a node is sent TLS naming that instance.
 */
export const CERTIFICATE_PROVIDER_KEY = 'switchyard.dev/certificate-provider';

/** The parts of envoy.config.core.v3.Node the server reads, as protobufjs decodes them. */
export interface NodeInfo extends ClientNode {
  id?: string;
  cluster?: string;
  /** google.protobuf.Struct as protobufjs decodes it: `{ fields: { key: { stringValue } } }`. */
  metadata?: { fields?: Record<string, { stringValue?: string } | undefined> };
}

export class NodeGroupError extends Error {}

/**
 * gRPC's xDS clients name themselves "gRPC Node Pure JS", "gRPC Go", "gRPC Java", "gRPC C-core"...;
 * Envoy says "envoy".
 */
function isGrpcLibrary(userAgentName: string | undefined): boolean {
  return userAgentName !== undefined && /\bgrpc\b/i.test(userAgentName);
}

function metadataString(node: NodeInfo, key: string): string | undefined {
  const value = node.metadata?.fields?.[key]?.stringValue;
  return value === undefined || value === '' ? undefined : value;
}

/** Proxies whose profiles give the same configuration share the group. */
function meshGroup(role: MeshRole, node: NodeInfo): ProxyGroup {
  const provider = metadataString(node, CERTIFICATE_PROVIDER_KEY);
  if (provider !== undefined && provider !== WORKLOAD_CERTIFICATE_PROVIDER) {
    throw new NodeGroupError(
      `node "${node.id ?? ''}": metadata ${CERTIFICATE_PROVIDER_KEY}="${provider}" is not the instance Switchyard names; ` +
        `call the bootstrap's certificate_providers entry "${WORKLOAD_CERTIFICATE_PROVIDER}" and set the key to it`,
    );
  }
  const profile = clientProfile(identifyClient(node));
  const lacks = profile.lacks('security');
  if (provider !== undefined && role === 'proxyless' && lacks) {
    // Told TLS naming the instance it would still refuse it: served plain text, and said why.
    log.warn('node declares the workload certificate provider but its client has no gRFC A29: served plain text', {
      node: node.id ?? '',
      reason: lacks,
    });
  }
  return meshGroupName(role, servedShape(profile, role, provider !== undefined));
}

/**
 * The workload a sidecar (or an xDS-enabled gRPC server) serves, as the injector writes it into
 * the node metadata from the downward API. Any part may be missing (a proxy started by hand).
 */
export interface NodeWorkload {
  namespace?: string;
  pod?: string;
  podIP?: string;
  serviceAccount?: string;
}

export const WORKLOAD_METADATA_KEYS = {
  namespace: 'switchyard.dev/namespace',
  pod: 'switchyard.dev/pod',
  podIP: 'switchyard.dev/pod-ip',
  serviceAccount: 'switchyard.dev/service-account',
} as const;

export function nodeWorkload(node: NodeInfo): NodeWorkload {
  const workload: NodeWorkload = {};
  for (const [field, key] of Object.entries(WORKLOAD_METADATA_KEYS) as Array<[keyof NodeWorkload, string]>) {
    const value = metadataString(node, key);
    if (value !== undefined) workload[field] = value;
  }
  return workload;
}

/** The node's group; throws NodeGroupError (a message for the client) when its metadata is contradictory. */
export function nodeGroup(node: NodeInfo): ProxyGroup {
  const role = metadataString(node, ROLE_KEY);
  switch (role) {
    case 'gateway': {
      const name = metadataString(node, GATEWAY_KEY);
      if (!name) {
        throw new NodeGroupError(`node "${node.id ?? ''}": metadata ${ROLE_KEY}=gateway needs ${GATEWAY_KEY} set to the gateway's name`);
      }
      return gatewayGroup(name);
    }
    case 'proxyless':
    case 'sidecar':
      return meshGroup(role, node);
    case undefined:
      return meshGroup(isGrpcLibrary(node.userAgentName ?? undefined) ? 'proxyless' : 'sidecar', node);
    default:
      throw new NodeGroupError(`node "${node.id ?? ''}": metadata ${ROLE_KEY}="${role}" is not a role; use sidecar, gateway or proxyless`);
  }
}
