// Coalesces a burst of events into one flush: the flush runs once the events have been
// quiet for `quietMs`, but never later than `maxMs` after the first pending event, so a
// steady stream of events cannot postpone a push forever.
export interface DebounceSettings {
  quietMs: number;
  maxMs: number;
}

export const DEFAULT_DEBOUNCE: DebounceSettings = { quietMs: 20, maxMs: 250 };

export class Debouncer {
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  private firstPendingAt = 0;

  constructor(
    private readonly settings: DebounceSettings,
    private readonly flush: (waitedMs: number) => void,
  ) {}

  /** Something changed: (re)start the quiet period; start the hard deadline if none runs. */
  poke(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.fire(), this.settings.quietMs);
    if (!this.maxTimer) {
      this.firstPendingAt = performance.now();
      this.maxTimer = setTimeout(() => this.fire(), this.settings.maxMs);
    }
  }

  get pending(): boolean {
    return this.maxTimer !== undefined;
  }

  /** Runs the flush now if anything is pending. */
  fireNow(): void {
    if (this.pending) this.fire();
  }

  cancel(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.quietTimer = this.maxTimer = undefined;
  }

  private fire(): void {
    const waited = performance.now() - this.firstPendingAt;
    this.cancel();
    this.flush(waited);
  }
}
