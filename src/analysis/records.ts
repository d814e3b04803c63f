// What the analysis needs from the source events beside the model: where each object is written
// (file, line, field lines) and the objects a source rejected, with its reasons. The model keeps
// serving a rejected object's last good version; this keeps the rejection, until the object is
// written validly again or deleted.
import { refKey, type KubeObject, type ObjectOrigin, type ObjectRef, type SourceEvent } from '../sources/types.js';

interface Rejection {
  ref: ObjectRef;
  errors: string[];
  object?: KubeObject;
  origin?: ObjectOrigin;
}

export class SourceRecords {
  private readonly origins = new Map<string, ObjectOrigin>();
  private readonly rejected = new Map<string, Rejection>();
  private readonly locators: Array<(ref: ObjectRef) => ObjectOrigin | undefined> = [];

  /** Asks a source where an object is written now: an object that only moved down its file sends no event. */
  addLocator(locate: (ref: ObjectRef) => ObjectOrigin | undefined): void {
    this.locators.push(locate);
  }

  apply(events: readonly SourceEvent[]): void {
    for (const event of events) {
      const key = refKey(event.ref);
      if (event.type === 'delete') {
        this.origins.delete(key);
        this.rejected.delete(key);
        continue;
      }
      if (event.origin) this.origins.set(key, event.origin);
      else this.origins.delete(key);
      if (event.type === 'upsert') this.rejected.delete(key);
      else this.rejected.set(key, { ref: event.ref, errors: event.errors, object: event.object, origin: event.origin });
    }
  }

  origin(ref: ObjectRef): ObjectOrigin | undefined {
    for (const locate of this.locators) {
      const origin = locate(ref);
      if (origin) return origin;
    }
    return this.origins.get(refKey(ref));
  }

  rejection(ref: ObjectRef): Rejection | undefined {
    return this.rejected.get(refKey(ref));
  }

  /** Every current rejection, in ref order. */
  rejections(): Rejection[] {
    return [...this.rejected.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  }
}
