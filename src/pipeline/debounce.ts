// When to flush. An isolated change goes out at once: the first event after a quiet spell is
// flushed as soon as the code that delivered it returns (a microtask, so events delivered
// together still flush together, and the flush does not wait behind a turn of the event loop's
// I/O — 2,000 streams' ACKs, say). Events that follow a flush closely are a burst: they are coalesced into one flush
// that runs once they have been quiet for `quietMs`, but never later than `maxMs` after the
// first of them, so a steady stream of events cannot postpone a push forever.
export interface DebounceSettings {
  quietMs: number;
  maxMs: number;
}

export const DEFAULT_DEBOUNCE: DebounceSettings = { quietMs: 20, maxMs: 250 };

export class Debouncer {
  /** A leading-edge flush is queued (as a microtask, which cannot be cancelled: it checks this). */
  private leading = false;
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  private firstPendingAt = 0;
  /** When the last flush ended; -Infinity before the first. */
  private lastFlushAt = -Infinity;

  constructor(
    private readonly settings: DebounceSettings,
    private readonly flush: (waitedMs: number) => void,
  ) {}

  /** Something changed: flush at once after a quiet spell, else (re)start the quiet period and the deadline. */
  poke(): void {
    if (this.leading) return;
    const now = performance.now();
    if (!this.pending && now - this.lastFlushAt >= this.settings.quietMs) {
      this.firstPendingAt = now;
      this.leading = true;
      queueMicrotask(() => {
        if (this.leading) this.fire();
      });
      return;
    }
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.fire(), this.settings.quietMs);
    if (!this.maxTimer) {
      this.firstPendingAt = now;
      this.maxTimer = setTimeout(() => this.fire(), this.settings.maxMs);
    }
  }

  get pending(): boolean {
    return this.leading || this.maxTimer !== undefined;
  }

  /** Runs the flush now if anything is pending. */
  fireNow(): void {
    if (this.pending) this.fire();
  }

  cancel(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.leading = false;
    this.quietTimer = this.maxTimer = undefined;
  }

  private fire(): void {
    const waited = performance.now() - this.firstPendingAt;
    this.cancel();
    try {
      this.flush(waited);
    } finally {
      this.lastFlushAt = performance.now();
    }
  }
}
