// Endpoints coming and going, as EndpointSlice edits seen by a proxyless gRPC client, and a
// resource the client rejects: reported as a NACK while the client keeps serving its last good
// config.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { PROXYLESS_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { startBackends, type BackendSet } from './support/backends.js';
import { checkSplit } from './support/binomial.js';
import { describeCounts, eventually, startHarness, untilServing, type Harness } from './support/harness.js';
import { endpointSlice, grpcService, type EndpointSpec } from './support/manifests.js';
import { serviceTarget, type WhoClient } from './support/proxyless-client.js';

const NS = 'shop';
const PORT = 50051;
const NODE = 'e2e-endpoints-client';

let backends: BackendSet;
let harness: Harness;
let catalog: WhoClient;

function catalogEndpoints(endpoints: Array<[name: string, ready: boolean]>): object[] {
  const specs: EndpointSpec[] = endpoints.map(([name, ready]) => ({ address: backends.get(name).address, ready, zone: 'zone-a' }));
  return [grpcService(NS, 'catalog', PORT), endpointSlice(NS, 'catalog', backends.port, specs)];
}

async function judge(n: number, shares: Record<string, number>) {
  const counts = await catalog.tally(n);
  const result = checkSplit(counts, n, shares);
  return { ok: result.ok, report: result.report };
}

beforeAll(async () => {
  backends = await startBackends(['catalog-0', 'catalog-1', 'catalog-2', 'search-0']);
  harness = await startHarness(
    (manifests) => {
      manifests.write(
        'catalog',
        catalogEndpoints([
          ['catalog-0', true],
          ['catalog-1', true],
          ['catalog-2', true],
        ]),
      );
      // No zone: the EndpointSlice of a cluster without topology labels.
      manifests.write('search', [
        grpcService(NS, 'search', PORT),
        endpointSlice(NS, 'search', backends.port, [{ address: backends.get('search-0').address }]),
      ]);
    },
    { admin: true },
  );
  catalog = harness.client(serviceTarget('catalog', NS, PORT), NODE);
  await untilServing(catalog);
});

afterAll(async () => {
  await harness?.stop();
  await backends?.stop();
});

describe('endpoints follow the EndpointSlice', () => {
  test('an endpoint turning not-ready stops receiving calls', async () => {
    const third = 1 / 3;
    const all = await judge(300, { 'catalog-0': third, 'catalog-1': third, 'catalog-2': third });
    expect(all).toEqual({ ok: true, report: all.report });

    await harness.edit(() =>
      harness.manifests.write(
        'catalog',
        catalogEndpoints([
          ['catalog-0', true],
          ['catalog-1', true],
          ['catalog-2', false],
        ]),
      ),
    );
    await eventually('catalog-2 to get no calls', async () => ((await catalog.tally(60)).has('catalog-2') ? undefined : true));
    // p = 0 for catalog-2: not one call of 300 may reach it.
    const two = await judge(300, { 'catalog-0': 0.5, 'catalog-1': 0.5 });
    expect(two).toEqual({ ok: true, report: two.report });
  });

  test('a new endpoint starts receiving calls', async () => {
    await backends.add('catalog-3');
    await harness.edit(() =>
      harness.manifests.write(
        'catalog',
        catalogEndpoints([
          ['catalog-0', true],
          ['catalog-1', true],
          ['catalog-2', false],
          ['catalog-3', true],
        ]),
      ),
    );
    await eventually('catalog-3 to get calls', async () => ((await catalog.tally(60)).has('catalog-3') ? true : undefined));
    const third = 1 / 3;
    const three = await judge(300, { 'catalog-0': third, 'catalog-1': third, 'catalog-3': third });
    expect(three).toEqual({ ok: true, report: three.report });
  });

  test('endpoints without a zone are served (gRPC requires a locality on every group of endpoints)', async () => {
    const search = harness.client(serviceTarget('search', NS, PORT), 'e2e-search-client');
    const answers = await eventually(
      'search to answer',
      async () => {
        const counts = await search.tally(10);
        return counts.get('search-0') === 10 ? counts : undefined;
      },
      5000,
    ).catch((err: Error) => err.message);
    const endpointNacks = harness.nacks.filter((e) => e.typeUrl === TypeUrl.ClusterLoadAssignment).map((e) => e.message);
    expect({ answers: typeof answers === 'string' ? answers : describeCounts(answers), endpointNacks }).toEqual({
      answers: 'search-0=10',
      endpointNacks: [],
    });
  });
});

describe('a resource the client rejects', () => {
  test('is reported as a NACK (event, stream snapshot, metric) and the client keeps its last good config', async () => {
    const cluster = `${NS}/catalog/${PORT}`;
    const nacksBefore = harness.nacks.length;
    // Valid for Envoy (Maglev is one of its LB policies), but the list has nothing gRPC knows:
    // the fallback Switchyard normally appends is missing, so grpc-js-xds must reject it.
    harness.switchyard.cache.apply([
      {
        group: PROXYLESS_GROUP,
        typeUrl: TypeUrl.Cluster,
        upserts: [
          {
            typeUrl: TypeUrl.Cluster,
            name: cluster,
            value: {
              name: cluster,
              type: 'EDS',
              edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
              connectTimeout: { seconds: 5 },
              loadBalancingPolicy: {
                policies: [
                  {
                    typedExtensionConfig: {
                      name: 'envoy.load_balancing_policies.maglev',
                      typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev' },
                    },
                  },
                ],
              },
            },
          },
        ],
      },
    ]);

    const nack = await eventually('a NACK of the cluster', () =>
      harness.nacks.slice(nacksBefore).find((e) => e.nodeId === NODE && e.typeUrl === TypeUrl.Cluster),
    );
    expect(nack.message).toMatch(/No registered LB policy found in list/);

    const third = 1 / 3;
    // The last good cluster (round robin over the three ready endpoints) still serves every call.
    const kept = await judge(300, { 'catalog-0': third, 'catalog-1': third, 'catalog-3': third });
    expect(kept).toEqual({ ok: true, report: kept.report });

    const cds = harness.switchyard.server
      .streams()
      .find((s) => s.nodeId === NODE)
      ?.types.find((t) => t.typeUrl === TypeUrl.Cluster);
    expect(cds).toBeDefined();
    // Rejected once and not re-sent in a loop; the ACKed version is the older one.
    expect({ nackCount: cds!.nackCount, ackedOlder: cds!.versionAcked !== cds!.versionSent }).toEqual({ nackCount: 1, ackedOlder: true });
    expect(cds!.lastNack).toMatch(/No registered LB policy found in list/);

    const metrics = await (await fetch(`http://127.0.0.1:${harness.switchyard.adminPort}/metrics`)).text();
    const line = metrics
      .split('\n')
      .find((l) => l.startsWith('switchyard_xds_nacks_total{') && l.includes('type="Cluster"') && l.includes(`node="${NODE}"`));
    expect(line).toMatch(/ 1$/);

    // The next translation of the Service replaces the bad cluster; the client ACKs again.
    await harness.edit(() =>
      harness.manifests.write(
        'catalog',
        catalogEndpoints([
          ['catalog-0', true],
          ['catalog-1', true],
          ['catalog-2', true],
          ['catalog-3', true],
        ]),
      ),
    );
    const healed = harness.switchyard.server
      .streams()
      .find((s) => s.nodeId === NODE)
      ?.types.find((t) => t.typeUrl === TypeUrl.Cluster);
    expect(healed && healed.versionAcked === healed.versionSent).toBe(true);
  });
});
