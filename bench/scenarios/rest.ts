// rest: Switchyard with every client synced and nothing changing. Its CPU over the interval
// should be about nothing: no timers, no polling, no periodic rescans doing real work.
import { LoadGenerator } from '../loadgen/index.js';
import type { Flags } from '../flags.js';
import { Mesh } from '../mesh.js';
import { mb, ms, sec, type Row } from '../report.js';
import { meshOptions, ownCpu, serverCpu, serverRss, sleep, startServerUnderTest, syncRows } from '../servers.js';

/** After the sync, before measuring: the sync's garbage collected, its stragglers answered. */
const SETTLE_MS = 5000;
/** Then until the server is quiet: a second in which it used under 1% of a core. The generator
 * counts a client synced when it holds what it asked for; the server may still be writing the
 * last whole sets to slower streams then (seen in a profile: ~2 s past the settle). */
const QUIET_CPU_SECONDS = 0.01;
const QUIET_WAIT_MAX_MS = 60_000;

/** Waits for a second of near-idle server CPU; how long it waited, ms. */
async function untilQuiet(cpu: () => number | undefined): Promise<number> {
  const started = Date.now();
  let before = cpu();
  while (before !== undefined && Date.now() - started < QUIET_WAIT_MAX_MS) {
    await sleep(1000);
    const after = cpu();
    if (after === undefined || after - before < QUIET_CPU_SECONDS) break;
    before = after;
  }
  return Date.now() - started;
}

export async function runRest(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh, log);
  try {
    const loadgen = await LoadGenerator.start({
      target: server.address,
      clients: flags.clients,
      deltaShare: flags.deltaShare,
      workers: flags.workers,
    });
    try {
      const sync = await loadgen.waitSynced(flags.syncTimeoutMs);
      log(`${server.kind}: ${sync.synced}/${sync.clients} clients synced in ${ms(sync.allSyncedMs)}; idle ${SETTLE_MS} ms, then measuring`);
      await sleep(SETTLE_MS);
      const waited = await untilQuiet(() => serverCpu(server));
      log(`${server.kind}: quiet after another ${ms(waited)}`);
      const seconds = flags.durationS ?? 120;
      // Two windows: the first still holds the work a sync leaves behind (V8 shrinking the heap
      // the sync grew: a few full collections 40–80 s later, once); the second is the steady
      // state. The default length is the default keepalive interval (2 min): a window then holds
      // one round of pings, as many as any 2 minutes at rest.
      const measure = async (): Promise<{ cpu: number | undefined; own: number }> => {
        const cpuBefore = serverCpu(server);
        const ownBefore = ownCpu();
        await sleep(seconds * 1000);
        const cpuAfter = serverCpu(server);
        return { cpu: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore, own: ownCpu() - ownBefore };
      };
      const afterSync = await measure();
      const steady = await measure();
      const rss = serverRss(server);
      const share = (cpu: number | undefined): string =>
        cpu === undefined ? 'n/a' : `${sec(cpu)} (${((cpu / seconds) * 100).toFixed(2)}% of a core)`;
      const rows: Row[] = [
        ...syncRows(sync, ''),
        { figure: `server CPU over the first ${seconds} s after the sync`, value: share(afterSync.cpu), loadgenCpu: sec(afterSync.own) },
        {
          figure: `server CPU at rest over the next ${seconds} s`,
          value: share(steady.cpu),
          target: '<= 1% of a core',
          loadgenCpu: sec(steady.own),
        },
        { figure: 'server RSS at rest', value: mb(rss) },
      ];
      return {
        rows,
        figures: {
          source: flags.source,
          seconds,
          cpuSecondsAfterSync: afterSync.cpu,
          cpuSeconds: steady.cpu,
          rss,
          sync: { ...sync, syncMs: undefined },
        },
      };
    } finally {
      await loadgen.stop();
    }
  } finally {
    await server.stop();
  }
}
