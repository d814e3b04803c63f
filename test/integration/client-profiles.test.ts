// Client profiles through the real xDS server: nodes with different user agents land in the
// groups their profiles call for, share one encode per group, and their degradations show in
// /debug/proxies, /debug/config_dump, the metric and `switchyard status`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { loadManifestDir } from '../../src/sources/files.js';
import type { EventSink, Source, SourceEvent } from '../../src/sources/types.js';
import { status } from '../../src/cli/status.js';
import { testNode, XdsTestClient, type SotwTestStream, type TestNode } from '../support/xds-client.js';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

class StaticSource implements Source {
  constructor(private readonly events: SourceEvent[]) {}
  async start(sink: EventSink): Promise<void> {
    sink(this.events);
  }
  async stop(): Promise<void> {}
}

// What Debian's python3-grpcio 1.51.1 and @grpc/grpc-js-xds 1.14.1 send.
const PYTHON = { userAgentName: 'gRPC C-core linux Python', userAgentVersion: 'C-core 29.0.0 Python 1.51.1' };
const NODE_JS = { userAgentName: 'gRPC Node Pure JS', userAgentVersion: '1.14.1' };
const DEGRADED_GROUP = 'proxyless+legacy-header-match+no-ring-hash';

type Json = Record<string, any>;

async function getJson(port: number, pathname: string): Promise<any> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`);
  expect(response.status).toBe(200);
  return response.json();
}

describe('client profiles on a running control plane', () => {
  let app: Switchyard;
  let client: XdsTestClient;

  beforeAll(async () => {
    const { events } = await loadManifestDir(EXAMPLES);
    app = await startSwitchyard({ sources: [new StaticSource(events)], xdsPort: 0, adminPort: 0, debounce: { quietMs: 5, maxMs: 50 } });
    await app.ready;
    client = new XdsTestClient(app.xdsPort);
  });

  afterAll(async () => {
    client.close();
    await app.stop();
  });

  async function clusters(node: TestNode): Promise<{ stream: SotwTestStream; byName: Map<string, Json> }> {
    const stream = client.sotw();
    stream.request({ typeUrl: TypeUrl.Cluster, node: testNode(node) });
    const response = await stream.next(TypeUrl.Cluster);
    stream.ack(response);
    await stream.barrier();
    return { stream, byName: new Map(response.resources.map((r) => [r.name, r.value as Json])) };
  }

  it('serves C-core 1.51.1 round_robin for RingHash from one shared group, and grpc-js-xds the full policy', async () => {
    const first = await clusters({ id: 'py-1', ...PYTHON });
    const cart = [...first.byName.entries()].find(([name]) => name.startsWith('shop/cart/'))![1];
    expect(cart.lbPolicy).toBe('ROUND_ROBIN');
    expect(cart.loadBalancingPolicy.policies.map((p: Json) => p.typedExtensionConfig.name)).toEqual([
      'envoy.load_balancing_policies.round_robin',
    ]);

    // A second proxy of the same profile: the same group, nothing encoded again.
    const encodes = app.cache.stats().encodes;
    const second = await clusters({ id: 'py-2', ...PYTHON });
    expect(app.cache.stats().encodes).toBe(encodes);
    expect([...second.byName.keys()]).toEqual([...first.byName.keys()]);

    const js = await clusters({ id: 'js-1', ...NODE_JS });
    const jsCart = [...js.byName.entries()].find(([name]) => name.startsWith('shop/cart/'))![1];
    expect(jsCart.lbPolicy).toBe('RING_HASH');
    expect(jsCart.loadBalancingPolicy.policies[0].typedExtensionConfig.name).toBe('envoy.load_balancing_policies.ring_hash');

    const proxies = (await getJson(app.adminPort!, '/debug/proxies')) as Json[];
    const byNode = new Map<string, Json>(proxies.map((p) => [p.nodeId, p]));
    const proxy = (id: string): Json => byNode.get(id)!;
    expect(byNode.get('py-1')).toMatchObject({
      group: DEGRADED_GROUP,
      role: 'proxyless',
      client: { implementation: 'grpc-core', version: '1.51.1', label: 'grpc-core/1.51.1' },
    });
    expect(proxy('py-2').group).toBe(DEGRADED_GROUP);
    expect(byNode.get('js-1')).toMatchObject({ group: 'proxyless', client: { label: 'grpc-node/1.14.1' } });
    const ringHash = proxy('py-1').degradations.find((d: Json) => d.feature === 'ring_hash');
    expect(ringHash).toMatchObject({ service: 'shop/cart', policy: 'shop/cart-affinity', asked: 'RingHash', served: 'round_robin' });
    expect(ringHash.reason).toMatch(
      /^RingHash served as round_robin: gRPC C-core 1\.51\.1 \(Python\) crashes the calling process on its first ring-hash pick/,
    );
    expect(proxy('js-1').degradations.some((d: Json) => d.feature === 'ring_hash')).toBe(false);

    const dump = await getJson(app.adminPort!, '/debug/config_dump?node=py-1');
    expect(dump.node).toMatchObject({ group: DEGRADED_GROUP, client: { label: 'grpc-core/1.51.1' } });
    expect(dump.node.degradations).toEqual(proxy('py-1').degradations);

    const metrics = await (await fetch(`http://127.0.0.1:${app.adminPort}/metrics`)).text();
    expect(metrics).toContain('switchyard_client_degradations{feature="ring_hash"} 2');
    // Maglev is degraded for every gRPC client (none implements it): all three proxies.
    expect(metrics).toContain('switchyard_client_degradations{feature="maglev"} 3');

    const out: string[] = [];
    const code = await status(
      { admin: `127.0.0.1:${app.adminPort}` },
      { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => out.push(t) } },
    );
    expect(code).toBe(0);
    const text = out.join('');
    expect(text).toMatch(/^py-1\s+proxyless\s+grpc-core\/1\.51\.1 DEGRADED\s+sotw/m);
    expect(text).toMatch(/^py-1 DEGRADED shop\/cart\/\d+: RingHash served as round_robin: gRPC C-core 1\.51\.1 \(Python\) crashes/m);

    for (const stream of [first.stream, second.stream, js.stream]) stream.close();
  });
});
