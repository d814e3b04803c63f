import { Histogram, Registry } from 'prom-client';
import { BucketHistogram } from '../../src/admin/bucket-histogram.js';

const BOUNDS = [0.001, 0.01, 0.1, 1, 10];

describe('BucketHistogram', () => {
  it('scrapes exactly as prom-client’s Histogram does for the same samples', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const histogram = new BucketHistogram('x_seconds', 'help text', 'type', BOUNDS, ours);
    const reference = new Histogram({ name: 'x_seconds', help: 'help text', labelNames: ['type'], buckets: BOUNDS, registers: [theirs] });
    // On a bound, between bounds, above the last, zero; two label values.
    const samples: Array<[string, number]> = [
      ['Cluster', 0.001],
      ['Cluster', 0.05],
      ['Cluster', 42],
      ['ClusterLoadAssignment', 0],
      ['ClusterLoadAssignment', 0.5],
      ['Cluster', 1],
    ];
    for (const [type, value] of samples) {
      histogram.observe(type, value);
      reference.observe({ type }, value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('has no series before a sample and none after a reset', async () => {
    const registry = new Registry();
    const histogram = new BucketHistogram('y_seconds', 'help', 'type', BOUNDS, registry);
    expect(await registry.metrics()).not.toContain('y_seconds_count');
    histogram.observe('Listener', 0.2);
    expect(await registry.metrics()).toContain('y_seconds_count{type="Listener"} 1');
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('y_seconds_count');
  });
});
