// translate: start -> ready for a large mesh inside the server process (or the bench's own
// encoder as a baseline, with --server floor).
import { ServerChild } from '../child.js';
import type { Flags } from '../flags.js';
import { mb, ms, type Row } from '../report.js';
import { meshOptions, startFloor } from '../servers.js';
import { switchyardAvailable } from '../target.js';

export async function runTranslate(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
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
    throw new Error(
      'dist/src/app.js is missing: Switchyard is not built yet (npx tsc -p .). Use --server floor for the synthetic baseline.',
    );
  }
  const child = new ServerChild(new URL('../target.js', import.meta.url), 'switchyard');
  try {
    await child.next('ready');
    const result = await child.request({ cmd: 'translate', mesh: meshOptions(flags), group: 'sidecar' }, 'translated');
    log(`switchyard: ${flags.services} services to a ready snapshot in ${ms(result.ms as number)}`);
    return {
      rows: [
        {
          figure: `start -> ready: translate + encode ${flags.services} services, ${endpoints} endpoints`,
          value: ms(result.ms as number),
          target: '<= 1 s',
        },
        { figure: 'server CPU over the same interval (user + system)', value: ms(result.cpuMs as number) },
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
