// The servers a bench phase runs against (Switchyard or the floor in a child process, or an
// external ADS server), the recorder client that keeps every resource's bytes, and the rows
// every scenario prints about its clients' sync.
import type { SourceEvent } from '../src/sources/types.js';
import { ServerChild } from './child.js';
import type { FloorResources } from './floor-server.js';
import type { Flags } from './flags.js';
import { AdsClient, SharedState } from './loadgen/client.js';
import type { SyncResult } from './loadgen/index.js';
import { Mesh, type EndpointChange, type MeshOptions } from './mesh.js';
import { startServe } from './serve.js';
import { cpuSeconds, rssBytes } from './proc.js';
import type { Row } from './report.js';
import { switchyardAvailable } from './target.js';

/** The server a phase runs against, however it was started. */
export interface Server {
  kind: 'switchyard' | 'floor' | 'external';
  address: string;
  pid?: number;
  applyEvents?(events: SourceEvent[]): Promise<void>;
  setResource?(typeUrl: string, name: string, bytes: Uint8Array, version: string): Promise<void>;
  /** `switchyard serve`: prepares an endpoint change as a user makes it and returns the act itself
   * (the rename of a file written beside its target, the API PUT); the clock starts before the act. */
  prepareEndpointChange?(change: EndpointChange): Promise<() => Promise<void>>;
  child?: ServerChild;
  stop(): Promise<void>;
}

export function meshOptions(flags: Flags): MeshOptions {
  return { services: flags.services, endpointsPerService: flags.endpoints, seed: flags.seed };
}

export async function startSwitchyard(flags: Flags, withMesh: boolean): Promise<Server> {
  if (!switchyardAvailable()) {
    throw new Error('dist/src/app.js is missing: Switchyard is not built yet (npx tsc -p .). Use --server floor for the bare floor alone.');
  }
  const child = new ServerChild(new URL('./target.js', import.meta.url), 'switchyard');
  await child.next('ready');
  const debounce =
    flags.quietMs !== undefined || flags.maxMs !== undefined
      ? { quietMs: flags.quietMs ?? 0, maxMs: flags.maxMs ?? flags.quietMs ?? 0 }
      : undefined;
  const listening = await child.request(
    { cmd: 'start', host: '127.0.0.1', port: 0, mesh: withMesh ? meshOptions(flags) : undefined, debounce },
    'listening',
  );
  return {
    kind: 'switchyard',
    address: `127.0.0.1:${listening.port as number}`,
    pid: child.pid,
    child,
    applyEvents: async (events) => void (await child.request({ cmd: 'apply', events }, 'applied')),
    stop: () => child.stop(),
  };
}

export async function startFloor(resources: FloorResources | MeshOptions): Promise<Server & { loadInfo: Record<string, unknown> }> {
  const child = new ServerChild(new URL('./floor-server.js', import.meta.url), 'floor');
  await child.next('ready');
  const loaded = Array.isArray(resources)
    ? await child.request({ cmd: 'load', resources }, 'loaded')
    : await child.request({ cmd: 'load-mesh', mesh: resources }, 'loaded');
  const listening = await child.request({ cmd: 'start', host: '127.0.0.1', port: 0 }, 'listening');
  return {
    kind: 'floor',
    address: `127.0.0.1:${listening.port as number}`,
    pid: child.pid,
    child,
    loadInfo: loaded,
    setResource: async (typeUrl, name, bytes, version) =>
      void (await child.request({ cmd: 'set', typeUrl, name, bytes, version }, 'pushed')),
    stop: () => child.stop(),
  };
}

export function externalServer(flags: Flags): Server {
  const applyUrl = flags.applyUrl;
  return {
    kind: 'external',
    address: flags.target!,
    pid: flags.pid,
    applyEvents: applyUrl
      ? async (events) => {
          const response = await fetch(applyUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(events),
          });
          if (!response.ok) throw new Error(`--apply-url ${applyUrl}: HTTP ${response.status}`);
        }
      : undefined,
    stop: async () => undefined,
  };
}

/** The server under test with the mesh loaded. */
export async function startServerUnderTest(flags: Flags, mesh: Mesh, log: (line: string) => void = () => undefined): Promise<Server> {
  if (flags.source !== 'memory' && flags.server === 'switchyard' && !flags.target) return startServe(flags, mesh, flags.source, log);
  if (flags.target) {
    const server = externalServer(flags);
    if (server.applyEvents) await server.applyEvents(mesh.initialEvents());
    return server;
  }
  return flags.server === 'floor' ? startFloor(meshOptions(flags)) : startSwitchyard(flags, true);
}

export const serverCpu = (server: Server): number | undefined => (server.pid ? cpuSeconds(server.pid) : undefined);
export const serverRss = (server: Server): number | undefined => (server.pid ? rssBytes(server.pid) : undefined);
export const ownCpu = (): number => cpuSeconds(process.pid);
export const sleep = (t: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, t));

// ---- the recorder: one delta client in the runner that keeps every resource's bytes ----------------

export interface Recorder {
  client: AdsClient;
  /** Resolves when the recorder sees the resource it is watching change. */
  watchSeen(timeoutMs: number): Promise<boolean>;
}

export async function startRecorder(address: string, timeoutMs: number): Promise<Recorder> {
  let seen: (() => void) | undefined;
  const client = await new Promise<AdsClient>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`recorder: no complete configuration from ${address} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const recorder = new AdsClient({
      index: -1,
      delta: true,
      target: address,
      shared: new SharedState(),
      record: true,
      onSynced: (c) => {
        clearTimeout(timer);
        resolve(c);
      },
      onWatchSeen: () => seen?.(),
      onError: (_c, error) => {
        clearTimeout(timer);
        reject(new Error(`recorder: ${error.message}`));
      },
    });
    recorder.start();
  });
  return {
    client,
    watchSeen: (t) =>
      client.watchSeenAt
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), t);
            seen = () => {
              clearTimeout(timer);
              resolve(true);
            };
          }),
  };
}

export function recordedSnapshot(recorder: AdsClient): FloorResources {
  return [...recorder.recorded].map(([typeUrl, byName]) => [typeUrl, [...byName].map(([name, r]) => [name, r.bytes, r.version])]);
}

export function syncRows(sync: SyncResult, label: string): Row[] {
  const rows: Row[] = [
    { figure: `${label}clients synced`, value: `${sync.synced}/${sync.clients}${sync.failed ? ` (${sync.failed} failed)` : ''}` },
  ];
  if (sync.errors.length) rows.push({ figure: `${label}first client error`, value: sync.errors[0]! });
  return rows;
}
