// Mutual TLS between workloads: the TLS contexts of a sidecar's inbound chains (per the Service's
// mTLS mode) and of its clusters to mesh Services. Pure pieces for the listener and cluster
// builders to embed. The workload certificate and the trust bundle are read by Envoy itself from
// the pod's files (file-based SDS, the same two files and secret names as envoy/sidecar.yaml), so
// Switchyard never sees a workload key and a renewed certificate needs no push.
import type { MtlsMode } from '../model/index.js';
import { WORKLOAD_CERTIFICATE_PROVIDER } from '../clients/index.js';
import { DOWNSTREAM_TLS_TYPE, TLS_INSPECTOR_FILTER } from './envoy-filters.js';
import { SharedPartsCluster } from './cluster-bytes.js';

/** The SDS secret names of envoy/workload-certificate.yaml and envoy/trust-bundle.yaml. */
export const WORKLOAD_CERTIFICATE_SECRET = 'workload-certificate';
export const TRUST_BUNDLE_SECRET = 'trust-bundle';
/** Where the sidecar finds those SDS files, and the directory csi-driver-spiffe renews in place. */
export const WORKLOAD_SDS_FILES = {
  workloadCertificate: '/etc/envoy/workload-certificate.yaml',
  trustBundle: '/etc/envoy/trust-bundle.yaml',
  watchedDirectory: '/var/run/secrets/spiffe.io',
} as const;

const TLS_SOCKET = 'envoy.transport_sockets.tls';
const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** A workload's SPIFFE ID. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

function fileSds(name: string, path: string): Record<string, unknown> {
  return {
    name,
    sdsConfig: { resourceApiVersion: 'V3', pathConfigSource: { path, watchedDirectory: { path: WORKLOAD_SDS_FILES.watchedDirectory } } },
  };
}

type SanMatcher = { exact: string } | { prefix: string };

/** The workload certificate, and the peer checked against the trust bundle and these URI SANs (any of them). */
function commonTlsContext(peerSans: SanMatcher[], alpn: string[]): Record<string, unknown> {
  return {
    tlsCertificateSdsSecretConfigs: [fileSds(WORKLOAD_CERTIFICATE_SECRET, WORKLOAD_SDS_FILES.workloadCertificate)],
    combinedValidationContext: {
      defaultValidationContext: { matchTypedSubjectAltNames: peerSans.map((matcher) => ({ sanType: 'URI', matcher })) },
      validationContextSdsSecretConfig: fileSds(TRUST_BUNDLE_SECRET, WORKLOAD_SDS_FILES.trustBundle),
    },
    ...(alpn.length > 0 ? { alpnProtocols: alpn } : {}),
  };
}

/** The transport socket of an inbound TLS chain: a client certificate from the trust domain is required. */
export function inboundTlsTransportSocket(trustDomain: string, http: boolean): Record<string, unknown> {
  return {
    name: TLS_SOCKET,
    typedConfig: {
      '@type': DOWNSTREAM_TLS_TYPE,
      commonTlsContext: commonTlsContext([{ prefix: `spiffe://${trustDomain}/` }], http ? ['h2', 'http/1.1'] : []),
      requireClientCertificate: { value: true },
    },
  };
}

/** One inbound chain variant: what to add to the port's filterChainMatch, and its transport socket (none: plain text). */
export interface InboundChainTls {
  transportProtocol?: 'tls' | 'raw_buffer';
  transportSocket?: Record<string, unknown>;
}

export interface InboundTls {
  /** The chain variants of one inbound port, in order: Strict one TLS chain, Permissive a TLS and a plain one, Disable one plain. */
  chains: InboundChainTls[];
  /** Listener filters the inbound listener needs (the TLS inspector tells TLS from plain text). */
  listenerFilters: Array<Record<string, unknown>>;
}

/** What one inbound port needs for a Service's mTLS mode. */
export function inboundTls(mode: MtlsMode, trustDomain: string, http: boolean): InboundTls {
  const tls: InboundChainTls = { transportProtocol: 'tls', transportSocket: inboundTlsTransportSocket(trustDomain, http) };
  if (mode === 'Strict') return { chains: [tls], listenerFilters: [TLS_INSPECTOR_FILTER] };
  if (mode === 'Permissive') return { chains: [tls, { transportProtocol: 'raw_buffer' }], listenerFilters: [TLS_INSPECTOR_FILTER] };
  return { chains: [{}], listenerFilters: [] };
}

export interface MeshDestination {
  namespace: string;
  /** The service accounts of the destination's pods, when the model knows them. */
  serviceAccounts?: readonly string[];
}

/**
 * The URI SANs a destination may present: its pods' service accounts when known, else any
 * workload of its namespace (a prefix ending in `/`, so `shop` never matches `shop-admin`).
 */
export function destinationSans(trustDomain: string, destination: MeshDestination): SanMatcher[] {
  const accounts = [...new Set(destination.serviceAccounts ?? [])].sort();
  if (accounts.length > 0) return accounts.map((sa) => ({ exact: spiffeId(trustDomain, destination.namespace, sa) }));
  return [{ prefix: `spiffe://${trustDomain}/ns/${destination.namespace}/` }];
}

/** The transport socket of a cluster to a mesh Service: this workload's certificate, the destination's identity checked. */
export function upstreamMeshTransportSocket(trustDomain: string, destination: MeshDestination, http2 = false): Record<string, unknown> {
  return {
    name: TLS_SOCKET,
    typedConfig: {
      '@type': UPSTREAM_TLS_TYPE,
      commonTlsContext: commonTlsContext(destinationSans(trustDomain, destination), http2 ? ['h2'] : []),
    },
  };
}

// A Service mid-rollout (some pods terminate mutual TLS, some not): Envoy picks the transport
// socket per endpoint. The cluster's transport_socket_matches entry applies to endpoints whose
// metadata under `envoy.transport_socket_match` holds TLS_ENDPOINT_MATCH; the others fall back to
// the cluster's own transport socket, none here: plain text. gRPC has no transport_socket_matches
// (gRFC A29 reads only the cluster's transport_socket), so proxyless clusters never get this.

const TRANSPORT_SOCKET_MATCH_FILTER = 'envoy.transport_socket_match';
/** The key and value an endpoint whose pod terminates mutual TLS carries, and the cluster matches on. */
export const TLS_ENDPOINT_MATCH = { key: 'switchyard.dev/tls', value: 'true' } as const;
/** The name of the match (Envoy's stats name it). */
export const TLS_SOCKET_MATCH_NAME = 'mtls';

/** google.protobuf.Struct as protobufjs takes it. */
function struct(entries: Record<string, string>): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, { stringValue: v }])) };
}

/** A cluster's transport_socket_matches for a rollout: mutual TLS to the tagged endpoints, checking these identities. */
export function rolloutTransportSocketMatches(
  trustDomain: string,
  destination: MeshDestination,
  http2: boolean,
): Array<Record<string, unknown>> {
  return [
    {
      name: TLS_SOCKET_MATCH_NAME,
      match: struct({ [TLS_ENDPOINT_MATCH.key]: TLS_ENDPOINT_MATCH.value }),
      transportSocket: upstreamMeshTransportSocket(trustDomain, destination, http2),
    },
  ];
}

/** The LbEndpoint metadata that selects the rollout's TLS socket. */
export function tlsEndpointMetadata(): Record<string, unknown> {
  return { filterMetadata: { [TRANSPORT_SOCKET_MATCH_FILTER]: struct({ [TLS_ENDPOINT_MATCH.key]: TLS_ENDPOINT_MATCH.value }) } };
}

/** Whether a cluster picks its transport socket per endpoint (its assignment must then carry the metadata). */
export function usesEndpointTlsMatch(cluster: { value: object }): boolean {
  // A Cluster of shared parts is asked about those (its name is no transport socket): its plain object is not built for this.
  const fields = cluster instanceof SharedPartsCluster ? cluster.parts : cluster.value;
  return (fields as { transportSocketMatches?: unknown[] }).transportSocketMatches !== undefined;
}

// Proxyless gRPC (gRFC A29): no SDS. Its bootstrap's certificate provider instance `workload`
// (a `file_watcher` on the same files) holds the workload certificate and the trust bundle, so
// both contexts name that instance for the identity and for the CA. gRPC refuses (NACKs) a
// context naming an instance its bootstrap lacks, so these go only to clients whose node says
// it has one (ServedShape.workloadTls).

const PROVIDER = { instanceName: WORKLOAD_CERTIFICATE_PROVIDER };

/** A proxyless client's cluster to a mesh destination: its certificate, the server's identity checked (any listed SAN). */
export function proxylessUpstreamTransportSocket(trustDomain: string, destination: MeshDestination): Record<string, unknown> {
  return {
    name: TLS_SOCKET,
    typedConfig: {
      '@type': UPSTREAM_TLS_TYPE,
      commonTlsContext: {
        tlsCertificateProviderInstance: PROVIDER,
        validationContext: { caCertificateProviderInstance: PROVIDER, matchSubjectAltNames: destinationSans(trustDomain, destination) },
      },
    },
  };
}

/**
 * A proxyless server's listener under Strict: its certificate, and a client certificate from the
 * trust bundle required. No SAN match: C-core refuses match_subject_alt_names on servers
 * ("not supported on servers"); the trust bundle is the trust domain's, and allow rules name callers.
 */
export function proxylessServerTransportSocket(): Record<string, unknown> {
  return {
    name: TLS_SOCKET,
    typedConfig: {
      '@type': DOWNSTREAM_TLS_TYPE,
      commonTlsContext: { tlsCertificateProviderInstance: PROVIDER, validationContext: { caCertificateProviderInstance: PROVIDER } },
      requireClientCertificate: { value: true },
    },
  };
}
