// Keys and ordering shared by the model's processors.

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Plain code-unit order: the same everywhere, unlike localeCompare. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Up to this many items, `sortInPlace` sorts by insertion. */
const INSERTION_SORT_MAX = 16;

/**
 * Sorts `items` in place, stably, like `Array.prototype.sort`: a short array by insertion. V8's
 * sort allocates about 1 KB of working state per call whatever the length, and before it warms
 * up takes several times as long on the ten endpoints of a typical Service (10,000 of them at start-up).
 */
export function sortInPlace<T>(items: T[], order: (a: T, b: T) => number): T[] {
  if (items.length > INSERTION_SORT_MAX) return items.sort(order);
  for (let i = 1; i < items.length; i++) {
    const item = items[i];
    let j = i - 1;
    // Strictly greater only: an equal item stays after the ones before it (stable).
    while (j >= 0 && order(items[j], item) > 0) {
      items[j + 1] = items[j];
      j--;
    }
    items[j + 1] = item;
  }
  return items;
}
