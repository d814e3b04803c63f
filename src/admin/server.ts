// The admin HTTP server: liveness, readiness, Prometheus metrics and debug views of the
// connected proxies. Plain node:http — a handful of read-only GET routes need no framework.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { ResourceCache } from '../cache/types.js';
import type { Problem } from '../analysis/problem.js';
import { log } from '../log.js';
import { groupsConfigDump, nodeConfigDump } from './config-dump.js';
import { AdminMetrics } from './metrics.js';
import { ProxyTracker } from './proxies.js';
import type { ObservedPipeline, ObservedXdsServer } from './types.js';
import { degradationSource } from './client-degradations.js';

interface AdminServerOptions {
  /** Default 127.0.0.1: debug views show configuration; expose them only where that is intended. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  server: ObservedXdsServer;
  cache: ResourceCache;
  pipeline: ObservedPipeline;
  /** True once the control plane serves a complete snapshot. */
  isReady: () => boolean;
  /** The current configuration problems (the analysis), for /debug/problems and the problems gauge. */
  problems?: () => Problem[];
  /** Whether the configuration source is reachable (default: always). */
  sourceConnected?: () => boolean;
}

export interface AdminServer {
  port: number;
  close(): Promise<void>;
  registry: Registry;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

function json(value: unknown): Reply {
  return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(value, null, 2) + '\n' };
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const registry = new Registry();
  const metrics = new AdminMetrics({ ...options, registry });
  const tracker = new ProxyTracker(options.server, degradationSource(options.pipeline));

  const routes: Record<string, (url: URL) => Promise<Reply> | Reply> = {
    '/healthz': () => ({ status: 200, contentType: TEXT, body: 'ok\n' }),
    '/readyz': () => {
      let ready: boolean;
      try {
        ready = options.isReady();
      } catch (error) {
        return { status: 503, contentType: TEXT, body: `not ready: readiness check failed: ${(error as Error).message}\n` };
      }
      if (ready) return { status: 200, contentType: TEXT, body: 'ready\n' };
      return {
        status: 503,
        contentType: TEXT,
        body: 'not ready: the sources have not delivered their initial state, so no complete snapshot is built yet\n',
      };
    },
    '/metrics': async () => ({ status: 200, contentType: registry.contentType, body: await registry.metrics() }),
    '/debug/proxies': () => json(tracker.proxies()),
    '/debug/problems': () => json(options.problems?.() ?? []),
    '/debug/config_dump': (url) => {
      const node = url.searchParams.get('node');
      if (node === null) return json(groupsConfigDump(options.cache));
      const streams = tracker.proxies().filter((proxy) => proxy.nodeId === node);
      if (streams.length === 0) {
        throw new HttpError(404, `no connected proxy has node id "${node}"; /debug/proxies lists the connected ones`);
      }
      return json(nodeConfigDump(options.cache, streams));
    },
  };

  const handle = async (request: http.IncomingMessage): Promise<Reply> => {
    const url = new URL(request.url ?? '/', 'http://admin');
    const route = routes[url.pathname];
    if (!route) throw new HttpError(404, `no such page: ${url.pathname}; pages: ${Object.keys(routes).join(', ')}`);
    if (request.method !== 'GET') throw new HttpError(405, `${request.method} is not allowed on ${url.pathname}; use GET`);
    return route(url);
  };

  const httpServer = http.createServer((request, response) => {
    handle(request).then(
      (reply) => send(response, reply),
      (error: Error) => {
        if (error instanceof HttpError) {
          const headers: Record<string, string> = error.status === 405 ? { Allow: 'GET' } : {};
          send(response, { status: error.status, contentType: TEXT, body: error.message + '\n' }, headers);
          return;
        }
        log.error('admin request failed', { path: request.url, error: error.message, stack: error.stack });
        send(response, { status: 500, contentType: TEXT, body: `internal error: ${error.message}\n` });
      },
    );
  });

  const detach = () => {
    metrics.detach();
  };

  const port = await new Promise<number>((resolve, reject) => {
    httpServer.once('error', (error: NodeJS.ErrnoException) => {
      detach();
      reject(new Error(`admin server cannot listen on ${host}:${options.port}: ${error.code ?? error.message}`));
    });
    httpServer.listen(options.port, host, () => resolve((httpServer.address() as AddressInfo).port));
  });
  log.info('admin server listening', { address: host, port });
  // After listening, a server error (e.g. out of file descriptors) is logged; the process keeps serving xDS.
  httpServer.on('error', (error: Error) => log.error('admin server error', { error: error.message }));

  let closing: Promise<void> | undefined;
  return {
    port,
    registry,
    close() {
      closing ??= new Promise<void>((resolve) => {
        detach();
        httpServer.close(() => resolve());
        // Keep-alive connections (Prometheus scrapers) would otherwise hold close() open.
        httpServer.closeAllConnections();
      });
      return closing;
    },
  };
}

function send(response: http.ServerResponse, reply: Reply, headers: Record<string, string> = {}): void {
  response.writeHead(reply.status, {
    'Content-Type': reply.contentType,
    'Content-Length': Buffer.byteLength(reply.body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  response.end(reply.body);
}
