// A second real xDS client: gRPC C-core (Debian's python3-grpcio 1.51) against Switchyard on a
// watched manifest folder, over the grpc-js-xds tests' ground: the default spread, weighted splits and
// an edited split, an endpoint turning not-ready, retries on a flaky backend, and a header route.
// After every scenario, /debug/proxies must show the client's whole configuration ACKed.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import type { TrafficPolicySpec } from '../../src/sources/types.js';
import { allAcked, configState, proxyEntries } from './support/admin-proxies.js';
import { startBackends, type BackendSet } from './support/backends.js';
import { checkSplit } from './support/binomial.js';
import type { CcoreClient } from './support/ccore-client.js';
import { describeCounts, eventually, startHarness, type Harness } from './support/harness.js';
import { endpointSlice, grpcService, trafficPolicy, type EndpointSpec } from './support/manifests.js';
import { serviceTarget } from './support/proxyless-client.js';

const NS = 'shop';
const PORT = 9080;
const NODE = 'e2e-ccore-traffic';
const VERSIONS = ['reviews-v1', 'reviews-v2', 'reviews-v3'];
const CATALOG = ['catalog-0', 'catalog-1', 'catalog-2'];
const REVIEWS = serviceTarget('reviews', NS, PORT);
const RATINGS = serviceTarget('ratings', NS, PORT);
const CATALOG_TARGET = serviceTarget('catalog', NS, PORT);

let backends: BackendSet;
let harness: Harness;
let ccore: CcoreClient;
/** harness.nacks.length when the running test began: each test judges only its own NACKs. */
let nackMark = 0;

const endpoints = (names: string[], notReady: string[] = []): EndpointSpec[] =>
  names.map((name) => ({ address: backends.get(name).address, zone: 'zone-a', ready: !notReady.includes(name) }));

function writeReviewsPolicy(spec: Omit<TrafficPolicySpec, 'targetRef'>): Promise<void> {
  return harness.edit(() =>
    harness.manifests.write('reviews-policy', [
      trafficPolicy(NS, 'reviews-traffic', { targetRef: { kind: 'Service', name: 'reviews' }, ...spec }),
    ]),
  );
}

const split = (weights: Record<string, number>) => Object.entries(weights).map(([backend, weight]) => ({ backend, weight }));

async function measure(target: string, n: number, shares: Record<string, number>, headers: Record<string, string> = {}) {
  const counts = await ccore.tally(target, n, headers);
  return { ...checkSplit(counts, n, shares), counts };
}

/** After an ACKed edit the client may still wait for new clusters: poll batches until one holds, then judge a fresh one. */
async function settleThenMeasure(target: string, n: number, shares: Record<string, number>, headers: Record<string, string> = {}) {
  await eventually(
    `split ${JSON.stringify(shares)}`,
    async () => ((await measure(target, n, shares, headers)).ok ? true : undefined),
    15_000,
    0,
  );
  return measure(target, n, shares, headers);
}

async function expectAllAcked(): Promise<void> {
  expect(await configState(harness, NODE, nackMark)).toEqual(allAcked());
}

beforeAll(async () => {
  backends = await startBackends([...VERSIONS, 'ratings-0', ...CATALOG]);
  harness = await startHarness(
    (manifests) => {
      // `reviews` selects every version; each version is also its own Service, for splits and routes.
      manifests.write('reviews', [grpcService(NS, 'reviews', PORT), endpointSlice(NS, 'reviews', backends.port, endpoints(VERSIONS))]);
      for (const version of VERSIONS)
        manifests.write(version, [grpcService(NS, version, PORT), endpointSlice(NS, version, backends.port, endpoints([version]))]);
      manifests.write('ratings', [grpcService(NS, 'ratings', PORT), endpointSlice(NS, 'ratings', backends.port, endpoints(['ratings-0']))]);
      manifests.write('catalog', [grpcService(NS, 'catalog', PORT), endpointSlice(NS, 'catalog', backends.port, endpoints(CATALOG))]);
    },
    { admin: true },
  );
  ccore = await harness.ccore(NODE);
  await eventually('the C-core client to be served', () => ccore.who(REVIEWS));
});

beforeEach(() => {
  nackMark = harness.nacks.length;
});

afterAll(async () => {
  await harness?.stop();
  await backends?.stop();
});

describe('gRPC C-core (python3-grpcio) follows Switchyard', () => {
  test('it is recognised as proxyless gRPC by its user agent, and without a TrafficPolicy its calls spread over every ready backend', async () => {
    expect(ccore.grpcVersion).toMatch(/^1\.\d+\./);
    // n = 300: each expects 100 ± 37; a client pinned to one backend (300/0/0) fails.
    const result = await measure(REVIEWS, 300, { 'reviews-v1': 1 / 3, 'reviews-v2': 1 / 3, 'reviews-v3': 1 / 3 });
    expect({ ok: result.ok, report: result.report }).toEqual({ ok: true, report: result.report });
    await expectAllAcked();
  });

  test('/debug/proxies names the client: gRPC C-core, with the version the process runs', async () => {
    const [entry] = await proxyEntries(harness, NODE);
    // Read as a user reads the page: somewhere in the entry, the implementation and its version.
    const text = JSON.stringify(entry);
    expect({ namesCcore: /C-core/i.test(text), namesVersion: text.includes(ccore.grpcVersion) }).toEqual({
      namesCcore: true,
      namesVersion: true,
    });
  });

  test('a 90/10 canary split holds, and editing it to 50/50 moves the observed split', async () => {
    await writeReviewsPolicy({ split: split({ 'reviews-v1': 90, 'reviews-v2': 10 }) });
    // n = 400: v2 expects 40 ± 27; a 50/50 or 80/20 split (200 or 80) falls outside.
    const canary = await settleThenMeasure(REVIEWS, 400, { 'reviews-v1': 0.9, 'reviews-v2': 0.1 });
    expect({ ok: canary.ok, report: canary.report }).toEqual({ ok: true, report: canary.report });
    await expectAllAcked();

    await writeReviewsPolicy({ split: split({ 'reviews-v1': 50, 'reviews-v2': 50 }) });
    // n = 400: each expects 200 ± 45; the old split (40 for v2) is far outside.
    const even = await settleThenMeasure(REVIEWS, 400, { 'reviews-v1': 0.5, 'reviews-v2': 0.5 });
    expect({ ok: even.ok, report: even.report }).toEqual({ ok: true, report: even.report });
    await expectAllAcked();
  });

  test('an endpoint turning not-ready stops receiving calls', async () => {
    const all = await measure(CATALOG_TARGET, 300, { 'catalog-0': 1 / 3, 'catalog-1': 1 / 3, 'catalog-2': 1 / 3 });
    expect({ ok: all.ok, report: all.report }).toEqual({ ok: true, report: all.report });

    await harness.edit(() =>
      harness.manifests.write('catalog', [
        grpcService(NS, 'catalog', PORT),
        endpointSlice(NS, 'catalog', backends.port, endpoints(CATALOG, ['catalog-2'])),
      ]),
    );
    await eventually('catalog-2 to get no calls', async () =>
      (await ccore.tally(CATALOG_TARGET, 60)).has('catalog-2') ? undefined : true,
    );
    // p = 0 for catalog-2: not one call of 300 may reach it.
    const two = await measure(CATALOG_TARGET, 300, { 'catalog-0': 0.5, 'catalog-1': 0.5 });
    expect({ ok: two.ok, report: two.report }).toEqual({ ok: true, report: two.report });
    await expectAllAcked();
  });

  test("retries from a TrafficPolicy turn a flaky backend's UNAVAILABLE into successes", async () => {
    await eventually('ratings to answer', () => ccore.who(RATINGS));
    const flaky = backends.get('ratings-0');
    // One call at a time, so the backend's every-other-call failures fall on first attempts.
    const sequential = async (n: number) => describeCounts(await ccore.tally(RATINGS, n, {}, { concurrency: 1 }));

    // Every other call fails (the 1st, 3rd, ...): without retries half the calls fail.
    flaky.failEvery(2);
    expect(await sequential(20)).toBe('error:UNAVAILABLE=10 ratings-0=10');

    await harness.edit(() =>
      harness.manifests.write('ratings-policy', [
        trafficPolicy(NS, 'ratings-retries', {
          targetRef: { kind: 'Service', name: 'ratings' },
          retries: { attempts: 2, retryOn: ['unavailable'] },
        }),
      ]),
    );
    await eventually('retries to take effect', async () => ((await sequential(4)) === 'ratings-0=4' ? true : undefined), 15_000, 0);
    flaky.failEvery(2);
    expect(await sequential(30)).toBe('ratings-0=30');
    // The backend saw every call twice: the failed first attempt and its retry.
    expect(flaky.calls).toBe(60);
    flaky.failEvery(undefined);
    await expectAllAcked();
  });

  // Last in the file: before Switchyard writes legacy header matchers for clients without gRFC A63,
  // C-core NACKs this route configuration, and a NACK would stay in the stream's record.
  test('a header route sends calls with x-canary: true only to v2; the rest follow the split (route configuration ACKed)', async () => {
    await writeReviewsPolicy({
      routes: [{ match: { headers: [{ name: 'x-canary', exact: 'true' }] }, backend: 'reviews-v2' }],
      split: split({ 'reviews-v1': 100 }),
    });
    await expectAllAcked();
    const canary = await settleThenMeasure(REVIEWS, 100, { 'reviews-v2': 1 }, { 'x-canary': 'true' });
    expect(describeCounts(canary.counts)).toBe('reviews-v2=100');
    const others = await measure(REVIEWS, 100, { 'reviews-v1': 1 }, { 'x-canary': 'false' });
    expect(describeCounts(others.counts)).toBe('reviews-v1=100');
    const plain = await measure(REVIEWS, 100, { 'reviews-v1': 1 });
    expect(describeCounts(plain.counts)).toBe('reviews-v1=100');
  });
});
