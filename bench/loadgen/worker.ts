// A worker thread running a share of the simulated Envoys, so the load generator never
// shares an event loop with the runner (or with the server under test).
import { parentPort } from 'node:worker_threads';
import { AdsClient, SharedState } from './client.js';
import type { FromWorker, ToWorker, WorkerStatus } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('bench/loadgen/worker.js must run as a worker thread');

const shared = new SharedState();
let clients: AdsClient[] = [];
let watchSeq = -1;
let watchPending = 0;
let syncPending = 0;
const MAX_REPORTED_ERRORS = 5;
let reportedErrors = 0;
let launchedAt = 0;

function post(message: FromWorker): void {
  port!.postMessage(message);
}

function settleSync(): void {
  syncPending--;
  if (syncPending === 0) post({ type: 'all-synced' });
}

function settleWatch(): void {
  watchPending--;
  if (watchPending === 0) post({ type: 'watch-done', seq: watchSeq });
}

function status(): WorkerStatus {
  const perType: WorkerStatus['perType'] = {};
  const errors: string[] = [];
  let totalBytes = 0;
  let responses = 0;
  for (const client of clients) {
    totalBytes += client.totalBytes;
    responses += client.responses;
    if (client.error && errors.length < MAX_REPORTED_ERRORS) errors.push(`client ${client.index}: ${client.error.message}`);
    for (const typeUrl of ['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration']) {
      const url = typeUrlOf(typeUrl);
      const stats = client.typeStats(url);
      const totals = (perType[url] ??= { responses: 0, bytes: 0, lastResponseAt: 0 });
      totals.responses += stats.responses;
      totals.bytes += stats.bytes;
      totals.lastResponseAt = Math.max(totals.lastResponseAt, stats.lastResponseAt);
    }
  }
  return {
    clients: clients.length,
    synced: clients.filter((c) => c.synced).length,
    failed: clients.filter((c) => c.error).length,
    errors,
    syncedAt: clients.map((c) => [c.index, c.syncedAt]),
    startedAt: clients.reduce((min, c) => Math.min(min, c.startedAt), Infinity),
    launchedAt,
    totalBytes,
    responses,
    perType,
  };
}

function typeUrlOf(shortName: string): string {
  const packages: Record<string, string> = {
    Cluster: 'envoy.config.cluster.v3',
    ClusterLoadAssignment: 'envoy.config.endpoint.v3',
    Listener: 'envoy.config.listener.v3',
    RouteConfiguration: 'envoy.config.route.v3',
  };
  return `type.googleapis.com/${packages[shortName]}.${shortName}`;
}

port.on('message', (message: ToWorker) => {
  switch (message.cmd) {
    case 'start': {
      syncPending = message.clients.length;
      clients = message.clients.map(
        (spec) =>
          new AdsClient({
            index: spec.index,
            delta: spec.delta,
            target: message.target,
            shared,
            hashAll: message.hashAll,
            onSynced: () => settleSync(),
            onWatchSeen: (client) => {
              if (client.watch && watchSeq >= 0) settleWatch();
            },
            onError: (client, error) => {
              if (reportedErrors++ < MAX_REPORTED_ERRORS) post({ type: 'client-error', index: client.index, message: error.message });
              // A failed client will neither sync nor see changes: stop waiting for it.
              if (!client.synced) settleSync();
              if (client.watch && !client.watchSeenAt) settleWatch();
            },
          }),
      );
      // All at once, as after a control-plane restart.
      for (const client of clients) client.start();
      launchedAt = performance.timeOrigin + performance.now();
      post({ type: 'started' });
      if (clients.length === 0) post({ type: 'all-synced' });
      break;
    }
    case 'watch': {
      watchSeq = message.seq;
      const live = clients.filter((c) => !c.error);
      watchPending = live.length;
      for (const client of live) client.beginWatch({ typeUrl: message.typeUrl, name: message.name, oldHash: message.oldHash });
      post({ type: 'watching', seq: message.seq });
      if (watchPending === 0) post({ type: 'watch-done', seq: message.seq });
      break;
    }
    case 'watch-report': {
      const report = clients.map((c): [number, number, number] => [c.index, c.watchSeenAt, c.totalBytes - c.bytesAtWatch]);
      for (const client of clients) client.watch = undefined;
      post({ type: 'watch-report', report: { seq: message.seq, clients: report } });
      break;
    }
    case 'status':
      post({ type: 'status', status: status() });
      break;
    case 'hashes': {
      const expected = new Map(message.expected);
      let checked = 0;
      let mismatched = 0;
      const examples: string[] = [];
      for (const client of clients) {
        if (client.error) continue;
        checked++;
        const held = client.resourceHashes(message.typeUrl);
        const wrong: string[] = [];
        for (const [name, hash] of expected) if (held.get(name) !== hash) wrong.push(name);
        for (const name of held.keys()) if (!expected.has(name)) wrong.push(`${name} (unexpected)`);
        if (wrong.length) {
          mismatched++;
          if (examples.length < 5)
            examples.push(
              `client ${client.index}: ${wrong.slice(0, 3).join(', ')}${wrong.length > 3 ? ` and ${wrong.length - 3} more` : ''}`,
            );
        }
      }
      post({ type: 'hashes', report: { checked, mismatched, examples } });
      break;
    }
    case 'stop':
      for (const client of clients) client.stop();
      post({ type: 'stopped' });
      break;
  }
});
