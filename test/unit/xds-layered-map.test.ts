// A stream's view of what its client holds: a shared base plus its own differences must read
// exactly like a plain map of its own, and must never write into the shared base.
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { LayeredMap } from '../../src/xds/layered-map.js';
import { FakeDeltaStream, FakeSotwStream } from '../support/fake-transport.js';
import { endpoints } from '../support/xds-fixtures.js';

function contents(map: LayeredMap<string>): Array<[string, string | undefined]> {
  return [...map.keys()].sort().map((name) => [name, map.get(name)]);
}

function plainContents(map: Map<string, string>): Array<[string, string]> {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
}

describe('LayeredMap', () => {
  it('reads the base, then its own sets and deletes over it, leaving the base untouched', () => {
    const base = new Map([
      ['a', '1'],
      ['b', '1'],
    ]);
    const map = new LayeredMap<string>();
    map.set('x', '9');
    map.resetTo(base);
    expect(map.has('x')).toBe(false);
    expect(map.size).toBe(2);
    map.set('a', '2');
    map.delete('b');
    map.set('c', '1');
    expect(contents(map)).toEqual([
      ['a', '2'],
      ['c', '1'],
    ]);
    expect(map.size).toBe(2);
    expect(map.has('b')).toBe(false);
    expect(map.get('b')).toBeUndefined();
    expect(map.delete('b')).toBe(false);
    expect([...base.entries()]).toEqual([
      ['a', '1'],
      ['b', '1'],
    ]);
    // Setting a name back to the base's value keeps no own entry for it.
    map.set('a', '1');
    map.set('b', '1');
    expect(map.ownSize).toBe(1);
    map.clear();
    expect(map.size).toBe(0);
    expect(contents(map)).toEqual([]);
  });

  it('behaves like a plain map through any sequence of sets, deletes and resets', () => {
    // A fixed pseudo-random sequence (the same on every run).
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const map = new LayeredMap<string>();
    let plain = new Map<string, string>();
    for (let step = 0; step < 2000; step++) {
      const name = names[next(names.length)]!;
      const op = next(10);
      if (op < 5) {
        const value = String(next(3));
        map.set(name, value);
        plain.set(name, value);
      } else if (op < 9) {
        expect(map.delete(name)).toBe(plain.delete(name));
      } else {
        const base = new Map(names.filter(() => next(2) === 0).map((n) => [n, String(next(3))]));
        map.resetTo(base);
        plain = new Map(base);
      }
      expect(map.size).toBe(plain.size);
      expect(map.has(name)).toBe(plain.has(name));
      expect(map.get(name)).toBe(plain.get(name));
      expect(contents(map)).toEqual(plainContents(plain));
    }
  });

  it('takes the newest whole set as its base once it holds exactly that set, and keeps its own entries otherwise', () => {
    const names = Array.from({ length: 100 }, (_, i) => `n${i}`);
    let whole = new Map(names.map((name) => [name, 'v0']));
    const map = new LayeredMap<string>();
    map.resetTo(whole);
    // 100 changes, one name each: the map follows each whole set.
    for (let change = 1; change <= 100; change++) {
      const next = new Map(whole);
      next.set(names[change - 1]!, `v${change}`);
      whole = next;
      map.set(names[change - 1]!, `v${change}`);
      map.rebaseWhenSame(() => whole);
      expect(contents(map)).toEqual(plainContents(whole));
    }
    // Rebased along the way: far fewer own entries than changes.
    expect(map.ownSize).toBeLessThan(64);

    // A map that holds something else than the newest set (a name the set lacks) keeps its own entries.
    const other = new LayeredMap<string>();
    other.resetTo(whole);
    other.set('extra', 'x');
    for (let i = 0; i < 100; i++) {
      other.set(names[i]!, 'mine');
      other.rebaseWhenSame(() => whole);
    }
    expect(other.size).toBe(101);
    expect(other.get('extra')).toBe('x');
    expect(other.get('n5')).toBe('mine');
  });
});

describe('a synced stream under steady churn', () => {
  const CLA = TypeUrl.ClusterLoadAssignment;
  const names = Array.from({ length: 200 }, (_, i) => `svc-${i}`);
  /** The own entries of what the stream's client holds of CLA (delta) or was sent (SotW). */
  const ownEntries = (fake: FakeDeltaStream | FakeSotwStream): number => {
    const state = (
      fake.stream as unknown as { types: Map<string, { clientVersions?: LayeredMap<unknown>; sent?: LayeredMap<unknown> }> }
    ).types.get(CLA)!;
    return (state.clientVersions ?? state.sent)!.ownSize;
  };

  it.each([
    ['delta', () => new FakeDeltaStream()],
    ['SotW', () => new FakeSotwStream()],
  ] as const)('%s: keeps a few own entries, not one per endpoint change, and still gets every change', async (_flavour, create) => {
    const fake = create();
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: CLA, upserts: names.map((n) => endpoints(n, '10.0.0.1')) }]);
    if (fake instanceof FakeDeltaStream) {
      await fake.request({ typeUrl: CLA, subscribe: names });
      await fake.ack(fake.response());
    } else {
      await fake.request({ typeUrl: CLA, resourceNames: names });
      await fake.ack(fake.response(), names);
    }
    for (let change = 0; change < 150; change++) {
      const name = names[change]!;
      fake.apply([{ group: SIDECAR_GROUP, typeUrl: CLA, upserts: [endpoints(name, '10.0.0.2')] }]);
      const pushed = fake.response();
      expect(pushed.names).toEqual([name]);
      if (fake instanceof FakeDeltaStream) await fake.ack(pushed as Parameters<FakeDeltaStream['ack']>[0]);
      else await fake.ack(pushed as Parameters<FakeSotwStream['ack']>[0], names);
    }
    expect(ownEntries(fake)).toBeLessThan(64);
  });
});
