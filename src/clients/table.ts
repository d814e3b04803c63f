// The one table of what each xDS client implementation understands, from which version, and the
// known client defects Switchyard steers around. Translation never reads this directly: it asks a
// ClientProfile (profile.ts) for feature flags. Adding a client or a version is one row here.
//
// Sources: gRPC's "xDS Features in gRPC" (grpc/grpc doc/grpc_xds_features.md, the versions where
// each gRFC is on by default; the Node column is @grpc/grpc-js-xds) and Envoy's API and release
// notes. Each row names its own.

export type Implementation = 'envoy' | 'grpc-core' | 'grpc-java' | 'grpc-go' | 'grpc-node' | 'unknown';

/** [major, minor, patch] */
export type Version = readonly [number, number, number];

export const IMPLEMENTATION_NAMES: Record<Implementation, string> = {
  envoy: 'Envoy',
  'grpc-core': 'gRPC C-core',
  'grpc-java': 'gRPC Java',
  'grpc-go': 'gRPC Go',
  'grpc-node': 'gRPC Node',
  unknown: 'unknown client',
};

/** What a client may or may not do with what Switchyard sends. */
export type ClientFeature =
  | 'routing'
  | 'header_string_match'
  | 'timeouts'
  | 'retries'
  | 'ring_hash'
  | 'maglev'
  | 'least_request'
  | 'random'
  | 'typed_lb_policy'
  | 'outlier_detection'
  | 'security'
  | 'server'
  | 'rbac';

interface FeatureRow {
  feature: ClientFeature;
  /** What the feature is, for people reading /debug output and the report. */
  description: string;
  /** The first version with the feature on by default; an implementation left out never has it. */
  since: Partial<Record<Exclude<Implementation, 'unknown'>, Version>>;
  source: string;
}

/** Envoy features older than its v3 API: every Envoy that speaks to Switchyard has them. */
const ENVOY_V3: Version = [1, 13, 0];

export const FEATURE_TABLE: readonly FeatureRow[] = [
  {
    feature: 'routing',
    description: 'path and header matching, weighted clusters (gRFC A28)',
    since: { 'grpc-core': [1, 31, 0], 'grpc-java': [1, 31, 0], 'grpc-go': [1, 31, 0], 'grpc-node': [1, 3, 0], envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A28; Envoy: v3 API',
  },
  {
    feature: 'timeouts',
    description: 'route max_stream_duration (gRFC A31); Envoy uses the route timeout',
    since: { 'grpc-core': [1, 37, 1], 'grpc-java': [1, 37, 1], 'grpc-go': [1, 37, 0], 'grpc-node': [1, 4, 0], envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A31; Envoy: v3 API',
  },
  {
    feature: 'ring_hash',
    description: 'RING_HASH load balancing with header / channel-id hash policies (gRFC A42)',
    since: { 'grpc-core': [1, 40, 0], 'grpc-java': [1, 40, 1], 'grpc-go': [1, 41, 0], 'grpc-node': [1, 10, 0], envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A42; Envoy: v3 API',
  },
  {
    feature: 'retries',
    description: 'route retry_policy (gRFC A44)',
    since: { 'grpc-core': [1, 40, 0], 'grpc-java': [1, 40, 1], 'grpc-go': [1, 41, 0], 'grpc-node': [1, 8, 0], envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A44; Envoy: v3 API',
  },
  {
    feature: 'security',
    description: 'TLS from certificate providers (gRFC A29)',
    since: { 'grpc-core': [1, 41, 0], 'grpc-java': [1, 41, 0], 'grpc-go': [1, 41, 0], 'grpc-node': [1, 13, 0], envoy: ENVOY_V3 },
    source:
      'grpc/grpc doc/grpc_xds_features.md, row A29; grpc-node: XdsServerCredentials and XdsChannelCredentials (grpc/grpc-node#2837, #2866), first in grpc-js-xds 1.13; Envoy: v3 API',
  },
  {
    feature: 'server',
    description: 'xDS-enabled servers (gRFC A36)',
    since: { 'grpc-core': [1, 41, 0], 'grpc-java': [1, 41, 0], 'grpc-go': [1, 41, 0] },
    source: 'grpc/proposal A36 (implemented with A29 in 1.41 of C-core, Java and Go)',
  },
  {
    feature: 'rbac',
    description: 'RBAC HTTP filter (gRFC A41)',
    since: { 'grpc-core': [1, 51, 0], 'grpc-java': [1, 42, 0], 'grpc-go': [1, 42, 0], envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A41; Envoy: v3 API',
  },
  {
    feature: 'least_request',
    description: 'LEAST_REQUEST load balancing (gRFC A48)',
    since: { 'grpc-java': [1, 48, 0], envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A48 (Java only); Envoy: v3 API',
  },
  {
    feature: 'outlier_detection',
    description: 'Cluster outlier_detection (gRFC A50)',
    since: { 'grpc-core': [1, 51, 0], 'grpc-java': [1, 49, 0], 'grpc-go': [1, 50, 0], 'grpc-node': [1, 7, 0], envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A50; Envoy: v3 API',
  },
  {
    feature: 'typed_lb_policy',
    description: 'Cluster load_balancing_policy, the typed policy list (gRFC A52); before it only lb_policy is read',
    since: { 'grpc-core': [1, 55, 0], 'grpc-java': [1, 47, 0], 'grpc-go': [1, 56, 0], 'grpc-node': [1, 10, 0], envoy: [1, 24, 0] },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A52; Envoy: load_balancing_policy extensions for the built-in policies, 1.24',
  },
  {
    feature: 'header_string_match',
    description: 'HeaderMatcher.string_match (gRFC A63); before it only exact_match, safe_regex_match, prefix_match, present_match...',
    since: { 'grpc-core': [1, 56, 0], 'grpc-java': [1, 53, 0], 'grpc-go': [1, 56, 0], 'grpc-node': [1, 9, 0], envoy: [1, 19, 0] },
    source: 'grpc/grpc doc/grpc_xds_features.md, row A63; Envoy: HeaderMatcher.string_match (field 13), 1.19',
  },
  {
    feature: 'maglev',
    description: 'MAGLEV load balancing (no gRPC implementation has it)',
    since: { envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md lists no maglev; Envoy: v3 API',
  },
  {
    feature: 'random',
    description: 'RANDOM load balancing (no gRPC implementation has it)',
    since: { envoy: ENVOY_V3 },
    source: 'grpc/grpc doc/grpc_xds_features.md lists no random policy; Envoy: v3 API',
  },
];

/** A client defect: versions in [from, fixed) misbehave when sent `feature`; it is avoided like a missing feature. */
interface DefectRow {
  implementation: Exclude<Implementation, 'unknown'>;
  feature: ClientFeature;
  from: Version;
  /** The first version with the fix. */
  fixed: Version;
  /** Why, as users will read it after "<client> <version>". */
  effect: string;
  source: string;
}

export const DEFECT_TABLE: readonly DefectRow[] = [
  {
    implementation: 'grpc-core',
    feature: 'ring_hash',
    // Introduced by grpc/grpc#30714 (the SubchannelConnectionAttempter refactoring, first released in 1.51.0).
    from: [1, 51, 0],
    // grpc/grpc#32012 (merged 2023-01-03) is in 1.52.0; its 1.51 backport (#33399, June 2023) came after the last
    // 1.51 release we know of, so every 1.51.x is treated as affected.
    fixed: [1, 52, 0],
    effect: 'crashes the calling process on its first ring-hash pick',
    source: 'grpc/grpc#31766 (crash in the RingHash picker), fixed by grpc/grpc#32012',
  },
];

export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export function formatVersion(version: Version): string {
  return version.join('.');
}
