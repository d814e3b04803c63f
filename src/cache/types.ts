// The contract between the translator side (which writes resources) and the xDS server
// (which reads them and is woken by change sets). The cache knows protobuf bytes and
// groups of proxies; it knows nothing of Kubernetes.
import type { TypeUrl, XdsResource } from '../envoy/protos.js';
import type { Violation } from '../envoy/validation-rules.js';

/**
 * A proxy group: every proxy in a group receives the same resources.
 * - `sidecar`: Envoy sidecars (the default role)
 * - `proxyless`: proxyless gRPC clients (API listeners, no Envoy-only features)
 * - `gateway/<name>`: the Envoy edge gateway named <name>
 */
export type ProxyGroup = string;
export const SIDECAR_GROUP: ProxyGroup = 'sidecar';
export const PROXYLESS_GROUP: ProxyGroup = 'proxyless';
export function gatewayGroup(gatewayName: string): ProxyGroup {
  return `gateway/${gatewayName}`;
}

/**
 * A resource the cache encoded (and checked against Envoy's rules) ahead of `apply`: a change may
 * carry it instead of the plain value, which can then be dropped at once rather than live until
 * the batch is applied (a 10,000-Service first flush otherwise holds every translated object).
 */
export type EncodedResource = {
  readonly typeUrl: TypeUrl;
  readonly name: string;
} & (
  | {
      /** Its stored form. */
      readonly cached: CachedResource;
      readonly violations?: undefined;
    }
  | {
      readonly cached?: undefined;
      /** The Envoy validation rules it breaks (refused by `apply`, as the plain value would be). */
      readonly violations: readonly Violation[];
    }
);

/** What a change carries per resource: the plain value, or its encoded form. */
export type OfferedResource = XdsResource | EncodedResource;

/** Whether a resource in a change is already encoded. */
export function isEncoded(resource: OfferedResource): resource is EncodedResource {
  return !('value' in resource);
}

/** One change to one group's resources of one type. */
export interface GroupChange {
  group: ProxyGroup;
  typeUrl: TypeUrl;
  /** The complete new set for this group and type: names absent from it are removed. */
  set?: OfferedResource[];
  /** Added or replaced resources (ignored when `set` is given). */
  upserts?: OfferedResource[];
  /** Names removed (ignored when `set` is given). */
  removals?: string[];
}

/** A stored resource, encoded once and shared by every group and stream that has it. */
export interface CachedResource {
  readonly typeUrl: TypeUrl;
  readonly name: string;
  /** A hash of `bytes`: equal bytes, equal version. */
  readonly version: string;
  /** The resource message itself, encoded. */
  readonly bytes: Uint8Array;
  /** google.protobuf.Any { type_url, value: bytes }, encoded — what a SotW response carries. */
  readonly anyBytes: Uint8Array;
  /** envoy.service.discovery.v3.Resource { name, version, resource: Any }, encoded — what a delta response carries. */
  readonly deltaBytes: Uint8Array;
}

/** What one `apply` changed: per group, per type, the names whose bytes changed or that went away. */
export type ChangeSet = Map<ProxyGroup, Map<TypeUrl, { changed: Set<string>; removed: Set<string> }>>;

/** A resource the cache would not take because it breaks one of Envoy's validation rules. */
export interface RefusedResource {
  group: ProxyGroup;
  typeUrl: TypeUrl;
  name: string;
  /** One line per broken rule: `Cluster "shop/cart/80": a.b.c: must be <= 65535 (uint32.lte)`. */
  violations: string[];
}

export interface ResourceCache {
  /**
   * Encodes and checks a resource now, for a later `apply` (an encoded one comes back as it is).
   * Throws when it cannot be encoded at all; `group` only names where in that error.
   */
  encode?(resource: OfferedResource, group?: ProxyGroup): EncodedResource;
  /** Applies a batch; notifies listeners once with exactly what changed (not at all if nothing did). */
  apply(changes: GroupChange[]): ChangeSet;
  /** The group's current resources of a type, by name. */
  resources(group: ProxyGroup, typeUrl: TypeUrl): ReadonlyMap<string, CachedResource>;
  get(group: ProxyGroup, typeUrl: TypeUrl, name: string): CachedResource | undefined;
  /** A version for the group's whole set of a type (SotW `version_info`): changes when any member changes. */
  setVersion(group: ProxyGroup, typeUrl: TypeUrl): string;
  groups(): ProxyGroup[];
  onChange(listener: (changes: ChangeSet) => void): () => void;
  /** Told of each resource refused for breaking an Envoy rule (the group keeps its last good version). */
  onRefused?(listener: (refused: RefusedResource) => void): () => void;
}
