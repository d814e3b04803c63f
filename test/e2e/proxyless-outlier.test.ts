// A TrafficPolicy's outlier detection reaches proxyless gRPC clients too. grpc-js runs its
// ejection checks on a timer, so the test keeps calling across several intervals: the client must
// keep answering (a check that throws would end the client's process).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startBackends, type BackendSet } from './support/backends.js';
import { checkSplit } from './support/binomial.js';
import { startHarness, untilServing, type Harness } from './support/harness.js';
import { endpointSlice, grpcService, trafficPolicy } from './support/manifests.js';
import { serviceTarget } from './support/proxyless-client.js';

const NS = 'shop';
const PORT = 8080;

let backends: BackendSet;
let harness: Harness;
const thrown: string[] = [];
const onUncaught = (err: Error) => thrown.push(`${err.message} ${err.stack?.split('\n')[1]?.trim() ?? ''}`);

beforeAll(async () => {
  backends = await startBackends(['checkout-0', 'checkout-1']);
  harness = await startHarness((manifests) =>
    manifests.write('checkout', [
      grpcService(NS, 'checkout', PORT),
      endpointSlice(
        NS,
        'checkout',
        backends.port,
        ['checkout-0', 'checkout-1'].map((name) => ({ address: backends.get(name).address, zone: 'zone-a' })),
      ),
      trafficPolicy(NS, 'checkout-outliers', {
        targetRef: { kind: 'Service', name: 'checkout' },
        outlierDetection: { consecutive5xx: 5, interval: '500ms', baseEjectionTime: '30s', maxEjectionPercent: 50 },
      }),
    ]),
  );
  process.on('uncaughtException', onUncaught);
});

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await harness?.stop();
  await backends?.stop();
});

test('outlier detection from a TrafficPolicy: the client keeps answering across its ejection checks', async () => {
  const checkout = harness.client(serviceTarget('checkout', NS, PORT));
  await untilServing(checkout);
  const counts = new Map<string, number>();
  // Six check intervals of 500 ms, with calls in each.
  for (let round = 0; round < 6; round++) {
    for (const [outcome, count] of await checkout.tally(20)) counts.set(outcome, (counts.get(outcome) ?? 0) + count);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect(thrown).toEqual([]);
  const result = checkSplit(counts, 120, { 'checkout-0': 0.5, 'checkout-1': 0.5 });
  expect({ ok: result.ok, report: result.report }).toEqual({ ok: true, report: result.report });
  expect(harness.nacks).toEqual([]);
});
