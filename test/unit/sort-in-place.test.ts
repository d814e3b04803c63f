// sortInPlace (src/model/keys.ts) sorts short arrays by insertion instead of Array.prototype.sort:
// the order must be the same, ties included (both are stable), on either side of the cut-over.
import fc from 'fast-check';
import { sortInPlace } from '../../src/model/keys.js';

interface Item {
  key: number;
  /** Where the item was: ties must keep it. */
  at: number;
}

const byKey = (a: Item, b: Item): number => a.key - b.key;

describe('sortInPlace', () => {
  it('orders like Array.prototype.sort, ties in their first order, short and long', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 }), (keys) => {
        const items = keys.map((key, at) => ({ key, at }));
        const expected = [...items].sort(byKey);
        const sorted = sortInPlace(items, byKey);
        expect(sorted).toBe(items);
        expect(sorted).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
