// A set version (SotW version_info, delta system_version_info) belongs to one group's set of one
// type: a client's ACK of one must never stand for another, and a change to one set must not
// move (or freeze) the version of another.
import { ResourceCache } from '../../src/cache/cache.js';
import { PROXYLESS_GROUP, SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { cluster, listener } from '../support/xds-fixtures.js';

describe('set versions', () => {
  it('differ between groups holding different sets, and between types of one group', () => {
    const cache = new ResourceCache();
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Listener, set: [listener('outbound-http', 'outbound')] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/b/80')] },
    ]);
    const sidecarClusters = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    const sidecarListeners = cache.setVersion(SIDECAR_GROUP, TypeUrl.Listener);
    const proxylessClusters = cache.setVersion(PROXYLESS_GROUP, TypeUrl.Cluster);
    expect(new Set([sidecarClusters, sidecarListeners, proxylessClusters]).size).toBe(3);
  });

  it('are equal for equal sets whatever the group (replicas and groups agree by content)', () => {
    const cache = new ResourceCache();
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80'), cluster('shop/b/80')] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/b/80'), cluster('shop/a/80')] },
    ]);
    expect(cache.setVersion(PROXYLESS_GROUP, TypeUrl.Cluster)).toBe(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
    const other = new ResourceCache();
    other.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/b/80'), cluster('shop/a/80')] }]);
    expect(other.setVersion(SIDECAR_GROUP, TypeUrl.Cluster)).toBe(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
  });

  it('move with their own set only', () => {
    const cache = new ResourceCache();
    cache.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] },
      { group: PROXYLESS_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] },
    ]);
    const sidecarBefore = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    const proxylessBefore = cache.setVersion(PROXYLESS_GROUP, TypeUrl.Cluster);

    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('shop/a/80', 7)] }]);
    expect(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster)).not.toBe(sidecarBefore);
    expect(cache.setVersion(PROXYLESS_GROUP, TypeUrl.Cluster)).toBe(proxylessBefore);

    // A removal moves it too, and putting the set back brings the old version back.
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [] }]);
    const empty = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    expect(empty).not.toBe(sidecarBefore);
    cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('shop/a/80')] }]);
    expect(cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster)).toBe(sidecarBefore);
  });

  it('follow every change once asked for: the version after a run of changes is the version of the resulting set built afresh', () => {
    // Upserts, removals and whole-set replacements over a few names, each checked against a
    // fresh cache holding the same set: a version kept up to date change by change must agree.
    const names = ['shop/a/80', 'shop/b/80', 'shop/c/80', 'shop/d/80'];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return (seed >>> 16) % n;
    };
    const cache = new ResourceCache();
    const held = new Map<string, number>();
    const versionOf = new Map<string, string>();
    cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
    for (let step = 0; step < 200; step++) {
      const name = names[random(names.length)];
      const op = random(3);
      if (op === 0) {
        const timeout = 1 + random(3);
        cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster(name, timeout)] }]);
        held.set(name, timeout);
      } else if (op === 1) {
        cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, removals: [name] }]);
        held.delete(name);
      } else {
        const kept = names.filter(() => random(2) === 0);
        held.clear();
        for (const n of kept) held.set(n, 1);
        cache.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: kept.map((n) => cluster(n)) }]);
      }
      const version = cache.setVersion(SIDECAR_GROUP, TypeUrl.Cluster);
      const fresh = new ResourceCache();
      fresh.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [...held].map(([n, timeout]) => cluster(n, timeout)) }]);
      expect(version).toBe(fresh.setVersion(SIDECAR_GROUP, TypeUrl.Cluster));
      // Equal sets, equal versions; another set, another version.
      const content = JSON.stringify([...held].sort());
      for (const [otherContent, otherVersion] of versionOf) expect(otherVersion === version).toBe(otherContent === content);
      versionOf.set(content, version);
    }
    expect(versionOf.size).toBeGreaterThan(20);
  });
});
