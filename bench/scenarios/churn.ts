// endpoint-churn and sotw-churn: endpoint changes one at a time, each timed from the change to
// the last client holding it, with the floor replaying the same bytes for comparison.
import { nowMs } from '../loadgen/client.js';
import { LoadGenerator, type ChangeObservation, type SyncResult } from '../loadgen/index.js';
import { CLA_TYPE } from '../loadgen/xds-messages.js';
import type { FloorResources } from '../floor-server.js';
import type { Flags } from '../flags.js';
import { Mesh, type EndpointChange } from '../mesh.js';
import { mb, ms, percentile, sec, type Row } from '../report.js';
import { encodeClusterLoadAssignment } from '../resources.js';
import {
  meshOptions,
  ownCpu,
  recordedSnapshot,
  serverCpu,
  serverRss,
  startFloor,
  startRecorder,
  startServerUnderTest,
  syncRows,
  type Server,
} from '../servers.js';

interface ChangeStep {
  name: string;
  description: string;
  /** Work before the clock starts (writing the file that `apply` renames into place). */
  prepare?(): Promise<void>;
  apply(): Promise<void>;
}

/** A step through `switchyard serve`'s own source (a file renamed over, an API PUT), else through the in-memory source's events. */
export function serveOrEventStep(server: Server, change: EndpointChange): ChangeStep {
  const step = { name: change.service.clusterName, description: change.description };
  if (server.prepareEndpointChange) {
    let act: (() => Promise<void>) | undefined;
    return {
      ...step,
      prepare: async () => {
        act = await server.prepareEndpointChange!(change);
      },
      apply: () => act!(),
    };
  }
  if (!server.applyEvents) throw new Error('an external --target needs --apply-url to receive endpoint changes');
  return { ...step, apply: () => server.applyEvents!([change.event]) };
}

interface ChangeResult {
  name: string;
  description: string;
  /** When the clock started (epoch ms): the trace's `at` (the server noticing the change) is on the same clock. */
  markAt: number;
  /** From the change mark to the last client receiving the new version. */
  lastMs: number | undefined;
  /** From the change mark to the first client receiving it. */
  firstMs: number | undefined;
  clientP50Ms: number | undefined;
  missed: number;
  meanBytesPerClient: number;
  /** Mean bytes per delta client and per state-of-the-world client (undefined when there are none). */
  meanBytesDelta: number | undefined;
  meanBytesSotw: number | undefined;
  /** Size of the changed ClusterLoadAssignment message, as the recorder received it. */
  claBytes: number;
}

export interface ChurnPhase {
  server: string;
  sync: SyncResult;
  /** Server RSS once every client has synced, before the first change. */
  serverRssAfterSync: number | undefined;
  changes: ChangeResult[];
  serverCpuSeconds: number | undefined;
  loadgenCpuSeconds: number;
  serverRssAfter: number | undefined;
  /** The changed resources as received, to replay on the floor. */
  recorded: Array<{ name: string; bytes: Uint8Array; version: string }>;
  /** Everything the recorder held before the first change, to load into the floor. */
  snapshot: FloorResources;
}

export async function churnPhase(
  flags: Flags,
  server: Server,
  steps: (i: number) => ChangeStep,
  log: (line: string) => void,
): Promise<ChurnPhase> {
  const recorder = await startRecorder(server.address, flags.syncTimeoutMs);
  const snapshot = recordedSnapshot(recorder.client);
  const loadgen = await LoadGenerator.start({
    target: server.address,
    clients: flags.clients,
    deltaShare: flags.deltaShare,
    workers: flags.workers,
  });
  try {
    const sync = await loadgen.waitSynced(flags.syncTimeoutMs);
    log(`${server.kind}: ${sync.synced}/${sync.clients} clients synced in ${ms(sync.allSyncedMs)}`);
    const serverRssAfterSync = serverRss(server);
    const cpuBefore = serverCpu(server);
    const ownBefore = ownCpu();
    const changes: ChangeResult[] = [];
    const recorded: ChurnPhase['recorded'] = [];
    const claMap = recorder.client.recorded.get(CLA_TYPE)!;
    for (let i = 0; i < flags.changes; i++) {
      const step = steps(i);
      const old = claMap.get(step.name);
      if (!old) {
        throw new Error(
          `${server.kind} serves no ClusterLoadAssignment named "${step.name}" (names follow docs/architecture.md: <namespace>/<service>/<port>)`,
        );
      }
      const watch = { typeUrl: CLA_TYPE, name: step.name, oldHash: old.hash };
      recorder.client.beginWatch(watch);
      const seq = await loadgen.watch({ typeUrl: CLA_TYPE, name: step.name, oldHash: old.hash });
      await step.prepare?.();
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
        markAt,
        lastMs: observation.missed ? undefined : percentile(observation.latencyMs, 100),
        firstMs: percentile(observation.latencyMs, 0),
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
      serverRssAfterSync,
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

/** The first changes after a sync run the push path for the first time (V8 compiles it as it
 * goes): the p99 target counts them, and one more row shows the tail without them. */
const WARM_UP_CHANGES = 5;

function churnRows(phase: ChurnPhase, flags: Flags, label: string, p99Target: string): Row[] {
  const n = phase.changes.length || 1;
  const lasts = phase.changes.map((c) => c.lastMs);
  const firsts = phase.changes.map((c) => c.firstMs);
  const spreads = phase.changes.map((c) => (c.lastMs === undefined || c.firstMs === undefined ? undefined : c.lastMs - c.firstMs));
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
    { figure: `${label}initial sync, client p99`, value: ms(percentile(phase.sync.syncMs, 99)), target: '<= 15 s' },
    { figure: `${label}server RSS after sync`, value: mb(phase.serverRssAfterSync), target: '<= 400 MB' },
    { figure: `${label}change -> first client, p50`, value: ms(percentile(firsts, 50)), target: '<= 10 ms' },
    { figure: `${label}change -> first client, p99`, value: ms(percentile(firsts, 99)) },
    { figure: `${label}first -> last client, p50`, value: ms(percentile(spreads, 50)) },
    { figure: `${label}change -> last client, p50`, value: ms(percentile(lasts, 50)), loadgenCpu: loadgenPerChange },
    { figure: `${label}change -> last client, p99`, value: ms(percentile(lasts, 99)), target: p99Target, loadgenCpu: loadgenPerChange },
    { figure: `${label}change -> last client, max`, value: ms(percentile(lasts, 100)), loadgenCpu: loadgenPerChange },
    ...(lasts.length > 2 * WARM_UP_CHANGES
      ? [
          {
            figure: `${label}change -> last client, p99 after ${WARM_UP_CHANGES} changes`,
            value: ms(percentile(lasts.slice(WARM_UP_CHANGES), 99)),
          },
        ]
      : []),
    {
      figure: `${label}change -> each client, p50`,
      value: ms(
        percentile(
          phase.changes.map((c) => c.clientP50Ms),
          50,
        ),
      ),
    },
    {
      figure: `${label}client misses (not seen in ${flags.changeTimeoutMs} ms)`,
      value: `${missed} of ${phase.changes.length * phase.sync.clients}`,
    },
    ...bytesRows,
    {
      figure: `${label}server CPU per change`,
      value: sec(phase.serverCpuSeconds === undefined ? undefined : phase.serverCpuSeconds / n),
      loadgenCpu: loadgenPerChange,
    },
    { figure: `${label}server RSS after`, value: mb(phase.serverRssAfter) },
  ];
}

export async function runChurn(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh, log);
  const sotw = flags.scenario === 'sotw-churn';
  // The in-memory source's targets are the push alone; through `serve` the change starts at the file or the API.
  const p99Target = flags.source === 'memory' ? (sotw ? '<= 250 ms' : '<= 100 ms') : sotw ? '<= 400 ms' : '<= 250 ms';
  let first: ChurnPhase;
  try {
    const steps = (): ChangeStep => {
      const change = mesh.endpointChange();
      const name = change.service.clusterName;
      if (server.kind === 'floor') {
        const encoded = encodeClusterLoadAssignment(change.service);
        return { name, description: change.description, apply: () => server.setResource!(CLA_TYPE, name, encoded.bytes, encoded.version) };
      }
      return serveOrEventStep(server, change);
    };
    first = await churnPhase(flags, server, steps, log);
  } finally {
    await server.stop();
  }
  const rows = churnRows(first, flags, server.kind === 'floor' ? 'floor: ' : '', p99Target);
  const figures: Record<string, unknown> = { [server.kind]: summarizePhase(first) };
  if (server.kind !== 'floor' && flags.floor && flags.source === 'memory') {
    // The floor, in the same run: the same bytes, the same streams, no control-plane logic.
    const floor = await startFloor(first.snapshot);
    let floorPhase: ChurnPhase;
    try {
      floorPhase = await churnPhase(
        flags,
        floor,
        (i) => {
          const change = first.recorded[i]!;
          return {
            name: change.name,
            description: 'replayed',
            apply: () => floor.setResource!(CLA_TYPE, change.name, change.bytes, change.version),
          };
        },
        log,
      );
    } finally {
      await floor.stop();
    }
    rows.push(...churnRows(floorPhase, flags, 'floor: ', ''));
    const ratio =
      first.serverCpuSeconds !== undefined && floorPhase.serverCpuSeconds
        ? first.serverCpuSeconds / floorPhase.serverCpuSeconds
        : undefined;
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
