// The admin server as the assembled control plane runs it (src/app.ts): readiness follows the
// sources' initial sync, and the pipeline's real flushes move the flush metrics and the push
// convergence histogram.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { loadManifestDir } from '../../src/sources/files.js';
import type { EventSink, Source, SourceEvent } from '../../src/sources/types.js';
import { testNode, XdsTestClient } from '../support/xds-client.js';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

/** A source that delivers the example manifests when told to, and later events on demand. */
class GatedSource implements Source {
  sink: EventSink | undefined;
  private open: () => void = () => {};
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));

  constructor(private readonly initial: SourceEvent[]) {}

  async start(sink: EventSink): Promise<void> {
    this.sink = sink;
    await this.gate;
    sink(this.initial);
  }

  release(): void {
    this.open();
  }

  async stop(): Promise<void> {}
}

async function get(port: number, pathname: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`);
  return { status: response.status, body: await response.text() };
}

async function sample(port: number, series: string): Promise<number | undefined> {
  const { body } = await get(port, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('admin server in the assembled control plane', () => {
  let app: Switchyard | undefined;
  let client: XdsTestClient | undefined;

  afterEach(async () => {
    client?.close();
    await app?.stop();
  });

  it('is live at once, ready after the initial sync, and measures real flushes and pushes', async () => {
    const { events } = await loadManifestDir(EXAMPLES);
    const services = events.filter((e) => e.type === 'upsert' && e.ref.kind === 'Service');
    expect(services.length).toBeGreaterThan(1);
    const source = new GatedSource(events);
    app = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: 0, debounce: { quietMs: 5, maxMs: 50 } });
    const adminPort = app.adminPort!;

    expect((await get(adminPort, '/healthz')).status).toBe(200);
    const early = await get(adminPort, '/readyz');
    expect(early.status).toBe(503);
    expect(early.body).toMatch(/^not ready/);

    source.release();
    await app.ready;
    expect(await get(adminPort, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
    expect(await sample(adminPort, 'switchyard_source_events_total{kind="Service"}')).toBe(services.length);
    expect(await sample(adminPort, 'switchyard_translate_seconds_count')).toBe(1);
    expect(await sample(adminPort, 'switchyard_cache_resources{group="sidecar",type="Cluster"}')).toBeGreaterThan(0);

    client = new XdsTestClient(app.xdsPort);
    const ads = client.sotw();
    ads.request({ typeUrl: TypeUrl.Cluster, node: testNode({ id: 'envoy-app' }) });
    const cds = await ads.next(TypeUrl.Cluster);
    ads.ack(cds);
    await ads.barrier();

    // A Service goes away: the pipeline flushes, CDS is pushed, the ACK closes the loop.
    const gone = services[0];
    source.sink!([{ type: 'delete', ref: gone.ref }]);
    let update = await ads.next(TypeUrl.Cluster);
    ads.ack(update);
    // A removal can go out in two steps (make before break): follow it to the final version.
    while (update.versionInfo.includes('.')) {
      update = await ads.next(TypeUrl.Cluster);
      ads.ack(update);
    }
    await ads.barrier();
    expect(update.names.some((name) => name.startsWith(`${gone.ref.namespace}/${gone.ref.name}/`))).toBe(false);

    expect(await sample(adminPort, 'switchyard_translate_seconds_count')).toBe(2);
    expect(await sample(adminPort, 'switchyard_debounce_wait_seconds_count')).toBe(2);
    expect(await sample(adminPort, 'switchyard_push_convergence_seconds_count{type="Cluster"}')).toBe(1);
    const proxies = JSON.parse((await get(adminPort, '/debug/proxies')).body);
    expect(proxies[0]).toMatchObject({ nodeId: 'envoy-app', types: { Cluster: { state: 'SYNCED', versionAcked: update.versionInfo } } });
  });
});
