// The pipeline's promise: work proportional to the change. An EndpointSlice event re-translates
// that one Service and the cache reports only its ClusterLoadAssignment as changed; a burst of
// events becomes one flush; an event that changes no bytes wakes nobody.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pipeline, type FlushReport } from '../../src/pipeline/pipeline.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { loadManifestDir } from '../../src/sources/files.js';
import { decodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { PROXYLESS_GROUP, type ChangeSet } from '../../src/cache/types.js';
import type { EndpointSliceObject, SourceEvent } from '../../src/sources/types.js';
import { endpointsAt, service, slice, upsert } from '../support/builders.js';

const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');

function summarize(changes: ChangeSet): string[] {
  const lines: string[] = [];
  for (const [group, byType] of changes) {
    for (const [typeUrl, { changed, removed }] of byType) {
      const type = typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
      for (const name of changed) lines.push(`${group} ${type} changed ${name}`);
      for (const name of removed) lines.push(`${group} ${type} removed ${name}`);
    }
  }
  return lines.sort();
}

async function examplePipeline(): Promise<{ pipeline: Pipeline; cache: ResourceCache; events: SourceEvent[]; changes: ChangeSet[] }> {
  const cache = new ResourceCache();
  const pipeline = new Pipeline({ cache, debounce: { quietMs: 5, maxMs: 50 } });
  const { events } = await loadManifestDir(examples);
  pipeline.push(events);
  pipeline.flushNow();
  pipeline.ensureGroup(PROXYLESS_GROUP);
  const changes: ChangeSet[] = [];
  cache.onChange((c) => changes.push(c));
  return { pipeline, cache, events, changes };
}

function cartSlice(events: SourceEvent[]): EndpointSliceObject {
  const event = events.find((e) => e.type === 'upsert' && e.ref.kind === 'EndpointSlice' && e.ref.name.startsWith('cart'));
  if (!event || event.type !== 'upsert') throw new Error('examples have no cart EndpointSlice');
  return structuredClone(event.object) as EndpointSliceObject;
}

describe('pipeline', () => {
  it('pushes a debounced flush before analysing it, and analyses every flush the analysis waited for', async () => {
    const cache = new ResourceCache();
    const pipeline = new Pipeline({ cache, debounce: { quietMs: 5, maxMs: 50 } });
    pipeline.push([upsert(service('web'))]);
    pipeline.flushNow();
    const codes = () => pipeline.problemTracker.problems().map((p) => `${p.code} ${p.object.name}`);
    expect(codes()).toEqual([]);

    // Two slices of Services that do not exist, flushed one after the other (the second pushed
    // while the first flush reports) before the analysis has had a turn.
    const seenAtFlush: string[][] = [];
    const flushed = new Promise<void>((resolve) => {
      pipeline.on('flushed', () => {
        seenAtFlush.push(codes());
        if (seenAtFlush.length === 1) pipeline.push([upsert(slice('orphan-b', 'missing-b', endpointsAt('10.0.0.2')))]);
        else resolve();
      });
    });
    pipeline.push([upsert(slice('orphan-a', 'missing-a', endpointsAt('10.0.0.1')))]);
    await flushed;
    // When each flush went out, its problems were not yet analysed: the push came first.
    expect(seenAtFlush).toEqual([[], []]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(codes().sort()).toEqual(['EndpointSliceServiceNotFound orphan-a', 'EndpointSliceServiceNotFound orphan-b']);
    pipeline.stop();
  });

  it('serves sidecars from the first flush, and proxyless gRPC from its first client on', async () => {
    const cache = new ResourceCache();
    const pipeline = new Pipeline({ cache });
    pipeline.push((await loadManifestDir(examples)).events);
    pipeline.flushNow();
    expect([...cache.resources('sidecar', TypeUrl.Cluster).keys()]).toContain('shop/cart/8080');
    expect(cache.resources(PROXYLESS_GROUP, TypeUrl.Listener).size).toBe(0);
    const encodesBefore = cache.stats().encodes;
    pipeline.ensureGroup(PROXYLESS_GROUP);
    expect(cache.resources(PROXYLESS_GROUP, TypeUrl.Listener).has('reviews.shop.svc.cluster.local:9080')).toBe(true);
    expect(cache.resources(PROXYLESS_GROUP, TypeUrl.ClusterLoadAssignment).has('shop/cart/8080')).toBe(true);
    expect(cache.stats().encodes).toBeGreaterThan(encodesBefore);
    pipeline.stop();
  });

  it('builds an assignment once per flush for every group that has its cluster', async () => {
    const { pipeline, cache, events } = await examplePipeline();
    const slice = cartSlice(events);
    slice.endpoints![0].addresses = ['10.9.9.8'];
    const encodesBefore = cache.stats().encodes;
    pipeline.push([upsert(slice)]);
    pipeline.flushNow();
    // The cart cluster (unchanged bytes) is translated per group; its one assignment is encoded once.
    const sidecar = cache.get('sidecar', TypeUrl.ClusterLoadAssignment, 'shop/cart/8080')!;
    expect(cache.get(PROXYLESS_GROUP, TypeUrl.ClusterLoadAssignment, 'shop/cart/8080')).toBe(sidecar);
    expect(cache.stats().encodes - encodesBefore).toBe(3);
    pipeline.stop();
  });

  it('re-translates only the changed Service: one ClusterLoadAssignment per group changes', async () => {
    const { pipeline, events, changes } = await examplePipeline();
    const slice = cartSlice(events);
    slice.endpoints![0].addresses = ['10.9.9.9'];
    pipeline.push([upsert(slice)]);
    pipeline.flushNow();
    expect(changes).toHaveLength(1);
    expect(summarize(changes[0])).toEqual([
      'proxyless ClusterLoadAssignment changed shop/cart/8080',
      'sidecar ClusterLoadAssignment changed shop/cart/8080',
    ]);
    pipeline.stop();
  });

  it('wakes nobody for an event that changes no bytes', async () => {
    const { pipeline, events, changes } = await examplePipeline();
    pipeline.push([upsert(cartSlice(events))]);
    pipeline.flushNow();
    expect(changes).toHaveLength(0);
    pipeline.stop();
  });

  it('keeps the start-up flush time for a caller that subscribes after it ran, and only that one', () => {
    const pipeline = new Pipeline({ cache: new ResourceCache() });
    expect(pipeline.firstFlushSeconds).toBeUndefined();
    const reports: FlushReport[] = [];
    pipeline.on('flushed', (report) => reports.push(report));
    pipeline.push([upsert(service('a')), upsert(slice('a-1', 'a', endpointsAt('10.0.0.1')))]);
    pipeline.flushNow();
    pipeline.push([upsert(slice('a-1', 'a', endpointsAt('10.0.0.2')))]);
    pipeline.flushNow();
    expect(reports).toHaveLength(2);
    expect(pipeline.firstFlushSeconds).toBe(reports[0]!.translateSeconds);
    pipeline.stop();
  });

  it('coalesces a burst of events into one flush that ends on the final state', async () => {
    const { pipeline, cache, events } = await examplePipeline();
    const before = pipeline.flushCount;
    const flushed = new Promise<FlushReport>((resolve) => pipeline.once('flushed', resolve));
    for (let i = 0; i < 200; i++) {
      const slice = cartSlice(events);
      slice.endpoints![0].addresses = [`10.9.${Math.floor(i / 250)}.${i % 250}`];
      pipeline.push([upsert(slice)]);
    }
    const report = await flushed;
    expect(pipeline.flushCount - before).toBe(1);
    expect(report.eventCounts.EndpointSlice).toBe(200);
    const assignment = cache.get('sidecar', TypeUrl.ClusterLoadAssignment, 'shop/cart/8080')!;
    expect(Buffer.from(assignment.bytes).includes(Buffer.from('10.9.0.199'))).toBe(true);
    pipeline.stop();
  });

  it('removes a deleted Service and the routes to it, and nothing else', async () => {
    const { pipeline, changes } = await examplePipeline();
    pipeline.push([{ type: 'delete', ref: { kind: 'Service', namespace: 'shop', name: 'payments' } }]);
    pipeline.flushNow();
    const lines = summarize(changes[0]).filter((l) => l.startsWith('sidecar '));
    expect(lines).toEqual([
      'sidecar Cluster removed shop/payments/50051',
      'sidecar ClusterLoadAssignment removed shop/payments/50051',
      // Its cluster IP's chain goes; payments was the only Service on port 50051.
      'sidecar Listener changed outbound',
      'sidecar RouteConfiguration removed 50051',
    ]);
    pipeline.stop();
  });

  it('re-translates only the sidecar route configurations of the ports a Service change touches', async () => {
    const { pipeline, cache, events } = await examplePipeline();
    const handed: string[] = [];
    const apply = cache.apply.bind(cache);
    cache.apply = (changes) => {
      for (const change of changes) {
        if (change.group !== 'sidecar' || change.typeUrl !== TypeUrl.RouteConfiguration) continue;
        handed.push(...(change.set ?? change.upserts ?? []).map((r) => r.name), ...(change.removals ?? []).map((n) => `-${n}`));
      }
      return apply(changes);
    };
    // cart moves from port 8080 to 8090: configuration 8080 loses its virtual host, 8090 is new;
    // 80 (catalog, frontend) and 50051 (payments) are not touched.
    const cart = events.find((e) => e.type === 'upsert' && e.ref.kind === 'Service' && e.ref.name === 'cart');
    if (!cart || cart.type !== 'upsert') throw new Error('examples have no cart Service');
    const moved = structuredClone(cart.object) as any;
    moved.spec.ports[0].port = 8090;
    pipeline.push([upsert(moved)]);
    pipeline.flushNow();
    expect(handed.sort()).toEqual(['8080', '8090']);
    const hosts = (name: string) => {
      const stored = cache.get('sidecar', TypeUrl.RouteConfiguration, name);
      return stored ? (decodeMessage(TypeUrl.RouteConfiguration, stored.bytes) as any).virtualHosts.map((v: any) => v.name) : undefined;
    };
    expect(hosts('8080')).toEqual(['shop/checkout/8080', 'passthrough']);
    expect(hosts('8090')).toEqual(['shop/cart/8090', 'passthrough']);
    pipeline.stop();
  });
});
