// A resource gRPC C-core rejects: the NACK is visible in /debug/proxies (state NACKED, C-core's own
// message), C-core keeps serving its last good configuration, and the next translation heals it.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { TypeUrl } from '../../src/envoy/protos.js';
import { allAcked, configState, proxyEntries } from './support/admin-proxies.js';
import { startBackends, type BackendSet } from './support/backends.js';
import { checkSplit } from './support/binomial.js';
import type { CcoreClient } from './support/ccore-client.js';
import { eventually, startHarness, type Harness } from './support/harness.js';
import { endpointSlice, grpcService } from './support/manifests.js';
import { serviceTarget } from './support/proxyless-client.js';

const NS = 'shop';
const PORT = 50051;
const NODE = 'e2e-ccore-nack';
const NAMES = ['catalog-0', 'catalog-1'];
const CLUSTER = `${NS}/catalog/${PORT}`;
const CATALOG = serviceTarget('catalog', NS, PORT);

let backends: BackendSet;
let harness: Harness;
let ccore: CcoreClient;

const catalogManifests = (names: string[]) => [
  grpcService(NS, 'catalog', PORT),
  endpointSlice(
    NS,
    'catalog',
    backends.port,
    names.map((name) => ({ address: backends.get(name).address, zone: 'zone-a' })),
  ),
];

async function spread() {
  const counts = await ccore.tally(CATALOG, 200);
  const result = checkSplit(counts, 200, { 'catalog-0': 0.5, 'catalog-1': 0.5 });
  return { ok: result.ok, report: result.report };
}

beforeAll(async () => {
  backends = await startBackends(NAMES);
  harness = await startHarness((manifests) => manifests.write('catalog', catalogManifests(NAMES)), { admin: true });
  ccore = await harness.ccore(NODE);
  await eventually('the C-core client to be served', () => ccore.who(CATALOG));
});

afterAll(async () => {
  await harness?.stop();
  await backends?.stop();
});

test('a Cluster C-core rejects is reported as NACKED with its message; the client keeps its last good config; the next translation heals it', async () => {
  expect(await configState(harness, NODE)).toEqual(allAcked());
  const group = harness.switchyard.server.streams().find((stream) => stream.nodeId === NODE)?.group;
  if (group === undefined) throw new Error(`node ${NODE} has no stream with a group`);

  // Valid for Envoy (a STATIC cluster with its endpoints inline), but gRPC serves only EDS,
  // LOGICAL_DNS and aggregate clusters: C-core must reject it.
  harness.switchyard.cache.apply([
    {
      group,
      typeUrl: TypeUrl.Cluster,
      upserts: [
        {
          typeUrl: TypeUrl.Cluster,
          name: CLUSTER,
          value: {
            name: CLUSTER,
            type: 'STATIC',
            connectTimeout: { seconds: 5 },
            loadAssignment: {
              clusterName: CLUSTER,
              endpoints: [
                {
                  lbEndpoints: [
                    { endpoint: { address: { socketAddress: { address: backends.get('catalog-0').address, portValue: backends.port } } } },
                  ],
                },
              ],
            },
          },
        },
      ],
    },
  ]);

  const cds = await eventually('/debug/proxies to show the Cluster NACKED', async () => {
    const [entry] = await proxyEntries(harness, NODE);
    return entry?.types.Cluster?.state === 'NACKED' ? entry.types.Cluster : undefined;
  });
  expect({ nackCount: cds.nackCount, lastNack: cds.lastNack }).toEqual({
    nackCount: 1,
    lastNack: expect.stringMatching(/unknown discovery type/),
  });
  // The xDS server saw it as a NACK event from this node, too (what the metric and policy status count).
  expect(harness.nacks.filter((event) => event.nodeId === NODE).map((event) => event.typeUrl)).toEqual([TypeUrl.Cluster]);

  // The last good cluster (round robin over both endpoints) still serves every call; the process lives.
  const kept = await spread();
  expect(kept).toEqual({ ok: true, report: kept.report });

  // The next translation of the Service replaces the rejected cluster; C-core ACKs again.
  await harness.edit(() => harness.manifests.write('catalog', catalogManifests([...NAMES].reverse())));
  const healed = await configState(harness, NODE, harness.nacks.length);
  expect(healed).toEqual(allAcked());
  const after = await spread();
  expect(after).toEqual({ ok: true, report: after.report });
});
