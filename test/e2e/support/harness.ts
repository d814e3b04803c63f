// One running Switchyard for an e2e test file: a temporary manifest folder watched by the
// FilesSource, an ephemeral xDS port, and a record of every ACK and NACK the xDS server saw.
import { startSwitchyard, type Switchyard } from '../../../src/app.js';
import { FilesSource } from '../../../src/sources/files.js';
import type { TranslateOptions } from '../../../src/translate/options.js';
import type { AckEvent, NackEvent } from '../../../src/xds/events.js';
import { CcoreClient } from './ccore-client.js';
import { ManifestDir } from './manifests.js';
import { bootstrapOption, proxylessBootstrap, WhoClient } from './proxyless-client.js';

export interface Harness {
  switchyard: Switchyard;
  manifests: ManifestDir;
  nacks: NackEvent[];
  acks: AckEvent[];
  /**
   * Runs `change` (manifest edits) and waits until Switchyard has flushed a change that moved some
   * resource and every response it sent since has been ACKed or NACKed by its client.
   */
  edit(change: () => void): Promise<void>;
  /** A proxyless client of `target` with its own node id (closed by `stop`). */
  client(target: string, nodeId?: string): WhoClient;
  /** A gRPC C-core client process (python3-grpcio) with node id `nodeId` (closed by `stop`). */
  ccore(nodeId: string): Promise<CcoreClient>;
  stop(): Promise<void>;
}

interface HarnessOptions {
  /** Also start the admin server (on a free port). */
  admin?: boolean;
  translate?: Partial<TranslateOptions>;
}

/** Starts Switchyard on a folder already filled by `seed`. */
export async function startHarness(
  seed: (manifests: ManifestDir) => void,
  { admin = false, translate }: HarnessOptions = {},
): Promise<Harness> {
  const manifests = new ManifestDir();
  seed(manifests);
  const switchyard = await startSwitchyard({
    sources: [new FilesSource(manifests.path)],
    xdsPort: 0,
    adminPort: admin ? 0 : null,
    ...(translate ? { translate } : {}),
    // Short, so an edit reaches clients quickly; the watcher has its own settle time.
    debounce: { quietMs: 20, maxMs: 100 },
    shutdownGraceMs: 500,
  });
  await switchyard.ready;
  const nacks: NackEvent[] = [];
  const acks: AckEvent[] = [];
  switchyard.server.on('nack', (event) => nacks.push(event));
  switchyard.server.on('ack', (event) => acks.push(event));
  // Responses not yet answered, by stream and type: the nonce that awaits an ACK or NACK.
  const unanswered = new Map<string, string>();
  switchyard.server.on('responseSent', (event) => unanswered.set(`${event.streamId}|${event.typeUrl}`, event.nonce));
  const answer = (event: { streamId: number; typeUrl: string; nonce: string }) => {
    const key = `${event.streamId}|${event.typeUrl}`;
    if (unanswered.get(key) === event.nonce) unanswered.delete(key);
  };
  switchyard.server.on('ack', answer);
  switchyard.server.on('nack', answer);
  switchyard.server.on('streamClosed', (event) => {
    for (const key of [...unanswered.keys()]) if (key.startsWith(`${event.streamId}|`)) unanswered.delete(key);
  });
  let changingFlushes = 0;
  switchyard.pipeline.on('flushed', (report) => {
    if (report.changedResources > 0) changingFlushes++;
  });
  const clients: WhoClient[] = [];
  const ccoreClients: CcoreClient[] = [];
  let clientCount = 0;
  return {
    switchyard,
    manifests,
    nacks,
    acks,
    async edit(change) {
      const before = changingFlushes;
      change();
      await eventually('the edit to be pushed and answered', () => (changingFlushes > before && unanswered.size === 0 ? true : undefined));
    },
    client(target, nodeId = `e2e-client-${++clientCount}-${process.pid}`) {
      const client = new WhoClient(target, bootstrapOption(proxylessBootstrap({ xdsPort: switchyard.xdsPort, nodeId })));
      clients.push(client);
      return client;
    },
    async ccore(nodeId) {
      const client = await CcoreClient.start(switchyard.xdsPort, nodeId);
      ccoreClients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.close();
      await Promise.all(ccoreClients.map((client) => client.close()));
      try {
        // Clients leave first (their ADS streams end), then the control plane stops.
        await eventually(
          'closed clients to end their xDS streams',
          () => (switchyard.server.streams().length === 0 ? true : undefined),
          5000,
        );
        await withDeadline(switchyard.stop(), 5000, 'Switchyard to stop (its shutdownGraceMs is 500)');
      } finally {
        // A stop that hangs fails the test file; the sockets are still closed so the run can end.
        switchyard.server.forceShutdown();
        manifests.cleanup();
      }
    },
  };
}

/**
 * Polls `check` until it returns a value other than undefined, or fails after `timeoutMs` with
 * the last description `check` gave (a bounded wait for something to happen, not a timing claim).
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Fails with a message naming what hung, instead of running into Jest's hook timeout. */
async function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `client` gets answers (its xDS config has arrived and a backend is connected). */
export async function untilServing(client: WhoClient, headers: Record<string, string> = {}): Promise<string> {
  return eventually(`${client.target} to answer`, () => client.who(headers, 1000));
}

/** Counts as a readable line, for failure messages. */
export function describeCounts(counts: ReadonlyMap<string, number>): string {
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
