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
});
