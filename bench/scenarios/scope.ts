// scope: a scoped mesh inside this process. S Services in namespaces of 100, every Namespace
// annotated `switchyard.dev/egress: "./*,ns-0/*,ns-1/*"` (its own and two shared namespaces).
// For a sidecar of every namespace, its group is chosen and built exactly as the xDS server does
// when a stream opens (`workloadGroup`, `ensureGroup`); the figure per proxy is what a full sync
// of that group carries: the bytes of every Cluster, ClusterLoadAssignment, Listener and
// RouteConfiguration it holds, against the unscoped `sidecar` group. Then endpoint changes in a
// shared and in an ordinary namespace: the flush's time, and how many groups' resources changed.
// One pod per namespace carries its own annotation, "./*" (its namespace only, replacing the
// namespace's scope): its sidecar's group and bytes are measured the same way.
import { startSwitchyard } from '../../src/app.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { configureLog } from '../../src/log.js';
import type { KubeObject, NamespaceObject, PodObject, SourceEvent } from '../../src/sources/types.js';
import type { FlushReport } from '../../src/pipeline/pipeline.js';
import type { Flags } from '../flags.js';
import { MemorySource } from '../memory-source.js';
import { Mesh } from '../mesh.js';
import { mb, ms, type Row } from '../report.js';
import { meshOptions } from '../servers.js';

const PER_NAMESPACE = 100;
const SHARED = ['ns-0', 'ns-1'];
const TYPES = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];

export async function runScope(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  if (flags.target) throw new Error('scope runs inside the bench process: it cannot be pointed at an external --target');
  const mesh = new Mesh({ ...meshOptions(flags), servicesPerNamespace: PER_NAMESPACE });
  const namespaces = [...new Set(mesh.services.map((s) => s.namespace))];
  const egress = ['./*', ...SHARED.map((ns) => `${ns}/*`)].join(',');
  const namespaceEvents: SourceEvent[] = namespaces.map((name) => {
    const object: NamespaceObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, annotations: { 'switchyard.dev/egress': egress } },
    };
    // Namespaces are not among the kinds a manifest's object union names; the model reads their metadata only.
    return { type: 'upsert', ref: { kind: 'Namespace', namespace: '', name }, object: object as unknown as KubeObject };
  });
  const podEvents: SourceEvent[] = namespaces.map((namespace, index) => {
    const object: PodObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'narrow-0', namespace, annotations: { 'switchyard.dev/egress': './*' } },
      spec: { containers: [{ name: 'app' }] },
      status: { podIP: `10.250.${index >> 8}.${index & 255}` },
    };
    return { type: 'upsert', ref: { kind: 'Pod', namespace, name: 'narrow-0' }, object };
  });
  // In this process: quiet, as the other scenarios run the server (one line per built group otherwise).
  if (process.env.SWITCHYARD_LOG_LEVEL === undefined) configureLog({ level: 'warn' });
  const source = new MemorySource([...namespaceEvents, ...podEvents, ...mesh.initialEvents()]);
  const started = performance.now();
  const app = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: null, debounce: { quietMs: 1, maxMs: 20 } });
  try {
    await app.ready;
    const readyMs = performance.now() - started;
    const groupBytes = (group: string): number => {
      let total = 0;
      for (const typeUrl of TYPES) for (const resource of app.cache.resources(group, typeUrl).values()) total += resource.bytes.length;
      return total;
    };
    const unscoped = groupBytes('sidecar');
    const encodesBefore = app.cache.stats().encodes;
    const storedBefore = app.cache.stats().storedResources;
    const buildStarted = performance.now();
    const groups = new Map<string, string>();
    for (const namespace of namespaces) {
      // What the server does when a sidecar of this namespace opens its stream.
      const group = app.pipeline.workloadGroup('sidecar', { namespace });
      app.pipeline.ensureGroup(group);
      groups.set(namespace, group);
    }
    const buildMs = performance.now() - buildStarted;
    const scopedBytes = namespaces.filter((ns) => !SHARED.includes(ns)).map((ns) => groupBytes(groups.get(ns)!));
    const meanScoped = scopedBytes.reduce((a, b) => a + b, 0) / scopedBytes.length;
    const encodes = app.cache.stats().encodes - encodesBefore;
    const stored = app.cache.stats().storedResources - storedBefore;
    log(`scope: ${namespaces.length} scoped groups built in ${ms(buildMs)}; ${encodes} encodes, ${stored} new stored resources`);
    // The pods with their own scope: the outbound part of their group (before `@<shape id>`).
    const podGroups = new Set<string>();
    for (const namespace of namespaces) {
      const group = app.pipeline.workloadGroup('sidecar', { namespace, pod: 'narrow-0' });
      app.pipeline.ensureGroup(group);
      podGroups.add(group.split('@')[0]);
    }
    const podScoped = namespaces
      .filter((ns) => !SHARED.includes(ns))
      .map((ns) => groupBytes(app.pipeline.workloadGroup('sidecar', { namespace: ns, pod: 'narrow-0' }).split('@')[0]));
    const meanPodScoped = podScoped.reduce((a, b) => a + b, 0) / podScoped.length;

    /** One endpoint change, flushed at once: its flush time and how many groups' resources changed. */
    const change = async (serviceIndex: number): Promise<{ flushMs: number; resources: number }> => {
      const flushed = new Promise<FlushReport>((resolve) => app.pipeline.once('flushed', resolve));
      source.emit([mesh.endpointChange(serviceIndex).event]);
      app.pipeline.flushNow();
      const report = await flushed;
      return { flushMs: report.translateSeconds * 1000, resources: report.changedResources };
    };
    const inShared = await change(0); // ns-0: every scoped group holds it (one assignment per group)
    const inOrdinary = await change(PER_NAMESPACE * 50); // ns-50: only its own group's and the unscoped group's
    const memory = process.memoryUsage();
    const rows: Row[] = [
      {
        figure: 'Services / namespaces / distinct scoped groups',
        value: `${mesh.services.length} / ${namespaces.length} / ${new Set(groups.values()).size}`,
      },
      { figure: 'start -> ready (unscoped group only)', value: ms(readyMs) },
      { figure: 'sync bytes per proxy, unscoped sidecar', value: mb(unscoped) },
      { figure: `sync bytes per proxy, scoped to own + ${SHARED.length} namespaces (mean)`, value: mb(meanScoped) },
      { figure: 'unscoped / scoped', value: `${(unscoped / meanScoped).toFixed(1)}x fewer`, target: '>= 20x fewer' },
      {
        figure: `sync bytes per proxy, a pod scoped to its own namespace ("./*", ${podGroups.size} groups), mean`,
        value: `${mb(meanPodScoped)} (${(unscoped / meanPodScoped).toFixed(1)}x fewer)`,
      },
      { figure: `first proxy of every namespace: its scoped group built`, value: ms(buildMs) },
      { figure: 'protobuf encodes for them (listener, route configuration, the 2 base clusters per group)', value: String(encodes) },
      {
        figure: 'endpoint change in a shared namespace: flush, resources changed over all groups',
        value: `${ms(inShared.flushMs)}, ${inShared.resources}`,
      },
      {
        figure: 'endpoint change in an ordinary namespace: flush, resources changed over all groups',
        value: `${ms(inOrdinary.flushMs)}, ${inOrdinary.resources}`,
      },
      { figure: 'bench process RSS / heap used', value: `${mb(memory.rss)} / ${mb(memory.heapUsed)}` },
    ];
    return {
      rows,
      figures: {
        readyMs,
        unscoped,
        meanScoped,
        meanPodScoped,
        buildMs,
        encodes,
        stored,
        inShared,
        inOrdinary,
        rss: memory.rss,
        heapUsed: memory.heapUsed,
      },
    };
  } finally {
    await app.stop();
  }
}
