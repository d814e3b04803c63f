// `switchyard serve` on a folder, as a user runs it: files are added, edited, broken and
// deleted while a proxy is connected over ADS, and the proxy sees each change.
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { FilesSource } from '../../src/sources/files.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { XdsTestClient, testNode, type DeltaTestStream, type DecodedDeltaResponse } from '../support/xds-client.js';

const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');

const INVENTORY = `
apiVersion: v1
kind: Service
metadata: { name: inventory, namespace: shop }
spec:
  ports: [{ name: http, port: 7000, appProtocol: http }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: inventory-1
  namespace: shop
  labels: { kubernetes.io/service-name: inventory }
addressType: IPv4
ports: [{ name: http, port: 7000 }]
endpoints:
  - addresses: [10.7.0.1]
    conditions: { ready: true }
    zone: zone-a
`;

/** Waits for the next response of a type that satisfies `until`, ACKing every response on the way. */
async function nextMatching(
  stream: DeltaTestStream,
  typeUrl: string,
  until: (r: DecodedDeltaResponse) => boolean,
): Promise<DecodedDeltaResponse> {
  for (;;) {
    const response = await stream.next(typeUrl, 10000);
    stream.ack(response);
    if (until(response)) return response;
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function addresses(response: DecodedDeltaResponse, cluster: string): string[] {
  const assignment = response.resources.find((r) => r.name === cluster)?.value as any;
  if (!assignment) return [];
  return assignment.endpoints.flatMap((l: any) => l.lbEndpoints.map((e: any) => e.endpoint.address.socketAddress.address)).sort();
}

describe('serving a folder of manifests', () => {
  let dir: string;
  let app: Switchyard;
  let client: XdsTestClient;
  let stream: DeltaTestStream;
  let source: FilesSource;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-files-'));
    cpSync(examples, dir, { recursive: true });
    app = await startSwitchyard({
      sources: [(source = new FilesSource(dir, { debounceMs: 20, rescanIntervalMs: 200 }))],
      xdsPort: 0,
      adminPort: null,
      debounce: { quietMs: 10, maxMs: 100 },
    });
    await app.ready;
    client = new XdsTestClient(app.xdsPort);
    stream = client.delta();
    stream.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'], node: testNode({ id: 'sidecar-1' }) });
    const clusters = await stream.next(TypeUrl.Cluster);
    stream.ack(clusters);
    expect(clusters.names).toContain('shop/cart/8080');
    stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['shop/cart/8080', 'shop/inventory/7000'] });
    const assignments = await stream.next(TypeUrl.ClusterLoadAssignment);
    stream.ack(assignments);
    // A name that does not exist yet is reported as removed, not as an error.
    expect(assignments.removedResources).toEqual(['shop/inventory/7000']);
  });

  afterAll(async () => {
    stream?.close();
    client?.close();
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pushes an edited endpoint address', async () => {
    const file = path.join(dir, 'cart.yaml');
    const text = readFileSync(file, 'utf8');
    const before = text.match(/addresses: \[(10\.[0-9.]+)\]/)![1];
    writeFileSync(file, text.replace(`addresses: [${before}]`, 'addresses: [10.99.0.1]'));
    const update = await nextMatching(stream, TypeUrl.ClusterLoadAssignment, (r) => r.names.includes('shop/cart/8080'));
    expect(addresses(update, 'shop/cart/8080')).toContain('10.99.0.1');
    expect(addresses(update, 'shop/cart/8080')).not.toContain(before);
  });

  it('serves a Service from an added file, with the endpoints the proxy was waiting for', async () => {
    writeFileSync(path.join(dir, 'inventory.yaml'), INVENTORY);
    const clusters = await nextMatching(stream, TypeUrl.Cluster, (r) => r.names.includes('shop/inventory/7000'));
    expect(clusters.removedResources).toEqual([]);
    const assignments = await nextMatching(stream, TypeUrl.ClusterLoadAssignment, (r) => r.names.includes('shop/inventory/7000'));
    expect(addresses(assignments, 'shop/inventory/7000')).toEqual(['10.7.0.1']);
  });

  it('keeps serving the last good objects of a file that turns malformed, then takes the fix', async () => {
    const file = path.join(dir, 'inventory.yaml');
    writeFileSync(file, INVENTORY.replace('addresses: [10.7.0.1]', 'addresses: [10.7.0.1'));
    await waitFor(() => source.problems().some((p) => p.file.endsWith('inventory.yaml')));
    // The broken file changed nothing for the proxy: once any debounced flush would have run
    // (the debounce's hard maximum is 100 ms), a round trip shows no push is on its way.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await stream.barrier();
    expect(stream.pending(TypeUrl.ClusterLoadAssignment)).toEqual([]);
    expect(stream.pending(TypeUrl.Cluster)).toEqual([]);
    writeFileSync(file, INVENTORY.replace('10.7.0.1', '10.7.0.2'));
    const update = await nextMatching(stream, TypeUrl.ClusterLoadAssignment, (r) => r.names.includes('shop/inventory/7000'));
    expect(addresses(update, 'shop/inventory/7000')).toEqual(['10.7.0.2']);
  });

  it('removes the Service of a deleted file', async () => {
    unlinkSync(path.join(dir, 'inventory.yaml'));
    const clusters = await nextMatching(stream, TypeUrl.Cluster, (r) => r.removedResources.includes('shop/inventory/7000'));
    expect(clusters.names).not.toContain('shop/inventory/7000');
  });
});
