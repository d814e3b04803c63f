// One bound on the response bytes written to all streams and not yet taken by their connections.
// Without it, 2,000 proxies connecting at once each get ~1 MB queued in grpc-js at the same time,
// and the process keeps that peak as RSS long after. Past the bound, requests wait their turn
// (first come, first served) and cache pushes are held per type, as for a stalled stream.
// The bound is soft by the responses of turns already let go (one per flush or finished turn).
// Bytes that stop moving (clients that no longer read) are written off after `stallMs`, so
// stalled clients cannot hold everyone else back.

export interface SendTicket {
  readonly bytes: number;
  readonly epoch: number;
}

export class SendBudget {
  private counted = 0;
  private epoch = 0;
  private readonly waiters: Array<() => void> = [];
  private lastProgress = Date.now();
  private stallTimer: NodeJS.Timeout | undefined;

  /** `limitBytes` of 0 or less: no bound. */
  constructor(
    readonly limitBytes: number,
    private readonly stallMs = 2000,
  ) {}

  /** Bytes written and not yet flushed, as counted against the bound. */
  get inFlight(): number {
    return this.counted;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** True while new responses should wait. */
  get exhausted(): boolean {
    return this.limitBytes > 0 && this.counted >= this.limitBytes;
  }

  /** Undefined when a response may go out now; otherwise a promise that resolves on its turn. */
  whenOpen(): Promise<void> | undefined {
    if (!this.exhausted && this.waiters.length === 0) return undefined;
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.watchForStall();
    });
  }

  /** A write of `bytes`; hand the ticket back to `flushed` when the connection took them. */
  written(bytes: number): SendTicket {
    this.counted += bytes;
    return { bytes, epoch: this.epoch };
  }

  flushed(ticket: SendTicket): void {
    // A ticket from before a write-off was already taken off the count.
    if (ticket.epoch === this.epoch) this.counted -= ticket.bytes;
    this.lastProgress = Date.now();
    this.next();
  }

  /** Lets the next waiter go if there is room; called after each turn and each flush. A turn that
   * wrote nothing (an ACK) must call it too, or the queue would wait for the next flush. */
  next(): void {
    if (this.waiters.length > 0 && !this.exhausted) this.waiters.shift()!();
  }

  /** Wakes everyone (shutdown). */
  close(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    for (const wake of this.waiters.splice(0)) wake();
  }

  private watchForStall(): void {
    if (this.stallTimer !== undefined) return;
    const check = (): void => {
      this.stallTimer = undefined;
      if (this.waiters.length === 0) return;
      if (Date.now() - this.lastProgress >= this.stallMs) {
        // Nothing flushed for a while: whatever is counted is stuck with clients that do not read.
        this.epoch++;
        this.counted = 0;
        this.lastProgress = Date.now();
        this.next();
      }
      this.watchForStall();
    };
    this.stallTimer = setTimeout(check, this.stallMs);
    this.stallTimer.unref();
  }
}
