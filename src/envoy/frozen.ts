// Deeply frozen values: the encoder and the validation rules remember what they found for one by
// identity (its bytes; that it breaks no rule), so a constant the translator shares between
// thousands of resources (an EDS config, a load-balancing policy list) is worked out once.

/** Whether nothing in `value` can change any more: it and every object and array in it are frozen. */
export function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  // A typed array with elements cannot be frozen: its bytes could change.
  if (!Object.isFrozen(value) || ArrayBuffer.isView(value)) return false;
  for (const key of Object.keys(value)) if (!isDeepFrozen((value as Record<string, unknown>)[key])) return false;
  return true;
}

/** Kept per memo of `sharedFrozen`: keys named anew all the time (zones) cannot grow one without end. */
const SHARED_LIMIT = 1024;

/** The deeply frozen value `build` makes for `key`, built once per key and shared by every resource
 * that asks (past the limit, built afresh each time). */
export function sharedFrozen<K, V>(memo: Map<K, V>, key: K, build: () => V): V {
  let value = memo.get(key);
  if (value === undefined) {
    value = deepFreeze(build());
    if (memo.size < SHARED_LIMIT) memo.set(key, value);
  }
  return value;
}

/** Freezes `value` and everything in it (a constant to share between resources); returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}
