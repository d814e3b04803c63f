// The resource entries of a group's complete set of one type, assembled once per set version
// and shared by every stream that sends that set (wildcard LDS and CDS on SotW streams).
import type { CachedResource, ProxyGroup, ResourceCache } from '../cache/types.js';
import type { TypeUrl } from '../protos.js';
import { sotwResourcesBytes } from './wire.js';

export interface SharedFullSet {
  version: string;
  resources: CachedResource[];
  /** The same resources by name; never modified (streams copy it before changing their own view). */
  byName: ReadonlyMap<string, CachedResource>;
  /** DiscoveryResponse.resources entries, ready to follow a response's own fields. */
  body: Buffer;
}

export class SharedFullSets {
  /** Only the latest set per group and type: older versions are not sent again. */
  private readonly latest = new Map<string, SharedFullSet>();

  constructor(private readonly cache: ResourceCache) {}

  get(group: ProxyGroup, typeUrl: TypeUrl): SharedFullSet {
    const key = `${group}\0${typeUrl}`;
    const version = this.cache.setVersion(group, typeUrl);
    const memo = this.latest.get(key);
    if (memo && memo.version === version) return memo;
    const resources = [...this.cache.resources(group, typeUrl).values()];
    const set = {
      version,
      resources,
      byName: new Map(resources.map((r) => [r.name, r])),
      body: sotwResourcesBytes(resources.map((r) => r.anyBytes)),
    };
    this.latest.set(key, set);
    return set;
  }
}
