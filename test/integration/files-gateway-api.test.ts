// Gateway API from a folder, as `switchyard serve --manifests` runs it: a gateway proxy naming
// the Gateway `infra/edge` gets its listener and routes over ADS, and an edit of the HTTPRoute
// file (the canary moved from 10% to 50%) reaches it as a new route configuration.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { FilesSource } from '../../src/sources/files.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { XdsTestClient, testNode, type DecodedDeltaResponse, type DeltaTestStream } from '../support/xds-client.js';

const canary = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'gatewayapi-canary', 'input.yaml');

type RouteConfig = {
  virtualHosts: Array<{
    domains: string[];
    routes: Array<{ route?: { weightedClusters?: { clusters: Array<{ name: string; weight: { value: number } }> } } }>;
  }>;
};

function weights(response: DecodedDeltaResponse): Array<[string, number]> {
  const config = response.resources[0].value as unknown as RouteConfig;
  const split = config.virtualHosts[0].routes.find((r) => r.route?.weightedClusters)!.route!.weightedClusters!.clusters;
  return split.map((c) => [c.name, Number(c.weight.value)]);
}

describe('Gateway API from a folder of manifests', () => {
  let dir: string;
  let app: Switchyard | undefined;
  let client: XdsTestClient | undefined;
  let stream: DeltaTestStream | undefined;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-gateway-api-'));
    writeFileSync(path.join(dir, 'canary.yaml'), readFileSync(canary, 'utf8'));
  });

  afterAll(async () => {
    stream?.close();
    client?.close();
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the Gateway to the proxies naming it and follows an edited route', async () => {
    app = await startSwitchyard({
      sources: [new FilesSource(dir, { debounceMs: 20, rescanIntervalMs: 200 })],
      xdsPort: 0,
      adminPort: null,
      debounce: { quietMs: 10, maxMs: 100 },
    });
    await app.ready;
    client = new XdsTestClient(app.xdsPort);
    stream = client.delta();
    stream.request({
      typeUrl: TypeUrl.Listener,
      subscribe: ['*'],
      node: testNode({ id: 'edge-1', role: 'gateway', gateway: 'infra/edge' }),
    });
    const listeners = await stream.next(TypeUrl.Listener);
    stream.ack(listeners);
    expect(listeners.names).toEqual(['gateway/infra/edge/8080']);
    stream.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'] });
    const clusters = await stream.next(TypeUrl.Cluster);
    stream.ack(clusters);
    expect(clusters.names.sort()).toEqual(['shop/foo-v1/8080', 'shop/foo-v2/8080']);
    stream.request({ typeUrl: TypeUrl.RouteConfiguration, subscribe: ['gateway/infra/edge/8080'] });
    const routes = await stream.next(TypeUrl.RouteConfiguration);
    stream.ack(routes);
    expect(weights(routes)).toEqual([
      ['shop/foo-v1/8080', 90],
      ['shop/foo-v2/8080', 10],
    ]);

    const file = path.join(dir, 'canary.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'));
    for (;;) {
      const update = await stream.next(TypeUrl.RouteConfiguration, 10_000);
      stream.ack(update);
      if (update.names.includes('gateway/infra/edge/8080')) {
        expect(weights(update)).toEqual([
          ['shop/foo-v1/8080', 50],
          ['shop/foo-v2/8080', 50],
        ]);
        break;
      }
    }
  });
});
