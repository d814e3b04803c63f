// The load generator's controller: spreads N simulated Envoys over worker threads and
// gathers what they saw. Every figure it reports is measured at the clients, from outside
// the server, so it works against any ADS server.
import { Worker } from 'node:worker_threads';
import type { ClientSpec, FromWorker, HashReport, ToWorker, WatchReport, WorkerStatus } from './protocol.js';

export interface LoadGeneratorOptions {
  /** host:port of the ADS server. */
  target: string;
  clients: number;
  /** Share of clients (0..1) on delta ADS; the rest use state of the world. */
  deltaShare: number;
  workers?: number;
  /** Keep a hash of every EDS/RDS resource per client, for final-state checks. */
  hashAll?: boolean;
}

export interface SyncResult {
  /** Clients that ACKed everything they subscribed to. */
  synced: number;
  failed: number;
  clients: number;
  /** From the moment all clients were created to the last client's final ACK, in ms (undefined if some never synced). */
  allSyncedMs: number | undefined;
  /** How long creating the clients took (before any connection starts), ms. */
  launchMs: number | undefined;
  /** Per-client sync times in ms from the start. */
  syncMs: number[];
  errors: string[];
  totalBytes: number;
}

export interface ChangeObservation {
  /** Per client: ms from the change mark to the changed resource's arrival (undefined: never seen). */
  latencyMs: Array<number | undefined>;
  /** Per client: bytes received while the change was being observed. */
  bytes: number[];
  /** Per client: whether it is a delta client (same order as `bytes`). */
  delta: boolean[];
  missed: number;
}

/** Which clients use delta: spread evenly so every worker has the same mix. */
export function isDeltaClient(index: number, deltaShare: number): boolean {
  return Math.floor((index + 1) * deltaShare) > Math.floor(index * deltaShare);
}

class WorkerHandle {
  readonly worker: Worker;
  private readonly waiters: Array<{ match: (m: FromWorker) => boolean; resolve: (m: FromWorker) => void; reject: (e: Error) => void }> = [];
  readonly errors: string[] = [];
  private failure: Error | undefined;

  constructor(url: URL) {
    // LOADGEN_CPU_PROF=<dir>: a V8 CPU profile of each worker thread, written into <dir> when the worker exits.
    const profileDir = process.env.LOADGEN_CPU_PROF;
    this.worker = new Worker(url, profileDir ? { execArgv: [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {});
    this.worker.on('message', (message: FromWorker) => {
      if (message.type === 'client-error') this.errors.push(`client ${message.index}: ${message.message}`);
      const i = this.waiters.findIndex((w) => w.match(message));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(message);
    });
    // A dead worker fails whoever waits on it, instead of leaving the run hanging.
    const fail = (error: Error): void => {
      this.failure ??= error;
      this.errors.push(`worker: ${error.message}`);
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`load generator worker exited (code ${code})`)));
  }

  /** Terminates the worker; its exit is expected from here on. */
  async stopping(): Promise<void> {
    this.failure ??= new Error('load generator stopped');
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  send(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  next<T extends FromWorker['type']>(
    type: T,
    filter: (m: Extract<FromWorker, { type: T }>) => boolean = () => true,
  ): Promise<Extract<FromWorker, { type: T }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiters.push({
        match: (m) => m.type === type && filter(m as Extract<FromWorker, { type: T }>),
        resolve: (m) => resolve(m as Extract<FromWorker, { type: T }>),
        reject,
      });
    });
  }

  async request<T extends FromWorker['type']>(message: ToWorker, reply: T): Promise<Extract<FromWorker, { type: T }>> {
    const answer = this.next(reply);
    this.send(message);
    return answer;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class LoadGenerator {
  private readonly handles: WorkerHandle[];
  private readonly options: LoadGeneratorOptions;
  private startedAt = 0;
  private watchSeq = 0;
  private synced: Promise<unknown> = Promise.resolve();

  private constructor(options: LoadGeneratorOptions, handles: WorkerHandle[]) {
    this.options = options;
    this.handles = handles;
  }

  /** Starts the workers and connects every client at once. */
  static async start(options: LoadGeneratorOptions): Promise<LoadGenerator> {
    const workerCount = Math.max(1, Math.min(options.workers ?? 1, options.clients || 1));
    const url = new URL('./worker.js', import.meta.url);
    const handles = Array.from({ length: workerCount }, () => new WorkerHandle(url));
    const generator = new LoadGenerator(options, handles);
    const shares: ClientSpec[][] = handles.map(() => []);
    for (let i = 0; i < options.clients; i++) shares[i % workerCount]!.push({ index: i, delta: isDeltaClient(i, options.deltaShare) });
    generator.startedAt = performance.timeOrigin + performance.now();
    generator.synced = Promise.all(handles.map((h) => h.next('all-synced')));
    await Promise.all(
      handles.map((h, w) =>
        h.request({ cmd: 'start', target: options.target, clients: shares[w]!, hashAll: options.hashAll ?? false }, 'started'),
      ),
    );
    return generator;
  }

  get clientCount(): number {
    return this.options.clients;
  }

  async status(): Promise<WorkerStatus[]> {
    return Promise.all(this.handles.map(async (h) => (await h.request({ cmd: 'status' }, 'status')).status));
  }

  /** Waits until every client has ACKed everything (or failed), up to `timeoutMs`. */
  async waitSynced(timeoutMs: number): Promise<SyncResult> {
    await withTimeout(this.synced, timeoutMs);
    const statuses = await this.status();
    const syncMs: number[] = [];
    let synced = 0;
    let failed = 0;
    let totalBytes = 0;
    const errors: string[] = [];
    for (const s of statuses) {
      synced += s.synced;
      failed += s.failed;
      totalBytes += s.totalBytes;
      errors.push(...s.errors);
      for (const [, at] of s.syncedAt) if (at > 0) syncMs.push(at - this.startedAt);
    }
    for (const h of this.handles) errors.push(...h.errors.filter((e) => e.startsWith('worker')));
    // Count from the moment every client had been created (connections start only then), not
    // from spawning the workers: neither the workers' boot nor the creation loop is the server's time.
    const launched = Math.max(...statuses.map((s) => s.launchedAt));
    if (Number.isFinite(launched) && launched > 0)
      for (let i = 0; i < syncMs.length; i++) syncMs[i] = syncMs[i]! + this.startedAt - launched;
    const firstStart = Math.min(...statuses.map((s) => s.startedAt));
    const clients = this.options.clients;
    return {
      synced,
      failed,
      clients,
      allSyncedMs: synced === clients ? Math.max(0, ...syncMs) : undefined,
      launchMs: Number.isFinite(firstStart) && launched > 0 ? launched - firstStart : undefined,
      syncMs,
      errors,
      totalBytes,
    };
  }

  /** Arms every client to time the arrival of a changed resource; resolves once all are armed. */
  async watch(change: { typeUrl: string; name: string; oldHash: number }): Promise<number> {
    const seq = ++this.watchSeq;
    await Promise.all(this.handles.map((h) => h.request({ cmd: 'watch', seq, ...change }, 'watching')));
    return seq;
  }

  /** Waits until every client has seen the change (or `timeoutMs`), then reports per client, relative to `markAt`. */
  async observe(seq: number, markAt: number, timeoutMs: number): Promise<ChangeObservation> {
    await withTimeout(Promise.all(this.handles.map((h) => h.next('watch-done', (m) => m.seq === seq))), timeoutMs);
    const reports: WatchReport[] = await Promise.all(
      this.handles.map(async (h) => (await h.request({ cmd: 'watch-report', seq }, 'watch-report')).report),
    );
    const latencyMs: Array<number | undefined> = [];
    const bytes: number[] = [];
    const delta: boolean[] = [];
    let missed = 0;
    for (const report of reports) {
      for (const [index, seenAt, received] of report.clients) {
        delta.push(isDeltaClient(index, this.options.deltaShare));
        if (seenAt > 0) latencyMs.push(seenAt - markAt);
        else {
          latencyMs.push(undefined);
          missed++;
        }
        bytes.push(received);
      }
    }
    return { latencyMs, bytes, delta, missed };
  }

  /** Compares every client's resources of a type with the expected hashes. */
  async checkHashes(typeUrl: string, expected: Map<string, number>): Promise<HashReport> {
    const reports = await Promise.all(
      this.handles.map(async (h) => (await h.request({ cmd: 'hashes', typeUrl, expected: [...expected] }, 'hashes')).report),
    );
    return {
      checked: reports.reduce((n, r) => n + r.checked, 0),
      mismatched: reports.reduce((n, r) => n + r.mismatched, 0),
      examples: reports.flatMap((r) => r.examples).slice(0, 5),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.handles.map((h) =>
        withTimeout(
          h.request({ cmd: 'stop' }, 'stopped').catch(() => undefined),
          5000,
        ),
      ),
    );
    await Promise.all(this.handles.map((h) => h.stopping()));
  }
}
