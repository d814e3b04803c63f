// Faults survived with nothing lost: a control-plane restart under 500 delta streams, and a
// burst of 5,000 events through the assembled control plane.
import { ResourceCache } from '../../src/cache/cache.js';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import { toSourceEvent } from '../../src/sources/manifests.js';
import type { EventSink, KubeObject, Source } from '../../src/sources/types.js';
import { XdsServer } from '../../src/xds/server.js';
import { testNode, XdsTestClient, type DecodedDeltaResponse, type DeltaTestStream } from '../support/xds-client.js';
import { cluster, endpoints } from '../support/xds-fixtures.js';

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What a delta client holds: name -> version per type, updated by every response. */
class ClientView {
  readonly byType = new Map<string, Map<string, string>>();
  resourcesReceived = 0;

  apply(response: DecodedDeltaResponse): void {
    const view = this.of(response.typeUrl);
    for (const resource of response.resources) view.set(resource.name, resource.version!);
    for (const name of response.removedResources) view.delete(name);
    this.resourcesReceived += response.resources.length;
  }

  of(typeUrl: string): Map<string, string> {
    let view = this.byType.get(typeUrl);
    if (!view) this.byType.set(typeUrl, (view = new Map()));
    return view;
  }

  matches(cache: ResourceCache, typeUrl: TypeUrl, names?: readonly string[]): boolean {
    const current = cache.resources(SIDECAR_GROUP, typeUrl);
    const view = this.of(typeUrl);
    const wanted = names ? names.filter((name) => current.has(name)) : [...current.keys()];
    return view.size === wanted.length && wanted.every((name) => view.get(name) === current.get(name)!.version);
  }
}

/** One delta stream that keeps its view current and ACKs everything. */
function follow(stream: DeltaTestStream, view: ClientView): { responses: DecodedDeltaResponse[] } {
  const seen = { responses: [] as DecodedDeltaResponse[] };
  const pump = async (): Promise<void> => {
    for (;;) {
      let response: DecodedDeltaResponse;
      try {
        response = await stream.nextAny(60_000);
      } catch {
        return; // the stream ended
      }
      view.apply(response);
      seen.responses.push(response);
      stream.ack(response);
    }
  };
  void pump();
  return seen;
}

function meshResources(changedAfterRestart: boolean): { clusters: XdsResource[]; assignments: XdsResource[] } {
  const clusters: XdsResource[] = [];
  const assignments: XdsResource[] = [];
  for (let i = 0; i < 60; i++) {
    const name = `shop/svc-${i}/80`;
    if (changedAfterRestart && i === 59) continue; // removed while the control plane was down
    clusters.push(cluster(name, changedAfterRestart && i < 3 ? 9 : 1));
    assignments.push(endpoints(name, `10.0.${i}.1`, changedAfterRestart && i % 20 === 0 ? `10.0.${i}.2` : `10.0.${i}.3`));
  }
  if (changedAfterRestart) {
    clusters.push(cluster('shop/svc-new/80'));
    assignments.push(endpoints('shop/svc-new/80', '10.9.9.9'));
  }
  return { clusters, assignments };
}

function loadCache(cache: ResourceCache, changed: boolean): void {
  const { clusters, assignments } = meshResources(changed);
  cache.apply([
    { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: clusters },
    { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, set: assignments },
  ]);
}

describe('faults', () => {
  it('500 delta streams survive a control-plane restart and receive only what changed while it was down', async () => {
    const STREAMS = 500;
    const CHANNELS = 10;
    const edsNames = (i: number) => [
      ...new Set([`shop/svc-${i % 60}/80`, `shop/svc-${(i + 20) % 60}/80`, `shop/svc-59/80`, 'shop/svc-new/80']),
    ];

    const before = new ResourceCache();
    loadCache(before, false);
    const first = new XdsServer({ cache: before });
    first.setReady();
    const port = await first.start(0);

    const channels = Array.from({ length: CHANNELS }, () => new XdsTestClient(port));
    const views = Array.from({ length: STREAMS }, () => new ClientView());
    const open = (i: number, initial?: ClientView) => {
      const stream = channels[i % CHANNELS].delta();
      const followed = follow(stream, views[i]);
      stream.request({
        typeUrl: TypeUrl.Cluster,
        node: testNode({ id: `envoy-${i}` }),
        ...(initial ? { initialResourceVersions: Object.fromEntries(initial.of(TypeUrl.Cluster)) } : {}),
      });
      stream.request({
        typeUrl: TypeUrl.ClusterLoadAssignment,
        subscribe: edsNames(i),
        ...(initial ? { initialResourceVersions: Object.fromEntries(initial.of(TypeUrl.ClusterLoadAssignment)) } : {}),
      });
      return { stream, followed };
    };
    try {
      const firstStreams = views.map((_, i) => open(i));
      await waitFor(
        () =>
          views.every(
            (view, i) => view.matches(before, TypeUrl.Cluster) && view.matches(before, TypeUrl.ClusterLoadAssignment, edsNames(i)),
          ),
        'every stream synced before the restart',
      );
      expect(first.streams()).toHaveLength(STREAMS);

      // The control plane goes away; while it is down three clusters change, one goes, one comes,
      // and three ClusterLoadAssignments change.
      first.forceShutdown();
      await Promise.all(firstStreams.map(({ stream }) => stream.status));
      const after = new ResourceCache();
      loadCache(after, true);
      const second = new XdsServer({ cache: after });
      second.setReady();
      await second.start(port);
      try {
        const receivedBefore = views.map((view) => view.resourcesReceived);
        const secondStreams = views.map((view, i) => open(i, view));
        await waitFor(
          () =>
            views.every(
              (view, i) => view.matches(after, TypeUrl.Cluster) && view.matches(after, TypeUrl.ClusterLoadAssignment, edsNames(i)),
            ),
          'every stream on the current state after the restart',
        );
        expect(second.streams()).toHaveLength(STREAMS);
        for (const [i, { followed }] of secondStreams.entries()) {
          const cds = followed.responses.filter((r) => r.typeUrl === TypeUrl.Cluster);
          const eds = followed.responses.filter((r) => r.typeUrl === TypeUrl.ClusterLoadAssignment);
          // Only the differences: 3 changed clusters and the new one; svc-59 removed.
          expect([i, cds.flatMap((r) => r.names).sort(), cds.flatMap((r) => r.removedResources)]).toEqual([
            i,
            ['shop/svc-0/80', 'shop/svc-1/80', 'shop/svc-2/80', 'shop/svc-new/80'],
            ['shop/svc-59/80'],
          ]);
          const changedAssignments = edsNames(i)
            .filter((name) => name === 'shop/svc-new/80' || /svc-(0|20|40)\//.test(name))
            .sort();
          expect([i, eds.flatMap((r) => r.names).sort()]).toEqual([i, changedAssignments]);
          expect(eds.flatMap((r) => r.removedResources)).toEqual(['shop/svc-59/80']);
          expect(views[i].resourcesReceived - receivedBefore[i]).toBe(4 + changedAssignments.length);
        }
      } finally {
        second.forceShutdown();
      }
    } finally {
      for (const channel of channels) channel.close();
      first.forceShutdown();
    }
  });

  it('a burst of 5,000 EndpointSlice events is coalesced into few pushes and every client ends on the final state', async () => {
    const SERVICES = 50;
    const EVENTS = 5000;
    const service = (i: number): KubeObject =>
      ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `svc-${i}`, namespace: 'shop' },
        spec: { ports: [{ name: 'http', port: 8080 }] },
      }) as unknown as KubeObject;
    const slice = (i: number, generation: number): KubeObject =>
      ({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `svc-${i}-abc`, namespace: 'shop', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080 }],
        endpoints: [
          { addresses: [`10.1.${i}.${generation % 250}`], conditions: { ready: true } },
          { addresses: [`10.2.${i}.1`], conditions: { ready: generation % 2 === 0 } },
        ],
      }) as unknown as KubeObject;

    let sink: EventSink | undefined;
    const source: Source = {
      async start(deliver) {
        sink = deliver;
        deliver([
          ...Array.from({ length: SERVICES }, (_, i) => toSourceEvent(service(i))),
          ...Array.from({ length: SERVICES }, (_, i) => toSourceEvent(slice(i, 0))),
        ]);
      },
      async stop() {
        sink = undefined;
      },
    };
    const app: Switchyard = await startSwitchyard({
      sources: [source],
      xdsPort: 0,
      adminPort: null,
      debounce: { quietMs: 50, maxMs: 1000 },
    });
    const client = new XdsTestClient(app.xdsPort);
    try {
      await app.ready;
      const clusterNames = Array.from({ length: SERVICES }, (_, i) => `shop/svc-${i}/8080`);
      const views = Array.from({ length: 20 }, () => new ClientView());
      const followed = views.map((view, i) => {
        const stream = client.delta();
        const seen = follow(stream, view);
        stream.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: `burst-${i}` }) });
        stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: clusterNames });
        return seen;
      });
      await waitFor(
        () =>
          views.every(
            (view) =>
              view.matches(app.cache, TypeUrl.ClusterLoadAssignment, clusterNames) &&
              view.of(TypeUrl.ClusterLoadAssignment).size === SERVICES,
          ),
        'initial sync',
      );
      const edsResponsesBefore = followed.map((seen) => seen.responses.filter((r) => r.typeUrl === TypeUrl.ClusterLoadAssignment).length);
      const flushesBefore = app.pipeline.flushCount;

      // 5,000 events, one at a time, as fast as a watch could deliver them.
      const finalGeneration = new Map<number, number>();
      for (let n = 1; n <= EVENTS; n++) {
        const i = n % SERVICES;
        finalGeneration.set(i, n);
        sink!([toSourceEvent(slice(i, n))]);
      }
      await waitFor(
        () =>
          views.every((view) => view.matches(app.cache, TypeUrl.ClusterLoadAssignment, clusterNames)) &&
          app.pipeline.flushCount > flushesBefore,
        'every client on the final state',
      );

      const flushes = app.pipeline.flushCount - flushesBefore;
      expect(flushes).toBeGreaterThanOrEqual(1);
      expect(flushes).toBeLessThanOrEqual(3);
      // The final state is the last event of every slice.
      for (let i = 0; i < SERVICES; i++) {
        const assignment = app.cache.get(SIDECAR_GROUP, TypeUrl.ClusterLoadAssignment, `shop/svc-${i}/8080`)!;
        expect(Buffer.from(assignment.bytes).toString('latin1')).toContain(`10.1.${i}.${finalGeneration.get(i)! % 250}`);
      }
      for (const [k, seen] of followed.entries()) {
        const edsResponses = seen.responses.filter((r) => r.typeUrl === TypeUrl.ClusterLoadAssignment).length - edsResponsesBefore[k];
        expect(edsResponses).toBeLessThanOrEqual(flushes);
      }
    } finally {
      client.close();
      await app.stop();
    }
  });
});
