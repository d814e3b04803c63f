// Streams of one group that a cache change gives the same thing get one response, built once and
// written to each as the same bytes with the same nonce; what each client answers still counts
// for its own stream only, and a stream that holds something else gets its own response.
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { FakeDeltaStream, FakeSotwStream } from '../support/fake-transport.js';
import { cluster, setEndpoints } from '../support/xds-fixtures.js';

const CLA = TypeUrl.ClusterLoadAssignment;

/** Two delta streams of one server, each subscribed to `names` and synced. */
async function twoDeltaStreams(names: string[]): Promise<[FakeDeltaStream, FakeDeltaStream]> {
  const a = new FakeDeltaStream();
  const b = new FakeDeltaStream({ sameServerAs: a });
  setEndpoints(a, names, '10.0.0.1');
  for (const fake of [a, b]) {
    await fake.request({ typeUrl: CLA, subscribe: names });
    await fake.ack(fake.response());
  }
  return [a, b];
}

describe('delta: one push response for the streams a change gives the same thing', () => {
  it('writes the same bytes with one nonce to both streams, and the next change gets a new nonce', async () => {
    const [a, b] = await twoDeltaStreams(['x', 'y']);
    setEndpoints(a, ['x'], '10.0.0.2');
    const [toA, toB] = [a.response(), b.response()];
    expect(toA.names).toEqual(['x']);
    expect(toB.raw).toBe(toA.raw);
    expect(toB.nonce).toBe(toA.nonce);

    setEndpoints(a, ['x'], '10.0.0.3');
    const [nextA, nextB] = [a.response(), b.response()];
    expect(nextB.raw).toBe(nextA.raw);
    expect(nextA.nonce).not.toBe(toA.nonce);
  });

  it('writes the first response carrying the whole set as the same bytes too; a client holding part of it gets its own', async () => {
    const a = new FakeDeltaStream();
    const b = new FakeDeltaStream({ sameServerAs: a });
    const c = new FakeDeltaStream({ sameServerAs: a });
    a.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('x'), cluster('y')] }]);
    await a.request({ typeUrl: TypeUrl.Cluster });
    await b.request({ typeUrl: TypeUrl.Cluster });
    const [toA, toB] = [a.response(), b.response()];
    expect(toA.names.sort()).toEqual(['x', 'y']);
    expect(toB.raw).toBe(toA.raw);
    // c says it holds x at its current version: only y goes out, in a response of its own.
    await c.request({ typeUrl: TypeUrl.Cluster, initialResourceVersions: { x: toA.resources.find((r) => r.name === 'x')!.version! } });
    const toC = c.response();
    expect(toC.names).toEqual(['y']);
    expect(toC.nonce).not.toBe(toA.nonce);
  });

  it("counts a client's ACK for its own stream only", async () => {
    const [a, b] = await twoDeltaStreams(['x']);
    setEndpoints(a, ['x'], '10.0.0.2');
    const shared = a.response();
    expect(b.response().nonce).toBe(shared.nonce);

    await a.ack(shared);
    expect(a.typeSnapshot(CLA)).toMatchObject({ lastResponse: 'acked', versionAcked: shared.systemVersionInfo });
    expect(b.typeSnapshot(CLA)?.lastResponse).toBe('awaiting');
    expect(b.observer.acks).toHaveLength(1); // the initial response's only

    await b.nack(shared);
    expect(b.typeSnapshot(CLA)).toMatchObject({ lastResponse: 'nacked', nackCount: 1 });
    expect(a.typeSnapshot(CLA)).toMatchObject({ lastResponse: 'acked', nackCount: 0 });
  });

  it('a stream that no longer watches part of the change gets its own response, with only what it watches', async () => {
    const [a, b] = await twoDeltaStreams(['x', 'y']);
    await b.request({ typeUrl: CLA, unsubscribe: ['y'] });
    expect(b.responses()).toEqual([]);

    setEndpoints(a, ['x', 'y'], '10.0.0.2');
    const [toA, toB] = [a.response(), b.response()];
    expect([...toA.names].sort()).toEqual(['x', 'y']);
    expect(toB.names).toEqual(['x']);
    expect(toB.nonce).not.toBe(toA.nonce);
  });

  it('a stream that was not reading gets the newest state later, in a response of its own', async () => {
    const [a, b] = await twoDeltaStreams(['x']);
    b.transport.blocked = true;
    setEndpoints(a, ['x'], '10.0.0.2');
    const toA = a.response();
    expect(b.responses()).toEqual([]);
    b.transport.drain();
    const toB = b.response();
    expect(toB.names).toEqual(['x']);
    expect(toB.resources[0].version).toBe(toA.resources[0].version);
    expect(toB.nonce).not.toBe(toA.nonce);
  });
});

describe('SotW: one push response for the streams a change gives the same thing', () => {
  it('endpoints: the same bytes and nonce to both streams; each ACK counts for its own stream', async () => {
    const a = new FakeSotwStream();
    const b = new FakeSotwStream({ sameServerAs: a });
    setEndpoints(a, ['x', 'y'], '10.0.0.1');
    for (const fake of [a, b]) {
      await fake.request({ typeUrl: CLA, resourceNames: ['x', 'y'] });
      await fake.ack(fake.response(), ['x', 'y']);
    }
    setEndpoints(a, ['y'], '10.0.0.2');
    const [toA, toB] = [a.response(), b.response()];
    expect(toA.names).toEqual(['y']);
    expect(toB.raw).toBe(toA.raw);
    await a.ack(toA, ['x', 'y']);
    expect(a.typeSnapshot(CLA)?.lastResponse).toBe('acked');
    expect(b.typeSnapshot(CLA)?.lastResponse).toBe('awaiting');
  });

  it('wildcard clusters: a changed cluster sends the whole set once for both streams', async () => {
    const a = new FakeSotwStream();
    const b = new FakeSotwStream({ sameServerAs: a });
    a.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('c1'), cluster('c2')] }]);
    for (const fake of [a, b]) {
      await fake.request({ typeUrl: TypeUrl.Cluster, resourceNames: [] });
      await fake.ack(fake.response(), []);
    }
    a.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('c2', 5)] }]);
    const [toA, toB] = [a.response(), b.response()];
    expect([...toA.names].sort()).toEqual(['c1', 'c2']);
    expect(toB.raw).toBe(toA.raw);
  });
});

describe('SotW: one first response for the streams that ask for the whole set', () => {
  it('clusters and endpoints: the same bytes and nonce to both; a stream asking for part of it gets its own', async () => {
    const a = new FakeSotwStream();
    const b = new FakeSotwStream({ sameServerAs: a });
    const c = new FakeSotwStream({ sameServerAs: a });
    a.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, set: [cluster('x'), cluster('y')] }]);
    setEndpoints(a, ['x', 'y'], '10.0.0.1');
    for (const [typeUrl, resourceNames] of [
      [TypeUrl.Cluster, []],
      [CLA, ['x', 'y']],
    ] as const) {
      await a.request({ typeUrl, resourceNames: [...resourceNames] });
      await b.request({ typeUrl, resourceNames: [...resourceNames] });
      const [toA, toB] = [a.response(), b.response()];
      expect([...toA.names].sort()).toEqual(['x', 'y']);
      expect(toB.raw).toBe(toA.raw);
      expect(toB.nonce).toBe(toA.nonce);
      // Each stream's ACK counts for itself.
      await a.ack(toA, [...resourceNames]);
      expect(a.typeSnapshot(typeUrl)?.lastResponse).toBe('acked');
      expect(b.typeSnapshot(typeUrl)?.lastResponse).toBe('awaiting');
    }
    await c.request({ typeUrl: CLA, resourceNames: ['y'] });
    const toC = c.response();
    expect(toC.names).toEqual(['y']);
  });
});

describe('delta and SotW streams of one group', () => {
  it('each get a response of their own flavour for the same change', async () => {
    const delta = new FakeDeltaStream();
    const sotw = new FakeSotwStream({ sameServerAs: delta });
    setEndpoints(delta, ['x'], '10.0.0.1');
    await delta.request({ typeUrl: CLA, subscribe: ['x'] });
    await delta.ack(delta.response());
    await sotw.request({ typeUrl: CLA, resourceNames: ['x'] });
    await sotw.ack(sotw.response(), ['x']);
    // The delta stream hears of it first; the SotW stream must not be written its bytes.
    setEndpoints(delta, ['x'], '10.0.0.2');
    const toDelta = delta.response();
    const toSotw = sotw.response();
    expect(toSotw.raw).not.toBe(toDelta.raw);
    expect(toSotw.names).toEqual(['x']);
    expect(toSotw.resources.map((r) => r.typeUrl)).toEqual([CLA]);
    expect(toDelta.names).toEqual(['x']);
  });
});
