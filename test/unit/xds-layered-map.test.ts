// A stream's view of what its client holds: a shared base plus its own differences must read
// exactly like a plain map of its own, and must never write into the shared base.
import { LayeredMap } from '../../src/xds/layered-map.js';

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
});
