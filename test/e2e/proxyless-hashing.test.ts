// Consistent hashing through a proxyless gRPC client: a TrafficPolicy's RingHash on a header,
// Maglev (which gRPC does not have: it takes the ring_hash fallback Switchyard lists after it)
// and LeastRequest (gRPC takes round_robin) — ACKed, never NACKed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { LoadBalancerPolicy } from '../../src/sources/types.js';
import { decodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { PROXYLESS_GROUP } from '../../src/cache/types.js';
import { startBackends, type BackendSet } from './support/backends.js';
import { checkSplit } from './support/binomial.js';
import { describeCounts, eventually, startHarness, untilServing, type Harness } from './support/harness.js';
import { endpointSlice, grpcService, trafficPolicy } from './support/manifests.js';
import { serviceTarget, type WhoClient } from './support/proxyless-client.js';

const NS = 'shop';
const PORT = 8080;
const CLUSTER = `${NS}/cart/${PORT}`;
const NODE = 'e2e-hashing-client';
const NAMES = ['cart-0', 'cart-1', 'cart-2'];
const KEYS = Array.from({ length: 150 }, (_, i) => `user-${i}`);

let backends: BackendSet;
let harness: Harness;
let cart: WhoClient;

function cartManifests(members: string[], policy: LoadBalancerPolicy): object[] {
  return [
    grpcService(NS, 'cart', PORT),
    endpointSlice(
      NS,
      'cart',
      backends.port,
      members.map((name) => ({ address: backends.get(name).address, zone: 'zone-a' })),
    ),
    trafficPolicy(NS, 'cart-lb', {
      targetRef: { kind: 'Service', name: 'cart' },
      loadBalancer: { policy, ...(policy === 'LeastRequest' ? {} : { hashOn: [{ header: { name: 'x-user-id' } }] }) },
    }),
  ];
}

/** The LB policies of the cart Cluster as Switchyard serves it to proxyless clients, in order. */
function servedPolicies(): string[] {
  const cached = harness.switchyard.cache.get(PROXYLESS_GROUP, TypeUrl.Cluster, CLUSTER);
  if (!cached) throw new Error(`no cluster ${CLUSTER} in the proxyless group`);
  const cluster = decodeMessage(TypeUrl.Cluster, cached.bytes) as {
    loadBalancingPolicy?: { policies?: Array<{ typedExtensionConfig?: { name?: string } }> };
  };
  return (cluster.loadBalancingPolicy?.policies ?? []).map((p) => p.typedExtensionConfig?.name ?? '?');
}

/** The client's CDS state on the server: what it was sent, what it ACKed, how often it NACKed. */
function clusterState(): { acked: boolean; nackCount: number; lastNack?: string } {
  const stream = harness.switchyard.server.streams().find((s) => s.nodeId === NODE);
  const cds = stream?.types.find((t) => t.typeUrl === TypeUrl.Cluster);
  if (!cds) throw new Error(`node ${NODE} has no CDS subscription`);
  return {
    acked: cds.versionSent !== '' && cds.versionAcked === cds.versionSent,
    nackCount: cds.nackCount,
    ...(cds.lastNack ? { lastNack: cds.lastNack } : {}),
  };
}

/** Which backend each key lands on (one call per key). */
async function keyMap(): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  await Promise.all(KEYS.map(async (key) => map.set(key, await cart.who({ 'x-user-id': key }))));
  return map;
}

function keysPerBackend(map: ReadonlyMap<string, string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const backend of map.values()) counts.set(backend, (counts.get(backend) ?? 0) + 1);
  return counts;
}

/** Repeated calls with one key: the distinct backends they reached. */
async function backendsFor(key: string, calls: number): Promise<string[]> {
  const counts = await cart.tally(calls, { 'x-user-id': key });
  return [...counts.keys()].sort();
}

async function usePolicy(members: string[], policy: LoadBalancerPolicy): Promise<void> {
  await harness.edit(() => harness.manifests.write('cart', cartManifests(members, policy)));
}

beforeAll(async () => {
  backends = await startBackends(NAMES);
  harness = await startHarness((manifests) => manifests.write('cart', cartManifests(NAMES, 'LeastRequest')));
  cart = harness.client(serviceTarget('cart', NS, PORT), NODE);
  await untilServing(cart);
});

afterAll(async () => {
  await harness?.stop();
  await backends?.stop();
});

describe('LB policies gRPC lacks fall back, ACKed', () => {
  test('LeastRequest: served as [least_request, round_robin]; the client ACKs and spreads calls over every backend', async () => {
    expect(servedPolicies()).toEqual(['envoy.load_balancing_policies.least_request', 'envoy.load_balancing_policies.round_robin']);
    const n = 300;
    const counts = await cart.tally(n);
    const result = checkSplit(counts, n, { 'cart-0': 1 / 3, 'cart-1': 1 / 3, 'cart-2': 1 / 3 });
    expect({ ok: result.ok, report: result.report }).toEqual({ ok: true, report: result.report });
    expect(clusterState()).toEqual({ acked: true, nackCount: 0 });
  });

  test('Maglev: served as [maglev, ring_hash]; the client ACKs, takes ring_hash and still hashes on the header', async () => {
    await usePolicy(NAMES, 'Maglev');
    expect(servedPolicies()).toEqual(['envoy.load_balancing_policies.maglev', 'envoy.load_balancing_policies.ring_hash']);
    // Round robin would send 30 calls of one key to all three backends; a hash sends them to one.
    for (const key of ['alice', 'bob'])
      expect(await eventually(`${key} to stick`, async () => ((await backendsFor(key, 30)).length === 1 ? true : undefined))).toBe(true);
    expect(clusterState()).toEqual({ acked: true, nackCount: 0 });
    expect(harness.nacks).toEqual([]);
  });
});

describe('RingHash on a header', () => {
  let before: Map<string, string>;

  test('one key always lands on one backend', async () => {
    await usePolicy(NAMES, 'RingHash');
    expect(servedPolicies()).toEqual(['envoy.load_balancing_policies.ring_hash']);
    for (const key of ['alice', 'bob', 'carol']) {
      const reached = await backendsFor(key, 40);
      expect({ key, reached: reached.length }).toEqual({ key, reached: 1 });
    }
    expect(clusterState()).toEqual({ acked: true, nackCount: 0 });
  });

  test('many keys spread over every backend', async () => {
    before = await keyMap();
    const perBackend = keysPerBackend(before);
    // Each host holds about a third of a 1024-entry ring; 150 keys then give each backend about
    // 50 (at worst, with a quarter of the ring, 37 ± 5): 15 or fewer is out of reach of a spread.
    for (const name of NAMES) expect({ name, keys: (perBackend.get(name) ?? 0) > 15 }).toEqual({ name, keys: true });
    // Stable: asking again gives the same map.
    expect(await keyMap()).toEqual(before);
  });

  test('removing a backend from the EndpointSlice moves all of its keys and few others', async () => {
    await usePolicy(['cart-0', 'cart-1'], 'RingHash');
    const after = await eventually('cart-2 to get no keys', async () => {
      const map = await keyMap();
      return [...map.values()].includes('cart-2') ? undefined : map;
    });
    const survivorsKeys = KEYS.filter((key) => before.get(key) !== 'cart-2');
    const moved = survivorsKeys.filter((key) => after.get(key) !== before.get(key));
    // gRPC rebuilds its ring with more entries per host when one leaves (1024/3 -> 1024/2 each),
    // so a minority of the survivors' keys (about 15%) moves too; a modulo hash would move half.
    expect({ moved: moved.length, of: survivorsKeys.length, atMost30Percent: moved.length <= 0.3 * survivorsKeys.length }).toEqual({
      moved: moved.length,
      of: survivorsKeys.length,
      atMost30Percent: true,
    });
    before = after;
  });

  test('a backend that goes away (still listed) moves only the keys that were on it', async () => {
    await usePolicy(NAMES, 'RingHash');
    before = await eventually('cart-2 to get keys again', async () => {
      const map = await keyMap();
      return [...map.values()].includes('cart-2') ? map : undefined;
    });
    await backends.get('cart-1').stop();
    // The ring is unchanged: a key whose host is down walks on to the next host on the ring.
    const after = await eventually('cart-1 to get no keys', async () => {
      const map = await keyMap();
      return [...map.values()].includes('cart-1') ? undefined : map;
    });
    const moved = KEYS.filter((key) => before.get(key) !== 'cart-1' && after.get(key) !== before.get(key));
    expect(moved).toEqual([]);
    expect(describeCounts(keysPerBackend(after))).toMatch(/^cart-0=\d+ cart-2=\d+$/);
  });
});
