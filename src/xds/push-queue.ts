// A cache change reaches the streams in slices of a few milliseconds. HTTP/2 sends what a stream
// wrote only once the event loop turns, so writing 2,000 streams in one go would hold the first
// proxy's bytes until the last proxy's response was built; between slices the loop turns and
// what was written leaves the process. A stream still waiting when a newer change comes gets
// both at once, in one push: streams read the cache's current state, and one push keeps the
// make-before-break order over everything it carries.
import type { ChangeSet, ProxyGroup } from '../cache/types.js';
import { log } from '../log.js';
import { markPush } from '../push-trace.js';

/** How long one slice may write before the event loop turns. */
export const PUSH_SLICE_MS = 2;
/** The first slice of a change is shorter: its first proxies' bytes leave at once, not after
 * a whole slice of other streams' responses. */
const FIRST_PUSH_SLICE_MS = 0.25;

export interface PushTarget {
  readonly group: ProxyGroup | undefined;
  /** The queue's own mark on the stream: its place in the queue, -1 while it waits for nothing. */
  pushSlot: number;
  onCacheChange(changes: ChangeSet): void;
}

type GroupChanges = NonNullable<ReturnType<ChangeSet['get']>>;

/** `earlier` then `later` as one change: per name the later word wins (changed, or removed). */
export function mergeChanges(earlier: ChangeSet, later: ChangeSet): ChangeSet {
  const merged: ChangeSet = new Map();
  for (const group of new Set([...earlier.keys(), ...later.keys()])) {
    const before = earlier.get(group);
    const after = later.get(group);
    if (!before || !after) {
      merged.set(group, (before ?? after)!);
      continue;
    }
    const types: GroupChanges = new Map();
    for (const typeUrl of new Set([...before.keys(), ...after.keys()])) {
      const first = before.get(typeUrl);
      const second = after.get(typeUrl);
      if (!first || !second) {
        types.set(typeUrl, (first ?? second)!);
        continue;
      }
      const changed = new Set(first.changed);
      const removed = new Set(first.removed);
      for (const name of second.changed) {
        changed.add(name);
        removed.delete(name);
      }
      for (const name of second.removed) {
        removed.add(name);
        changed.delete(name);
      }
      types.set(typeUrl, { changed, removed });
    }
    merged.set(group, types);
  }
  return merged;
}

export class PushQueue<S extends PushTarget> {
  /** Streams with changes not pushed yet, longest waiting first (slots `head` to `tail`), and the
   * change each waits for. Two arrays kept from change to change, not a Map: V8 reallocates a
   * long-lived Map's table in the old generation each time it grows or shrinks, and 2,000 streams
   * going through one each change made most of the garbage that set off major collections. */
  private readonly queued: Array<S | undefined> = [];
  private readonly queuedChanges: Array<ChangeSet | undefined> = [];
  private head = 0;
  private tail = 0;
  private next: NodeJS.Immediate | undefined;

  constructor(
    private readonly sliceMs = PUSH_SLICE_MS,
    private readonly firstSliceMs = FIRST_PUSH_SLICE_MS,
  ) {}

  /** A change for these streams (those of a group it touches): the first slice is written now. */
  add(changes: ChangeSet, streams: Iterable<S>): void {
    // With nobody waiting, the first slice is written as the streams are walked: the first
    // proxy's response does not wait for 2,000 streams to be queued.
    const first = this.size === 0;
    let writing = first;
    const started = performance.now();
    // Streams waiting for the same earlier change share its merge with this one.
    const merges = new Map<ChangeSet, ChangeSet>();
    for (const stream of streams) {
      if (stream.group === undefined || !changes.has(stream.group)) continue;
      if (writing) {
        this.push(stream, changes);
        writing = performance.now() - started < this.firstSliceMs;
        continue;
      }
      const slot = stream.pushSlot;
      if (slot < 0) {
        this.queued[this.tail] = stream;
        this.queuedChanges[this.tail] = changes;
        stream.pushSlot = this.tail++;
        continue;
      }
      const earlier = this.queuedChanges[slot]!;
      let both = merges.get(earlier);
      if (!both) merges.set(earlier, (both = mergeChanges(earlier, changes)));
      this.queuedChanges[slot] = both;
    }
    if (this.size === 0) markPush('lastWrite');
    // After a first slice, the loop turns before the rest so its bytes leave now.
    else if (!first && performance.now() - started < this.sliceMs) this.drain();
    else this.next ??= setImmediate(() => this.drain());
  }

  /** Streams waiting for a push. */
  get size(): number {
    return this.tail - this.head;
  }

  clear(): void {
    while (this.head < this.tail) this.take(this.head++);
    this.head = this.tail = 0;
    if (this.next) clearImmediate(this.next);
    this.next = undefined;
  }

  private drain(): void {
    if (this.next) clearImmediate(this.next);
    this.next = undefined;
    const started = performance.now();
    while (this.head < this.tail) {
      const slot = this.head++;
      const changes = this.queuedChanges[slot]!;
      this.push(this.take(slot), changes);
      if (this.head < this.tail && performance.now() - started >= this.sliceMs) {
        this.next = setImmediate(() => this.drain());
        return;
      }
    }
    this.head = this.tail = 0;
    markPush('lastWrite');
  }

  /** Empties a slot (the arrays keep their length) and returns its stream, no longer waiting. */
  private take(slot: number): S {
    const stream = this.queued[slot]!;
    this.queued[slot] = undefined;
    this.queuedChanges[slot] = undefined;
    stream.pushSlot = -1;
    return stream;
  }

  private push(stream: S, changes: ChangeSet): void {
    try {
      stream.onCacheChange(changes);
    } catch (err) {
      // One stream's failure must not keep the others from hearing the change.
      log.error('push to a stream failed', { error: (err as Error).message });
    }
  }
}
