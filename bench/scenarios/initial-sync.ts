// initial-sync: every client connects at once; time until each has ACKed everything.
import { LoadGenerator } from '../loadgen/index.js';
import type { Flags } from '../flags.js';
import { Mesh } from '../mesh.js';
import { mb, ms, percentile, sec, type Row } from '../report.js';
import { meshOptions, ownCpu, serverCpu, serverRss, startServerUnderTest, syncRows } from '../servers.js';

export async function runInitialSync(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh);
  try {
    const rssBefore = serverRss(server);
    const cpuBefore = serverCpu(server);
    const ownBefore = ownCpu();
    const loadgen = await LoadGenerator.start({
      target: server.address,
      clients: flags.clients,
      deltaShare: flags.deltaShare,
      workers: flags.workers,
    });
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
      {
        figure: 'server CPU during sync',
        value: sec(cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore),
        loadgenCpu,
      },
      { figure: 'server RSS before / after', value: `${mb(rssBefore)} / ${mb(rssAfter)}` },
    ];
    return { rows, figures: { server: server.kind, sync: { ...sync, syncMs: undefined }, rssBefore, rssAfter, cpuBefore, cpuAfter } };
  } finally {
    await server.stop();
  }
}
