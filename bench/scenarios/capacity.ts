// capacity: the same churn at growing client counts, one fresh server per count, printed as a
// table (clients, RSS after sync, server CPU per change, change -> last client p50/p99), to see
// how a replica scales and derive the replicas a fleet needs.
import type { Flags } from '../flags.js';
import { Mesh } from '../mesh.js';
import { mb, ms, percentile, sec, type Row } from '../report.js';
import { meshOptions, startServerUnderTest } from '../servers.js';
import { churnPhase, serveOrEventStep } from './churn.js';

interface CapacityPoint {
  clients: number;
  synced: number;
  syncP99Ms: number | undefined;
  rssAfterSync: number | undefined;
  cpuPerChange: number | undefined;
  /** The load generator's own CPU per change: on two cores it competes with the server. */
  generatorCpuPerChange: number;
  firstP50Ms: number | undefined;
  lastP50Ms: number | undefined;
  lastP99Ms: number | undefined;
  missed: number;
}

export async function runCapacity(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const points: CapacityPoint[] = [];
  for (const clients of flags.clientsList) {
    const mesh = new Mesh(meshOptions(flags));
    const server = await startServerUnderTest(flags, mesh, log);
    try {
      const steps = () => {
        if (!server.prepareEndpointChange && !server.applyEvents)
          throw new Error('capacity needs a Switchyard it can change (not --target without --apply-url)');
        return serveOrEventStep(server, mesh.endpointChange());
      };
      const phase = await churnPhase({ ...flags, clients }, server, steps, log);
      const n = phase.changes.length || 1;
      points.push({
        clients,
        synced: phase.sync.synced,
        syncP99Ms: percentile(phase.sync.syncMs, 99),
        rssAfterSync: phase.serverRssAfterSync,
        cpuPerChange: phase.serverCpuSeconds === undefined ? undefined : phase.serverCpuSeconds / n,
        generatorCpuPerChange: phase.loadgenCpuSeconds / n,
        firstP50Ms: percentile(
          phase.changes.map((c) => c.firstMs),
          50,
        ),
        lastP50Ms: percentile(
          phase.changes.map((c) => c.lastMs),
          50,
        ),
        lastP99Ms: percentile(
          phase.changes.map((c) => c.lastMs),
          99,
        ),
        missed: phase.changes.reduce((a, c) => a + c.missed, 0),
      });
      log(`capacity: N=${clients} done`);
    } finally {
      await server.stop();
    }
  }
  const rows: Row[] = points.map((p) => ({
    figure: `N=${p.clients} (${p.synced} synced, sync p99 ${ms(p.syncP99Ms)})`,
    value:
      `RSS ${mb(p.rssAfterSync)}, CPU/change ${sec(p.cpuPerChange)}, first p50 ${ms(p.firstP50Ms)}, ` +
      `last p50/p99 ${ms(p.lastP50Ms)} / ${ms(p.lastP99Ms)}${p.missed ? `, ${p.missed} misses` : ''}`,
    loadgenCpu: sec(p.generatorCpuPerChange),
  }));
  return { rows, figures: { source: flags.source, points } };
}
