// burst: many endpoint events over a short time; how many pushes each client gets, and whether
// every client ends on the final state.
import { nowMs } from '../loadgen/client.js';
import { LoadGenerator } from '../loadgen/index.js';
import type { WorkerStatus } from '../loadgen/protocol.js';
import { CLA_TYPE } from '../loadgen/xds-messages.js';
import type { Flags } from '../flags.js';
import { Mesh } from '../mesh.js';
import { ms, sec, type Row } from '../report.js';
import { encodeClusterLoadAssignment, readyAddresses } from '../resources.js';
import { meshOptions, ownCpu, serverCpu, sleep, startRecorder, startServerUnderTest, syncRows, type Recorder } from '../servers.js';

export async function runBurst(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh);
  let loadgen: LoadGenerator | undefined;
  let recorder: Recorder | undefined;
  try {
    recorder = await startRecorder(server.address, flags.syncTimeoutMs);
    loadgen = await LoadGenerator.start({
      target: server.address,
      clients: flags.clients,
      deltaShare: flags.deltaShare,
      workers: flags.workers,
      hashAll: true,
    });
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
      const expected = (service.slice.endpoints ?? [])
        .filter((e) => e.conditions?.ready !== false)
        .map((e) => e.addresses[0]!)
        .sort();
      const held = claMap.get(service.clusterName);
      const actual = held ? readyAddresses(held.bytes) : [];
      if (expected.join(',') !== actual.join(',')) {
        wrongAtRecorder++;
        if (wrongExamples.length < 3)
          wrongExamples.push(`${service.clusterName}: expected [${expected.join(' ')}], got [${actual.join(' ')}]`);
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
      {
        figure: 'services whose final endpoints are wrong',
        value: `${wrongAtRecorder} of ${touched.size}${wrongExamples.length ? `: ${wrongExamples[0]}` : ''}`,
        target: '0',
      },
      {
        figure: 'clients not on the final state',
        value: `${hashReport.mismatched} of ${hashReport.checked}${hashReport.examples.length ? `: ${hashReport.examples[0]}` : ''}`,
        target: '0',
      },
      {
        figure: 'server CPU for the burst',
        value: sec(cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore),
        loadgenCpu,
      },
    ];
    return {
      rows,
      figures: {
        server: server.kind,
        sent,
        touched: touched.size,
        pushesPerClient: pushes,
        convergedMs,
        wrongAtRecorder,
        wrongExamples,
        hashReport,
      },
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
