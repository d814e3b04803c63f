// The write loop the leader's status writers share: objects are marked (one key, or all of them),
// marks within a short batch window are reconciled together in key order, one at a time, and a
// key whose write failed is marked again and retried after a pause.

interface KeyedReconcilerOptions {
  /** Marks within this window are reconciled together. Default 50 ms. */
  batchMs?: number;
  /** Pause before failed keys are tried again. Default 2000 ms. */
  retryMs?: number;
  /** Every key, for `markAll`. */
  allKeys(): Iterable<string>;
  /** False while nothing may be written (not leading, not ready): marks wait for the next mark. */
  canWrite(): boolean;
  /** Writes one key if it needs it; false when the write failed (it is retried). */
  reconcileOne(key: string): Promise<boolean>;
}

export class KeyedReconciler {
  private readonly dirty = new Set<string>();
  private everything = false;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: KeyedReconcilerOptions) {}

  mark(key: string): void {
    this.dirty.add(key);
    this.schedule(this.options.batchMs ?? 50);
  }

  markAll(): void {
    this.everything = true;
    this.schedule(this.options.batchMs ?? 50);
  }

  /** Forgets every mark (leadership lost: the next leader starts from everything). */
  clear(): void {
    this.dirty.clear();
    this.everything = false;
  }

  /** Runs `task` after the writes queued before it, never beside one. */
  enqueue(task: () => Promise<void>): void {
    this.running = this.running.then(task);
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.retryTimer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.enqueue(() => this.reconcile());
    }, delayMs);
  }

  private async reconcile(): Promise<void> {
    if (this.stopped || !this.options.canWrite()) return;
    const keys = new Set(this.dirty);
    this.dirty.clear();
    if (this.everything) {
      this.everything = false;
      for (const key of this.options.allKeys()) keys.add(key);
    }
    let failed = false;
    for (const key of [...keys].sort()) {
      if (!(await this.options.reconcileOne(key))) {
        failed = true;
        this.dirty.add(key);
      }
    }
    if (failed && !this.stopped) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.schedule(0), this.options.retryMs ?? 2000);
    }
  }
}
