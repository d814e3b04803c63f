// The push trace (SWITCHYARD_PUSH_TRACE): one JSON line per change with the milliseconds from the
// source noticing it to each later stage; source events before the flush join the change in flight.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'push-trace-')), 'trace.jsonl');

async function linesOf(count: number): Promise<Array<Record<string, number>>> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= count) return lines.map((line) => JSON.parse(line) as Record<string, number>);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`fewer than ${count} trace lines in ${file}`);
}

describe('push trace', () => {
  it('writes one line per change, its stages in order, a burst counted as one change', async () => {
    process.env.SWITCHYARD_PUSH_TRACE = file;
    const { markPush, pushTraceEnabled } = await import('../../src/push-trace.js');
    expect(pushTraceEnabled).toBe(true);

    markPush('source');
    markPush('source'); // a second file event before the flush: the same change
    markPush('delivered');
    markPush('flush');
    markPush('model');
    markPush('translated');
    markPush('cached');
    markPush('firstWrite');
    markPush('firstWrite'); // only the first write counts
    markPush('flushed');
    markPush('lastWrite'); // the last slice may end after the flush
    markPush('source'); // the next change: the first one's line is written
    markPush('flushed');

    const [first] = await linesOf(1);
    const stages = ['delivered', 'flush', 'model', 'translated', 'cached', 'firstWrite', 'flushed', 'lastWrite'];
    expect(Object.keys(first)).toEqual(['at', ...stages]);
    const offsets = stages.map((stage) => first[stage]);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    expect(offsets[0]).toBeGreaterThanOrEqual(0);
    expect(first.at).toBeGreaterThan(Date.now() - 60_000);
  });

  it('counts from when a source noticed the change, when it says so after reading the event', async () => {
    const { markPush } = await import('../../src/push-trace.js');
    markPush('source', performance.now() - 50); // noticed 50 ms ago: the event took that long to read
    markPush('delivered');
    markPush('flushed');
    markPush('source');

    const lines = await linesOf(3);
    expect(lines[2].delivered).toBeGreaterThanOrEqual(50);
  });
});
