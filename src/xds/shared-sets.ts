// The resource entries of a group's complete set of one type, assembled once per set version
// and shared by every stream that sends that set: wildcard LDS and CDS on SotW streams, and any
// first response that carries the whole set (what 2,000 proxies connecting at once all get).
import type { CachedResource, ProxyGroup, ResourceCache } from '../cache/types.js';
import type { TypeUrl } from '../envoy/protos.js';
import { resourceEntriesBytes } from './wire.js';

export interface SharedFullSet {
  version: string;
  resources: CachedResource[];
  /** The same resources by name; never modified (streams keep it as the base of what they sent). */
  byName: ReadonlyMap<string, CachedResource>;
  /** Each resource's version by name (assembled when first asked for), likewise shared. */
  readonly versions: ReadonlyMap<string, string>;
  /** DiscoveryResponse.resources entries, ready to follow a response's own fields. */
  readonly body: Buffer;
  /** DeltaDiscoveryResponse.resources entries, likewise (assembled when first asked for). */
  readonly deltaBody: Buffer;
  /** Whether `names` are exactly this set's names. Answered once per names object: thousands of
   * streams share one pooled subscription, and each first request would look up every name. */
  holdsExactly(names: ReadonlySet<string>): boolean;
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
    let body: Buffer | undefined;
    let deltaBody: Buffer | undefined;
    let versions: Map<string, string> | undefined;
    const byName = new Map(resources.map((r) => [r.name, r]));
    const exactly = new WeakMap<ReadonlySet<string>, boolean>();
    const set: SharedFullSet = {
      version,
      resources,
      byName,
      get body() {
        return (body ??= resourceEntriesBytes(resources.map((r) => r.anyBytes)));
      },
      get deltaBody() {
        return (deltaBody ??= resourceEntriesBytes(resources.map((r) => r.deltaBytes)));
      },
      get versions() {
        return (versions ??= new Map(resources.map((r) => [r.name, r.version])));
      },
      holdsExactly(names) {
        let answer = exactly.get(names);
        if (answer === undefined) {
          answer = names.size === byName.size && [...names].every((name) => byName.has(name));
          exactly.set(names, answer);
        }
        return answer;
      },
    };
    this.latest.set(key, set);
    return set;
  }
}
