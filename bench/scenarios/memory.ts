// memory: the server's RSS with the mesh loaded, with N idle streams, and with 10% more.
import { LoadGenerator } from '../loadgen/index.js';
import type { Flags } from '../flags.js';
import { Mesh } from '../mesh.js';
import { mb, sec, type Row } from '../report.js';
import { meshOptions, ownCpu, serverRss, sleep, startServerUnderTest, syncRows } from '../servers.js';

export async function runMemory(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  const mesh = new Mesh(meshOptions(flags));
  const server = await startServerUnderTest(flags, mesh);
  if (!server.pid) throw new Error('memory needs the server pid: give --pid with an external --target');
  const generators: LoadGenerator[] = [];
  try {
    await sleep(Math.min(flags.idleMs, 1000));
    const rssIdle = serverRss(server)!;
    const ownBefore = ownCpu();
    const main = await LoadGenerator.start({
      target: server.address,
      clients: flags.clients,
      deltaShare: flags.deltaShare,
      workers: flags.workers,
    });
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
            {
              figure: 'server heap committed / external (Buffers) after that GC',
              value: `${mb(afterGc.heapTotal as number)} / ${mb(afterGc.external as number)}`,
            },
            { figure: 'server RSS after that GC', value: mb(afterGc.rss as number) },
          ]
        : []),
      { figure: 'RSS per stream (first N)', value: `${((rssStreams - rssIdle) / Math.max(1, flags.clients) / 1024).toFixed(1)} KB` },
      { figure: `RSS per extra stream (${extra} more)`, value: `${((rssMore - rssStreams) / extra / 1024).toFixed(1)} KB` },
    ];
    return {
      rows,
      figures: {
        server: server.kind,
        rssIdle,
        rssStreams,
        heapAfterGc: afterGc?.heapUsed,
        rssAfterGc: afterGc?.rss,
        rssMore,
        extra,
        sync: { ...sync, syncMs: undefined },
      },
    };
  } finally {
    for (const g of generators) await g.stop();
    await server.stop();
  }
}
