// The bench runner: `node dist/bench/run.js <scenario> [flags]`. It starts the server under
// test (Switchyard, the floor, or an external ADS server), drives changes into it, runs the
// load generator, and prints a table of figures (also written as JSON to bench/results/).
// It asserts nothing: targets are printed beside the figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeMessage, TypeUrl } from '../src/envoy/protos.js';
import type { SourceEvent } from '../src/sources/types.js';
import { ServerChild } from './child.js';
import type { FloorResources } from './floor-server.js';
import { AdsClient, nowMs, SharedState } from './loadgen/client.js';
import { LoadGenerator, type ChangeObservation, type SyncResult } from './loadgen/index.js';
import type { WorkerStatus } from './loadgen/protocol.js';
import { CLA_TYPE } from './loadgen/xds-messages.js';
import { Mesh, type MeshOptions } from './mesh.js';
import { cpuSeconds, rssBytes } from './proc.js';
import { encodeClusterLoadAssignment } from './resources.js';
import { readyAddresses, runSoak } from './soak.js';
import { switchyardAvailable } from './target.js';

export const SCENARIOS = ['translate', 'initial-sync', 'endpoint-churn', 'sotw-churn', 'memory', 'burst', 'soak'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Flags {
  scenario: Scenario;
  services: number;
  endpoints: number;
  clients: number;
  deltaShare: number;
  changes: number;
  /** host:port of an external ADS server; unset: the runner starts `server` itself. */
  target?: string;
  server: 'switchyard' | 'floor';
  /** The external target's pid, for its CPU and RSS. */
  pid?: number;
  /** Where to POST source events (JSON array) for an external target. */
  applyUrl?: string;
  workers: number;
  seed: number;
  events: number;
  burstMs: number;
  changeTimeoutMs: number;
  syncTimeoutMs: number;
  idleMs: number;
  quietMs?: number;
  maxMs?: number;
  /** Run the floor after the server under test (churn scenarios). */
  floor: boolean;
  /** soak: how long to churn, and how many endpoint events per second. */
  durationS?: number;
  rate?: number;
  out: string;
}

const SCENARIO_DEFAULTS: Record<Scenario, Partial<Flags>> = {
  translate: { services: 10_000, endpoints: 10, clients: 0 },
  'initial-sync': { services: 1000, endpoints: 10, clients: 2000, deltaShare: 0.5 },
  'endpoint-churn': { services: 1000, endpoints: 10, clients: 2000, deltaShare: 1, changes: 200 },
  'sotw-churn': { services: 1000, endpoints: 10, clients: 2000, deltaShare: 0, changes: 200 },
  memory: { services: 1000, endpoints: 10, clients: 2000, deltaShare: 0.5 },
  burst: { services: 1000, endpoints: 10, clients: 2000, deltaShare: 0.5, events: 5000 },
  soak: { services: 1000, endpoints: 10, clients: 1000, deltaShare: 0.5, durationS: 600, rate: 50 },
};

const NUMERIC_FLAGS: Record<string, keyof Flags> = {
  services: 'services',
  endpoints: 'endpoints',
  clients: 'clients',
  'delta-share': 'deltaShare',
  changes: 'changes',
  pid: 'pid',
  workers: 'workers',
  seed: 'seed',
  events: 'events',
  'burst-ms': 'burstMs',
  'change-timeout-ms': 'changeTimeoutMs',
  'sync-timeout-ms': 'syncTimeoutMs',
  'idle-ms': 'idleMs',
  'quiet-ms': 'quietMs',
  'max-ms': 'maxMs',
  'duration-s': 'durationS',
  rate: 'rate',
};

export const USAGE = `usage: npm run bench -- <scenario> [flags]
scenarios: ${SCENARIOS.join(', ')}
flags: --services S --endpoints E --clients N --delta-share X --changes C
       --server switchyard|floor   (default switchyard; floor: the bare server alone)
       --target host:port [--pid P] [--apply-url URL]   (an external ADS server)
       --workers W --seed K --events M --burst-ms T --no-floor
       --change-timeout-ms T --sync-timeout-ms T --idle-ms T --quiet-ms T --max-ms T --out DIR
       --duration-s S --rate R   (soak: churn for S seconds at R endpoint events per second)`;

export function parseFlags(argv: string[]): Flags {
  const [scenario, ...rest] = argv;
  if (!scenario || !(SCENARIOS as readonly string[]).includes(scenario)) {
    throw new Error(`unknown scenario "${scenario ?? ''}"\n${USAGE}`);
  }
  const flags: Flags = {
    scenario: scenario as Scenario,
    services: 1000,
    endpoints: 10,
    clients: 2000,
    deltaShare: 0.5,
    changes: 200,
    server: 'switchyard',
    workers: 1,
    seed: 1,
    events: 5000,
    burstMs: 1000,
    changeTimeoutMs: 10_000,
    syncTimeoutMs: 120_000,
    idleMs: 3000,
    floor: true,
    out: path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results'),
    ...SCENARIO_DEFAULTS[scenario as Scenario],
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"\n${USAGE}`);
    let [name, value] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (name === 'no-floor') {
      flags.floor = false;
      continue;
    }
    if (value === undefined) {
      value = rest[++i];
      if (value === undefined) throw new Error(`--${name} needs a value\n${USAGE}`);
    }
    const numeric = NUMERIC_FLAGS[name];
    if (numeric) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${value}"`);
      (flags as unknown as Record<string, number>)[numeric] = n;
    } else if (name === 'target') {
      if (!/^[^:]+:\d+$/.test(value)) throw new Error(`--target must be host:port, got "${value}"`);
      flags.target = value;
    } else if (name === 'server') {
      if (value !== 'switchyard' && value !== 'floor') throw new Error(`--server must be switchyard or floor, got "${value}"`);
      flags.server = value;
    } else if (name === 'apply-url') flags.applyUrl = value;
    else if (name === 'out') flags.out = value;
    else throw new Error(`unknown flag --${name}\n${USAGE}`);
  }
  if (flags.deltaShare > 1) throw new Error(`--delta-share is a share between 0 and 1, got ${flags.deltaShare}`);
  const drivesChanges = flags.scenario === 'endpoint-churn' || flags.scenario === 'sotw-churn' || flags.scenario === 'burst';
  if (flags.target && drivesChanges && !flags.applyUrl) {
    throw new Error(`${flags.scenario} changes endpoints: with an external --target, give --apply-url (where to POST source events as JSON)`);
  }
  if (flags.target && flags.scenario === 'memory' && flags.pid === undefined) {
    throw new Error('memory reads the server\'s RSS: with an external --target, give --pid');
  }
  return flags;
}

// ---- figures ---------------------------------------------------------------------------------

/** Nearest-rank percentile of the defined values; undefined when there are none. */
export function percentile(values: Array<number | undefined>, p: number): number | undefined {
  const sorted = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export interface Row {
  figure: string;
  value: string;
  target?: string;
  /** The load generator's own CPU seconds while this figure was measured. */
  loadgenCpu?: string;
}

const ms = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(1)} ms`);
const mb = (v: number | undefined): string => (v === undefined ? 'n/a' : `${(v / 1024 / 1024).toFixed(1)} MB`);
const sec = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(3)} s`);

export function formatTable(rows: Row[]): string {
  const header: Row = { figure: 'figure', value: 'value', target: 'target', loadgenCpu: 'generator CPU' };
  const all = [header, ...rows];
  const width = (key: keyof Row): number => Math.max(...all.map((r) => (r[key] ?? '').length));
  const w = { figure: width('figure'), value: width('value'), target: width('target'), loadgenCpu: width('loadgenCpu') };
  const line = (r: Row): string =>
    `| ${r.figure.padEnd(w.figure)} | ${r.value.padEnd(w.value)} | ${(r.target ?? '').padEnd(w.target)} | ${(r.loadgenCpu ?? '').padEnd(w.loadgenCpu)} |`;
  const rule = `|${'-'.repeat(w.figure + 2)}|${'-'.repeat(w.value + 2)}|${'-'.repeat(w.target + 2)}|${'-'.repeat(w.loadgenCpu + 2)}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

// ---- servers -----------------------------------------------------------------------------------

/** The server a phase runs against, however it was started. */
interface Server {
  kind: 'switchyard' | 'floor' | 'external';
  address: string;
  pid?: number;
  applyEvents?(events: SourceEvent[]): Promise<void>;
  setResource?(typeUrl: string, name: string, bytes: Uint8Array, version: string): Promise<void>;
  child?: ServerChild;
  stop(): Promise<void>;
}

function meshOptions(flags: Flags): MeshOptions {
  return { services: flags.services, endpointsPerService: flags.endpoints, seed: flags.seed };
}

async function startSwitchyard(flags: Flags, withMesh: boolean): Promise<Server> {
  if (!switchyardAvailable()) {
    throw new Error('dist/src/app.js is missing: Switchyard is not built yet (npx tsc -p .). Use --server floor for the bare floor alone.');
  }
  const child = new ServerChild(new URL('./target.js', import.meta.url), 'switchyard');
  await child.next('ready');
  const debounce = flags.quietMs !== undefined || flags.maxMs !== undefined ? { quietMs: flags.quietMs ?? 0, maxMs: flags.maxMs ?? flags.quietMs ?? 0 } : undefined;
  const listening = await child.request({ cmd: 'start', host: '127.0.0.1', port: 0, mesh: withMesh ? meshOptions(flags) : undefined, debounce }, 'listening');
  return {
    kind: 'switchyard',
    address: `127.0.0.1:${listening.port as number}`,
    pid: child.pid,
    child,
    applyEvents: async (events) => void (await child.request({ cmd: 'apply', events }, 'applied')),
    stop: () => child.stop(),
  };
}

async function startFloor(resources: FloorResources | MeshOptions): Promise<Server & { loadInfo: Record<string, unknown> }> {
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
    setResource: async (typeUrl, name, bytes, version) => void (await child.request({ cmd: 'set', typeUrl, name, bytes, version }, 'pushed')),
    stop: () => child.stop(),
  };
}

function externalServer(flags: Flags): Server {
  const applyUrl = flags.applyUrl;
  return {
    kind: 'external',
    address: flags.target!,
    pid: flags.pid,
    applyEvents: applyUrl
      ? async (events) => {
          const response = await fetch(applyUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
          if (!response.ok) throw new Error(`--apply-url ${applyUrl}: HTTP ${response.status}`);
        }
      : undefined,
    stop: async () => undefined,
  };
}

/** The server under test with the mesh loaded. */
async function startServerUnderTest(flags: Flags, mesh: Mesh): Promise<Server> {
  if (flags.target) {
    const server = externalServer(flags);
    if (server.applyEvents) await server.applyEvents(mesh.initialEvents());
    return server;
  }
  return flags.server === 'floor' ? startFloor(meshOptions(flags)) : startSwitchyard(flags, true);
}

const serverCpu = (server: Server): number | undefined => (server.pid ? cpuSeconds(server.pid) : undefined);
const serverRss = (server: Server): number | undefined => (server.pid ? rssBytes(server.pid) : undefined);
const ownCpu = (): number => cpuSeconds(process.pid);
const sleep = (t: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, t));

// ---- the recorder: one delta client in the runner that keeps every resource's bytes ----------------

interface Recorder {
  client: AdsClient;
  /** Resolves when the recorder sees the resource it is watching change. */
  watchSeen(timeoutMs: number): Promise<boolean>;
}

async function startRecorder(address: string, timeoutMs: number): Promise<Recorder> {
  let seen: (() => void) | undefined;
  const client = await new Promise<AdsClient>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`recorder: no complete configuration from ${address} within ${timeoutMs} ms`)), timeoutMs);
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

function recordedSnapshot(recorder: AdsClient): FloorResources {
  return [...recorder.recorded].map(([typeUrl, byName]) => [typeUrl, [...byName].map(([name, r]) => [name, r.bytes, r.version])]);
}

function syncRows(sync: SyncResult, label: string): Row[] {
  const rows: Row[] = [
    { figure: `${label}clients synced`, value: `${sync.synced}/${sync.clients}${sync.failed ? ` (${sync.failed} failed)` : ''}` },
  ];
  if (sync.errors.length) rows.push({ figure: `${label}first client error`, value: sync.errors[0]! });
  return rows;
}

// ---- churn ---------------------------------------------------------------------------------------

interface ChangeStep {
  name: string;
  description: string;
  apply(): Promise<void>;
}

interface ChangeResult {
  name: string;
  description: string;
  /** From the change mark to the last client receiving the new version. */
  lastMs: number | undefined;
  clientP50Ms: number | undefined;
  missed: number;
  meanBytesPerClient: number;
  /** Mean bytes per delta client and per state-of-the-world client (undefined when there are none). */
  meanBytesDelta: number | undefined;
  meanBytesSotw: number | undefined;
  /** Size of the changed ClusterLoadAssignment message, as the recorder received it. */
  claBytes: number;
}

interface ChurnPhase {
  server: string;
  sync: SyncResult;
  changes: ChangeResult[];
  serverCpuSeconds: number | undefined;
  loadgenCpuSeconds: number;
  serverRssAfter: number | undefined;
  /** The changed resources as received, to replay on the floor. */
  recorded: Array<{ name: string; bytes: Uint8Array; version: string }>;
  /** Everything the recorder held before the first change, to load into the floor. */
  snapshot: FloorResources;
}

async function churnPhase(flags: Flags, server: Server, steps: (i: number) => ChangeStep, log: (line: string) => void): Promise<ChurnPhase> {
  const recorder = await startRecorder(server.address, flags.syncTimeoutMs);
  const snapshot = recordedSnapshot(recorder.client);
  const loadgen = await LoadGenerator.start({ target: server.address, clients: flags.clients, deltaShare: flags.deltaShare, workers: flags.workers });
  try {
    const sync = await loadgen.waitSynced(flags.syncTimeoutMs);
    log(`${server.kind}: ${sync.synced}/${sync.clients} clients synced in ${ms(sync.allSyncedMs)}`);
    const cpuBefore = serverCpu(server);
    const ownBefore = ownCpu();
    const changes: ChangeResult[] = [];
    const recorded: ChurnPhase['recorded'] = [];
    const claMap = recorder.client.recorded.get(CLA_TYPE)!;
    for (let i = 0; i < flags.changes; i++) {
      const step = steps(i);
      const old = claMap.get(step.name);
      if (!old) {
        throw new Error(`${server.kind} serves no ClusterLoadAssignment named "${step.name}" (names follow docs/architecture.md: <namespace>/<service>/<port>)`);
      }
      const watch = { typeUrl: CLA_TYPE, name: step.name, oldHash: old.hash };
      recorder.client.beginWatch(watch);
      const seq = await loadgen.watch({ typeUrl: CLA_TYPE, name: step.name, oldHash: old.hash });
      const markAt = nowMs();
      await step.apply();
      const observation: ChangeObservation = await loadgen.observe(seq, markAt, flags.changeTimeoutMs);
      await recorder.watchSeen(flags.changeTimeoutMs);
      recorder.client.watch = undefined;
      const now = claMap.get(step.name)!;
      recorded.push({ name: step.name, bytes: now.bytes, version: now.version });
      const totalBytes = observation.bytes.reduce((a, b) => a + b, 0);
      const meanOf = (delta: boolean): number | undefined => {
        const picked = observation.bytes.filter((_, k) => observation.delta[k] === delta);
        return picked.length ? picked.reduce((a, b) => a + b, 0) / picked.length : undefined;
      };
      changes.push({
        name: step.name,
        description: step.description,
        lastMs: observation.missed ? undefined : percentile(observation.latencyMs, 100),
        clientP50Ms: percentile(observation.latencyMs, 50),
        missed: observation.missed,
        meanBytesPerClient: observation.bytes.length ? totalBytes / observation.bytes.length : 0,
        meanBytesDelta: meanOf(true),
        meanBytesSotw: meanOf(false),
        claBytes: now.bytes.length,
      });
    }
    const cpuAfter = serverCpu(server);
    return {
      server: server.kind,
      sync,
      changes,
      serverCpuSeconds: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
      loadgenCpuSeconds: ownCpu() - ownBefore,
      serverRssAfter: serverRss(server),
      recorded,
      snapshot,
    };
  } finally {
    recorder.client.stop();
    await loadgen.stop();
  }
}

function churnRows(phase: ChurnPhase, flags: Flags, label: string, p99Target: string): Row[] {
  const n = phase.changes.length || 1;
  const lasts = phase.changes.map((c) => c.lastMs);
  const missed = phase.changes.reduce((a, c) => a + c.missed, 0);
  const claBytes = phase.changes.reduce((a, c) => a + c.claBytes, 0) / n;
  const bytesRows: Row[] = [];
  for (const [flavour, pick] of [
    ['delta', (c: ChangeResult) => c.meanBytesDelta],
    ['SotW', (c: ChangeResult) => c.meanBytesSotw],
  ] as const) {
    const values = phase.changes.map(pick).filter((v): v is number => v !== undefined);
    if (!values.length) continue;
    const bytesPerClient = values.reduce((a, b) => a + b, 0) / values.length;
    bytesRows.push({
      figure: `${label}bytes per ${flavour} client per change`,
      value: `${bytesPerClient.toFixed(0)} B (${(bytesPerClient / (claBytes || 1)).toFixed(2)}x the ${claBytes.toFixed(0)} B ClusterLoadAssignment)`,
      target: flavour === 'delta' ? '<= 2x' : '',
    });
  }
  const loadgenPerChange = sec(phase.loadgenCpuSeconds / n);
  return [
    ...syncRows(phase.sync, label),
    { figure: `${label}change -> last client, p50`, value: ms(percentile(lasts, 50)), loadgenCpu: loadgenPerChange },
    { figure: `${label}change -> last client, p99`, value: ms(percentile(lasts, 99)), target: p99Target, loadgenCpu: loadgenPerChange },
    { figure: `${label}change -> last client, max`, value: ms(percentile(lasts, 100)), loadgenCpu: loadgenPerChange },
    { figure: `${label}change -> each client, p50`, value: ms(percentile(phase.changes.map((c) => c.clientP50Ms), 50)) },
    { figure: `${label}client misses (not seen in ${flags.changeTimeoutMs} ms)`, value: `${missed} of ${phase.changes.length * phase.sync.clients}` },
    ...bytesRows,
    { figure: `${label}server CPU per change`, value: sec(phase.serverCpuSeconds === undefined ? undefined : phase.serverCpuSeconds / n), loadgenCpu: loadgenPerChange },
    { figure: `${label}server RSS after`, value: mb(phase.serverRssAfter) },
  ];
}

async function runChurn(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh);
  const p99Target = flags.scenario === 'sotw-churn' ? '<= 250 ms' : '<= 100 ms';
  let first: ChurnPhase;
  try {
    const steps = (): ChangeStep => {
      const change = mesh.endpointChange();
      const name = change.service.clusterName;
      if (server.kind === 'floor') {
        const encoded = encodeClusterLoadAssignment(change.service);
        return { name, description: change.description, apply: () => server.setResource!(CLA_TYPE, name, encoded.bytes, encoded.version) };
      }
      if (!server.applyEvents) throw new Error('an external --target needs --apply-url to receive endpoint changes');
      return { name, description: change.description, apply: () => server.applyEvents!([change.event]) };
    };
    first = await churnPhase(flags, server, steps, log);
  } finally {
    await server.stop();
  }
  const rows = churnRows(first, flags, server.kind === 'floor' ? 'floor: ' : '', p99Target);
  const figures: Record<string, unknown> = { [server.kind]: summarizePhase(first) };
  if (server.kind !== 'floor' && flags.floor) {
    // The floor, in the same run: the same bytes, the same streams, no control-plane logic.
    const floor = await startFloor(first.snapshot);
    let floorPhase: ChurnPhase;
    try {
      floorPhase = await churnPhase(flags, floor, (i) => {
        const change = first.recorded[i]!;
        return { name: change.name, description: 'replayed', apply: () => floor.setResource!(CLA_TYPE, change.name, change.bytes, change.version) };
      }, log);
    } finally {
      await floor.stop();
    }
    rows.push(...churnRows(floorPhase, flags, 'floor: ', ''));
    const ratio =
      first.serverCpuSeconds !== undefined && floorPhase.serverCpuSeconds ? first.serverCpuSeconds / floorPhase.serverCpuSeconds : undefined;
    rows.push({ figure: 'server CPU per change / floor', value: ratio === undefined ? 'n/a' : `${ratio.toFixed(2)}x`, target: '<= 1.5x' });
    figures.floor = summarizePhase(floorPhase);
    figures.cpuRatioToFloor = ratio;
  }
  return { rows, figures };
}

function summarizePhase(phase: ChurnPhase): object {
  const { recorded: _recorded, snapshot: _snapshot, ...rest } = phase;
  return { ...rest, sync: { ...phase.sync, syncMs: undefined } };
}

// ---- initial sync, memory, burst, translate --------------------------------------------------------

async function runInitialSync(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh);
  try {
    const rssBefore = serverRss(server);
    const cpuBefore = serverCpu(server);
    const ownBefore = ownCpu();
    const loadgen = await LoadGenerator.start({ target: server.address, clients: flags.clients, deltaShare: flags.deltaShare, workers: flags.workers });
    const sync = await loadgen.waitSynced(flags.syncTimeoutMs);
    const cpuAfter = serverCpu(server);
    const loadgenCpu = sec(ownCpu() - ownBefore);
    const rssAfter = serverRss(server);
    await loadgen.stop();
    log(`${server.kind}: ${sync.synced}/${sync.clients} clients synced in ${ms(sync.allSyncedMs)}`);
    const rows: Row[] = [
      ...syncRows(sync, ''),
      { figure: 'connect -> every client ACKed everything', value: ms(sync.allSyncedMs), target: '<= 10 s', loadgenCpu },
      { figure: 'creating the clients (before the clock starts)', value: ms(sync.launchMs) },
      { figure: 'client sync time p50', value: ms(percentile(sync.syncMs, 50)) },
      { figure: 'client sync time p99', value: ms(percentile(sync.syncMs, 99)) },
      { figure: 'bytes per client', value: `${(sync.totalBytes / Math.max(1, sync.clients)).toFixed(0)} B` },
      { figure: 'server CPU during sync', value: sec(cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore), loadgenCpu },
      { figure: 'server RSS before / after', value: `${mb(rssBefore)} / ${mb(rssAfter)}` },
    ];
    return { rows, figures: { server: server.kind, sync: { ...sync, syncMs: undefined }, rssBefore, rssAfter, cpuBefore, cpuAfter } };
  } finally {
    await server.stop();
  }
}

async function runMemory(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh);
  if (!server.pid) throw new Error('memory needs the server pid: give --pid with an external --target');
  const generators: LoadGenerator[] = [];
  try {
    await sleep(Math.min(flags.idleMs, 1000));
    const rssIdle = serverRss(server)!;
    const ownBefore = ownCpu();
    const main = await LoadGenerator.start({ target: server.address, clients: flags.clients, deltaShare: flags.deltaShare, workers: flags.workers });
    generators.push(main);
    const sync = await main.waitSynced(flags.syncTimeoutMs);
    await sleep(flags.idleMs);
    const rssStreams = serverRss(server)!;
    // What the streams keep alive, as opposed to what the allocator keeps after the sync's peak.
    const afterGc = server.child ? await server.child.request({ cmd: 'heap' }, 'heap') : undefined;
    const extra = Math.max(1, Math.round(flags.clients / 10));
    const more = await LoadGenerator.start({ target: server.address, clients: extra, deltaShare: flags.deltaShare, workers: 1 });
    generators.push(more);
    const extraSync = await more.waitSynced(flags.syncTimeoutMs);
    await sleep(flags.idleMs);
    const rssMore = serverRss(server)!;
    const loadgenCpu = sec(ownCpu() - ownBefore);
    log(`${server.kind}: RSS ${mb(rssIdle)} idle, ${mb(rssStreams)} with ${flags.clients} streams, ${mb(rssMore)} with ${extra} more`);
    const rows: Row[] = [
      ...syncRows(sync, ''),
      ...syncRows(extraSync, 'extra: '),
      { figure: 'server RSS, mesh loaded, no streams', value: mb(rssIdle) },
      { figure: `server RSS with ${flags.clients} idle streams`, value: mb(rssStreams), target: '<= 400 MB', loadgenCpu },
      ...(afterGc
        ? [
            { figure: `server heap used after a full GC, ${flags.clients} streams`, value: mb(afterGc.heapUsed as number) },
            { figure: 'server heap committed / external (Buffers) after that GC', value: `${mb(afterGc.heapTotal as number)} / ${mb(afterGc.external as number)}` },
            { figure: 'server RSS after that GC', value: mb(afterGc.rss as number) },
          ]
        : []),
      { figure: 'RSS per stream (first N)', value: `${((rssStreams - rssIdle) / Math.max(1, flags.clients) / 1024).toFixed(1)} KB` },
      { figure: `RSS per extra stream (${extra} more)`, value: `${((rssMore - rssStreams) / extra / 1024).toFixed(1)} KB` },
    ];
    return { rows, figures: { server: server.kind, rssIdle, rssStreams, heapAfterGc: afterGc?.heapUsed, rssAfterGc: afterGc?.rss, rssMore, extra, sync: { ...sync, syncMs: undefined } } };
  } finally {
    for (const g of generators) await g.stop();
    await server.stop();
  }
}


async function runBurst(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh);
  let loadgen: LoadGenerator | undefined;
  let recorder: Recorder | undefined;
  try {
    recorder = await startRecorder(server.address, flags.syncTimeoutMs);
    loadgen = await LoadGenerator.start({ target: server.address, clients: flags.clients, deltaShare: flags.deltaShare, workers: flags.workers, hashAll: true });
    const sync = await loadgen.waitSynced(flags.syncTimeoutMs);
    const edsResponses = (statuses: WorkerStatus[]): number => statuses.reduce((a, s) => a + (s.perType[CLA_TYPE]?.responses ?? 0), 0);
    const lastEds = (statuses: WorkerStatus[]): number => Math.max(0, ...statuses.map((s) => s.perType[CLA_TYPE]?.lastResponseAt ?? 0));
    const before = edsResponses(await loadgen.status());
    const cpuBefore = serverCpu(server);
    const ownBefore = ownCpu();
    // The events go out in ticks spread over burstMs; the floor has no debounce, so it gets one
    // push per resource per tick (what a server without coalescing would at least do).
    const ticks = Math.max(1, Math.min(flags.events, Math.round(flags.burstMs / 10)));
    const perTick = Math.ceil(flags.events / ticks);
    const touched = new Set<number>();
    const startedAt = nowMs();
    let sent = 0;
    for (let t = 0; t < ticks && sent < flags.events; t++) {
      const changes = [];
      for (let k = 0; k < perTick && sent < flags.events; k++, sent++) {
        const index = Math.floor(seededFraction(flags.seed, sent) * mesh.services.length);
        touched.add(index);
        changes.push(mesh.endpointChange(index));
      }
      if (server.kind === 'floor') {
        const latest = new Map(changes.map((c) => [c.service.clusterName, c.service]));
        for (const [name, service] of latest) {
          const encoded = encodeClusterLoadAssignment(service);
          await server.setResource!(CLA_TYPE, name, encoded.bytes, encoded.version);
        }
      } else {
        if (!server.applyEvents) throw new Error('an external --target needs --apply-url to receive the burst');
        await server.applyEvents(changes.map((c) => c.event));
      }
      const due = startedAt + ((t + 1) * flags.burstMs) / ticks;
      const wait = due - nowMs();
      if (wait > 0) await sleep(wait);
    }
    const burstEnd = nowMs();
    // Settled: no EDS response anywhere for a second (or 60 s passed).
    let count = edsResponses(await loadgen.status());
    let quietSince = nowMs();
    while (nowMs() - quietSince < 1000 && nowMs() - burstEnd < 60_000) {
      await sleep(100);
      const next = edsResponses(await loadgen.status());
      if (next !== count) {
        count = next;
        quietSince = nowMs();
      }
    }
    const statuses = await loadgen.status();
    const cpuAfter = serverCpu(server);
    const loadgenCpu = sec(ownCpu() - ownBefore);
    const pushes = (edsResponses(statuses) - before) / Math.max(1, sync.synced);
    const convergedMs = lastEds(statuses) - startedAt;

    // Final state: the recorder holds what the mesh says, and every client holds what the recorder holds.
    const claMap = recorder.client.recorded.get(CLA_TYPE)!;
    let wrongAtRecorder = 0;
    const wrongExamples: string[] = [];
    for (const index of touched) {
      const service = mesh.services[index]!;
      const expected = (service.slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).map((e) => e.addresses[0]!).sort();
      const held = claMap.get(service.clusterName);
      const actual = held ? readyAddresses(held.bytes) : [];
      if (expected.join(',') !== actual.join(',')) {
        wrongAtRecorder++;
        if (wrongExamples.length < 3) wrongExamples.push(`${service.clusterName}: expected [${expected.join(' ')}], got [${actual.join(' ')}]`);
      }
    }
    const expectedHashes = new Map([...claMap].map(([name, r]) => [name, r.hash]));
    const hashReport = await loadgen.checkHashes(CLA_TYPE, expectedHashes);
    log(`${server.kind}: burst of ${sent} events over ${touched.size} services; ${pushes.toFixed(1)} EDS pushes per client`);
    const rows: Row[] = [
      ...syncRows(sync, ''),
      { figure: `events sent (over ${flags.burstMs} ms, ${ticks} ticks)`, value: `${sent} (${touched.size} services touched)` },
      { figure: 'EDS pushes per client', value: pushes.toFixed(1), target: 'few (coalesced)', loadgenCpu },
      { figure: 'burst start -> last EDS response', value: ms(convergedMs) },
      { figure: 'services whose final endpoints are wrong', value: `${wrongAtRecorder} of ${touched.size}${wrongExamples.length ? `: ${wrongExamples[0]}` : ''}`, target: '0' },
      { figure: 'clients not on the final state', value: `${hashReport.mismatched} of ${hashReport.checked}${hashReport.examples.length ? `: ${hashReport.examples[0]}` : ''}`, target: '0' },
      { figure: 'server CPU for the burst', value: sec(cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore), loadgenCpu },
    ];
    return {
      rows,
      figures: { server: server.kind, sent, touched: touched.size, pushesPerClient: pushes, convergedMs, wrongAtRecorder, wrongExamples, hashReport },
    };
  } finally {
    recorder?.client.stop();
    await loadgen?.stop();
    await server.stop();
  }
}

/** A deterministic fraction in [0, 1) for the n-th burst event. */
function seededFraction(seed: number, n: number): number {
  let x = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(n + 1, 0xc2b2ae35)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  return (x >>> 0) / 4294967296;
}

async function runTranslate(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const endpoints = flags.services * flags.endpoints;
  if (flags.target) throw new Error('translate runs inside the server process: it cannot be pointed at an external --target');
  if (flags.server === 'floor') {
    // No Switchyard: the bench's own resource builder, as a baseline for encoding alone.
    const floor = await startFloor(meshOptions(flags));
    await floor.stop();
    const info = floor.loadInfo;
    log(`synthetic encoder: ${flags.services} services, ${endpoints} endpoints in ${ms(info.ms as number)}`);
    return {
      rows: [
        { figure: `synthetic build + encode (not Switchyard), ${endpoints} endpoints`, value: ms(info.ms as number), target: '(baseline)' },
        { figure: 'heap after (after GC)', value: mb(info.heapUsed as number) },
      ],
      figures: { server: 'floor', ...info },
    };
  }
  if (!switchyardAvailable()) {
    throw new Error('dist/src/app.js is missing: Switchyard is not built yet (npx tsc -p .). Use --server floor for the synthetic baseline.');
  }
  const child = new ServerChild(new URL('./target.js', import.meta.url), 'switchyard');
  try {
    await child.next('ready');
    const result = await child.request({ cmd: 'translate', mesh: meshOptions(flags), group: 'sidecar' }, 'translated');
    log(`switchyard: ${flags.services} services to a ready snapshot in ${ms(result.ms as number)}`);
    return {
      rows: [
        { figure: `start -> ready: translate + encode ${flags.services} services, ${endpoints} endpoints`, value: ms(result.ms as number), target: '<= 1 s' },
        { figure: 'of which the first flush (model + translate + cache)', value: ms(result.flushMs as number | undefined) },
        { figure: 'sidecar clusters / assignments cached', value: `${result.clusters} / ${result.assignments}` },
        { figure: 'heap after (after GC)', value: mb(result.heapUsed as number), target: '<= 500 MB' },
        { figure: 'server RSS after', value: mb(result.rss as number) },
      ],
      figures: { server: 'switchyard', ...result },
    };
  } finally {
    await child.stop();
  }
}

// ---- main ------------------------------------------------------------------------------------------

export async function run(flags: Flags, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<{ rows: Row[]; file: string }> {
  const runners: Record<Scenario, typeof runChurn> = {
    translate: runTranslate,
    'initial-sync': runInitialSync,
    'endpoint-churn': runChurn,
    'sotw-churn': runChurn,
    memory: runMemory,
    burst: runBurst,
    soak: runSoak,
  };
  const startedAt = new Date();
  const { rows, figures } = await runners[flags.scenario](flags, log);
  const machine = { cores: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}`, totalMemory: os.totalmem() };
  mkdirSync(flags.out, { recursive: true });
  const file = path.join(flags.out, `${flags.scenario}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ scenario: flags.scenario, startedAt: startedAt.toISOString(), machine, flags, rows, figures }, null, 2));
  return { rows, file };
}

async function main(): Promise<void> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  const target = flags.target ?? flags.server;
  process.stdout.write(
    `${flags.scenario}: S=${flags.services} E=${flags.endpoints} N=${flags.clients} delta-share=${flags.deltaShare}` +
      `${flags.scenario.endsWith('churn') ? ` changes=${flags.changes}` : ''} against ${target}; ` +
      `${os.cpus().length} cores, Node ${process.version}\n`,
  );
  const { rows, file } = await run(flags);
  process.stdout.write(`${formatTable(rows)}\n(generator CPU: the load generator's own CPU seconds over the same interval, per change where the figure is per change)\nresults: ${file}\n`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  main().then(
    () => process.exit(0),
    (error: Error) => {
      process.stderr.write(`bench failed: ${error.stack ?? error.message}\n`);
      process.exit(1);
    },
  );
}
