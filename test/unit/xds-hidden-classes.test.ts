// Every stream reads its per-type state, and the shared push response, on each push and ACK:
// thousands of streams per change. V8 keeps those reads fast only while such objects share one
// hidden class per kind; one built by spreading an object literal gets a class of its own (V8
// shares it between the first few copies only, hence a dozen here), and every read of it becomes
// a megamorphic lookup. V8's own %HaveSameMap tells (natives syntax, enabled for this file only).
import { setFlagsFromString } from 'node:v8';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { SharedResponses } from '../../src/xds/shared-responses.js';
import { FakeDeltaStream, FakeSotwStream } from '../support/fake-transport.js';
import { cluster, endpoints } from '../support/xds-fixtures.js';

setFlagsFromString('--allow-natives-syntax');
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

/** The per-type states of a stream (private to it; read here only to compare their classes). */
function statesOf(fake: FakeDeltaStream | FakeSotwStream): object[] {
  return [...(fake.stream as unknown as { types: Map<string, object> }).types.values()];
}

async function subscribed<F extends FakeDeltaStream | FakeSotwStream>(fake: F): Promise<F> {
  fake.apply([
    { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a')] },
    { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('a')] },
  ]);
  await fake.request({ typeUrl: TypeUrl.Cluster });
  await fake.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: ['a'] });
  return fake;
}

const STREAMS = 12;

/** How many of the states have a hidden class other than the first one's. */
function otherClasses(states: object[]): number {
  return states.filter((state) => !haveSameMap(states[0], state)).length;
}

describe('per-type stream state', () => {
  it('has one hidden class for every delta stream and type', async () => {
    const states: object[] = [];
    for (let i = 0; i < STREAMS; i++) states.push(...statesOf(await subscribed(new FakeDeltaStream())));
    expect(states).toHaveLength(2 * STREAMS);
    expect(otherClasses(states)).toBe(0);
  });

  it('has one hidden class for every SotW stream and type', async () => {
    const states: object[] = [];
    for (let i = 0; i < STREAMS; i++) states.push(...statesOf(await subscribed(new FakeSotwStream())));
    expect(states).toHaveLength(2 * STREAMS);
    expect(otherClasses(states)).toBe(0);
  });

  it('has one hidden class for every shared push response', () => {
    const shared = new SharedResponses();
    let nonce = 0;
    const responses: object[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const content = { version: `v${i}`, resources: [], removed: [`gone-${i}`] };
      responses.push(
        shared.get(
          {},
          'delta',
          content,
          '',
          () => String(++nonce),
          () => Buffer.alloc(0),
        ),
      );
    }
    expect(otherClasses(responses)).toBe(0);
  });
});
