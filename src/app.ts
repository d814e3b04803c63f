// Assembles a running control plane: sources feed the pipeline, the pipeline writes the cache,
// the xDS server reads it. The xDS port opens at once, but streams are answered only after
// every source has delivered its initial state and the first snapshot is built.
import { ResourceCache } from './cache/cache.js';
import { Pipeline, type RetrySettings } from './pipeline/pipeline.js';
import { XdsServer } from './xds/server.js';
import { nodeWorkload } from './xds/node-group.js';
import { startAdminServer } from './admin/server.js';
import type { Source } from './sources/types.js';
import type { DebounceSettings } from './pipeline/debounce.js';
import type { TranslateOptions } from './translate/index.js';
import type { XdsSecuritySettings } from './security/flags.js';
import { log } from './log.js';

export interface SwitchyardOptions {
  sources: Source[];
  xdsHost?: string;
  /** 0 picks a free port. */
  xdsPort?: number;
  adminHost?: string;
  /** 0 picks a free port; null runs no admin server. */
  adminPort?: number | null;
  debounce?: DebounceSettings;
  translate?: Partial<TranslateOptions>;
  /** TLS, client identity rules and limits of the xDS port. */
  xdsSecurity?: XdsSecuritySettings;
  /** How long shutdown lets streams drain (ms). */
  shutdownGraceMs?: number;
  /** Gateways built from the start; any other gateway is built when its first proxy connects. */
  gateways?: string[];
  /** Backoff of retries after a part of a flush failed (default 1 s doubling to 60 s). */
  retry?: RetrySettings;
}

export interface Switchyard {
  xdsPort: number;
  adminPort?: number;
  cache: ResourceCache;
  pipeline: Pipeline;
  server: XdsServer;
  /** Resolves once every source has synced and the first snapshot is in the cache. */
  ready: Promise<void>;
  isReady(): boolean;
  stop(): Promise<void>;
}

export async function startSwitchyard(options: SwitchyardOptions): Promise<Switchyard> {
  const cache = new ResourceCache();
  const pipeline = new Pipeline({
    cache,
    translate: options.translate,
    debounce: options.debounce,
    gateways: options.gateways,
    retry: options.retry,
  });
  let ready = false;
  let markReady: () => void = () => {};
  let failReady: (error: Error) => void = () => {};
  const readyPromise = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  const server = new XdsServer({
    ...options.xdsSecurity,
    cache,
    ready: readyPromise,
    shutdownGraceMs: options.shutdownGraceMs,
    // A sidecar whose node names its pod gets the group of its workload's shape (inbound side).
    refineGroup: (group, node) => pipeline.workloadGroup(group, nodeWorkload(node)),
  });
  // Gateway names are known only when a gateway connects. The server reports a stream opened
  // (synchronously) before it handles that stream's first request, so the group is in the
  // cache by the time the request reads it.
  server.on('streamOpened', (stream) => pipeline.ensureGroup(stream.group));
  // A sidecar's workload group is chosen when its stream opens; when a pod appears or changes
  // shape, the streams it concerns end and their proxies reconnect into the right group.
  pipeline.on('flushed', ({ change }) => {
    if (
      change.all ||
      (change.workloads.size === 0 && change.services.size === 0 && change.namespaces.size === 0 && change.access.size === 0)
    )
      return;
    server.regroup((group, baseGroup, node) => pipeline.isStaleGroup(group, baseGroup, nodeWorkload(node), change));
  });
  // A folder's own problems (YAML syntax, unknown kinds) join the analysis, and are re-analysed when they change.
  for (const source of options.sources) {
    pipeline.addProblemSource(source);
    source.onProblemsChanged?.(() => pipeline.refreshProblems());
  }
  const xdsPort = await server.start(options.xdsPort ?? 18000, options.xdsHost ?? '127.0.0.1');

  const admin =
    options.adminPort === null
      ? undefined
      : await startAdminServer({
          host: options.adminHost ?? '127.0.0.1',
          port: options.adminPort ?? 19000,
          server,
          cache,
          pipeline,
          isReady: () => ready,
          problems: () => pipeline.problemTracker.problems(),
          // Sources that talk to an API server say whether they reach it; a folder always does.
          sourceConnected: () => options.sources.every((source) => source.connected?.() ?? true),
        });

  const syncing = Promise.all(options.sources.map((source) => source.start((events) => pipeline.push(events))));
  syncing.then(
    () => {
      // The first snapshot goes out whole, without waiting for the debounce.
      pipeline.flushNow();
      ready = true;
      log.info('initial sync done; serving', { xdsPort, adminPort: admin?.port });
      markReady();
    },
    (error: Error) => {
      log.error('a source failed to start', { error: error.message });
      failReady(error);
    },
  );
  readyPromise.catch(() => undefined);

  let stopped = false;
  return {
    xdsPort,
    adminPort: admin?.port,
    cache,
    pipeline,
    server,
    ready: readyPromise,
    isReady: () => ready,
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(options.sources.map((source) => source.stop()));
      pipeline.stop();
      await server.shutdown();
      await admin?.close();
    },
  };
}
