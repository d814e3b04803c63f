// Proxyless gRPC clients (@grpc/grpc-js-xds) against Switchyard on a watched manifest folder:
// weighted splits, an edited split, a header route and retries, observed as calls that real
// gRPC backends answered. Shares are judged with a binomial bound (support/binomial.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { TrafficPolicySpec } from '../../src/sources/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { startBackends, type BackendSet } from './support/backends.js';
import { checkSplit } from './support/binomial.js';
import { describeCounts, eventually, startHarness, untilServing, type Harness } from './support/harness.js';
import { endpointSlice, grpcService, trafficPolicy } from './support/manifests.js';
import { bootstrapOption, serviceTarget, WhoClient } from './support/proxyless-client.js';

const NS = 'shop';
const PORT = 9080;
const VERSIONS = ['reviews-v1', 'reviews-v2', 'reviews-v3'];

let backends: BackendSet;
let harness: Harness;
let reviews: WhoClient;

function writeReviewsPolicy(spec: Omit<TrafficPolicySpec, 'targetRef'>): Promise<void> {
  return harness.edit(() =>
    harness.manifests.write('reviews-policy', [
      trafficPolicy(NS, 'reviews-traffic', { targetRef: { kind: 'Service', name: 'reviews' }, ...spec }),
    ]),
  );
}

const split = (weights: Record<string, number>) => Object.entries(weights).map(([backend, weight]) => ({ backend, weight }));

/** Measures `n` calls and returns the check against `shares`. */
async function measure(client: WhoClient, n: number, shares: Record<string, number>, headers: Record<string, string> = {}) {
  const counts = await client.tally(n, headers);
  return { ...checkSplit(counts, n, shares), counts };
}

/**
 * After an edit has been ACKed, the client may still wait for clusters the new routes name before
 * it switches. So: poll batches of `n` until one holds (n is chosen so that the previous config
 * cannot pass), then judge a fresh batch of `n` — the assertion.
 */
async function settleThenMeasure(client: WhoClient, n: number, shares: Record<string, number>, headers: Record<string, string> = {}) {
  await eventually(
    `split ${JSON.stringify(shares)}`,
    async () => ((await measure(client, n, shares, headers)).ok ? true : undefined),
    15_000,
    0,
  );
  return measure(client, n, shares, headers);
}

beforeAll(async () => {
  backends = await startBackends([...VERSIONS, 'ratings-0']);
  const endpoints = (names: string[]) => names.map((name) => ({ address: backends.get(name).address, zone: 'zone-a' }));
  harness = await startHarness((manifests) => {
    // `reviews` selects every version; each version is also its own Service, for splits and routes.
    manifests.write('reviews', [grpcService(NS, 'reviews', PORT), endpointSlice(NS, 'reviews', backends.port, endpoints(VERSIONS))]);
    for (const version of VERSIONS) {
      manifests.write(version, [grpcService(NS, version, PORT), endpointSlice(NS, version, backends.port, endpoints([version]))]);
    }
    manifests.write('ratings', [grpcService(NS, 'ratings', PORT), endpointSlice(NS, 'ratings', backends.port, endpoints(['ratings-0']))]);
  });
  reviews = harness.client(serviceTarget('reviews', NS, PORT));
  await untilServing(reviews);
});

afterAll(async () => {
  await harness?.stop();
  await backends?.stop();
});

describe('proxyless gRPC clients follow Switchyard', () => {
  test('without a TrafficPolicy, calls spread over every ready backend (least_request, which gRPC takes as round_robin)', async () => {
    const n = 300;
    const result = await measure(reviews, n, { 'reviews-v1': 1 / 3, 'reviews-v2': 1 / 3, 'reviews-v3': 1 / 3 });
    expect({ ok: result.ok, report: result.report }).toEqual({ ok: true, report: result.report });
    const clusterNacks = harness.nacks.filter((e) => e.typeUrl === TypeUrl.Cluster);
    expect(clusterNacks).toEqual([]);
  });

  test('a 90/10 canary split holds, and editing it to 50/50 moves the observed split', async () => {
    await writeReviewsPolicy({ split: split({ 'reviews-v1': 90, 'reviews-v2': 10 }) });
    // n = 400: v2 expects 40 ± 27; a 50/50 or 80/20 split (200 or 80) falls outside.
    const canary = await settleThenMeasure(reviews, 400, { 'reviews-v1': 0.9, 'reviews-v2': 0.1 });
    expect({ ok: canary.ok, report: canary.report }).toEqual({ ok: true, report: canary.report });

    await writeReviewsPolicy({ split: split({ 'reviews-v1': 50, 'reviews-v2': 50 }) });
    // n = 400: each expects 200 ± 45; the old split (40 for v2) is far outside.
    const even = await settleThenMeasure(reviews, 400, { 'reviews-v1': 0.5, 'reviews-v2': 0.5 });
    expect({ ok: even.ok, report: even.report }).toEqual({ ok: true, report: even.report });
  });

  test('a three-way 60/30/10 split holds', async () => {
    await writeReviewsPolicy({ split: split({ 'reviews-v1': 60, 'reviews-v2': 30, 'reviews-v3': 10 }) });
    // n = 600: v3 expects 60 ± 33 and v2 180 ± 50; an even three-way split (200 each) fails both.
    const result = await settleThenMeasure(reviews, 600, { 'reviews-v1': 0.6, 'reviews-v2': 0.3, 'reviews-v3': 0.1 });
    expect({ ok: result.ok, report: result.report }).toEqual({ ok: true, report: result.report });
  });

  test('a header route sends calls with x-canary: true only to v2; the rest follow the split', async () => {
    await writeReviewsPolicy({
      routes: [{ match: { headers: [{ name: 'x-canary', exact: 'true' }] }, backend: 'reviews-v2' }],
      split: split({ 'reviews-v1': 100 }),
    });
    const canary = await settleThenMeasure(reviews, 100, { 'reviews-v2': 1 }, { 'x-canary': 'true' });
    expect(describeCounts(canary.counts)).toBe('reviews-v2=100');
    const others = await measure(reviews, 100, { 'reviews-v1': 1 }, { 'x-canary': 'false' });
    expect(describeCounts(others.counts)).toBe('reviews-v1=100');
    const plain = await measure(reviews, 100, { 'reviews-v1': 1 });
    expect(describeCounts(plain.counts)).toBe('reviews-v1=100');
  });

  test('the example bootstrap envoy/proxyless-bootstrap.json works once pointed at this Switchyard; without role metadata gRPC is still recognised', async () => {
    const example = JSON.parse(readFileSync(join(process.cwd(), 'envoy', 'proxyless-bootstrap.json'), 'utf8')) as {
      xds_servers: Array<{ server_uri: string }>;
      node: { id: string; metadata?: Record<string, string> };
    };
    example.xds_servers[0].server_uri = `127.0.0.1:${harness.switchyard.xdsPort}`;
    const withoutRole = { ...example, node: { ...example.node, id: 'e2e-no-role', metadata: {} } };
    const clients = [example, withoutRole].map(
      (bootstrap) => new WhoClient(serviceTarget('reviews', NS, PORT), bootstrapOption(bootstrap)),
    );
    try {
      for (const client of clients) expect(await untilServing(client)).toMatch(/^reviews-v/);
      const groups = harness.switchyard.server
        .streams()
        .filter((s) => s.nodeId === example.node.id || s.nodeId === 'e2e-no-role')
        .map((s) => `${s.nodeId}:${s.group}`)
        .sort();
      expect(groups).toEqual(['e2e-no-role:proxyless', 'reviews-client:proxyless']);
    } finally {
      for (const client of clients) client.close();
    }
  });

  test("retries from a TrafficPolicy turn a flaky backend's UNAVAILABLE into successes", async () => {
    const ratings = harness.client(serviceTarget('ratings', NS, PORT));
    await untilServing(ratings);
    const flaky = backends.get('ratings-0');
    const sequential = async (n: number) => {
      const outcomes = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const outcome = await ratings.who().catch((err: { code?: number }) => `error:${err.code}`);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      return describeCounts(outcomes);
    };

    // Every other call fails (the 1st, 3rd, ...): without retries half the calls fail.
    flaky.failEvery(2);
    expect(await sequential(20)).toBe('error:14=10 ratings-0=10');

    await harness.edit(() =>
      harness.manifests.write('ratings-policy', [
        trafficPolicy(NS, 'ratings-retries', {
          targetRef: { kind: 'Service', name: 'ratings' },
          retries: { attempts: 2, retryOn: ['unavailable'] },
        }),
      ]),
    );
    // Once the retry policy has arrived, each failed attempt is retried on the next, which succeeds.
    await eventually('retries to take effect', async () => ((await sequential(4)) === 'ratings-0=4' ? true : undefined), 15_000, 0);
    flaky.failEvery(2);
    expect(await sequential(30)).toBe('ratings-0=30');
    // The backend saw every call twice: the failed first attempt and its retry.
    expect(flaky.calls).toBe(60);
  });
});
