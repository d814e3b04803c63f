// Messages between the load generator's controller and its worker threads.

export interface ClientSpec {
  index: number;
  delta: boolean;
}

export type ToWorker =
  | { cmd: 'start'; target: string; clients: ClientSpec[]; hashAll: boolean }
  | { cmd: 'watch'; seq: number; typeUrl: string; name: string; oldHash: number }
  | { cmd: 'watch-report'; seq: number }
  | { cmd: 'status' }
  | { cmd: 'hashes'; typeUrl: string; expected: Array<[string, number]> }
  | { cmd: 'stop' };

export interface TypeTotals {
  responses: number;
  bytes: number;
  /** The latest response of this type at any client (absolute ms). */
  lastResponseAt: number;
}

export interface WorkerStatus {
  clients: number;
  synced: number;
  failed: number;
  errors: string[];
  /** Per client (in the worker's order): when it had ACKed everything, 0 if not yet. */
  syncedAt: Array<[number, number]>;
  startedAt: number;
  /** When the last client of the worker had been created: no connection starts before. */
  launchedAt: number;
  totalBytes: number;
  responses: number;
  perType: Record<string, TypeTotals>;
}

export interface WatchReport {
  seq: number;
  /** [client index, time the changed resource arrived (0: not seen), bytes received since the watch began] */
  clients: Array<[number, number, number]>;
}

export interface HashReport {
  checked: number;
  mismatched: number;
  examples: string[];
}

export type FromWorker =
  | { type: 'started' }
  | { type: 'all-synced' }
  | { type: 'client-error'; index: number; message: string }
  | { type: 'watching'; seq: number }
  | { type: 'watch-done'; seq: number }
  | { type: 'watch-report'; report: WatchReport }
  | { type: 'status'; status: WorkerStatus }
  | { type: 'hashes'; report: HashReport }
  | { type: 'stopped' };
