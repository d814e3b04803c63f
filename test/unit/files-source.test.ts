import { mkdtemp, mkdir, rename, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FilesSource, loadManifestDir } from '../../src/sources/files.js';
import type { SourceEvent } from '../../src/sources/types.js';

const service = (name: string, port = 80, namespace = 'shop') =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\nspec:\n  ports:\n    - port: ${port}\n`;
const docs = (...documents: string[]) => documents.join('---\n');

/** Collects sink calls; `next` waits (bounded) for the next one. */
class Recorder {
  readonly batches: SourceEvent[][] = [];
  private waiting: ((batch: SourceEvent[]) => void) | undefined;
  private consumed = 0;

  readonly sink = (events: SourceEvent[]) => {
    this.batches.push(events);
    this.wake();
  };

  private wake(): void {
    if (this.waiting && this.consumed < this.batches.length) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(this.batches[this.consumed++]);
    }
  }

  next(timeoutMs = 10000): Promise<SourceEvent[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no events within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = (batch) => {
        clearTimeout(timer);
        resolve(batch);
      };
      this.wake();
    });
  }

  /** Batches not yet taken by `next`. */
  pending(): SourceEvent[][] {
    return this.batches.slice(this.consumed);
  }
}

const summary = (events: SourceEvent[]) => events.map((e) => `${e.type} ${e.ref.kind}/${e.ref.namespace}/${e.ref.name}`);

describe('FilesSource', () => {
  let dir: string;
  let source: FilesSource | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-files-'));
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function started(options: ConstructorParameters<typeof FilesSource>[1] = { rescanIntervalMs: 0 }): Promise<Recorder> {
    const recorder = new Recorder();
    source = new FilesSource(dir, options);
    await source.start(recorder.sink);
    return recorder;
  }

  it('delivers the whole folder in one call, recursively and in path order, with rejections', async () => {
    await mkdir(path.join(dir, 'b', 'deeper'), { recursive: true });
    await writeFile(path.join(dir, 'b', 'deeper', 'c.yml'), service('charlie'));
    await writeFile(path.join(dir, 'a.yaml'), docs(service('alpha'), service('bad', 0)));
    await writeFile(path.join(dir, 'README.md'), 'not a manifest');
    await writeFile(path.join(dir, '.a.yaml.swp'), service('hidden'));
    const recorder = await started();
    expect(recorder.batches).toHaveLength(1);
    const [initial] = recorder.batches;
    expect(summary(initial)).toEqual(['upsert Service/shop/alpha', 'rejected Service/shop/bad', 'upsert Service/shop/charlie']);
    const rejected = initial[1] as Extract<SourceEvent, { type: 'rejected' }>;
    expect(rejected.errors).toEqual(['Service shop/bad: spec.ports[0].port: must be at least 1 (got 0)']);
    expect(rejected.origin).toMatchObject({ file: path.join(dir, 'a.yaml'), line: 10 });
    expect(initial[2]).toMatchObject({ origin: { file: path.join(dir, 'b', 'deeper', 'c.yml'), line: 1 } });
    expect(source!.problems()).toEqual([]);
  });

  it('delivers an empty initial state for an empty folder, and refuses a missing one', async () => {
    const recorder = await started();
    expect(recorder.batches).toEqual([[]]);
    await expect(new FilesSource(path.join(dir, 'missing')).start(() => undefined)).rejects.toThrow(
      /manifest folder .*missing cannot be read/,
    );
  });

  it('follows files as they are added, edited and deleted, one event per changed object', async () => {
    await writeFile(path.join(dir, 'shop.yaml'), docs(service('reviews', 9080), service('ratings', 9080), service('details', 9080)));
    const recorder = await started();
    expect(summary(await recorder.next())).toHaveLength(3);

    await writeFile(path.join(dir, 'web.yaml'), docs(service('web'), service('api')));
    expect(summary(await recorder.next())).toEqual(['upsert Service/shop/web', 'upsert Service/shop/api']);

    // Only `reviews` changes, though the documents after it move down a line.
    await writeFile(
      path.join(dir, 'shop.yaml'),
      docs(service('reviews', 9081).replace('spec:', 'spec:\n  type: ClusterIP'), service('ratings', 9080), service('details', 9080)),
    );
    const edited = await recorder.next();
    expect(summary(edited)).toEqual(['upsert Service/shop/reviews']);
    expect(edited[0]).toMatchObject({ object: { spec: { ports: [{ port: 9081 }] } } });

    await unlink(path.join(dir, 'web.yaml'));
    expect(summary(await recorder.next())).toEqual(['delete Service/shop/web', 'delete Service/shop/api']);
  });

  it('keeps the objects of a file truncated by a write in place until the write ends, and applies an emptying that lasts', async () => {
    const file = path.join(dir, 'shop.yaml');
    await writeFile(file, docs(service('reviews'), service('ratings')));
    const recorder = await started({ rescanIntervalMs: 0, debounceMs: 300 });
    await recorder.next();

    // Truncated, then written a while later (an editor saving in place on a slow disk): the read
    // after the truncation keeps the objects, so only the real change flows.
    // The source reads it 250 ms after the truncation (the longest it lets an in-place write
    // settle), keeps its objects, and looks again 250 ms after that; the write comes halfway
    // between the two, so a loaded machine has 125 ms either way (any event on the file delays
    // the second look).
    await truncate(file);
    await new Promise((resolve) => setTimeout(resolve, 375));
    await writeFile(file, docs(service('reviews'), service('ratings', 8080)));
    expect(summary(await recorder.next())).toEqual(['upsert Service/shop/ratings']);

    // Left empty: the second read applies it.
    await truncate(file);
    expect(summary(await recorder.next())).toEqual(['delete Service/shop/reviews', 'delete Service/shop/ratings']);
  });

  it('keeps serving a file that became malformed, reports where, and resumes when it is fixed', async () => {
    const file = path.join(dir, 'shop.yaml');
    await writeFile(file, docs(service('reviews'), service('ratings')));
    const recorder = await started();
    await recorder.next();

    await writeFile(file, `${service('reviews')}---\napiVersion: v1\nkind: Service\nmetadata: {name: ratings\n`);
    await source!.rescan();
    expect(recorder.pending()).toEqual([]);
    const problems = source!.problems();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file, type: 'syntax' });
    expect(problems[0].line).toBeGreaterThanOrEqual(13);
    expect(problems[0].message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: YAML syntax error`));

    // Fixed, with one change: exactly that change flows, and the problem is gone.
    await writeFile(file, docs(service('reviews'), service('ratings', 8080)));
    await source!.rescan();
    expect(recorder.pending().map(summary)).toEqual([['upsert Service/shop/ratings']]);
    expect(source!.problems()).toEqual([]);
  });

  it('emits nothing when a file is rewritten with the same content', async () => {
    const file = path.join(dir, 'shop.yaml');
    await writeFile(file, service('reviews'));
    const recorder = await started();
    await recorder.next();
    await writeFile(file, service('reviews'));
    await source!.rescan();
    expect(recorder.pending()).toEqual([]);
  });

  it('catches an atomic replace (a temporary file renamed over the manifest)', async () => {
    const file = path.join(dir, 'shop.yaml');
    await writeFile(file, docs(service('reviews'), service('ratings')));
    const recorder = await started();
    await recorder.next();
    const temporary = path.join(dir, '.shop.yaml.tmp');
    await writeFile(temporary, docs(service('reviews'), service('ratings', 8080)));
    await rename(temporary, file);
    expect(summary(await recorder.next())).toEqual(['upsert Service/shop/ratings']);
  });

  it('catches a rename to another manifest name without re-sending unchanged objects', async () => {
    await writeFile(path.join(dir, 'a.yaml'), service('reviews'));
    const recorder = await started();
    await recorder.next();
    await rename(path.join(dir, 'a.yaml'), path.join(dir, 'b.yaml'));
    await source!.rescan();
    expect(recorder.pending()).toEqual([]);
    await rename(path.join(dir, 'b.yaml'), path.join(dir, 'b.txt'));
    expect(summary(await recorder.next())).toEqual(['delete Service/shop/reviews']);
  });

  it('follows a mounted ConfigMap, whose files are symlinks through a swapped ..data link', async () => {
    // The layout the kubelet writes: name -> ..data/name, ..data -> ..<timestamp>/.
    await mkdir(path.join(dir, '..2026_01_01'));
    await writeFile(path.join(dir, '..2026_01_01', 'shop.yaml'), service('reviews'));
    await symlink('..2026_01_01', path.join(dir, '..data'));
    await symlink(path.join('..data', 'shop.yaml'), path.join(dir, 'shop.yaml'));
    const recorder = await started();
    expect(summary(await recorder.next())).toEqual(['upsert Service/shop/reviews']);

    await mkdir(path.join(dir, '..2026_01_02'));
    await writeFile(path.join(dir, '..2026_01_02', 'shop.yaml'), service('reviews', 8080));
    await symlink('..2026_01_02', path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    const changed = await recorder.next();
    expect(changed).toEqual([
      expect.objectContaining({ type: 'upsert', object: expect.objectContaining({ spec: { ports: [{ port: 8080 }] } }) }),
    ]);
  });

  it('serves the first definition of an object in path order and reports the other', async () => {
    await writeFile(path.join(dir, '10-shop.yaml'), service('reviews', 9080));
    await writeFile(path.join(dir, '20-more.yaml'), service('reviews', 9999));
    const recorder = await started();
    const [initial] = recorder.batches;
    expect(initial).toHaveLength(1);
    expect(initial[0]).toMatchObject({ type: 'upsert', object: { spec: { ports: [{ port: 9080 }] } } });
    expect(source!.problems()).toEqual([
      expect.objectContaining({
        type: 'duplicate',
        file: path.join(dir, '20-more.yaml'),
        message: `${path.join(dir, '20-more.yaml')}:1: Service shop/reviews is already defined at ${path.join(dir, '10-shop.yaml')}:1; this definition is ignored`,
      }),
    ]);
    await recorder.next();

    // When the first goes, the other takes over.
    await unlink(path.join(dir, '10-shop.yaml'));
    const next = await recorder.next();
    expect(next).toEqual([
      expect.objectContaining({ type: 'upsert', object: expect.objectContaining({ spec: { ports: [{ port: 9999 }] } }) }),
    ]);
    expect(source!.problems()).toEqual([]);
  });

  it('notices changes by periodic rescan when file events are not available', async () => {
    await writeFile(path.join(dir, 'shop.yaml'), service('reviews'));
    const recorder = await started({ watch: false, rescanIntervalMs: 50 });
    await recorder.next();
    await writeFile(path.join(dir, 'shop.yaml'), service('reviews', 8080));
    const changed = await recorder.next();
    expect(changed).toEqual([
      expect.objectContaining({ type: 'upsert', object: expect.objectContaining({ spec: { ports: [{ port: 8080 }] } }) }),
    ]);
  });

  it('finds by its safety rescan a change in any file of a folder larger than one turn of stats', async () => {
    const names = Array.from({ length: 450 }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    for (const name of names) await writeFile(path.join(dir, `${name}.yaml`), service(name));
    const recorder = await started({ watch: false, rescanIntervalMs: 0 });
    await recorder.next();
    // A file past the first few hundred stats.
    await writeFile(path.join(dir, 'svc-421.yaml'), service('svc-421', 8080));
    await source!.rescan();
    const changed = await recorder.next();
    expect(summary(changed)).toEqual(['upsert Service/shop/svc-421']);
    expect(changed).toEqual([expect.objectContaining({ object: expect.objectContaining({ spec: { ports: [{ port: 8080 }] } }) })]);
  });

  describe('with file events alone (no safety rescan), reading only the files named', () => {
    const slice = (name: string, address: string) =>
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ${name}-slice\n  namespace: shop\n  labels: {kubernetes.io/service-name: ${name}}\naddressType: IPv4\nendpoints:\n  - addresses: ["${address}"]\nports:\n  - {name: http, port: 8080}\n`;
    let counter = 0;
    /** Writes a hidden temporary file and renames it over `file`, as editors and `kubectl cp` do. */
    const atomicWrite = async (file: string, text: string) => {
      const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${counter++}.tmp`);
      await writeFile(temporary, text);
      await rename(temporary, file);
    };
    /** Takes batches until `done` holds for everything taken; returns it all. */
    async function collect(recorder: Recorder, done: (events: SourceEvent[]) => boolean): Promise<SourceEvent[]> {
      const events: SourceEvent[] = [];
      while (!done(events)) events.push(...(await recorder.next()));
      return events;
    }
    const addressOf = (event: SourceEvent) => (event.type === 'upsert' ? (event.object as any).endpoints[0].addresses[0] : undefined);

    it('follows create, in-place modify, repeated atomic renames over a file, delete, and rename away', async () => {
      const recorder = await started({ rescanIntervalMs: 0 });
      await recorder.next();
      const file = path.join(dir, 'reviews.yaml');

      await writeFile(file, slice('reviews', '10.0.0.1'));
      expect(summary(await collect(recorder, (e) => e.some((x) => addressOf(x) === '10.0.0.1')))).toContain(
        'upsert EndpointSlice/shop/reviews-slice',
      );

      await writeFile(file, slice('reviews', '10.0.0.2'));
      await collect(recorder, (e) => e.some((x) => addressOf(x) === '10.0.0.2'));

      // Renamed over three times in a row: each new file (a new inode) is noticed.
      for (const address of ['10.0.0.3', '10.0.0.4', '10.0.0.5']) {
        await atomicWrite(file, slice('reviews', address));
        const events = await collect(recorder, (e) => e.some((x) => addressOf(x) === address));
        expect(summary(events).every((line) => line === 'upsert EndpointSlice/shop/reviews-slice')).toBe(true);
      }

      await unlink(file);
      expect(summary(await recorder.next())).toEqual(['delete EndpointSlice/shop/reviews-slice']);

      await writeFile(path.join(dir, 'ratings.yaml'), slice('ratings', '10.0.1.1'));
      await collect(recorder, (e) => e.some((x) => addressOf(x) === '10.0.1.1'));
      // Renamed out of the folder: a delete.
      const outside = await mkdtemp(path.join(os.tmpdir(), 'switchyard-outside-'));
      try {
        await rename(path.join(dir, 'ratings.yaml'), path.join(outside, 'ratings.yaml'));
        expect(summary(await recorder.next())).toEqual(['delete EndpointSlice/shop/ratings-slice']);
      } finally {
        await rm(outside, { recursive: true, force: true });
      }
      expect(recorder.pending()).toEqual([]);
    });

    it('reads a file in a new subfolder, follows it there, and forgets a removed subfolder', async () => {
      const recorder = await started({ rescanIntervalMs: 0 });
      await recorder.next();
      await mkdir(path.join(dir, 'team', 'shop'), { recursive: true });
      await writeFile(path.join(dir, 'team', 'shop', 'web.yaml'), service('web'));
      await collect(recorder, (e) => summary(e).includes('upsert Service/shop/web'));

      // The new subfolder is watched: a later edit there arrives too.
      await atomicWrite(path.join(dir, 'team', 'shop', 'web.yaml'), service('web', 8081));
      const edited = await collect(recorder, (e) => e.some((x) => x.type === 'upsert' && (x.object as any).spec.ports[0].port === 8081));
      expect(summary(edited).every((line) => line === 'upsert Service/shop/web')).toBe(true);

      await rm(path.join(dir, 'team'), { recursive: true });
      expect(summary(await collect(recorder, (e) => e.length > 0))).toEqual(['delete Service/shop/web']);
    });

    it('keeps a file that is briefly invalid YAML, and sends only the fix', async () => {
      const file = path.join(dir, 'shop.yaml');
      await writeFile(file, docs(service('reviews'), service('ratings')));
      const recorder = await started({ rescanIntervalMs: 0 });
      await recorder.next();
      await writeFile(file, `${service('reviews')}---\nkind: Service\nmetadata: {name: ratings\n`);
      // The syntax error is reported and nothing is deleted.
      for (let i = 0; i < 200 && !source!.problems().some((p) => p.type === 'syntax'); i++) await new Promise((r) => setTimeout(r, 10));
      expect(source!.problems()).toEqual([expect.objectContaining({ type: 'syntax', file })]);
      expect(recorder.pending()).toEqual([]);
      await writeFile(file, docs(service('reviews'), service('ratings', 8080)));
      expect(summary(await recorder.next())).toEqual(['upsert Service/shop/ratings']);
      expect(source!.problems()).toEqual([]);
    });

    it('loses nothing of a burst of 100 files written at once', async () => {
      const recorder = await started({ rescanIntervalMs: 0 });
      await recorder.next();
      const names = Array.from({ length: 100 }, (_, i) => `svc-${i}`);
      await Promise.all(names.map((name, i) => (i % 2 ? atomicWrite : writeFile)(path.join(dir, `${name}.yaml`), service(name))));
      const events = await collect(recorder, (e) => new Set(e.map((x) => x.ref.name)).size === 100);
      expect(events.every((e) => e.type === 'upsert')).toBe(true);
      expect(new Set(events.map((e) => e.ref.name))).toEqual(new Set(names));
    });
  });

  it('a safety rescan reads only what differs from what was read', async () => {
    await writeFile(path.join(dir, 'a.yaml'), service('alpha'));
    await writeFile(path.join(dir, 'b.yaml'), service('bravo'));
    const recorder = await started({ watch: false, rescanIntervalMs: 0 });
    await recorder.next();
    await writeFile(path.join(dir, 'b.yaml'), service('bravo', 8080));
    await writeFile(path.join(dir, 'c.yaml'), service('charlie'));
    await unlink(path.join(dir, 'a.yaml'));
    await source!.rescan();
    expect(recorder.pending().map(summary)).toEqual([
      ['upsert Service/shop/bravo', 'upsert Service/shop/charlie', 'delete Service/shop/alpha'],
    ]);
  });

  it('stops watching on stop()', async () => {
    const recorder = await started({ rescanIntervalMs: 20 });
    await source!.stop();
    await writeFile(path.join(dir, 'shop.yaml'), service('reviews'));
    await source!.rescan();
    expect(recorder.batches).toEqual([[]]);
  });
});

describe('loadManifestDir', () => {
  it('reads a folder once: events for every object, problems for the rest', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-load-'));
    try {
      await writeFile(path.join(dir, 'ok.yaml'), docs(service('reviews'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n'));
      await writeFile(path.join(dir, 'broken.yaml'), 'kind: Service\nmetadata: [\n');
      const { events, problems } = await loadManifestDir(dir);
      expect(summary(events)).toEqual(['upsert Service/shop/reviews']);
      expect(problems).toEqual([
        expect.objectContaining({ type: 'syntax', file: path.join(dir, 'broken.yaml') }),
        // A kind Switchyard does not read is said, not silently dropped.
        expect.objectContaining({ type: 'unknown-kind', file: path.join(dir, 'ok.yaml'), object: { kind: 'Deployment', name: 'x' } }),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
