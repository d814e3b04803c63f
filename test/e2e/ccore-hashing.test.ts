// LB policies through gRPC C-core 1.51 (Debian's python3-grpcio): what it gets and that it survives.
// C-core 1.51 reads only the Cluster's legacy lb_policy (ROUND_ROBIN or RING_HASH), and Debian's
// 1.51.1 crashes its process on the first ring-hash pick. So LeastRequest, Maglev and RingHash must
// each reach it as something it accepts (never NACKed) and survives (calls keep being answered);
// where that is not the policy as written, /debug/proxies must say so for this proxy.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import type { LoadBalancerPolicy } from '../../src/sources/types.js';
import { allAcked, configState, degradationsOf, proxyEntries } from './support/admin-proxies.js';
import { startBackends, type BackendSet } from './support/backends.js';
import { checkSplit } from './support/binomial.js';
import type { CcoreClient } from './support/ccore-client.js';
import { eventually, startHarness, type Harness } from './support/harness.js';
import { endpointSlice, grpcService, trafficPolicy } from './support/manifests.js';
import { serviceTarget } from './support/proxyless-client.js';

const NS = 'shop';
const PORT = 8080;
const NODE = 'e2e-ccore-hashing';
const NAMES = ['cart-0', 'cart-1', 'cart-2'];
const CART = serviceTarget('cart', NS, PORT);
const THIRDS = { 'cart-0': 1 / 3, 'cart-1': 1 / 3, 'cart-2': 1 / 3 };

let backends: BackendSet;
let harness: Harness;
let ccore: CcoreClient;
let nackMark = 0;

function cartManifests(policy: LoadBalancerPolicy): object[] {
  return [
    grpcService(NS, 'cart', PORT),
    endpointSlice(
      NS,
      'cart',
      backends.port,
      NAMES.map((name) => ({ address: backends.get(name).address, zone: 'zone-a' })),
    ),
    trafficPolicy(NS, 'cart-lb', {
      targetRef: { kind: 'Service', name: 'cart' },
      loadBalancer: { policy, ...(policy === 'LeastRequest' ? {} : { hashOn: [{ header: { name: 'x-user-id' } }] }) },
    }),
  ];
}

/**
 * 300 calls that all carry one hash key. Round robin spreads them evenly (each backend 100 ± 37);
 * a hash that C-core applied would send all 300 to one backend, far outside.
 */
async function oneKeySpread() {
  const counts = await ccore.tally(CART, 300, { 'x-user-id': 'alice' });
  const result = checkSplit(counts, 300, THIRDS);
  return { ok: result.ok, report: result.report };
}

/** The degradations /debug/proxies lists for this client (its one stream). */
async function degradations(): Promise<string[]> {
  const [entry] = await proxyEntries(harness, NODE);
  return degradationsOf(entry);
}

beforeAll(async () => {
  backends = await startBackends(NAMES);
  harness = await startHarness((manifests) => manifests.write('cart', cartManifests('LeastRequest')), { admin: true });
  ccore = await harness.ccore(NODE);
  await eventually('the C-core client to be served', () => ccore.who(CART));
});

beforeEach(() => {
  nackMark = harness.nacks.length;
});

afterAll(async () => {
  await harness?.stop();
  await backends?.stop();
});

describe('LB policies C-core 1.51 cannot apply as written: accepted, survived, and said so', () => {
  test('LeastRequest: ACKed, calls spread over every backend', async () => {
    const spread = await oneKeySpread();
    expect(spread).toEqual({ ok: true, report: spread.report });
    expect(await configState(harness, NODE, nackMark)).toEqual(allAcked());
  });

  test('Maglev: ACKed, served as round robin (the process survives), and /debug/proxies records the degradation', async () => {
    await harness.edit(() => harness.manifests.write('cart', cartManifests('Maglev')));
    expect(await configState(harness, NODE, nackMark)).toEqual(allAcked());
    const spread = await oneKeySpread();
    expect(spread).toEqual({ ok: true, report: spread.report });
    const recorded = await degradations();
    expect({ recorded, mentionsMaglevOrRingHash: recorded.some((d) => /maglev|ring.?hash/i.test(d)) }).toEqual({
      recorded,
      mentionsMaglevOrRingHash: true,
    });
  });

  test('RingHash: ACKed, served as round robin (the process survives), and /debug/proxies records the degradation', async () => {
    await harness.edit(() => harness.manifests.write('cart', cartManifests('RingHash')));
    expect(await configState(harness, NODE, nackMark)).toEqual(allAcked());
    // Two rounds: the crash C-core 1.51.1 has would come at the first pick, and end the process.
    for (let round = 0; round < 2; round++) {
      const spread = await oneKeySpread();
      expect(spread).toEqual({ ok: true, report: spread.report });
    }
    expect(ccore.exit).toBeUndefined();
    const recorded = await degradations();
    expect({ recorded, mentionsRingHash: recorded.some((d) => /ring.?hash/i.test(d)) }).toEqual({ recorded, mentionsRingHash: true });
  });
});
