// Who a client is, from its TLS certificate, and whether the node it claims to be matches.
// Pure functions over the certificate's subject alternative names: the xDS server calls them
// when a stream identifies itself and when it first asks for a type.

/** How a client's certificate must relate to the node it claims to be:
 * - `spiffe`: a URI SAN `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>` whose namespace
 *   and service account are the node's (see `claimedWorkload`);
 * - `dns`: a DNS SAN equal to the node id;
 * - `none`: any node id (the certificate only proves the client holds a key the CA signed). */
export type IdentityRule = 'spiffe' | 'dns' | 'none';

/** Node metadata keys a workload may use to state its namespace and service account. */
const NAMESPACE_KEY = 'switchyard.dev/namespace';
const SERVICE_ACCOUNT_KEY = 'switchyard.dev/service-account';

/** What a verified client certificate says about its holder. */
export interface PeerIdentity {
  /** URI SANs, e.g. spiffe://cluster.local/ns/shop/sa/reviews. */
  uris: string[];
  /** DNS SANs. */
  dnsNames: string[];
}

/** The parts of an Envoy node the rules read (protobufjs' decoded form). */
interface ClaimingNode {
  id?: string;
  metadata?: { fields?: Record<string, { stringValue?: string } | undefined> } | null;
}

export interface SpiffeId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const SPIFFE_WORKLOAD = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

/** The parts of a workload SPIFFE ID, or undefined when `uri` is not one. */
export function parseSpiffeId(uri: string): SpiffeId | undefined {
  const match = SPIFFE_WORKLOAD.exec(uri);
  return match ? { trustDomain: match[1], namespace: match[2], serviceAccount: match[3] } : undefined;
}

/**
 * Node's `subjectaltname` string (`DNS:a.example, URI:spiffe://td/ns/x/sa/y, IP Address:1.2.3.4`)
 * into its URI and DNS names. Values with commas are quoted by Node; such names are not valid
 * SPIFFE IDs or host names, so they are dropped rather than parsed.
 */
export function peerIdentityFromSubjectAltName(subjectAltName: string | undefined): PeerIdentity {
  const identity: PeerIdentity = { uris: [], dnsNames: [] };
  if (!subjectAltName) return identity;
  for (const entry of subjectAltName.split(', ')) {
    const colon = entry.indexOf(':');
    if (colon < 0) continue;
    const kind = entry.slice(0, colon);
    const value = entry.slice(colon + 1);
    if (value.startsWith('"')) continue;
    if (kind === 'URI') identity.uris.push(value);
    else if (kind === 'DNS') identity.dnsNames.push(value.toLowerCase());
  }
  return identity;
}

function metadataString(node: ClaimingNode, key: string): string | undefined {
  const value = node.metadata?.fields?.[key]?.stringValue;
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The namespace and service account a node claims, for the `spiffe` rule. Two ways, both checked
 * when both are present:
 * - metadata `switchyard.dev/namespace` and `switchyard.dev/service-account`;
 * - a node id of the form `<anything>~<namespace>~<service-account>` (the last two `~` parts).
 * Returns an error message when the node claims nothing usable.
 */
export function claimedWorkloads(node: ClaimingNode): Array<{ namespace: string; serviceAccount: string; from: string }> | string {
  const claims: Array<{ namespace: string; serviceAccount: string; from: string }> = [];
  const namespace = metadataString(node, NAMESPACE_KEY);
  const serviceAccount = metadataString(node, SERVICE_ACCOUNT_KEY);
  if ((namespace === undefined) !== (serviceAccount === undefined)) {
    return `node metadata sets only one of ${NAMESPACE_KEY} and ${SERVICE_ACCOUNT_KEY}; set both or neither`;
  }
  if (namespace !== undefined && serviceAccount !== undefined) claims.push({ namespace, serviceAccount, from: 'node metadata' });
  const parts = (node.id ?? '').split('~');
  if (parts.length >= 3 && parts[parts.length - 2] !== '' && parts[parts.length - 1] !== '') {
    claims.push({ namespace: parts[parts.length - 2], serviceAccount: parts[parts.length - 1], from: 'node id' });
  }
  if (claims.length === 0) {
    return `node id "${node.id ?? ''}" names no workload: use <name>~<namespace>~<service-account>, or set metadata ${NAMESPACE_KEY} and ${SERVICE_ACCOUNT_KEY}`;
  }
  return claims;
}

interface IdentityPolicy {
  rule: IdentityRule;
  /** With `spiffe`: the only trust domain accepted; any when unset. */
  trustDomain?: string;
}

/**
 * Whether a client with this certificate may speak as this node. Undefined when it may; otherwise
 * the reason, worded for the client (it goes into the PERMISSION_DENIED status).
 */
export function nodeIdentityRefusal(policy: IdentityPolicy, peer: PeerIdentity | undefined, node: ClaimingNode): string | undefined {
  if (policy.rule === 'none') return undefined;
  const nodeId = node.id ?? '';
  if (!peer) return `node "${nodeId}": identity rule "${policy.rule}" needs a verified client certificate, and the connection has none`;
  if (policy.rule === 'dns') {
    if (nodeId !== '' && peer.dnsNames.includes(nodeId.toLowerCase())) return undefined;
    const names = peer.dnsNames.length > 0 ? peer.dnsNames.join(', ') : 'none';
    return `node "${nodeId}": no DNS name in the client certificate equals the node id (certificate DNS names: ${names})`;
  }
  const workloads = peer.uris.map(parseSpiffeId).filter((id): id is SpiffeId => id !== undefined);
  const trusted = policy.trustDomain === undefined ? workloads : workloads.filter((id) => id.trustDomain === policy.trustDomain);
  if (trusted.length === 0) {
    const domain = policy.trustDomain === undefined ? '' : ` in trust domain "${policy.trustDomain}"`;
    return `node "${nodeId}": the client certificate carries no SPIFFE ID spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>${domain} (URI SANs: ${peer.uris.join(', ') || 'none'})`;
  }
  const claims = claimedWorkloads(node);
  if (typeof claims === 'string') return claims;
  for (const claim of claims) {
    const matches = trusted.some((id) => id.namespace === claim.namespace && id.serviceAccount === claim.serviceAccount);
    if (!matches) {
      return `node "${nodeId}": its ${claim.from} claims namespace "${claim.namespace}" and service account "${claim.serviceAccount}", but the client certificate is ${trusted.map(spiffeString).join(', ')}`;
    }
  }
  return undefined;
}

function spiffeString(id: SpiffeId): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}
