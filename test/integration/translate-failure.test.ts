// A failure never takes the control plane down: when one Service cannot be translated, or the
// cache refuses its resources, the process keeps running, every stream stays up, the rest of the
// batch goes out, the error is counted and shown as a problem, and the failed Service goes out
// by itself once it can (retried with backoff).
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import type { GroupChange } from '../../src/cache/types.js';
import type { TranslateFailure } from '../../src/pipeline/pipeline.js';
import type { Problem } from '../../src/analysis/problem.js';
import type { EventSink, Source, SourceEvent } from '../../src/sources/types.js';
import { endpointsAt, service, slice, upsert, upserts } from '../support/builders.js';
import { testNode, XdsTestClient, type DecodedDeltaResponse, type DeltaTestStream } from '../support/xds-client.js';

/** A source the test drives: the initial objects on start, then whatever the test emits. */
class TestSource implements Source {
  private sink: EventSink | undefined;
  constructor(private readonly initial: SourceEvent[]) {}
  async start(sink: EventSink): Promise<void> {
    this.sink = sink;
    sink(this.initial);
  }
  async stop(): Promise<void> {
    this.sink = undefined;
  }
  emit(events: SourceEvent[]): void {
    this.sink!(events);
  }
}

interface Running {
  app: Switchyard;
  source: TestSource;
  client: XdsTestClient;
  stream: DeltaTestStream;
  failures: TranslateFailure[];
  recovered: Problem[];
  /** Cluster names the client holds, kept current by a pump that ACKs every response. */
  clusters: Set<string>;
}

const running: Running[] = [];

async function start(): Promise<Running> {
  const source = new TestSource(
    upserts(service('a'), slice('a-1', 'a', endpointsAt('10.0.0.1')), service('b'), slice('b-1', 'b', endpointsAt('10.0.1.1'))),
  );
  const app = await startSwitchyard({
    sources: [source],
    xdsPort: 0,
    adminPort: 0,
    debounce: { quietMs: 5, maxMs: 20 },
    retry: { initialMs: 50, maxMs: 400 },
  });
  await app.ready;
  const failures: TranslateFailure[] = [];
  const recovered: Problem[] = [];
  app.pipeline.on('translateFailed', (f) => failures.push(f));
  app.pipeline.on('translateRecovered', (p) => recovered.push(p));
  const client = new XdsTestClient(app.xdsPort);
  const stream = client.delta();
  const clusters = new Set<string>();
  stream.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'], node: testNode({ id: 'sidecar-1' }) });
  const run: Running = { app, source, client, stream, failures, recovered, clusters };
  running.push(run);
  void (async () => {
    for (;;) {
      let response: DecodedDeltaResponse;
      try {
        response = await stream.next(TypeUrl.Cluster, 60_000);
      } catch {
        return;
      }
      for (const r of response.resources) clusters.add(r.name);
      for (const name of response.removedResources) clusters.delete(name);
      stream.ack(response);
    }
  })();
  await waitFor(() => clusters.has('shop/a/8080') && clusters.has('shop/b/8080'), 'the first clusters');
  return run;
}

afterEach(async () => {
  for (const run of running.splice(0)) {
    run.stream.cancel();
    run.client.close();
    await run.app.stop();
  }
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function translateErrors(run: Running, stage: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${run.app.adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`switchyard_translate_errors_total{stage="${stage}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** The stream is still open: the server answers a new request on it. */
async function expectStreamUp(stream: DeltaTestStream): Promise<void> {
  await stream.barrier();
  const ended = await Promise.race([stream.status.then(() => true), Promise.resolve(false)]);
  expect(ended).toBe(false);
}

/** Both Services gain a port in one batch: a good change (a) and one that will fail (b). */
function addPorts(run: Running): void {
  run.source.emit([
    upsert(
      service('a', [
        { name: 'http', port: 8080 },
        { name: 'http-admin', port: 9090 },
      ]),
    ),
    upsert(
      service('b', [
        { name: 'http', port: 8080 },
        { name: 'http-admin', port: 7070 },
      ]),
    ),
  ]);
}

describe('a failing flush', () => {
  it('leaves streams up when a Service cannot be translated, sends the rest of the batch, and sends the Service once it can', async () => {
    const run = await start();
    // A model that throws for one Service: whatever reads it while translating fails.
    const model = run.app.pipeline.model;
    const realService = model.service.bind(model);
    let broken = true;
    model.service = (key: string) => {
      if (broken && key === 'shop/b') throw new Error('injected fault reading Service shop/b');
      return realService(key);
    };

    addPorts(run);
    await waitFor(() => run.clusters.has('shop/a/9090'), "Service a's new cluster");
    await waitFor(() => run.failures.length > 0, 'the failure event');
    expect(run.clusters.has('shop/b/7070')).toBe(false);
    // b keeps its last good cluster.
    expect(run.clusters.has('shop/b/8080')).toBe(true);
    await expectStreamUp(run.stream);

    const failure = run.failures.find((f) => f.problem.object.kind === 'Service')!;
    expect(failure.stage).toBe('translate');
    expect(failure.keys).toEqual(['shop/b']);
    expect(failure.problem).toMatchObject({
      code: 'TranslationFailed',
      severity: 'error',
      object: { kind: 'Service', namespace: 'shop', name: 'b' },
    });
    expect(failure.problem.message).toContain('injected fault reading Service shop/b');
    expect(run.app.pipeline.problems().map((p) => p.object.name)).toContain('b');
    expect(await translateErrors(run, 'translate')).toBeGreaterThanOrEqual(1);

    // The fault goes away: the retry sends b's change without any new event.
    broken = false;
    await waitFor(() => run.clusters.has('shop/b/7070'), "Service b's new cluster, on retry");
    await waitFor(() => run.app.pipeline.problems().length === 0, 'the problem cleared');
    expect(run.recovered.some((p) => p.object.name === 'b')).toBe(true);
    await expectStreamUp(run.stream);
  });

  it('sends the rest of the batch when the cache refuses one Service, and the refused one once the cache takes it', async () => {
    const run = await start();
    const cache = run.app.cache;
    const realApply = cache.apply.bind(cache);
    let refuse = true;
    const namesOf = (change: GroupChange) => [...(change.upserts ?? []), ...(change.set ?? [])].map((r) => r.name);
    cache.apply = (changes: GroupChange[]) => {
      const bad = changes.flatMap(namesOf).find((name) => name === 'shop/b/7070');
      if (refuse && bad) throw new Error(`resource "${bad}" cannot be encoded (injected)`);
      return realApply(changes);
    };

    addPorts(run);
    await waitFor(() => run.clusters.has('shop/a/9090'), "Service a's new cluster");
    await waitFor(() => run.failures.some((f) => f.stage === 'cache'), 'the failure event');
    expect(run.clusters.has('shop/b/7070')).toBe(false);
    await expectStreamUp(run.stream);
    const failure = run.failures.find((f) => f.stage === 'cache')!;
    expect(failure.problem.object).toEqual({ kind: 'Service', namespace: 'shop', name: 'b' });
    expect(failure.problem.message).toContain('cannot be encoded');
    expect(await translateErrors(run, 'cache')).toBeGreaterThanOrEqual(1);

    // A later good change still goes out while b keeps failing.
    run.source.emit([upsert(service('c')), upsert(slice('c-1', 'c', endpointsAt('10.0.2.1')))]);
    await waitFor(() => run.clusters.has('shop/c/8080'), 'a later Service');
    expect(run.clusters.has('shop/b/7070')).toBe(false);

    refuse = false;
    await waitFor(() => run.clusters.has('shop/b/7070'), "Service b's new cluster, on retry");
    await waitFor(() => run.app.pipeline.problems().length === 0, 'the problem cleared');
    await expectStreamUp(run.stream);
  });
});
