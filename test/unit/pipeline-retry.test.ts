// A part of a flush that keeps failing is retried with a backoff that doubles, not in a loop,
// and a part that had failed goes out on the next flush once it can.
import { jest } from '@jest/globals';
import { Pipeline, type TranslateFailure } from '../../src/pipeline/pipeline.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { SIDECAR_GROUP, type GroupChange } from '../../src/cache/types.js';
import { endpointsAt, service, slice, upsert, upserts } from '../support/builders.js';

/** A cache that refuses any batch holding a resource of Service shop/b while `refusing`. */
function refusingCache(): { cache: ResourceCache; state: { refusing: boolean; attempts: number } } {
  const cache = new ResourceCache();
  const state = { refusing: true, attempts: 0 };
  const realApply = cache.apply.bind(cache);
  cache.apply = (changes: GroupChange[]) => {
    const names = changes.flatMap((c) => [...(c.upserts ?? []), ...(c.set ?? [])].map((r) => r.name));
    if (state.refusing && names.some((name) => name.startsWith('shop/b/'))) {
      state.attempts++;
      throw new Error('injected encode error');
    }
    return realApply(changes);
  };
  return { cache, state };
}

/** A cache that refuses Service shop/b's resources in one group only, while `refusing`. */
function refusingInGroup(group: string): { cache: ResourceCache; state: { refusing: boolean } } {
  const cache = new ResourceCache();
  const state = { refusing: true };
  const realApply = cache.apply.bind(cache);
  cache.apply = (changes: GroupChange[]) => {
    const refused = changes.some(
      (c) => c.group === group && [...(c.upserts ?? []), ...(c.set ?? [])].some((r) => r.name.startsWith('shop/b/')),
    );
    if (state.refusing && refused) throw new Error('injected encode error');
    return realApply(changes);
  };
  return { cache, state };
}

describe('pipeline retries', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('backs off while a part keeps failing: 1 s, 2 s, 4 s ... up to the maximum', () => {
    jest.useFakeTimers();
    const { cache, state } = refusingCache();
    const pipeline = new Pipeline({ cache, retry: { initialMs: 1000, maxMs: 8000 } });
    const failures: TranslateFailure[] = [];
    pipeline.on('translateFailed', (f) => failures.push(f));
    pipeline.push(
      upserts(service('a'), slice('a-1', 'a', endpointsAt('10.0.0.1')), service('b'), slice('b-1', 'b', endpointsAt('10.0.1.1'))),
    );
    pipeline.flushNow();
    // The first flush: the batch is refused, then b alone (a goes out on its own).
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/a/8080')).toBe(true);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/8080')).toBe(false);
    expect(failures.length).toBe(1);

    // Retries at 1, 3 (1+2), 7 (+4), 15 (+8), 23 (+8) seconds: 5 within 25 s, not hundreds.
    jest.advanceTimersByTime(25_000);
    expect(failures.length).toBe(6);
    expect(failures.every((f) => f.keys.join() === 'shop/b' && f.stage === 'cache')).toBe(true);

    // Fixed: the next retry sends it and the retries stop.
    state.refusing = false;
    jest.advanceTimersByTime(8000);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/8080')).toBe(true);
    expect(pipeline.problems()).toEqual([]);
    const attempts = state.attempts;
    jest.advanceTimersByTime(120_000);
    expect(state.attempts).toBe(attempts);
    expect(failures.length).toBe(6);
    pipeline.stop();
  });

  it('retries a failed part with the next flush, without waiting for the backoff', () => {
    jest.useFakeTimers();
    const { cache, state } = refusingCache();
    const pipeline = new Pipeline({ cache, retry: { initialMs: 60_000, maxMs: 60_000 } });
    pipeline.push(
      upserts(service('a'), slice('a-1', 'a', endpointsAt('10.0.0.1')), service('b'), slice('b-1', 'b', endpointsAt('10.0.1.1'))),
    );
    pipeline.flushNow();
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/8080')).toBe(false);
    state.refusing = false;
    // An unrelated change: its flush carries b's retry too.
    pipeline.push([upsert(slice('a-1', 'a', endpointsAt('10.0.0.2')))]);
    pipeline.flushNow();
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/8080')).toBe(true);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment).has('shop/b/8080')).toBe(true);
    expect(pipeline.problems()).toEqual([]);
    pipeline.stop();
  });

  it('leaves out, at the cache stage, a Service whose resource the cache cannot encode ahead of the batch, and sends it once it can', () => {
    const cache = new ResourceCache();
    const realEncode = cache.encode.bind(cache);
    let refusing = true;
    cache.encode = (resource, group) => {
      if (refusing && resource.name === 'shop/b/8080') throw new Error('resource "shop/b/8080" cannot be encoded (injected)');
      return realEncode(resource, group);
    };
    const pipeline = new Pipeline({ cache, retry: { initialMs: 60_000, maxMs: 60_000 } });
    const failures: TranslateFailure[] = [];
    pipeline.on('translateFailed', (f) => failures.push(f));
    pipeline.push(
      upserts(service('a'), slice('a-1', 'a', endpointsAt('10.0.0.1')), service('b'), slice('b-1', 'b', endpointsAt('10.0.1.1'))),
    );
    pipeline.flushNow();
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/a/8080')).toBe(true);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/8080')).toBe(false);
    expect(failures.map((f) => [f.stage, f.keys.join()])).toEqual([['cache', 'shop/b']]);
    expect(failures[0]!.problem.message).toContain('cannot be encoded');
    refusing = false;
    pipeline.push([upsert(slice('a-1', 'a', endpointsAt('10.0.0.2')))]);
    pipeline.flushNow();
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/8080')).toBe(true);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment).has('shop/b/8080')).toBe(true);
    expect(pipeline.problems()).toEqual([]);
    pipeline.stop();
  });

  it("isolates a failure in a client profile's group: that group's other units and every other group go out, and it recovers", () => {
    // gRPC C-core 1.51.1's group: built on demand when such a client connects.
    const group = 'proxyless+legacy-header-match+no-ring-hash';
    const { cache, state } = refusingInGroup(group);
    const pipeline = new Pipeline({ cache, retry: { initialMs: 60_000, maxMs: 60_000 } });
    const failures: TranslateFailure[] = [];
    const recovered: string[] = [];
    pipeline.on('translateFailed', (f) => failures.push(f));
    pipeline.on('translateRecovered', (p) => recovered.push(p.message));
    pipeline.push(
      upserts(service('a'), slice('a-1', 'a', endpointsAt('10.0.0.1')), service('b'), slice('b-1', 'b', endpointsAt('10.0.1.1'))),
    );
    pipeline.flushNow();
    pipeline.ensureGroup(group);
    expect(pipeline.groups()).toEqual(['proxyless+legacy-header-match+no-ring-hash', SIDECAR_GROUP]);
    expect(cache.resources(group, TypeUrl.Cluster).has('shop/a/8080')).toBe(true);
    expect(cache.resources(group, TypeUrl.Listener).size).toBeGreaterThan(0);
    expect(cache.resources(group, TypeUrl.Cluster).has('shop/b/8080')).toBe(false);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/8080')).toBe(true);
    expect(failures.map((f) => f.keys)).toEqual([['shop/b']]);
    const [problem] = pipeline.problems();
    expect(problem.object).toEqual({ kind: 'Service', namespace: 'shop', name: 'b' });
    expect(problem.message).toContain(`group ${group}`);

    // Still refused: a change to b leaves the group's last good state (none) and keeps the problem.
    pipeline.push([upsert(slice('b-1', 'b', endpointsAt('10.0.1.2')))]);
    pipeline.flushNow();
    expect(cache.resources(group, TypeUrl.Cluster).has('shop/b/8080')).toBe(false);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment).get('shop/b/8080')).toBeDefined();
    expect(pipeline.problems()).toHaveLength(1);

    state.refusing = false;
    pipeline.push([upsert(slice('a-1', 'a', endpointsAt('10.0.0.2')))]);
    pipeline.flushNow();
    expect(cache.resources(group, TypeUrl.Cluster).has('shop/b/8080')).toBe(true);
    expect(cache.resources(group, TypeUrl.ClusterLoadAssignment).has('shop/b/8080')).toBe(true);
    expect(pipeline.problems()).toEqual([]);
    expect(recovered).toHaveLength(1);
    pipeline.stop();
  });

  it("removes a failed Service's stale clusters once it goes out (what was written is recorded only on success)", () => {
    const { cache, state } = refusingCache();
    state.refusing = false;
    const pipeline = new Pipeline({ cache, retry: { initialMs: 60_000, maxMs: 60_000 } });
    pipeline.push(
      upserts(
        service('b', [
          { name: 'http', port: 8080 },
          { name: 'http-admin', port: 7070 },
        ]),
        slice('b-1', 'b', endpointsAt('10.0.1.1')),
      ),
    );
    pipeline.flushNow();
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/7070')).toBe(true);
    // The port goes away while the cache refuses b: nothing changes, then the retry removes it.
    state.refusing = true;
    pipeline.push([upsert(service('b', [{ name: 'http', port: 8080 }]))]);
    pipeline.flushNow();
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/7070')).toBe(true);
    state.refusing = false;
    pipeline.push([upsert(service('a'))]);
    pipeline.flushNow();
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/7070')).toBe(false);
    expect(cache.resources(SIDECAR_GROUP, TypeUrl.Cluster).has('shop/b/8080')).toBe(true);
    pipeline.stop();
  });
});
