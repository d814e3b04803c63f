// The server under test: Switchyard started in its own process from src/app.ts, fed by an
// in-memory source that the bench runner drives over IPC. Everything the runner reports
// about it is measured from outside (clients, /proc), except the `translate` timing.
import { existsSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envoyRoot } from '../src/envoy/protos.js';
import { MemorySource } from './memory-source.js';
import { Mesh, type MeshOptions } from './mesh.js';
import type { Source, SourceEvent } from '../src/sources/types.js';
import type { ResourceCache } from '../src/cache/types.js';

/** The part of src/app.ts the bench uses (startSwitchyard's options and handle). */
export interface SwitchyardHandle {
  xdsPort: number;
  cache: ResourceCache;
  /** Resolves once every source has synced and the first snapshot is in the cache. */
  ready: Promise<void>;
  pipeline: {
    on(event: 'flushed', listener: (report: { translateSeconds: number; changedResources: number }) => void): unknown;
    /** The start-up flush: it can run before startSwitchyard's caller gets the handle. */
    readonly firstFlushSeconds?: number;
  };
  stop(): Promise<void>;
}
export interface SwitchyardOptions {
  sources: Source[];
  xdsHost?: string;
  xdsPort?: number;
  /** null: no admin server (the bench does not need one, and its default port may be taken). */
  adminPort?: number | null;
  debounce?: { quietMs: number; maxMs: number };
}
type StartSwitchyard = (options: SwitchyardOptions) => Promise<SwitchyardHandle>;

export type TargetCommand =
  | { cmd: 'start'; host: string; port: number; mesh?: MeshOptions; debounce?: { quietMs: number; maxMs: number } }
  | { cmd: 'apply'; events: SourceEvent[] }
  | { cmd: 'translate'; mesh: MeshOptions; group: string }
  | { cmd: 'heap' }
  | { cmd: 'stop' };

const CLA_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

/** The compiled src/app.js next to this file's compiled form (dist/bench -> dist/src). */
export function appModuleUrl(): URL {
  return new URL('../src/app.js', import.meta.url);
}

export function switchyardAvailable(): boolean {
  return existsSync(fileURLToPath(appModuleUrl()));
}

async function loadStartSwitchyard(): Promise<StartSwitchyard> {
  const url = appModuleUrl();
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`${fileURLToPath(url)} does not exist: build src/app.ts first (npx tsc -p .), or run with --server floor`);
  }
  const app = (await import(url.href)) as { startSwitchyard?: StartSwitchyard };
  if (typeof app.startSwitchyard !== 'function') throw new Error('src/app.ts does not export startSwitchyard(options)');
  return app.startSwitchyard;
}

function heap(): { heapUsed: number; heapTotal: number; external: number; rss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external, rss: usage.rss };
}

async function serveOverIpc(): Promise<void> {
  let handle: SwitchyardHandle | undefined;
  let source: MemorySource | undefined;
  const reply = (message: object): void => void process.send!(message);
  process.on('message', (message: TargetCommand) => {
    void (async () => {
      try {
        switch (message.cmd) {
          case 'start': {
            const startSwitchyard = await loadStartSwitchyard();
            source = new MemorySource(message.mesh ? new Mesh(message.mesh).initialEvents() : []);
            handle = await startSwitchyard({
              sources: [source],
              xdsPort: message.port,
              xdsHost: message.host,
              adminPort: null,
              debounce: message.debounce,
            });
            await handle.ready;
            reply({ type: 'listening', port: handle.xdsPort });
            break;
          }
          case 'apply':
            source!.emit(message.events);
            reply({ type: 'applied' });
            break;
          case 'translate': {
            // Switchyard's start-up path: the source delivers the whole mesh, the first snapshot
            // is translated, encoded and cached, then the server is ready.
            const startSwitchyard = await loadStartSwitchyard();
            source = new MemorySource(new Mesh(message.mesh).initialEvents());
            envoyRoot(); // loading the .proto files is start-up cost, not translation
            const before = heap();
            const startedAt = performance.now();
            // CPU as well as wall time: on a shared machine the wall clock also counts other jobs' turns.
            const cpuBefore = process.cpuUsage();
            handle = await startSwitchyard({ sources: [source], xdsPort: 0, xdsHost: '127.0.0.1', adminPort: null });
            let flushSeconds: number | undefined;
            handle.pipeline.on('flushed', (report) => {
              flushSeconds ??= report.translateSeconds;
            });
            await handle.ready;
            flushSeconds = handle.pipeline.firstFlushSeconds ?? flushSeconds;
            const ms = performance.now() - startedAt;
            const cpu = process.cpuUsage(cpuBefore);
            reply({
              type: 'translated',
              ms,
              cpuMs: (cpu.user + cpu.system) / 1000,
              flushMs: flushSeconds === undefined ? undefined : flushSeconds * 1000,
              clusters: handle.cache.resources(message.group, CLUSTER_TYPE).size,
              assignments: handle.cache.resources(message.group, CLA_TYPE).size,
              heapBefore: before.heapUsed,
              ...heap(),
            });
            break;
          }
          case 'heap':
            // BENCH_HEAP_SNAPSHOT=<dir>: also write a heap snapshot there, to see what holds memory.
            if (process.env.BENCH_HEAP_SNAPSHOT)
              writeHeapSnapshot(`${process.env.BENCH_HEAP_SNAPSHOT}/switchyard-${Date.now()}.heapsnapshot`);
            heap();
            await new Promise((resolve) => setTimeout(resolve, 1000));
            reply({ type: 'heap', ...heap() });
            break;
          case 'stop':
            await handle?.stop();
            reply({ type: 'stopped' });
            process.exit(0);
        }
      } catch (error) {
        reply({ type: 'error', message: (error as Error).stack ?? String(error) });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
  reply({ type: 'ready' });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.send) void serveOverIpc();
