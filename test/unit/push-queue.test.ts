// How a cache change reaches the streams: in slices, so the first proxies' bytes leave while the
// rest are being written, and a stream still waiting for an earlier change gets it merged with the
// newer one (one push, the later word per name). A slice of 0 ms makes every stream its own slice,
// so the tests read the order of writes without reading the clock.
import { PushQueue } from '../../src/xds/push-queue.js';
import type { ChangeSet } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

interface Pushed {
  stream: string;
  /** Per type: the changed and removed names, sorted. */
  types: Record<string, { changed: string[]; removed: string[] }>;
}

class FakeStream {
  pushSlot = -1;

  constructor(
    readonly name: string,
    readonly group: string | undefined,
    private readonly log: Pushed[],
    private readonly fail = false,
  ) {}

  onCacheChange(changes: ChangeSet): void {
    if (this.fail) throw new Error('stream broke');
    const types: Pushed['types'] = {};
    for (const [typeUrl, { changed, removed }] of changes.get(this.group!)!) {
      types[typeUrl] = { changed: [...changed].sort(), removed: [...removed].sort() };
    }
    this.log.push({ stream: this.name, types });
  }
}

function change(group: string, byType: Record<string, { changed?: string[]; removed?: string[] }>): ChangeSet {
  const types = new Map(
    Object.entries(byType).map(([typeUrl, c]) => [
      typeUrl as TypeUrl,
      { changed: new Set(c.changed ?? []), removed: new Set(c.removed ?? []) },
    ]),
  );
  return new Map([[group, types]]);
}

const EDS = TypeUrl.ClusterLoadAssignment;
const CDS = TypeUrl.Cluster;

describe('PushQueue', () => {
  it('pushes to the streams of the groups a change touches, all at once while the slice lasts', () => {
    const log: Pushed[] = [];
    const queue = new PushQueue<FakeStream>(Infinity, Infinity);
    const streams = [
      new FakeStream('a', 'sidecar', log),
      new FakeStream('other-group', 'proxyless', log),
      new FakeStream('no-request-yet', undefined, log),
      new FakeStream('b', 'sidecar', log),
    ];
    queue.add(change('sidecar', { [EDS]: { changed: ['x'] } }), streams);
    expect(log.map((p) => p.stream)).toEqual(['a', 'b']);
    expect(queue.size).toBe(0);
  });

  it('lets the event loop turn once a slice is used up: the rest are written after what was written leaves', async () => {
    const log: Pushed[] = [];
    const queue = new PushQueue<FakeStream>(0, 0);
    const streams = ['a', 'b', 'c'].map((name) => new FakeStream(name, 'sidecar', log));
    queue.add(change('sidecar', { [EDS]: { changed: ['x'] } }), streams);
    expect(log.map((p) => p.stream)).toEqual(['a']);
    await tick();
    expect(log.map((p) => p.stream)).toEqual(['a', 'b']);
    await tick();
    expect(log.map((p) => p.stream)).toEqual(['a', 'b', 'c']);
    expect(queue.size).toBe(0);
  });

  it("writes a change's first slice, lets the loop turn so those bytes leave, then writes the rest in full slices", async () => {
    const log: Pushed[] = [];
    const queue = new PushQueue<FakeStream>(Infinity, 0);
    const streams = ['a', 'b', 'c'].map((name) => new FakeStream(name, 'sidecar', log));
    queue.add(change('sidecar', { [EDS]: { changed: ['x'] } }), streams);
    expect(log.map((p) => p.stream)).toEqual(['a']);
    await tick();
    expect(log.map((p) => p.stream)).toEqual(['a', 'b', 'c']);
    expect(queue.size).toBe(0);
  });

  it('gives a stream still waiting for an earlier change both in one push, the later word per name winning', async () => {
    const log: Pushed[] = [];
    const queue = new PushQueue<FakeStream>(0, 0);
    const streams = ['a', 'b', 'c'].map((name) => new FakeStream(name, 'sidecar', log));
    queue.add(change('sidecar', { [EDS]: { changed: ['x', 'y'], removed: ['z'] } }), streams);
    // Only a has the first change; b and c are still waiting when the second comes.
    queue.add(change('sidecar', { [EDS]: { changed: ['z'], removed: ['x'] }, [CDS]: { changed: ['k'] } }), streams);
    while (queue.size > 0) await tick();

    expect(log).toEqual([
      { stream: 'a', types: { [EDS]: { changed: ['x', 'y'], removed: ['z'] } } },
      // x changed then went away: removed; z went away then came back: changed; y still changed.
      { stream: 'b', types: { [EDS]: { changed: ['y', 'z'], removed: ['x'] }, [CDS]: { changed: ['k'], removed: [] } } },
      { stream: 'c', types: { [EDS]: { changed: ['y', 'z'], removed: ['x'] }, [CDS]: { changed: ['k'], removed: [] } } },
      // a already had the first change: it gets the second alone, after those that waited longer.
      { stream: 'a', types: { [EDS]: { changed: ['z'], removed: ['x'] }, [CDS]: { changed: ['k'], removed: [] } } },
    ]);
  });

  it('keeps pushing to the other streams when one fails', () => {
    const log: Pushed[] = [];
    const queue = new PushQueue<FakeStream>(Infinity, Infinity);
    const streams = [new FakeStream('broken', 'sidecar', log, true), new FakeStream('b', 'sidecar', log)];
    queue.add(change('sidecar', { [EDS]: { changed: ['x'] } }), streams);
    expect(log.map((p) => p.stream)).toEqual(['b']);
  });

  it('drops what is still waiting when cleared (the server shuts down)', async () => {
    const log: Pushed[] = [];
    const queue = new PushQueue<FakeStream>(0, 0);
    const streams = ['a', 'b'].map((name) => new FakeStream(name, 'sidecar', log));
    queue.add(change('sidecar', { [EDS]: { changed: ['x'] } }), streams);
    queue.clear();
    await tick();
    expect(log.map((p) => p.stream)).toEqual(['a']);
    expect(queue.size).toBe(0);
  });

  it('queues every stream afresh for the change after one was drained or cleared', async () => {
    const log: Pushed[] = [];
    const queue = new PushQueue<FakeStream>(0, 0);
    const streams = ['a', 'b', 'c'].map((name) => new FakeStream(name, 'sidecar', log));
    queue.add(change('sidecar', { [EDS]: { changed: ['x'] } }), streams);
    while (queue.size > 0) await tick();
    queue.add(change('sidecar', { [EDS]: { changed: ['y'] } }), streams);
    queue.clear();
    expect(streams.map((s) => s.pushSlot)).toEqual([-1, -1, -1]);
    log.length = 0;
    // Nobody waits for x or y any more: the next change alone reaches each stream, in order.
    queue.add(change('sidecar', { [EDS]: { changed: ['z'] } }), streams);
    while (queue.size > 0) await tick();
    expect(log).toEqual(['a', 'b', 'c'].map((stream) => ({ stream, types: { [EDS]: { changed: ['z'], removed: [] } } })));
  });
});
