// A stream's first request usually names, byte for byte, what thousands of streams named before
// it. Such a request is recognised from its raw names and served from the pooled subscription
// without decoding them; and when the names are exactly the group's whole set, the whole set goes
// out without a lookup per name. Each stream must still get exactly what it asked for.
import { jest } from '@jest/globals';
import { TypeUrl } from '../../src/envoy/protos.js';
import { FakeDeltaStream, FakeSotwStream } from '../support/fake-transport.js';
import { setEndpoints } from '../support/xds-fixtures.js';

const CLA = TypeUrl.ClusterLoadAssignment;

describe('delta: a first request whose names are a pooled subscription', () => {
  it('is not decoded name by name, and gets what the first stream got', async () => {
    const a = new FakeDeltaStream();
    const b = new FakeDeltaStream({ sameServerAs: a });
    setEndpoints(a, ['x', 'y'], '10.0.0.1');
    await a.request({ typeUrl: CLA, subscribe: ['x', 'y'] });
    const toA = a.response();

    const built = jest.spyOn(b.subscriptions, 'get');
    await b.request({ typeUrl: CLA, subscribe: ['x', 'y'] });
    const toB = b.response();
    expect(built).not.toHaveBeenCalled();
    expect(toB.names.sort()).toEqual(['x', 'y']);
    expect(toB.raw).toBe(toA.raw);
  });

  it('keeps each stream its own subscription once one of them changes it', async () => {
    const a = new FakeDeltaStream();
    const b = new FakeDeltaStream({ sameServerAs: a });
    setEndpoints(a, ['x', 'y'], '10.0.0.1');
    for (const fake of [a, b]) {
      await fake.request({ typeUrl: CLA, subscribe: ['x', 'y'] });
      await fake.ack(fake.response());
    }
    await b.request({ typeUrl: CLA, unsubscribe: ['x'] });
    setEndpoints(a, ['x'], '10.0.0.2');
    expect(a.responses().map((r) => r.names)).toEqual([['x']]);
    expect(b.responses()).toEqual([]);
  });

  it('names a resource that does not exist: it is reported removed, as to the first stream', async () => {
    const a = new FakeDeltaStream();
    const b = new FakeDeltaStream({ sameServerAs: a });
    setEndpoints(a, ['x'], '10.0.0.1');
    for (const fake of [a, b]) await fake.request({ typeUrl: CLA, subscribe: ['x', 'gone'] });
    for (const fake of [a, b]) {
      const response = fake.response();
      expect(response.names).toEqual(['x']);
      expect(response.removedResources).toEqual(['gone']);
    }
  });

  it('gets only the names it asked for once the set has grown past them', async () => {
    const a = new FakeDeltaStream();
    const b = new FakeDeltaStream({ sameServerAs: a });
    setEndpoints(a, ['x', 'y'], '10.0.0.1');
    await a.request({ typeUrl: CLA, subscribe: ['x', 'y'] });
    expect(a.response().names.sort()).toEqual(['x', 'y']);
    // The same names were the whole set a moment ago; now the set holds z too.
    setEndpoints(a, ['z'], '10.0.0.1');
    await b.request({ typeUrl: CLA, subscribe: ['x', 'y'] });
    expect(b.response().names.sort()).toEqual(['x', 'y']);
  });
});

describe('SotW: a first request whose names are a pooled subscription', () => {
  it('is not decoded name by name, and gets what the first stream got', async () => {
    const a = new FakeSotwStream();
    const b = new FakeSotwStream({ sameServerAs: a });
    setEndpoints(a, ['x', 'y'], '10.0.0.1');
    await a.request({ typeUrl: CLA, resourceNames: ['x', 'y'] });
    expect(a.response().names.sort()).toEqual(['x', 'y']);

    const built = jest.spyOn(b.subscriptions, 'get');
    await b.request({ typeUrl: CLA, resourceNames: ['x', 'y'] });
    expect(built).not.toHaveBeenCalled();
    const toB = b.response();
    expect(toB.names.sort()).toEqual(['x', 'y']);

    // Its ACK repeats the names and asks for nothing more; a change reaches it.
    await b.ack(toB, ['x', 'y']);
    expect(b.responses()).toEqual([]);
    setEndpoints(a, ['y'], '10.0.0.2');
    expect(b.responses().map((r) => r.names)).toEqual([['y']]);
  });

  it('other names are another subscription: neither more nor fewer are served', async () => {
    const a = new FakeSotwStream();
    const b = new FakeSotwStream({ sameServerAs: a });
    setEndpoints(a, ['x', 'y'], '10.0.0.1');
    await a.request({ typeUrl: CLA, resourceNames: ['x', 'y'] });
    a.response();
    await b.request({ typeUrl: CLA, resourceNames: ['y'] });
    expect(b.response().names).toEqual(['y']);
  });
});
